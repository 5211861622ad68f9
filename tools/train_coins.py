#!/usr/bin/python3
"""train_coins.py: trains the sample coin/background patch classifier of
samples/models/ (run from the top of the tree; Debian: python3-torch python3-numpy).

Task: label every pixel of samples/coins.png as background (0) or coin (1),
from the 18x18 patch around it, with samples/models/coins-truth.png as the
ground truth (tools/make_coins_truth.py). Training pixels are drawn from the
left 60% of the image (columns x < 0.6 * W); the right 40% is held out.

Patch semantics are those of `cnnf segment`: the patch of pixel (y, x) has its
top-left corner at (y - H/2, x - W/2) (H/2 rounded down, so with 18x18 the
pixel sits at row 9, column 9 of its patch); outside the image the raw image is
reflected (numpy 'reflect', dcb|abcd|cba); raw / 255, then (v - mean) / std
with the image's own mean and std, rounded to float32 as the model file holds them.

Writes samples/models/coins.cnnf (float32 weights, labels background coin) and
samples/models/coins-torch-labels.pgm (P5, maxval 255, samples 0 or 1): the
label map PyTorch computes in float64 from the written float32 weights, with
the dense patch semantics above. Prints accuracies and the training time.
Fixed seeds and 2 threads: rerunning on the same torch gives the same files.
"""
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch2cnnf import write_model  # noqa: E402

PATCH = 18
STEPS = 4000
BATCH = 128


def make_net():
    # 1x18x18 -> 16x16x16 -> 16x8x8 -> 32x6x6 -> 32x3x3 -> 2
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 3 * 3, 2), nn.Softmax(dim=1))


def padded(img, mean, std, dtype):
    """The normalised image, reflect-padded so that patch (y, x) = P[y:y+18, x:x+18]."""
    top = PATCH // 2
    raw = np.pad(img.astype(np.float64), ((top, PATCH - 1 - top), (top, PATCH - 1 - top)), "reflect")
    return torch.from_numpy((raw / 255.0 - mean) / std).to(dtype)


def patches(P, ys, xs):
    """N x 1 x 18 x 18 patches of the padded image P at pixels (ys, xs)."""
    d = torch.arange(PATCH)
    return P[(ys[:, None, None] + d[None, :, None]), (xs[:, None, None] + d[None, None, :])][:, None]


def dense_scores(net, P, h, w, dtype):
    """Scores (H x W x K) of every pixel, rows in chunks to bound memory."""
    out = []
    xs = torch.arange(w)
    with torch.no_grad():
        for y in range(h):
            ys = torch.full((w,), y, dtype=torch.long)
            out.append(net(patches(P, ys, xs).to(dtype)))
    return torch.stack(out).numpy()


def main():
    torch.set_num_threads(2)
    torch.manual_seed(1)
    img = np.asarray(Image.open("samples/coins.png").convert("L"))
    truth = np.asarray(Image.open("samples/models/coins-truth.png")).astype(np.int64)
    h, w = img.shape
    split = 0.6 * w  # training columns: x < split
    mean = float(np.float32(img.mean() / 255.0))
    std = float(np.float32(img.std() / 255.0))
    P = padded(img, mean, std, torch.float32)
    T = torch.from_numpy(truth)
    xmax = int(np.ceil(split))  # x < split  <=>  x < xmax

    net = make_net()
    body = net[:-1]  # logits for the loss; the softmax is only for the file
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=STEPS)
    lossf = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(2)
    t0 = time.time()
    for step in range(STEPS):
        ys = torch.randint(0, h, (BATCH,), generator=gen)
        xs = torch.randint(0, xmax, (BATCH,), generator=gen)
        x = patches(P, ys, xs)
        # brightness and contrast jitter, on the normalised values
        g = 1 + 0.1 * torch.randn(BATCH, 1, 1, 1, generator=gen)
        b = 0.1 * torch.randn(BATCH, 1, 1, 1, generator=gen)
        loss = lossf(body(x * g + b), T[ys, xs])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == STEPS - 1:
            print("step %d loss %.4f" % (step, loss.item()), flush=True)
    train_time = time.time() - t0
    net.eval()

    labels = ["background", "coin"]
    write_model(net, "samples/models/coins.cnnf", (1, PATCH, PATCH), [mean], [std], labels)

    # the reference: float64 from the float32 weights actually written
    net64 = make_net()
    net64.load_state_dict(net.state_dict())
    net64 = net64.double().eval()
    scores = dense_scores(net64, padded(img, mean, std, torch.float64), h, w, torch.float64)
    pred = scores.argmax(axis=2)
    top2 = np.sort(scores, axis=2)[:, :, -2:]
    gap = top2[:, :, 1] - top2[:, :, 0]
    with open("samples/models/coins-torch-labels.pgm", "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (w, h))
        f.write(pred.astype(np.uint8).tobytes())

    cols = np.arange(w)[None, :] < split
    ok = pred == truth
    print("mean %.9g std %.9g" % (mean, std))
    print("training time %.1f s (%d steps of %d patches, 2 threads)" % (train_time, STEPS, BATCH))
    print("pixel accuracy: held-out right 40%% %.2f%%, training left 60%% %.2f%%, whole image %.2f%%"
          % (100 * ok[:, ~cols[0]].mean(), 100 * ok[:, cols[0]].mean(), 100 * ok.mean()))
    print("pixels whose two probabilities are within 1e-4: %d, 1e-3: %d"
          % ((gap < 1e-4).sum(), (gap < 1e-3).sum()))


if __name__ == "__main__":
    main()
