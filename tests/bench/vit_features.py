#!/usr/bin/env python3
"""Per-image ViT-Ti/16 features of the real anomaly images, the input of bench_k_estimate (issue
"train.n_novel: 0 estimates K"). Not run by ctest.

    python3 tests/bench/vit_features.py [--shared ../shared] [--out build/k_features]

For each set: the 4 categories of shared/data/mvtec_anomalies (folder = true type) and, when
present, MTD's 5 defect classes as whole images (mtd) and as crops around each image's mask
(mtd_crops: the bounding box of mask >= 128, squared, with a 25% margin, at least 32 px, like a
novel crop). Each image: squash-resize to 224 (Pillow bicubic), mean = std = 0.5, the timm
ViT-Ti/16 of shared/data/weights; features after the final norm: the CLS token (cls) and the mean
of the 196 patch tokens (mean). Writes OUT/<set>_<cls|mean>.f32 (raw little-endian float32
[n, 192], row-major), OUT/<set>.labels (one int per line, the type index) and OUT/manifest.txt:
"<set> <feature> <n> <d> <k_true> <file>" per line. torch runs on 1 thread."""
import argparse
import os

import numpy as np
import torch
from PIL import Image


def load_model(weights):
    import timm
    from safetensors.torch import load_file

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=1000)
    model.load_state_dict(load_file(weights))
    return model.eval().float()


def to_tensor(img):
    img = img.convert("RGB").resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - 0.5) / 0.5


def mask_crop(img, mask):
    """The square box around mask >= 128 with a 25% margin, clipped to the image."""
    m = np.asarray(mask.convert("L")) >= 128
    if not m.any():
        return img
    ys, xs = np.nonzero(m)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    side = max(32, 1.25 * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1))
    w, h = img.size
    side = min(side, w, h)
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    return img.crop((x0, y0, x0 + int(side), y0 + int(side)))


@torch.inference_mode()
def features(model, images, batch=16):
    cls, mean = [], []
    for b in range(0, len(images), batch):
        x = torch.stack([to_tensor(im()) for im in images[b:b + batch]])
        t = model.forward_features(x)  # [B, 197, 192] after the final norm
        cls.append(t[:, 0].numpy())
        mean.append(t[:, 1:].mean(1).numpy())
    return np.concatenate(cls), np.concatenate(mean)


def mvtec_sets(root):
    for cat in sorted(os.listdir(root)):
        types = sorted(os.listdir(os.path.join(root, cat)))
        items = [(os.path.join(root, cat, t, f), k) for k, t in enumerate(types)
                 for f in sorted(os.listdir(os.path.join(root, cat, t))) if f.endswith(".png")]
        images = [(lambda p=p: Image.open(p)) for p, _ in items]
        yield cat, len(types), images, [k for _, k in items]


def mtd_sets(root):
    types = ["MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven"]
    items = [(os.path.join(root, t, "Imgs", f), k) for k, t in enumerate(types)
             for f in sorted(os.listdir(os.path.join(root, t, "Imgs"))) if f.endswith(".jpg")]
    labels = [k for _, k in items]
    yield "mtd", len(types), [(lambda p=p: Image.open(p)) for p, _ in items], labels
    crops = [(lambda p=p: mask_crop(Image.open(p), Image.open(p[:-4] + ".png"))) for p, _ in items]
    yield "mtd_crops", len(types), crops, labels


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "build", "k_features"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = os.path.join(args.shared, "data")
    model = load_model(os.path.join(data, "weights", "vit_tiny_patch16_224.safetensors"))
    os.makedirs(args.out, exist_ok=True)
    sets = list(mvtec_sets(os.path.join(data, "mvtec_anomalies")))
    if os.path.isdir(os.path.join(data, "mtd")):
        sets += list(mtd_sets(os.path.join(data, "mtd")))
    lines = []
    for name, k_true, images, labels in sets:
        cls, mean = features(model, images)
        with open(os.path.join(args.out, name + ".labels"), "w") as f:
            f.write("".join(f"{k}\n" for k in labels))
        for feat, x in (("cls", cls), ("mean", mean)):
            fname = f"{name}_{feat}.f32"
            x.astype("<f4").tofile(os.path.join(args.out, fname))
            lines.append(f"{name} {feat} {x.shape[0]} {x.shape[1]} {k_true} {fname}\n")
        print(f"{name}: {len(labels)} images, {k_true} types", flush=True)
    with open(os.path.join(args.out, "manifest.txt"), "w") as f:
        f.write("".join(lines))


if __name__ == "__main__":
    main()
