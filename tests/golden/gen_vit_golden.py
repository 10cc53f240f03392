#!/usr/bin/env python3
"""Golden ViT forwards for tests/test_vit_golden.c (issue 3 "Verification", musc_hetmm_spec §A.4).

Tiny random-initialised models of every family are built with the real PyTorch implementations,
saved as safetensors in the checkpoint layout of their library, and run at the native image size
and at a larger one that needs positional-embedding interpolation. The C forward must reproduce
every tap, the image-level embedding and the logits.

Generated with: python 3.11.7, torch 2.15.0, timm 1.0.31, transformers 5.23.0,
open_clip_torch 3.3.0, safetensors 0.8.0, numpy 2.4.6.  CI never runs this script.

Shared shape: patch 4, native image 16 (grid 4x4), larger image 20 (grid 5x5, a non-integer
ratio so the interpolation is exercised), dim 64, 4 heads of 16, MLP 128, depth 3. Heads are not
stored in checkpoints and the ancd loader assumes head_dim 64 unless the weights' __metadata__
has "heads", so every weights file carries heads=4 there (1 head would not test the head split).

Weights are rounded to fp16 (bf16 for timm_vit) and saved in that dtype to keep the folder small;
the reference forward runs in float64 on exactly those values, so the golden carries no float32
rounding of its own. Parameters are drawn so that every term matters: LayerNorm affines, biases,
LayerScale gammas and positional embeddings are all non-trivial.

Files (tests/golden/vit/):
  <name>.safetensors             weights, keys as the library saves them (timm / open_clip
                                 state_dict, Hugging Face save_pretrained; hf_clip also holds
                                 the int64 position_ids of transformers-4 hub files)
  <name>_<size>[_gelu].safetensors  input [2,3,S,S] (fp16 values), tap_1..tap_3 [2,T,64],
                                 embed [2,E], logits [2,10] (timm only), with __metadata__:
                                 family, activation, heads, weights, pos_interp, taps, embed.
Taps (spec §A.4 "Which tokens MuSc takes"), blocks numbered from 1:
  timm, dino:  block b's output through the final LayerNorm `norm`, CLS included.
  dinov2:      block b's output through the final LayerNorm, patch tokens only (no CLS).
  clip:        raw residual stream after block b, CLS included (no ln_post).
Embed: timm/dino/dinov2 final-LN CLS; clip L2-normalised ln_post(CLS) @ proj.
"""
import json
import math
import os
import tempfile

import numpy as np
import open_clip
import safetensors.torch
import torch
import torch.nn.functional as F
import transformers
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vit")
PATCH, NATIVE, LARGE = 4, 16, 20
DIM, DEPTH, HEADS, MLP = 64, 3, 4, 128
N_CLASSES, CLIP_EMBED = 10, 32
BATCH = 2
TAPS = (1, 2, 3)


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------
def randomise(model, seed, dtype):
    """Draws every parameter (fixed seed) and rounds it to the storage dtype, in place."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std, mean=0.0):
        return mean + std * torch.randn(shape, generator=g, dtype=torch.float64)

    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            low = name.lower()
            if "norm" in low or "ln_" in low or "layrnorm" in low:
                v = normal(p.shape, 0.2, 1.0) if leaf == "weight" else normal(p.shape, 0.1)
            elif leaf in ("gamma", "lambda1"):  # LayerScale
                v = 0.3 + 0.9 * torch.rand(p.shape, generator=g, dtype=torch.float64)
            elif "pos" in low or "cls" in low or "class_embedding" in low:
                v = normal(p.shape, 0.5)
            elif "mask_token" in low:
                v = torch.zeros(p.shape, dtype=torch.float64)
            elif p.dim() >= 2:  # linear / conv weights, CLIP proj [D, E]
                fan_in = p.shape[0] if leaf == "proj" else int(np.prod(p.shape[1:]))
                v = normal(p.shape, 1.0 / math.sqrt(fan_in))
            else:  # biases
                v = normal(p.shape, 0.1)
            p.copy_(v.to(dtype).to(p.dtype))


def save_weights(name, state_dict, dtype, extra=None):
    """Float tensors in dtype; `extra` tensors keep their own dtype. The head count, which no
    checkpoint stores, goes in __metadata__ (the ancd loader reads "heads" from there)."""
    sd = {k: v.detach().to(dtype).contiguous() for k, v in state_dict.items()}
    if extra:
        sd.update({k: v.contiguous() for k, v in extra.items()})
    safetensors.torch.save_file(sd, os.path.join(OUT, name + ".safetensors"),
                                metadata={"format": "pt", "heads": str(HEADS)})


def save_hf_weights(name, model, dtype, extra=None):
    """Hugging Face models are written by save_pretrained: transformers 5 renames modules in
    memory (Dinov2 `attention.q_proj`) but saves the hub names (`attention.attention.query`)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        sd = safetensors.torch.load_file(os.path.join(tmp, "model.safetensors"))
    save_weights(name, sd, dtype, extra)


