#!/usr/bin/env python3
"""Golden AnomalyNCD training step (issue 9; anomalyncd_spec §5.1-§5.6, §11, §13).

An independent PyTorch reference of one MGRL step of AnomalyNCD (mask-guided ViT, shared
projector, 4 weight-normalised cosine heads, InfoNCE + SupCon + CE + corrected self-distillation
+ mean-entropy) and of 3 SGD steps, for a C test that compares every loss term, every trainable
gradient and the parameters after 3 steps. Written from the spec text; the structure of the
original code (HUST-SLOW/AnomalyNCD, CVMI-Lab/SimGCD) is restated here, not copied.

Everything runs in float64 on exactly the stored (float16/float32/uint8) input values, so the
golden carries no float32 rounding of its own; outputs are stored as float32.

  python3 tests/golden/gen_train_golden.py        # tiny random ViT (tests/golden/train/)
  python3 tests/golden/gen_train_golden.py \
      --real ../shared/data/weights/vit_tiny_patch16_224.safetensors   # ViT-Ti/16, 4 MTD crops
  ... [--real W] --verify      recompute every stored output from the written files alone
  ... [--real W] --f32-check   rerun in float32 PyTorch, print the errors against the golden

The tensor names, shapes and conventions are described in tests/golden/train/README.md.
CI never runs this script.
"""
import argparse
import glob
import json
import math
import os
import struct
import sys

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "train")
REPO = os.path.dirname(os.path.dirname(HERE))

# ------------------------------------------------------------------------------------------------
# Configuration (the reference's values where the spec gives them)
# ------------------------------------------------------------------------------------------------
N_HEAD = 4                # classifier heads
N_BASE = 4                # labelled (base) classes: outputs 0..3; output 4 is the "normal" cluster
TAU_INFONCE = 1.0         # unsupervised contrastive temperature
TAU_SUPCON = 0.07         # SupCon temperature (= base temperature, factor 1)
TAU_STUDENT = 0.1         # student temperature (CE, distillation, ME)
ANOMALY_THRED = 0.5       # correction w = max(0, 0.5 - score)
MEMAX_WEIGHT = 4.0
SUP_WEIGHT = 0.3          # L = 0.7 L_clu + 0.3 L_cls + 0.7 L_con + 0.3 L_supcon
LR, MOMENTUM, WEIGHT_DECAY = 0.003, 0.9, 5e-5
N_STEPS = 3
EPOCH = 0
LN_EPS = 1e-6
NORMALIZE_EPS = 1e-12     # F.normalize


def teacher_temp_schedule(epochs=50, warm=0.07, final=0.04, warm_epochs=40, repeat=4):
    """§5.6: linspace(warm, final, warm_epochs/repeat), each value repeated, then final."""
    return np.concatenate((np.linspace(warm, final, int(warm_epochs / repeat)).repeat(repeat),
                           np.ones(epochs - warm_epochs) * final))


# ------------------------------------------------------------------------------------------------
# Mask-guided ViT (timm / DINO parameter names), functional on a dict of float64 tensors
# ------------------------------------------------------------------------------------------------
def layer_norm(x, P, name):
    return F.layer_norm(x, x.shape[-1:], P[name + ".weight"], P[name + ".bias"], LN_EPS)


def linear(x, P, name):
    return F.linear(x, P[name + ".weight"], P.get(name + ".bias"))


def patch_mask(mask, patch):
    """§5.3: average-pool the [N,1,H,W] mask with window = stride = patch, flatten row-major,
    prepend 1 for CLS -> [N, 1 + (H/patch)*(W/patch)]."""
    a = F.avg_pool2d(mask, patch, stride=patch).flatten(1)
    return torch.cat((torch.ones_like(a[:, :1]), a), dim=1)


