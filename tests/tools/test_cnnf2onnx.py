"""test_cnnf2onnx.py: tests tools/cnnf2onnx.py (a cnnf model file as ONNX).

Networks with every layer kind are written by tools/torch2cnnf.py (float32
and text weights), read back by cnnf2onnx and rebuilt, with fc as Linear and
as a whole-input Conv: both must compute what the original computes. The
exported ONNX files are checked for their input, output, opset and operators,
and their initializers against the file's weights; samples/models/coins.onnx
must be what the tool makes from coins.cnnf. Run where torch and onnx can be
imported (Debian: /usr/bin/python3); elsewhere it says it skipped. Ends with
"cnnf2onnx: N passed, N failed".
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    from torch import nn
except ImportError:
    print("cnnf2onnx: 0 passed, 0 failed (skipped: no torch or onnx)")
    sys.exit(0)

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
TOOL = os.path.join(TOP, "tools", "cnnf2onnx.py")
sys.path.insert(0, os.path.join(TOP, "tools"))
import cnnf2onnx  # noqa: E402
import torch2cnnf  # noqa: E402

passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("cnnf2onnx: FAIL %s %s" % (what, detail))


def networks():
    """(name, nn.Sequential, input C,H,W): every layer kind and option of the format."""
    torch.manual_seed(3)
    yield "coins-like", nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 3 * 3, 2), nn.Softmax(dim=1)), (1, 18, 18)
    bn = nn.BatchNorm2d(5, eps=1e-3)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    yield "all layers", nn.Sequential(
        nn.Conv2d(3, 5, (3, 2), stride=2, padding=1, dilation=2), bn, nn.ReLU(),
        nn.AvgPool2d(2, 1), nn.Dropout(0.25), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(5 * 2 * 2, 7), nn.ReLU(), nn.Linear(7, 3)), (3, 13, 12)


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        for name, seq, shape in networks():
            seq.eval()
            x = torch.randn(5, *shape)
            with torch.no_grad():
                want = seq(x).double()
            for text in (False, True):
                path = os.path.join(d, "m.cnnf")
                torch2cnnf.write_model(seq, path, shape, mean=[0.25] * shape[0],
                                       std=[0.5 + 0.25 * i for i in range(shape[0])],
                                       labels=["c%d" % i for i in range(want.shape[1])], text=text)
                m = cnnf2onnx.read_model(path)
                what = "%s (%s)" % (name, "text" if text else "float32")
                check(what + " input", m.input == tuple(shape), m.input)
                check(what + " labels", m.labels == ["c%d" % i for i in range(want.shape[1])])
                for fc in ("linear", "conv"):
                    got = cnnf2onnx.build_sequential(m, fc)
                    with torch.no_grad():
                        y = got(x).double().reshape(want.shape)
                    err = float((y - want).abs().max())
                    check("%s fc=%s output" % (what, fc), err <= 1e-5 * max(1.0, float(want.abs().max())),
                          "max difference %g" % err)
                opts = cnnf2onnx.cnnf_options(m)
                want_opts = ["--mean", "0.25", "--std", ",".join(str(0.5 + 0.25 * i) for i in range(shape[0]))]
                if shape[0] == 1:
                    want_opts[3] = "0.5"
                check(what + " options", opts == want_opts, opts)
            out = os.path.join(d, "m.onnx")
            cnnf2onnx.export(m, out)
            om = onnx.load(out)
            g = om.graph
            check(name + " opset", [o.version for o in om.opset_import if o.domain in ("", "ai.onnx")] == [13])
            check(name + " one input", [i.name for i in g.input] == ["input"], [i.name for i in g.input])
            dims = [dd.dim_param or dd.dim_value for dd in g.input[0].type.tensor_type.shape.dim]
            check(name + " input shape", dims == ["N"] + list(shape), dims)
            ops = set(n.op_type for n in g.node)
            check(name + " operators", ops <= {"Conv", "Relu", "MaxPool", "AveragePool",
                                                "BatchNormalization", "Softmax"}, ops)
            meta = {p.key: p.value for p in om.metadata_props}
            check(name + " labels metadata", meta.get("labels", "").split() == m.labels, meta)

        # the sample: the committed export is what the tool makes, holding the file's weights
        coins = os.path.join(TOP, "samples", "models", "coins.cnnf")
        m = cnnf2onnx.read_model(coins)
        check("coins input", m.input == (1, 18, 18) and m.labels == ["background", "coin"])
        check("coins options", cnnf2onnx.cnnf_options(m) == ["--mean", "0.37982556", "--std", "0.20737183"],
              cnnf2onnx.cnnf_options(m))
        out = os.path.join(d, "coins.onnx")
        r = subprocess.run([sys.executable, TOOL, coins, out], capture_output=True, text=True)
        check("cli status", r.returncode == 0, r.stderr)
        check("cli prints the options", "--mean 0.37982556 --std 0.20737183" in r.stdout, r.stdout)
        shipped = onnx.load(os.path.join(TOP, "samples", "models", "coins.onnx"))
        made = onnx.load(out)
        check("coins.onnx operators", [n.op_type for n in shipped.graph.node]
              == [n.op_type for n in made.graph.node]
              == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Conv", "Softmax"])
        w = np.concatenate([numpy_helper.to_array(t).ravel() for t in shipped.graph.initializer])
        check("coins.onnx weights", w.dtype == np.float32 and np.array_equal(w, m.weights))
        with open(os.path.join(TOP, "samples", "models", "coins.onnx"), "rb") as f1, open(out, "rb") as f2:
            check("coins.onnx is the tool's output", f1.read() == f2.read())

        # errors: exit 1, one "cnnf2onnx: " message, nothing written
        bad = os.path.join(d, "bad.cnnf")
        cases = [
            ("weights init", "cnnf-model 1\ninput channels=1 height=2 width=2\nfc out=2\nweights init\n",
             "train it first"),
            ("count", "cnnf-model 1\ninput channels=1 height=2 width=2\nfc out=2\nweights text 9\n"
             + "0 " * 9 + "\n", "the layers need more than the file's 9 weights"),
            ("version", "cnnf-model 2\n", "unsupported model version 2"),
            ("key", "cnnf-model 1\ninput channels=1 height=2 width=2\nfc out=2 strde=1\nweights text 10\n",
             "unknown key 'strde'"),
        ]
        for what, text, msg in cases:
            with open(bad, "w") as f:
                f.write(text)
            o = os.path.join(d, "bad.onnx")
            r = subprocess.run([sys.executable, TOOL, bad, o], capture_output=True, text=True)
            check("error " + what, r.returncode == 1 and r.stderr.startswith("cnnf2onnx: ")
                  and msg in r.stderr and not os.path.exists(o), r.stderr)

    print("cnnf2onnx: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