def make_input(seed, size):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, 3, size, size, generator=g, dtype=torch.float64)
    return x.half().double()  # stored as fp16: the test reads exactly these values


def save_case(fname, x, taps, embed, logits, meta):
    t = {"input": x.half().contiguous()}
    for b, v in zip(TAPS, taps):
        t["tap_%d" % b] = v.float().contiguous()
    t["embed"] = embed.float().contiguous()
    if logits is not None:
        t["logits"] = logits.float().contiguous()
    meta = {k: str(v) for k, v in meta.items()}
    meta["taps"] = ",".join(str(b) for b in TAPS)
    safetensors.torch.save_file(t, os.path.join(OUT, fname + ".safetensors"), metadata=meta)
    print("%-28s %s" % (fname, json.dumps(meta)))


def check_same(a, b, what):
    err = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-30)
    assert err < 1e-12, "%s: composed forward differs from the library's (%g)" % (what, err)


# ---------------------------------------------------------------------------------------------
# Positional-embedding resizing (spec §A.4.2)
# ---------------------------------------------------------------------------------------------
def dino_interpolate_pos(pos_embed, h_px, w_px):
    """DINO v1 `interpolate_pos_encoding`: bicubic by scale_factor (g + 0.1) / M."""
    N = pos_embed.shape[1] - 1
    if h_px // PATCH == w_px // PATCH and (h_px // PATCH) ** 2 == N:
        return pos_embed
    dim = pos_embed.shape[-1]
    w0, h0 = w_px // PATCH + 0.1, h_px // PATCH + 0.1
    M = int(math.sqrt(N))
    patch = F.interpolate(
        pos_embed[:, 1:].reshape(1, M, M, dim).permute(0, 3, 1, 2),
        scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)),
        mode="bicubic",
    )
    assert int(w0) == patch.shape[-2] and int(h0) == patch.shape[-1]
    patch = patch.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos_embed[:, :1], patch), dim=1)


def dinov2_interpolate_pos(pos_embed, h_px, w_px, offset=0.1):
    """Upstream DINOv2 `interpolate_pos_encoding` (interpolate_offset 0.1, no antialias)."""
    N = pos_embed.shape[1] - 1
    if h_px // PATCH == w_px // PATCH and (h_px // PATCH) ** 2 == N:
        return pos_embed
    dim = pos_embed.shape[-1]
    w0, h0 = w_px // PATCH, h_px // PATCH
    M = int(math.sqrt(N))
    patch = F.interpolate(
        pos_embed[:, 1:].reshape(1, M, M, dim).permute(0, 3, 1, 2),
        mode="bicubic",
        antialias=False,
        scale_factor=(float(w0 + offset) / M, float(h0 + offset) / M),
    )
    assert (w0, h0) == patch.shape[-2:]
    patch = patch.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos_embed[:, :1], patch), dim=1)


# ---------------------------------------------------------------------------------------------
# timm layout: timm classifier, DINO v1, upstream DINOv2 (LayerScale `ls1.gamma`)
# ---------------------------------------------------------------------------------------------
def timm_forward(model, x, pos_fn, patch_only):
    """timm VisionTransformer.forward_features with the positional embedding given by pos_fn,
    returning the final-LN taps, the final-LN CLS and the logits."""
    t = model.patch_embed.proj(x).flatten(2).transpose(1, 2)
    t = torch.cat((model.cls_token.expand(x.shape[0], -1, -1), t), dim=1)
    t = t + pos_fn(model.pos_embed, x.shape[2], x.shape[3])
    taps = []
    for i, blk in enumerate(model.blocks):
        t = blk(t)
        if i + 1 in TAPS:
            n = model.norm(t)
            taps.append(n[:, 1:] if patch_only else n)
    feats = model.norm(t)
    embed = model.forward_head(feats, pre_logits=True)
    logits = model.head(embed) if model.num_classes else None
    return taps, embed, logits, feats


