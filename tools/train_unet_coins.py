#!/usr/bin/python3
"""train_unet_coins.py: trains the sample coin/background U-Net of samples/models/
and exports it to ONNX (run from the top of the tree; Debian: python3-torch
python3-onnx python3-numpy python3-pil).

Task: label every pixel of samples/coins.png (384x303 gray) background (0) or
coin (1), with samples/models/coins-truth.png as the ground truth
(tools/make_coins_truth.py). The model is a small fully convolutional U-Net:
two levels, 8-16-32 channels, Conv-BatchNorm-ReLU pairs, MaxPool 2 with
ceil_mode (so that odd sizes go down and back up), ConvTranspose 2x2 stride 2
up-sampling cropped to the skip's size (a Slice whose ends come from Shape),
Concat skips, a 1x1 head with 2 outputs; the label is the argmax.

The input normalisation is inside the model: it takes 1 x 1 x H x W samples
on the scale 0..1 (raw / 255, as `cnnf segment` feeds any model) and starts
with (v - MEAN) / STD, MEAN and STD the image's own, so no --mean or --std is
needed.

Training: random 64x64 crops whose columns lie in the left 3/4 of the image
(x < 288), random horizontal and vertical flips and transposes, batches of 8,
Adam with a one-cycle learning rate, cross-entropy; the right quarter
(x >= 288, 96 columns) is held out. Accuracy is measured on the whole image
run at once, in float64, on the held-out quarter, the training part and the
whole.

Writes samples/models/coins-unet.onnx (opset 13, constant folding, H and W
free) and samples/models/coins-unet-torch-labels.pgm (P5, maxval 255, samples
0 or 1: PyTorch's float64 argmax over the whole image). Fixed seeds and 2
threads: a rerun on the same torch gives the same files.
"""
import io
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

IMAGE = "samples/coins.png"
TRUTH = "samples/models/coins-truth.png"
ONNX_OUT = "samples/models/coins-unet.onnx"
LABELS_OUT = "samples/models/coins-unet-torch-labels.pgm"
# The image's own mean and std of raw / 255, as samples/models/coins.cnnf uses them.
MEAN = 0.37982556
STD = 0.20737183
SPLIT = 288          # columns x < SPLIT train, x >= SPLIT held out (the right quarter)
CROP = 64
BATCH = 8
STEPS = 1000
LR = 3e-3
CHANNELS = (8, 16, 32)
SEED = 1


def block(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                         nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, cin=1, k=2, ch=CHANNELS, mean=None, std=None):
        super().__init__()
        a, b, c = ch
        # Normalisation as constants of the graph (Sub, Div), not as options to remember.
        self.register_buffer("mean", torch.tensor(mean if mean is not None else [0.0] * cin)
                             .view(1, cin, 1, 1))
        self.register_buffer("std", torch.tensor(std if std is not None else [1.0] * cin)
                             .view(1, cin, 1, 1))
        self.enc1 = block(cin, a)
        self.enc2 = block(a, b)
        self.mid = block(b, c)
        self.up2 = nn.ConvTranspose2d(c, b, 2, stride=2)
        self.dec2 = block(2 * b, b)
        self.up1 = nn.ConvTranspose2d(b, a, 2, stride=2)
        self.dec1 = block(2 * a, a)
        self.head = nn.Conv2d(a, k, 1)

    def forward(self, x):
        x = (x - self.mean) / self.std
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2, ceil_mode=True))
        m = self.mid(F.max_pool2d(e2, 2, ceil_mode=True))
        u2 = self.up2(m)[:, :, :e2.shape[2], :e2.shape[3]]
        d2 = self.dec2(torch.cat([u2, e2], 1))
        u1 = self.up1(d2)[:, :, :e1.shape[2], :e1.shape[3]]
        d1 = self.dec1(torch.cat([u1, e1], 1))
        return self.head(d1)


def augment(x, y, gen):
    """Same random flips / transpose on a batch of crops (N,1,h,w) and labels (N,h,w)."""
    if torch.rand(1, generator=gen).item() < 0.5:
        x, y = x.flip(3), y.flip(2)
    if torch.rand(1, generator=gen).item() < 0.5:
        x, y = x.flip(2), y.flip(1)
    if torch.rand(1, generator=gen).item() < 0.5:
        x, y = x.transpose(2, 3), y.transpose(1, 2)
    return x.contiguous(), y.contiguous()


