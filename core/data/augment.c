/* The §5.7 transforms (augment.h). Pillow's arithmetic is re-derived from libImaging (Blend.c,
 * Filter.c, Convert.c, Geometry.c) and torchvision's from transforms/_functional_{pil,tensor}.py;
 * the float expressions keep Pillow's operation order (this library is built without FMA
 * contraction), so the u8 results are Pillow's bit for bit. */
#include "augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "resize.h"
#include "rng.h"

/* ---- geometry ---- */

void aug_resize_shorter_size(int *out_w, int *out_h, int w, int h, int shorter) {
  int s = w <= h ? w : h, l = w <= h ? h : w;
  int new_long = (int)((double)shorter * l / s); /* Python int(shorter * long / short) */
  *out_w = w <= h ? shorter : new_long;
  *out_h = w <= h ? new_long : shorter;
}

void aug_resize(uint8_t *out, const uint8_t *in, int w, int h, int c, int out_w, int out_h) {
  resize_u8(out, in, w, h, c, out_w, out_h, RESIZE_FILTER_BILINEAR, 0);
}

void aug_crop(uint8_t *out, const uint8_t *in, int w, int h, int c, int left, int top, int cw,
              int ch) {
  if (left < 0 || top < 0 || left + cw > w || top + ch > h)
    ANCD_FATAL("aug_crop: window %d,%d %dx%d outside %dx%d", left, top, cw, ch, w, h);
  for (int y = 0; y < ch; y++)
    memcpy(out + (size_t)y * cw * c, in + ((size_t)(top + y) * w + left) * c, (size_t)cw * c);
}

void aug_hflip(uint8_t *out, const uint8_t *in, int w, int h, int c) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      memcpy(out + ((size_t)y * w + x) * c, in + ((size_t)y * w + (w - 1 - x)) * c, c);
}

void aug_vflip(uint8_t *out, const uint8_t *in, int w, int h, int c) {
  for (int y = 0; y < h; y++)
    memcpy(out + (size_t)y * w * c, in + (size_t)(h - 1 - y) * w * c, (size_t)w * c);
}

void aug_rotate(uint8_t *out, const uint8_t *in, int w, int h, int c, int quarter_turns) {
  int q = ((quarter_turns % 4) + 4) % 4;
  int ow = q % 2 ? h : w, oh = q % 2 ? w : h;
  for (int r = 0; r < oh; r++)
    for (int x = 0; x < ow; x++) {
      int sy,
          sx; /* Geometry.c: ROTATE_90 writes out[W-1-x][y] = in[y][x], ROTATE_270 out[x][H-1-y] */
      if (q == 0)
        sy = r, sx = x;
      else if (q == 1)
        sy = x, sx = w - 1 - r;
      else if (q == 2)
        sy = h - 1 - r, sx = w - 1 - x;
      else
        sy = h - 1 - x, sx = r;
      memcpy(out + ((size_t)r * ow + x) * c, in + ((size_t)sy * w + sx) * c, c);
    }
}

/* ---- ImageEnhance ---- */

/* Image.blend(degenerate, image, alpha) per byte (Blend.c): deg + alpha (img - deg) in float32,
 * then truncated; Pillow clips only when extrapolating, but interpolation never leaves
 * [min, max], so one clipped expression covers both branches and the alpha = 0 / 1 shortcuts. */
static inline uint8_t pil_blend(int deg, int img, float alpha) {
  float t = (float)deg + alpha * (float)(img - deg);
  return t <= 0.0f ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
}

/* convert("L") of one RGB pixel (Convert.c rgb2l: ITU-R 601-2 in 16-bit fixed point). */
static inline int pil_luma(const uint8_t *p) {
  return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16;
}

void aug_brightness(uint8_t *out, const uint8_t *in, int n, float factor) {
  for (size_t i = 0; i < (size_t)n * 3; i++)
    out[i] = pil_blend(0, in[i], factor);
}

