#!/usr/bin/python3
"""make_same_fixtures.py: writes tests/data/same/mixed.cnnf and mixed.onnx for tests/cli/same.sh.

A 3-channel, 3-class patch classifier (10x10 patches) with the layers coins.cnnf
lacks: padded and dilated Conv, BatchNorm2d, AvgPool2d, Dropout, two Linear,
per-channel mean and std. Random weights (seed 5) written by torch2cnnf.py, then
exported by cnnf2onnx.py (which folds the BatchNorm into the Conv before it).
Run from the top of the tree with /usr/bin/python3 (torch, onnx).
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch import nn  # noqa: E402

import cnnf2onnx  # noqa: E402
import torch2cnnf  # noqa: E402

OUT = os.path.join("tests", "data", "same")


def main():
    torch.manual_seed(5)
    bn = nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    # 3x10x10 -> conv pad 1: 5x10x10 -> avgpool 2: 5x5x5 -> conv 3 dilation 2: 6x1x1
    seq = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), bn, nn.ReLU(), nn.AvgPool2d(2), nn.Dropout(),
                        nn.Conv2d(5, 6, 3, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(6, 4),
                        nn.ReLU(), nn.Linear(4, 3), nn.Softmax(dim=1)).eval()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "mixed.cnnf")
    torch2cnnf.write_model(seq, path, (3, 10, 10), mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3],
                           labels=["a", "b", "c"])
    torch.set_num_threads(1)
    opts = cnnf2onnx.export(cnnf2onnx.read_model(path), os.path.join(OUT, "mixed.onnx"))
    print("wrote %s and mixed.onnx; options: %s" % (path, " ".join(opts)))


if __name__ == "__main__":
    main()
