#!/usr/bin/python3
"""make_onnx_fixtures.py: writes the ONNX model fixtures in tests/data/onnx/
(run from the top of the tree; see tests/data/onnx/README.md).

Not needed to build or test: the files it writes are committed. Needs torch
(1.13: opsets up to 17), onnx and numpy (Debian: python3-torch python3-onnx
python3-numpy). Every model gets fixed-seed random weights, and its BatchNorm
layers random affine parameters and running statistics, so that no output is
trivially zero. Each model is exported in eval mode at opsets 11, 13 and 17:

- opset 11 with do_constant_folding=False (and TrainingMode.PRESERVE), so
  that the Shape / Gather / Unsqueeze / Concat / Reshape chains torch writes
  for sizes stay in the file and BatchNorm stays a node of its own;
- opsets 13 and 17 with constant folding, as most exported models are.

The fully convolutional models are exported with H and W free (dynamic_axes),
the patch classifier with its fixed 1 x 3 x 15 x 15 input. For each model the
script writes <name>.in.npy (float32 1 x C x H x W, odd sizes where the
architecture allows), <name>.out.npy (PyTorch's output computed in float64
from the same float32 weights, stored as float32) and <name>.out32.npy (the
float32 forward pass, for a feel of float32 rounding), then the README.

Usage: /usr/bin/python3 tools/make_onnx_fixtures.py [OUTDIR]
(default tests/data/onnx). Every export is checked with onnx.checker.
"""
import io
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

OPSETS = (11, 13, 17)
FOLD = {11: False, 13: True, 17: True}
# torch's default init (kaiming uniform, a = sqrt(5)) shrinks activations layer after layer;
# twice it keeps them near unit size through a few ReLU layers, so outputs are not all ~0.
GAIN = 2.0


def bn(c):
    return nn.BatchNorm2d(c)


class UNet(nn.Module):
    """(a) 2-level U-Net: conv-BN-ReLU, MaxPool, ConvTranspose up, Concat skips, 3 classes."""

    def __init__(self, cin=3, k=3, ch=(8, 16, 32)):
        super().__init__()
        a, b, c = ch

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), bn(o), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, padding=1, bias=False), bn(o), nn.ReLU())
        self.enc1 = block(cin, a)
        self.enc2 = block(a, b)
        self.mid = block(b, c)
        self.up2 = nn.ConvTranspose2d(c, b, 2, stride=2)
        self.dec2 = block(2 * b, b)
        self.up1 = nn.ConvTranspose2d(b, a, 2, stride=2)
        self.dec1 = block(2 * a, a)
        self.head = nn.Conv2d(a, k, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class ResBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.c1 = nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False)
        self.b1 = bn(o)
        self.c2 = nn.Conv2d(o, o, 3, padding=1, bias=False)
        self.b2 = bn(o)
        self.short = nn.Sequential(nn.Conv2d(i, o, 1, stride=stride, bias=False), bn(o))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + self.short(x))


class ResFCN(nn.Module):
    """(b) ResNet-style FCN: residual Add, stride-2 convs, bilinear back to the input size."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.r1 = ResBlock(8, 16, 2)
        self.r2 = ResBlock(16, 24, 2)
        self.head = nn.Conv2d(24, 3, 1)

    def forward(self, x):
        y = self.head(self.r2(self.r1(self.stem(x))))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class MobileBlock(nn.Module):
    """(c) MobileNet: depthwise / pointwise convs, ReLU6 (Clip), Hardswish, inverted residual."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), bn(16),
                                  nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), bn(16),
                                nn.ReLU6())
        self.pw = nn.Sequential(nn.Conv2d(16, 24, 1, bias=False), bn(24), nn.Hardswish())
        self.expand = nn.Sequential(nn.Conv2d(24, 48, 1), nn.Hardswish())
        self.dw2 = nn.Sequential(nn.Conv2d(48, 48, 5, padding=2, groups=48), nn.ReLU6())
        self.project = nn.Conv2d(48, 24, 1)
        self.dw3 = nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=24)
        self.head = nn.Conv2d(24, 4, 1)

    def forward(self, x):
        y = self.pw(self.dw(self.stem(x)))
        y = y + self.project(self.dw2(self.expand(y)))
        return self.head(F.hardswish(self.dw3(y)))