void aug_contrast(uint8_t *out, const uint8_t *in, int n, float factor) {
  /* ImageEnhance.Contrast: int(ImageStat(L).mean + 0.5), the mean taken from the histogram. */
  uint64_t sum = 0;
  for (int i = 0; i < n; i++)
    sum += (uint64_t)pil_luma(in + (size_t)i * 3);
  int grey = n > 0 ? (int)((double)sum / n + 0.5) : 0;
  for (size_t i = 0; i < (size_t)n * 3; i++)
    out[i] = pil_blend(grey, in[i], factor);
}

void aug_saturation(uint8_t *out, const uint8_t *in, int n, float factor) {
  for (int i = 0; i < n; i++) {
    int l = pil_luma(in + (size_t)i * 3); /* read before an in-place write */
    for (int ch = 0; ch < 3; ch++)
      out[(size_t)i * 3 + ch] = pil_blend(l, in[(size_t)i * 3 + ch], factor);
  }
}

/* Filter.c clip8: clamp, then truncate. */
static inline uint8_t pil_clip8(float v) {
  v = v < 0.0f ? 0.0f : v;
  v = v > 255.0f ? 255.0f : v;
  return (uint8_t)v;
}

/* PIL's SMOOTH filter (ImagingFilter3x3 with the kernel divided by 13 in float32 and an offset of
 * 0.5 for rounding): rows y+1, y, y-1 in that order, each a left-to-right sum of three products.
 * The border and images under 3x3 are copied. */
static void pil_smooth(uint8_t *out, const uint8_t *in, int w, int h, int c) {
  memcpy(out, in, (size_t)w * h * c);
  if (w < 3 || h < 3)
    return;
  const float o = 1.0f / 13.0f, m = 5.0f / 13.0f;
  size_t row = (size_t)w * c;
  for (int y = 1; y < h - 1; y++) {
    const uint8_t *up = in + (size_t)(y - 1) * row, *mid = up + row, *dn = mid + row;
    uint8_t *dst = out + (size_t)y * row;
    for (int x = 1; x < w - 1; x++)
      for (int ch = 0; ch < c; ch++) {
        size_t l = (size_t)(x - 1) * c + ch, i = l + c, r = i + c;
        float ss = 0.5f;
        ss += (float)dn[l] * o + (float)dn[i] * o + (float)dn[r] * o;
        ss += (float)mid[l] * o + (float)mid[i] * m + (float)mid[r] * o;
        ss += (float)up[l] * o + (float)up[i] * o + (float)up[r] * o;
        dst[i] = pil_clip8(ss);
      }
  }
}

void aug_sharpness(uint8_t *out, const uint8_t *in, int w, int h, int c, float factor) {
  size_t n = (size_t)w * h * c;
  uint8_t *smooth = xmalloc(n);
  pil_smooth(smooth, in, w, h, c);
  for (size_t i = 0; i < n; i++)
    out[i] = pil_blend(smooth[i], in[i], factor);
  free(smooth);
}

/* ---- torchvision ---- */

/* torch pad mode "reflect": -1 -> 1, n -> n - 2, repeated for paths longer than the side. */
static int reflect_index(int i, int n) {
  if (n == 1)
    return 0;
  while (i < 0 || i >= n)
    i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

void aug_gaussian_blur(uint8_t *out, const uint8_t *in, int w, int h, int c, int ksize,
                       float sigma) {
  /* _get_gaussian_kernel1d: exp(-0.5 (x / sigma)^2) at x = -(k-1)/2 .. (k-1)/2, normalised. */
  int half = ksize / 2;
  double *k = xmalloc(sizeof(double) * ksize), sum = 0.0;
  for (int i = 0; i < ksize; i++) {
    double x = (i - half) / (double)sigma;
    k[i] = exp(-0.5 * x * x);
    sum += k[i];
  }
  for (int i = 0; i < ksize; i++)
    k[i] /= sum;
  int *xi = xmalloc(sizeof(int) * (w + 2 * half)), *yi = xmalloc(sizeof(int) * (h + 2 * half));
  for (int i = 0; i < w + 2 * half; i++)
    xi[i] = reflect_index(i - half, w);
  for (int i = 0; i < h + 2 * half; i++)
    yi[i] = reflect_index(i - half, h);
  double *tmp = xmalloc(sizeof(double) * w * h * c); /* the horizontal pass, unrounded */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int ch = 0; ch < c; ch++) {
        double acc = 0.0;
        for (int t = 0; t < ksize; t++)
          acc += k[t] * in[((size_t)y * w + xi[x + t]) * c + ch];
        tmp[((size_t)y * w + x) * c + ch] = acc;
      }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int ch = 0; ch < c; ch++) {
        double acc = 0.0;
        for (int t = 0; t < ksize; t++)
          acc += k[t] * tmp[((size_t)yi[y + t] * w + x) * c + ch];
        acc = rint(acc); /* torch.round: half to even */
        out[((size_t)y * w + x) * c + ch] = (uint8_t)(acc < 0.0 ? 0.0 : acc > 255.0 ? 255.0 : acc);
      }
  free(tmp);
  free(yi);
  free(xi);
  free(k);
}

