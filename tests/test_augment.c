/* The §5.7 transforms' properties (anomalyncd_spec §5.7): a key fixes every choice, the choices
 * follow the reference's distributions, the mask follows the geometric ops only, the output is
 * normalised as ToTensor + Normalize and finite for any input size. The comparison with
 * torchvision is tests/test_augment_golden.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "error.h"
#include "test_util.h"

static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STD[3] = {0.229f, 0.224f, 0.225f};
enum { N = AUGMENT_SIZE * AUGMENT_SIZE };

/* A w x h test pattern without symmetries, so every flip and turn shows. */
static void pattern(uint8_t *rgb, uint8_t *mask, int w, int h) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      size_t i = (size_t)y * w + x;
      rgb[i * 3] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1));
      rgb[i * 3 + 1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
      rgb[i * 3 + 2] = (uint8_t)((x * 7 + y * 13 + x * y) % 256);
      mask[i] = (uint8_t)(x < w / 3 && y < h / 2 ? 255 : (x + 2 * y) % 97);
    }
}

static void test_key_determinism(void) {
  int w = 61, h = 47;
  uint8_t *rgb = xmalloc((size_t)w * h * 3), *mask = xmalloc((size_t)w * h);
  pattern(rgb, mask, w, h);
  float *a = xmalloc(sizeof(float) * 3 * N), *b = xmalloc(sizeof(float) * 3 * N);
  float *ma = xmalloc(sizeof(float) * N), *mb = xmalloc(sizeof(float) * N);
  augment_key key = {.seed = 3407, .epoch = 4, .draw = 17, .view = 0};
  augment_train(a, ma, rgb, mask, w, h, &key, MEAN, STD);
  augment_train(b, mb, rgb, mask, w, h, &key, MEAN, STD);
  CHECK(!memcmp(a, b, sizeof(float) * 3 * N) && !memcmp(ma, mb, sizeof(float) * N),
        "the same key gives different outputs");
  /* Changing any field of the key changes the choices (and here the pixels). */
  for (int f = 0; f < 4; f++) {
    augment_key k2 = key;
    uint64_t *field[] = {&k2.seed, &k2.epoch, &k2.draw, &k2.view};
    *field[f] += 1;
    augment_params p1, p2;
    augment_draw(&p1, &key);
    augment_draw(&p2, &k2);
    CHECK(memcmp(&p1, &p2, sizeof p1) != 0, "key field %d does not change the choices", f);
    augment_train(b, mb, rgb, mask, w, h, &k2, MEAN, STD);
    CHECK(memcmp(a, b, sizeof(float) * 3 * N) != 0, "key field %d does not change the image", f);
  }
  free(rgb);
  free(mask);
  free(a);
  free(b);
  free(ma);
  free(mb);
}

