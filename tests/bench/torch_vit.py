#!/usr/bin/env python3
"""PyTorch CPU forward of ViT-B/16 @224 (random weights, fp32, batch 8), the side-by-side
reference for `ancd bench vit` (issue 3 "Speed"). Not run by ctest.

    OMP_NUM_THREADS=2 python3 tests/bench/torch_vit.py --threads 2 [--batch 8] [--repeat 3]

Uses timm's vit_base_patch16_224 when timm is installed, else torchvision's vit_b_16 (the same
architecture). Prints images/s and GFLOP/s with the same FLOP count as vit_flops()."""
import argparse
import json
import time

import torch


def vit_flops(dim=768, depth=12, patch=16, image=224, mlp=3072, classes=1000):
    """GEMM FLOPs of one image, counted as core/vit.c vit_flops does (2 per multiply-add)."""
    L = (image // patch) ** 2
    T = L + 1
    block = 2 * T * dim * 3 * dim + 4 * T * T * dim + 2 * T * dim * dim + 4 * T * dim * mlp
    return 2 * L * 3 * patch * patch * dim + depth * block + 2 * dim * classes


def build_model(name):
    try:
        import timm

        return timm.create_model(name, pretrained=False), "timm " + timm.__version__
    except ImportError:
        import torchvision

        return torchvision.models.vit_b_16(weights=None), "torchvision " + torchvision.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="vit_base_patch16_224")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, source = build_model(args.model)
    model = model.eval().float()
    x = torch.rand(args.batch, 3, 224, 224) * 2 - 1
    best = float("inf")
    with torch.inference_mode():
        model(x)  # warm-up
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t0)
    # The FLOPs of the model that ran (vit_flops()'s defaults are ViT-B/16's).
    dim = getattr(model, "embed_dim", 768)
    depth = len(getattr(model, "blocks", range(12)))
    gflops = vit_flops(dim=dim, depth=depth, mlp=4 * dim) * args.batch / best / 1e9
    if args.json:
        print(json.dumps({"name": "torch_" + args.model, "source": source, "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "batch": args.batch, "seconds": best,
                          "images_per_s": args.batch / best, "gflops": gflops}))
    else:
        print(f"torch {torch.__version__} ({source}), {torch.get_num_threads()} threads: "
              f"{args.model} batch {args.batch}: {best:.4f} s, {args.batch / best:.2f} images/s, "
              f"{gflops:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
