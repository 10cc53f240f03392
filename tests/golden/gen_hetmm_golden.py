#!/usr/bin/env python3
"""HETMM golden (musc_hetmm_spec Part B): an independent PyTorch ATMM (unfold + einsum), fusion,
post-processing and image scores on small random unit feature maps, and an independent NumPy PTS
on sklearn OPTICS labels (callable metric 1 - a.b, as the reference).

Writes tests/golden/hetmm/cases.txt (numbers %.9g; features in ancd's layout: queries
[B, h, w, C], templates [h, w, K, C]):
  # torch <v> sklearn <v>
  atmm <name> <B> <K> <S> <n_layers>
  layer <h> <w> <C> <f> <b> <alpha> <lambda>  then q, then t   (per layer)
  fused [B, S, S]  (sum over layers of lambda (alpha F + (1 - alpha) B), no post-processing)
  post <text> then the post-processed maps [B, S, S] and the image scores [B]   (3 lines)
  pts <name> <N> <C> <K> <min_samples> <n_pos>; per position: sheets [N, C], sklearn labels [N],
      picked [K] (-1 for zero rows)
Run: python3 tests/golden/gen_hetmm_golden.py (torch, numpy, scikit-learn)."""
import os
import warnings

import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from sklearn.cluster import OPTICS

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hetmm", "cases.txt")


def fmt(a):
    return " ".join(f"{v:.9g}" for v in np.asarray(a, dtype=np.float64).ravel())


def window_max(a, b, win, query_side):
    """max over the second set and the clipped window of <a(p), b(u)> per position p of the side
    that is not unfolded: forward (query_side=True): a = Q [B,C,H,W] at p, b = T [K,C,H,W] over the
    window; backward: a = T at p, b = Q over the window. Returns [B, H, W], running max from -1."""
    d = win // 2
    Q, T = (a, b) if query_side else (b, a)
    B, C, H, W = Q.shape
    K = T.shape[0]
    other = T if query_side else Q  # the unfolded one
    n_other = other.shape[0]
    u = F.unfold(other, win, padding=d).view(n_other, C, win * win, H * W)
    valid = F.unfold(torch.ones(1, 1, H, W, dtype=Q.dtype), win, padding=d).view(win * win, H * W) > 0
    centre = (Q if query_side else T).reshape(-1, C, H * W)
    if query_side:  # [B, K, o, p]
        dots = torch.einsum("bcp,kcop->bkop", centre, u)
    else:
        dots = torch.einsum("kcp,bcop->bkop", centre, u)
    dots = dots.masked_fill(~valid[None, None], float("-inf"))
    m = dots.amax(dim=(1, 2)).clamp(min=-1.0)  # the reference's running max starts at -1
    return m.view(B, H, W)


