#!/usr/bin/env python3
"""Golden WideResNet forwards for tests/test_wrn_golden.c and tests/test_wrn_load.c (issue 14,
musc_hetmm_spec §B.4).

The reference is torchvision's own ResNet code (torchvision.models.wide_resnet50_2 / 101_2 and its
Bottleneck), run in float64 in eval mode, so the goldens carry no float32 rounding of their own.
The stage outputs are HETMM's (§B.4, D.3 item 3): the last block of each stage is evaluated
without its final ReLU (HETMM's resnet.py change), and relu(output) is checked here against
torchvision's own stage output.

1. Real architectures, random weights that are not stored: the weights are drawn with ancd's
   counter-based RNG (core/base/rng.c, splitmix64) by the rule of core/model/wideresnet.h
   `wrn_random_weights`, re-implemented below in NumPy, so the C test regenerates exactly the same
   float32 weights from (arch, seed). Files wrn/<arch>.safetensors hold the input and layer1..3.
     wide_resnet50_2:  input [2, 3, 40, 50] (odd, non-square: padding at every edge)
     wide_resnet101_2: input [1, 3, 64, 64]
2. A narrow variant saved WITH its weights in torchvision's key names (wrn/narrow_weights
   .safetensors, fp16, num_batches_tracked int64 included as in a real state_dict, plus a tiny
   layer4 and fc that the loader must ignore): WRN-50-2 at width/8 (stem 8, inner widths
   16/32/64, outputs 32/64/128) with blocks [2, 2, 2], built from torchvision's Bottleneck.
   wrn/narrow.safetensors holds input [2, 3, 64, 48] and layer1..3. The C loader reads the
   weights file and must reproduce these.

Generated with: python 3.11.7, torch 2.15.0, torchvision 0.29.2, safetensors 0.8.0,
numpy 2.4.6. CI never runs this script.
"""
import math
import os

import numpy as np
import safetensors.torch
import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrn")
SEED = 14

# ---------------------------------------------------------------------------------------------
# ancd's RNG (core/base/rng.c) and wrn_random_weights' rule (core/model/wideresnet.h)
# ---------------------------------------------------------------------------------------------
MASK = (1 << 64) - 1


