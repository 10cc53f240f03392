/* Resizing against Pillow (bilinear, bicubic) and OpenCV (nearest) outputs, cropping, and jet
 * heat maps against cv2.applyColorMap. Goldens: tests/golden/resize, written by
 * tests/golden/gen_resize_golden.py. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_store.h"
#include "error.h"
#include "image.h"
#include "test_util.h"

static const char *golden_path(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/tests/golden/resize/%s", test_source_dir(), name);
  return buf;
}

static int load_golden(image_u8 *img, const char *name) {
  int r = image_load(img, golden_path(name), 0);
  CHECK(r == 0, "%s", ancd_error());
  return r;
}

static void test_resize_goldens(void) {
  FILE *f = fopen(golden_path("cases.txt"), "r");
  CHECK(f != NULL, "cannot open %s", golden_path("cases.txt"));
  if (!f)
    return;
  char input[256], mode_name[32], output[256];
  int w, h, cases = 0, exact = 0, worst = 0;
  while (fscanf(f, "%255s %31s %d %d %255s", input, mode_name, &w, &h, output) == 5) {
    static const char *names[] = {"nearest", "bilinear", "bicubic", "bilinear12", "bicubic12"};
    static const resize_mode modes[] = {RESIZE_NEAREST_CV, RESIZE_BILINEAR_PIL, RESIZE_BICUBIC_PIL,
                                        RESIZE_BILINEAR_PIL12, RESIZE_BICUBIC_PIL12};
    int m = 0;
    while (m < 5 && strcmp(names[m], mode_name) != 0)
      m++;
    CHECK(m < 5, "unknown mode %s in cases.txt", mode_name);
    if (m == 5)
      continue;
    resize_mode mode = modes[m];
    image_u8 in, ref, out;
    if (load_golden(&in, input) != 0)
      continue;
    if (load_golden(&ref, output) != 0) {
      image_free(&in);
      continue;
    }
    CHECK(image_resize(&out, &in, w, h, mode) == 0, "%s", ancd_error());
    CHECK(out.w == w && out.h == h && out.c == in.c && ref.w == w && ref.h == h && ref.c == in.c,
          "%s: sizes", output);
    if (out.w == ref.w && out.h == ref.h && out.c == ref.c) {
      int d = 0;
      size_t n = (size_t)w * h * ref.c, first = n;
      for (size_t i = 0; i < n; i++) {
        int di = abs((int)out.data[i] - (int)ref.data[i]);
        if (di && first == n)
          first = i;
        d = di > d ? di : d;
      }
      CHECK(d <= 1, "%s: max diff %d (first at byte %zu)", output, d, first);
      if (d)
        fprintf(stderr, "%s: max diff %d\n", output, d);
      exact += d == 0;
      worst = d > worst ? d : worst;
    }
    cases++;
    image_free(&out);
    image_free(&in);
    image_free(&ref);
  }
  fclose(f);
  CHECK(cases == 70, "%d resize cases, expected 70", cases);
  fprintf(stderr, "resize: %d cases, %d bit-exact, worst max diff %d\n", cases, exact, worst);
}

static void test_resize_errors(void) {
  image_u8 in, out;
  CHECK(image_alloc(&in, 4, 4, 3) == 0, "%s", ancd_error());
  CHECK(image_resize(&out, &in, 0, 3, RESIZE_BILINEAR_PIL) == -1, "0-wide output accepted");
  CHECK(image_resize(&out, &in, 3, 3, (resize_mode)7) == -1, "unknown mode accepted");
  image_free(&in);
}

static void test_crop(void) {
  image_u8 in, out;
  CHECK(image_alloc(&in, 5, 4, 3) == 0, "%s", ancd_error());
  for (int i = 0; i < 5 * 4 * 3; i++)
    in.data[i] = (uint8_t)(i + 1); /* no zero inside the image */
  /* Window sticking out on the left and bottom. */
  CHECK(image_crop(&out, &in, -2, 1, 4, 5) == 0, "%s", ancd_error());
  CHECK(out.w == 4 && out.h == 5 && out.c == 3, "crop size");
  int bad = 0;
  for (int y = 0; y < 5; y++)
    for (int x = 0; x < 4; x++)
      for (int k = 0; k < 3; k++) {
        int sx = x - 2, sy = y + 1;
        int want = sx >= 0 && sx < 5 && sy < 4 ? in.data[(sy * 5 + sx) * 3 + k] : 0;
        bad += out.data[(y * 4 + x) * 3 + k] != want;
      }
  CHECK(bad == 0, "%d wrong crop bytes", bad);
  image_free(&out);
  /* Entirely outside: all zero. */
  CHECK(image_crop(&out, &in, 100, -50, 3, 2) == 0, "%s", ancd_error());
  int nonzero = 0;
  for (int i = 0; i < 3 * 2 * 3; i++)
    nonzero += out.data[i] != 0;
  CHECK(nonzero == 0, "outside crop has %d nonzero bytes", nonzero);
  image_free(&out);
  /* Exactly the image: a copy. */
  CHECK(image_crop(&out, &in, 0, 0, 5, 4) == 0 && memcmp(out.data, in.data, 60) == 0,
        "full crop differs");
  image_free(&out);
  image_free(&in);
}

