#!/usr/bin/env python3
"""Independent MuSc reference (musc_hetmm_spec Part A) for the real-data parity test
tests/real_detect_mtd.c: what `ancd detect -c configs/mtd.yaml --set backbone.weights=<ViT-Ti>`
computes, written from the spec with NumPy / PyTorch / timm / scikit-learn / scikit-image.

Generated with: python 3.11.7, torch 2.15.0, timm 1.0.31, numpy 2.4.6, Pillow 13.0.0,
scikit-learn 1.9.1, scikit-image 0.26.0.  CI never runs this script.

    python3 tests/golden/musc_ref.py --mtd ../shared/data/mtd \
        --weights ../shared/data/weights/vit_tiny_patch16_224.safetensors \
        --out tests/golden/musc_mtd60 [--dump DIR]

Subset (--out/subset.txt): the first 10 test images (sorted by file name) of each of the six MTD
classes, MT_Free restricted to images not in mtd_train_filenames.txt; 60 images scored together
as one MuSc set (N = 60, K = int(59 * 0.3) = 17).

Pipeline, configs/mtd.yaml with the ViT-Ti weights (backbone.mean/std unset: ImageNet's):
  image   RGB, squash-resize to 224 x 224 with Pillow BILINEAR in Pillow <= 12's pass order
          (horizontal then vertical, uint8 between the passes), /255, ImageNet mean/std.   §A.4.1
  ViT     timm vit_tiny_patch16_224, fp32, eval. Taps: blocks 3, 6, 9, 12 (1-based) through the
          final LayerNorm, CLS included; embed = final-LN CLS (not L2-normalised).          §A.4.2
  LNAMD   per image LayerNorm([C, h, h]) eps 1e-5 without affine, r x r box mean with zero
          padding counted, per-patch L2 normalisation without eps; r in [1, 3, 5].          §A.5
  MSM     per image torch.cdist against all other images' patches, min over patches, mean of
          the K smallest in fp32; mean over layers then over r (float64).                   §A.6
  map     bilinear align_corners=True upsampling 14 -> 224 in float64; score = max.        §A.6.3
  RsCIN   windows [1, 2, 3] on the final-LN CLS features.                                   §A.7
  masks   gray, binarised at >= 128 (0/255), resized with Pillow BILINEAR (old pass order),
          positive iff == 255; MT_Free images: all zero.
  metrics sklearn AUROC / AP / F1-max on the RsCIN scores and on all pixels; AUPRO.         §A.8

expected.txt ('#' lines are comments):
  image <relative path> <raw score> <rscin score>     (17 significant digits, subset order)
  metric <name> <value>                               auroc_cls f1max_cls ap_cls auroc_px
                                                      f1max_px ap_px aupro
--dump DIR writes intermediates of the first image of the subset for debugging (.npy files):
  input, taps, embed, lnamd per (layer, r), msm per (layer, r), grid, map.
"""
import argparse
import os

import numpy as np
import safetensors.torch
import skimage.measure
import sklearn.metrics
import timm
import torch
import torch.nn.functional as F
from PIL import Image

SIZE = 224
LAYERS = (3, 6, 9, 12)  # 1-based block numbers
R_LIST = (1, 3, 5)
TOPMIN_MAX = 0.3
RSCIN_WINDOWS = (1, 2, 3)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CLASSES = ("MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Free", "MT_Uneven")
PER_CLASS = 10
METRICS = ("auroc_cls", "f1max_cls", "ap_cls", "auroc_px", "f1max_px", "ap_px", "aupro")


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def select_subset(root):
    """The first PER_CLASS test images of every class, sorted by file name."""
    with open(os.path.join(root, "mtd_train_filenames.txt")) as f:
        train = {os.path.basename(l.strip()) for l in f if l.strip()}
    subset = []
    for cls in CLASSES:
        names = sorted(n for n in os.listdir(os.path.join(root, cls, "Imgs"))
                       if not n.lower().endswith(".png"))
        if cls == "MT_Free":
            names = [n for n in names if n not in train]
        subset += [f"{cls}/Imgs/{n}" for n in names[:PER_CLASS]]
    return subset


