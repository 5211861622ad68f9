#!/usr/bin/python3
"""torch_bench.py: the Python half of bench/run.sh: PyTorch timings and exact references.

Every subcommand prints "KEY VALUE" lines on stdout for run.sh to pick up.
PyTorch runs on 2 threads (torch.set_num_threads(2)); times are the best of
--runs runs measured in-process with time.perf_counter.

    torch_bench.py filter IN.ppm KERNEL [--runs N]
        KERNEL is box3 or tent15 (the kernels run.sh gives the other tools).
        The filter as PyTorch float32 conv2d (groups=3, reflect padding like
        cnnf's default border) on the 1x3xHxW image.
        compute_u8: pad + conv + scale + round half up + uint8, from the
        float CHW tensor to the uint8 CHW tensor; compute_f32: the same
        without the rounding; io_u8 / io_f32: the whole job in-process, from
        reading the PPM to writing the PPM or .npy (HWC float32) output.

    torch_bench.py exact IN.ppm KERNEL [--cnnf OUT.ppm] [--cnnf-npy OUT.npy]
                   [--vips-int OUT.ppm] [--vips-float OUT.pfm] [--im OUT.ppm]
        Needs numpy only. The exact result in integer arithmetic: the sum of
        weights times samples over the reflect-padded image, divided by the
        kernel's scale and rounded half up. Counts the 8-bit samples that
        differ from it (cnnf: the whole image; vips and ImageMagick have
        their own borders: the interior, r = k//2 pixels in from every edge)
        and the largest error of the float outputs.

    torch_bench.py model OUT.cnnf OUT.pt CALIB.pgm
        The small ConvNet (conv3x3 1->16, relu, maxpool 2, conv3x3 16->32,
        relu, maxpool 2, fc 2) on 18x18 patches with fixed random weights
        (seed 0); the second fc bias is moved so that half the pixels of
        CALIB.pgm are labelled 1 (random weights otherwise label almost
        everything one way). Written with tools/torch2cnnf.py.

    torch_bench.py segment MODEL.pt IN.pgm [--cnnf-dense L.png]
                   [--cnnf-patch L.png] [--patch] [--runs N]
        PyTorch's dense evaluation of the label map (the fully-convolutional
        equivalent of running the net on every pixel's patch: a-trous, see
        dense_logits) and, with --patch, the patch evaluation (every 18x18
        patch, batches of about 4096). Checks dense against the net on
        sampled patches and counts the pixels where cnnf's label maps differ.

    torch_bench.py layer [--runs N]
        conv2d 32->32, 3x3, padding 1 on 1x32x256x256 float32: GFLOP/s.
"""
import argparse
import os
import sys
import time
import zlib

import numpy as np

THREADS = 2
PATCH = 18          # the model's input patch
HALF = PATCH // 2   # pixel (y, x) sits at row 9, column 9 of its patch
MEAN, STD = 0.45, 0.25


def out(key, value):
    if isinstance(value, float):
        value = "%.6g" % value
    print("%s %s" % (key, value))
    sys.stdout.flush()


def best_of(fn, runs):
    """(best wall time, last result) of runs calls of fn()."""
    best, res = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


# ---------------------------------------------------------------- PNM, PFM and PNG

def _pnm_header(data):
    """Magic, the numbers of the header, and the offset of the raster."""
    magic, pos, fields = data[:2].decode("ascii"), 2, []
    while len(fields) < 3:  # width height maxval (PFM: width height scale)
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while data[pos:pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos].decode("ascii"))
    return magic, fields, pos + 1  # one whitespace byte ends the header


def read_pnm(path):
    """P5/P6 (8-bit) as uint8 (H, W, C); PF/Pf (PFM) as float32 (H, W, C), top row first."""
    with open(path, "rb") as f:
        data = f.read()
    magic, fields, off = _pnm_header(data)
    if magic in ("P5", "P6"):
        w, h, maxval = (int(v) for v in fields)
        if maxval > 255:
            raise ValueError("%s: 16-bit PNM not handled" % path)
        c = 3 if magic == "P6" else 1
        return np.frombuffer(data, np.uint8, w * h * c, off).reshape(h, w, c)
    if magic in ("PF", "Pf"):
        w, h = int(fields[0]), int(fields[1])
        scale = float(fields[2])
        c = 3 if magic == "PF" else 1
        dt = np.dtype("<f4" if scale < 0 else ">f4")
        a = np.frombuffer(data, dt, w * h * c, off).reshape(h, w, c)
        return a[::-1].astype(np.float32)  # PFM rows run bottom to top
    raise ValueError("%s: not a P5, P6 or PFM file" % path)


