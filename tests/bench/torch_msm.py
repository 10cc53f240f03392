#!/usr/bin/env python3
"""MuSc's mutual scoring the reference's way in PyTorch on the CPU (musc spec §A.6.4), the
side-by-side reference for `ancd bench msm` (issue 4 "Speed and memory"). Not run by ctest.

    OMP_NUM_THREADS=2 python3 tests/bench/torch_msm.py --threads 2 --n 200 --patches 1369 \\
        --dim 1024 --queries 2 [--repeat 1] [--json]

For each scored image i < Q: Z_ref = the other N - 1 images concatenated ((N-1) L x C, a fresh copy
as in the reference), torch.cdist(Z_i, Z_ref) -> L x (N-1) L, reshape L x (N-1) x L, min over the
last axis, topk of the K = int((N-1) * 0.3) smallest, topk of those K largest (the reference's
second topk with topmin_min = 0), mean. Every image computes its N - 1 pairs itself, so the time
per scored image is the same for Q = 2 and for the full pool. GFLOP/s counts 2 L^2 C per pair,
as ancd does."""
import argparse
import json
import time

import torch


def score_image(Z, i, k):
    N, L, C = Z.shape
    Z_ref = torch.cat((Z[:i], Z[i + 1:]), dim=0).reshape(-1, C)
    d = torch.cdist(Z[i:i + 1], Z_ref.unsqueeze(0))[0]  # L x (N-1)L, the GEMM path for these sizes
    d = d.reshape(L, N - 1, L).min(dim=-1)[0]  # L x (N-1)
    vals = torch.topk(d, k, dim=1, largest=False, sorted=True)[0]
    vals = torch.topk(vals, k, dim=1, largest=True, sorted=True)[0]
    return vals.mean(dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--patches", type=int, default=1369)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=2, help="images scored (default 2)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs after a one-image warm-up")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    N, L, C, Q = args.n, args.patches, args.dim, args.queries
    k = max(1, int((N - 1) * 0.3))
    gen = torch.Generator().manual_seed(0)
    Z = torch.rand(N, L, C, generator=gen) * 2 - 1
    Z /= Z.norm(dim=-1, keepdim=True)
    best = float("inf")
    with torch.inference_mode():
        score_image(Z, 0, k)  # warm-up
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for i in range(Q):
                s = score_image(Z, i, k)
            best = min(best, time.perf_counter() - t0)
    assert torch.isfinite(s).all()
    ms = best / Q * 1e3
    gflops = 2.0 * L * L * C * (N - 1) * Q / best / 1e9
    if args.json:
        print(json.dumps({"name": "torch_msm", "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "n": N, "patches": L, "dim": C,
                          "queries": Q, "k": k, "seconds": best, "ms_per_query": ms,
                          "gflops": gflops}))
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: msm n={N} "
              f"patches={L} dim={C} queries={Q} k={k}: {best:.3f} s, {ms:.1f} ms per scored "
              f"image, {gflops:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