static void test_draw_distribution(void) {
  enum { KEYS = 20000 };
  int top[32] = {0}, left[32] = {0}, ksize[34] = {0}, bits[9] = {0}, turns[4] = {0}, perm[6] = {0};
  int hflip = 0, vflip = 0, bad = 0;
  for (int i = 0; i < KEYS; i++) {
    augment_key key = {.seed = 11, .epoch = (uint64_t)i % 7, .draw = (uint64_t)i, .view = i % 2};
    augment_params p;
    augment_draw(&p, &key);
    bad += p.top < 0 || p.top > 31 || p.left < 0 || p.left > 31;
    bad += p.blur_ksize < 9 || p.blur_ksize > 33 || p.blur_ksize % 4 != 1;
    bad +=
        p.posterize_bits < 5 || p.posterize_bits > 8 || p.quarter_turns < 0 || p.quarter_turns > 3;
    bad += !(p.brightness >= 0.6f && p.brightness <= 1.4f && p.contrast >= 0.6f &&
             p.contrast <= 1.4f && p.saturation >= 0.6f && p.saturation <= 1.8f);
    bad += !(p.sharpness >= 0.2f && p.sharpness <= 2.0f && p.blur_sigma >= 0.1f &&
             p.blur_sigma <= 2.0f);
    int o = p.jitter_order[0] * 9 + p.jitter_order[1] * 3 + p.jitter_order[2];
    int code[] = {5, 7, 11, 15, 19, 21}; /* 012 021 102 120 201 210 in base 3 */
    int k = 0;
    while (k < 6 && code[k] != o)
      k++;
    bad += k == 6;
    if (bad)
      break;
    top[p.top]++, left[p.left]++, ksize[p.blur_ksize]++, bits[p.posterize_bits]++;
    turns[p.quarter_turns]++, perm[k]++, hflip += p.hflip, vflip += p.vflip;
  }
  CHECK(bad == 0, "a choice out of its range");
  /* Each category's count within 6 binomial standard deviations of its expectation. */
#define CHECK_SHARE(count, p)                                                                      \
  CHECK(fabs((count)-KEYS *(p)) <= 6 * sqrt(KEYS * (p) * (1 - (p))), "%s = %d, expected %.0f",     \
        #count, (count), KEYS * (p))
  for (int i = 0; i < 32; i++) {
    CHECK_SHARE(top[i], 1.0 / 32);
    CHECK_SHARE(left[i], 1.0 / 32);
  }
  for (int k = 9; k <= 33; k += 4)
    CHECK_SHARE(ksize[k], 1.0 / 7);
  for (int b = 5; b <= 8; b++)
    CHECK_SHARE(bits[b], 1.0 / 4);
  for (int q = 0; q < 4; q++)
    CHECK_SHARE(turns[q], 1.0 / 4);
  for (int k = 0; k < 6; k++)
    CHECK_SHARE(perm[k], 1.0 / 6);
  CHECK_SHARE(hflip, 0.5);
  CHECK_SHARE(vflip, 0.5);
#undef CHECK_SHARE
}

/* With a grey image equal to the mask and the photometric ops at identity, the image output is the
 * mask output normalised; with any photometric choices the mask output stays the same. */
static void test_mask_follows_geometry(void) {
  int w = 53, h = 71;
  uint8_t *rgb = xmalloc((size_t)w * h * 3), *mask = xmalloc((size_t)w * h);
  pattern(rgb, mask, w, h);
  for (int i = 0; i < w * h; i++)
    rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = mask[i];
  float *img = xmalloc(sizeof(float) * 3 * N), *m_id = xmalloc(sizeof(float) * N);
  float *m = xmalloc(sizeof(float) * N);
  for (uint64_t d = 0; d < 12; d++) {
    augment_key key = {.seed = 5, .epoch = 1, .draw = d, .view = d % 2};
    augment_params p, id;
    augment_draw(&p, &key);
    id = p;
    id.brightness = id.contrast = id.saturation = id.sharpness = 1.0f;
    id.blur_sigma = 0.1f; /* the 9-tap kernel's outer weights are < 1e-21: no change */
    id.blur_ksize = 9;
    id.posterize_bits = 8;
    augment_train_params(img, m_id, rgb, mask, w, h, &id, MEAN, STD);
    int bad = 0, not_k255 = 0;
    for (int i = 0; i < N; i++) {
      float v = m_id[i];
      uint8_t u = (uint8_t)lrintf(v * 255.0f);
      not_k255 += !(v >= 0.0f && v <= 1.0f && (float)u / 255.0f == v);
      for (int c = 0; c < 3; c++)
        bad += img[(size_t)c * N + i] != ((float)u / 255.0f - MEAN[c]) / STD[c];
    }
    CHECK(not_k255 == 0, "draw %d: %d mask values are not k / 255", (int)d, not_k255);
    CHECK(bad == 0, "draw %d: %d image values do not follow the mask", (int)d, bad);
    augment_train_params(img, m, rgb, mask, w, h, &p, MEAN, STD);
    CHECK(!memcmp(m, m_id, sizeof(float) * N), "draw %d: photometric ops changed the mask", (int)d);
  }
  free(rgb);
  free(mask);
  free(img);
  free(m_id);
  free(m);
}

static void test_normalisation(void) {
  int w = 300, h = 200;
  uint8_t *rgb = xmalloc((size_t)w * h * 3), *mask = xmalloc((size_t)w * h);
  const uint8_t v[3] = {10, 128, 250};
  for (int i = 0; i < w * h; i++) {
    memcpy(rgb + (size_t)i * 3, v, 3);
    mask[i] = 255;
  }
  float *img = xmalloc(sizeof(float) * 3 * N), *m = xmalloc(sizeof(float) * N);
  augment_test(img, m, rgb, mask, w, h, MEAN, STD);
  int bad = 0;
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < N; i++)
      bad += img[(size_t)c * N + i] != ((float)v[c] / 255.0f - MEAN[c]) / STD[c];
  for (int i = 0; i < N; i++)
    bad += m[i] != 1.0f;
  CHECK(bad == 0, "a constant image: %d values are not (v / 255 - mean) / std", bad);
  CHECK_NEAR(img[0], (10.0 / 255 - 0.485) / 0.229, 1e-6);
  augment_test(img, NULL, rgb, NULL, w, h, MEAN, STD); /* no mask */
  CHECK(img[2 * N] == ((float)v[2] / 255.0f - MEAN[2]) / STD[2], "without a mask");
  free(rgb);
  free(mask);
  free(img);
  free(m);
}

