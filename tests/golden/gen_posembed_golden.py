#!/usr/bin/env python3
"""Golden data for tests/test_posembed.c (run from anywhere; writes tests/golden/posembed/cases.txt).

Generated with torch 2.15.0 on an x86-64 CPU (ATen's AVX2 kernels, fused multiply-adds).

PyTorch's positional-embedding resize (musc_hetmm_spec §A.4.2) on small random grids:
  size form  (CLIP resize_pos_embed): F.interpolate(size=(h, w), mode='bicubic',
             align_corners=False)
  scale form (DINO v1 / DINOv2 interpolate_pos_encoding): scale_factor = ((h + 0.1) / g, ...),
             exactly as upstream computes it in Python doubles; output size floor(g * factor).
The grid is [g*g, D] (pos_embed without its CLS row), reshaped to [1, g, g, D] and permuted to
NCHW as the models do; the output is permuted back to [h*w, D].

File format (text): first line "<torch version>", second line the number of cases, then per case
a line "g h w D offset" (offset 0 = size form), a line of g*g*D input floats and a line of h*w*D
output floats, all printed with %.9g (float32 round trip).
"""
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "posembed")

# (g, h, w, D, offset): 4->6 up, 14->16 DINO form, 5->3 down, 4->3x5 non-square, 24->37 (CLIP
# ViT-L-14-336 at 518), 37->23 DINO form down (DINOv2 at 322), 8->11 DINO form.
CASES = [
    (4, 6, 6, 3, 0.0),
    (14, 16, 16, 3, 0.1),
    (5, 3, 3, 3, 0.0),
    (4, 3, 5, 2, 0.0),
    (24, 37, 37, 2, 0.0),
    (37, 23, 23, 2, 0.1),
    (8, 11, 11, 3, 0.1),
]


def resize(grid, g, h, w, offset):
    D = grid.shape[1]
    x = grid.reshape(1, g, g, D).permute(0, 3, 1, 2)
    if offset > 0:
        # DINOv2 vision_transformer.py: sx = float(w0 + self.interpolate_offset) / M.
        sy = float(h + offset) / g
        sx = float(w + offset) / g
        y = F.interpolate(x, scale_factor=(sy, sx), mode="bicubic", align_corners=False)
    else:
        y = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    assert y.shape[-2:] == (h, w), (y.shape, h, w)
    return y.permute(0, 2, 3, 1).reshape(h * w, D)


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240611)
    lines = [torch.__version__, str(len(CASES))]
    for g, h, w, D, offset in CASES:
        grid = torch.randn(g * g, D, generator=gen, dtype=torch.float32)
        out = resize(grid, g, h, w, offset)
        lines.append(f"{g} {h} {w} {D} {offset}")
        lines.append(" ".join("%.9g" % v for v in grid.flatten().tolist()))
        lines.append(" ".join("%.9g" % v for v in out.flatten().tolist()))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
