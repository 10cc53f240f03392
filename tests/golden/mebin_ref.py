#!/usr/bin/env python3
"""An independent reference of MEBin and crop-box geometry (anomalyncd_spec §2-§3 and Errata),
written from the spec with NumPy and OpenCV; gen_mebin_golden.py and mebin_mtd_compare.py use it.

Per image it gives what ancd's core/mebin.c and core/crops.c must give: the threshold t_raw on
the 8-bit map, the estimated count est, the 64 component counts of the sweep, the eroded mask,
and the crop boxes (l, u, r, d) after merging and the est + 1 rule, before rounding.

Choices where the reference code cannot be followed literally (all from the spec):
- t_raw uses Python int / float arithmetic (§2.4 step 5: NumPy 1.x promotion, no uint8 wrap).
- MAX == MIN (§2.2, Errata): the normalised map is 255 where v >= MIN, 0 elsewhere (anomalib's
  special case), the sweep and run selection proceed as usual, so c_0 = 0 (n > 255 never holds)
  and c_k = |components of erode(v >= MIN)| for k >= 1; the mask is the eroded sweep mask at k*,
  erode(v >= MIN) (every pixel >= MIN is foreground, ancd's fix), and the threshold reported is
  MIN - 1, so that mask = erode(v > threshold) holds here too (the formula would give MIN, and
  anomalib's erode(v > MIN) loses the maxima).
- The mask is kept in memory (no matplotlib round trip; an all-255 mask is one full-image region).
"""
import math

import cv2
import numpy as np

SAMPLE_RATE = 4
MIN_INTERVAL_LEN = 4
ERODE_KERNEL = 6
PADDING = 0.1
MAX_MERGE_DIST = 0.01
MIN_CROP_SIZE = 0.1


def search_range(maps):
    """§2.1: (MIN, MAX) of the per-image maxima, as Python ints."""
    maxima = [int(m.max()) for m in maps]
    return min(maxima), max(maxima)


def normalise(v, lo, hi):
    """§2.2 in float64: 0 below MIN, else (v - MIN) / (MAX - MIN) * 255 (divide first)."""
    x = v.astype(np.float64)
    if hi == lo:
        return np.where(x >= lo, 255.0, 0.0)
    return np.where(x < lo, 0.0, (x - lo) / float(hi - lo) * 255.0)


def erode(b, k=ERODE_KERNEL):
    """OpenCV erosion with a k x k ones kernel, default anchor and border, one iteration."""
    if k <= 1:
        return b.copy()
    return cv2.erode(b, np.ones((k, k), np.uint8), iterations=1)


def count_components(b):
    """8-connected foreground components, background not counted."""
    n, _, _, _ = cv2.connectedComponentsWithStats(b, connectivity=8)
    return n - 1


def sweep_thresholds(sample_rate=SAMPLE_RATE):
    return list(range(255, 0, -sample_rate))


def sweep(norm, sample_rate=SAMPLE_RATE, k=ERODE_KERNEL):
    """§2.3: the component counts c_k of erode(norm > s_k) for s_k = 255, 255 - rate, ... > 0,
    and the eroded masks (kept so the final mask can be checked against the one at k*)."""
    counts, masks = [], []
    for s in sweep_thresholds(sample_rate):
        b = erode(np.where(norm > s, 255, 0).astype(np.uint8), k)
        counts.append(count_components(b))
        masks.append(b)
    return counts, masks


def select_run(counts, min_len=MIN_INTERVAL_LEN):
    """§2.4 steps 1-3: (k*, est), or (-1, 0) when no run of >= min_len equal non-zero counts.

    The value with the longest qualifying run wins; on a tie the value whose first qualifying run
    comes first in the sweep. Among that value's longest runs the last one is taken; k* is its
    end."""
    runs = []  # (value, start, end) of the maximal runs, in sweep order
    a = 0
    while a < len(counts):
        b = a
        while b + 1 < len(counts) and counts[b + 1] == counts[a]:
            b += 1
        runs.append((counts[a], a, b))
        a = b + 1
    qualifying = [r for r in runs if r[0] != 0 and r[2] - r[1] + 1 >= min_len]
    if not qualifying:
        return -1, 0
    best = {}  # value -> longest (end - start), in order of the value's first qualifying run
    for q, s, e in qualifying:
        best[q] = max(best.get(q, -1), e - s)
    est, top = None, -1
    for q, length in best.items():
        if length > top:  # strict: an equal later value does not replace an earlier one
            est, top = q, length
    k_star = None
    for q, s, e in qualifying:
        if q == est and e - s == top:
            k_star = e  # the last of the longest runs
    return k_star, est


def threshold_raw(k_star, lo, hi, sample_rate=SAMPLE_RATE):
    """§2.4 steps 4-5 with wide arithmetic: trunc(t_norm * (MAX - MIN) / 255 + MIN)."""
    t_norm = 255 - sample_rate * k_star
    return int(t_norm * (hi - lo) / 255 + lo)