class Inception(nn.Module):
    """(d) Inception block: 1x1, 1x1-3x3, 1x1-5x5 and maxpool-1x1 branches concatenated."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.ReLU())
        self.b1 = nn.Sequential(nn.Conv2d(12, 8, 1), nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(12, 6, 1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1),
                                nn.ReLU())
        self.b5 = nn.Sequential(nn.Conv2d(12, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 5, padding=2),
                                nn.ReLU())
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(12, 6, 1),
                                nn.ReLU())
        self.head = nn.Conv2d(28, 3, 1)

    def forward(self, x):
        y = self.stem(x)
        y = torch.cat([self.b1(y), self.b3(y), self.b5(y), self.bp(y)], 1)
        return self.head(y)


class SENet(nn.Module):
    """(e) squeeze-excitation: one SE with 1x1 convs on a GlobalAveragePool, one with Linear
    layers on a mean over H, W and a view back to C x 1 x 1 (a Reshape from Shape)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
        self.se1 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 4, 1), nn.ReLU(),
                                 nn.Conv2d(4, 16, 1), nn.Sigmoid())
        self.mid = nn.Sequential(nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU())
        self.fc1 = nn.Linear(16, 4)
        self.fc2 = nn.Linear(4, 16)
        self.head = nn.Conv2d(16, 3, 1)

    def forward(self, x):
        y = self.stem(x)
        y = y * self.se1(y)
        y = self.mid(y)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(y.mean((2, 3))))))
        y = y * s.view(s.size(0), s.size(1), 1, 1)
        return self.head(y)


class SuperRes(nn.Module):
    """(f) PixelShuffle super-resolution (DepthToSpace): 3 channels out at 2x, Sigmoid last."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 5, padding=2), nn.ReLU(),
                                  nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(16, 3 * 4, 3, padding=1))
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return torch.sigmoid(self.shuffle(self.body(x)))


class Patch(nn.Module):
    """(g) patch classifier: fixed 1 x 3 x 15 x 15 in, convs, flatten (a view), Linear, 4 classes."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3), nn.ReLU())
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        y = self.features(x)
        y = y.view(y.size(0), -1)
        return self.fc2(F.relu(self.fc1(y)))