static void test_jet(void) {
  image_u8 lut, out;
  if (load_golden(&lut, "jet_lut.png") != 0)
    return;
  CHECK(lut.w == 256 && lut.h == 1 && lut.c == 3, "jet_lut.png is %dx%dx%d", lut.w, lut.h, lut.c);
  /* (v + 0.25) / 255 * 255 truncates to v: every table entry against OpenCV. */
  float map[256];
  for (int v = 0; v < 256; v++)
    map[v] = (float)v + 0.25f;
  CHECK(heatmap_jet(&out, map, 256, 1, 0.0f, 255.0f, NULL, 0) == 0, "%s", ancd_error());
  CHECK(memcmp(out.data, lut.data, 256 * 3) == 0, "jet table differs from cv2 COLORMAP_JET");
  image_free(&out);

  /* Clamping and degenerate maps: below lo and NaN -> entry 0, above hi -> 255, flat -> 0. */
  float edge[4] = {-5.0f, NAN, 7.0f, 1.0f};
  CHECK(heatmap_jet(&out, edge, 4, 1, 0.0f, 1.0f, NULL, 0) == 0, "%s", ancd_error());
  CHECK(memcmp(out.data + 0, lut.data, 3) == 0 && memcmp(out.data + 3, lut.data, 3) == 0 &&
            memcmp(out.data + 6, lut.data + 765, 3) == 0 &&
            memcmp(out.data + 9, lut.data + 765, 3) == 0,
        "clamping");
  image_free(&out);
  CHECK(heatmap_jet(&out, edge, 4, 1, 2.0f, 2.0f, NULL, 0) == 0 &&
            memcmp(out.data + 6, lut.data, 3) == 0,
        "flat map should give entry 0");
  image_free(&out);

  /* Blend: out = alpha * jet + (1 - alpha) * under, rounded. */
  image_u8 under;
  CHECK(image_alloc(&under, 256, 1, 1) == 0, "%s", ancd_error());
  for (int v = 0; v < 256; v++)
    under.data[v] = (uint8_t)(255 - v);
  const float alphas[3] = {0.0f, 0.3f, 1.0f};
  for (int a = 0; a < 3; a++) {
    CHECK(heatmap_jet(&out, map, 256, 1, 0.0f, 255.0f, &under, alphas[a]) == 0, "%s", ancd_error());
    int bad = 0;
    for (int i = 0; i < 256 * 3; i++) {
      double want = alphas[a] * lut.data[i] + (1.0 - alphas[a]) * under.data[i / 3];
      bad += fabs(out.data[i] - want) > 0.5 + 1e-4;
    }
    CHECK(bad == 0, "blend alpha %.1f: %d wrong bytes", alphas[a], bad);
    image_free(&out);
  }
  CHECK(heatmap_jet(&out, map, 128, 2, 0.0f, 255.0f, &under, 0.5f) == -1, "size mismatch");
  CHECK(heatmap_jet(&out, map, 256, 1, 0.0f, 255.0f, &under, 1.5f) == -1, "alpha 1.5");
  image_free(&under);
  image_free(&lut);
}

/* MuSc's own heat map (musc §A.9): min-max in float32, * 255, astype(uint8), JET. */
static void test_musc_heatmap(void) {
  enum { W = 24, H = 16 };
  float map[W * H];
  FILE *f = fopen(golden_path("heat_map.f32"), "rb");
  CHECK(f != NULL, "cannot open heat_map.f32");
  if (!f)
    return;
  size_t n = fread(map, sizeof(float), W * H, f);
  fclose(f);
  CHECK(n == W * H, "heat_map.f32 has %zu floats", n);
  float lo = map[0], hi = map[0];
  for (int i = 1; i < W * H; i++) {
    lo = map[i] < lo ? map[i] : lo;
    hi = map[i] > hi ? map[i] : hi;
  }
  image_u8 ref, out;
  if (load_golden(&ref, "heat_jet.png") != 0)
    return;
  CHECK(heatmap_jet(&out, map, W, H, lo, hi, NULL, 0) == 0, "%s", ancd_error());
  int bad = 0;
  for (int i = 0; i < W * H * 3; i++)
    bad += out.data[i] != ref.data[i];
  CHECK(bad == 0, "MuSc heat map: %d bytes differ from numpy + cv2", bad);
  image_free(&out);
  image_free(&ref);
}

/* The one float -> 8-bit conversion: heat maps index the jet table with it and AnomalyNCD's 8-bit
 * maps (maps_to_u8) are it, value by value. */
static void test_map_value_u8(void) {
  CHECK(map_value_u8(0.5f, 0.0f, 1.0f) == 127, "0.5 -> %d", map_value_u8(0.5f, 0.0f, 1.0f));
  CHECK(map_value_u8(1.0f, 0.0f, 1.0f) == 255 && map_value_u8(9.0f, 0.0f, 1.0f) == 255, "top");
  CHECK(map_value_u8(-1.0f, 0.0f, 1.0f) == 0 && map_value_u8(NAN, 0.0f, 1.0f) == 0, "bottom");
  CHECK(map_value_u8(3.0f, 2.0f, 2.0f) == 0 && map_value_u8(3.0f, 2.0f, 1.0f) == 0, "flat");
  float v[64];
  uint8_t u[64];
  for (int i = 0; i < 64; i++)
    v[i] = (float)i * 0.37f - 3.0f;
  maps_to_u8(u, v, 64, -3.0f, 20.0f);
  int differ = 0;
  for (int i = 0; i < 64; i++)
    differ += u[i] != map_value_u8(v[i], -3.0f, 20.0f);
  CHECK(differ == 0, "maps_to_u8 differs from map_value_u8 at %d values", differ);
}

int main(void) {
  test_map_value_u8();
  test_resize_goldens();
  test_resize_errors();
  test_crop();
  test_jet();
  test_musc_heatmap();
  return test_done("test_resize");
}
