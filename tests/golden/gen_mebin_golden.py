#!/usr/bin/env python3
"""Golden data for tests/test_mebin_golden.c (run from anywhere; writes tests/golden/mebin/).

Synthetic 8-bit anomaly maps with known regions (Gaussian blobs, plateaus, rings, noise), in
three categories (MEBin's search range is per category), each with an "image size" for the
nearest upsampling of the mask and the crop boxes (2x-3x the map, some non-integer ratios, one
smaller than the map). Expected values from mebin_ref.py (anomalyncd_spec §2-§3, written from
the spec with NumPy + OpenCV).

Files:
  <category>/<name>.png   8-bit gray map [h, w]
  expected.txt  header "# numpy <v> opencv <v>"; per category
    "category <name> <n_maps> <MIN> <MAX>"
  then per map of that category (in file order)
    "map <category>/<name>.png <h> <w> <H> <W> <threshold> <est> <degenerate> <mask_area>
     <mask_area_image> <n_regions> <n_steps> <c_0 .. c_{n_steps-1}> <n_boxes> <l u r d> ..."
  mask_area: foreground pixels of the eroded mask at map resolution; mask_area_image: at image
  resolution after INTER_NEAREST; n_regions: external regions at image resolution (§3.1); box coordinates with 17 significant digits.
"""
import os
import sys

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mebin_ref  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mebin")


