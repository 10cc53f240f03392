/* 8-bit images: decode (PNG, JPEG, BMP), encode (PNG), resize (Pillow-exact bilinear/bicubic,
 * OpenCV INTER_NEAREST) and jet heatmaps. Pixels are interleaved (HWC), rows top to bottom.
 * Every function returns 0 on success or -1 with ancd_error() naming the file and the reason;
 * a corrupt or truncated file never crashes or longjmps out. */
#ifndef ANCD_IMAGE_H
#define ANCD_IMAGE_H

#include <stdint.h>

typedef struct {
  int w, h, c;   /* c = 1 (gray) or 3 (RGB) */
  uint8_t *data; /* h * w * c bytes */
} image_u8;

int image_alloc(image_u8 *img, int w, int h, int c); /* zero-filled */
void image_free(image_u8 *img);

/* Decodes a PNG (8/16-bit, gray, palette, alpha), JPEG or uncompressed BMP, chosen by content,
 * not by extension. want_c: 1 = gray (ITU-R 601-2 luma, as Pillow's convert("L")),
 * 3 = RGB (gray copied to 3 channels, alpha dropped, as Pillow's convert("RGB")),
 * 0 = 1 for gray files, 3 otherwise. 16-bit samples are reduced to 8 bits (v >> 8; Pillow does
 * the same for colour, but clips 16-bit grey at 255). PNG gamma chunks are ignored, as Pillow
 * does. The pixels equal Pillow 13's decode (libjpeg-turbo 2.1.5 here vs 3.2.0 in Pillow's
 * wheel: identical on every test and shared-data JPEG). */
int image_load(image_u8 *out, const char *path, int want_c);
/* Reads only the header: size and channel count (1 or 3 as image_load(…, 0) would give). */
int image_probe(const char *path, int *w, int *h, int *c);

int image_write_png(const char *path, const image_u8 *img);
/* image_write_png into <path>.tmp, then renamed to path (fs_publish): never a half-written file. */
int image_write_png_atomic(const char *path, const image_u8 *img);
/* Paints the rectangle [x, x + w) x [y, y + h) of an RGB image with c, clipped at its edges. */
void image_fill_rect(image_u8 *img, int x, int y, int w, int h, const uint8_t c[3]);

/* Pillow resamples in two uint8-rounded passes, so the pass order shows in the pixels. Pillow
 * >= 13 runs the vertical pass first when the height shrinks by more than twice as many pixels
 * as the width; Pillow <= 12 (MuSc's era: Python 3.8 caps it at 10.4) always goes horizontal
 * first. The *_PIL12 modes reproduce the old order; otherwise they are identical. */
typedef enum {
  RESIZE_NEAREST_CV,     /* OpenCV INTER_NEAREST: src = floor(dst * (1 / (out/in))) */
  RESIZE_BILINEAR_PIL,   /* Pillow >= 13 Image.resize BILINEAR, antialiased on downscale */
  RESIZE_BICUBIC_PIL,    /* Pillow >= 13 Image.resize BICUBIC (a = -0.5), antialiased */
  RESIZE_BILINEAR_PIL12, /* Pillow <= 12 BILINEAR */
  RESIZE_BICUBIC_PIL12,  /* Pillow <= 12 BICUBIC */
} resize_mode;

/* out is allocated with in->c channels. */
int image_resize(image_u8 *out, const image_u8 *in, int out_w, int out_h, resize_mode mode);
/* One float channel (Pillow mode "F") resized by the same kernels, taps and pass order as
 * image_resize, but in Pillow's 32bpc arithmetic: double sums of the normalised weights, float
 * results, no 8-bit rounding between the passes (anomalyncd_spec §3.5: the crop score's bicubic
 * map). out [out_h, out_w], in [in_h, in_w]. */
int image_resize_f32(float *out, const float *in, int in_w, int in_h, int out_w, int out_h,
                     resize_mode mode);
/* Copies the window [x0, x0+w) x [y0, y0+h); pixels outside the image are 0. */
int image_crop(image_u8 *out, const image_u8 *in, int x0, int y0, int w, int h);

/* The one float -> 8-bit map conversion: (v - lo) / (hi - lo) * 255 in float, truncated and
 * clamped to 0..255 (NumPy's float32 arithmetic, then astype(uint8)), as MuSc's heat maps
 * (musc §A.9) and the AnomalyNCD README's 8-bit maps (anomalyncd_spec §1.2) compute it. NaN and
 * a flat range (hi <= lo, where both references divide by zero) give 0. */
uint8_t map_value_u8(float v, float lo, float hi);
/* Jet colour map (OpenCV COLORMAP_JET, as RGB) of a float map scaled so lo -> 0 and hi -> 255:
 * index = map_value_u8(v, lo, hi), exactly MuSc's heat map when lo/hi are the map's min/max
 * (musc §A.9).
 * out is allocated w x h x 3. When under is not NULL (w x h, 1 or 3 channels) the colours are
 * blended: out = round(alpha * jet + (1 - alpha) * under). */
int heatmap_jet(image_u8 *out, const float *map, int w, int h, float lo, float hi,
                const image_u8 *under, float alpha);

#endif
