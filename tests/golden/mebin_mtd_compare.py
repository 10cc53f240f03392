#!/usr/bin/env python3
"""MEBin + crop boxes of `ancd regions` against mebin_ref.py on real maps (issue 5 verification).

usage: mebin_mtd_compare.py CATEGORY_DIR [--limit N]
  CATEGORY_DIR holds maps.h5 (from `ancd detect`) and regions.h5 (from `ancd regions`), e.g.
  OUT/mtd/MTD. The float maps are turned into the 8-bit maps MEBin sees as the pipeline does
  (one joint min-max over the category in float32, (m - lo) / (hi - lo) * 255, truncated); the
  image sizes come from the images named in maps.h5 /paths. Per image the reference's threshold,
  est and boxes (l, u, r, d, exact) are compared with regions.h5 (threshold, est, n_crops,
  image_index, box); prints the agreement rate and each mismatching image with what differs.
  Needs h5py, NumPy, OpenCV, Pillow; not run by ctest.
"""
import argparse
import os
import sys

import h5py
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mebin_ref  # noqa: E402


def to_u8(maps):
    """Joint float32 min-max over the category, x 255, truncated (io/map_png.c maps_to_u8)."""
    lo, hi = np.float32(maps.min()), np.float32(maps.max())
    if not hi > lo:
        return np.zeros(maps.shape, np.uint8)
    t = (maps - lo) / (hi - lo) * np.float32(255)
    return np.clip(t, 0, 255).astype(np.uint8)


def image_size(path):
    with Image.open(path) as im:
        return im.size[1], im.size[0]  # (H, W)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (quick check)")
    a = ap.parse_args()
    with h5py.File(os.path.join(a.dir, "maps.h5"), "r") as f:
        maps = f["maps"][...]
        paths = [p.decode() for p in f["paths"][...]]
    u8 = to_u8(maps)
    sizes = [image_size(p) for p in paths]
    n = len(paths) if a.limit <= 0 else min(a.limit, len(paths))
    # The search range is over the whole category even when only the first N are compared.
    lo, hi = mebin_ref.search_range(list(u8))
    with h5py.File(os.path.join(a.dir, "regions.h5"), "r") as g:
        thr = g["threshold"][...]
        est = g["est"][...]
        n_crops = g["n_crops"][...]
        idx = g["image_index"][...]
        box = g["box"][...]
        hw = (g["image_height"][...], g["image_width"][...])
        attrs = dict(g.attrs)
    print("reference range [%d, %d]; regions.h5 search_min %s search_max %s" %
          (lo, hi, attrs.get("search_min"), attrs.get("search_max")))
    ok, bad = 0, []
    est_hist, crops_hist = {}, {}
    for i in range(n):
        r = mebin_ref.binarize(u8[i], lo, hi)
        H, W = sizes[i]
        big = mebin_ref.resize_nearest(r["mask"], W, H)
        boxes = mebin_ref.crop_boxes(big, r["est"])
        mine = [tuple(float(c) for c in b) for b in boxes]
        theirs = [tuple(float(c) for c in box[j]) for j in np.nonzero(idx == i)[0]]
        why = []
        if (hw[0][i], hw[1][i]) != (H, W):
            why.append("image size %dx%d vs %dx%d" % (hw[1][i], hw[0][i], W, H))
        if thr[i] != r["threshold"]:
            why.append("threshold %d vs ref %d" % (thr[i], r["threshold"]))
        if est[i] != r["est"]:
            why.append("est %d vs ref %d" % (est[i], r["est"]))
        if n_crops[i] != len(theirs) or theirs != mine:
            why.append("boxes %s vs ref %s (%d regions)" %
                       (theirs, mine, len(mebin_ref.regions(big))))
        est_hist[r["est"]] = est_hist.get(r["est"], 0) + 1
        crops_hist[len(mine)] = crops_hist.get(len(mine), 0) + 1
        if why:
            bad.append((paths[i], why))
        else:
            ok += 1
    for p, why in bad:
        print("MISMATCH %s: %s" % (p, "; ".join(why)))
    print("est histogram %s; crops per image %s" % (sorted(est_hist.items()),
                                                    sorted(crops_hist.items())))
    print("agreement: %d / %d images (%.2f%%)" % (ok, n, 100.0 * ok / max(n, 1)))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
