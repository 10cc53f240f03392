#!/usr/bin/env python3
"""What ViT-Ti/16 can tell apart in ../shared/data/mvtec_anomalies, with the labels (issue 11).

Class discovery is scored by NMI against the defect types. This script measures how high NMI gets
when the types are *given*: supervised classifiers under 5-fold stratified cross-validation, their
held-out predictions scored by NMI exactly as the unsupervised clusters are. An unsupervised method
on the same backbone and images is not expected to beat it. Per category:
  - k-means at the number of types (3 seeds, n_init 10), the issue's baseline;
  - linear probes (logistic regression, C = 0.1 / 1 / 10 / 100), RBF SVM, 5-NN on frozen features;
  - fine-tuning: blocks 11-12, the final LayerNorm and a linear head, AdamW lr 1e-4, 60 epochs.
Features: CLS and mean of patch tokens after block 9 and after the final LayerNorm, L2-normalised.
Preprocessing as the issue's baseline: 224 px bicubic, mean = std = 0.5.

  python3 tests/bench/ncd_supervised_bound.py [--data DIR] [--weights FILE] [--threads 2]
"""
import argparse
import copy
import glob
import os

import numpy as np
import timm
import torch
from PIL import Image
from safetensors.torch import load_file
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

here = os.path.dirname(os.path.abspath(__file__))
shared = os.path.join(here, "..", "..", "..", "shared", "data")
ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--data", default=os.path.join(shared, "mvtec_anomalies"))
ap.add_argument("--weights", default=os.path.join(shared, "weights", "vit_tiny_patch16_224.safetensors"))
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--epochs", type=int, default=60, help="fine-tuning epochs")
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
model.load_state_dict(load_file(args.weights))
model.eval()
folds = StratifiedKFold(5, shuffle=True, random_state=0)


def load(path):
    im = Image.open(path).convert("RGB").resize((224, 224), Image.BICUBIC)
    x = torch.tensor(np.asarray(im), dtype=torch.float32).permute(2, 0, 1) / 255
    return (x - 0.5) / 0.5


def fine_tune(tokens, y, n_types):
    """Held-out predictions of blocks 11-12 + norm + a linear head trained on the other folds."""
    pred = np.zeros_like(y)
    for tr, te in folds.split(y, y):
        body = copy.deepcopy(torch.nn.Sequential(model.blocks[10], model.blocks[11], model.norm))
        head = torch.nn.Linear(model.embed_dim, n_types)
        opt = torch.optim.AdamW(list(body.parameters()) + list(head.parameters()), lr=1e-4,
                                weight_decay=0.05)
        for _ in range(args.epochs):
            perm = torch.tensor(tr)[torch.randperm(len(tr))]
            for i in range(0, len(tr), 16):
                idx = perm[i:i + 16]
                loss = torch.nn.functional.cross_entropy(head(body(tokens[idx])[:, 0]),
                                                         torch.tensor(y)[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            pred[te] = head(body(tokens[te])[:, 0]).argmax(1).numpy()
    return pred


rows = {}
for cat in sorted(os.listdir(args.data)):
    files = sorted(glob.glob(os.path.join(args.data, cat, "*", "*.png")))
    names = [f.split(os.sep)[-2] for f in files]
    types = sorted(set(names))
    y = np.array([types.index(n) for n in names])
    x = torch.stack([load(f) for f in files])
    feats = {}
    with torch.no_grad():
        t = model._pos_embed(model.patch_embed(x))
        for i, blk in enumerate(model.blocks):
            t = blk(t)
            if i + 1 == 10:
                tokens10 = t.clone()
            if i + 1 in (9, 12):
                u = model.norm(t) if i + 1 == 12 else t
                feats[f"block{i + 1} CLS"] = u[:, 0].numpy()
                feats[f"block{i + 1} mean"] = u[:, 1:].mean(1).numpy()
    r = rows[cat] = {}
    for name, f in feats.items():
        f = f / np.linalg.norm(f, axis=1, keepdims=True)
        r[f"k-means, {name}"] = np.mean([
            nmi(y, KMeans(len(types), n_init=10, random_state=s).fit_predict(f)) for s in range(3)])
        for label, clf in [("logreg C=0.1", LogisticRegression(C=0.1, max_iter=3000)),
                           ("logreg C=1", LogisticRegression(C=1, max_iter=3000)),
                           ("logreg C=10", LogisticRegression(C=10, max_iter=3000)),
                           ("logreg C=100", LogisticRegression(C=100, max_iter=3000)),
                           ("SVM", SVC(C=10)), ("5-NN", KNeighborsClassifier(5))]:
            r[f"supervised {label}, {name}"] = nmi(y, cross_val_predict(clf, f, y, cv=folds))
    r["supervised fine-tuning, blocks 11-12"] = nmi(y, fine_tune(tokens10, y, len(types)))
    print(f"{cat}: {len(y)} images, {len(types)} types", flush=True)

cats = sorted(rows)
print(f"\n| NMI | {' | '.join(cats)} | mean |\n|---|{'---:|' * (len(cats) + 1)}")
for key in rows[cats[0]]:
    v = [rows[c][key] for c in cats]
    print(f"| {key} | {' | '.join(f'{a:.3f}' for a in v)} | {np.mean(v):.3f} |")
best = [max(v for k, v in rows[c].items() if k.startswith("supervised")) for c in cats]
print(f"| best supervised row per category (chosen with hindsight) | "
      f"{' | '.join(f'{a:.3f}' for a in best)} | {np.mean(best):.3f} |")
