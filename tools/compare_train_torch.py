#!/usr/bin/python3
"""compare_train_torch.py: trains the sample architecture in PyTorch the way `cnnf train` does,
and reports time and accuracy, so that the two can be quoted side by side (run from the top
of the tree; Debian: python3-torch python3-numpy python3-pil).

The task is that of samples/models: label every pixel of samples/coins.png background (0)
or coin (1) from its 18x18 patch, against samples/models/coins-truth.png. As
`cnnf train --val-split 0.4 --holdout columns`, the columns x < ceil(0.6 * W) train and the others are held
back; the architecture, mean and std come from tests/data/train/coins-arch.cnnf:

    conv 16 3x3, relu, maxpool 2, conv 32 3x3, relu, maxpool 2, fc 2   (5,378 parameters)

What is the same as cnnf train:
- patches: top-left corner at (y - 9, x - 9), the raw image reflected outside
  (dcb|abcd|cba), raw / 255, then (v - mean) / std;
- an epoch visits every training pixel once in a random order, in steps of --batch;
- the mean softmax cross-entropy; torch.optim.SGD (--lr, --momentum), Adam or AdamW
  (--optimizer, --beta1, --beta2, --eps) with the weight decay on conv and fc weights only
  (not biases), and the defaults of `cnnf train` (lr: sgd 0.01, adam and adamw 0.001;
  weight decay: sgd 5e-4, adam 0, adamw 0.01);
- the schedule of --schedule constant|step|cosine with --warmup N epochs, stepped every
  step as nn/optim.h defines it: LinearLR(1 / W, total_iters W - 1) over the W warmup steps,
  then StepLR(--step-size epochs, --gamma) or CosineAnnealingLR(T_max = the steps left), in
  a SequentialLR;
- initialisation: kaiming (He) normal for the layers followed by relu, Xavier normal for
  the last, biases 0;
- after every epoch, every held-back pixel is classified in evaluation mode;
- --augment flip|rot90|flip,rot90: each training patch is one of the symmetries of the
  square as cnnf's augment.h defines them, drawn per patch (flip: 4, rot90: the 4 turns,
  both: 8): the 19x19 patch centred on the pixel is mirrored/transposed, then its first 18
  rows and columns kept, so that the labelled pixel stays at (9, 9) (jitter is not done here).
Random streams differ, so the two do not give the same numbers, only comparable ones.

    /usr/bin/python3 tools/compare_train_torch.py [--epochs 5] [--batch 64] [--lr R]
        [--optimizer sgd|adam|adamw] [--momentum 0.9] [--beta1 0.9] [--beta2 0.999]
        [--eps 1e-8] [--weight-decay L] [--schedule constant|step|cosine] [--warmup N]
        [--step-size N] [--gamma 0.1] [--seed 1] [--threads 2] [--augment flip,rot90]
        [--evaluate MODEL.cnnf ...]

The same recipe in cnnf (the same task: the list names coins.png and its truth):

    cnnf train -m tests/data/train/coins-arch.cnnf -o out.cnnf --val-split 0.4 \
        --holdout columns --epochs 5 --optimizer adam --schedule cosine --warmup 1 \
        --threads 2 samples/models/coins.list

--evaluate classifies the held-back pixels with the float32 weights of cnnf model files
of this architecture (e.g. what cnnf train wrote), with the same code, and prints their
accuracy, so that both trainers are measured by one yardstick. With --labels-pgm OUT it
also writes the label map PyTorch computes in float64 for the whole image from the (last)
model's weights, as tools/train_coins.py writes samples/models/coins-torch-labels.pgm:
what `cnnf segment --border reflect` must reproduce.
"""
import argparse
import math
import struct
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch import nn

ARCH = "tests/data/train/coins-arch.cnnf"
IMAGE = "samples/coins.png"
TRUTH = "samples/models/coins-truth.png"
PATCH = 18


def arch_mean_std(path):
    """mean and std of the input line of a cnnf model file."""
    with open(path, "rb") as f:
        for line in f:
            words = line.decode("ascii", "replace").split("#")[0].split()
            if words and words[0] == "input":
                kv = dict(w.split("=", 1) for w in words[1:])
                return float(kv.get("mean", "0")), float(kv.get("std", "1"))
    raise SystemExit("compare_train_torch: %s: no input line" % path)


def make_net():
    # 1x18x18 -> 16x16x16 -> 16x8x8 -> 32x6x6 -> 32x3x3 -> 2 (scores; the softmax is in the loss)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 3 * 3, 2))


def init_like_cnnf(net):
    """He normal before a relu, Xavier normal otherwise; biases 0 (train.h)."""
    layers = list(net)
    for i, m in enumerate(layers):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nxt = next((l for l in layers[i + 1:] if not isinstance(l, (nn.Flatten, nn.Dropout))), None)
            if isinstance(nxt, nn.ReLU):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)