def attention(x, P, pre, heads, m):
    """Multi-head self-attention; with m given, the CLS query row (row 0) of every head has its
    scores replaced by -1e9 where m_j < 0.5 before the softmax (masked_fill semantics)."""
    N, T, D = x.shape
    hd = D // heads
    qkv = linear(x, P, pre + ".qkv").reshape(N, T, 3, heads, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    s = (q @ k.transpose(-2, -1)) * hd ** -0.5                       # [N, heads, T, T]
    if m is not None:
        drop = (m < 0.5)[:, None, :].expand(N, heads, T)              # [N, heads, T]
        row0 = torch.where(drop, torch.full_like(s[:, :, 0, :], -1e9), s[:, :, 0, :])
        s = torch.cat((row0[:, :, None, :], s[:, :, 1:, :]), dim=2)
    a = s.softmax(dim=-1)
    o = (a @ v).transpose(1, 2).reshape(N, T, D)
    return linear(o, P, pre + ".proj")


def block(x, P, i, heads, m):
    pre = "blocks.%d" % i
    x = x + attention(layer_norm(x, P, pre + ".norm1"), P, pre + ".attn", heads, m)
    h = F.gelu(linear(layer_norm(x, P, pre + ".norm2"), P, pre + ".mlp.fc1"))  # exact (erf) GELU
    return x + linear(h, P, pre + ".mlp.fc2")


def mgvit_forward(P, x, mask, cfg):
    """§5.1-§5.3: returns f = CLS after the final LayerNorm, [N, D]."""
    t = F.conv2d(x, P["patch_embed.proj.weight"], P["patch_embed.proj.bias"], stride=cfg["patch"])
    t = t.flatten(2).transpose(1, 2)                                  # patches row-major
    t = torch.cat((P["cls_token"].expand(x.shape[0], -1, -1), t), dim=1) + P["pos_embed"]
    m = patch_mask(mask, cfg["patch"])
    depth = cfg["depth"]
    for i in range(depth):
        t = block(t, P, i, cfg["heads"], m if i >= depth - cfg["mask_layers"] else None)
    return layer_norm(t, P, "norm")[:, 0]


# ------------------------------------------------------------------------------------------------
# Heads (§5.4)
# ------------------------------------------------------------------------------------------------
def heads_forward(P, f):
    """Projector (Linear, GELU, Linear, GELU, Linear) -> z; cosine classifiers on F.normalize(f)
    with weight norm W_h = g * v_h / ||v_h|| (row norms, g = 1 frozen) -> logits [4, N, C]."""
    h = F.gelu(linear(f, P, "head.mlp.0"))
    h = F.gelu(linear(h, P, "head.mlp.2"))
    z = linear(h, P, "head.mlp.4")
    fn = F.normalize(f, dim=-1, eps=NORMALIZE_EPS)
    logits = []
    for h_ in range(N_HEAD):
        v = P["head.last_layer.%d.weight_v" % h_]
        g = P["head.last_layer.%d.weight_g" % h_]
        w = g * v / v.norm(dim=1, keepdim=True)
        logits.append(fn @ w.t())
    return z, torch.stack(logits)


# ------------------------------------------------------------------------------------------------
# Losses (§5.5), each written from the spec text
# ------------------------------------------------------------------------------------------------
def loss_infonce(z, tau=TAU_INFONCE):
    """All 2B rows; positive of row i is its other view (i +- B); the denominator runs over every
    j != i (the positive included). L = mean_i [-s_ip/tau + log sum_{j!=i} exp(s_ij/tau)]."""
    n = z.shape[0]
    b = n // 2
    zn = F.normalize(z, dim=1, eps=NORMALIZE_EPS)
    s = zn @ zn.t() / tau
    partner = (torch.arange(n) + b) % n
    eye = torch.eye(n, dtype=torch.bool)
    lse = torch.logsumexp(s.masked_fill(eye, -math.inf), dim=1)
    return (-s[torch.arange(n), partner] + lse).mean()


def loss_supcon(zb, yb, tau=TAU_SUPCON):
    """zb: the 2 n_b base rows (view-1 block, then view-2 block), yb their labels. Positives of
    anchor i: all j != i with the same label. loss_i = -(1/|P(i)|) sum_p [g_ip - log sum_{j!=i}
    exp(g_ij)], g = zn zn^T / tau; mean over anchors."""
    n = zb.shape[0]
    zn = F.normalize(zb, dim=1, eps=NORMALIZE_EPS)
    g = zn @ zn.t() / tau
    eye = torch.eye(n, dtype=torch.bool)
    log_den = torch.logsumexp(g.masked_fill(eye, -math.inf), dim=1, keepdim=True)
    pos = (yb[:, None] == yb[None, :]) & ~eye
    log_prob = g - log_den
    per_anchor = -(log_prob * pos).sum(1) / pos.sum(1)
    return per_anchor.mean()


def loss_ce(lb, yb, tau=TAU_STUDENT):
    """CE over all C outputs of logits/0.1 on the 2 n_b base rows, mean reduction."""
    return F.cross_entropy(lb / tau, yb)


def teacher_targets(u, w, tau_t, n_base=N_BASE):
    """u: teacher logits of the 2 n_u novel rows (detached). P = softmax over the novel columns
    only of u/tau_t (base columns 0..n_base-1 are 0); Q = w e_{n_base} + (1 - w) P."""
    p = torch.zeros_like(u)
    p[:, n_base:] = torch.softmax(u[:, n_base:] / tau_t, dim=1)
    e = torch.zeros_like(u)
    e[:, n_base] = 1.0
    return w[:, None] * e + (1.0 - w[:, None]) * p


def loss_distill(s, q, tau=TAU_STUDENT):
    """Cross-view: view-1 targets supervise the view-2 student and vice versa.
    L = 1/2 [mean_i H(Q1_i, softmax(S2_i/tau)) + mean_i H(Q2_i, softmax(S1_i/tau))]."""
    nu = s.shape[0] // 2
    ls = F.log_softmax(s / tau, dim=1)
    q1, q2 = q[:nu], q[nu:]
    ls1, ls2 = ls[:nu], ls[nu:]
    return 0.5 * ((-(q1 * ls2).sum(1)).mean() + (-(q2 * ls1).sum(1)).mean())


def loss_me(s, tau=TAU_STUDENT):
    """p_bar = mean over the 2 n_u novel rows of softmax(s/tau) over ALL C outputs;
    ME = sum_c p_bar_c log p_bar_c + log C (>= 0)."""
    pbar = torch.softmax(s / tau, dim=1).mean(0)
    return (pbar * torch.log(pbar)).sum() + math.log(s.shape[1])


def rows(x, sel):
    """The rows of x [2B, ...] whose sample flag (length B) is set: view-1 block then view-2."""
    b = sel.shape[0]
    return torch.cat((x[:b][sel], x[b:][sel]), dim=0)


def compute_losses(f, z, logits, data, tau_t, teacher=None):
    """All loss terms of one step. teacher: fixed teacher logits [4, 2B, C] (for finite
    differences); by default the detached live logits (§5.5 step 1, no EMA)."""
    base, labels, w = data["base"], data["labels"], data["w"]
    novel = ~base
    yb = torch.cat((labels[base], labels[base]))
    wn = torch.cat((w[novel], w[novel]))
    if teacher is None:
        teacher = logits.detach()
    out = {"con": loss_infonce(z), "supcon": loss_supcon(rows(z, base), yb)}
    cls_h, dist_h, me_h, clu_h, q_h = [], [], [], [], []
    for h in range(N_HEAD):
        cls_h.append(loss_ce(rows(logits[h], base), yb))
        s = rows(logits[h], novel)
        q = teacher_targets(rows(teacher[h], novel), wn, tau_t)
        dist_h.append(loss_distill(s, q))
        me_h.append(loss_me(s))
        clu_h.append(dist_h[-1] + MEMAX_WEIGHT * me_h[-1])
        q_h.append(q)
    out.update(cls_head=torch.stack(cls_h), dist_head=torch.stack(dist_h),
               me_head=torch.stack(me_h), clu_head=torch.stack(clu_h))
    out["cls"] = out["cls_head"].mean()
    out["clu"] = out["clu_head"].mean()
    out["total"] = ((1 - SUP_WEIGHT) * out["clu"] + SUP_WEIGHT * out["cls"]
                    + (1 - SUP_WEIGHT) * out["con"] + SUP_WEIGHT * out["supcon"])
    out["teacher_q"] = torch.stack(q_h)
    return out


def forward_all(P, data, cfg, tau_t, teacher=None, keep=False):
    f = mgvit_forward(P, data["images"], data["masks"], cfg)
    if keep:
        f.retain_grad()
    z, logits = heads_forward(P, f)
    if keep:
        z.retain_grad()
        logits.retain_grad()
    return f, z, logits, compute_losses(f, z, logits, data, tau_t, teacher)


# ------------------------------------------------------------------------------------------------
# Second, independent formulation (reference-code structure, timm modules, torch weight_norm)
# used only to cross-check the one above
# ------------------------------------------------------------------------------------------------
def crosscheck_forward(P, data, cfg, tau_t):
    """timm VisionTransformer blocks with an additive row-0 mask, nn.utils weight_norm heads and
    the losses in the original code's shape (CE over [positives | negatives], SupCon with tiled
    masks and row-max subtraction, full softmax then zero-and-renormalise, chunked view loop,
    entropy through log(p ** -p)). Returns the total loss and the per-term values."""
    from timm.models.vision_transformer import VisionTransformer
    D, depth, heads, patch, img = cfg["dim"], cfg["depth"], cfg["heads"], cfg["patch"], cfg["img"]
    vit = VisionTransformer(img_size=img, patch_size=patch, embed_dim=D, depth=depth,
                            num_heads=heads, mlp_ratio=cfg["mlp"] / D, qkv_bias=True,
                            num_classes=0, global_pool="token").double()
    with torch.no_grad():
        for name, p in vit.named_parameters():
            p.copy_(P[name])
    x, mask = data["images"], data["masks"]
    m = patch_mask(mask, patch)
    N, T = m.shape
    bias = torch.zeros(N, 1, T, T, dtype=torch.float64)
    bias[:, 0, 0, :] = torch.where(m < 0.5, -1e9, 0.0)
    t = vit.patch_embed(x)
    t = vit._pos_embed(t)
    for i, blk in enumerate(vit.blocks):
        t = blk(t, attn_mask=bias if i >= depth - cfg["mask_layers"] else None)
    f = vit.norm(t)[:, 0]

    C = cfg["C"]
    mlp = torch.nn.Sequential(torch.nn.Linear(D, cfg["hidden"]), torch.nn.GELU(),
                              torch.nn.Linear(cfg["hidden"], cfg["hidden"]), torch.nn.GELU(),
                              torch.nn.Linear(cfg["hidden"], cfg["bottleneck"])).double()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        last = [torch.nn.utils.weight_norm(torch.nn.Linear(D, C, bias=False)).double()
                for _ in range(N_HEAD)]
    with torch.no_grad():
        for k in (0, 2, 4):
            mlp[k].weight.copy_(P["head.mlp.%d.weight" % k])
            mlp[k].bias.copy_(P["head.mlp.%d.bias" % k])
        for h in range(N_HEAD):
            last[h].weight_v.copy_(P["head.last_layer.%d.weight_v" % h])
            last[h].weight_g.fill_(1.0)
    z = mlp(f)
    fn = F.normalize(f, dim=-1)
    logits = [l(fn) for l in last]
    teacher = [l.detach() for l in logits]
    base = data["base"]
    labels = data["labels"]

    # InfoNCE in the logits/labels form
    n = z.shape[0]
    b = n // 2
    lab = torch.cat([torch.arange(b), torch.arange(b)])
    lab = (lab[None] == lab[:, None]).float()
    zn = F.normalize(z, dim=1)
    sim = zn @ zn.t()
    eye = torch.eye(n, dtype=torch.bool)
    lab = lab[~eye].view(n, -1)
    sim = sim[~eye].view(n, -1)
    pos = sim[lab.bool()].view(n, -1)
    neg = sim[~lab.bool()].view(n, -1)
    lg = torch.cat([pos, neg], dim=1) / TAU_INFONCE
    con = F.cross_entropy(lg, torch.zeros(n, dtype=torch.long))

    # SupCon [n_b, 2 views, dim]
    feats = torch.cat([c[base].unsqueeze(1) for c in z.chunk(2)], dim=1)
    feats = F.normalize(feats, dim=-1)
    yb = labels[base].view(-1, 1)
    msk = (yb == yb.t()).double()
    cf = torch.cat(torch.unbind(feats, dim=1), dim=0)
    adc = cf @ cf.t() / TAU_SUPCON
    adc = adc - adc.max(dim=1, keepdim=True)[0].detach()
    msk = msk.repeat(2, 2)
    nb2 = cf.shape[0]
    lm = torch.ones_like(msk)
    lm[torch.arange(nb2), torch.arange(nb2)] = 0
    msk = msk * lm
    logp = adc - torch.log((torch.exp(adc) * lm).sum(1, keepdim=True))
    supcon = (-(msk * logp).sum(1) / msk.sum(1)).view(2, -1).mean()

    wn = torch.cat((data["w"][~base], data["w"][~base]))
    cls, clu = 0, 0
    clu_h = []
    for h in range(N_HEAD):
        so, to = logits[h], teacher[h]
        sl = torch.cat([c[base] for c in (so / TAU_STUDENT).chunk(2)], dim=0)
        sy = torch.cat([labels[base]] * 2)
        cls = cls + F.cross_entropy(sl, sy)
        su = torch.cat([c[~base] for c in so.chunk(2)], dim=0)
        tu = torch.cat([c[~base] for c in to.chunk(2)], dim=0)
        avg = (su / TAU_STUDENT).softmax(dim=1).mean(dim=0)
        me = -torch.sum(torch.log(avg ** (-avg))) + math.log(float(len(avg)))
        stu = (su / TAU_STUDENT).chunk(2)
        tp = F.softmax(tu / tau_t, dim=-1)
        tp[:, :N_BASE] = 0
        tp[:, N_BASE:] /= tp[:, N_BASE:].sum(dim=-1, keepdim=True)
        normal = torch.zeros_like(tp)
        normal[:, N_BASE] = 1
        tp = (normal * wn[:, None] + tp * (1 - wn[:, None])).detach().chunk(2)
        tot, nt = 0, 0
        for iq, q in enumerate(tp):
            for v in range(2):
                if v != iq:
                    tot = tot + torch.sum(-q * F.log_softmax(stu[v], dim=-1), dim=-1).mean()
                    nt += 1
        hc = tot / nt + MEMAX_WEIGHT * me
        clu_h.append(hc)
        clu = clu + hc
    cls, clu = cls / N_HEAD, clu / N_HEAD
    total = ((1 - SUP_WEIGHT) * clu + SUP_WEIGHT * cls + (1 - SUP_WEIGHT) * con
             + SUP_WEIGHT * supcon)
    leaves = dict(vit.named_parameters())
    for k in (0, 2, 4):
        leaves["head.mlp.%d.weight" % k] = mlp[k].weight
        leaves["head.mlp.%d.bias" % k] = mlp[k].bias
    for h in range(N_HEAD):
        leaves["head.last_layer.%d.weight_v" % h] = last[h].weight_v
    return total, dict(con=con, supcon=supcon, cls=cls, clu=clu,
                       clu_head=torch.stack(clu_h), f=f, logits=torch.stack(logits)), leaves


# ------------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------------
def vit_param_shapes(cfg):
    D, M, p = cfg["dim"], cfg["mlp"], cfg["patch"]
    T = (cfg["img"] // p) ** 2 + 1
    s = {"cls_token": (1, 1, D), "pos_embed": (1, T, D),
         "patch_embed.proj.weight": (D, 3, p, p), "patch_embed.proj.bias": (D,)}
    for i in range(cfg["depth"]):
        b = "blocks.%d." % i
        s.update({b + "norm1.weight": (D,), b + "norm1.bias": (D,),
                  b + "attn.qkv.weight": (3 * D, D), b + "attn.qkv.bias": (3 * D,),
                  b + "attn.proj.weight": (D, D), b + "attn.proj.bias": (D,),
                  b + "norm2.weight": (D,), b + "norm2.bias": (D,),
                  b + "mlp.fc1.weight": (M, D), b + "mlp.fc1.bias": (M,),
                  b + "mlp.fc2.weight": (D, M), b + "mlp.fc2.bias": (D,)})
    s.update({"norm.weight": (D,), "norm.bias": (D,)})
    return s


def random_vit(cfg, seed):
    """Tiny random ViT: every term non-trivial (LN affines, biases, cls/pos). Rounded to fp16
    (stored as F16), returned as float64 holding exactly those values."""
    g = torch.Generator().manual_seed(seed)
    P = {}
    for name, shape in vit_param_shapes(cfg).items():
        leaf = name.split(".")[-1]
        if "norm" in name:
            v = (1.0 + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)
                 if leaf == "weight" else 0.1 * torch.randn(shape, generator=g,
                                                            dtype=torch.float64))
        elif name in ("cls_token", "pos_embed"):
            v = 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif leaf == "weight":
            fan_in = int(np.prod(shape[1:]))
            v = torch.randn(shape, generator=g, dtype=torch.float64) / math.sqrt(fan_in)
        else:
            v = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        P[name] = v.half().double()
    return P


def init_heads(cfg, seed):
    """§5.4: projector weights trunc_normal(std 0.02, cut at +-2 absolute), biases 0; v_h
    U(-1/sqrt(D), 1/sqrt(D)) (PyTorch's Linear default), g_h = 1. Stored as F32 (float32 values)."""
    g = torch.Generator().manual_seed(seed)
    D, H, Z, C = cfg["dim"], cfg["hidden"], cfg["bottleneck"], cfg["C"]
    P = {}
    for k, (o, i) in zip((0, 2, 4), ((H, D), (H, H), (Z, H))):
        w = torch.empty(o, i, dtype=torch.float64)
        torch.nn.init.trunc_normal_(w, std=0.02, a=-2.0, b=2.0, generator=g)
        P["head.mlp.%d.weight" % k] = w
        P["head.mlp.%d.bias" % k] = torch.zeros(o, dtype=torch.float64)
    bound = 1.0 / math.sqrt(D)
    for h in range(N_HEAD):
        P["head.last_layer.%d.weight_v" % h] = (
            (torch.rand(C, D, generator=g, dtype=torch.float64) * 2 - 1) * bound)
        P["head.last_layer.%d.weight_g" % h] = torch.ones(C, 1, dtype=torch.float64)
    return {k: v.float().double() for k, v in P.items()}


def trainable_names(P, cfg):
    """1-based grad_from_block b: blocks b..depth (timm names blocks.(b-1)..blocks.(depth-1)) and
    every head parameter except weight_g; patch embed, cls, pos, earlier blocks and the final
    norm are frozen."""
    first = cfg["grad_from_block"] - 1
    names = []
    for k in P:
        if k.startswith("blocks.") and int(k.split(".")[1]) >= first:
            names.append(k)
        elif k.startswith("head.") and not k.endswith("weight_g"):
            names.append(k)
    return names


def decayed(name, t):
    """Weight decay only on >= 2-D trainable parameters (biases and LN affines: none)."""
    return not name.endswith(".bias") and t.dim() >= 2


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------
def rel(a, b):
    return ((a - b).norm() / max(b.norm().item(), 1e-300)).item()


def check_crosscheck(P, data, cfg, tau_t, grads, losses):
    total, terms, leaves = crosscheck_forward(P, data, cfg, tau_t)
    for k in ("con", "supcon", "cls", "clu", "clu_head"):
        e = rel(terms[k].detach(), losses[k].detach())
        assert e < 1e-12, "cross-check %s: %g" % (k, e)
    e = rel(terms["f"].detach(), losses["_f"].detach())
    assert e < 1e-12, "cross-check f: %g" % e
    total.backward()
    worst = 0.0
    for name, gr in grads.items():
        e = rel(leaves[name].grad, gr)
        worst = max(worst, e)
        assert e < 1e-10, "cross-check grad %s: %g" % (name, e)
    print("  cross-check (timm blocks, nn.utils.weight_norm, reference-shaped losses): "
          "losses and %d gradients agree, worst rel %.1e" % (len(grads), worst))


def check_finite_differences(P, data, cfg, tau_t, grads, teacher, names):
    """Central differences of the loss with the teacher held fixed (it is stop-grad)."""
    rng = np.random.default_rng(0)
    h = 1e-6
    for name in names:
        t = P[name]
        for _ in range(3):
            idx = tuple(int(rng.integers(0, s)) for s in t.shape)
            old = t[idx].item()
            with torch.no_grad():
                t[idx] = old + h
                lp = forward_all(P, data, cfg, tau_t, teacher)[3]["total"].item()
                t[idx] = old - h
                lm = forward_all(P, data, cfg, tau_t, teacher)[3]["total"].item()
                t[idx] = old
            fd = (lp - lm) / (2 * h)
            ag = grads[name][idx].item()
            err = abs(fd - ag) / max(abs(ag), 1e-8)
            assert err < 1e-5 or abs(fd - ag) < 1e-9, "FD %s%s: fd %g autograd %g" % (
                name, idx, fd, ag)
        print("  finite differences ok: %s" % name)


def check_weight_norm_grad(P, data, cfg, tau_t, grads):
    """dL/dv = (g/||v||)(I - w^ w^T) dL/dw per row, dL/dw from W as a leaf."""
    f = mgvit_forward(P, data["images"], data["masks"], cfg).detach()
    h = F.gelu(linear(f, P, "head.mlp.0"))
    h = F.gelu(linear(h, P, "head.mlp.2"))
    z = linear(h, P, "head.mlp.4").detach()
    fn = F.normalize(f, dim=-1)
    W = []
    for k in range(N_HEAD):
        v = P["head.last_layer.%d.weight_v" % k].detach()
        W.append((v / v.norm(dim=1, keepdim=True)).requires_grad_(True))
    logits = torch.stack([fn @ w.t() for w in W])
    compute_losses(f, z, logits, data, tau_t)["total"].backward()
    for k in range(N_HEAD):
        v = P["head.last_layer.%d.weight_v" % k].detach()
        nv = v.norm(dim=1, keepdim=True)
        wh = v / nv
        gw = W[k].grad
        gv = (gw - wh * (wh * gw).sum(1, keepdim=True)) / nv
        e = rel(gv, grads["head.last_layer.%d.weight_v" % k])
        assert e < 1e-12, "weight-norm grad head %d: %g" % (k, e)
    print("  weight-norm gradient formula ok on %d heads" % N_HEAD)


def check_sgd(P0, grads1, P1, names, lr):
    """First step by hand: p1 = p0 - lr (g + wd p0) (buf = g + wd p0 on the first step)."""
    for n in names:
        wd = WEIGHT_DECAY if decayed(n, P0[n]) else 0.0
        ref = P0[n] - lr * (grads1[n] + wd * P0[n])
        assert rel(P1[n], ref) < 1e-14 or (P1[n] - ref).abs().max() < 1e-18, n
    print("  SGD first step matches p - lr (g + wd p)")


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------
def run(P, data, cfg, check=True):
    tau_t = float(teacher_temp_schedule()[EPOCH])
    names = trainable_names(P, cfg)
    P = {k: v.detach().clone().requires_grad_(k in names) for k, v in P.items()}  # P0 untouched
    P0 = {k: P[k].detach().clone() for k in names}

    f, z, logits, L = forward_all(P, data, cfg, tau_t, keep=True)
    L["_f"] = f
    L["total"].backward()
    grads = {k: P[k].grad.detach().clone() for k in names}
    res = {"f": f.detach(), "z": z.detach(), "logits": logits.detach(), "L": L, "grads": grads,
           "dgrad.f": f.grad.detach(), "dgrad.z": z.grad.detach(),
           "dgrad.logits": logits.grad.detach(), "tau_t": tau_t, "names": names}
    print("  losses: total %.6f con %.6f supcon %.6f cls %.6f clu %.6f" % tuple(
        L[k].item() for k in ("total", "con", "supcon", "cls", "clu")))

    if check:
        check_crosscheck({k: v.detach() for k, v in P.items()}, data, cfg, tau_t, grads, L)
        teacher = logits.detach()
        fd_names = [n for n in names if n.startswith("head.last_layer.0")
                    or n == "head.mlp.0.weight" or n == "head.mlp.4.bias"]
        first = cfg["grad_from_block"] - 1
        fd_names += ["blocks.%d.attn.qkv.weight" % first, "blocks.%d.norm1.weight" % first,
                     "blocks.%d.mlp.fc2.bias" % (cfg["depth"] - 1)]
        check_finite_differences({k: v.detach() for k, v in P.items()}, data, cfg, tau_t, grads,
                                 teacher, fd_names)
        check_weight_norm_grad({k: v.detach() for k, v in P.items()}, data, cfg, tau_t, grads)

    # 3 SGD steps on the same batch, lr constant (all in epoch 0), teacher = live logits each step
    params = [P[k] for k in names]
    for p in params:
        p.grad = None
    groups = [{"params": [P[k] for k in names if decayed(k, P[k])]},
              {"params": [P[k] for k in names if not decayed(k, P[k])], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM, dampening=0, nesterov=False,
                          weight_decay=WEIGHT_DECAY)
    totals = []
    for step in range(N_STEPS):
        opt.zero_grad(set_to_none=True)
        Ls = forward_all(P, data, cfg, tau_t)[3]
        Ls["total"].backward()
        if step == 0:
            assert all(rel(P[k].grad, grads[k]) == 0.0 for k in names)
        totals.append(Ls["total"].item())
        opt.step()
        if step == 0 and check:
            check_sgd(P0, grads, {k: P[k].detach() for k in names}, names, LR)
    res["total_steps"] = torch.tensor(totals, dtype=torch.float64)
    res["step3"] = {k: P[k].detach().clone() for k in names}
    print("  total loss over the steps (before each update): " +
          " ".join("%.6f" % t for t in totals))
    return res


def golden_tensors(res, cfg):
    L = res["L"]
    t = {"out.f": res["f"], "out.z": res["z"], "out.logits": res["logits"],
         "out.teacher_q": L["teacher_q"].detach(),
         "dgrad.f": res["dgrad.f"], "dgrad.z": res["dgrad.z"], "dgrad.logits": res["dgrad.logits"],
         "loss.steps_total": res["total_steps"],
         "sched.teacher_temp": torch.tensor(teacher_temp_schedule())}
    for k in ("total", "con", "supcon", "cls", "clu", "cls_head", "dist_head", "me_head",
              "clu_head"):
        t["loss." + k] = L[k].detach().reshape(-1)
    for k, g in res["grads"].items():
        t["grad." + k] = g
    for k, p in res["step3"].items():
        t["step3." + k] = p
    return {k: v.float().contiguous() for k, v in t.items()}


def meta_common(cfg, res, extra):
    m = dict(cfg)
    m.update(extra)
    m.update(n_head=N_HEAD, n_base=N_BASE, tau_infonce=TAU_INFONCE, tau_supcon=TAU_SUPCON,
             tau_student=TAU_STUDENT, teacher_temp=repr(res["tau_t"]), epoch=EPOCH,
             anomaly_thred=ANOMALY_THRED, memax_weight=MEMAX_WEIGHT, sup_weight=SUP_WEIGHT,
             lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, steps=N_STEPS,
             ln_eps=LN_EPS, gelu="exact erf", mask_threshold="keep m>=0.5, score=-1e9 else",
             trainable="blocks.%d..%d.* (timm names), head.mlp.{0,2,4}.{weight,bias}, "
                       "head.last_layer.{0..3}.weight_v (%d tensors)" % (
                           cfg["grad_from_block"] - 1, cfg["depth"] - 1, len(res["names"])),
             torch=torch.__version__, timm=_timm_version(), numpy=np.__version__,
             safetensors=safetensors.__version__, python=sys.version.split()[0])
    m = {k: str(v) for k, v in m.items()}
    assert all(len(v) < 250 for v in m.values())  # ancd's safetensors reader: strings < 256
    return m


def _timm_version():
    import timm
    return timm.__version__


def head_init_tensors(P):
    return {"init." + k: P[k].detach().float().contiguous() for k in P if k.startswith("head.")}


# ------------------------------------------------------------------------------------------------
# Tiny mode
# ------------------------------------------------------------------------------------------------
TINY = dict(dim=64, depth=4, heads=2, patch=8, img=32, mlp=256, mask_layers=3, grad_from_block=3,
            hidden=96, bottleneck=256, C=7, K=3)


def tiny_masks():
    """6 samples x 2 views, values k/8 (sums of 64 pixels are exact in any order in f32).
    Pooled patch values: sample 0 partial blob, 1 empty, 2 full, 3 partial with patches at
    exactly 0.5 (half-covered and uniform-0.5 patches), 4 partial, 5 near-empty with one patch."""
    g = torch.Generator().manual_seed(77)
    S = 32
    M = torch.zeros(2, 6, 1, S, S, dtype=torch.float64)
    yy, xx = torch.meshgrid(torch.arange(S, dtype=torch.float64),
                            torch.arange(S, dtype=torch.float64), indexing="ij")
    for v in range(2):
        # sample 0: soft disc, centre moves with the view
        cy, cx, r = (13.0, 15.0, 9.0) if v == 0 else (18.0, 12.0, 11.0)
        d = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
        M[v, 0, 0] = torch.clamp(torch.round((r - d + 1.0) * 4) / 8, 0, 1)
        # sample 1: empty; sample 2: full
        M[v, 2, 0] = 1.0
        # sample 3: patch (0,0) left half 1 -> 0.5; patch (1,2) all 0.5; patch (2,1) 31/64;
        # patch (3,3) 33/64 pixels; random k/8 noise elsewhere kept below 0.25 per patch
        m3 = torch.randint(0, 2, (S, S), generator=g).double() / 8.0
        m3[0:8, 0:8] = 0.0
        m3[0:8, 0:4] = 1.0
        m3[8:16, 16:24] = 0.5
        blk = torch.zeros(64, dtype=torch.float64)
        blk[:31] = 1.0
        m3[16:24, 8:16] = blk[torch.randperm(64, generator=g)].view(8, 8)
        blk = torch.zeros(64, dtype=torch.float64)
        blk[:33] = 1.0
        m3[24:32, 24:32] = blk[torch.randperm(64, generator=g)].view(8, 8)
        if v == 1:
            m3 = m3.flip(-1)
        M[v, 3, 0] = m3
        # sample 4: random k/8 values, rectangle of high values
        m4 = torch.randint(0, 9, (S, S), generator=g).double() / 8.0 * 0.6
        m4 = torch.round(m4 * 8) / 8
        m4[4 + 4 * v:22 + 4 * v, 10:30] = torch.randint(5, 9, (18, 20), generator=g).double() / 8
        M[v, 4, 0] = m4
        # sample 5: one covered patch only
        M[v, 5, 0, 16:24, 8 * (v + 1):8 * (v + 2)] = 1.0
    return torch.cat((M[0], M[1]), dim=0)       # rows 0..5 view 1, rows 6..11 view 2


def tiny_data():
    g = torch.Generator().manual_seed(11)
    B = 6
    images = torch.randn(2 * B, 3, 32, 32, generator=g, dtype=torch.float64).half().double()
    masks = tiny_masks()
    assert torch.equal(masks.half().double(), masks)
    base = torch.tensor([True, False, True, False, False, True])
    labels = torch.tensor([2, 4, 0, 5, 6, 2])      # base labels 0..3; novel labels unused
    # novel scores on both sides of 0.5 (w = 0.3, 0, 0.05); base scores are ignored (w = 0) but
    # set to values that would matter if they were used
    scores = torch.tensor([0.1, 0.2, 0.35, 0.75, 0.45, 0.0], dtype=torch.float64)
    w = torch.where(base, torch.zeros_like(scores), torch.clamp(ANOMALY_THRED - scores, min=0.0))
    return dict(images=images, masks=masks, base=base, labels=labels, scores=scores, w=w)


def main_tiny(f32_check):
    cfg = dict(TINY)
    P = random_vit(cfg, 9000)
    P.update(init_heads(cfg, 3407))
    data = tiny_data()
    if f32_check:
        return f32_report(P, data, cfg)
    m = patch_mask(data["masks"], cfg["patch"])
    kept = (m[:, 1:] >= 0.5).sum(1).tolist()
    exact = (m[:, 1:] == 0.5).sum(1).tolist()
    print("tiny: patches kept per row %s, patches exactly 0.5 per row %s" % (kept, exact))
    res = run(P, data, cfg)

    os.makedirs(OUT, exist_ok=True)
    vit = {k: P[k].detach().half().contiguous() for k in vit_param_shapes(cfg)}
    save_safetensors(vit, os.path.join(OUT, "tiny_train_vit.safetensors"),
                                metadata={"format": "pt", "heads": str(cfg["heads"])})
    t = golden_tensors(res, cfg)
    t.update(head_init_tensors(P))
    t.update({"input.images": data["images"].half().contiguous(),
              "input.masks": data["masks"].half().contiguous(),
              "input.base": data["base"].float(), "input.labels": data["labels"].float(),
              "input.scores": data["scores"].float(), "input.w": data["w"].float(),
              "input.mask_patch": m.float().contiguous()})
    meta = meta_common(cfg, res, dict(mode="tiny", weights="tiny_train_vit.safetensors",
                                      images="input.images (normalised values, F16)",
                                      B=6, N=12))
    save_safetensors(t, os.path.join(OUT, "train_golden.safetensors"), metadata=meta)
    report_sizes(["tiny_train_vit.safetensors", "train_golden.safetensors"])


# ------------------------------------------------------------------------------------------------
# Real mode: ViT-Ti/16 (timm augreg, mean = std = 0.5) on 4 MTD crops x 2 views
# ------------------------------------------------------------------------------------------------
REAL = dict(dim=192, depth=12, heads=3, patch=16, img=224, mlp=768, mask_layers=9,
            grad_from_block=12, hidden=96, bottleneck=256, C=10, K=6)
# (MTD class, base?, label, anomaly score): labels of novel samples (4 + index of the type among
# the K = 6 MTD types) are not used by any loss; base scores are ignored (w = 0). Both base crops
# carry base label 2 so that SupCon has a positive besides the partner view (with distinct labels
# the SupCon term of these crops is ~0.004 and its gradient negligible).
REAL_SAMPLES = [("MT_Blowhole", True, 2, 0.30), ("MT_Free", False, 8, 0.12),
                ("MT_Break", True, 2, 0.20), ("MT_Fray", False, 7, 0.83)]
MEAN = STD = (0.5, 0.5, 0.5)


def mtd_crop(mtd, cls):
    """First image (sorted) of the class with a non-empty mask (MT_Free: the first image);
    square box around the binarised (>= 128) mask, side max(2 * bbox side, 64) clipped to the
    image, shifted inside; image resized to 224 with PIL bilinear (RGB), mask with nearest
    (stays 0/255). Returns uint8 [224,224,3], uint8 [224,224], the source file."""
    from PIL import Image
    for path in sorted(glob.glob(os.path.join(mtd, cls, "Imgs", "*.jpg"))):
        img = Image.open(path).convert("RGB")
        mk = np.array(Image.open(path[:-4] + ".png").convert("L")) >= 128
        if cls != "MT_Free" and not mk.any():
            continue
        H, W = mk.shape
        if mk.any():
            ys, xs = np.nonzero(mk)
            cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
            side = max(2 * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1), 64)
        else:
            cy, cx, side = H / 2, W / 2, min(H, W)
        side = int(min(side, H, W))
        y0 = int(min(max(round(cy - side / 2), 0), H - side))
        x0 = int(min(max(round(cx - side / 2), 0), W - side))
        box = (x0, y0, x0 + side, y0 + side)
        im = np.array(img.crop(box).resize((224, 224), Image.BILINEAR), dtype=np.uint8)
        mm = Image.fromarray((mk * 255).astype(np.uint8)).crop(box)
        mm = np.array(mm.resize((224, 224), Image.NEAREST), dtype=np.uint8)
        return im, mm, os.path.relpath(path, mtd), box
    raise SystemExit("no usable image in %s" % cls)


def rebuild_inputs(img_u8, mask_u8):
    """[4,224,224,3] / [4,224,224] uint8 (view 1) -> images [8,3,224,224], masks [8,1,224,224]
    in float32 exactly as ToTensor + Normalize: x = (u8 / 255 - mean) / std, each op in f32;
    mask = u8 / 255 in f32. View 2 = view 1 rotated 90 degrees counter-clockwise (image and
    mask): view2[c, y, x] = view1[c, x, 223 - y] (torch.rot90(k=1, dims=(-2, -1)))."""
    x = torch.from_numpy(img_u8).permute(0, 3, 1, 2).float().div(255.0)
    mean = torch.tensor(MEAN, dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(STD, dtype=torch.float32)[None, :, None, None]
    x = x.sub(mean).div(std)
    m = torch.from_numpy(mask_u8)[:, None].float().div(255.0)
    x = torch.cat((x, torch.rot90(x, 1, dims=(-2, -1))), dim=0)
    m = torch.cat((m, torch.rot90(m, 1, dims=(-2, -1))), dim=0)
    return x, m


REAL_GRAD_ROWS = 64


def main_real(weights, f32_check):
    cfg = dict(REAL)
    if not os.path.isabs(weights):
        weights = os.path.normpath(os.path.join(os.getcwd(), weights))
    W = safetensors.torch.load_file(weights)
    shapes = vit_param_shapes(cfg)
    P = {}
    for k, s in shapes.items():
        assert tuple(W[k].shape) == s, (k, W[k].shape, s)
        P[k] = W[k].double()
    P.update(init_heads(cfg, 3407))
    mtd = os.path.join(os.path.dirname(os.path.dirname(weights)), "mtd")
    crops = [mtd_crop(mtd, c) for c, _, _, _ in REAL_SAMPLES]
    img_u8 = np.stack([c[0] for c in crops])
    mask_u8 = np.stack([c[1] for c in crops])
    x, m = rebuild_inputs(img_u8, mask_u8)
    data = dict(images=x.double(), masks=m.double(),
                base=torch.tensor([s[1] for s in REAL_SAMPLES]),
                labels=torch.tensor([s[2] for s in REAL_SAMPLES]),
                scores=torch.tensor([s[3] for s in REAL_SAMPLES], dtype=torch.float64))
    data["w"] = torch.where(data["base"], torch.zeros_like(data["scores"]),
                            torch.clamp(ANOMALY_THRED - data["scores"], min=0.0))
    if f32_check:
        return f32_report(P, data, cfg)
    mp = patch_mask(data["masks"], cfg["patch"])
    print("real: crops %s" % [c[2] for c in crops])
    print("real: patches kept per row %s" % (mp[:, 1:] >= 0.5).sum(1).tolist())
    res = run(P, data, cfg)

    t = golden_tensors(res, cfg)
    # The issue asks losses and gradients of the real step; block 12's parameters after 3 steps
    # would double the file (3.5 MB) for a check the tiny golden already makes.
    t = {k: v for k, v in t.items() if not k.startswith("step3.")}
    # Under 2 MiB: of the block's large weight gradients (qkv, proj, fc1, fc2) only the first
    # REAL_GRAD_ROWS rows are kept, as grad_rows.<name> [REAL_GRAD_ROWS, in].
    for k in [k for k in t if k.startswith("grad.blocks.") and t[k].dim() == 2]:
        t["grad_rows." + k[5:]] = t.pop(k)[:REAL_GRAD_ROWS].contiguous()
    t.update(head_init_tensors(P))
    # No pixels of ../shared/data in the project: the C test cuts the crops again from the MTD
    # files named in the metadata (boxes below, Pillow bilinear to 224) and checks them against
    # this FNV-1a 64 of the uint8 crops; the masks act only through input.mask_patch.
    fnv = 0xcbf29ce484222325
    for b in img_u8.tobytes():
        fnv = ((fnv ^ b) * 0x100000001b3) & 0xffffffffffffffff
    t.update({"input.boxes": torch.tensor([c[3] for c in crops], dtype=torch.float32),
              "input.mean": torch.tensor(MEAN), "input.std": torch.tensor(STD),
              "input.base": data["base"].float(), "input.labels": data["labels"].float(),
              "input.scores": data["scores"].float(), "input.w": data["w"].float(),
              "input.mask_patch": mp.float().contiguous()})
    meta = meta_common(cfg, res, dict(
        mode="real", weights="../shared/data/weights/vit_tiny_patch16_224.safetensors (not copied)",
        images="rebuild: view1 = (u8/255 - mean)/std in f32 (HWC u8 -> CHW), masks u8/255 "
               "(f32); view2[c,y,x] = view1[c,x,223-y] (rot90 ccw), same for the mask",
        crops=";".join(c[2] for c in crops), images_fnv1a="%016x" % fnv, B=4, N=8))
    save_safetensors(t, os.path.join(OUT, "real_vit_ti_golden.safetensors"),
                                metadata=meta)
    report_sizes(["real_vit_ti_golden.safetensors"])


def f32_report(P, data, cfg):
    """The same 3 steps in float32 (PyTorch CPU) against float64: relative L2 of every loss term,
    gradient and step-3 parameter, worst first."""
    r64 = run({k: v.clone() for k, v in P.items()}, data, cfg, check=False)
    d32 = {k: (v.float() if v.is_floating_point() else v) for k, v in data.items()}
    r32 = run({k: v.float() for k, v in P.items()}, d32, cfg, check=False)
    err = {}
    for k in ("total", "con", "supcon", "cls", "clu", "cls_head", "dist_head", "me_head",
              "clu_head"):
        err["loss." + k] = rel(r32["L"][k].detach().double(), r64["L"][k].detach())
    for k in r64["grads"]:
        err["grad." + k] = rel(r32["grads"][k].double(), r64["grads"][k])
    for k in r64["step3"]:
        err["step3." + k] = rel(r32["step3"][k].double(), r64["step3"][k])
    print("float32 vs float64, relative L2, worst first:")
    for k, v in sorted(err.items(), key=lambda kv: -kv[1])[:12]:
        print("  %-44s %.2e" % (k, v))
    for kind in ("loss.", "grad.", "step3."):
        print("  worst %-6s %.2e" % (kind, max(v for k, v in err.items() if k.startswith(kind))))
    zero_init = ["step3.head.mlp.%d.bias" % i for i in (0, 2, 4)]
    print("  worst step3. without the zero-initialised projector biases %.2e"
          % max(v for k, v in err.items() if k.startswith("step3.") and k not in zero_init))


_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.uint8: "U8"}


def save_safetensors(tensors, path, metadata):
    """A safetensors file with a byte-stable layout (safetensors.torch.save_file orders the
    __metadata__ entries differently from run to run): header keys sorted, tensors stored in
    name order, little-endian, header padded with spaces to a multiple of 8."""
    header = {"__metadata__": {k: metadata[k] for k in sorted(metadata)}}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(h)))
        fp.write(h)
        for b in blobs:
            fp.write(b)
    back = safetensors.torch.load_file(path)
    assert all(torch.equal(back[k], tensors[k].detach().cpu()) for k in tensors)