def write_ppm(path, a):
    h, w, c = a.shape
    with open(path, "wb") as f:
        f.write(b"%s\n%d %d\n255\n" % (b"P6" if c == 3 else b"P5", w, h))
        f.write(np.ascontiguousarray(a, np.uint8).tobytes())


def read_png_indices(path):
    """The samples of an 8-bit gray or palette PNG (palette indices, not colours)."""
    try:
        from PIL import Image
        im = Image.open(path)
        if im.mode in ("P", "L"):
            return np.asarray(im, np.uint8)
    except ImportError:
        pass
    with open(path, "rb") as f:
        data = f.read()
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    w, h = int.from_bytes(hdr[0:4], "big"), int.from_bytes(hdr[4:8], "big")
    if hdr[8] != 8 or hdr[9] not in (0, 3) or hdr[12] != 0:
        raise ValueError("%s: only 8-bit gray or palette, non-interlaced PNG" % path)
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, w + 1)
    img = np.zeros((h, w), np.int32)
    prev = np.zeros(w, np.int32)
    for y in range(h):
        ft, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ft == 0:
            cur = row
        elif ft == 2:
            cur = (row + prev) & 255
        else:
            cur = np.zeros(w, np.int32)
            for x in range(w):
                a = cur[x - 1] if x else 0
                b, c = prev[x], prev[x - 1] if x else 0
                if ft == 1:
                    p = a
                elif ft == 3:
                    p = (a + b) >> 1
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (row[x] + p) & 255
        img[y] = cur
        prev = cur
    return img.astype(np.uint8)


# ---------------------------------------------------------------- the kernels

def kernel(name):
    """(integer weights k x k, denominator): the value is sum(w * x) / den."""
    if name == "box3":
        return np.ones((3, 3), np.int64), 9
    if name == "tent15":
        t = 8 - np.abs(np.arange(15) - 7)  # 1 2 .. 8 .. 2 1
        return np.outer(t, t).astype(np.int64), 4096
    raise SystemExit("torch_bench.py: unknown kernel %r (box3 or tent15)" % name)


# ---------------------------------------------------------------- filter (PyTorch)

def cmd_filter(a):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(THREADS)
    w_int, den = kernel(a.kernel)
    k = w_int.shape[0]
    r = k // 2
    w = torch.from_numpy(w_int.astype(np.float32)).expand(3, 1, k, k).contiguous()

    def filt(x):  # x: 1x3xHxW float32 -> 1x3xHxW float32; integer sums are exact in float32
        xp = F.pad(x, (r, r, r, r), mode="reflect")
        return F.conv2d(xp, w, groups=3).div_(den)

    def to_u8(y):
        return y.add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)

    img = read_pnm(a.input)
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().unsqueeze(0)
    with torch.no_grad():
        to_u8(filt(x))  # warm-up: oneDNN picks its kernel, the allocator grows
        t, _ = best_of(lambda: to_u8(filt(x)), a.runs)
        out("compute_u8", t)
        t, _ = best_of(lambda: filt(x), a.runs)
        out("compute_f32", t)

        tmp_ppm = os.path.join(a.tmpdir, "torch_out.ppm")
        tmp_npy = os.path.join(a.tmpdir, "torch_out.npy")

        def whole(u8):
            im = read_pnm(a.input)
            xx = torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).float().unsqueeze(0)
            y = filt(xx)
            if u8:
                write_ppm(tmp_ppm, to_u8(y)[0].permute(1, 2, 0).numpy())
            else:
                np.save(tmp_npy, np.ascontiguousarray(y[0].permute(1, 2, 0).numpy()))
        t, _ = best_of(lambda: whole(True), a.runs)
        out("io_u8", t)
        t, _ = best_of(lambda: whole(False), a.runs)
        out("io_f32", t)
        for p in (tmp_ppm, tmp_npy):
            if os.path.exists(p):
                os.remove(p)


# ---------------------------------------------------------------- exactness (numpy)

def exact_sums(img, w_int):
    """int64 (H, W, C) sums of w * x over the reflect-padded image (dcb|abcd|cba)."""
    k = w_int.shape[0]
    r = k // 2
    h, w, c = img.shape
    xp = np.pad(img.astype(np.int64), ((r, r), (r, r), (0, 0)), mode="reflect")
    # separable when the rank is 1 (box and tent are): rows then columns
    u, s, vt = np.linalg.svd(w_int.astype(np.float64))
    col = np.rint(u[:, 0] * np.sqrt(s[0]) * np.sign(u[0, 0])).astype(np.int64)
    row = np.rint(vt[0] * np.sqrt(s[0]) * np.sign(vt[0, 0])).astype(np.int64)
    if np.array_equal(np.outer(col, row), w_int):
        tmp = np.zeros((h + 2 * r, w, c), np.int64)
        for j in range(k):
            tmp += row[j] * xp[:, j:j + w]
        acc = np.zeros((h, w, c), np.int64)
        for i in range(k):
            acc += col[i] * tmp[i:i + h]
        return acc
    acc = np.zeros((h, w, c), np.int64)
    for i in range(k):
        for j in range(k):
            acc += w_int[i, j] * xp[i:i + h, j:j + w]
    return acc