void aug_posterize(uint8_t *out, const uint8_t *in, size_t n, int bits) {
  uint8_t keep = (uint8_t)(0xFF << (8 - bits));
  for (size_t i = 0; i < n; i++)
    out[i] = in[i] & keep;
}

void aug_to_tensor(float *out, const uint8_t *in, int n, int c, const float *mean,
                   const float *std) {
  for (int ch = 0; ch < c; ch++)
    for (int i = 0; i < n; i++) {
      float v = (float)in[(size_t)i * c + ch] / 255.0f; /* ToTensor: div(255) in float32 */
      out[(size_t)ch * n + i] = mean ? (v - mean[ch]) / std[ch] : v;
    }
}

/* ---- the transforms ---- */

/* The draw slots of augment_draw (augment.h). */
enum {
  SLOT_TOP,
  SLOT_LEFT,
  SLOT_HFLIP,
  SLOT_VFLIP,
  SLOT_JITTER_ORDER,
  SLOT_BRIGHTNESS,
  SLOT_CONTRAST,
  SLOT_SATURATION,
  SLOT_ROTATE,
  SLOT_SHARPNESS,
  SLOT_BLUR_KSIZE,
  SLOT_BLUR_SIGMA,
  SLOT_POSTERIZE,
};

static const uint64_t AUGMENT_DOMAIN = 0x6175676d656e7401ULL; /* "augment", version 1 */

void augment_draw(augment_params *p, const augment_key *key) {
  uint64_t s = rng_u64_at(AUGMENT_DOMAIN, key->seed);
  s = rng_u64_at(rng_u64_at(rng_u64_at(s, key->epoch), key->draw), key->view);
#define U(slot) rng_uniform_at(s, (slot))
  p->top = (int)(U(SLOT_TOP) * AUGMENT_CROP_RANGE);
  p->left = (int)(U(SLOT_LEFT) * AUGMENT_CROP_RANGE);
  p->hflip = U(SLOT_HFLIP) < 0.5;
  p->vflip = U(SLOT_VFLIP) < 0.5;
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  int perm = (int)(U(SLOT_JITTER_ORDER) * 6);
  memcpy(p->jitter_order, perms[perm], sizeof p->jitter_order);
  p->brightness = (float)(0.6 + 0.8 * U(SLOT_BRIGHTNESS));
  p->contrast = (float)(0.6 + 0.8 * U(SLOT_CONTRAST));
  p->saturation = (float)(0.6 + 1.2 * U(SLOT_SATURATION));
  double r = U(SLOT_ROTATE);
  p->quarter_turns = r < 0.25 ? 1 : r < 0.5 ? 2 : r < 0.75 ? 3 : 0;
  p->sharpness = (float)(0.2 + 1.8 * U(SLOT_SHARPNESS));
  p->blur_ksize = 9 + 4 * (int)(U(SLOT_BLUR_KSIZE) * 7);
  p->blur_sigma = (float)(0.1 + 1.9 * U(SLOT_BLUR_SIGMA));
  p->posterize_bits = 5 + (int)(U(SLOT_POSTERIZE) * 4);
#undef U
}