def resize_bilinear_pil12(img, w, h):
    """Pillow <= 12 BILINEAR: the horizontal pass, rounded to uint8, then the vertical pass.
    Two single-axis resizes do exactly that whatever order Pillow 13 would choose."""
    if img.size[0] != w:
        img = img.resize((w, img.size[1]), Image.BILINEAR)
    if img.size[1] != h:
        img = img.resize((w, h), Image.BILINEAR)
    return img


def check_resize_emulation(img):
    """Pillow 13 keeps the horizontal-first order unless the height shrinks by more than twice
    as many pixels as the width; on such an image the direct resize must equal the emulation."""
    w, h = img.size
    if (h - SIZE) > 2 * (w - SIZE):
        return False
    direct = np.asarray(img.resize((SIZE, SIZE), Image.BILINEAR))
    two_pass = np.asarray(resize_bilinear_pil12(img, SIZE, SIZE))
    assert np.array_equal(direct, two_pass), "two-pass emulation differs from Pillow's resize"
    return True


def load_image(path):
    img = Image.open(path).convert("RGB")
    x = np.asarray(resize_bilinear_pil12(img, SIZE, SIZE), dtype=np.float32) / np.float32(255)
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return x.transpose(2, 0, 1).copy()  # [3, S, S]


def load_mask(path):
    m = np.asarray(Image.open(path).convert("L"))
    binary = Image.fromarray(np.where(m >= 128, 255, 0).astype(np.uint8), "L")
    return (np.asarray(resize_bilinear_pil12(binary, SIZE, SIZE)) == 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Backbone (§A.4)
# ---------------------------------------------------------------------------------------------
def load_model(weights):
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    model.load_state_dict(safetensors.torch.load_file(weights), strict=True)
    return model.float().eval()


@torch.no_grad()
def extract(model, images, batch=8):
    """taps: {block: [N, 1+L, C]} through the final norm; embed [N, C] final-LN CLS."""
    taps = {b: [] for b in LAYERS}
    embeds = []
    for s in range(0, len(images), batch):
        x = torch.from_numpy(np.stack(images[s:s + batch]))
        x = model.patch_embed(x)
        x = model._pos_embed(x)
        x = model.norm_pre(x)
        for b, block in enumerate(model.blocks, start=1):
            x = block(x)
            if b in taps:
                taps[b].append(model.norm(x))
        embeds.append(model.norm(x)[:, 0])
        # The taps above must be what forward_features gives at the last block.
        assert torch.equal(model.forward_features(torch.from_numpy(np.stack(images[s:s + batch])))[:, 0],
                           embeds[-1])
    return {b: torch.cat(v) for b, v in taps.items()}, torch.cat(embeds)


# ---------------------------------------------------------------------------------------------
# LNAMD (§A.5), MSM (§A.6), map (§A.6.3), RsCIN (§A.7)
# ---------------------------------------------------------------------------------------------
def lnamd(tokens, r):
    """tokens [N, 1+L, C] -> unit patch features [N, L, C]."""
    n, t, c = tokens.shape
    h = int(round((t - 1) ** 0.5))
    grid = tokens[:, 1:, :].reshape(n, h, h, c).permute(0, 3, 1, 2)  # [N, C, h, h]
    grid = torch.nn.LayerNorm([c, h, h], eps=1e-5, elementwise_affine=False)(grid)
    if r > 1:
        grid = F.avg_pool2d(grid, r, stride=1, padding=r // 2, count_include_pad=True)
    feats = grid.permute(0, 2, 3, 1).reshape(n, h * h, c)
    return feats / feats.norm(dim=-1, keepdim=True)


def lnamd_unfold(tokens, r):
    """The reference's own form (unfold + adaptive average pooling of the C*r*r vector down to C
    bins), used once to check lnamd()."""
    n, t, c = tokens.shape
    h = int(round((t - 1) ** 0.5))
    grid = tokens[:, 1:, :].reshape(n, h, h, c).permute(0, 3, 1, 2)
    grid = torch.nn.LayerNorm([c, h, h], eps=1e-5, elementwise_affine=False)(grid)
    cols = F.unfold(grid, kernel_size=r, padding=(r - 1) // 2, stride=1)  # [N, C*r*r, L]
    cols = cols.permute(0, 2, 1).reshape(n * h * h, 1, c * r * r)
    feats = F.adaptive_avg_pool1d(cols, c).reshape(n, h * h, c)
    return feats / feats.norm(dim=-1, keepdim=True)


def msm(z, k):
    """z [N, L, C] unit rows -> [N, L] float64: per patch, mean of the k smallest over j != i of
    min_q |z_i,p - z_j,q|, the way the reference batches it (§A.6.4)."""
    n, L, c = z.shape
    out = []
    for i in range(n):
        others = torch.cat([z[:i], z[i + 1:]]).reshape(-1, c)
        d = torch.cdist(z[i], others)  # [L, (N-1) L]
        d = d.reshape(L, n - 1, L).min(dim=-1).values  # [L, N-1]
        out.append(torch.topk(d, k, dim=-1, largest=False).values.mean(dim=-1).double())
    return torch.stack(out)


def upsample(grid):
    """grid [N, L] float64 -> maps [N, S, S] float64 (bilinear, align_corners=True)."""
    n, L = grid.shape
    h = int(round(L ** 0.5))
    return F.interpolate(grid.reshape(n, 1, h, h), size=(SIZE, SIZE), mode="bilinear",
                         align_corners=True)[:, 0]


def rscin(scores, feats, windows):
    """scores [N] float64, feats [N, D] float32 -> re-scored [N] float32."""
    s = (scores - scores.min()) / (scores.max() - scores.min())
    w = torch.from_numpy(feats @ feats.T).float()
    s = torch.from_numpy(s).float()
    n = w.shape[0]
    out = []
    for k in windows:
        drop = torch.topk(w, n - k, dim=1, largest=False).indices  # all but the k largest
        keep = torch.ones_like(w, dtype=torch.bool).scatter_(1, drop, False)
        wk = torch.where(keep, w, torch.zeros_like(w))
        out.append((wk @ s) / wk.sum(dim=1))
    return torch.stack(out, dim=-1).mean(dim=-1).numpy()


# ---------------------------------------------------------------------------------------------
# Metrics (§A.8)
# ---------------------------------------------------------------------------------------------
def f1_max(labels, scores):
    p, r, _ = sklearn.metrics.precision_recall_curve(labels, scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = 2 * p * r / (p + r)
    return float(np.max(f1[np.isfinite(f1)]))


def aupro(masks, maps, max_step=200, expect_fpr=0.3):
    regions = [skimage.measure.label(m) for m in masks]  # default: 8-connected in 2-D
    # One global region id per (image, region); 0 = background.
    region_id = np.zeros(masks.shape, np.int64)
    n_regions = 0
    for i, lab in enumerate(regions):
        region_id[i] = np.where(lab > 0, lab + n_regions, 0)
        n_regions += int(lab.max())
    region_id = region_id.ravel()
    area = np.bincount(region_id, minlength=n_regions + 1)[1:]
    neg = masks.ravel() == 0
    n_neg = neg.sum()
    flat = maps.ravel()
    lo, hi = flat.min(), flat.max()
    delta = (hi - lo) / max_step
    pros, fprs = [], []
    for th in np.arange(lo, hi, delta):
        binary = flat > th
        hit = np.bincount(region_id[binary], minlength=n_regions + 1)[1:]
        pros.append(np.mean(hit / area))
        fprs.append(np.logical_and(binary, neg).sum() / n_neg)
    pros, fprs = np.asarray(pros), np.asarray(fprs)
    keep = fprs < expect_fpr
    fprs = fprs[keep]
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    return float(sklearn.metrics.auc(fprs, pros[keep]))


def compute_metrics(labels, scores, masks, maps):
    px_gt, px = masks.ravel(), maps.ravel()
    return {
        "auroc_cls": float(sklearn.metrics.roc_auc_score(labels, scores)),
        "f1max_cls": f1_max(labels, scores),
        "ap_cls": float(sklearn.metrics.average_precision_score(labels, scores)),
        "auroc_px": float(sklearn.metrics.roc_auc_score(px_gt, px)),
        "f1max_px": f1_max(px_gt, px),
        "ap_px": float(sklearn.metrics.average_precision_score(px_gt, px)),
        "aupro": aupro(masks, maps),
    }


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mtd", required=True, help="MTD root (MT_<Class>/Imgs, train list)")
    ap.add_argument("--weights", required=True, help="vit_tiny_patch16_224.safetensors")
    ap.add_argument("--out", required=True, help="folder for subset.txt and expected.txt")
    ap.add_argument("--subset", help="read the image list from this file instead of selecting")
    ap.add_argument("--dump", help="folder for the first image's intermediates (.npy)")
    args = ap.parse_args()
    torch.manual_seed(0)

    if args.subset:
        with open(args.subset) as f:
            subset = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    else:
        subset = select_subset(args.mtd)
    n = len(subset)
    assert n >= 5, "K = int((N-1) * 0.3) must be >= 1"
    k = int((n - 1) * TOPMIN_MAX)

    images, labels, masks = [], [], []
    n_checked = 0
    for rel in subset:
        path = os.path.join(args.mtd, rel)
        images.append(load_image(path))
        anomalous = not rel.startswith("MT_Free/")
        labels.append(int(anomalous))
        masks.append(load_mask(os.path.splitext(path)[0] + ".png") if anomalous
                     else np.zeros((SIZE, SIZE), np.uint8))
        if n_checked < 3:
            n_checked += check_resize_emulation(Image.open(path).convert("RGB"))
    assert n_checked > 0, "no image could check the resize emulation"
    labels, masks = np.asarray(labels), np.stack(masks)

    model = load_model(args.weights)
    taps, embed = extract(model, images)

    grid = torch.zeros(n, (SIZE // 16) ** 2, dtype=torch.float64)
    dump = {}
    for r in R_LIST:
        per_r = torch.zeros_like(grid)
        for b in LAYERS:
            z = lnamd(taps[b], r)
            if b == LAYERS[0] and r == 3:
                assert torch.allclose(z, lnamd_unfold(taps[b], r), atol=1e-6)
            a = msm(z, k)
            per_r += a / len(LAYERS)
            dump[f"lnamd_l{b}_r{r}"] = z[0].numpy()
            dump[f"msm_l{b}_r{r}"] = a[0].numpy()
        grid += per_r / len(R_LIST)
    maps = upsample(grid)
    scores = maps.reshape(n, -1).max(dim=1).values.numpy()
    rs = rscin(scores, embed.numpy(), RSCIN_WINDOWS)
    metrics = compute_metrics(labels, rs, masks, maps.numpy())

    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        dump.update(input=images[0], embed=embed[0].numpy(), grid=grid[0].numpy(),
                    map=maps[0].numpy())
        for b in LAYERS:
            dump[f"tap_l{b}"] = taps[b][0].numpy()
        for name, v in dump.items():
            np.save(os.path.join(args.dump, name + ".npy"), np.ascontiguousarray(v))

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "subset.txt"), "w") as f:
        f.write("".join(rel + "\n" for rel in subset))
    with open(os.path.join(args.out, "expected.txt"), "w") as f:
        f.write("# tests/golden/musc_ref.py: MuSc on the MTD subset, ViT-Ti/16 224 px, layers "
                "3 6 9 12, r 1 3 5, K %d, RsCIN [1,2,3]\n" % k)
        f.write("# image <path> <raw score> <rscin score>; metric <name> <value>\n")
        for rel, s, t in zip(subset, scores, rs):
            f.write("image %s %.17g %.17g\n" % (rel, s, t))
        for name in METRICS:
            f.write("metric %s %.17g\n" % (name, metrics[name]))
    for name in METRICS:
        print(f"{name:10s} {metrics[name]:.6f}")


if __name__ == "__main__":
    main()
