#!/usr/bin/env python3
"""Golden data for tests/test_augment_golden.c (run from anywhere; writes tests/golden/augment/).

Generated with Pillow 13.0.0, torchvision 0.29.2, torch 2.15.0, NumPy (any).

The AnomalyNCD transforms (anomalyncd_spec §5.7, datasets/transform.py) call torchvision's
functional API on PIL images; every op below is that call at fixed parameters, so the C ops can be
compared one by one, and the whole train transform with all its random choices fixed.

Inputs (deterministic, seeded): rgb40x30.png, rgb64x64.png, rgb300x270.png (RGB: gradients, hard
edges, a saturated patch, noise in one corner) and mask40x30.png, mask64x64.png, mask300x270.png
(L: a blob at 255, a grey ramp). The ops run on the 40x30 image (rotations on the square 64x64);
the resizes cover upscaling a non-square and a square image and downscaling (300x270). The test
transform (resize, crop at 16, 16) is checked against the resize goldens cropped, so it has no
files of its own.
cases.txt, one case per line, fields separated by spaces:
  resize   <in> <out>                       F.resize(img, 256): shorter side 256, bilinear
  hflip    <in> <out>                       F.hflip
  vflip    <in> <out>                       F.vflip
  rotate   <in> <quarter turns> <out>       F.rotate(img, 90 q) of a square image
  brightness|contrast|saturation <in> <factor> <out>   F.adjust_* (ImageEnhance)
  sharpness <in> <factor> <out>             F.adjust_sharpness
  blur     <in> <ksize> <sigma> <out>       F.gaussian_blur(img, [k, k], [sigma, sigma])
  posterize <in> <bits> <out>               F.posterize
  train    <rgb> <mask> top left hflip vflip o1 o2 o3 b c s q sharpness ksize sigma bits
           <out rgb> <out mask>             the train transform with these choices, before ToTensor
Factors are written with repr, so parsing them as double and casting to float gives the float32
PIL computes with (ColorJitter's factors and the blur sigma are float32 draws in torchvision).
to_tensor.f32: float32 little-endian [4, 256]: rows 0-2 = Normalize(ToTensor(v)) of channel c
with ImageNet mean/std for v = 0..255, row 3 = ToTensor(v) (the mask); with the u8 goldens above
this fixes every float the transforms output.
"""
import os

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "augment")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def make_inputs():
    rng = np.random.default_rng(20250710)
    imgs = {}
    # Noise only in part of each image: it exercises the rounding, while the clean parts keep the
    # PNG files (and the upscaled outputs) small.
    for w, h, nw, nh in ((40, 30, 20, 30), (64, 64, 32, 32), (300, 270, 48, 40)):
        y, x = np.mgrid[0:h, 0:w]
        rgb = np.zeros((h, w, 3), np.float64)
        rgb[..., 0] = x * 255.0 / (w - 1)
        rgb[..., 1] = y * 255.0 / (h - 1)
        rgb[..., 2] = np.where(((x * 6 // w) + (y * 5 // h)) % 2 == 0, 230.0, 20.0)
        rgb[h // 3: h // 2, w // 4: w // 2] = (250, 5, 128)  # a saturated patch
        rgb[h - nh:, :nw] += rng.normal(0, 14, (nh, nw, 3))
        rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        mask = np.zeros((h, w), np.float64)
        blob = ((x - 0.6 * w) / (0.25 * w)) ** 2 + ((y - 0.45 * h) / (0.3 * h)) ** 2 < 1
        mask[blob] = 255
        mask[: h // 5, :] = x[: h // 5, :] * 255.0 / (w - 1)  # grey ramp: not binary
        mask = np.clip(np.rint(mask), 0, 255).astype(np.uint8)
        imgs["rgb%dx%d" % (w, h)] = Image.fromarray(rgb, "RGB")
        imgs["mask%dx%d" % (w, h)] = Image.fromarray(mask, "L")
    return imgs


def f32(v):
    """A float32 value as the Python float torchvision passes on."""
    return float(np.float32(v))


def train_fixed(img, mask, p):
    """MVTecTransformWithMaskTrain.__call__ with its random draws replaced by p."""
    img = F.resize(img, size=256)
    mask = F.resize(mask, size=256)
    img = F.crop(img, p["top"], p["left"], 224, 224)
    mask = F.crop(mask, p["top"], p["left"], 224, 224)
    if p["hflip"]:
        img, mask = F.hflip(img), F.hflip(mask)
    if p["vflip"]:
        img, mask = F.vflip(img), F.vflip(mask)
    for op in p["order"]:
        if op == 0:
            img = F.adjust_brightness(img, p["b"])
        elif op == 1:
            img = F.adjust_contrast(img, p["c"])
        else:
            img = F.adjust_saturation(img, p["s"])
    if p["q"]:
        img, mask = F.rotate(img, 90 * p["q"]), F.rotate(mask, 90 * p["q"])
    img = F.adjust_sharpness(img, p["sharp"])
    img = F.gaussian_blur(img, [p["k"], p["k"]], [p["sigma"], p["sigma"]])
    img = F.posterize(img, p["bits"])
    return img, mask


def main():
    assert PIL.__version__.split(".")[0] == "13", "the goldens need Pillow 13"
    os.makedirs(OUT, exist_ok=True)
    imgs = make_inputs()
    for name, im in imgs.items():
        im.save(os.path.join(OUT, name + ".png"))
    lines = []

    def save(im, name):
        im.save(os.path.join(OUT, name))
        return name

    for stem in ("rgb40x30", "mask40x30", "rgb64x64", "mask64x64", "rgb300x270", "mask300x270"):
        out = F.resize(imgs[stem], size=256)
        lines.append("resize %s.png %s" % (stem, save(out, stem + "_resize.png")))
    for op, fn in (("hflip", F.hflip), ("vflip", F.vflip)):
        for stem in ("rgb40x30", "mask40x30"):
            out = fn(imgs[stem])
            lines.append("%s %s.png %s" % (op, stem, save(out, "%s_%s.png" % (stem, op))))
    for q in (1, 2, 3):
        for stem in ("rgb64x64", "mask64x64"):
            out = F.rotate(imgs[stem], 90 * q)
            lines.append("rotate %s.png %d %s" % (stem, q, save(out, "%s_rot%d.png" % (stem, q))))
    enhance = {
        "brightness": (F.adjust_brightness, (f32(0.6), f32(0.83), f32(1.37))),
        "contrast": (F.adjust_contrast, (f32(0.62), f32(1.0), f32(1.4))),
        "saturation": (F.adjust_saturation, (f32(0.71), f32(1.75))),
        "sharpness": (F.adjust_sharpness, (0.2 + 0.1 * 1.8, 1.0, 0.2 + 0.95 * 1.8)),
    }
    for op, (fn, factors) in enhance.items():
        for i, f in enumerate(factors):
            for stem in ("rgb40x30",):
                out = fn(imgs[stem], f)
                name = save(out, "%s_%s%d.png" % (stem, op, i))
                lines.append("%s %s.png %r %s" % (op, stem, f, name))
    for k in (9, 13, 17, 21, 25, 29, 33):
        for j, sigma in enumerate((f32(0.4), f32(1.7))):
            for stem in ("rgb40x30",):
                out = F.gaussian_blur(imgs[stem], [k, k], [sigma, sigma])
                name = save(out, "%s_blur%d_%d.png" % (stem, k, j))
                lines.append("blur %s.png %d %r %s" % (stem, k, sigma, name))
    for bits in (5, 6, 7, 8):
        out = F.posterize(imgs["rgb40x30"], bits)
        lines.append("posterize rgb40x30.png %d %s"
                     % (bits, save(out, "rgb40x30_post%d.png" % bits)))

    params = [
        dict(size="40x30", top=0, left=31, hflip=1, vflip=0, order=(2, 0, 1), b=f32(1.21),
             c=f32(0.74), s=f32(1.62), q=1, sharp=1.93, k=33, sigma=f32(1.1), bits=5),
        dict(size="64x64", top=17, left=3, hflip=0, vflip=1, order=(1, 2, 0), b=f32(0.63),
             c=f32(1.38), s=f32(0.66), q=3, sharp=0.27, k=9, sigma=f32(0.35), bits=8),
        dict(size="300x270", top=31, left=0, hflip=1, vflip=1, order=(0, 1, 2), b=f32(1.02),
             c=f32(0.9), s=f32(1.1), q=2, sharp=1.2, k=21, sigma=f32(1.9), bits=7),
        dict(size="64x64", top=5, left=29, hflip=0, vflip=0, order=(0, 2, 1), b=f32(1.4),
             c=f32(0.6), s=f32(1.8), q=0, sharp=2.0, k=17, sigma=f32(0.1), bits=6),
    ]
    for i, p in enumerate(params):
        img, mask = train_fixed(imgs["rgb" + p["size"]], imgs["mask" + p["size"]], p)
        lines.append("train rgb%s.png mask%s.png %d %d %d %d %d %d %d %r %r %r %d %r %d %r %d %s %s" % (
            p["size"], p["size"], p["top"], p["left"], p["hflip"], p["vflip"], *p["order"],
            p["b"], p["c"], p["s"], p["q"], p["sharp"], p["k"], p["sigma"], p["bits"],
            save(img, "train%d_rgb.png" % i), save(mask, "train%d_mask.png" % i)))

    ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, 2), "RGB")
    norm = F.normalize(F.to_tensor(ramp), mean=MEAN, std=STD)  # [3, 1, 256]
    plain = F.to_tensor(Image.fromarray(np.arange(256, dtype=np.uint8)[None, :], "L"))
    table = torch.cat([norm.reshape(3, 256), plain.reshape(1, 256)]).numpy()
    assert table.dtype == np.float32
    table.astype("<f4").tofile(os.path.join(OUT, "to_tensor.f32"))

    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "Pillow",
          PIL.__version__, "cases", len(lines))


if __name__ == "__main__":
    main()
