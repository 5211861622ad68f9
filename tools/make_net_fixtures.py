#!/usr/bin/python3
"""make_net_fixtures.py: writes the forward-pass and segmentation fixtures in
tests/data/net/ (run from the top of the tree; see tests/data/net/README).

Not needed to build or test: the files it writes are committed. Needs torch
and numpy (Debian: python3-torch python3-numpy). Every model gets fixed-seed
random float32 weights; the references are computed by PyTorch in float64
from those same float32 values, in eval mode. Rerunning it rewrites the same
files byte for byte.
"""
import os
import sys

import numpy as np
import torch
from torch import nn

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch2cnnf import write_model  # noqa: E402

OUT = "tests/data/net"


def forward_models():
    """name -> (nn.Sequential, (C, H, W), mean, std). Each covers a few layer kinds."""
    return {
        # conv stride 2 + pad 1, then a conv down to K x 1 x 1 and a softmax with no fc
        "conv_stride_pad": (nn.Sequential(
            nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(4, 3, 4), nn.Softmax(dim=1)), (2, 7, 7), [0.5, 0.25], [0.5, 2.0]),
        # KHxKW kernel with dilation and padding, maxpool, overlapping avgpool, fc, no softmax
        "conv_rect_dilation": (nn.Sequential(
            nn.Conv2d(3, 4, (3, 2), padding=1, dilation=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.AvgPool2d(3, stride=1), nn.Flatten(), nn.Linear(4 * 1 * 2, 2)),
            (3, 9, 8), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        # batchnorm (eps 1e-3, random running statistics), dropouts, two fc layers
        "bn_dropout_fc": (nn.Sequential(
            nn.Conv2d(1, 5, 3), nn.BatchNorm2d(5, eps=1e-3), nn.ReLU(), nn.AvgPool2d(2),
            nn.Dropout(0.3), nn.Flatten(), nn.Linear(5 * 2 * 2, 6), nn.ReLU(), nn.Dropout(),
            nn.Linear(6, 4), nn.Softmax(dim=1)), (1, 6, 6), [0.3], [0.2]),
        # 1x3 kernel with pad 1 (padded rows too), stride 2 + pad 2 + dilation 2, batchnorm,
        # maxpool with stride 1, avgpool; the last conv channels are the classes
        "pool_stride": (nn.Sequential(
            nn.Conv2d(2, 3, (1, 3), padding=1), nn.ReLU(),
            nn.Conv2d(3, 4, 3, stride=2, padding=2, dilation=2), nn.BatchNorm2d(4),
            nn.MaxPool2d(3, stride=1), nn.AvgPool2d(2), nn.Softmax(dim=1)),
            (2, 8, 8), None, None),
        # fc straight on a 3-channel input: flattening order C, H, W
        "fc_only": (nn.Sequential(
            nn.Flatten(), nn.Linear(3 * 2 * 2, 5), nn.ReLU(), nn.Linear(5, 3), nn.Softmax(dim=1)),
            (3, 2, 2), [0.1, 0.2, 0.3], [1.0, 0.5, 0.25]),
        # a small patch classifier of the usual shape (conv, relu, pool twice, fc)
        "small_cnn": (nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6, 3), nn.Softmax(dim=1)),
            (1, 11, 11), [0.4], [0.25]),
    }


def randomise(seq, gen):
    """Weights ~ U(-1, 1) / sqrt(fan_in) (+ a little so outputs are not tiny);
    batchnorm: gamma, beta, running mean and variance all random."""
    with torch.no_grad():
        for m in seq.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * 1.5 / fan_in ** 0.5)
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.3)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.25)
    return seq.eval()


def as_float64(seq):
    """A float64 copy whose values are exactly the float32 ones written to the file."""
    seq = seq.float().double().eval()
    return seq


def write_lines(path, rows):
    with open(path, "w") as f:
        f.write("".join(r + "\n" for r in rows))


