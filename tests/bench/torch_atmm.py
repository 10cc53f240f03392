#!/usr/bin/env python3
"""HETMM's ATMM matching of one layer in PyTorch on the CPU (unfold + bmm), the side-by-side
reference for `ancd bench atmm` (issue 14 "speed"). Not run by ctest.

    OMP_NUM_THREADS=2 python3 tests/bench/torch_atmm.py --threads 2 --batch 8 --grid 14 \\
        --dim 192 --sheets 761 --fwd 5 --bwd 3 [--repeat 3] [--chunk 64] [--json]

Forward: the templates unfolded with the f x f window (zero padding marked invalid, so windows
are clipped as in the reference), per position one bmm of the B query vectors against the K f^2
window vectors, max. Backward: the queries unfolded with the b x b window, per position one bmm of
the K template vectors against the B b^2 window vectors, max. Templates go in chunks of --chunk
sheets (a running max) to bound memory. GFLOP/s counts the spec's h^2 K C (f^2 + b^2) multiply-adds
per image, as `ancd bench atmm` reports in "effective GFLOP/s"."""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def unfold(x, win):
    """x [N, C, H, W] -> [P, C, N * win^2] window vectors per position, and valid [P, N * win^2]."""
    N, C, H, W = x.shape
    d = win // 2
    u = F.unfold(x, win, padding=d).view(N, C, win * win, H * W)
    valid = F.unfold(torch.ones(1, 1, H, W), win, padding=d).view(win * win, H * W) > 0
    u = u.permute(3, 1, 0, 2).reshape(H * W, C, N * win * win)
    valid = valid.t()[:, None, :].expand(H * W, N, win * win).reshape(H * W, N * win * win)
    return u, valid


def atmm(Q, T, f, b, chunk):
    """Q [B, C, H, W], T [K, C, H, W] unit vectors -> (forward, backward) max similarity [B, H*W]."""
    B, C, H, W = Q.shape
    P = H * W
    q = Q.reshape(B, C, P).permute(2, 0, 1)  # [P, B, C]
    fwd = torch.full((P, B), -1.0)
    bwd = torch.full((P, B), -1.0)
    qu, qvalid = unfold(Q, b)  # [P, C, B b^2]
    for k0 in range(0, T.shape[0], chunk):
        Tk = T[k0:k0 + chunk]
        Kc = Tk.shape[0]
        tu, tvalid = unfold(Tk, f)  # [P, C, Kc f^2]
        s = torch.bmm(q, tu).masked_fill(~tvalid[:, None, :], float("-inf"))  # [P, B, Kc f^2]
        fwd = torch.maximum(fwd, s.amax(dim=2))
        t = Tk.reshape(Kc, C, P).permute(2, 0, 1)  # [P, Kc, C]
        s = torch.bmm(t, qu).masked_fill(~qvalid[:, None, :], float("-inf"))  # [P, Kc, B b^2]
        bwd = torch.maximum(bwd, s.view(P, Kc, B, b * b).amax(dim=(1, 3)))
    return fwd.t(), bwd.t()


def window_mask(H, W, win):
    """[P, P] True where positions p and u are within the win x win window of each other."""
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    y, x = y.reshape(-1), x.reshape(-1)
    d = win // 2
    return ((y[:, None] - y[None, :]).abs() <= d) & ((x[:, None] - x[None, :]).abs() <= d)


def atmm_gram(Q, T, f, b, chunk):
    """The dense alternative: one GEMM of all query pixels against all template pixels of a chunk
    of sheets ([B P, Kc P]), then the windowed maxima through [P, P] masks. More multiply-adds
    (P^2 per sheet instead of P (f^2 + b^2)) but one large GEMM."""
    B, C, H, W = Q.shape
    P = H * W
    q = Q.reshape(B, C, P).permute(0, 2, 1).reshape(B * P, C)
    mf, mb = window_mask(H, W, f), window_mask(H, W, b)
    fwd = torch.full((B, P), -1.0)
    bwd = torch.full((B, P), -1.0)
    for k0 in range(0, T.shape[0], chunk):
        Tk = T[k0:k0 + chunk]
        Kc = Tk.shape[0]
        t = Tk.reshape(Kc, C, P).permute(0, 2, 1).reshape(Kc * P, C)
        g = (q @ t.t()).view(B, P, Kc, P).amax(dim=2)  # [B, P query, P template]
        fwd = torch.maximum(fwd, g.masked_fill(~mf, float("-inf")).amax(dim=2))
        bwd = torch.maximum(bwd, g.masked_fill(~mb, float("-inf")).amax(dim=1))
    return fwd, bwd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--grid", type=int, default=14)
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--sheets", type=int, default=761)
    ap.add_argument("--fwd", type=int, default=5)
    ap.add_argument("--bwd", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--method", choices=["unfold", "gram"], default="unfold",
                    help="unfold + bmm per position (default), or one dense GEMM per sheet chunk")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    fn = atmm if a.method == "unfold" else atmm_gram
    if a.threads:
        torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    Q = F.normalize(torch.randn(a.batch, a.dim, a.grid, a.grid, generator=g), dim=1)
    T = F.normalize(torch.randn(a.sheets, a.dim, a.grid, a.grid, generator=g), dim=1)
    with torch.no_grad():
        fn(Q, T, a.fwd, a.bwd, a.chunk)  # warm-up
        best = float("inf")
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            fn(Q, T, a.fwd, a.bwd, a.chunk)
            best = min(best, time.perf_counter() - t0)
    macs = a.batch * a.grid ** 2 * a.sheets * a.dim * (a.fwd ** 2 + a.bwd ** 2)
    res = {"name": "torch_atmm_" + a.method, "batch": a.batch, "grid": a.grid, "dim": a.dim,
           "sheets": a.sheets, "fwd": a.fwd, "bwd": a.bwd, "threads": torch.get_num_threads(),
           "seconds": best, "ms_per_image": best / a.batch * 1e3,
           "effective_gflops": 2 * macs / best / 1e9}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"torch atmm ({a.method}): {res['ms_per_image']:.2f} ms per image, "
              f"{res['effective_gflops']:.1f} effective GFLOP/s ({res['threads']} threads)")


if __name__ == "__main__":
    main()
