#!/usr/bin/python3
"""cnnf2onnx.py: writes a cnnf model file (cnnf-model(5), version 1) as an ONNX model.

    cnnf2onnx.py MODEL.cnnf OUT.onnx [--fc linear|conv] [--opset 13]

Reads the text header and the weights (float32 or text), builds the
equivalent PyTorch nn.Sequential (Conv2d, ReLU, MaxPool2d, AvgPool2d,
BatchNorm2d, Dropout, Flatten + Linear, Softmax(dim=1)) in evaluation mode
and exports it with torch.onnx.export: one input "input" of 1 x C x H x W
float32 with the batch dimension free ("N"), one output "output" (N x K x 1 x 1
with --fc conv, N x K with --fc linear).

--fc conv (the default) exports each fc layer as a Conv whose kernel covers
its whole input (C x H x W; 1 x 1 after an fc): the same products and sums
as Flatten + Linear, since a Linear's weight row [C*H*W] in C, H, W order is
exactly a Conv filter [C][H][W]. The graph then holds only Conv, Relu,
MaxPool/AveragePool, BatchNormalization and Softmax. --fc linear exports the
literal Flatten + Gemm.

The header's mean and std are not in the ONNX graph (cnnf feeds a graph the
samples on the scale 0..1 and normalises them with `cnnf segment --mean M
--std S`): the program prints the options that give the model's
normalisation. The labels go into the model's metadata ("labels", space
separated).

As a module: read_model(path) -> Model; build_sequential(model, fc="linear")
-> nn.Sequential; export(model, path, fc="conv") -> the cnnf options.
Errors are ValueError (the program prints "cnnf2onnx: ..." and exits 1).
"""
import argparse
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn


class Model:
    """A parsed cnnf model: input (C, H, W), mean[C], std[C] (float32 values),
    labels (list or None), layers [(keyword, {key: text}, line number)], weights
    (float32 numpy array)."""

    def __init__(self):
        self.input = None
        self.mean = self.std = None
        self.labels = None
        self.layers = []
        self.weights = None


# keyword -> the keys it takes
KEYS = {
    "conv": ("out", "kernel", "stride", "pad", "dilation"),
    "relu": (),
    "maxpool": ("kernel", "stride"),
    "avgpool": ("kernel", "stride"),
    "batchnorm": ("eps",),
    "dropout": ("p",),
    "fc": ("out",),
    "softmax": (),
}


def _whole(where, key, text):
    if not text.isdigit():
        raise ValueError("%s: %s=%s is not a whole number" % (where, key, text))
    return int(text)


def _real(where, key, text):
    try:
        v = float.fromhex(text) if "0x" in text.lower() else float(text)
    except ValueError:
        raise ValueError("%s: %s=%s is not a number" % (where, key, text)) from None
    return v


def _f32(v):
    return float(np.float32(v))


def _words(line):
    return line.split("#", 1)[0].split()


def _pairs(where, words, allowed):
    kv = {}
    for w in words:
        if "=" not in w:
            raise ValueError("%s: '%s' is not key=value" % (where, w))
        k, v = w.split("=", 1)
        if k not in allowed:
            raise ValueError("%s: unknown key '%s' (it takes %s)" % (where, k, ", ".join(allowed) or "none"))
        if k in kv:
            raise ValueError("%s: key '%s' given twice" % (where, k))
        kv[k] = v
    return kv