def forward_fixtures():
    for i, (name, (seq, shape, mean, std)) in enumerate(sorted(forward_models().items())):
        gen = torch.Generator().manual_seed(1000 + i)
        seq = randomise(seq, gen)
        write_model(seq, os.path.join(OUT, name + ".cnnf"), shape, mean, std)
        x = torch.randn((1,) + shape, generator=gen).float()   # already normalised
        np.save(os.path.join(OUT, name + ".input.npy"), x[0].numpy().transpose(1, 2, 0).copy())
        with torch.no_grad():
            y = as_float64(seq)(x.double()).reshape(-1)
        write_lines(os.path.join(OUT, name + ".expected.txt"), ["%.9g" % v for v in y.tolist()])
        print("%s: %s -> %d values" % (name, "x".join(map(str, shape)), len(y)))


# ---- segmentation ----

BORDERS = {"zero": "constant", "replicate": "edge", "reflect": "reflect",
           "symmetric": "symmetric", "wrap": "wrap"}
MARGIN = 1e-3  # smallest gap allowed between a pixel's two best scores (float32 C code)


def seg_scores(seq, img, shape, mean, std, border):
    """float64 scores (H*W x K) of every pixel's patch, as cnnf segment builds them."""
    c, ph, pw = shape
    top, left = ph // 2, pw // 2
    pad = ((top, ph - 1 - top), (left, pw - 1 - left))
    raw = np.pad(img.astype(np.float64), pad, BORDERS[border])
    v = (raw / 255.0 - mean) / std
    h, w = img.shape
    patches = np.stack([v[y:y + ph, x:x + pw] for y in range(h) for x in range(w)])
    with torch.no_grad():
        return seq(torch.from_numpy(patches[:, None])).numpy().reshape(h * w, -1)


def write_pgm_p2(path, img):
    h, w = img.shape
    rows = ["P2", "# seg_small test image (tools/make_net_fixtures.py)", "%d %d" % (w, h), "255"]
    rows += [" ".join("%3d" % v for v in r) for r in img]
    write_lines(path, rows)


def seg_fixtures():
    shape, mean, std = (1, 5, 5), 0.5, 0.25
    rng = np.random.RandomState(7)
    h, w = 7, 9
    # a gradient plus noise, with the extremes present
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.clip(20 * xx + 10 * yy + rng.randint(-60, 61, (h, w)), 0, 255).astype(np.uint8)
    img[0, 0], img[h - 1, w - 1], img[3, 4] = 255, 0, 255
    for seed in range(1, 200):
        gen = torch.Generator().manual_seed(seed)
        seq = randomise(nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(3), nn.Flatten(), nn.Linear(4, 3),
            nn.Softmax(dim=1)), gen)
        seq64 = as_float64(seq)
        maps, ok = {}, True
        for b in BORDERS:
            s = seg_scores(seq64, img, shape, mean, std, b)
            top2 = np.sort(s, axis=1)[:, -2:]
            if (top2[:, 1] - top2[:, 0]).min() < MARGIN:
                ok = False
            maps[b] = s
        labels = {b: s.argmax(axis=1).reshape(h, w) for b, s in maps.items()}
        names = list(BORDERS)
        distinct = all(not np.array_equal(labels[a], labels[b])
                       for i, a in enumerate(names) for b in names[i + 1:])
        # every class used, and every border mode changes some label
        if ok and distinct and all(len(np.unique(l)) == 3 for l in labels.values()):
            break
    else:
        raise SystemExit("no seed gives well-separated, distinct label maps")
    write_model(seq, os.path.join(OUT, "seg_small.cnnf"), shape, [mean], [std],
                labels=["low", "mid", "high"])
    write_pgm_p2(os.path.join(OUT, "seg_small.input.pgm"), img)
    for b, l in labels.items():
        write_lines(os.path.join(OUT, "seg_small.labels.%s.txt" % b), [" ".join(map(str, r)) for r in l])
    write_lines(os.path.join(OUT, "seg_small.probs.reflect.txt"),
                [" ".join("%.9g" % v for v in p) for p in maps["reflect"]])
    gap = min(np.diff(np.sort(s, axis=1)[:, -2:], axis=1).min() for s in maps.values())
    print("seg_small: seed %d, smallest top-two gap %.3g" % (seed, gap))


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    forward_fixtures()
    seg_fixtures()


if __name__ == "__main__":
    main()