class Misc(nn.Module):
    """(h) dilated conv, asymmetric F.pad, MaxPool ceil_mode, AveragePool count_include_pad
    False, LeakyRelu, Elu, Softmax over channels."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=2, dilation=2)
        self.c2 = nn.Conv2d(8, 8, 3, dilation=(1, 2))
        self.c3 = nn.Conv2d(8, 6, (3, 1), padding=(1, 0))
        self.c4 = nn.Conv2d(6, 5, 1)

    def forward(self, x):
        y = F.leaky_relu(self.c1(x), 0.1)
        y = F.pad(y, (1, 2, 0, 1))                        # left 1, right 2, top 0, bottom 1
        y = F.elu(self.c2(y))
        y = F.max_pool2d(y, 3, stride=2, ceil_mode=True)
        y = F.pad(y, (2, 0, 1, 1), mode="constant", value=0.5)
        y = F.avg_pool2d(self.c3(y), 3, stride=2, padding=1, count_include_pad=False)
        return F.softmax(self.c4(y), dim=1)


# name -> (class, input shape, dynamic H/W, what it covers)
MODELS = [
    ("unet", UNet, (1, 3, 36, 44), True,
     "2-level U-Net (8-16-32), Conv+BatchNorm+ReLU, MaxPool 2, ConvTranspose 2x2 s2 up, "
     "Concat skips, 3 classes (needs H, W multiples of 4)"),
    ("resfcn", ResFCN, (1, 3, 37, 45), True,
     "ResNet-style FCN: residual Add, stride-2 convs, 1x1 shortcuts with BatchNorm, "
     "bilinear Resize (align_corners=False, half_pixel) back to the input size, 3 classes"),
    ("mobilenet", MobileBlock, (1, 3, 37, 45), True,
     "MobileNet blocks: stride-2 stem, depthwise 3x3 / 5x5 (group = C), pointwise 1x1, "
     "ReLU6 (Clip), Hardswish (HardSigmoid*Mul below opset 14, HardSwish at 17), "
     "inverted residual Add, 4 outputs at 1/4 size"),
    ("inception", Inception, (1, 3, 37, 45), True,
     "Inception block: 1x1, 1x1-3x3, 1x1-5x5 and MaxPool 3 s1 p1 - 1x1 branches, Concat, 3 classes"),
    ("senet", SENet, (1, 3, 37, 45), True,
     "squeeze-excitation twice: GlobalAveragePool-Conv1x1-ReLU-Conv1x1-Sigmoid-Mul, then "
     "ReduceMean-Gemm-ReLU-Gemm-Sigmoid-Reshape(view)-Mul; stride-2 conv between, 3 classes"),
    ("superres", SuperRes, (1, 3, 37, 45), True,
     "super-resolution: convs, PixelShuffle 2 (DepthToSpace CRD), Sigmoid; out 1x3x74x90"),
    ("patch", Patch, (1, 3, 15, 15), False,
     "patch classifier, fixed 1x3x15x15 input: convs, MaxPool, flatten by view (Reshape), "
     "Gemm, 4 classes; out 1x4"),
    ("misc", Misc, (1, 3, 37, 45), True,
     "dilated conv (2 and 1x2), asymmetric Pad (constant 0 and 0.5), LeakyRelu 0.1, Elu, "
     "MaxPool 3 s2 ceil_mode, 3x1 conv, AveragePool 3 s2 p1 count_include_pad=0, Softmax axis 1"),
]


def randomise(model, gen):
    """Weights: torch's default init times GAIN. BatchNorm: weight 0.5..1.5, bias -0.3..0.3,
    running mean -0.3..0.3, var 0.5..2. Biases -0.1..0.1."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            with torch.no_grad():
                m.weight.mul_(GAIN)
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.6 * torch.rand(c, generator=gen) - 0.3)
                m.running_mean.copy_(0.6 * torch.rand(c, generator=gen) - 0.3)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.bias is not None:
            with torch.no_grad():
                m.bias.copy_(0.2 * torch.rand(m.bias.shape, generator=gen) - 0.1)


