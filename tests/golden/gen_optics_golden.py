#!/usr/bin/env python3
"""OPTICS golden (musc_hetmm_spec §B.5.2) from scikit-learn: small random point sets, their
distance matrices (cosine 1 - a.b as HETMM's callable, and euclidean), and sklearn's labels,
ordering, reachability and core distances; plus the min_samples = N // K edge cases.

Writes tests/golden/optics/cases.txt:
  # sklearn <version>
  case <name> <N> <min_samples>
  <N*N distances, %.17g>
  <labels> / <ordering> / <reachability> / <core distances>   (one line each)
  ...
  edge <N> <K> <min_samples ancd uses, -1 = error> <what sklearn 1.9 does>
Run: python3 tests/golden/gen_optics_golden.py (numpy, scikit-learn)."""
import os
import warnings

import numpy as np
import sklearn
from sklearn.cluster import OPTICS
from sklearn.metrics import pairwise_distances

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optics", "cases.txt")


def blobs(rng, n, dim, k, spread):
    centres = rng.normal(size=(k, dim))
    lab = rng.integers(0, k, size=n)
    x = centres[lab] + spread * rng.normal(size=(n, dim))
    noise = rng.random(n) < 0.15
    x[noise] = 3 * rng.normal(size=(noise.sum(), dim))
    return x


def case(rng, name, n, dim, k, spread, min_samples, metric):
    x = blobs(rng, n, dim, k, spread)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if metric == "cosine":  # HETMM's callable on float32 unit vectors (self-distance ~ 0)
            x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
            fn = lambda a, b: 1 - np.dot(a, b)  # noqa: E731
            # OPTICS.fit converts X to float64 first: the callable sees float64 rows
            d = pairwise_distances(x.astype(np.float64), metric=fn)
            o = OPTICS(min_samples=min_samples, metric=fn).fit(x)
        else:
            d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
            o = OPTICS(min_samples=min_samples, metric="precomputed").fit(d)
    lines = [f"case {name} {n} {min_samples}", " ".join(f"{v:.17g}" for v in d.ravel())]
    lines.append(" ".join(str(int(v)) for v in o.labels_))
    lines.append(" ".join(str(int(v)) for v in o.ordering_))
    lines.append(" ".join(f"{v:.17g}" for v in o.reachability_))
    lines.append(" ".join(f"{v:.17g}" for v in o.core_distances_))
    return lines, len(set(o.labels_) - {-1})


def edge(n, k):
    """What ancd uses for min_samples = N // K (sklearn 0.24 semantics) and what sklearn 1.9 says."""
    m = n // k
    ancd = -1 if m < 1 else (max(2, n) if m == 1 else m)
    try:
        OPTICS(min_samples=m, metric="precomputed").fit(np.zeros((n, n)))
        now = "accepted"
    except Exception as e:  # 0 and 1 are rejected by the parameter validation of sklearn >= 1.2
        now = "rejected:" + type(e).__name__
    return f"edge {n} {k} {ancd} {now}"


def main():
    rng = np.random.default_rng(14)
    out = [f"# sklearn {sklearn.__version__}"]
    specs = [("cos_blobs3", 40, 8, 3, 0.15, 3, "cosine"),
             ("cos_blobs5", 60, 16, 5, 0.2, 4, "cosine"),
             ("cos_tight", 60, 4, 2, 0.05, 6, "cosine"),
             ("cos_noise", 30, 8, 1, 2.0, 2, "cosine"),
             ("cos_ms_eq_n", 25, 8, 3, 0.1, 25, "cosine"),
             ("euc_blobs4", 70, 2, 4, 0.3, 5, "euclidean"),
             ("euc_small", 12, 2, 2, 0.2, 2, "euclidean"),
             ("euc_many", 90, 3, 6, 0.25, 3, "euclidean")]
    for s in specs:
        lines, nc = case(rng, *s)
        print(f"{s[0]}: {nc} clusters")
        out += lines
    for n, k in [(60, 60), (61, 60), (119, 60), (120, 60), (59, 60), (761, 60), (209, 60)]:
        out.append(edge(n, k))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