def cmd_exact(a):
    w_int, den = kernel(a.kernel)
    r = w_int.shape[0] // 2
    img = read_pnm(a.input)
    s = exact_sums(img, w_int)
    ref8 = ((2 * s + den) // (2 * den)).astype(np.uint8)  # floor(s/den + 1/2)
    inner = (slice(r, -r), slice(r, -r))
    out("samples", ref8.size)
    out("interior_samples", ref8[inner].size)
    if a.cnnf:
        o = read_pnm(a.cnnf)
        out("cnnf_diff", int(np.count_nonzero(o != ref8)) if o.shape == ref8.shape else "shape")
    for key, path in (("vips_int_diff", a.vips_int), ("im_diff", a.im)):
        if path:
            o = read_pnm(path)
            if o.shape != ref8.shape:
                out(key, "shape")
                continue
            d = np.abs(o[inner].astype(np.int16) - ref8[inner])
            out(key, int(np.count_nonzero(d)))
            out(key + "_max", int(d.max()))
    exact = s.astype(np.float64) / den
    if a.cnnf_npy:
        o = np.load(a.cnnf_npy)
        if o.shape != exact.shape:
            out("cnnf_npy_maxerr", "shape")
        else:
            out("cnnf_npy_maxerr", float(np.abs(o.astype(np.float64) - exact).max()))
            out("cnnf_npy_diff_f32", int(np.count_nonzero(o != exact.astype(np.float32))))
    if a.vips_float:
        o = read_pnm(a.vips_float)
        if o.shape != exact.shape:
            out("vips_float_maxerr", "shape")
        else:
            # The PFM spec puts the bottom row first; libvips 8.14 writes the top row
            # first. Take whichever order fits, and say which.
            errs = [(float(np.abs(v[inner].astype(np.float64) - exact[inner]).max()), order)
                    for v, order in ((o, "bottom-first"), (o[::-1], "top-first"))]
            err, order = min(errs)
            out("vips_float_maxerr", err)
            out("vips_float_pfm_rows", order)


# ---------------------------------------------------------------- the ConvNet

def build_net():
    import torch
    from torch import nn
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 3 * 3, 2)).eval()


def normalise(img_u8):
    """(H, W) uint8 -> 1x1x(H+17)x(W+17) float32: reflect-padded, raw/255, (v - mean)/std."""
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(img_u8.astype(np.float32)).div_(255).sub_(MEAN).div_(STD)
    # pixel (y, x) reads rows y-9 .. y+8: 9 before, 8 after
    return F.pad(x[None, None], (HALF, PATCH - 1 - HALF, HALF, PATCH - 1 - HALF), mode="reflect")


def dense_logits(net, xp):
    """Logits 1x2xHxW of every pixel's patch, from the padded 1x1x(H+17)x(W+17) input.

    The patch network applied at every offset at once (a-trous): conv1 on the
    padded image; maxpool 2 with stride 1 instead of 2, so every later layer
    reads its input 2 apart: conv2 with dilation 2, maxpool 2 with stride 1
    and dilation 2, and the fc as a 3x3 conv (its weights reshaped to
    2x32x3x3) with dilation 4. Output (y, x) is the net on the patch whose
    top-left corner is (y, x) of the padded image."""
    import torch.nn.functional as F
    c1, c2, fc = net[0], net[3], net[7]
    y = F.relu(F.conv2d(xp, c1.weight, c1.bias))
    y = F.max_pool2d(y, 2, stride=1)
    y = F.relu(F.conv2d(y, c2.weight, c2.bias, dilation=2))
    y = F.max_pool2d(y, 2, stride=1, dilation=2)
    return F.conv2d(y, fc.weight.view(2, 32, 3, 3), fc.bias, dilation=4)


