#!/usr/bin/python3
"""torch2cnnf.py: writes a PyTorch nn.Sequential as a cnnf model file (format version 1).

As a module:
    from torch2cnnf import write_model
    write_model(seq, "m.cnnf", input_shape=(1, 18, 18), mean=[0.4], std=[0.2],
                labels=["background", "coin"])

As a program (the .pt file holds a whole torch.save'd nn.Sequential):
    torch2cnnf.py MODEL.pt OUT.cnnf --input C,H,W [--mean M,..] [--std S,..]
                  [--labels A,B,..] [--text]

Supported layers: Conv2d, ReLU, MaxPool2d, AvgPool2d, BatchNorm2d, Dropout,
Flatten (written as nothing; must be followed by Linear), Linear, Softmax (last
only); nested nn.Sequential is flattened. Anything else raises ValueError
naming the layer. Weights are written in layer order in PyTorch's layouts.
"""
import argparse
import struct
import sys

import torch
from torch import nn


class Unsupported(ValueError):
    pass


def _pair(v, what, name):
    """An int or a pair of equal ints, as one int."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2 or v[0] != v[1]:
            raise Unsupported("%s: %s %r must be the same in both axes" % (name, what, tuple(v)))
        v = v[0]
    return int(v)


def _flat_layers(seq):
    for m in seq:
        if isinstance(m, nn.Sequential):
            yield from _flat_layers(m)
        else:
            yield m


def _num(v):
    """A float written so that it reads back exactly (shortest repr)."""
    return repr(float(v))


def _conv(m, name, shape):
    if m.groups != 1:
        raise Unsupported("%s: groups=%d (only 1)" % (name, m.groups))
    if m.padding_mode != "zeros":
        raise Unsupported("%s: padding_mode=%r (only 'zeros')" % (name, m.padding_mode))
    kh, kw = m.kernel_size
    stride = _pair(m.stride, "stride", name)
    dil = _pair(m.dilation, "dilation", name)
    pad = m.padding
    if pad == "valid":
        pad = 0
    elif pad == "same":
        ph, pw = dil * (kh - 1), dil * (kw - 1)
        if ph != pw or ph % 2:
            raise Unsupported("%s: padding='same' is not the same integer on every side" % name)
        pad = ph // 2
    else:
        pad = _pair(pad, "padding", name)
    c, h, w = shape
    if m.in_channels != c:
        raise Unsupported("%s: in_channels=%d but its input has %d" % (name, m.in_channels, c))
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    if oh < 1 or ow < 1:
        raise Unsupported("%s: kernel larger than its %dx%d input" % (name, h, w))
    line = "conv out=%d kernel=%s" % (m.out_channels, kh if kh == kw else "%dx%d" % (kh, kw))
    for key, val, default in (("stride", stride, 1), ("pad", pad, 0), ("dilation", dil, 1)):
        if val != default:
            line += " %s=%d" % (key, val)
    bias = m.bias if m.bias is not None else torch.zeros(m.out_channels)
    return line, [m.weight, bias], (m.out_channels, oh, ow)


def _pool(m, name, shape):
    kind = "maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool"
    k = _pair(m.kernel_size, "kernel_size", name)
    s = _pair(m.stride if m.stride is not None else k, "stride", name)
    if _pair(m.padding, "padding", name) != 0:
        raise Unsupported("%s: padding (only 0)" % name)
    if m.ceil_mode:
        raise Unsupported("%s: ceil_mode=True (only floor)" % name)
    if kind == "maxpool" and (_pair(m.dilation, "dilation", name) != 1 or m.return_indices):
        raise Unsupported("%s: dilation or return_indices" % name)
    if kind == "avgpool" and m.divisor_override is not None:
        raise Unsupported("%s: divisor_override" % name)
    c, h, w = shape
    if k > h or k > w:
        raise Unsupported("%s: kernel %d larger than its %dx%d input" % (name, k, h, w))
    line = "%s kernel=%d" % (kind, k) + ("" if s == k else " stride=%d" % s)
    return line, [], (c, (h - k) // s + 1, (w - k) // s + 1)


def _batchnorm(m, name, shape):
    if m.running_mean is None:
        raise Unsupported("%s: track_running_stats=False (running statistics needed)" % name)
    if m.num_features != shape[0]:
        raise Unsupported("%s: num_features=%d but its input has %d channels" % (name, m.num_features, shape[0]))
    ones, zeros = torch.ones(m.num_features), torch.zeros(m.num_features)
    weight = m.weight if m.affine else ones
    bias = m.bias if m.affine else zeros
    line = "batchnorm" + ("" if m.eps == 1e-5 else " eps=" + _num(m.eps))
    return line, [weight, bias, m.running_mean, m.running_var], shape


def _linear(m, name, shape):
    n = shape[0] * shape[1] * shape[2]
    if m.in_features != n:
        raise Unsupported("%s: in_features=%d but its input has %d values (%dx%dx%d)"
                          % ((name, m.in_features, n) + tuple(shape)))
    bias = m.bias if m.bias is not None else torch.zeros(m.out_features)
    return "fc out=%d" % m.out_features, [m.weight, bias], (m.out_features, 1, 1)


def convert(seq, input_shape):
    """Header lines of the layers, their parameter tensors, the output shape."""
    shape = tuple(int(v) for v in input_shape)
    layers = list(_flat_layers(seq))
    lines, params = [], []
    flat = False  # after Flatten or Linear: no more Conv2d, pooling or BatchNorm2d
    for i, m in enumerate(layers):
        name = "layer %d (%s)" % (i, type(m).__name__)
        last = i == len(layers) - 1
        spatial = isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.BatchNorm2d))
        if spatial and flat:
            raise Unsupported("%s: follows Flatten or Linear" % name)
        if isinstance(m, nn.Conv2d):
            line, p, shape = _conv(m, name, shape)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            line, p, shape = _pool(m, name, shape)
        elif isinstance(m, nn.BatchNorm2d):
            line, p, shape = _batchnorm(m, name, shape)
        elif isinstance(m, nn.ReLU):
            line, p = "relu", []
        elif isinstance(m, nn.Dropout):
            line, p = "dropout" + ("" if m.p == 0.5 else " p=" + _num(m.p)), []
        elif isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise Unsupported("%s: only Flatten(1, -1)" % name)
            if last or not isinstance(layers[i + 1], nn.Linear):
                raise Unsupported("%s: must be followed by Linear" % name)
            flat = True
            continue
        elif isinstance(m, nn.Linear):
            if not flat:
                raise Unsupported("%s: needs a Flatten (or a Linear) before it" % name)
            line, p, shape = _linear(m, name, shape)
            flat = True
        elif isinstance(m, nn.Softmax):
            if not last:
                raise Unsupported("%s: Softmax must be the last layer" % name)
            if m.dim not in (None, 1) and not (m.dim == -1 and flat):
                raise Unsupported("%s: Softmax(dim=%r) is not over the classes" % (name, m.dim))
            line, p = "softmax", []
        else:
            raise Unsupported("%s: unsupported layer" % name)
        lines.append(line)
        params.extend(p)
    if shape[1:] != (1, 1) or shape[0] < 2:
        raise Unsupported("the output is %dx%dx%d; it must be K x 1 x 1 with K >= 2" % shape)
    return lines, params, shape


def _channel_list(v, c, what):
    if v is None:
        return None
    v = [float(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
    if len(v) == 1 and c > 1:
        v = v * c
    if len(v) != c:
        raise ValueError("%s: %d values for %d channels" % (what, len(v), c))
    return v


def write_model(seq, path, input_shape, mean=None, std=None, labels=None, text=False):
    """Write seq (an nn.Sequential) to path. input_shape = (C, H, W) of one patch;
    mean and std: a number or one per channel; labels: one name per class;
    text: weights as text instead of float32. Raises ValueError on anything the
    format cannot express."""
    c, h, w = (int(v) for v in input_shape)
    lines, params, (k, _, _) = convert(seq, (c, h, w))
    mean = _channel_list(mean, c, "mean")
    std = _channel_list(std, c, "std")
    if std is not None and any(s <= 0 for s in std):
        raise ValueError("std: values must be positive")
    inp = "input channels=%d height=%d width=%d" % (c, h, w)
    if mean is not None:
        inp += " mean=" + ",".join(_num(v) for v in mean)
    if std is not None:
        inp += " std=" + ",".join(_num(v) for v in std)
    head = ["cnnf-model 1", "# written by tools/torch2cnnf.py", inp]
    if labels is not None:
        labels = list(labels)
        if len(labels) != k:
            raise ValueError("labels: %d names for %d classes" % (len(labels), k))
        for s in labels:
            if not s or any(ch.isspace() or ch == "#" for ch in s):
                raise ValueError("labels: %r is not a name (no spaces or '#')" % s)
        head.append("labels " + " ".join(labels))
    head += lines
    values = [v for p in params for v in p.detach().reshape(-1).to(torch.float32).tolist()]
    if not all(abs(v) < float("inf") for v in values):
        raise ValueError("the weights hold a NaN or infinity")
    head.append("weights %s %d" % ("text" if text else "float32", len(values)))
    with open(path, "wb") as f:
        f.write(("\n".join(head) + "\n").encode("ascii"))
        if text:
            f.write("".join("%.9g\n" % v for v in values).encode("ascii"))
        else:
            f.write(struct.pack("<%df" % len(values), *values))


def _floats(s):
    return [float(x) for x in s.split(",")]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a torch.save'd nn.Sequential as a cnnf model.")
    ap.add_argument("model", help="MODEL.pt: a whole nn.Sequential saved with torch.save")
    ap.add_argument("out", help="OUT.cnnf")
    ap.add_argument("--input", required=True, help="C,H,W of the input patch")
    ap.add_argument("--mean", type=_floats, help="m1,... (one, or one per channel)")
    ap.add_argument("--std", type=_floats, help="s1,... (one, or one per channel)")
    ap.add_argument("--labels", help="name1,name2,... (one per class)")
    ap.add_argument("--text", action="store_true", help="weights as text")
    a = ap.parse_args(argv)
    try:
        shape = [int(x) for x in a.input.split(",")]
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        ap.error("--input: expected C,H,W, e.g. 1,18,18")
    try:
        seq = torch.load(a.model, map_location="cpu", weights_only=False)
    except TypeError:  # torch before 1.13 has no weights_only
        seq = torch.load(a.model, map_location="cpu")
    if not isinstance(seq, nn.Sequential):
        sys.exit("torch2cnnf: %s: not an nn.Sequential but %s" % (a.model, type(seq).__name__))
    try:
        write_model(seq, a.out, shape, a.mean, a.std,
                    a.labels.split(",") if a.labels else None, a.text)
    except ValueError as e:
        sys.exit("torch2cnnf: %s" % e)


if __name__ == "__main__":
    main()
