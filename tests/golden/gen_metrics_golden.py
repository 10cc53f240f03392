#!/usr/bin/env python3
"""Golden data for tests/test_metrics.c (run from anywhere; writes tests/golden/metrics/).

Reference values of the anomaly-detection metrics of musc_hetmm_spec §A.8, computed with
scikit-learn (roc_auc_score, average_precision_score, precision_recall_curve -> F1-max as the
MuSc code takes it) and an AUPRO written from the spec's description with skimage.measure.label
(default connectivity: 8-connected in 2-D) and sklearn.metrics.auc. Scores are float32 (as ancd
stores them) and are handed to the references as float64, as MuSc does for its maps.

Files:
  <case>.f32  float32 little-endian scores / maps [n] or [n, h, w]
  <case>.u8   uint8 labels / masks, same shape, 0/1
  expected.txt  header line "sklearn <v> skimage <v> numpy <v>", then one line per case:
    "<case> <n> <h> <w> <auroc> <ap> <f1max> <aupro> <aupro_4conn>"
  with 17 significant digits ("nan" where a metric is not computed: 1-D cases have h = w = 0 and
  no AUPRO; aupro_4conn is the same algorithm with 4-connected regions, which ancd must NOT give
  when the two differ).
"""
import os

import numpy as np
import sklearn
import skimage
from skimage.measure import label as sk_label
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics")