def export(model, x, dynamic, opset, path):
    kw = {}
    if dynamic:
        kw["dynamic_axes"] = {"input": {2: "height", 3: "width"},
                              "output": {2: "out_height", 3: "out_width"}}
    buf = io.BytesIO()
    # TrainingMode.PRESERVE on an eval-mode model is still inference, but skips torch's
    # eval peephole pass, which would fold every BatchNorm into the Conv before it.
    mode = torch.onnx.TrainingMode.EVAL if FOLD[opset] else torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(model, x, buf, opset_version=opset, do_constant_folding=FOLD[opset],
                      training=mode, input_names=["input"], output_names=["output"], **kw)
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    # A stable producer string: torch writes its own version there, which would make a
    # rerun with another torch rewrite every file for nothing else.
    m.producer_version = torch.__version__.split("+")[0]
    m.doc_string = ""
    data = m.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    ops = sorted({n.op_type for n in m.graph.node})
    return len(data), ops


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/onnx"
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    rows = []
    for i, (name, cls, shape, dynamic, what) in enumerate(MODELS):
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        model = cls().eval()
        randomise(model, gen)
        x = torch.rand(shape, generator=gen) * 2 - 1
        with torch.no_grad():
            y32 = model(x)
            y64 = model.double()(x.double())
        model.float()
        err = (y32.double() - y64).abs().max().item()
        scale = y64.abs().max().item()
        np.save(os.path.join(out, name + ".in.npy"), np.ascontiguousarray(x.numpy(), "<f4"))
        np.save(os.path.join(out, name + ".out.npy"),
                np.ascontiguousarray(y64.numpy().astype("<f4")))
        np.save(os.path.join(out, name + ".out32.npy"), np.ascontiguousarray(y32.numpy(), "<f4"))
        files = []
        for op in OPSETS:
            path = os.path.join(out, "%s-op%d.onnx" % (name, op))
            size, ops = export(model, x, dynamic, op, path)
            files.append((op, size, ops))
        print("%-10s in %-16s out %-16s |out| max %.3g, std %.3g, f32-f64 max %.2g, %s" % (
            name, "x".join(map(str, shape)), "x".join(map(str, y64.shape)), scale,
            y64.std().item(), err, " ".join("op%d %d B" % (o, s) for o, s, _ in files)))
        rows.append((name, shape, tuple(y64.shape), dynamic, what, files, err, scale))
    write_readme(out, rows)


def write_readme(out, rows):
    lines = [
        "# ONNX model fixtures",
        "",
        "Written by `tools/make_onnx_fixtures.py` (run from the top of the tree:",
        "`/usr/bin/python3 tools/make_onnx_fixtures.py`; PyTorch 1.13, onnx 1.12, numpy).",
        "Rerunning it with the same versions rewrites the same files. Small models with",
        "fixed-seed random weights (BatchNorm with random affine parameters and running",
        "statistics, random biases), exported in eval mode by `torch.onnx.export`.",
        "",
        "For each model `<name>`:",
        "",
        "| file | what |",
        "| --- | --- |",
        "| `<name>-op11.onnx` | opset 11, `do_constant_folding=False` and "
        "`training=TrainingMode.PRESERVE` (still inference): the Shape / Gather / "
        "Unsqueeze / Concat / Reshape chains torch writes for sizes are kept, "
        "BatchNormalization is a node |",
        "| `<name>-op13.onnx` | opset 13, constant folding on (BatchNorm folded into Conv) |",
        "| `<name>-op17.onnx` | opset 17, constant folding on |",
        "| `<name>.in.npy` | the input, float32 little-endian, C order, 1 x C x H x W |",
        "| `<name>.out.npy` | PyTorch's output computed in float64 (`model.double()` on the "
        "same float32 weights and input), stored as float32: the reference |",
        "| `<name>.out32.npy` | PyTorch's float32 output, for comparison only |",
        "",
        "The input is named `input`, the output `output`. Fully convolutional models",
        "have H and W free (`dynamic_axes`: `height`, `width`), so running them on",
        "another size must work too; their fixture sizes are odd and not multiples of",
        "the strides where the architecture allows (the U-Net needs multiples of 4).",
        "Every file passes `onnx.checker.check_model`. A float32 engine should agree",
        "with `.out.npy` to about 1e-5 relative to the output's largest magnitude;",
        "the float32 PyTorch run's largest difference from it is given below.",
        "",
        "| model | input | output | H, W | f32 vs f64 (max abs) | covers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, shape, oshape, dynamic, what, files, err, scale in rows:
        lines.append("| `%s` | %s | %s | %s | %.1e (max |out| %.3g) | %s |" % (
            name, "x".join(map(str, shape)), "x".join(map(str, oshape)),
            "free" if dynamic else "fixed", err, scale, what))
    lines += ["", "Operators in each file (sizes in bytes):", ""]
    for name, shape, oshape, dynamic, what, files, err, scale in rows:
        for op, size, ops in files:
            lines.append("- `%s-op%d.onnx` (%d): %s" % (name, op, size, ", ".join(ops)))
    lines.append("")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