def gen_timm_family(name, family, seed, num_classes, init_values, pos_large, pos_name, dtype):
    # The timm classifier runs at any size through timm's own dynamic_img_size path
    # (resample_abs_pos_embed, antialiased bicubic by size); DINO / DINOv2 bring their own.
    dynamic = family == "timm"
    model = VisionTransformer(img_size=NATIVE, patch_size=PATCH, embed_dim=DIM, depth=DEPTH,
                              num_heads=HEADS, mlp_ratio=MLP / DIM, num_classes=num_classes,
                              init_values=init_values, dynamic_img_size=dynamic)
    model.eval()
    randomise(model, seed, dtype)
    extra = None
    if family == "dinov2":  # upstream DINOv2 checkpoints carry a mask token
        extra = {"mask_token": torch.zeros(1, DIM, dtype=dtype)}
    save_weights(name, model.state_dict(), dtype, extra)
    model = model.double()
    patch_only = family == "dinov2"
    for size in (NATIVE, LARGE):
        x = make_input(seed + size, size)
        with torch.no_grad():
            pos_fn = pos_large if size != NATIVE else (lambda p, h, w: p)
            taps, embed, logits, feats = timm_forward(model, x, pos_fn, patch_only)
            if size == NATIVE or dynamic:
                check_same(feats, model.forward_features(x), name)
                if num_classes:
                    check_same(logits, model(x), name + " logits")
        save_case("%s_%d" % (name, size), x, taps, embed, logits,
                  dict(family=family, activation="gelu", heads=HEADS, weights=name,
                       pos_interp=pos_name if size != NATIVE else "none",
                       convention="timm", ln_eps="1e-6"))


# ---------------------------------------------------------------------------------------------
# Hugging Face DINOv2
# ---------------------------------------------------------------------------------------------
def gen_hf_dinov2(name, seed):
    cfg = transformers.Dinov2Config(hidden_size=DIM, num_hidden_layers=DEPTH,
                                    num_attention_heads=HEADS, mlp_ratio=MLP // DIM,
                                    image_size=NATIVE, patch_size=PATCH, layerscale_value=1.0,
                                    hidden_act="gelu", layer_norm_eps=1e-6)
    model = transformers.Dinov2Model(cfg).eval()
    randomise(model, seed, torch.float16)
    save_hf_weights(name, model, torch.float16)
    model = model.double()
    # Installed transformers resizes by target size (F.interpolate size=(h, w), bicubic, no
    # antialias); MuSc loads upstream DINOv2 (torch.hub), whose offset-0.1 scale-factor form the
    # ancd DINOv2 family implements, so the HF module gets the upstream interpolation here.
    emb = model.embeddings
    emb.interpolate_pos_encoding = lambda e, h, w: dinov2_interpolate_pos(emb.position_embeddings,
                                                                          h, w)
    for size in (NATIVE, LARGE):
        x = make_input(seed + size, size)
        with torch.no_grad():
            out = model(pixel_values=x, output_hidden_states=True)
        hs = out.hidden_states
        assert len(hs) == DEPTH + 1
        check_same(model.layernorm(hs[-1]), out.last_hidden_state, name)
        taps = [model.layernorm(hs[b])[:, 1:] for b in TAPS]
        embed = out.pooler_output
        check_same(embed, out.last_hidden_state[:, 0], name + " pooler")
        save_case("%s_%d" % (name, size), x, taps, embed, None,
                  dict(family="dinov2", activation="gelu", heads=HEADS, weights=name,
                       pos_interp="scale_factor_offset_0.1 (upstream dinov2; installed "
                       "transformers Dinov2 uses size form, replaced)"
                       if size != NATIVE else "none",
                       convention="hf-dinov2", ln_eps="1e-6"))