/* Resize the shorter side to 256 and crop 224 at (left, top): the start of both transforms. */
static void resize_crop(uint8_t *img, uint8_t *msk, const uint8_t *rgb, const uint8_t *mask, int w,
                        int h, int left, int top) {
  int rw, rh;
  aug_resize_shorter_size(&rw, &rh, w, h, AUGMENT_RESIZE);
  uint8_t *big = xmalloc((size_t)rw * rh * 3);
  aug_resize(big, rgb, w, h, 3, rw, rh);
  aug_crop(img, big, rw, rh, 3, left, top, AUGMENT_SIZE, AUGMENT_SIZE);
  if (mask) {
    aug_resize(big, mask, w, h, 1, rw, rh);
    aug_crop(msk, big, rw, rh, 1, left, top, AUGMENT_SIZE, AUGMENT_SIZE);
  }
  free(big);
}

static void swap_u8(uint8_t **a, uint8_t **b) {
  uint8_t *t = *a;
  *a = *b;
  *b = t;
}

void augment_train_params(float *img_out, float *mask_out, const uint8_t *rgb, const uint8_t *mask,
                          int w, int h, const augment_params *p, const float mean[3],
                          const float std[3]) {
  const int S = AUGMENT_SIZE, n = S * S;
  uint8_t *a = xmalloc((size_t)n * 3), *b = xmalloc((size_t)n * 3);
  uint8_t *ma = mask ? xmalloc(n) : NULL, *mb = mask ? xmalloc(n) : NULL;
  resize_crop(a, ma, rgb, mask, w, h, p->left, p->top);
  if (p->hflip) {
    aug_hflip(b, a, S, S, 3);
    swap_u8(&a, &b);
    if (mask) {
      aug_hflip(mb, ma, S, S, 1);
      swap_u8(&ma, &mb);
    }
  }
  if (p->vflip) {
    aug_vflip(b, a, S, S, 3);
    swap_u8(&a, &b);
    if (mask) {
      aug_vflip(mb, ma, S, S, 1);
      swap_u8(&ma, &mb);
    }
  }
  for (int i = 0; i < 3; i++) { /* ColorJitter: image only, in place */
    int op = p->jitter_order[i];
    if (op == 0)
      aug_brightness(a, a, n, p->brightness);
    else if (op == 1)
      aug_contrast(a, a, n, p->contrast);
    else
      aug_saturation(a, a, n, p->saturation);
  }
  if (p->quarter_turns % 4) { /* square, so Image.rotate is the transpose */
    aug_rotate(b, a, S, S, 3, p->quarter_turns);
    swap_u8(&a, &b);
    if (mask) {
      aug_rotate(mb, ma, S, S, 1, p->quarter_turns);
      swap_u8(&ma, &mb);
    }
  }
  aug_sharpness(b, a, S, S, 3, p->sharpness);
  aug_gaussian_blur(a, b, S, S, 3, p->blur_ksize, p->blur_sigma);
  aug_posterize(a, a, (size_t)n * 3, p->posterize_bits);
  aug_to_tensor(img_out, a, n, 3, mean, std);
  if (mask && mask_out)
    aug_to_tensor(mask_out, ma, n, 1, NULL, NULL);
  free(a);
  free(b);
  free(ma);
  free(mb);
}

void augment_train(float *img_out, float *mask_out, const uint8_t *rgb, const uint8_t *mask, int w,
                   int h, const augment_key *key, const float mean[3], const float std[3]) {
  augment_params p;
  augment_draw(&p, key);
  augment_train_params(img_out, mask_out, rgb, mask, w, h, &p, mean, std);
}

void augment_test(float *img_out, float *mask_out, const uint8_t *rgb, const uint8_t *mask, int w,
                  int h, const float mean[3], const float std[3]) {
  const int n = AUGMENT_SIZE * AUGMENT_SIZE;
  uint8_t *img = xmalloc((size_t)n * 3), *msk = mask ? xmalloc(n) : NULL;
  resize_crop(img, msk, rgb, mask, w, h, AUGMENT_TEST_OFFSET, AUGMENT_TEST_OFFSET);
  aug_to_tensor(img_out, img, n, 3, mean, std);
  if (mask && mask_out)
    aug_to_tensor(mask_out, msk, n, 1, NULL, NULL);
  free(img);
  free(msk);
}