/* Any input size (tiny, thin, large, either orientation) gives finite outputs in range. */
static void test_sizes(void) {
  static const int sizes[][2] = {{1, 1}, {2, 3}, {7, 500}, {500, 7}, {224, 224}, {640, 480}};
  float *img = xmalloc(sizeof(float) * 3 * N), *m = xmalloc(sizeof(float) * N);
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    int w = sizes[s][0], h = sizes[s][1];
    uint8_t *rgb = xmalloc((size_t)w * h * 3), *mask = xmalloc((size_t)w * h);
    pattern(rgb, mask, w, h);
    for (uint64_t view = 0; view < 2; view++) {
      augment_key key = {.seed = 1, .epoch = 0, .draw = s, .view = view};
      augment_train(img, m, rgb, mask, w, h, &key, MEAN, STD);
      int bad = 0;
      for (int c = 0; c < 3; c++)
        for (int i = 0; i < N; i++) {
          float x = img[(size_t)c * N + i];
          bad += !isfinite(x) || x < (0.0f - MEAN[c]) / STD[c] - 1e-6f ||
                 x > (1.0f - MEAN[c]) / STD[c] + 1e-6f;
        }
      for (int i = 0; i < N; i++)
        bad += !(m[i] >= 0.0f && m[i] <= 1.0f);
      CHECK(bad == 0, "%dx%d view %d: %d values out of range", w, h, (int)view, bad);
    }
    augment_test(img, m, rgb, mask, w, h, MEAN, STD);
    CHECK(isfinite(img[0]) && isfinite(m[N - 1]), "%dx%d test transform", w, h);
    free(rgb);
    free(mask);
  }
  int ow, oh;
  aug_resize_shorter_size(&ow, &oh, 40, 30, 256);
  CHECK(ow == 341 && oh == 256, "40x30 -> %dx%d, torchvision 341x256", ow, oh);
  aug_resize_shorter_size(&ow, &oh, 7, 500, 256);
  CHECK(ow == 256 && oh == 18285, "7x500 -> %dx%d, torchvision 256x18285", ow, oh);
  free(img);
  free(m);
}

/* Geometric identities and posterize on a small non-square RGB buffer. */
static void test_op_identities(void) {
  int w = 9, h = 5;
  uint8_t in[9 * 5 * 3], a[9 * 5 * 3], b[9 * 5 * 3], mask[9 * 5];
  pattern(in, mask, w, h);
  aug_hflip(a, in, w, h, 3);
  aug_hflip(b, a, w, h, 3);
  CHECK(!memcmp(b, in, sizeof in) && memcmp(a, in, sizeof in), "hflip twice");
  aug_vflip(a, in, w, h, 3);
  aug_vflip(b, a, w, h, 3);
  CHECK(!memcmp(b, in, sizeof in) && memcmp(a, in, sizeof in), "vflip twice");
  aug_rotate(a, in, w, h, 3, 1); /* [w, h] now */
  CHECK(!memcmp(a, in + (w - 1) * 3, 3), "ROTATE_90 puts the top-right pixel top-left");
  aug_rotate(b, a, h, w, 3, 3);
  CHECK(!memcmp(b, in, sizeof in), "90 then 270");
  aug_rotate(a, in, w, h, 3, 2);
  aug_hflip(b, a, w, h, 3);
  aug_vflip(a, b, w, h, 3);
  CHECK(!memcmp(a, in, sizeof in), "180 = both flips");
  aug_posterize(a, in, sizeof in, 8);
  CHECK(!memcmp(a, in, sizeof in), "posterize 8 bits");
  aug_posterize(a, in, sizeof in, 5);
  int bad = 0;
  for (size_t i = 0; i < sizeof in; i++)
    bad += a[i] != (in[i] & 0xF8);
  CHECK(bad == 0, "posterize 5 bits keeps the 5 high bits");
  aug_brightness(a, in, w * h, 1.0f);
  aug_sharpness(b, in, w, h, 3, 1.0f);
  CHECK(!memcmp(a, in, sizeof in) && !memcmp(b, in, sizeof in), "factor 1 is the identity");
}

int main(void) {
  test_key_determinism();
  test_draw_distribution();
  test_mask_follows_geometry();
  test_normalisation();
  test_sizes();
  test_op_identities();
  return test_done("augment");
}