# ---------------------------------------------------------------------------------------------
# OpenAI CLIP layout through open_clip
# ---------------------------------------------------------------------------------------------
class _Holder(torch.nn.Module):
    """What open_clip.model.resize_pos_embed expects: an object with `.visual.grid_size`."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual


def open_clip_visual(image_size, act):
    return open_clip.transformer.VisionTransformer(
        image_size=image_size, patch_size=PATCH, width=DIM, layers=DEPTH, heads=HEADS,
        mlp_ratio=MLP / DIM, output_dim=CLIP_EMBED, act_layer=act)


def clip_forward(visual, x):
    t = visual._embeds(x)
    taps = []
    for i, blk in enumerate(visual.transformer.resblocks):
        t = blk(t)
        if i + 1 in TAPS:
            taps.append(t.clone())
    embed = F.normalize(visual.ln_post(t[:, 0]) @ visual.proj, dim=-1)
    check_same(embed, F.normalize(visual(x), dim=-1), "open_clip embed")
    return taps, embed


def gen_openai_clip(name, seed):
    visual = open_clip_visual(NATIVE, open_clip.transformer.QuickGELU).eval()
    randomise(visual, seed, torch.float16)
    sd = {"visual." + k: v for k, v in visual.state_dict().items()}
    save_weights(name, sd, torch.float16)
    for size, act, tag in ((NATIVE, "quick_gelu", ""), (LARGE, "quick_gelu", ""),
                           (LARGE, "gelu", "_gelu")):
        # MuSc's path 2 (spec §A.4.2): a fresh model at the new size, the OpenAI state dict
        # resized by open_clip's resize_pos_embed (vendored copy: size form, no antialias).
        act_layer = open_clip.transformer.QuickGELU if act == "quick_gelu" else torch.nn.GELU
        v = open_clip_visual(size, act_layer).eval()
        state = {k: t.float() for k, t in sd.items()}
        open_clip.model.resize_pos_embed(state, _Holder(v), antialias=False)
        v.load_state_dict({k[len("visual."):]: t for k, t in state.items()})
        v = v.double()
        x = make_input(seed + size, size)
        with torch.no_grad():
            taps, embed = clip_forward(v, x)
        save_case("%s_%d%s" % (name, size, tag), x, taps, embed, None,
                  dict(family="clip", activation=act, heads=HEADS, weights=name,
                       pos_interp="size (bicubic, align_corners=False, no antialias)"
                       if size != NATIVE else "none",
                       convention="openai-clip", ln_eps="1e-5"))


# ---------------------------------------------------------------------------------------------
# Hugging Face CLIP vision tower with projection
# ---------------------------------------------------------------------------------------------
def gen_hf_clip(name, seed):
    cfg = transformers.CLIPVisionConfig(hidden_size=DIM, intermediate_size=MLP,
                                        num_hidden_layers=DEPTH, num_attention_heads=HEADS,
                                        image_size=NATIVE, patch_size=PATCH,
                                        projection_dim=CLIP_EMBED, hidden_act="quick_gelu",
                                        layer_norm_eps=1e-5)
    model = transformers.CLIPVisionModelWithProjection(cfg).eval()
    randomise(model, seed, torch.float16)
    # Hub checkpoints written by transformers 4 (openai/clip-vit-*) also hold the int64 buffer
    # position_ids; the loader must pass over it.
    n_pos = (NATIVE // PATCH) ** 2 + 1
    save_hf_weights(name, model, torch.float16,
                    {"vision_model.embeddings.position_ids": torch.arange(n_pos)[None]})
    model = model.double()
    for size in (NATIVE, LARGE):
        x = make_input(seed + size, size)
        with torch.no_grad():
            # HF's interpolate_pos_encoding: F.interpolate(size=(h, w), bicubic,
            # align_corners=False), no antialias: the CLIP size form.
            out = model(pixel_values=x, output_hidden_states=True,
                        interpolate_pos_encoding=size != NATIVE)
        hs = out.hidden_states
        assert len(hs) == DEPTH + 1
        check_same(hs[-1], out.last_hidden_state, name)
        taps = [hs[b] for b in TAPS]
        vm = model.vision_model
        embed = F.normalize(model.visual_projection(vm.post_layernorm(hs[-1][:, 0])), dim=-1)
        check_same(embed, F.normalize(out.image_embeds, dim=-1), name + " embed")
        save_case("%s_%d" % (name, size), x, taps, embed, None,
                  dict(family="clip", activation="quick_gelu", heads=HEADS, weights=name,
                       pos_interp="size (bicubic, align_corners=False, no antialias)"
                       if size != NATIVE else "none",
                       convention="hf-clip", ln_eps="1e-5"))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    timm_pos = lambda p, h, w: resample_abs_pos_embed(p, new_size=(h // PATCH, w // PATCH),
                                                      old_size=(NATIVE // PATCH,) * 2,
                                                      num_prefix_tokens=1)
    gen_timm_family("timm_vit", "timm", 1000, N_CLASSES, None, timm_pos,
                    "size_antialias (timm resample_abs_pos_embed: bicubic, antialias=True)",
                    torch.bfloat16)
    gen_timm_family("dino_vit", "dino", 2000, 0, None, dino_interpolate_pos,
                    "scale_factor_offset_0.1 (dino v1 interpolate_pos_encoding)", torch.float16)
    gen_timm_family("dinov2_vit", "dinov2", 3000, 0, 1.0, dinov2_interpolate_pos,
                    "scale_factor_offset_0.1 (upstream dinov2 interpolate_pos_encoding)",
                    torch.float16)
    gen_hf_dinov2("hf_dinov2", 4000)
    gen_openai_clip("openai_clip", 5000)
    gen_hf_clip("hf_clip", 6000)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("total %d bytes in %s" % (total, OUT))


if __name__ == "__main__":
    main()
