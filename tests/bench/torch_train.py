#!/usr/bin/env python3
"""PyTorch CPU counterpart of `ancd bench train`: one AnomalyNCD training step (anomalyncd_spec
§5.5, §10) with the same work and threads, to run side by side. Not run by ctest.

    OMP_NUM_THREADS=2 python3 tests/bench/torch_train.py --threads 2 [--arch vit_base_patch16_224]
        [--batch 8] [--repeat 3] [--grad-from-block 12]

The step: B samples x 2 views (2B rows) of random images at 224 px through timm's
VisionTransformer with mask-guided attention on the CLS query of the last 9 blocks (an additive
-1e9 on row 0 of the scores through scaled_dot_product_attention's attn_mask), blocks before
grad_from_block frozen (no graph kept), the final norm frozen on the path, the projector
768 -> 2048 -> 2048 -> 256 and 4 weight-normalised cosine heads, the §5.5 losses, SGD (momentum
0.9, weight decay 5e-5 on >= 2-D parameters). Masks cover the left half of every crop and every
other sample is a base one, as ancd's bench. FLOPs are counted as core/model/mgvit.c's
mgvit_step_flops (forward + 2 x the trained part's forward)."""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

N_BASE, C, Z, HID, HEADS = 4, 10, 256, 2048, 4


