#!/usr/bin/env python3
"""PyTorch CPU forward of torchvision's wide_resnet50_2 to layer3 (random weights, fp32, eval),
the side-by-side reference for build/tests/bench_wrn (issue 14 "Speed"). Not run by ctest.

    OMP_NUM_THREADS=2 python3 tests/bench/torch_wrn.py --threads 2 [--size 256] [--batch 1]

Runs the trunk as HETMM does (stem, layer1..3; layer4 skipped as ancd skips it) and, like
bench_wrn, L2-normalises the three outputs per pixel. Prints the best and median ms per image
and GFLOP/s with the FLOP count of wrn_flops() (convs only, 2 per multiply-add)."""
import argparse
import time

import torch
import torch.nn.functional as F
import torchvision


def wrn_flops(model, size):
    """2 * Ho * Wo * Cout * Cin * k * k over every conv up to layer3, as core/model wrn_flops."""
    total = 0
    hooks = []

    def hook(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total += 2 * out.shape[2] * out.shape[3] * mod.out_channels * mod.in_channels * k

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Conv2d) and not name.startswith("layer4"):
            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        trunk(model, torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return total


def trunk(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    outs = []
    for layer in (model.layer1, model.layer2, model.layer3):
        x = layer(x)
        outs.append(F.normalize(x, p=2, dim=1))
    return outs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--arch", default="wide_resnet50_2")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model = getattr(torchvision.models, args.arch)(weights=None).eval()
    flops = wrn_flops(model, args.size)
    x = torch.randn(args.batch, 3, args.size, args.size)
    times = []
    with torch.no_grad():
        trunk(model, x)  # warm-up
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            trunk(model, x)
            times.append(time.perf_counter() - t0)
    times.sort()
    best, med = times[0], times[len(times) // 2]
    print("torch %s %s %dx%d batch %d threads %d: best %.1f ms/image (%.1f GFLOP/s), median %.1f "
          "ms/image, %.2f GFLOP/image" % (torch.__version__, args.arch, args.size, args.size,
                                          args.batch, torch.get_num_threads(),
                                          1e3 * best / args.batch,
                                          flops * args.batch / best / 1e9,
                                          1e3 * med / args.batch, flops / 1e9))


if __name__ == "__main__":
    main()