def f1max(gt, pred):
    precision, recall, _ = precision_recall_curve(gt, pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    return float(np.max(f1[np.isfinite(f1)]))


def aupro(masks, maps, connectivity=2, max_step=200, expect_fpr=0.3, max_thresholds=None):
    """§A.8 steps 1-3: thresholds np.arange(min, max, (max-min)/200); per threshold PRO = mean over
    all regions of all images of the fraction of the region with score > th, FPR over all negative
    pixels; keep FPR < 0.3; rescale kept FPRs by their own min/max; trapezoid via sklearn auc."""
    maps = maps.astype(np.float64)
    lo, hi = maps.min(), maps.max()
    delta = (hi - lo) / max_step
    thresholds = np.arange(lo, hi, delta)[:max_thresholds]  # the cap only shows it matters
    regions = []  # (image index, flat pixel indices)
    for i, m in enumerate(masks):
        lab = sk_label(m, connectivity=connectivity)
        for r in range(1, lab.max() + 1):
            regions.append((i, np.flatnonzero(lab == r)))
    negative = masks == 0
    n_negative = negative.sum()
    pros, fprs = [], []
    for th in thresholds:
        binary = maps > th
        flat = binary.reshape(len(maps), -1)
        pros.append(np.mean([flat[i][idx].sum() / idx.size for i, idx in regions]))
        fprs.append(np.logical_and(negative, binary).sum() / n_negative)
    pros, fprs = np.array(pros), np.array(fprs)
    keep = fprs < expect_fpr
    fprs = fprs[keep]
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    return float(auc(fprs, pros[keep]))


def ranking(gt, pred):
    gt = gt.reshape(-1).astype(np.int32)
    pred = pred.reshape(-1).astype(np.float64)
    return roc_auc_score(gt, pred), average_precision_score(gt, pred), f1max(gt, pred)


def blob_masks(rng, n, h, w, diagonal_pair):
    masks = np.zeros((n, h, w), np.uint8)
    for i in range(n):
        if i == n - 1:
            break  # the last image is normal: an all-zero mask
        for _ in range(2):
            cy, cx = rng.integers(3, h - 3), rng.integers(3, w - 3)
            ry, rx = rng.integers(1, 4), rng.integers(1, 4)
            yy, xx = np.mgrid[0:h, 0:w]
            masks[i][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0] = 1
    if diagonal_pair:  # two squares touching only at a corner: one 8-connected region
        masks[0, 1:4, 1:4] = 1
        masks[0, 4:6, 4:6] = 1
        masks[0, 0, :] = 0
        masks[0, :, 0] = 0
    return masks


def maps_for(rng, masks, separation, decimals):
    maps = rng.normal(0.0, 1.0, masks.shape) + separation * masks + 0.3 * rng.normal(
        0.0, 1.0, (masks.shape[0], 1, 1))
    if decimals is not None:
        maps = np.round(maps, decimals)
    return maps.astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240612)
    cases = []  # (name, scores float32, labels uint8, h, w)

    # 1-D score cases.
    s = np.round(rng.uniform(0, 1, 200), 2).astype(np.float32)
    l = (rng.uniform(0, 1, 200) < 0.3 + 0.4 * s).astype(np.uint8)
    cases.append(("ties200", s, l, 0, 0))
    s = np.full(50, 0.25, np.float32)
    l = (np.arange(50) % 3 == 0).astype(np.uint8)
    cases.append(("alltied50", s, l, 0, 0))
    l = (rng.uniform(0, 1, 1000) < 0.2).astype(np.uint8)
    s = (rng.normal(0, 1, 1000) + 1.2 * l).astype(np.float32)
    cases.append(("cont1000", s, l, 0, 0))
    s = np.array([-0.5, -0.0, 0.0, 0.5, 0.5, 0.5, -2.0, 3.0, 0.0, -0.5], np.float32)
    l = np.array([0, 1, 0, 1, 0, 1, 0, 0, 1, 1], np.uint8)
    cases.append(("negzero10", s, l, 0, 0))
    s = np.round(rng.normal(0, 1, 300), 1).astype(np.float32)
    l = (rng.uniform(0, 1, 300) < 0.5).astype(np.uint8)
    cases.append(("coarse300", s, l, 0, 0))

    # Map cases: blobs, the last image normal, one with a diagonal-only contact.
    m = blob_masks(rng, 3, 20, 24, diagonal_pair=True)
    cases.append(("blobs_ties", maps_for(rng, m, 1.5, 2), m, 20, 24))
    m = blob_masks(rng, 3, 20, 24, diagonal_pair=True)
    cases.append(("blobs_cont", maps_for(rng, m, 2.0, None), m, 20, 24))
    m = blob_masks(rng, 4, 48, 40, diagonal_pair=False)
    cases.append(("blobs_big", maps_for(rng, m, 1.0, 3), m, 48, 40))
    # np.arange gives 201 thresholds and the 201st matters: the max pixel is positive, a
    # negative pixel sits one float32 step below it (above threshold 199, not above threshold
    # 200), and the max is nudged up until (max - min) / delta rounds above 200.
    m = blob_masks(rng, 3, 20, 24, diagonal_pair=True)
    mp = maps_for(rng, m, 1.0, None)
    top = np.unravel_index(np.argmax(np.where(m > 0, mp, -np.inf)), mp.shape)
    below = np.unravel_index(np.argmax(np.where(m == 0, mp, -np.inf)), mp.shape)
    mp[top] = mp.max() + np.float32(0.5)
    while True:
        mp[below] = np.nextafter(mp[top], np.float32(-np.inf))
        lo, hi = np.float64(mp.min()), np.float64(mp.max())
        if len(np.arange(lo, hi, (hi - lo) / 200)) == 201:
            break
        mp[top] = np.nextafter(mp[top], np.float32(np.inf))
    assert aupro(m, mp) != aupro(m, mp, max_thresholds=200)
    cases.append(("arange201", mp, m, 20, 24))
    # 8- vs 4-connectivity matter: a 1-pixel region diagonal to a 5-pixel one, the small one
    # detected (high score), the big one not.
    m = np.zeros((2, 10, 12), np.uint8)
    m[0, 2, 2] = 1
    m[0, 3:4, 3:8] = 1
    m[1, 6:8, 6:9] = 1
    mp = rng.uniform(0, 1, m.shape).astype(np.float32)
    mp[0, 2, 2] = 2.0
    mp[0, 3, 3:8] = np.array([0.1, 0.6, 0.9, 0.95, 0.3], np.float32)
    mp[1, 6:8, 6:9] += 0.5
    cases.append(("diag", mp.astype(np.float32), m, 10, 12))
    # Scores on multiples of 1/8 in [0, 1] sit exactly on thresholds (i * 0.005 hits 0.125,
    # 0.25, ...) and others just below them, so "score > th" must be strict; 48 of the 160 negative pixels above 0.5 give
    # FPR exactly 0.3 for th in [0.5, 0.625), which must be dropped (FPR < 0.3 strict).
    m = blob_masks(rng, 2, 10, 10, diagonal_pair=False)
    flat = m.reshape(-1)
    neg, pos = np.flatnonzero(flat == 0), np.flatnonzero(flat)
    while len(pos) < 40:  # exactly 40 positives, 160 negatives
        flat[neg[-1]] = 1
        neg, pos = neg[:-1], np.append(pos, neg[-1])
    while len(pos) > 40:
        flat[pos[-1]] = 0
        neg, pos = np.append(neg, pos[-1]), pos[:-1]
    mp = np.zeros(200, np.float32)
    high = rng.permutation(neg)[:48]
    mp[neg] = rng.integers(0, 5, len(neg)) / 8.0
    mp[high] = rng.integers(5, 9, 48) / 8.0
    mp[pos] = rng.integers(2, 9, len(pos)) / 8.0
    # Half of the positives and of the high negatives 1/256 below their grid value (between two
    # thresholds), so that >= th would add curve points that > th does not have.
    mp[pos[::2]] -= 1.0 / 256
    mp[high[::2]] -= 1.0 / 256
    cases.append(("exact", mp.reshape(2, 10, 10), flat.reshape(2, 10, 10), 10, 10))

    lines = ["sklearn %s skimage %s numpy %s" % (sklearn.__version__, skimage.__version__,
                                                 np.__version__)]
    total = 0
    for name, s, l, h, w in cases:
        n = s.shape[0]
        a, p, f = ranking(l, s)
        pro = pro4 = float("nan")
        if h:
            pro = aupro(l, s, connectivity=2)
            pro4 = aupro(l, s, connectivity=1)
        s.astype("<f4").tofile(os.path.join(OUT, name + ".f32"))
        l.astype(np.uint8).tofile(os.path.join(OUT, name + ".u8"))
        total += s.nbytes + l.nbytes
        lines.append("%s %d %d %d %s" % (name, n, h, w, " ".join(
            "%.17g" % v for v in (a, p, f, pro, pro4))))
        print(lines[-1])
    with open(os.path.join(OUT, "expected.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("wrote %d bytes of inputs" % total)


if __name__ == "__main__":
    main()