def padded(img, mean, std, dtype=torch.float32):
    """The normalised image, reflect-padded so that patch (y, x) = P[y:y+18, x:x+18]."""
    top = PATCH // 2
    raw = np.pad(img.astype(np.float64), ((top, PATCH - 1 - top), (top, PATCH - 1 - top)), "reflect")
    return torch.from_numpy((raw / 255.0 - mean) / std).to(dtype)


def patches(P, ys, xs, size=PATCH):
    d = torch.arange(size)
    return P[(ys[:, None, None] + d[None, :, None]), (xs[:, None, None] + d[None, None, :])][:, None]


# The symmetries --augment draws from, as (transpose << 2 | flip_y << 1 | flip_x) of augment.h;
# rot90 alone: numpy.rot90 turns 0, 1, 2, 3.
SYMMETRIES = {"flip": [0, 1, 2, 3], "rot90": [0, 5, 3, 6], "flip,rot90": list(range(8))}


def augmented(Q, ks):
    """The 19x19 centred patches Q, each turned by its symmetry ks[i], cut to 18x18."""
    out = Q.clone()
    for k in range(8):
        sel = ks == k
        if not sel.any():
            continue
        q = Q[sel]
        if k & 1:
            q = q.flip(-1)
        if k & 2:
            q = q.flip(-2)
        if k & 4:
            q = q.transpose(-1, -2)
        out[sel] = q
    return out[..., :PATCH, :PATCH].contiguous()


def evaluate(net, P, ys, xs, truth):
    """Accuracy and mean IoU of net on the pixels (ys, xs), in evaluation mode."""
    net.eval()
    pred = []
    with torch.no_grad():
        for i in range(0, len(ys), 4096):
            pred.append(net(patches(P, ys[i:i + 4096], xs[i:i + 4096])).argmax(1))
    net.train()
    pred = torch.cat(pred)
    acc = (pred == truth).double().mean().item()
    ious = []
    for c in range(2):
        tp = ((pred == c) & (truth == c)).sum().item()
        u = ((pred == c) | (truth == c)).sum().item()
        if u:
            ious.append(tp / u)
    return acc, sum(ious) / len(ious)


def load_cnnf(path, net):
    """The float32 weights of a cnnf model file of this architecture into net."""
    with open(path, "rb") as f:
        data = f.read()
    pos, count = 0, None
    while pos < len(data):
        end = data.index(b"\n", pos)
        words = data[pos:end].split(b"#")[0].split()
        pos = end + 1
        if words[:2] == [b"weights", b"float32"]:
            count = int(words[2])
            break
    if count is None:
        raise SystemExit("compare_train_torch: %s: no 'weights float32' line" % path)
    values = struct.unpack("<%df" % count, data[pos:pos + 4 * count])
    params = [p for p in net.parameters()]
    if sum(p.numel() for p in params) != count:
        raise SystemExit("compare_train_torch: %s: %d values, the architecture has %d"
                         % (path, count, sum(p.numel() for p in params)))
    at = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(torch.tensor(values[at:at + n]).reshape(p.shape))
            at += n


