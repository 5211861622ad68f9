"""test_torch2cnnf.py: tests tools/torch2cnnf.py by reading what it writes back.

A small reader of the cnnf model format, written apart from the writer,
parses the file, rebuilds an nn.Sequential from it and compares parameters
and outputs with the original. Run where torch can be imported (Debian:
/usr/bin/python3 with python3-torch); elsewhere it prints a "skipped" line
and exits 0. Ends with "torch2cnnf: N passed, N failed".
"""
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError:
    print("torch2cnnf: skipped (no torch)")
    sys.exit(0)

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tools"))
import torch2cnnf  # noqa: E402

passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("torch2cnnf: FAIL %s %s" % (what, detail))


# ---- a reader of the format, independent of the writer ----

def read_model(path):
    """Returns (header dict, list of (keyword, {key: value}), float64 weights)."""
    data = open(path, "rb").read()
    pos, header, layers = 0, {}, []
    magic = None
    while True:
        end = data.index(b"\n", pos)
        line = data[pos:end].decode("ascii").split("#", 1)[0].split()
        pos = end + 1
        if not line:
            continue
        if magic is None:
            magic = line
            assert line == ["cnnf-model", "1"], line
            continue
        word, rest = line[0], line[1:]
        if word == "weights":
            kind, count = rest[0], int(rest[1])
            break
        if word == "labels":
            header["labels"] = rest
            continue
        fields = dict(f.split("=", 1) for f in rest)
        if word == "input":
            header["input"] = fields
        else:
            layers.append((word, fields))
    if kind == "float32":
        assert len(data) - pos == 4 * count, (len(data) - pos, count)
        w = np.array(struct.unpack("<%df" % count, data[pos:]), np.float64)
    else:
        w = np.array([float(v) for v in data[pos:].split()], np.float32).astype(np.float64)
        assert len(w) == count
    return header, layers, w


def build(header, layers, w):
    """An nn.Sequential (float64, eval mode) computing what the file describes."""
    inp = header["input"]
    c, h, wd = int(inp["channels"]), int(inp["height"]), int(inp["width"])
    mods, off = [], 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        t = torch.tensor(w[off:off + n]).reshape(shape)
        off += n
        return t

    flat = False
    for word, f in layers:
        if word == "conv":
            k = f["kernel"]
            kh, kw = (int(v) for v in k.split("x")) if "x" in k else (int(k), int(k))
            s, p, d = int(f.get("stride", 1)), int(f.get("pad", 0)), int(f.get("dilation", 1))
            m = nn.Conv2d(c, int(f["out"]), (kh, kw), s, p, d).double()
            m.weight.data = take(int(f["out"]), c, kh, kw)
            m.bias.data = take(int(f["out"]))
        elif word in ("maxpool", "avgpool"):
            k = int(f["kernel"])
            m = (nn.MaxPool2d if word == "maxpool" else nn.AvgPool2d)(k, int(f.get("stride", k)))
        elif word == "batchnorm":
            m = nn.BatchNorm2d(c, eps=float(f.get("eps", 1e-5))).double()
            m.weight.data, m.bias.data = take(c), take(c)
            m.running_mean.data, m.running_var.data = take(c), take(c)
        elif word == "relu":
            m = nn.ReLU()
        elif word == "dropout":
            m = nn.Dropout(float(f.get("p", 0.5)))
        elif word == "fc":
            if not flat:
                mods.append(nn.Flatten())
                flat = True
            n = c * h * wd
            m = nn.Linear(n, int(f["out"])).double()
            m.weight.data = take(int(f["out"]), n)
            m.bias.data = take(int(f["out"]))
            c, h, wd = int(f["out"]), 1, 1
        elif word == "softmax":
            m = nn.Softmax(dim=1)
        else:
            raise ValueError("unknown layer " + word)
        mods.append(m)
        if word in ("conv", "maxpool", "avgpool"):  # the next layer's input shape
            with torch.no_grad():
                _, c, h, wd = mods[-1](torch.zeros(1, c, h, wd, dtype=torch.float64)).shape
    assert off == len(w), (off, len(w))
    return nn.Sequential(*mods).eval()


