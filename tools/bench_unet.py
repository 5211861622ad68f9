#!/usr/bin/python3
"""bench_unet.py: writes the benchmark U-Net (3 classes, 16-32-64 channels, random
fixed-seed weights) for 512x512 RGB as DIR/unet3-512.onnx and times PyTorch on it.

Usage: /usr/bin/python3 tools/bench_unet.py DIR   (the model is ~1 MB: made on
demand, never committed). Opset 13, H and W free; the architecture is
tools/make_onnx_fixtures.py's UNet with ch=(16, 32, 64). Timing: float32,
channels_last, torch.set_num_threads(2), one warm-up then the median of 5
runs of a random 1x3x512x512 input; prints the seconds.
"""
import io
import os
import statistics
import sys
import time

import onnx
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_onnx_fixtures import UNet, randomise  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench_unet.py DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    path = os.path.join(sys.argv[1], "unet3-512.onnx")
    torch.set_num_threads(2)
    torch.manual_seed(512)
    model = UNet(ch=(16, 32, 64)).eval()
    randomise(model, torch.Generator().manual_seed(513))
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(514))
    buf = io.BytesIO()
    torch.onnx.export(model, x, buf, opset_version=13, input_names=["input"],
                      output_names=["output"],
                      dynamic_axes={"input": {2: "height", 3: "width"},
                                    "output": {2: "height", 3: "width"}})
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    model = model.to(memory_format=torch.channels_last)
    xc = x.to(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        model(xc)
        for _ in range(5):
            t = time.perf_counter()
            model(xc)
            times.append(time.perf_counter() - t)
    print("%s: %d bytes" % (path, os.path.getsize(path)))
    print("pytorch %s, 2 threads, channels_last, 1x3x512x512: median %.3f s (min %.3f)" % (
        torch.__version__, statistics.median(times), min(times)))


if __name__ == "__main__":
    main()