def patch_logits(net, xp, h, w, batch=4096):
    """Logits (H*W, 2): the net on every 18x18 patch, rows of patches in batches of ~batch."""
    import torch
    win = xp[0, 0].unfold(0, PATCH, 1).unfold(1, PATCH, 1)  # H x W x 18 x 18 view
    rows = max(1, batch // w)
    parts = []
    for y0 in range(0, h, rows):
        p = win[y0:y0 + rows].reshape(-1, 1, PATCH, PATCH)  # copies this batch only
        parts.append(net(p))
    return torch.cat(parts)


def cmd_model(a):
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    from torch2cnnf import write_model
    torch.set_num_threads(THREADS)
    net = build_net()
    img = read_pnm(a.calib)[:, :, 0]
    with torch.no_grad():
        lg = dense_logits(net, normalise(img))
        d = (lg[0, 1] - lg[0, 0]).flatten()
        net[7].bias[1] -= d.median()
        frac = float((dense_logits(net, normalise(img)).argmax(1) == 1).float().mean())
    write_model(net, a.out, (1, PATCH, PATCH), mean=[MEAN], std=[STD],
                labels=["zero", "one"])
    torch.save(net.state_dict(), a.state)
    out("label1_fraction", frac)


def cmd_segment(a):
    import torch
    torch.set_num_threads(THREADS)
    net = build_net()
    net.load_state_dict(torch.load(a.state))
    img = read_pnm(a.input)[:, :, 0]
    h, w = img.shape
    with torch.no_grad():
        dense_logits(net, normalise(img))  # warm-up

        def dense():
            return dense_logits(net, normalise(img))[0].argmax(0)
        t, _ = best_of(dense, a.runs)
        out("dense_s", t)
        lg = dense_logits(net, normalise(img))[0]  # 2 x H x W
        lab = lg.argmax(0).numpy().astype(np.uint8)
        diff = (lg[1] - lg[0]).abs().numpy()
        out("near_ties", int(np.count_nonzero(diff < 1e-4)))
        out("label1_fraction", float(lab.mean()))
        # dense == the net on single patches, at sampled pixels (corners included)
        xp = normalise(img)
        rng = np.random.default_rng(1)
        pts = [(0, 0), (h - 1, w - 1), (0, w - 1), (h - 1, 0)]
        pts += [tuple(p) for p in zip(rng.integers(0, h, 60), rng.integers(0, w, 60))]
        pt = torch.stack([xp[0, :, y:y + PATCH, x:x + PATCH] for y, x in pts])
        ref = net(pt)
        got = torch.stack([lg[:, y, x] for y, x in pts])
        out("dense_vs_patch_maxdiff", float((ref - got).abs().max()))
        if a.cnnf_dense:
            c = read_png_indices(a.cnnf_dense)
            out("cnnf_dense_diff", int(np.count_nonzero(c != lab)) if c.shape == lab.shape else "shape")
        if a.patch:
            def patches():
                return patch_logits(net, normalise(img), h, w).argmax(1)
            t, pl = best_of(patches, a.runs)
            out("patch_s", t)
            pl = pl.numpy().reshape(h, w).astype(np.uint8)
            out("patch_vs_dense_diff", int(np.count_nonzero(pl != lab)))
            if a.cnnf_patch:
                c = read_png_indices(a.cnnf_patch)
                out("cnnf_patch_diff", int(np.count_nonzero(c != pl)) if c.shape == pl.shape else "shape")


# ---------------------------------------------------------------- the 32->32 layer

def cmd_layer(a):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    x = torch.randn(1, 32, 256, 256)
    w = torch.randn(32, 32, 3, 3) / 17
    b = torch.randn(32) / 17
    with torch.no_grad():
        F.conv2d(x, w, b, padding=1)  # warm-up (oneDNN picks its kernel)
        t, _ = best_of(lambda: F.conv2d(x, w, b, padding=1), a.runs)
    out("layer_seconds", t)
    out("layer_gflops", 2.0 * 32 * 32 * 9 * 256 * 256 / t / 1e9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("filter")
    p.add_argument("input")
    p.add_argument("kernel")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    p = sub.add_parser("exact")
    p.add_argument("input")
    p.add_argument("kernel")
    for opt in ("--cnnf", "--cnnf-npy", "--vips-int", "--vips-float", "--im"):
        p.add_argument(opt)
    p = sub.add_parser("model")
    p.add_argument("out")
    p.add_argument("state")
    p.add_argument("calib")
    p = sub.add_parser("segment")
    p.add_argument("state")
    p.add_argument("input")
    p.add_argument("--cnnf-dense")
    p.add_argument("--cnnf-patch")
    p.add_argument("--patch", action="store_true")
    p.add_argument("--runs", type=int, default=3)
    p = sub.add_parser("layer")
    p.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    {"filter": cmd_filter, "exact": cmd_exact, "model": cmd_model,
     "segment": cmd_segment, "layer": cmd_layer}[a.cmd](a)


if __name__ == "__main__":
    main()
