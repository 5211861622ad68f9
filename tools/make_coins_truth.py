#!/usr/bin/python3
"""make_coins_truth.py: writes samples/models/coins-truth.png, the coin/background
ground truth of samples/coins.png (run from the top of the tree).

Needs scipy and scikit-image (Debian: python3-scipy python3-skimage). The
method is the watershed of scikit-image's coins tutorial, then a clean-up:

1. elevation map: Sobel gradient magnitude of the image scaled to [0, 1];
2. markers: background where the raw value < 30, coin where it is > 150;
3. watershed of the elevation map from those markers, keeping the coin basins;
4. holes filled, components under 100 pixels dropped;
5. each coin replaced by its convex hull, which closes the few notches the
   watershed cuts where a coin's rim is dark (the coins are convex flans).

The result is an 8-bit gray PNG of the same size: 0 background, 1 coin.
"""
import sys

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.filters import sobel
from skimage.morphology import convex_hull_image
from skimage.segmentation import watershed


def coins_truth(img):
    """img: 2-D uint8 array. Returns a bool array, True on coins."""
    markers = np.zeros(img.shape, np.int32)
    markers[img < 30] = 1
    markers[img > 150] = 2
    seg = watershed(sobel(img / 255.0), markers) == 2
    seg = ndi.binary_fill_holes(seg)
    lab, n = ndi.label(seg)
    out = np.zeros_like(seg)
    for i in range(1, n + 1):
        coin = lab == i
        if coin.sum() >= 100:
            out |= convex_hull_image(coin)
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "samples/coins.png"
    dst = sys.argv[2] if len(sys.argv) > 2 else "samples/models/coins-truth.png"
    img = np.asarray(Image.open(src).convert("L"))
    truth = coins_truth(img)
    Image.fromarray(truth.astype(np.uint8), "L").save(dst, optimize=True)
    print("%s: %d coins, %.1f%% coin pixels" % (dst, ndi.label(truth)[1], 100.0 * truth.mean()))


if __name__ == "__main__":
    main()
