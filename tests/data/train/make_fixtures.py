#!/usr/bin/python3
"""make_fixtures.py: writes the fixtures of tests/check_train.c and tests/check_labels.c
(run from this folder; only the standard library).

Not needed to build or test: the files it writes are committed. PNG files are
encoded by hand (zlib only) so that colour type and bit depth are exactly what
each test expects. Every sample follows a formula that the tests repeat.

squares.png          24x24 8-bit gray: background 40 + (x + y) % 7, four bright
                     squares of 200 + (x * y) % 9 (see SQUARES)
squares-labels.png   8-bit gray label map: 1 inside the squares, 0 outside
squares-ignore.png   the same with the top row and left column 255 (--ignore 255)
squares-pal.png      the labels as an 8-bit palette PNG (as cnnf segment writes)
squares.list         "squares.png squares-labels.png"
squares-arch.cnnf    a small untrained model for 5x5 patches
labels-*.png         label maps of every accepted kind: palette 1/2/4/8-bit, gray
                     1/2/4/8/16-bit, value (x + 3y) % 2^depth (16-bit: 1000 + x + 3y)
bad-*.png, bad-*.list  for the errors tcases (bad-huge.png: a 30000x30000 header, 100
                     bytes of data)
"""
import struct
import zlib

W = H = 24
# (x0, y0, side)
SQUARES = [(3, 3, 5), (14, 4, 6), (6, 15, 4), (16, 16, 5)]


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def pack_row(samples, depth):
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


def png(path, rows, depth, color_type, palette=None, channels=1):
    """rows: lists of samples (channels interleaved)."""
    h, w = len(rows), len(rows[0]) // channels
    data = b"".join(pack_row(r, depth) for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    out += chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def inside(x, y):
    return any(x0 <= x < x0 + s and y0 <= y < y0 + s for x0, y0, s in SQUARES)


def main():
    img = [[200 + (x * y) % 9 if inside(x, y) else 40 + (x + y) % 7 for x in range(W)] for y in range(H)]
    lab = [[1 if inside(x, y) else 0 for x in range(W)] for y in range(H)]
    png("squares.png", img, 8, 0)
    png("squares-labels.png", lab, 8, 0)
    ign = [[255 if x == 0 or y == 0 else lab[y][x] for x in range(W)] for y in range(H)]
    png("squares-ignore.png", ign, 8, 0)
    png("squares-pal.png", lab, 8, 3, palette=[(0, 0, 0), (255, 200, 0)])
    with open("squares.list", "w") as f:
        f.write("# the squares and their labels\nsquares.png squares-labels.png\n")
    with open("squares-arch.cnnf", "w") as f:
        f.write("cnnf-model 1\n"
                "input channels=1 height=5 width=5 mean=0.3 std=0.3\n"
                "labels dark bright\n"
                "conv out=4 kernel=3\nrelu\nfc out=2\nsoftmax\n"
                "weights init\n")

    # Every accepted kind of label map, 7x5.
    w, h = 7, 5
    for depth in (1, 2, 4, 8):
        v = [[(x + 3 * y) % (1 << depth) for x in range(w)] for y in range(h)]
        pal = [(i, i, i) for i in range(1 << depth)]
        png("labels-pal%d.png" % depth, v, depth, 3, palette=pal)
        png("labels-gray%d.png" % depth, v, depth, 0)
    png("labels-gray16.png", [[1000 + x + 3 * y for x in range(w)] for y in range(h)], 16, 0)
    with open("labels-gray8.pgm", "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (w, h))
        f.write(bytes((x + 3 * y) % 256 for y in range(h) for x in range(w)))

    # Errors.
    png("bad-rgb.png", [[c for x in range(w) for c in (x, y, 0)] for y in range(h)], 8, 2,
        channels=3)
    png("bad-graya.png", [[c for x in range(w) for c in (x, 255)] for y in range(h)], 8, 4,
        channels=2)
    whole = open("labels-gray8.png", "rb").read()
    with open("bad-truncated.png", "wb") as f:
        f.write(whole[:len(whole) - 20])
    # A header that promises 30000x30000 pixels, and 100 bytes of data.
    with open("bad-huge.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(bytes(100))[:100]) + chunk(b"IEND", b""))
    png("bad-small.png", [row[:W - 1] for row in lab], 8, 0)
    big = [row[:] for row in lab]
    big[7][11] = 2
    png("bad-label2.png", big, 8, 0)
    lists = {
        "bad-missing.list": "squares.png squares-labels.png\nnothere.png squares-labels.png\n",
        "bad-words.list": "# comment\n\nsquares.png squares-labels.png extra\n",
        "bad-one.list": "squares.png\n",
        "bad-size.list": "squares.png bad-small.png\n",
        "bad-label.list": "squares.png squares-labels.png\nsquares.png bad-label2.png\n",
        "bad-rgb.list": "squares.png bad-rgb.png\n",
        "bad-empty.list": "# nothing\n\n",
        "bad-nolabels.list": "squares.png nothere-labels.png\n",
        "bad-channels.list": "bad-rgb.png squares-labels.png\n",
    }
    for name, text in lists.items():
        with open(name, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
