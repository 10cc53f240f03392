#!/usr/bin/env python3
"""Goldens for image_resize_f32 (Pillow mode "F" resize) and the §3.5 crop score of ancd regions.

Writes tests/golden/resize_f32/cases.txt, read by tests/test_resize_f32.c:
  resize W_IN H_IN W_OUT H_OUT FILTER      FILTER: bicubic | bilinear (Pillow's own pass order)
  <W_OUT*H_OUT float32 values, %.9g, row-major>
  score MAPW MAPH MIN MAX W H X0 Y0 X1 Y1 SCORE
The inputs are formulas the C test computes too:
  resize input: v[y][x] = ((x*37 + y*91 + x*y*13) % 256) / 4 - 20  (exact in float32)
  score map:    u8[y][x] = (x*17 + y*29 + x*y*7) % 256
Score (anomalyncd_spec §3.5): n = 0 where v < MIN else ((v - MIN) / (MAX - MIN)) * 255 in float64,
as a PIL "F" image, resized to (W, H) with the default filter (bicubic), cropped with the window
(zeros outside), max / 255.0. Pillow 13 is installed: its pass order is the RESIZE_*_PIL one.
"""
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def resize_input(w, h):
    y, x = np.mgrid[0:h, 0:w]
    return (((x * 37 + y * 91 + x * y * 13) % 256) / 4.0 - 20.0).astype(np.float32)


def score_map(w, h):
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 17 + y * 29 + x * y * 7) % 256).astype(np.uint8)


def main():
    lines = []
    filters = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
    # upscale, downscale, mixed, one axis only, and a height shrink that Pillow 13 runs
    # vertical first
    cases = [(9, 7, 31, 23), (40, 30, 13, 11), (12, 20, 30, 9), (10, 8, 10, 21), (16, 60, 14, 10)]
    for (wi, hi, wo, ho) in cases:
        for name, f in filters.items():
            img = Image.fromarray(resize_input(wi, hi))
            assert img.mode == "F"
            out = np.asarray(img.resize((wo, ho), f), dtype=np.float32)
            lines.append(f"resize {wi} {hi} {wo} {ho} {name}")
            vals = [f"{v:.9g}" for v in out.ravel()]
            for k in range(0, len(vals), 12):
                lines.append(" ".join(vals[k:k + 12]))
    mw, mh = 16, 12
    v = score_map(mw, mh).astype(np.float64)
    for (lo, hi_) in [(40, 200), (0, 255), (100, 101)]:
        n = np.where(v < lo, 0.0, ((v - lo) / (hi_ - lo)) * 255)
        for (W, H) in [(50, 40), (37, 61)]:
            big = Image.fromarray(n.astype(np.float32)).resize((W, H))
            for (x0, y0, x1, y1) in [(0, 0, W, H), (10, 5, 30, 25), (-5, -5, 15, 15),
                                     (W - 10, H - 10, W + 10, H + 10), (W - 5, 0, W + 5, 10)]:
                crop = np.asarray(big.crop((x0, y0, x1, y1)), dtype=np.float32)
                s = float(np.max(crop)) / 255.0
                lines.append(f"score {mw} {mh} {lo} {hi_} {W} {H} {x0} {y0} {x1} {y1} {s:.17g}")
    os.makedirs(os.path.join(HERE, "resize_f32"), exist_ok=True)
    with open(os.path.join(HERE, "resize_f32", "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