def make_schedule(opt, a, spe):
    """nn/optim.h's schedule in PyTorch's schedulers, stepped every step (None: constant)."""
    lr_sched = torch.optim.lr_scheduler
    w, total = a.warmup * spe, a.epochs * spe
    if a.schedule == "cosine":
        main = lr_sched.CosineAnnealingLR(opt, T_max=total - w, eta_min=0)
    elif a.schedule == "step":
        size = a.step_size or max(1, (a.epochs - a.warmup) // 3)
        main = lr_sched.StepLR(opt, step_size=size * spe, gamma=a.gamma)
    else:
        main = None
    if not w:
        return main
    if w == 1:
        warm = lr_sched.ConstantLR(opt, factor=1.0, total_iters=0)
    else:
        warm = lr_sched.LinearLR(opt, start_factor=1.0 / w, end_factor=1.0, total_iters=w - 1)
    if main is None:
        main = lr_sched.ConstantLR(opt, factor=1.0, total_iters=0)
    return lr_sched.SequentialLR(opt, [warm, main], milestones=[w])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float)
    ap.add_argument("--schedule", choices=["constant", "step", "cosine"], default="constant")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--step-size", type=int, default=0)
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--val-split", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--evaluate", nargs="*", default=[], metavar="MODEL.cnnf")
    ap.add_argument("--labels-pgm", metavar="OUT.pgm")
    ap.add_argument("--augment", choices=sorted(SYMMETRIES))
    a = ap.parse_args()
    if not 0 <= a.warmup < a.epochs:
        raise SystemExit("compare_train_torch: --warmup must be below --epochs")
    if a.lr is None:
        a.lr = 0.01 if a.optimizer == "sgd" else 0.001
    if a.weight_decay is None:
        a.weight_decay = {"sgd": 5e-4, "adam": 0.0, "adamw": 0.01}[a.optimizer]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    mean, std = arch_mean_std(ARCH)
    img = np.asarray(Image.open(IMAGE).convert("L"))
    truth = torch.from_numpy(np.asarray(Image.open(TRUTH)).astype(np.int64))
    h, w = img.shape
    P = padded(img, mean, std)
    if a.augment:
        # One more row and column of reflection: the 19x19 patch of (y, x) is PA[y:y+19, x:x+19].
        top = PATCH // 2
        raw = np.pad(img.astype(np.float64), ((top, top), (top, top)), "reflect")
        PA = torch.from_numpy((raw / 255.0 - mean) / std).to(torch.float32)
        syms = torch.tensor(SYMMETRIES[a.augment])
    split = math.ceil((1.0 - a.val_split) * w)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    train = xx < split
    ty, tx = yy[train], xx[train]
    vy, vx = yy[~train], xx[~train]
    tt, vt = truth[ty, tx], truth[vy, vx]
    n = len(ty)

    for path in a.evaluate:
        net = make_net()
        load_cnnf(path, net)
        acc, miou = evaluate(net, P, vy, vx, vt)
        all_acc, _ = evaluate(net, P, yy.reshape(-1), xx.reshape(-1), truth.reshape(-1))
        print("%s: held-back accuracy %.2f%% (%d pixels), mean IoU %.4f; whole image %.2f%%"
              % (path, 100 * acc, len(vy), miou, 100 * all_acc))
    if a.evaluate and a.labels_pgm:
        net64 = net.double().eval()
        P64 = padded(img, mean, std, torch.float64)
        with torch.no_grad():
            pred = [net64(patches(P64, torch.full((w,), y, dtype=torch.long), torch.arange(w)))
                    .argmax(1).numpy().astype(np.uint8) for y in range(h)]
        with open(a.labels_pgm, "wb") as f:
            f.write(b"P5\n%d %d\n255\n" % (w, h))
            f.write(np.stack(pred).tobytes())
        print("%s: PyTorch's float64 label map of %s" % (a.labels_pgm, a.evaluate[-1]))
    if a.evaluate:
        return

    net = make_net()
    init_like_cnnf(net)
    decay = [p for name, p in net.named_parameters() if name.endswith("weight")]
    plain = [p for name, p in net.named_parameters() if not name.endswith("weight")]
    groups = [{"params": decay, "weight_decay": a.weight_decay},
              {"params": plain, "weight_decay": 0.0}]
    if a.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum)
        hyper = "momentum %g" % a.momentum
    else:
        make = torch.optim.Adam if a.optimizer == "adam" else torch.optim.AdamW
        opt = make(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
        hyper = "betas %g %g, eps %g" % (a.beta1, a.beta2, a.eps)
    sched = make_schedule(opt, a, (n + a.batch - 1) // a.batch)
    lossf = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    print("PyTorch %s, %d threads: %d training patches an epoch (columns x < %d), %d held back, "
          "batch %d, %s lr %g, %s, weight decay %g, schedule %s, warmup %d%s"
          % (torch.__version__, a.threads, n, split, len(vy), a.batch, a.optimizer, a.lr, hyper,
             a.weight_decay, a.schedule, a.warmup,
             ", augment " + a.augment if a.augment else ""))
    train_time = val_time = best = 0.0
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        right = 0
        for i in range(0, n, a.batch):
            idx = order[i:i + a.batch]
            if a.augment:
                ks = syms[torch.randint(len(syms), (len(idx),), generator=gen)]
                x = augmented(patches(PA, ty[idx], tx[idx], PATCH + 1), ks)
            else:
                x = patches(P, ty[idx], tx[idx])
            out = net(x)
            loss = lossf(out, tt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            loss_sum += loss.item() * len(idx)
            right += (out.argmax(1) == tt[idx]).sum().item()
        t1 = time.time()
        acc, miou = evaluate(net, P, vy, vx, vt)
        best = max(best, acc)
        t2 = time.time()
        train_time += t1 - t0
        val_time += t2 - t1
        print("epoch %d/%d  loss %.4f  train %.2f%%  val %.2f%%  mIoU %.4f  %.1f s (validation %.1f s)"
              % (epoch, a.epochs, loss_sum / n, 100 * right / n, 100 * acc, miou, t2 - t0, t2 - t1),
              flush=True)
    print("PyTorch: training %.1f s, validation %.1f s, total %.1f s; final held-back accuracy %.2f%%, "
          "best %.2f%%" % (train_time, val_time, train_time + val_time, 100 * acc, 100 * best))


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
