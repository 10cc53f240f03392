#!/usr/bin/env python3
"""Compares a regions.h5 of `ancd regions` with an independent Python run of anomalyncd_spec
§1.2-§3.5 (by hand, not in CI; needs h5py, Pillow, OpenCV):

    python3 tests/golden/regions_compare.py OUT/<dataset>/<category>

reads maps.h5 and regions.h5 of that folder; the float maps become 8-bit with one joint min-max in
float32 (AnomalyNCD README: (m - min) / (max - min) * 255, astype uint8); MEBin, the nearest mask
and the boxes come from mebin_ref.py (the other independent reference); the crops, mask crops and
scores are done the reference's way with Pillow: round() of the box (half to even), Image.crop
(zeros outside), the normalised map as a mode "F" image resized with the default (bicubic)
filter, max / 255. Prints per-field mismatch counts and the first few mismatching images;
exit 1 when anything differs.
"""
import os
import sys

import h5py
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mebin_ref  # noqa: E402


def main():
    d = sys.argv[1]
    with h5py.File(os.path.join(d, "maps.h5"), "r") as f:
        maps = f["maps"][...].astype(np.float32)
    r = h5py.File(os.path.join(d, "regions.h5"), "r")
    lo, hi = maps.min(), maps.max()
    u8 = ((maps - lo) / (hi - lo) * np.float32(255)).astype(np.uint8)
    paths = [p.decode() if isinstance(p, bytes) else p for p in r["paths"][...]]
    n = len(paths)
    images = [Image.open(p).convert("RGB") for p in paths]
    sizes = [(im.size[1], im.size[0]) for im in images]
    MIN, MAX, res = mebin_ref.process_category(list(u8), sizes)
    bad = {k: 0 for k in ["range", "threshold", "est", "n_crops", "box", "window", "pixels",
                          "mask", "area", "score"]}
    shown = 0
    if (MIN, MAX) != (r.attrs["search_min"], r.attrs["search_max"]):
        bad["range"] += 1
    n_crops = r["n_crops"][...]
    c = 0
    for i in range(n):
        ref = res[i]
        k_ref = len(ref["boxes"])
        problems = []
        if ref["threshold"] != r["threshold"][i]:
            problems.append("threshold")
        if ref["est"] != r["est"][i]:
            problems.append("est")
        if k_ref != n_crops[i]:
            problems.append("n_crops")
        W, H = images[i].size
        nmap = mebin_ref.normalise(u8[i], MIN, MAX)
        big = Image.fromarray(nmap.astype(np.float32)).resize((W, H))
        mask_img = Image.fromarray(ref["mask_image"]).convert("1")
        for k in range(min(k_ref, n_crops[i])):
            j = c + k
            box = tuple(float(v) for v in ref["boxes"][k])
            win = tuple(round(v) for v in box)
            if not np.allclose(r["box"][j], box, rtol=0, atol=0):
                problems.append("box")
            if tuple(r["crop_box_int"][j]) != win:
                problems.append("window")
                continue
            h, w = int(r["crop_height"][j]), int(r["crop_width"][j])
            o, m = int(r["crop_offset"][j]), int(r["mask_offset"][j])
            px = r["crop_pixels"][o:o + h * w * 3].reshape(h, w, 3)
            mk = r["mask_pixels"][m:m + h * w].reshape(h, w)
            if not np.array_equal(px, np.asarray(images[i].crop(win))):
                problems.append("pixels")
            want_mask = np.asarray(mask_img.crop(win).convert("L"))
            if not np.array_equal(mk, want_mask):
                problems.append("mask")
            if int(r["mask_area"][j]) != int((want_mask == 255).sum()):
                problems.append("area")
            score = float(np.max(np.asarray(big.crop(win)))) / 255.0
            if np.float32(score) != r["score"][j]:
                problems.append(f"score({score:.7g} vs {r['score'][j]:.7g})")
        c += n_crops[i]
        for p in set(problems):
            bad[p.split("(")[0]] += 1
        if problems and shown < 8:
            shown += 1
            print(f"{paths[i]}: {sorted(set(problems))} ref thr {ref['threshold']} est "
                  f"{ref['est']} boxes {ref['boxes']}")
    print(f"{n} images, MIN/MAX {MIN}/{MAX}; images with a mismatch per field: {bad}")
    sys.exit(1 if any(bad.values()) else 0)


if __name__ == "__main__":
    main()