def read_model(path):
    """Parse a cnnf model file (header and weights)."""
    data = open(path, "rb").read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    name = os.path.basename(path)
    m = Model()
    pos, lineno, magic, count, kind = 0, 0, False, None, None
    while kind is None:
        end = data.find(b"\n", pos)
        if end < 0:
            raise ValueError("%s: the header has no weights line" % name)
        lineno += 1
        words = _words(data[pos:end].decode("utf-8").rstrip("\r"))
        pos = end + 1
        if not words:
            continue
        where = "%s:%d: %s" % (name, lineno, words[0])
        if not magic:
            if words[0] != "cnnf-model" or len(words) != 2:
                raise ValueError("%s:%d: not a cnnf model file" % (name, lineno))
            if words[1] != "1":
                raise ValueError("%s:%d: unsupported model version %s" % (name, lineno, words[1]))
            magic = True
            continue
        word, rest = words[0], words[1:]
        if word == "input":
            kv = _pairs(where, rest, ("channels", "height", "width", "mean", "std"))
            for k in ("channels", "height", "width"):
                if k not in kv:
                    raise ValueError("%s: %s= is missing" % (where, k))
            m.input = tuple(_whole(where, k, kv[k]) for k in ("channels", "height", "width"))
            c = m.input[0]
            for k, default in (("mean", 0.0), ("std", 1.0)):
                vals = [_f32(_real(where, k, t)) for t in kv[k].split(",")] if k in kv else [default]
                if len(vals) == 1:
                    vals = vals * c
                if len(vals) != c:
                    raise ValueError("%s: %s has %d values for %d channels" % (where, k, len(vals), c))
                setattr(m, k, vals)
            if any(s == 0 for s in m.std):
                raise ValueError("%s: std must not be 0" % where)
        elif word == "labels":
            m.labels = rest
        elif word == "weights":
            if not rest or rest[0] not in ("float32", "text", "init"):
                raise ValueError("%s: expected float32 COUNT, text COUNT or init" % where)
            kind = rest[0]
            if kind == "init":
                raise ValueError("%s: the model has no weights (weights init): train it first" % where)
            if len(rest) != 2:
                raise ValueError("%s: expected %s COUNT" % (where, kind))
            count = _whole(where, "count", rest[1])
        elif word in KEYS:
            m.layers.append((word, _pairs(where, rest, KEYS[word]), lineno))
        else:
            raise ValueError("%s: unknown keyword '%s'" % (where, word))
    if m.input is None:
        raise ValueError("%s: no input line" % name)
    if not m.layers:
        raise ValueError("%s: no layers" % name)
    if kind == "float32":
        body = data[pos:]
        if len(body) != 4 * count:
            raise ValueError("%s: weights: %d bytes after the header; float32 %d needs %d"
                             % (name, len(body), count, 4 * count))
        m.weights = np.frombuffer(body, dtype="<f4").astype(np.float32)
    else:
        vals = []
        for line in data[pos:].decode("utf-8").splitlines():
            vals.extend(_f32(_real(name + ": weights", "value", t)) for t in _words(line))
        if len(vals) != count:
            raise ValueError("%s: weights: %d values, the header says %d" % (name, len(vals), count))
        m.weights = np.array(vals, dtype=np.float32)
    if not np.all(np.isfinite(m.weights)):
        raise ValueError("%s: weights: values[%d] is not finite"
                         % (name, int(np.argmin(np.isfinite(m.weights)))))
    return m


def _kernel(where, text):
    if "x" in text:
        a, b = text.split("x", 1)
        return _whole(where, "kernel", a), _whole(where, "kernel", b)
    k = _whole(where, "kernel", text)
    return k, k


