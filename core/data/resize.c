/* Pillow-exact and OpenCV-exact resizing (resize.h), moved here from io/image_resize.c so core's
 * transforms (anomalyncd_spec §5.7) and io share one implementation.
 *
 * Pillow's algorithm (libImaging/Resample.c, re-derived here, not copied):
 * - separable: one pass per axis into a uint8 temporary (rounded and clipped), horizontal
 *   first except where Pillow >= 13 picks vertical first (resize.h); a pass is skipped when that
 *   axis keeps its size;
 * - output pixel i samples around centre (i + 0.5) * in/out; when downscaling the kernel is
 *   stretched by in/out (antialiasing), so its support grows with the factor;
 * - the taps of each output pixel are normalised to sum 1, then turned into 22-bit fixed point
 *   (rounded half away from zero) and accumulated in integers with a +0.5 rounding offset.
 * The double arithmetic below follows the same operations in the same order, so the fixed-point
 * weights, and hence the pixels, are identical. */
#include "resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "resample.h"

enum { PRECISION_BITS = 32 - 8 - 2 }; /* 8 bits of value, 2 of headroom for negative lobes */

static double bilinear_kernel(double x) {
  x = fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Taps of one axis: output i reads in[first[i] .. first[i] + count[i]) with fixed-point weights
 * w[i * ksize ...] (8-bit images) or the normalised doubles wd[i * ksize ...] they come from
 * (float images: Pillow's 32bpc path uses those directly). */
typedef struct {
  int ksize;
  int *first, *count;
  int32_t *w;
  double *wd;
} taps;

static void taps_free(taps *t) {
  free(t->first);
  free(t->count);
  free(t->w);
  free(t->wd);
}

static void taps_build(taps *t, int in_size, int out_size, double (*kernel)(double),
                       double kernel_support) {
  t->ksize = resample_max_taps(in_size, out_size, kernel_support);
  t->first = xmalloc(sizeof(int) * out_size);
  t->count = xmalloc(sizeof(int) * out_size);
  t->w = xcalloc((size_t)out_size * t->ksize, sizeof(int32_t));
  t->wd = xcalloc((size_t)out_size * t->ksize, sizeof(double));
  for (int i = 0; i < out_size; i++) {
    double *wd = t->wd + (size_t)i * t->ksize;
    int32_t *w = t->w + (size_t)i * t->ksize;
    int n = resample_taps(wd, &t->first[i], i, in_size, out_size, kernel, kernel_support);
    for (int x = 0; x < n; x++) /* 22-bit fixed point, rounded half away from zero */
      w[x] = (int32_t)(wd[x] < 0 ? wd[x] * (1 << PRECISION_BITS) - 0.5
                                 : wd[x] * (1 << PRECISION_BITS) + 0.5);
    t->count[i] = n;
  }
}

static uint8_t clip_fixed(int64_t acc) {
  if (acc < 0)
    return 0;
  acc >>= PRECISION_BITS;
  return (uint8_t)(acc > 255 ? 255 : acc);
}

/* Rows [y0, y0 + rows) of in (width in_w) resampled horizontally into out (width out_w). */
static void resample_rows(uint8_t *out, const uint8_t *in, const taps *t, int in_w, int out_w,
                          int c, int y0, int rows) {
  for (int y = 0; y < rows; y++) {
    const uint8_t *src = in + (size_t)(y0 + y) * in_w * c;
    uint8_t *dst = out + (size_t)y * out_w * c;
    for (int i = 0; i < out_w; i++) {
      const int32_t *w = t->w + (size_t)i * t->ksize;
      const uint8_t *s = src + (size_t)t->first[i] * c;
      for (int ch = 0; ch < c; ch++) {
        int64_t acc = 1 << (PRECISION_BITS - 1);
        for (int x = 0; x < t->count[i]; x++)
          acc += (int64_t)s[x * c + ch] * w[x];
        dst[i * c + ch] = clip_fixed(acc);
      }
    }
  }
}

/* Vertical pass; in holds rows starting at source row y0. */
static void resample_cols(uint8_t *out, const uint8_t *in, const taps *t, int w, int c, int out_h,
                          int y0) {
  size_t row = (size_t)w * c;
  for (int j = 0; j < out_h; j++) {
    const int32_t *k = t->w + (size_t)j * t->ksize;
    const uint8_t *s = in + (size_t)(t->first[j] - y0) * row;
    uint8_t *dst = out + (size_t)j * row;
    for (size_t i = 0; i < row; i++) {
      int64_t acc = 1 << (PRECISION_BITS - 1);
      for (int y = 0; y < t->count[j]; y++)
        acc += (int64_t)s[(size_t)y * row + i] * k[y];
      dst[i] = clip_fixed(acc);
    }
  }
}

/* vertical_first_ok: Pillow >= 13 may run the vertical pass first (resize.h). */
static void resize_pillow(uint8_t *out, const uint8_t *in, int in_w, int in_h, int c, int out_w,
                          int out_h, double (*kernel)(double), double support,
                          int vertical_first_ok) {
  int need_h = out_w != in_w, need_v = out_h != in_h;
  if (!need_h && !need_v) {
    memcpy(out, in, (size_t)in_w * in_h * c);
    return;
  }
  taps tv = {0}, th = {0};
  if (need_v)
    taps_build(&tv, in_h, out_h, kernel, support);
  if (need_h)
    taps_build(&th, in_w, out_w, kernel, support);
  int shrink_h = in_h - out_h, shrink_w = in_w - out_w;
  if (!need_h) {
    resample_cols(out, in, &tv, in_w, c, out_h, 0);
  } else if (!need_v) {
    resample_rows(out, in, &th, in_w, out_w, c, 0, in_h);
  } else if (vertical_first_ok && shrink_h > 0 && shrink_h > 2 * shrink_w) {
    uint8_t *tmp = xmalloc((size_t)in_w * out_h * c);
    resample_cols(tmp, in, &tv, in_w, c, out_h, 0);
    resample_rows(out, tmp, &th, in_w, out_w, c, 0, out_h);
    free(tmp);
  } else {
    /* Horizontal first, on the source rows the vertical pass will read. */
    int y0 = tv.first[0], rows = tv.first[out_h - 1] + tv.count[out_h - 1] - y0;
    uint8_t *tmp = xmalloc((size_t)out_w * rows * c);
    resample_rows(tmp, in, &th, in_w, out_w, c, y0, rows);
    resample_cols(out, tmp, &tv, out_w, c, out_h, y0);
    free(tmp);
  }
  taps_free(&th);
  taps_free(&tv);
}

/* OpenCV resizeNN: src = min(floor(dst * (1 / (out / in))), in - 1), with the reciprocal of the
 * double ratio. That differs from the exact floor(dst * in / out) for some sizes (e.g. 6 -> 34),
 * and OpenCV's rounding is the one to match. */
static void nearest_index(int *idx, int in_size, int out_size) {
  double inv = 1.0 / ((double)out_size / in_size);
  for (int i = 0; i < out_size; i++) {
    int s = (int)floor(i * inv);
    idx[i] = s < in_size - 1 ? s : in_size - 1;
  }
}

/* Pixels of es bytes (c u8 channels, or one float): the same index rule for both. */
static void resize_nearest_cv(void *out, const void *in, int in_w, int in_h, size_t es, int out_w,
                              int out_h) {
  int *xs = xmalloc(sizeof(int) * out_w), *ys = xmalloc(sizeof(int) * out_h);
  nearest_index(xs, in_w, out_w);
  nearest_index(ys, in_h, out_h);
  for (int y = 0; y < out_h; y++) {
    const char *src = (const char *)in + (size_t)ys[y] * in_w * es;
    char *dst = (char *)out + (size_t)y * out_w * es;
    for (int x = 0; x < out_w; x++)
      memcpy(dst + (size_t)x * es, src + (size_t)xs[x] * es, es);
  }
  free(xs);
  free(ys);
}

void resize_u8(uint8_t *out, const uint8_t *in, int in_w, int in_h, int c, int out_w, int out_h,
               resize_filter filter, int pillow12_order) {
  if (filter == RESIZE_FILTER_NEAREST_CV)
    resize_nearest_cv(out, in, in_w, in_h, (size_t)c, out_w, out_h);
  else if (filter == RESIZE_FILTER_BILINEAR)
    resize_pillow(out, in, in_w, in_h, c, out_w, out_h, bilinear_kernel, 1.0, !pillow12_order);
  else
    resize_pillow(out, in, in_w, in_h, c, out_w, out_h, resample_cubic, 2.0, !pillow12_order);
}

/* ---- float images (Pillow mode "F") ---- */

/* Pillow's 32bpc passes: each output sums in double the float inputs times the normalised
 * double weights, and is stored as float; the intermediate image is float too (no rounding to
 * 8 bits between the passes, so the pass order changes only float rounding). */
static void resample_rows_f32(float *out, const float *in, const taps *t, int in_w, int out_w,
                              int y0, int rows) {
  for (int y = 0; y < rows; y++) {
    const float *src = in + (size_t)(y0 + y) * in_w;
    float *dst = out + (size_t)y * out_w;
    for (int i = 0; i < out_w; i++) {
      const double *w = t->wd + (size_t)i * t->ksize;
      const float *s = src + t->first[i];
      double acc = 0.0;
      for (int x = 0; x < t->count[i]; x++)
        acc += s[x] * w[x];
      dst[i] = (float)acc;
    }
  }
}

static void resample_cols_f32(float *out, const float *in, const taps *t, int w, int out_h,
                              int y0) {
  for (int j = 0; j < out_h; j++) {
    const double *k = t->wd + (size_t)j * t->ksize;
    const float *s = in + (size_t)(t->first[j] - y0) * w;
    float *dst = out + (size_t)j * w;
    for (int i = 0; i < w; i++) {
      double acc = 0.0;
      for (int y = 0; y < t->count[j]; y++)
        acc += s[(size_t)y * w + i] * k[y];
      dst[i] = (float)acc;
    }
  }
}

/* The pass structure of resize_pillow on one float channel. */
static void resize_pillow_f32(float *out, const float *in, int in_w, int in_h, int out_w, int out_h,
                              double (*kernel)(double), double support, int vertical_first_ok) {
  int need_h = out_w != in_w, need_v = out_h != in_h;
  if (!need_h && !need_v) {
    memcpy(out, in, (size_t)in_w * in_h * sizeof *out);
    return;
  }
  taps tv = {0}, th = {0};
  if (need_v)
    taps_build(&tv, in_h, out_h, kernel, support);
  if (need_h)
    taps_build(&th, in_w, out_w, kernel, support);
  int shrink_h = in_h - out_h, shrink_w = in_w - out_w;
  if (!need_h) {
    resample_cols_f32(out, in, &tv, in_w, out_h, 0);
  } else if (!need_v) {
    resample_rows_f32(out, in, &th, in_w, out_w, 0, in_h);
  } else if (vertical_first_ok && shrink_h > 0 && shrink_h > 2 * shrink_w) {
    float *tmp = xmalloc((size_t)in_w * out_h * sizeof *tmp);
    resample_cols_f32(tmp, in, &tv, in_w, out_h, 0);
    resample_rows_f32(out, tmp, &th, in_w, out_w, 0, out_h);
    free(tmp);
  } else {
    int y0 = tv.first[0], rows = tv.first[out_h - 1] + tv.count[out_h - 1] - y0;
    float *tmp = xmalloc((size_t)out_w * rows * sizeof *tmp);
    resample_rows_f32(tmp, in, &th, in_w, out_w, y0, rows);
    resample_cols_f32(out, tmp, &tv, out_w, out_h, y0);
    free(tmp);
  }
  taps_free(&th);
  taps_free(&tv);
}

void resize_f32(float *out, const float *in, int in_w, int in_h, int out_w, int out_h,
                resize_filter filter, int pillow12_order) {
  if (filter == RESIZE_FILTER_NEAREST_CV)
    resize_nearest_cv(out, in, in_w, in_h, sizeof(float), out_w, out_h);
  else if (filter == RESIZE_FILTER_BILINEAR)
    resize_pillow_f32(out, in, in_w, in_h, out_w, out_h, bilinear_kernel, 1.0, !pillow12_order);
  else
    resize_pillow_f32(out, in, in_w, in_h, out_w, out_h, resample_cubic, 2.0, !pillow12_order);
}