def verify(real_weights):
    """Rebuilds the model, the head parameters and the inputs from the written files alone (as
    the C test does: weights file + golden file, real crops from uint8), reruns the 3 steps in
    float64 and compares every stored output (float32 storage: relative L2 < 1e-6)."""
    if real_weights:
        G = safetensors.torch.load_file(os.path.join(OUT, "real_vit_ti_golden.safetensors"))
        W = safetensors.torch.load_file(real_weights)
        cfg = dict(REAL)
        x, m = rebuild_inputs(G["input.images_u8"].numpy(), G["input.masks_u8"].numpy())
        assert torch.equal(G["input.mean"], torch.tensor(MEAN)), "mean"
    else:
        G = safetensors.torch.load_file(os.path.join(OUT, "train_golden.safetensors"))
        W = safetensors.torch.load_file(os.path.join(OUT, "tiny_train_vit.safetensors"))
        cfg = dict(TINY)
        x, m = G["input.images"], G["input.masks"]
    P = {k: W[k].double() for k in vit_param_shapes(cfg)}
    P.update({k[len("init."):]: v.double() for k, v in G.items() if k.startswith("init.")})
    data = dict(images=x.double(), masks=m.double(), base=G["input.base"] > 0.5,
                labels=G["input.labels"].long(), scores=G["input.scores"].double(),
                w=G["input.w"].double())
    w = torch.where(data["base"], torch.zeros_like(data["scores"]),
                    torch.clamp(ANOMALY_THRED - data["scores"], min=0.0))
    assert rel(w, data["w"]) < 1e-7, "w"
    assert torch.equal(patch_mask(data["masks"], cfg["patch"]).float(), G["input.mask_patch"])
    res = run(P, data, cfg, check=False)
    T = golden_tensors(res, cfg)
    worst = 0.0
    for k, v in T.items():
        e = rel(v.double(), G[k].double())
        worst = max(worst, e)
        assert e < 1e-6, "verify %s: %g" % (k, e)
    print("verify: %d stored outputs recomputed from the files alone, worst rel %.1e"
          % (len(T), worst))


def report_sizes(files):
    for f in files:
        print("  wrote %s (%d bytes)" % (os.path.join("tests/golden/train", f),
                                         os.path.getsize(os.path.join(OUT, f))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", metavar="WEIGHTS",
                    help="ViT-Ti/16 safetensors (e.g. ../shared/data/weights/"
                         "vit_tiny_patch16_224.safetensors); MTD is read from its ../mtd")
    ap.add_argument("--verify", action="store_true",
                    help="write nothing; recompute everything from the written files alone")
    ap.add_argument("--f32-check", action="store_true",
                    help="write nothing; rerun the same steps in float32 PyTorch and print the "
                         "largest relative L2 errors against the float64 golden (what an fp32 "
                         "implementation can expect)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if a.verify:
        verify(a.real)
    elif a.real:
        main_real(a.real, a.f32_check)
    else:
        main_tiny(a.f32_check)


if __name__ == "__main__":
    main()