def blur(x, sigma, k):
    ax = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-((ax / sigma) ** 2) / 2)
    g2 = torch.outer(g, g)
    g2 = (g2 / g2.sum()).to(x.dtype)
    return F.conv2d(x, g2[None, None], padding=k // 2)


def post(x, text):
    """x [B,1,S,S] -> (map, image score) per §B.7."""
    if text == "clean":
        return x, x.amax(dim=(1, 2, 3))
    if text.startswith("blur"):
        s, k = text.split("_")[1:]
        y = blur(x, float(s[2:]), int(float(k[2:])))
        return y, y.amax(dim=(1, 2, 3))
    k = int(float(text.split("=")[1]))
    y = F.max_pool2d(x, k, stride=k).mean(dim=(1, 2, 3))
    return x, y


def atmm_case(g, name, B, K, S, layers, posts):
    lines = [f"atmm {name} {B} {K} {S} {len(layers)}"]
    fused = torch.zeros(B, 1, S, S)
    for (h, w, C, f, b, alpha, lam) in layers:
        Q = F.normalize(torch.randn(B, C, h, w, generator=g), dim=1)
        T = F.normalize(torch.randn(K, C, h, w, generator=g), dim=1)
        T[0] = F.normalize(Q[0] + 0.3 * torch.randn(C, h, w, generator=g), dim=0)  # near matches
        fwd = 1 - window_max(Q, T, f, True)
        bwd = 1 - window_max(T, Q, b, False)
        up = lambda m: F.interpolate(m[:, None], size=(S, S), mode="bilinear", align_corners=True)  # noqa
        fused += lam * (alpha * up(fwd) + (1 - alpha) * up(bwd))
        lines.append(f"layer {h} {w} {C} {f} {b} {alpha!r} {lam!r}")
        lines.append(fmt(Q.permute(0, 2, 3, 1).numpy()))
        lines.append(fmt(T.permute(2, 3, 0, 1).numpy()))
    lines.append(fmt(fused.numpy()))
    for text in posts:
        m, s = post(fused, text)
        lines += [f"post {text}", fmt(m.numpy()), fmt(s.numpy())]
    return lines


def pts_numpy(T, labels, K):
    """§B.5.3 at one position, written from the spec: T [N, C] float32."""
    N = T.shape[0]
    G = (T @ T.T).astype(np.float32)
    picked, used = [], np.zeros(N, bool)
    uniq = []
    for lab in labels:
        if lab >= 0 and lab not in uniq:
            uniq.append(lab)
    for u in uniq:
        if len(picked) >= K:
            break
        members = np.flatnonzero(labels == u)
        sums = G[np.ix_(members, members)].sum(1)
        j = members[int(np.argmax(sums))]  # first maximum
        picked.append(j)
        used[j] = True
    if not picked and K > 0:
        j = int(np.argmax(G.sum(1)))
        picked.append(j)
        used[j] = True
    dp = G[:, picked].sum(1) if picked else np.zeros(N, np.float32)
    while len(picked) < K and not used.all():
        cand = np.where(used, np.inf, dp)
        j = int(np.argmin(cand))
        picked.append(j)
        used[j] = True
        dp = dp + G[:, j]
    return picked + [-1] * (K - len(picked))


def pts_case(rng, name, N, C, K, n_pos):
    ms = N // K if N // K >= 2 else N
    lines = [f"pts {name} {N} {C} {K} {ms} {n_pos}"]
    fn = lambda a, b: 1 - np.dot(a, b)  # noqa: E731  the reference's callable
    for p in range(n_pos):
        centres = rng.normal(size=(3, C))
        lab = rng.integers(0, 3, size=N)
        x = centres[lab] + 0.4 * rng.normal(size=(N, C))
        x[rng.random(N) < 0.2] = rng.normal(size=C) * 2
        x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = OPTICS(min_samples=ms, metric=fn).fit(x).labels_
        picked = pts_numpy(x, labels, K)
        lines += [fmt(x), " ".join(map(str, labels)), " ".join(map(str, picked))]
    return lines


def pro_hetmm(maps, gts):
    """§B.8 HETMM's PRO (src/metrics.py), written from the spec with scipy's 8-connected labels
    standing in for skimage.measure.label(connectivity=2)."""
    from scipy import ndimage
    from sklearn.metrics import auc
    th = np.linspace(maps.min(), maps.max(), 300)
    regions = []
    for m, g in zip(maps, gts):
        lab, n = ndimage.label(g, structure=np.ones((3, 3)))
        regions += [(m[lab == r]) for r in range(1, n + 1)]
    neg = maps[gts == 0]
    fprs, pros = [], []
    for t in th:
        fprs.append((neg > t).sum() / neg.size)
        pros.append(np.mean([(r > t).sum() / (r.size + 1e-5) for r in regions]))
    fprs, pros = np.array(fprs), np.array(pros)
    keep = fprs <= 0.3
    f, p = fprs[keep], pros[keep]
    f = (f - f.min()) / (f.max() - f.min() + 1e-5)
    p = (p - p.min()) / (p.max() - p.min() + 1e-5)
    return auc(f, p)


def pro_case(rng, name, n, S):
    maps = rng.random((n, S, S)).astype(np.float32)
    gts = np.zeros((n, S, S), np.uint8)
    for i in range(n):
        for _ in range(rng.integers(0, 3)):
            y, x, r = rng.integers(0, S), rng.integers(0, S), rng.integers(2, 6)
            yy, xx = np.mgrid[:S, :S]
            blob = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
            gts[i][blob] = 1
            maps[i][blob] += 0.6 * rng.random()
    gts[0, 1, 1] = 1  # a one-pixel region
    return [f"pro {name} {n} {S} {pro_hetmm(maps.astype(np.float64), gts):.12g}", fmt(maps),
            " ".join(map(str, gts.ravel()))]


def main():
    g = torch.Generator().manual_seed(14)
    rng = np.random.default_rng(14)
    out = [f"# torch {torch.__version__} sklearn {sklearn.__version__}"]
    out += atmm_case(g, "three_layers", 3, 5, 32,
                     [(8, 8, 16, 5, 3, 0.3, 1.0), (6, 6, 24, 5, 5, 0.7, 0.8),
                      (4, 4, 32, 3, 1, 0.5, 0.5)],
                     ["clean", "blur_s=4.1_k=9", "mp_k=5"])
    out += atmm_case(g, "vit_like", 2, 7, 28,
                     [(7, 7, 12, 7, 3, 0.5, 1.0), (7, 7, 12, 1, 7, 0.3, 1.0)],
                     ["clean", "blur_s=3.0_k=11", "mp_k=11"])
    out += pts_case(rng, "k6", 30, 8, 6, 4)
    out += pts_case(rng, "k_gt_n", 12, 8, 20, 2)  # K > N: zero sheets; N // K = 0 -> min_samples N
    out += pts_case(rng, "k_eq_n", 10, 8, 10, 2)  # N // K = 1 -> min_samples N (sklearn 0.24)
    out += pro_case(rng, "blobs", 6, 24)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