def build_sequential(m, fc="linear"):
    """The nn.Sequential (evaluation mode) that computes what the model file
    says. fc="linear": fc is Flatten + Linear (as cnnf-model(5) defines it);
    fc="conv": fc is a Conv2d whose kernel is its whole input."""
    if fc not in ("linear", "conv"):
        raise ValueError("fc must be linear or conv, not %r" % fc)
    w = torch.from_numpy(m.weights.copy())
    at = [0]

    def take(*shape):
        n = int(np.prod(shape))
        if at[0] + n > len(w):
            raise ValueError("the layers need more than the file's %d weights" % len(w))
        t = w[at[0]:at[0] + n].reshape(shape).clone()
        at[0] += n
        return nn.Parameter(t, requires_grad=False)

    mods = []
    c, h, wd = m.input
    flat = False  # the tensor is N x F (after Flatten + Linear)
    for i, (word, kv, lineno) in enumerate(m.layers):
        where = "line %d: %s" % (lineno, word)
        spatial = word in ("conv", "maxpool", "avgpool", "batchnorm")
        if spatial and flat:
            # an fc's output is K x 1 x 1: give it its spatial axes back
            mods.append(nn.Unflatten(1, (c, 1, 1)))
            flat = False
        if word == "conv":
            if "out" not in kv or "kernel" not in kv:
                raise ValueError("%s: out= and kernel= are needed" % where)
            out = _whole(where, "out", kv["out"])
            kh, kw = _kernel(where, kv["kernel"])
            s = _whole(where, "stride", kv.get("stride", "1"))
            p = _whole(where, "pad", kv.get("pad", "0"))
            d = _whole(where, "dilation", kv.get("dilation", "1"))
            oh = (h + 2 * p - d * (kh - 1) - 1) // s + 1
            ow = (wd + 2 * p - d * (kw - 1) - 1) // s + 1
            if oh < 1 or ow < 1:
                raise ValueError("%s: kernel does not fit the %dx%d input" % (where, h, wd))
            conv = nn.Conv2d(c, out, (kh, kw), stride=s, padding=p, dilation=d)
            conv.weight = take(out, c, kh, kw)
            conv.bias = take(out)
            mods.append(conv)
            c, h, wd = out, oh, ow
        elif word in ("maxpool", "avgpool"):
            if "kernel" not in kv:
                raise ValueError("%s: kernel= is needed" % where)
            k = _whole(where, "kernel", kv["kernel"])
            s = _whole(where, "stride", kv.get("stride", str(k)))
            if k > h or k > wd:
                raise ValueError("%s: kernel %d larger than the %dx%d input" % (where, k, h, wd))
            # no padding, so count_include_pad changes nothing; False keeps a Pad out of the export
            mods.append(nn.MaxPool2d(k, s) if word == "maxpool"
                        else nn.AvgPool2d(k, s, count_include_pad=False))
            h, wd = (h - k) // s + 1, (wd - k) // s + 1
        elif word == "batchnorm":
            eps = _real(where, "eps", kv.get("eps", "1e-5"))
            bn = nn.BatchNorm2d(c, eps=eps)
            bn.weight = take(c)
            bn.bias = take(c)
            bn.running_mean.copy_(take(c).data)
            bn.running_var.copy_(take(c).data)
            mods.append(bn)
        elif word == "relu":
            mods.append(nn.ReLU())
        elif word == "dropout":
            mods.append(nn.Dropout(_real(where, "p", kv.get("p", "0.5"))))
        elif word == "fc":
            if "out" not in kv:
                raise ValueError("%s: out= is needed" % where)
            out = _whole(where, "out", kv["out"])
            if fc == "conv":
                conv = nn.Conv2d(c, out, (h, wd))
                conv.weight = take(out, c, h, wd)
                conv.bias = take(out)
                mods.append(conv)
            else:
                if not flat:
                    mods.append(nn.Flatten())
                lin = nn.Linear(c * h * wd, out)
                lin.weight = take(out, c * h * wd)
                lin.bias = take(out)
                mods.append(lin)
                flat = True
            c, h, wd = out, 1, 1
        elif word == "softmax":
            if i != len(m.layers) - 1:
                raise ValueError("%s: softmax must be the last layer" % where)
            mods.append(nn.Softmax(dim=1))
    if at[0] != len(w):
        raise ValueError("the layers need %d weights; the file has %d" % (at[0], len(w)))
    if (h, wd) != (1, 1) or c < 2:
        raise ValueError("the output is %dx%dx%d; it must be K x 1 x 1 with K >= 2" % (c, h, wd))
    seq = nn.Sequential(*mods)
    seq.eval()
    return seq


def _num(v):
    """A float32 written so that it reads back as the same float32."""
    return str(np.float32(v))  # numpy: the shortest text that reads back as this float32


def cnnf_options(m):
    """The --mean/--std options of `cnnf segment` that normalise as the model's header does
    (empty when the header has the defaults 0 and 1)."""
    opts = []
    for key, vals, default in (("--mean", m.mean, 0.0), ("--std", m.std, 1.0)):
        if any(v != default for v in vals):
            same = all(v == vals[0] for v in vals)
            opts += [key, ",".join(_num(v) for v in (vals[:1] if same else vals))]
    return opts


def export(m, path, fc="conv", opset=13):
    """Write the model as ONNX at path; returns the cnnf segment options (list of words)."""
    import onnx  # only needed here; the reader and builder do without it

    seq = build_sequential(m, fc)
    c, h, w = m.input
    dummy = torch.zeros(1, c, h, w)
    with torch.no_grad():
        torch.onnx.export(seq, dummy, path, opset_version=opset, input_names=["input"],
                          output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                          do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    om = onnx.load(path)
    om.producer_name = "cnnf2onnx"
    om.doc_string = ("from a cnnf model; normalise the 0..1 input with: %s"
                     % (" ".join(cnnf_options(m)) or "nothing (mean 0, std 1)"))
    if m.labels:
        p = om.metadata_props.add()
        p.key, p.value = "labels", " ".join(m.labels)
    onnx.checker.check_model(om)
    onnx.save(om, path)
    return cnnf_options(m)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a cnnf model file as an ONNX model.")
    ap.add_argument("model", help="MODEL.cnnf")
    ap.add_argument("out", help="OUT.onnx")
    ap.add_argument("--fc", choices=("conv", "linear"), default="conv",
                    help="fc layers as a whole-input Conv (default) or as Flatten + Gemm")
    ap.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        m = read_model(a.model)
        opts = export(m, a.out, a.fc, a.opset)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        sys.exit("cnnf2onnx: %s" % e)
    print("wrote %s; segment it as %s does with:" % (a.out, a.model))
    print("  cnnf segment -m %s %s IN OUT" % (a.out, " ".join(opts) if opts else "(no --mean/--std)"))


if __name__ == "__main__":
    main()