def binarize(v, lo, hi, sample_rate=SAMPLE_RATE, min_len=MIN_INTERVAL_LEN, k=ERODE_KERNEL):
    """§2.2-§2.4 for one uint8 map: dict(threshold, est, counts, mask, degenerate)."""
    norm = normalise(v, lo, hi)
    counts, masks = sweep(norm, sample_rate, k)
    k_star, est = select_run(counts, min_len)
    degenerate = hi == lo
    if k_star < 0:
        t_raw = 255
        mask = np.zeros_like(v)
    else:
        if degenerate:
            t_raw = lo - 1
            mask = masks[k_star]
            assert np.array_equal(mask, erode(np.where(v >= lo, 255, 0).astype(np.uint8), k))
        else:
            t_raw = threshold_raw(k_star, lo, hi, sample_rate)
            mask = erode(np.where(v > t_raw, 255, 0).astype(np.uint8), k)
            # Errata §2.4: the final mask equals the sweep mask at k*.
            assert np.array_equal(mask, masks[k_star]), "final mask differs from sweep mask"
    return dict(threshold=t_raw, est=est, counts=counts, mask=mask, degenerate=degenerate)


def resize_nearest(mask, W, H):
    """§2.5 + Errata: cv2 INTER_NEAREST to (W, H); checked against src = floor(x * (1 / (dst /
    src))) in double, clamped."""
    out = cv2.resize(mask, (W, H), interpolation=cv2.INTER_NEAREST)
    h, w = mask.shape
    xs = [min(int(math.floor(x * (1.0 / (W / w)))), w - 1) for x in range(W)]
    ys = [min(int(math.floor(y * (1.0 / (H / h)))), h - 1) for y in range(H)]
    assert np.array_equal(out, mask[np.ix_(ys, xs)]), "cv2 INTER_NEAREST is not the reciprocal form"
    return out


def regions(mask):
    """§3.1: bounding rectangles (x, y, w, h) of the external contours."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [tuple(int(t) for t in cv2.boundingRect(c)) for c in contours]


def square_box(x, y, w, h, H, W):
    """§3.2: the padded square around one region, shifted into the image (one branch per axis)."""
    S = max(H, W)
    cy = int((y + (y + h)) * 0.5)
    cx = int((x + (x + w)) * 0.5)
    r = max(int(max(h, w) * (1 + PADDING) * 0.5), int(S * MIN_CROP_SIZE))
    r = min(r, int(S * 0.5))
    L, U, R, D = cx - r, cy - r, cx + r, cy + r
    if L < 0:
        L, R = 0, 2 * r
    elif R > W:
        L, R = W - 2 * r, W
    if U < 0:
        U, D = 0, 2 * r
    elif D > H:
        U, D = H - 2 * r, H
    return (L, U, R, D)


def box_distance(a, b):
    """§3.3 step 2: -1 when the boxes overlap on both axes (strict <), the gap on the other axis
    when they overlap on one, else the Euclidean norm of both gaps; from centres and extents."""
    wa, ha, wb, hb = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    dx = abs((a[0] + wa / 2) - (b[0] + wb / 2))
    dy = abs((a[1] + ha / 2) - (b[1] + hb / 2))
    sx, sy = (wa + wb) / 2, (ha + hb) / 2
    over_x, over_y = dx < sx, dy < sy
    if over_x and over_y:
        return -1
    if over_x:
        return dy - sy
    if over_y:
        return dx - sx
    return math.sqrt((dx - sx) ** 2 + (dy - sy) ** 2)


def squarify(b):
    """Grow the shorter side by (long - short) / 2 on each side (Python float division)."""
    w, h = b[2] - b[0], b[3] - b[1]
    if w > h:
        d = (w - h) / 2
        return (b[0], b[1] - d, b[2], b[3] + d)
    if h > w:
        d = (h - w) / 2
        return (b[0] - d, b[1], b[2] + d, b[3])
    return b


def merge_boxes(boxes, H, W):
    """§3.3: neighbourhood groups (distance < trunc(S * 0.01), with repeats of identical boxes),
    sorted and de-duplicated, proper subsets dropped (no transitive closure); each group's boxes
    leave the list and their union, squared after every step, is appended; then a stable sort by
    area, largest first."""
    d_thr = int(max(H, W) * MAX_MERGE_DIST)
    groups = []
    for a in boxes:
        g = sorted(b for b in boxes if box_distance(a, b) < d_thr)
        if g and g not in groups:
            groups.append(g)
    kept = [g for g in groups if not any(h != g and set(g) <= set(h) for h in groups)]
    out = list(boxes)
    for g in kept:
        for b in g:
            if b in out:
                out.remove(b)
        m = g[0]
        for b in g[1:]:
            m = squarify((min(m[0], b[0]), min(m[1], b[1]), max(m[2], b[2]), max(m[3], b[3])))
        out.append(m)
    return sorted(out, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)


def crop_boxes(mask, est):
    """§3.1-§3.4 on the mask at image resolution [H, W]: the kept boxes (l, u, r, d)."""
    H, W = mask.shape
    rects = regions(mask)
    if not rects:
        boxes = [(0, 0, W, H)]
    else:
        order = sorted((w * h, x, y, w, h) for x, y, w, h in rects)
        boxes = [square_box(x, y, w, h, H, W) for _, x, y, w, h in order]
    merged = merge_boxes(boxes, H, W)
    if len(merged) > est:
        merged = merged[: est + 1]
    return merged


def process_category(maps, image_sizes):
    """maps: list of uint8 [h, w]; image_sizes: list of (H, W). Returns (MIN, MAX, results) with
    per image threshold, est, counts, degenerate, mask (map resolution), mask_image, boxes."""
    lo, hi = search_range(maps)
    results = []
    for v, (H, W) in zip(maps, image_sizes):
        r = binarize(v, lo, hi)
        r["mask_image"] = resize_nearest(r["mask"], W, H)
        r["boxes"] = crop_boxes(r["mask_image"], r["est"])
        results.append(r)
    return lo, hi, results