def step_flops(dim, depth, mlp, patch, image, rows, grad_from):
    L = (image // patch) ** 2
    T = L + 1
    block = 2 * T * dim * 3 * dim + 4 * T * T * dim + 2 * T * dim * dim + 4 * T * dim * mlp
    proj = 2 * (dim * HID + HID * HID + HID * Z) + 2 * dim * C * HEADS
    trained = depth - grad_from + 1
    return rows * (2 * L * 3 * patch * patch * dim + depth * block + proj + 2 * (trained * block + proj))


def masked_attention_forward(attn, x, bias):
    """timm's Attention.forward with an additive bias on the CLS query row (anomalyncd §5.3)."""
    B, T, Cd = x.shape
    qkv = attn.qkv(x).reshape(B, T, 3, attn.num_heads, Cd // attn.num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    mask = None
    if bias is not None:
        mask = torch.zeros(B, 1, T, T, dtype=x.dtype)
        mask[:, 0, 0, :] = bias
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return attn.proj(out.transpose(1, 2).reshape(B, T, Cd))


def run_blocks(model, x, bias, mask_from):
    for i, blk in enumerate(model.blocks):
        b = bias if i >= mask_from else None
        x = x + masked_attention_forward(blk.attn, blk.norm1(x), b)
        x = x + blk.mlp(blk.norm2(x))
    return x


def losses(z, logits, is_base, label, score, tau_t):
    """The §5.5 total (written plainly; tests/golden/gen_train_golden.py is the checked one)."""
    n = z.shape[0]
    B = n // 2
    zn = F.normalize(z, dim=1)
    s = zn @ zn.t()
    eye = torch.eye(n, dtype=torch.bool)
    partner = torch.arange(n).roll(B)
    l_con = (-s[torch.arange(n), partner] + torch.logsumexp(s.masked_fill(eye, -1e9), 1)).mean()
    base = torch.cat([is_base, is_base])
    lab = torch.cat([label, label])
    zb, yb = zn[base], lab[base]
    g = zb @ zb.t() / 0.07
    g = g - g.max(1, keepdim=True).values.detach()
    eb = torch.eye(len(yb), dtype=torch.bool)
    pos = (yb[:, None] == yb[None, :]) & ~eb
    logp = g - torch.logsumexp(g.masked_fill(eb, -1e9), 1, keepdim=True)
    l_sup = (-(logp * pos).sum(1) / pos.sum(1)).mean()
    w = torch.clamp(0.5 - score, min=0)[~is_base]
    l_cls = l_clu = 0
    for lg in logits:
        l_cls = l_cls + F.cross_entropy(lg[base] / 0.1, yb)
        nov = torch.cat([~is_base, ~is_base])
        s1, s2 = lg[:B][~is_base], lg[B:][~is_base]
        t = lg.detach()
        u1, u2 = t[:B][~is_base], t[B:][~is_base]

        def target(u):
            p = F.softmax(u[:, N_BASE:] / tau_t, 1)
            q = torch.zeros_like(u)
            q[:, N_BASE:] = (1 - w[:, None]) * p
            q[:, N_BASE] += w
            return q

        dist = 0.5 * ((-target(u1) * F.log_softmax(s2 / 0.1, 1)).sum(1).mean()
                      + (-target(u2) * F.log_softmax(s1 / 0.1, 1)).sum(1).mean())
        pbar = F.softmax(lg[nov] / 0.1, 1).mean(0)
        me = (pbar * torch.log(pbar)).sum() + math.log(C)
        l_clu = l_clu + dist + 4 * me
    l_cls, l_clu = l_cls / HEADS, l_clu / HEADS
    return 0.7 * l_clu + 0.3 * l_cls + 0.7 * l_con + 0.3 * l_sup


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--arch", default="vit_base_patch16_224")
    ap.add_argument("--batch", type=int, default=8, help="samples (2 views each)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--grad-from-block", type=int, default=0, help="1-based; 0: the last block")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    import timm

    torch.manual_seed(0)
    model = timm.create_model(a.arch, pretrained=False, num_classes=0)
    model.eval()  # no dropout; the reference's rates are 0 anyway
    depth, dim = len(model.blocks), model.embed_dim
    mlp = model.blocks[0].mlp.fc1.out_features
    patch = model.patch_embed.patch_size[0]
    grad_from = a.grad_from_block or depth
    first = grad_from - 1
    for p in model.parameters():
        p.requires_grad_(False)
    for blk in model.blocks[first:]:
        for p in blk.parameters():
            p.requires_grad_(True)
    proj = torch.nn.Sequential(torch.nn.Linear(dim, HID), torch.nn.GELU(), torch.nn.Linear(HID, HID),
                               torch.nn.GELU(), torch.nn.Linear(HID, Z))
    heads = torch.nn.ModuleList(
        [torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(dim, C, bias=False)) for _ in range(HEADS)])
    for h in heads:
        h.parametrizations.weight.original0.requires_grad_(False)
        h.parametrizations.weight.original0.fill_(1)
    trainable = [p for p in list(model.parameters()) + list(proj.parameters()) + list(heads.parameters())
                 if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-5}, {"params": no_decay, "weight_decay": 0}],
                          lr=0.003, momentum=0.9)
    B, S = a.batch, 224
    n = 2 * B
    images = torch.rand(n, 3, S, S) * 2 - 1
    g = S // patch
    cover = torch.zeros(g, g)
    cover[:, : g // 2] = 1  # the left half, patch-aligned as ancd's bench masks are
    bias = torch.zeros(n, 1 + g * g)
    bias[:, 1:] = torch.where(cover.flatten() >= 0.5, 0.0, -1e9)
    is_base = torch.arange(B) % 2 == 0
    label = torch.arange(B) % 4
    score = torch.rand(B)
    mask_from = depth - min(9, depth)

    def step():
        with torch.no_grad():
            x = model.patch_embed(images)
            x = model._pos_embed(x)
            for i, blk in enumerate(model.blocks[:first]):
                x = x + masked_attention_forward(blk.attn, blk.norm1(x), bias if i >= mask_from else None)
                x = x + blk.mlp(blk.norm2(x))
        for i, blk in enumerate(model.blocks[first:], start=first):
            x = x + masked_attention_forward(blk.attn, blk.norm1(x), bias if i >= mask_from else None)
            x = x + blk.mlp(blk.norm2(x))
        f = model.norm(x)[:, 0]
        z = proj(f)
        fn = F.normalize(f, dim=1)
        logits = [h(fn) for h in heads]
        loss = losses(z, logits, is_base, label, score, 0.07)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    best = 1e30
    loss = 0.0
    for r in range(a.repeat + 1):
        t0 = time.perf_counter()
        loss = step()
        t = time.perf_counter() - t0
        if r > 0:
            best = min(best, t)
    flops = step_flops(dim, depth, mlp, patch, S, n, grad_from)
    res = {"name": "torch_train_" + a.arch, "threads": torch.get_num_threads(), "batch": B, "rows": n,
           "grad_from_block": grad_from, "seconds": best, "images_per_s": n / best,
           "gflops": flops / best / 1e9, "loss": loss, "torch": torch.__version__}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"torch train {a.arch}: {best:.3f} s per step, {n / best:.2f} images/s, "
              f"{flops / best / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
