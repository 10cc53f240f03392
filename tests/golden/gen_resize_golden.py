#!/usr/bin/env python3
"""Golden data for tests/test_resize.c (run from anywhere; writes tests/golden/resize/).

Generated with Pillow 13.0.0, OpenCV 5.0.0 (opencv-python-headless 5.0.0.93), NumPy 2.4.6.

Inputs (deterministic, seeded):
  rgb37x23.png  RGB gradients + hard-edged checker + noise (sharp edges exercise bicubic's
                negative lobes and the uint8 clipping between Pillow's two passes)
  gray64x48.png L gradient + noise + one saturated square
Outputs: <input stem>_<mode>_<w>x<h>.png for each case in cases.txt, one line per case:
  "<input> <mode> <w> <h> <output>", mode = bilinear | bicubic (Pillow >= 13 Image.resize),
  bilinear12 | bicubic12 (Pillow <= 12) or nearest (cv2.resize INTER_NEAREST).
Pillow 13 runs the vertical pass first when the height shrinks by more than twice as many pixels
as the width; Pillow <= 12 always runs the horizontal pass first. The uint8 rounding between
passes makes them differ. Pillow <= 12 output is emulated with two single-axis resizes
(horizontal, then vertical), which equals Pillow 12.0.0's single call bit for bit (checked on 600
random size/mode cases in a Pillow 12.0.0 venv). Where Pillow 13 also goes horizontal first, the
*12 cases reuse the Pillow 13 file.
jet_lut.png: 256x1 RGB, pixel v = cv2.applyColorMap(v, COLORMAP_JET) with BGR turned to RGB.
heat_map.f32 + heat_jet.png: a 24x16 float32 map (raw little-endian, row-major) and MuSc's
  heat map of it (musc §A.9, single_norm): min-max scaled in float32, * 255, astype(uint8),
  applyColorMap JET, written here as RGB.
"""
import os

import cv2
import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resize")


def make_inputs():
    rng = np.random.default_rng(20240611)
    h, w = 23, 37
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.zeros((h, w, 3), np.float64)
    rgb[..., 0] = x * 255.0 / (w - 1)
    rgb[..., 1] = y * 255.0 / (h - 1)
    rgb[..., 2] = np.where(((x // 4) + (y // 3)) % 2 == 0, 255.0, 0.0)
    rgb += rng.normal(0, 12, rgb.shape)
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

    h, w = 48, 64
    y, x = np.mgrid[0:h, 0:w]
    gray = (x + y) * 255.0 / (w + h - 2) + rng.normal(0, 20, (h, w))
    gray[10:20, 30:45] = 255
    gray[30:34, 5:9] = 0
    gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return {"rgb37x23": Image.fromarray(rgb, "RGB"), "gray64x48": Image.fromarray(gray, "L")}


# (w, h): non-integer downscales, an upscale, one axis up and one down, identity, extremes.
SIZES = {
    "rgb37x23": [(23, 17), (10, 7), (80, 51), (50, 12), (37, 23), (1, 1), (37, 64), (30, 5)],
    "gray64x48": [(45, 31), (17, 13), (99, 70), (30, 61), (224, 5), (60, 20)],
}


def vertical_first(in_w, in_h, w, h):
    """Pillow 13's pass order rule (libImaging/Resample.c, ImagingResampleInner)."""
    return in_h - h > 0 and in_h - h > (in_w - w) * 2


def main():
    assert int(PIL.__version__.split(".")[0]) >= 13, "the main goldens need Pillow >= 13"
    os.makedirs(OUT, exist_ok=True)
    lines = []
    for stem, img in make_inputs().items():
        img.save(os.path.join(OUT, stem + ".png"))
        arr = np.asarray(img)
        for w, h in SIZES[stem]:
            for mode in ("bilinear", "bicubic", "nearest"):
                if mode == "nearest":
                    res = Image.fromarray(cv2.resize(arr, (w, h), interpolation=cv2.INTER_NEAREST))
                else:
                    f = Image.Resampling.BILINEAR if mode == "bilinear" else Image.Resampling.BICUBIC
                    res = img.resize((w, h), f)
                name = "%s_%s_%dx%d.png" % (stem, mode, w, h)
                res.save(os.path.join(OUT, name))
                lines.append("%s.png %s %d %d %s" % (stem, mode, w, h, name))
                if mode == "nearest":
                    continue
                if vertical_first(img.width, img.height, w, h):
                    res12 = img.resize((w, img.height), f).resize((w, h), f)
                    assert not (np.asarray(res12) == np.asarray(res)).all()
                    name = "%s_%s12_%dx%d.png" % (stem, mode, w, h)
                    res12.save(os.path.join(OUT, name))
                lines.append("%s.png %s12 %d %d %s" % (stem, mode, w, h, name))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256)
    jet = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[..., ::-1]
    Image.fromarray(np.ascontiguousarray(jet), "RGB").save(os.path.join(OUT, "jet_lut.png"))

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:16, 0:24]
    heat = (np.exp(-((x - 15.0) ** 2 + (y - 6.0) ** 2) / 30.0) * 3.7 + 0.2
            + rng.normal(0, 0.05, (16, 24))).astype(np.float32)
    heat.astype("<f4").tofile(os.path.join(OUT, "heat_map.f32"))
    scaled = (heat - heat.min()) / (heat.max() - heat.min()) * 255
    assert scaled.dtype == np.float32
    jet = cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    Image.fromarray(np.ascontiguousarray(jet), "RGB").save(os.path.join(OUT, "heat_jet.png"))


if __name__ == "__main__":
    main()
