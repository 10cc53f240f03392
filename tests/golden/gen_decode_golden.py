#!/usr/bin/env python3
"""Golden data for tests/test_image.c (run from anywhere; writes tests/golden/decode/).

Generated with Pillow 13.0.0 (libjpeg-turbo 3.2.0), OpenCV 5.0.0, NumPy 2.4.6.

Each input <name>.<ext> comes with the pixels Pillow decodes, which image_load must reproduce:
  <name>.rgb  raw h*w*3 bytes = np.asarray(Image.open(f).convert("RGB"))
  <name>.l    raw h*w bytes   = np.asarray(Image.open(f).convert("L"))
and a line "<file> <w> <h> <c>" in cases.txt (c = channels image_load(..., 0) gives).
Exceptions, where ancd follows io/image.h rather than Pillow:
  16-bit files: samples are reduced with v >> 8 (Pillow opens 16-bit grey as I;16, whose
  convert("L") clips at 255); the expected bytes here are computed with >> 8.
"""
import os
import struct
import zlib

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "decode")
W, H = 7, 5  # odd sizes catch row padding / stride mistakes


def luma(rgb):
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def pattern(rng, c, w=W, h=H):
    return rng.integers(0, 256, (h, w, c), dtype=np.uint8)


def bmp(path, pixels_bgrx, bpp, top_down, palette=None):
    """Hand-written uncompressed BMP (BITMAPINFOHEADER): rows padded to 4 bytes."""
    h, w = pixels_bgrx.shape[:2]
    stride = (w * bpp + 31) // 32 * 4
    rows = []
    for y in range(h) if top_down else reversed(range(h)):
        row = pixels_bgrx[y].tobytes()
        rows.append(row + b"\0" * (stride - len(row)))
    pal = b"" if palette is None else palette.tobytes()
    off = 14 + 40 + len(pal)
    data = b"".join(rows)
    head = struct.pack("<2sIHHI", b"BM", off + len(data), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp, 0, len(data),
                       2835, 2835, 0 if palette is None else len(palette), 0)
    with open(path, "wb") as f:
        f.write(head + info + pal + data)


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def adam7_png(path, rgb):
    """Interlaced 8-bit RGB PNG written by hand (neither Pillow nor OpenCV writes Adam7)."""
    h, w = rgb.shape[:2]
    raw = b""
    for y0, x0, dy, dx in ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2),
                           (0, 1, 2, 2), (1, 0, 2, 1)):
        sub = rgb[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)  # filter type 0 per row
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
                png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    files = []

    rgb = pattern(rng, 3)
    Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "rgb8.png"))
    Image.fromarray(pattern(rng, 1)[..., 0], "L").save(os.path.join(OUT, "gray8.png"))
    Image.fromarray(pattern(rng, 4), "RGBA").save(os.path.join(OUT, "rgba8.png"))
    Image.fromarray(pattern(rng, 2), "LA").save(os.path.join(OUT, "la8.png"))
    pal = Image.fromarray(rng.integers(0, 6, (H, W), dtype=np.uint8), "P")
    pal.putpalette([10, 20, 30, 200, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0, 90, 90, 90])
    pal.save(os.path.join(OUT, "pal8.png"), transparency=1)  # tRNS must not leak into RGB
    Image.fromarray(rng.integers(0, 2, (H, W), dtype=np.uint8) * 255, "L").convert("1").save(
        os.path.join(OUT, "gray1.png"))
    # gAMA 1.0: Pillow ignores gamma, so must we (libpng's simplified API would convert).
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 100000))
    Image.fromarray(pattern(rng, 3), "RGB").save(os.path.join(OUT, "gamma1.png"), pnginfo=info)
    adam = pattern(rng, 3, 11, 9)
    adam7_png(os.path.join(OUT, "adam7.png"), adam)
    assert (np.asarray(Image.open(os.path.join(OUT, "adam7.png"))) == adam).all()
    files += ["rgb8.png", "gray8.png", "rgba8.png", "la8.png", "pal8.png", "gray1.png",
              "gamma1.png", "adam7.png"]

    # 16-bit (cv2 writes BGR order).
    g16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
    c16 = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    a16 = rng.integers(0, 65536, (H, W, 4), dtype=np.uint16)
    cv2.imwrite(os.path.join(OUT, "gray16.png"), g16)
    cv2.imwrite(os.path.join(OUT, "rgb16.png"), c16[..., ::-1])
    cv2.imwrite(os.path.join(OUT, "rgba16.png"), a16[..., [2, 1, 0, 3]])
    sixteen = {"gray16.png": np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, 2),
               "rgb16.png": (c16 >> 8).astype(np.uint8),
               "rgba16.png": (a16[..., :3] >> 8).astype(np.uint8)}

    # JPEG: a smooth-ish pattern so the codec has something realistic to do.
    y, x = np.mgrid[0:21, 0:33]
    smooth = np.stack([x * 7, y * 11, (x * y) % 256], -1).astype(np.uint8)
    Image.fromarray(smooth, "RGB").save(os.path.join(OUT, "rgb420.jpg"), quality=90)
    Image.fromarray(smooth, "RGB").save(os.path.join(OUT, "rgb444.jpg"), quality=95,
                                        subsampling=0)
    Image.fromarray(smooth, "RGB").save(os.path.join(OUT, "prog.jpg"), quality=85,
                                        progressive=True)
    Image.fromarray(smooth[..., 0] ^ smooth[..., 1], "L").save(os.path.join(OUT, "gray.jpg"))
    Image.fromarray(smooth, "RGB").convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"))
    files += ["rgb420.jpg", "rgb444.jpg", "prog.jpg", "gray.jpg", "cmyk.jpg"]

    # BMP: Pillow's own 24-bit bottom-up and 8-bit files, plus hand-written variants.
    Image.fromarray(pattern(rng, 3), "RGB").save(os.path.join(OUT, "rgb24.bmp"))
    pal.save(os.path.join(OUT, "pal8.bmp"))
    Image.fromarray(pattern(rng, 1)[..., 0], "L").save(os.path.join(OUT, "gray8.bmp"))
    px = pattern(rng, 3)
    bmp(os.path.join(OUT, "topdown24.bmp"), px[..., ::-1], 24, True)
    px = pattern(rng, 4)
    bmp(os.path.join(OUT, "bgrx32.bmp"), px, 32, False)
    files += ["rgb24.bmp", "pal8.bmp", "gray8.bmp", "topdown24.bmp", "bgrx32.bmp"]

    lines = []
    for name in files + list(sixteen):
        path = os.path.join(OUT, name)
        im = Image.open(path)
        if name in sixteen:
            rgb_ref = sixteen[name]
            gray_file = name.startswith("gray")
        else:
            rgb_ref = np.asarray(im.convert("RGB"))
            gray_file = im.mode in ("1", "L", "LA", "I;16")
        l_ref = np.asarray(im.convert("L")) if name not in sixteen else (
            rgb_ref[..., 0] if gray_file else luma(rgb_ref))
        # Pillow's convert("L") is the same luma of the RGB pixels for every mode used here.
        assert gray_file or (luma(rgb_ref) == l_ref).all(), name
        stem = os.path.splitext(name)[0] + "_" + os.path.splitext(name)[1][1:]
        with open(os.path.join(OUT, stem + ".rgb"), "wb") as f:
            f.write(np.ascontiguousarray(rgb_ref).tobytes())
        with open(os.path.join(OUT, stem + ".l"), "wb") as f:
            f.write(np.ascontiguousarray(l_ref).tobytes())
        lines.append("%s %d %d %d %s" % (name, im.size[0], im.size[1], 1 if gray_file else 3,
                                         stem))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