def grid(h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return y, x


def gauss(h, w, cy, cx, sy, sx=None, amp=1.0):
    sx = sy if sx is None else sx
    y, x = grid(h, w)
    return amp * np.exp(-0.5 * (((y - cy) / sy) ** 2 + ((x - cx) / sx) ** 2))


def smooth_noise(rng, h, w, scale, sigma=2.0):
    """Low-amplitude blurred noise: background texture that still compresses well."""
    n = rng.standard_normal((h, w))
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return scale * n / (np.abs(n).max() + 1e-12)


def to_u8(a):
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def blobs(h, w, spec, base=20.0, noise=None):
    """spec: list of (cy, cx, sigma_y, sigma_x, amplitude) on top of base (+ noise)."""
    a = np.full((h, w), float(base))
    for cy, cx, sy, sx, amp in spec:
        a += gauss(h, w, cy, cx, sy, sx, amp)
    if noise is not None:
        a += noise
    return to_u8(a)


def plateau(h, w, rects, lo=15, hi=200, blur=0.0):
    """Flat rectangles (y0, x0, y1, x1, value or None for hi) on a flat background."""
    a = np.full((h, w), float(lo))
    for y0, x0, y1, x1, *val in rects:
        a[y0:y1, x0:x1] = float(val[0]) if val else float(hi)
    if blur > 0:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    return to_u8(a)


def ring_with_dot(h, w, cy, cx, r_in, r_out, dot_r, amp=210, base=18):
    y, x = grid(h, w)
    d = np.hypot(y - cy, x - cx)
    a = np.full((h, w), float(base))
    a[(d >= r_in) & (d <= r_out)] = amp
    a[d <= dot_r] = amp
    return to_u8(cv2.GaussianBlur(a, (0, 0), 1.0))


def random_map(rng, h, w, base_max):
    n_blobs = int(rng.integers(0, 5))
    spec = []
    for _ in range(n_blobs):
        s = float(rng.uniform(2.5, 7.0))
        spec.append((float(rng.uniform(0, h)), float(rng.uniform(0, w)), s,
                     s * float(rng.uniform(0.6, 1.6)), float(rng.uniform(60, 220))))
    return blobs(h, w, spec, base=float(rng.uniform(10, base_max)),
                 noise=smooth_noise(rng, h, w, float(rng.uniform(3, 15))))


def category_sq(rng):
    """Square maps 64x64 .. 96x96; images 2x-3x, some with a non-integer ratio."""
    m = []
    m.append(("one_blob", blobs(64, 64, [(30, 34, 5, 5, 200)]), (128, 128)))
    m.append(("two_far", blobs(64, 64, [(14, 14, 4, 4, 180), (48, 50, 5, 5, 210)]), (160, 160)))
    m.append(("three", blobs(80, 80, [(16, 60, 4, 4, 170), (40, 20, 5, 4, 200),
                                      (64, 56, 4, 6, 190)]), (208, 208)))
    m.append(("four_amp", blobs(80, 80, [(15, 15, 4, 4, 120), (15, 64, 4, 4, 160),
                                         (64, 15, 4, 4, 200), (64, 64, 4, 4, 230)]),
              (240, 240)))
    m.append(("edge_left", blobs(64, 64, [(32, 0, 6, 5, 210)]), (150, 150)))
    m.append(("corner_tl", blobs(64, 64, [(0, 0, 7, 7, 220)]), (170, 170)))
    # two small blobs close to a corner: their boxes shift onto the same (0, 0, 2r, 2r)
    m.append(("corner_pair", plateau(64, 64, [(1, 1, 8, 8), (1, 12, 8, 19)], blur=0.6),
              (192, 192)))
    # two blobs whose boxes overlap: one merged box
    m.append(("two_close", blobs(96, 96, [(40, 36, 4, 4, 200), (46, 58, 4, 4, 190)]),
              (272, 272)))
    # four blobs in a row, consecutive boxes overlap, next-but-one do not: two surviving groups
    # ({A,B,C} and {B,C,D}), the middle boxes contribute to both merged boxes
    m.append(("chain4", plateau(96, 96, [(44, 8, 54, 18), (44, 24, 54, 34), (44, 40, 54, 50),
                                         (44, 56, 54, 66)], blur=0.8), (272, 272)))
    # a ring with a dot inside: est counts 2, the dot is nested and gives no region
    m.append(("ring_dot", ring_with_dot(80, 80, 40, 40, 16, 24, 5), (200, 200)))
    m.append(("normal_low", to_u8(30 + smooth_noise(rng, 64, 64, 8)), (128, 128)))
    m.append(("normal_mid", to_u8(60 + smooth_noise(rng, 64, 64, 25, 1.5)), (176, 176)))
    m.append(("noisy_blob", blobs(64, 64, [(36, 28, 5, 5, 170)], base=40,
                                  noise=smooth_noise(rng, 64, 64, 35, 1.2)), (160, 160)))
    m.append(("elongated", blobs(80, 80, [(40, 40, 3, 18, 200)]), (208, 208)))
    m.append(("big_blob", blobs(64, 64, [(32, 32, 20, 22, 230)]), (128, 128)))
    # one component whose thin bars vanish when the image is smaller than the map: 3 regions,
    # est 1 -> 2 boxes kept (est + 1)
    m.append(("bars_down", plateau(96, 96, [(4, 4, 22, 22), (4, 74, 22, 92), (74, 4, 92, 22),
                                            (10, 22, 16, 74), (22, 10, 74, 16)], hi=190),
              (48, 48)))
    for i in range(4):
        s = int(rng.choice([64, 72, 80]))
        f = float(rng.choice([2.0, 2.5, 2.37, 3.0]))
        m.append((f"rand{i}", random_map(rng, s, s, 40), (int(s * f), int(s * f))))
    return m


def category_wide(rng):
    """Non-square maps; images with integer and non-integer ratios."""
    m = []
    # a blob filling the height of a wide image: 2r > H, the box sticks out of the image
    m.append(("tall_region", plateau(32, 96, [(0, 30, 32, 60)], hi=220, blur=0.7), (96, 288)))
    m.append(("wide_two", blobs(48, 96, [(24, 20, 5, 5, 200), (20, 76, 6, 6, 180)]), (144, 288)))
    m.append(("bottom_right", blobs(64, 80, [(63, 79, 6, 6, 210)]), (160, 200)))
    m.append(("tall_map", blobs(96, 64, [(20, 32, 5, 5, 190), (76, 30, 5, 7, 200)]), (225, 150)))
    # boxes of different sizes merged: union not square, grows by .5
    m.append(("merge_half", plateau(80, 64, [(30, 20, 45, 33), (36, 36, 42, 43)], hi=200,
                                    blur=0.5), (201, 161)))
    m.append(("merge_three", blobs(64, 96, [(30, 40, 4, 4, 200), (34, 56, 4, 4, 190),
                                            (26, 70, 3, 3, 180)]), (150, 272)))
    # S = 300, r >= 30 > H / 2: both upper regions clamp to U = 0 with the same columns, so
    # their boxes are identical (both copies collapse into one box)
    m.append(("dup_boxes", plateau(20, 120, [(0, 50, 5, 61), (8, 50, 14, 61), (4, 90, 16, 104)],
                                   hi=200), (50, 300)))
    m.append(("normal_wide", to_u8(25 + smooth_noise(rng, 40, 80, 10)), (100, 200)))
    m.append(("stairs", plateau(48, 96, [(10, 8, 38, 24, 120), (10, 36, 38, 52, 170),
                                         (10, 64, 38, 80, 230)]), (136, 272)))
    m.append(("edge_top", blobs(48, 64, [(0, 30, 5, 8, 200)]), (113, 151)))
    for i in range(6):
        h = int(rng.choice([40, 48, 64]))
        w = int(rng.choice([64, 80, 96]))
        f = float(rng.choice([2.0, 2.5, 3.0, 2.21]))
        m.append((f"rand{i}", random_map(rng, h, w, 45), (int(h * f), int(w * f))))
    return m


def category_flat(rng):
    """MAX == MIN: every map's maximum is 90 (the reference divides by zero)."""
    m = []
    m.append(("constant", np.full((64, 64), 90, np.uint8), (128, 128)))
    a = blobs(64, 64, [(30, 30, 6, 6, 200)], base=10).astype(np.int32)
    m.append(("clipped_blob", np.minimum(a, 90).astype(np.uint8), (150, 150)))
    m.append(("two_plateaus", plateau(48, 64, [(8, 8, 24, 24, 90), (28, 40, 44, 60, 90)], lo=40),
              (120, 160)))
    return m


def run_props(counts):
    """(est tie, run tie) of a count sequence: another value with an equally long longest run;
    two longest runs of est."""
    k, est = mebin_ref.select_run(counts)
    if k < 0:
        return False, False
    runs, a = [], 0
    while a < len(counts):
        b = a
        while b + 1 < len(counts) and counts[b + 1] == counts[a]:
            b += 1
        if counts[a] and b - a + 1 >= mebin_ref.MIN_INTERVAL_LEN:
            runs.append((counts[a], b - a))
        a = b + 1
    top = max(r for _, r in runs)
    est_tie = len({q for q, r in runs if r == top}) > 1
    run_tie = sum(1 for q, r in runs if q == est and r == top) > 1
    return est_tie, run_tie


def tie_maps(lo, hi):
    """Plateau maps whose count sequence ties (searched over plateau levels within [lo, hi], so
    the category range stays). est tie: plateaus A > B > C, counts 1, 2, 3 with the 1- and
    2-runs equally long; run tie: A > B and a bridge joining them, counts 1, 2, 1 with the two
    1-runs equally long."""
    out = []
    for key in ("tie_est", "tie_run"):
        done = False
        for v2 in range(hi - 1, lo, -1):
            for v3 in range(v2 - 1, lo, -1):
                rects = [(6, 4, 22, 20, hi), (6, 26, 22, 42, v2)]
                if key == "tie_est":
                    rects.append((6, 48, 22, 62, v3))
                else:
                    rects.append((11, 20, 17, 26, v3))
                v = plateau(28, 64, rects, lo=max(lo - 20, 0))
                est_tie, run_tie = run_props(mebin_ref.binarize(v, lo, hi)["counts"])
                if est_tie if key == "tie_est" else run_tie:
                    out.append((key, v, (70, 160)))
                    done = True
                    break
            if done:
                break
        if not done:
            raise RuntimeError("no map found for " + key)
    return out


def fmt(x):
    return repr(int(x)) if float(x).is_integer() else "%.17g" % x


def main():
    rng = np.random.default_rng(5)
    cats = [("sq", category_sq(rng)), ("wide", category_wide(rng)), ("flat", category_flat(rng))]
    lo, hi = mebin_ref.search_range([v for _, v, _ in cats[0][1]])
    cats[0][1].extend(tie_maps(lo, hi))
    os.makedirs(OUT, exist_ok=True)
    lines = ["# numpy %s opencv %s" % (np.__version__, cv2.__version__)]
    for cat, maps in cats:
        os.makedirs(os.path.join(OUT, cat), exist_ok=True)
        lo, hi, res = mebin_ref.process_category([v for _, v, _ in maps], [s for _, _, s in maps])
        lines.append("category %s %d %d %d" % (cat, len(maps), lo, hi))
        for (name, v, (H, W)), r in zip(maps, res):
            rel = "%s/%s.png" % (cat, name)
            Image.fromarray(v, "L").save(os.path.join(OUT, rel), optimize=True)
            back = np.asarray(Image.open(os.path.join(OUT, rel)))
            assert np.array_equal(back, v)
            f = [
                "map", rel, v.shape[0], v.shape[1], H, W, r["threshold"], r["est"],
                int(r["degenerate"]), int(np.count_nonzero(r["mask"])),
                int(np.count_nonzero(r["mask_image"])), len(mebin_ref.regions(r["mask_image"])),
                len(r["counts"]), *r["counts"],
                len(r["boxes"])
            ]
            for b in r["boxes"]:
                f.extend(fmt(c) for c in b)
            lines.append(" ".join(str(x) for x in f))
            print("%-22s t=%3d est=%d boxes=%d %s" % (rel, r["threshold"], r["est"],
                                                      len(r["boxes"]), r["boxes"]))
    with open(os.path.join(OUT, "expected.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
