"""Golden values for core/eval/region_merge.c (anomalyncd_spec §6), computed the way
AnomalyNCD.py's sub_image_predict / region_merge_predict do it, in torch float32:
  sub-image: softmax(l), base columns zeroed, renormalised, argmax;
  merging:   softmax(l / 0.1), base zeroed, renormalised; one crop: that; else
             w = softmax(sqrt(a) / T), P = sum_j w_j p_j; argmax P.
Writes tests/golden/region_merge/cases.txt: per case a header line
  case <name> N R C n_base T
then R lines "image_index mask_area l_0 .. l_{C-1}" (logits as %.9g, exact float32),
then R lines "sub <pred> p_0 .. p_{C-1}" and N lines "img <pred> P_0 .. P_{C-1}".
Run: python3 tests/golden/gen_region_merge_golden.py (torch from PyPI)."""
import os

import numpy as np
import torch

rng = np.random.default_rng(7)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "region_merge", "cases.txt")


def predict(logits, image_index, area, N, n_base, T):
    l = torch.from_numpy(logits)
    p = torch.softmax(l, dim=1)
    p[:, :n_base] = 0
    p = p / p.sum(dim=1, keepdim=True)
    sub_pred = p.argmax(dim=1)
    q = torch.softmax(l / 0.1, dim=1)
    q[:, :n_base] = 0
    q = q / q.sum(dim=1, keepdim=True)
    P = torch.zeros(N, l.shape[1], dtype=torch.float32)
    for i in range(N):
        idx = np.nonzero(image_index == i)[0]
        if len(idx) == 1:
            P[i] = q[idx[0]]
        else:
            a = torch.from_numpy(area[idx].astype(np.float32))
            w = torch.softmax(torch.sqrt(a) / T, dim=0)
            P[i] = (w[:, None] * q[idx]).sum(dim=0)
    return p.numpy(), sub_pred.numpy(), P.numpy(), P.argmax(dim=1).numpy()


cases = []
for name, N, C, n_base, T, max_crops in [
    ("mvtec_like", 12, 9, 5, 100.0, 4),
    ("mtd_like", 10, 11, 5, 50.0, 6),
    ("no_base", 8, 4, 0, 100.0, 3),
    ("one_novel", 5, 6, 5, 50.0, 2),
    ("big_areas", 6, 8, 3, 50.0, 5),
]:
    counts = rng.integers(1, max_crops + 1, size=N)
    image_index = np.repeat(np.arange(N), counts)
    R = len(image_index)
    logits = rng.uniform(-1, 1, size=(R, C)).astype(np.float32)
    hi = 200000 if name == "big_areas" else 40000
    area = rng.integers(0, hi, size=R)
    cases.append((name, N, C, n_base, T, image_index, area, logits))
# ties: equal logits give the first maximum; equal areas give equal weights
image_index = np.array([0, 0, 1, 2, 2, 2])
logits = np.zeros((6, 5), dtype=np.float32)
logits[1, 3] = 0.5
area = np.array([100, 100, 0, 2500, 2500, 0])
cases.append(("ties", 3, 5, 1, 100.0, image_index, area, logits))

with open(out, "w") as f:
    f.write(f"# torch {torch.__version__}\n")
    for name, N, C, n_base, T, image_index, area, logits in cases:
        p, sp, P, ip = predict(logits, image_index, area, N, n_base, T)
        f.write(f"case {name} {N} {len(image_index)} {C} {n_base} {T:g}\n")
        for r in range(len(image_index)):
            f.write(f"{image_index[r]} {area[r]} " + " ".join(f"{v:.9g}" for v in logits[r]) + "\n")
        for r in range(len(image_index)):
            f.write(f"sub {sp[r]} " + " ".join(f"{v:.9g}" for v in p[r]) + "\n")
        for i in range(N):
            f.write(f"img {ip[i]} " + " ".join(f"{v:.9g}" for v in P[i]) + "\n")
print("wrote", out)