def params_of(seq):
    """The float32-rounded parameters of seq in file order, as float64."""
    out = []
    for m in seq.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            b = m.bias if m.bias is not None else torch.zeros(m.weight.shape[0])
            out += [m.weight, b]
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            w, b = (m.weight, m.bias) if m.affine else (torch.ones(n), torch.zeros(n))
            out += [w, b, m.running_mean, m.running_var]
    if not out:
        return np.zeros(0)
    return np.concatenate([p.detach().float().double().reshape(-1).numpy() for p in out])


def randomise(seq, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in seq.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return seq.eval()


def roundtrip(name, seq, shape, text=False, **kw):
    torch.manual_seed(len(name))
    seq = randomise(seq, 1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name + ".cnnf")
        torch2cnnf.write_model(seq, path, shape, text=text, **kw)
        header, layers, w = read_model(path)
    inp = header["input"]
    check(name + " shape", (int(inp["channels"]), int(inp["height"]), int(inp["width"])) == tuple(shape))
    ref = params_of(seq)
    check(name + " params", len(w) == len(ref) and np.array_equal(w, ref),
          "(%d vs %d values)" % (len(w), len(ref)))
    back = build(header, layers, w)
    x = torch.randn((3,) + tuple(shape), dtype=torch.float64)
    seq64 = seq.double()
    with torch.no_grad():
        for m in seq64.modules():  # compare on the float32-rounded weights
            for p in list(m.parameters(recurse=False)) + list(m.buffers(recurse=False)):
                p.copy_(p.float().double())
        want, got = seq64(x), back(x)
    check(name + " output", want.shape[0] == 3 and torch.allclose(want.reshape(3, -1), got.reshape(3, -1),
                                                                  rtol=1e-12, atol=1e-12),
          "max diff %g" % (want.reshape(3, -1) - got.reshape(3, -1)).abs().max())
    return header, layers


def expect_error(name, seq, shape, words, **kw):
    with tempfile.TemporaryDirectory() as d:
        try:
            torch2cnnf.write_model(seq, os.path.join(d, "x.cnnf"), shape, **kw)
        except ValueError as e:
            check(name, words in str(e), "message %r lacks %r" % (str(e), words))
            return
    check(name, False, "no error")


def check_fixtures():
    """tests/data/net/ (tools/make_net_fixtures.py) agrees with this reader."""
    net = os.path.join(TOP, "tests", "data", "net")
    names = sorted(f[:-len(".expected.txt")] for f in os.listdir(net) if f.endswith(".expected.txt"))
    check("fixtures present", len(names) >= 3, str(names))
    for name in names:
        seq = build(*read_model(os.path.join(net, name + ".cnnf")))
        x = np.load(os.path.join(net, name + ".input.npy")).transpose(2, 0, 1)[None]
        with torch.no_grad():
            got = seq(torch.from_numpy(x.astype(np.float64))).reshape(-1).numpy()
        want = np.loadtxt(os.path.join(net, name + ".expected.txt"), ndmin=1)
        check("fixture " + name, got.shape == want.shape and np.allclose(got, want, rtol=1e-8, atol=1e-9),
              "%s vs %s" % (got, want))
    header, layers, w = read_model(os.path.join(net, "seg_small.cnnf"))
    seq = build(header, layers, w)
    ph, pw = int(header["input"]["height"]), int(header["input"]["width"])
    mean, std = float(header["input"]["mean"]), float(header["input"]["std"])
    tok = open(os.path.join(net, "seg_small.input.pgm")).read().split("\n")
    tok = " ".join(l.split("#")[0] for l in tok).split()
    width, height, maxval = int(tok[1]), int(tok[2]), int(tok[3])
    img = np.array(tok[4:], np.float64).reshape(height, width)
    modes = {"zero": "constant", "replicate": "edge", "reflect": "reflect",
             "symmetric": "symmetric", "wrap": "wrap"}
    for border, mode in modes.items():
        v = (np.pad(img, ((ph // 2, ph - 1 - ph // 2), (pw // 2, pw - 1 - pw // 2)), mode) / maxval
             - np.float32(mean)) / np.float32(std)
        x = np.stack([v[y:y + ph, xx:xx + pw] for y in range(height) for xx in range(width)])[:, None]
        with torch.no_grad():
            p = seq(torch.from_numpy(x)).numpy()
        want = np.loadtxt(os.path.join(net, "seg_small.labels.%s.txt" % border), dtype=int)
        check("seg_small " + border, np.array_equal(p.argmax(1).reshape(height, width), want))
        if border == "reflect":
            probs = np.loadtxt(os.path.join(net, "seg_small.probs.reflect.txt"))
            check("seg_small probs", np.allclose(p, probs, rtol=1e-8, atol=1e-9))


def check_coins():
    """samples/models/coins.cnnf reproduces rows of coins-torch-labels.pgm (border reflect)."""
    try:
        from PIL import Image
    except ImportError:
        return
    models = os.path.join(TOP, "samples", "models")
    header, layers, w = read_model(os.path.join(models, "coins.cnnf"))
    seq = build(header, layers, w)
    ph, pw = int(header["input"]["height"]), int(header["input"]["width"])
    mean, std = np.float32(header["input"]["mean"]), np.float32(header["input"]["std"])
    img = np.asarray(Image.open(os.path.join(TOP, "samples", "coins.png")).convert("L"), np.float64)
    data = open(os.path.join(models, "coins-torch-labels.pgm"), "rb").read()
    h, wd = img.shape
    check("coins pgm", data.startswith(b"P5\n%d %d\n255\n" % (wd, h)))
    want = np.frombuffer(data[-h * wd:], np.uint8).reshape(h, wd)
    v = (np.pad(img, ((ph // 2, ph - 1 - ph // 2), (pw // 2, pw - 1 - pw // 2)), "reflect") / 255
         - mean) / std
    for y in (0, 1, 50, 124, 193, 263, h - 2, h - 1):  # edges and every row of coins
        x = np.stack([v[y:y + ph, xx:xx + pw] for xx in range(wd)])[:, None]
        with torch.no_grad():
            got = seq(torch.from_numpy(x)).numpy().argmax(1)
        check("coins row %d" % y, np.array_equal(got, want[y]))


def main():
    torch.set_num_threads(1)
    check_fixtures()
    check_coins()
    h, layers = roundtrip("mixed", nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4, eps=1e-3), nn.ReLU(),
        nn.Conv2d(4, 3, (3, 2), dilation=2, bias=False), nn.MaxPool2d(2),
        nn.Sequential(nn.AvgPool2d(2, stride=1), nn.Dropout(0.25)),
        nn.Flatten(), nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 3), nn.Softmax(dim=1)),
        (2, 17, 11), mean=[0.5, 0.25], std=0.5, labels=["a", "b", "c"])
    words = [l[0] for l in layers]
    check("mixed layers", words == ["conv", "batchnorm", "relu", "conv", "maxpool", "avgpool",
                                    "dropout", "fc", "relu", "fc", "softmax"], str(words))
    check("mixed fields", layers[0][1] == {"out": "4", "kernel": "3", "stride": "2", "pad": "1"}
          and layers[3][1] == {"out": "3", "kernel": "3x2", "dilation": "2"}
          and layers[1][1] == {"eps": "0.001"} and layers[6][1] == {"p": "0.25"}
          and layers[5][1] == {"kernel": "2", "stride": "1"}, str(layers))
    check("mixed header", h["input"].get("mean") == "0.5,0.25" and h["input"].get("std") == "0.5,0.5"
          and h.get("labels") == ["a", "b", "c"], str(h))
    roundtrip("text", nn.Sequential(nn.Conv2d(1, 2, 5, padding="valid"), nn.Softmax(1)),
              (1, 5, 5), text=True)
    roundtrip("same", nn.Sequential(nn.Conv2d(3, 2, 3, padding="same"), nn.ReLU(),
                                    nn.MaxPool2d(4)), (3, 4, 4))
    roundtrip("affine-off", nn.Sequential(nn.BatchNorm2d(2, affine=False), nn.AvgPool2d(3)), (2, 3, 3))

    conv = nn.Conv2d(1, 2, 3)
    expect_error("groups", nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), (2, 3, 3), "groups")
    expect_error("stride axes", nn.Sequential(nn.Conv2d(1, 2, 3, stride=(1, 2))), (1, 3, 3), "stride")
    expect_error("reflect pad", nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"),
                                              nn.MaxPool2d(3)), (1, 3, 3), "padding_mode")
    expect_error("same rect", nn.Sequential(nn.Conv2d(1, 2, (3, 1), padding="same")), (1, 3, 1), "same")
    expect_error("ceil", nn.Sequential(conv, nn.MaxPool2d(2, ceil_mode=True)), (1, 4, 4), "ceil_mode")
    expect_error("pool pad", nn.Sequential(conv, nn.AvgPool2d(3, padding=1)), (1, 3, 3), "padding")
    expect_error("tanh", nn.Sequential(conv, nn.Tanh()), (1, 3, 3), "unsupported layer")
    expect_error("no flatten", nn.Sequential(conv, nn.Linear(1, 2)), (1, 3, 3), "Flatten")
    expect_error("flatten relu", nn.Sequential(conv, nn.Flatten(), nn.ReLU(), nn.Linear(2, 2)),
                 (1, 3, 3), "followed by Linear")
    expect_error("softmax early", nn.Sequential(conv, nn.Softmax(1), nn.ReLU()), (1, 3, 3), "last")
    expect_error("softmax dim", nn.Sequential(conv, nn.Softmax(-1)), (1, 3, 3), "dim")
    expect_error("not 1x1", nn.Sequential(conv), (1, 4, 4), "K x 1 x 1")
    expect_error("in_features", nn.Sequential(nn.Flatten(), nn.Linear(5, 2)), (1, 2, 2), "in_features")
    expect_error("in_channels", nn.Sequential(conv), (3, 3, 3), "in_channels")
    expect_error("too big", nn.Sequential(conv), (1, 2, 2), "larger")
    expect_error("conv after fc", nn.Sequential(nn.Flatten(), nn.Linear(9, 9), nn.BatchNorm2d(9)),
                 (1, 3, 3), "follows")
    expect_error("labels count", nn.Sequential(conv), (1, 3, 3), "labels", labels=["a"])
    expect_error("labels space", nn.Sequential(conv), (1, 3, 3), "labels", labels=["a b", "c"])
    expect_error("mean count", nn.Sequential(conv), (1, 3, 3), "mean", mean=[0.1, 0.2])
    bn = nn.BatchNorm2d(1, track_running_stats=False)
    expect_error("no stats", nn.Sequential(bn, nn.Conv2d(1, 2, 3)), (1, 3, 3), "running")

    # the command line, on a torch.save'd model
    with tempfile.TemporaryDirectory() as d:
        seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 2))
        torch.save(seq, os.path.join(d, "m.pt"))
        tool = os.path.join(TOP, "tools", "torch2cnnf.py")
        r = subprocess.run([sys.executable, tool, os.path.join(d, "m.pt"), os.path.join(d, "m.cnnf"),
                            "--input", "1,3,3", "--mean", "0.5", "--std", "0.25", "--labels", "bg,fg"],
                           capture_output=True, text=True)
        check("cli status", r.returncode == 0, r.stderr)
        if r.returncode == 0:
            h, layers, w = read_model(os.path.join(d, "m.cnnf"))
            check("cli model", h["labels"] == ["bg", "fg"] and h["input"]["mean"] == "0.5"
                  and np.array_equal(w, params_of(seq)))
        r = subprocess.run([sys.executable, tool, os.path.join(d, "m.pt"), os.path.join(d, "x.cnnf"),
                            "--input", "1,4,4"], capture_output=True, text=True)
        check("cli error", r.returncode != 0 and "torch2cnnf: " in r.stderr
              and not os.path.exists(os.path.join(d, "x.cnnf")), r.stderr)

    print("torch2cnnf: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
