"""Golden values for core/eval/k_estimate.c (issue "train.n_novel: 0 estimates K").
Writes under tests/golden/k_estimate/:
  silhouette.txt  per case: "case <name> n d" / n lines "label x_0 .. x_{d-1}" / sklearn's
                  silhouette_score (euclidean) of that labelling (%.17g)
  eigvals.txt     per case: "case <name> n" / the symmetric matrix, n rows / numpy.linalg.eigvalsh
  blobs.txt       per case: "case <name> n d k_true" / n rows "label x_0 .. x_{d-1}":
                  well-separated Gaussian blobs, whose K both methods must find over k = 2..10
                  and whose labels k-means at k_true recovers (adjusted Rand index 1)
Features are float32 values (printed with 9 digits, exact), as k_estimate reads floats.
The eigengap and silhouette choices are recomputed here with numpy / scikit-learn (the same
definitions as k_estimate.h) and must give k_true, so the blobs test the C code, not the data.
Run: python3 tests/golden/gen_k_estimate_golden.py (numpy, scikit-learn)."""
import os

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import normalize

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "k_estimate")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(17)


def blobs(n, d, k, std, seed):
    x, y = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=std, center_box=(-10, 10),
                      random_state=seed)
    return x.astype(np.float32), y


def fmt_row(v):
    return " ".join(f"{float(a):.9g}" for a in v)


# ---- silhouette of fixed labellings ----
with open(os.path.join(out, "silhouette.txt"), "w") as f:
    cases = []
    for i, (n, d, k, std) in enumerate([(60, 8, 2, 1.0), (90, 16, 3, 2.0), (120, 12, 4, 3.0),
                                        (150, 32, 5, 1.5), (200, 24, 6, 4.0)]):
        x, y = blobs(n, d, k, std, 100 + i)
        lab = y.copy()
        flip = rng.random(n) < 0.15  # a noisy labelling, not the truth
        lab[flip] = rng.integers(0, k + 1, size=flip.sum())
        cases.append((f"blobs_{n}_{d}_{k}", x, lab))
    x, y = blobs(70, 10, 3, 2.0, 7)
    lab = y.copy()
    lab[0] = 3  # a singleton cluster (s = 0 for it)
    lab[lab == 1] = 5  # a gap in the label values
    cases.append(("singleton_gap", x, lab))
    x = rng.standard_normal((80, 20)).astype(np.float32)
    cases.append(("noise_random_labels", x, rng.integers(0, 4, size=80)))
    for name, x, lab in cases:
        s = silhouette_score(x.astype(np.float64), lab, metric="euclidean")
        f.write(f"case {name} {x.shape[0]} {x.shape[1]}\n")
        for i in range(x.shape[0]):
            f.write(f"{lab[i]} {fmt_row(x[i])}\n")
        f.write(f"{s:.17g}\n")

# ---- eigenvalues of symmetric matrices ----
with open(os.path.join(out, "eigvals.txt"), "w") as f:
    mats = []
    for n in (1, 2, 5, 17, 40):
        a = rng.standard_normal((n, n))
        mats.append((f"gauss_{n}", (a + a.T) / 2))
    a = rng.standard_normal((30, 8))
    mats.append(("psd_rank8_30", a @ a.T))  # 22 zero eigenvalues
    mats.append(("diag_repeated_6", np.diag([3.0, 1.0, 3.0, -2.0, 1.0, 0.0])))
    # a normalised Laplacian of a self-tuned affinity, as k_estimate builds it
    x, _ = blobs(50, 8, 3, 1.0, 3)
    xn = normalize(x.astype(np.float64))
    d2 = np.maximum(((xn[:, None, :] - xn[None, :, :]) ** 2).sum(-1), 0)
    s = np.sqrt(np.sort(d2, axis=1)[:, 7])
    w = np.exp(-d2 / np.outer(s, s))
    np.fill_diagonal(w, 0)
    dinv = 1 / np.sqrt(w.sum(1))
    mats.append(("laplacian_50", np.eye(50) - dinv[:, None] * w * dinv[None, :]))
    for name, a in mats:
        n = a.shape[0]
        f.write(f"case {name} {n}\n")
        for i in range(n):
            f.write(" ".join(f"{v:.17g}" for v in a[i]) + "\n")
        f.write(" ".join(f"{v:.17g}" for v in np.linalg.eigvalsh(a)) + "\n")


# ---- K of well-separated blobs ----
def eigengap_k(x, lo, hi):
    xn = normalize(x.astype(np.float64))
    d2 = np.maximum(((xn[:, None, :] - xn[None, :, :]) ** 2).sum(-1), 0)
    nb = min(7, len(x) - 1)
    s = np.maximum(np.sqrt(np.sort(d2, axis=1)[:, nb]), 1e-8)
    w = np.exp(-d2 / np.outer(s, s))
    np.fill_diagonal(w, 0)
    dinv = 1 / np.sqrt(w.sum(1))
    lam = np.linalg.eigvalsh(np.eye(len(x)) - dinv[:, None] * w * dinv[None, :])
    gaps = [lam[k] - lam[k - 1] for k in range(lo, hi + 1)]
    return lo + int(np.argmax(gaps))


def silhouette_k(x, lo, hi):
    xn = normalize(x.astype(np.float64))
    sc = [silhouette_score(xn, KMeans(k, n_init=10, random_state=0).fit_predict(xn))
          for k in range(lo, hi + 1)]
    return lo + int(np.argmax(sc))


with open(os.path.join(out, "blobs.txt"), "w") as f:
    for i, (n, d, k) in enumerate([(60, 8, 2), (90, 16, 3), (120, 24, 4), (160, 32, 5),
                                   (200, 16, 6)]):
        x, y = blobs(n, d, k, 1.0, 200 + i)
        ke, ks = eigengap_k(x, 2, 10), silhouette_k(x, 2, 10)
        assert ke == k and ks == k, (n, d, k, ke, ks)
        ari = adjusted_rand_score(y, KMeans(k, n_init=10, random_state=0).fit_predict(x))
        assert ari == 1.0, (n, d, k, ari)
        f.write(f"case blobs_{n}_{d}_{k} {n} {d} {k}\n")
        for lab, r in zip(y, x):
            f.write(f"{lab} {fmt_row(r)}\n")
print("wrote", out)