def mix64_int(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def u64_at_int(seed, i):
    return mix64_int((mix64_int(seed) + (i + 1) * 0x9E3779B97F4A7C15) & MASK)


def uniform_at(seed, n):
    """rng_uniform_at(seed, i) for i in [0, n): float64, exactly as C computes it."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(mix64_int(seed)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = mix64(z)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def draw(seed, t, shape, kind, fan_in=0):
    """Tensor t of wrn_random_weights: stream rng_u64_at(seed, t)."""
    u = uniform_at(u64_at_int(seed, t), int(np.prod(shape))).reshape(shape)
    if kind == "conv":
        v = (2.0 * u - 1.0) * math.sqrt(6.0 / fan_in)
    elif kind == "bn_w":
        v = 0.5 + 0.5 * u
    elif kind == "var":
        v = 0.5 + u
    else:  # BN bias, running_mean
        v = (2.0 * u - 1.0) * 0.1
    return v.astype(np.float32)


def random_state(model, seed):
    """Every float tensor up to layer3 in state_dict order, drawn as wrn_random_weights does."""
    sd = model.state_dict()
    t = 0
    with torch.no_grad():
        for k, v in sd.items():
            if k.startswith("layer4") or k.startswith("fc") or k.endswith("num_batches_tracked"):
                continue
            leaf = k.split(".")[-1]
            if v.dim() == 4:
                x = draw(seed, t, tuple(v.shape), "conv", int(np.prod(v.shape[1:])))
            elif leaf == "weight":
                x = draw(seed, t, tuple(v.shape), "bn_w")
            elif leaf == "running_var":
                x = draw(seed, t, tuple(v.shape), "var")
            else:
                assert leaf in ("bias", "running_mean"), k
                x = draw(seed, t, tuple(v.shape), "small")
            v.copy_(torch.from_numpy(x))
            t += 1
    return t


# ---------------------------------------------------------------------------------------------
# The forward: torchvision's modules, HETMM's pre-ReLU stage outputs
# ---------------------------------------------------------------------------------------------
def bottleneck_pre_relu(blk, x):
    """torchvision Bottleneck.forward without its final ReLU (HETMM resnet.py)."""
    out = blk.relu(blk.bn1(blk.conv1(x)))
    out = blk.relu(blk.bn2(blk.conv2(out)))
    out = blk.bn3(blk.conv3(out))
    identity = blk.downsample(x) if blk.downsample is not None else x
    return out + identity


@torch.no_grad()
def stage_outputs(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    outs = []
    for layer in (model.layer1, model.layer2, model.layer3):
        blocks = list(layer)
        ref_in = x
        for blk in blocks[:-1]:
            x = blk(x)
        pre = bottleneck_pre_relu(blocks[-1], x)
        tv = layer(ref_in)  # torchvision's own stage output
        err = (torch.relu(pre) - tv).abs().max().item()
        assert err <= 1e-12 * max(1.0, tv.abs().max().item()), err
        outs.append(pre)
        x = torch.relu(pre)
    return outs


def save(name, tensors, meta):
    path = os.path.join(OUT, name + ".safetensors")
    safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, path,
                                metadata={k: str(v) for k, v in meta.items()})
    print("%-40s %8d bytes" % (path, os.path.getsize(path)))


def golden_real(arch, shape, seed):
    model = getattr(torchvision.models, arch)(weights=None).eval()
    n = random_state(model, seed)
    model = model.double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(shape, generator=g, dtype=torch.float32)
    outs = stage_outputs(model, x.double())
    t = {"input": x}
    for i, o in enumerate(outs):
        t["layer%d" % (i + 1)] = o.float()
        print("  %s layer%d %s |max| %.3g" % (arch, i + 1, tuple(o.shape), o.abs().max().item()))
    save(arch, t, {"arch": arch, "seed": seed, "tensors": n})


# ---------------------------------------------------------------------------------------------
# The narrow variant: torchvision's Bottleneck at width/8, saved with torchvision's key names
# ---------------------------------------------------------------------------------------------
class NarrowResNet(nn.Module):
    """torchvision ResNet's structure and attribute names with planes 8/16/32 (+ a tiny layer4)
    and width_per_group 128 (inner width 2 x planes), as ResNet._make_layer builds them."""

    def __init__(self, blocks=(2, 2, 2, 1), planes=(8, 16, 32, 2), stem=8, classes=10):
        super().__init__()
        self.inplanes = stem
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(planes[0], blocks[0], 1)
        self.layer2 = self._make_layer(planes[1], blocks[1], 2)
        self.layer3 = self._make_layer(planes[2], blocks[2], 2)
        self.layer4 = self._make_layer(planes[3], blocks[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * 4, classes)

    def _make_layer(self, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, down, base_width=128)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, base_width=128) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def golden_narrow(seed):
    torch.manual_seed(seed)
    model = NarrowResNet().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                v.fill_(7)
                continue
            leaf = k.split(".")[-1]
            if v.dim() >= 2:
                std = 1.0 / math.sqrt(np.prod(v.shape[1:]) / 2.0)
                x = torch.randn(v.shape, generator=g) * std
            elif leaf == "running_var":
                x = 0.5 + torch.rand(v.shape, generator=g)
            elif leaf == "weight":
                x = 0.5 + 0.5 * torch.rand(v.shape, generator=g)
            else:
                x = 0.2 * torch.randn(v.shape, generator=g)
            v.copy_(x.half().float())  # stored as fp16: the references use exactly these
    sd = {k: (v if k.endswith("num_batches_tracked") else v.half())
          for k, v in model.state_dict().items()}
    save("narrow_weights", sd, {"format": "pt"})
    model = model.double()
    x = torch.randn((2, 3, 64, 48), generator=g, dtype=torch.float32)
    outs = stage_outputs(model, x.double())
    t = {"input": x}
    for i, o in enumerate(outs):
        t["layer%d" % (i + 1)] = o.float()
        print("  narrow layer%d %s |max| %.3g" % (i + 1, tuple(o.shape), o.abs().max().item()))
    save("narrow", t, {"arch": "narrow", "seed": seed, "weights": "narrow_weights"})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    # The rule's first numbers, pinned in test_wrn_golden.c as a cross-check of the port.
    print("rng_u64_at(14, 0) = 0x%016x" % u64_at_int(SEED, 0))
    golden_real("wide_resnet50_2", (2, 3, 40, 50), SEED)
    golden_real("wide_resnet101_2", (1, 3, 64, 64), SEED)
    golden_narrow(SEED)


if __name__ == "__main__":
    main()
