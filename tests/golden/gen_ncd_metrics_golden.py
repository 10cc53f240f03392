"""Golden values for core/eval/ncd_metrics.c: AnomalyNCD's cluster_acc / NMI / ARI
(anomalyncd_spec §7.1) as scikit-learn and scipy compute them.
Writes tests/golden/ncd_metrics/cases.txt: per case
  case <name> n nmi ari f1        (%.17g; nan for undefined)
  y_0 .. y_{n-1}
  p_0 .. p_{n-1}
Run: python3 tests/golden/gen_ncd_metrics_golden.py (numpy, scipy, scikit-learn)."""
import os

import numpy as np
import scipy
import sklearn
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, f1_score, normalized_mutual_info_score

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ncd_metrics", "cases.txt")
rng = np.random.default_rng(11)


def f1_hungarian(y, p):
    """§7.1 steps 1-4: the count matrix W[pred, true], linear_sum_assignment(W.max() - W)."""
    D = max(p.max(), y.max()) + 1
    W = np.zeros((D, D), dtype=np.int64)
    for i in range(len(p)):
        W[p[i], y[i]] += 1
    rows, cols = linear_sum_assignment(W.max() - W)
    mapping = dict(zip(rows, cols))
    mapped = np.array([mapping[v] for v in p])
    return f1_score(y, mapped, average="micro")


cases = []
for n, k_true, k_pred in [(1, 1, 1), (2, 2, 2), (5, 1, 3), (5, 3, 1), (7, 1, 1), (10, 3, 3),
                          (20, 4, 6), (50, 6, 6), (83, 4, 4), (100, 5, 3), (150, 8, 8),
                          (200, 10, 2), (300, 2, 10), (500, 7, 7)]:
    y = rng.integers(0, k_true, size=n)
    p = rng.integers(0, k_pred, size=n)
    cases.append((f"random_{n}_{k_true}_{k_pred}", y, p))
    # mostly right: a noisy permutation of the truth
    perm = rng.permutation(max(k_true, k_pred))
    q = perm[y].copy()
    flip = rng.random(n) < 0.3
    q[flip] = rng.integers(0, k_pred, size=flip.sum())
    cases.append((f"noisy_{n}_{k_true}", y, q))
y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
cases.append(("perfect", y, y.copy()))
cases.append(("permuted", y, (y + 1) % 4))
cases.append(("novel_offset", y + 4, (y + 1) % 4 + 4))  # the reference's indices start at 4
cases.append(("all_singletons", np.arange(9), np.arange(9)[::-1].copy()))
cases.append(("one_true_many_pred", np.zeros(6, dtype=int), np.arange(6)))
cases.append(("many_true_one_pred", np.arange(6), np.zeros(6, dtype=int)))
cases.append(("both_one", np.full(5, 3), np.full(5, 7)))
cases.append(("ties", np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])))
cases.append(("ties3", np.array([0, 1, 2, 0, 1, 2]), np.array([0, 0, 1, 1, 2, 2])))
cases.append(("more_pred_than_true", np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 3, 4, 5])))

with open(out, "w") as f:
    f.write(f"# numpy {np.__version__} scipy {scipy.__version__} scikit-learn {sklearn.__version__}\n")
    for name, y, p in cases:
        nmi = normalized_mutual_info_score(y, p)
        ari = adjusted_rand_score(y, p)
        f1 = f1_hungarian(y, p)
        f.write(f"case {name} {len(y)} {nmi:.17g} {ari:.17g} {f1:.17g}\n")
        f.write(" ".join(str(v) for v in y) + "\n")
        f.write(" ".join(str(v) for v in p) + "\n")
print("wrote", out, len(cases), "cases")