def batch(img, truth, gen):
    H = img.shape[0]
    xs, ys = [], []
    for _ in range(BATCH):
        y0 = torch.randint(0, H - CROP + 1, (1,), generator=gen).item()
        x0 = torch.randint(0, SPLIT - CROP + 1, (1,), generator=gen).item()
        xs.append(img[y0:y0 + CROP, x0:x0 + CROP])
        ys.append(truth[y0:y0 + CROP, x0:x0 + CROP])
    x = torch.stack(xs)[:, None]
    y = torch.stack(ys)
    # A small random gain and offset (in raw/255 units) so that the model does not
    # lean on the exact brightness of the training part.
    g = 1 + 0.1 * (2 * torch.rand(BATCH, 1, 1, 1, generator=gen) - 1)
    o = 0.03 * (2 * torch.rand(BATCH, 1, 1, 1, generator=gen) - 1)
    return augment(x * g + o, y, gen)


def accuracy(pred, truth, sel):
    return float((pred[sel] == truth[sel]).mean()), int((pred[sel] != truth[sel]).sum())


def write_pgm(path, labels):
    h, w = labels.shape
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (w, h))
        f.write(labels.astype(np.uint8).tobytes())


def main():
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    raw = np.asarray(Image.open(IMAGE).convert("L"))
    truth_np = np.asarray(Image.open(TRUTH)).astype(np.int64)
    img = torch.from_numpy(raw.astype(np.float32) / 255.0)
    truth = torch.from_numpy(truth_np)
    H, W = raw.shape

    model = UNet(mean=[MEAN], std=[STD])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=STEPS)
    t0 = time.time()
    model.train()
    run = 0.0
    for step in range(1, STEPS + 1):
        x, y = batch(img, truth, gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 200 == 0:
            print("step %4d  loss %.4f  %.1f s" % (step, run, time.time() - t0), flush=True)
    train_s = time.time() - t0
    model.eval()

    # Float64 from the float32 weights, as a float32 engine reading the ONNX file has them.
    m64 = UNet(mean=[MEAN], std=[STD])
    m64.load_state_dict(model.state_dict())
    m64 = m64.double().eval()
    with torch.no_grad():
        out = m64(img.double()[None, None])[0]
        out32 = model(img[None, None])[0]
    pred = out.argmax(0).numpy()
    margin = (out[1] - out[0]).abs()
    held = np.zeros((H, W), bool)
    held[:, SPLIT:] = True
    acc_held, wrong_held = accuracy(pred, truth_np, held)
    acc_train, wrong_train = accuracy(pred, truth_np, ~held)
    acc_all, wrong_all = accuracy(pred, truth_np, np.ones((H, W), bool))
    base_held = (truth_np[held] == 0).mean()
    inter = [((pred == k) & (truth_np == k))[held].sum() for k in (0, 1)]
    union = [((pred == k) | (truth_np == k))[held].sum() for k in (0, 1)]
    miou = np.mean([i / u for i, u in zip(inter, union)])
    print("trained %d steps in %.1f s (%d threads)" % (STEPS, train_s, torch.get_num_threads()))
    print("held-out right quarter (x >= %d): %.2f%% (%d of %d pixels wrong; all-background %.1f%%), "
          "mean IoU %.4f" % (SPLIT, 100 * acc_held, wrong_held, held.sum(), 100 * base_held, miou))
    print("training part (x < %d): %.2f%% (%d wrong)" % (SPLIT, 100 * acc_train, wrong_train))
    print("whole image: %.2f%% (%d of %d wrong)" % (100 * acc_all, wrong_all, H * W))
    print("float32 vs float64 argmax: %d pixels differ; smallest logit margin %.3g, pixels "
          "with margin < 1e-3: %d" % (int((out32.argmax(0).numpy() != pred).sum()),
                                       margin.min().item(), int((margin < 1e-3).sum())))

    write_pgm(LABELS_OUT, pred)
    buf = io.BytesIO()
    torch.onnx.export(model, img[None, None], buf, opset_version=13, do_constant_folding=True,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {2: "height", 3: "width"},
                                    "output": {2: "height", 3: "width"}})
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    m.producer_version = torch.__version__.split("+")[0]
    m.graph.doc_string = "coin (1) / background (0) U-Net for samples/coins.png; input raw/255"
    data = m.SerializeToString()
    with open(ONNX_OUT, "wb") as f:
        f.write(data)
    nparam = sum(p.numel() for p in model.parameters())
    print("wrote %s (%d bytes, %d parameters; ops %s) and %s" % (
        ONNX_OUT, len(data), nparam, " ".join(sorted({n.op_type for n in m.graph.node})),
        LABELS_OUT))


if __name__ == "__main__":
    main()
