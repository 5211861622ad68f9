#!/usr/bin/python3
"""make_fixtures.py: writes the image fixtures of tests/check_io.c (run from this folder).

Not needed to build or test: the files it writes are committed. PNG files are
encoded here by hand (zlib only) so that bit depth, colour type, palette, tRNS
and interlacing are exactly what each test expects; JPEG files come from
ImageMagick's `convert`; NPY files from numpy. Every sample follows a formula
that check_io.c repeats, so the tests need no reference images.
"""
import os
import struct
import subprocess
import zlib

import numpy as np


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def pack_row(samples, depth):
    """One scanline of integer samples at a bit depth, filter type 0."""
    if depth == 16:
        return b"\0" + b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return b"\0" + bytes(samples)
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        group = samples[i:i + per]
        for j in range(per):
            byte <<= depth
            if j < len(group):
                byte |= group[j]
        out.append(byte)
    return b"\0" + bytes(out)


# Adam7 passes: (x start, y start, x step, y step)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, w, h, depth, ctype, channels, sample, interlace=False,
              plte=None, trns=None, ihdr_size=None):
    """sample(x, y, c) gives each sample; ihdr_size overrides the IHDR only."""
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs = range(x0, w, dx)
        for y in range(y0, h, dy):
            if not xs:
                continue
            raw += pack_row([sample(x, y, c) for x in xs for c in range(channels)], depth)
    iw, ih = ihdr_size or (w, h)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", iw, ih, depth, ctype, 0, 0, int(interlace)))
    if plte:
        out += chunk(b"PLTE", b"".join(bytes(p) for p in plte))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    out += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def pngs():
    write_png("g1.png", 11, 3, 1, 0, 1, lambda x, y, c: (x * 3 + y) % 2)
    write_png("g2.png", 7, 3, 2, 0, 1, lambda x, y, c: (x + 2 * y) % 4)
    write_png("g4.png", 5, 3, 4, 0, 1, lambda x, y, c: (x * 5 + y * 3) % 16)
    write_png("g16.png", 4, 3, 16, 0, 1, lambda x, y, c: x * 20000 + y * 1000 + 7)
    write_png("rgb16.png", 4, 3, 16, 2, 3, lambda x, y, c: x * 16000 + y * 3000 + c * 500 + 1)
    write_png("ga8.png", 5, 2, 8, 4, 2, lambda x, y, c: (x * 40 + y * 7 + c * 100) % 256)
    # gray with a tRNS colour key: value 16 becomes transparent
    write_png("g8_trns.png", 4, 2, 8, 0, 1, lambda x, y, c: x * 16 + y * 64,
              trns=struct.pack(">H", 16))
    write_png("pal4.png", 6, 4, 4, 3, 1, lambda x, y, c: (x + y * 6) % 16,
              plte=[(i * 16, 255 - i * 8, i * 3) for i in range(16)])
    write_png("pal8_trns.png", 5, 3, 8, 3, 1, lambda x, y, c: (x * 4 + y * 5) % 20,
              plte=[(i * 10, i * 5 + 1, 200 - i * 9) for i in range(20)],
              trns=bytes(i * 30 for i in range(7)))
    write_png("rgba8_i.png", 9, 7, 8, 6, 4, lambda x, y, c: (x * 29 + y * 13 + c * 61) % 256,
              interlace=True)
    write_png("g2_i.png", 10, 9, 2, 0, 1, lambda x, y, c: (x + y * 3) % 4, interlace=True)
    # a header that claims 1000000 x 1000000 pixels, followed by one tiny IDAT
    write_png("big.png", 1, 1, 8, 0, 1, lambda x, y, c: 0, ihdr_size=(1000000, 1000000))


def jpegs():
    w, h = 16, 12
    rgb = np.zeros((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            rgb[y, x] = (x * 15 + 10, y * 20 + 5, (x + y) * 8)
    with open("jpeg_src.ppm", "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h) + rgb.tobytes())
    run = lambda *a: subprocess.run(["convert", *a], check=True)
    run("jpeg_src.ppm", "-strip", "-quality", "85", "rgb.jpg")
    run("jpeg_src.ppm", "-strip", "-colorspace", "Gray", "-quality", "85", "gray.jpg")
    run("jpeg_src.ppm", "-strip", "-interlace", "JPEG", "-quality", "85", "progressive.jpg")
    run("jpeg_src.ppm", "-strip", "-colorspace", "CMYK", "-quality", "85", "cmyk.jpg")
    # big.jpg: gray.jpg with its SOF0 frame size patched to 65000 x 65000
    data = bytearray(open("gray.jpg", "rb").read())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65000, 65000)
    open("big.jpg", "wb").write(data)
    os.remove("jpeg_src.ppm")


def npy_header(descr, shape, fortran=False):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    d += " " * (64 - (10 + len(d) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode()


def npys():
    H, W, C = 3, 4, 3
    f = np.fromfunction(lambda y, x, c: ((y * W + x) * C + c) * 0.5 - 3, (H, W, C), dtype=np.float32)
    f[0, 0, 0], f[0, 0, 1], f[0, 0, 2] = np.nan, np.inf, -np.inf
    np.save("f32_hwc.npy", f)
    np.save("f64_hw.npy", np.fromfunction(lambda y, x: (y * 5 + x) / 3.0 - 1, (3, 5), dtype=np.float64))
    np.save("u8_hwc.npy", np.fromfunction(lambda y, x, c: (y * 3 + x) * 40 + c, (2, 3, 2), dtype=np.uint8))
    np.save("u16_hw.npy", np.fromfunction(lambda y, x: y * 20000 + x * 7 + 1, (3, 2), dtype=np.uint16))
    np.save("be_f4.npy", np.fromfunction(lambda y, x: y * 3 + x - 2.25, (2, 3), dtype=np.float32).astype(">f4"))
    np.save("be_u2.npy", np.fromfunction(lambda y, x, c: y * 30000 + x * 300 + c, (2, 3, 2), dtype=np.uint16).astype(">u2"))
    with open("v2_f8.npy", "wb") as fp:
        np.lib.format.write_array(fp, np.fromfunction(lambda y, x: y - x * 0.25, (2, 2), dtype=np.float64), version=(2, 0))
    with open("v3_u1.npy", "wb") as fp:
        np.lib.format.write_array(fp, np.arange(6, dtype=np.uint8).reshape(2, 3), version=(3, 0))
    np.save("fortran.npy", np.asfortranarray(np.zeros((3, 4), np.float32)))
    np.save("i4.npy", np.zeros((2, 2), np.int32))
    np.save("shape1.npy", np.zeros(5, np.float32))
    # headers that claim 1000000 x 1000000 pixels and hold no data
    open("big.npy", "wb").write(npy_header("<f4", (1000000, 1000000, 3)))


if __name__ == "__main__":
    pngs()
    jpegs()
    npys()
