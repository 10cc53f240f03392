/* image_resize_f32 against Pillow's mode "F" resize, and the crop score of `ancd regions`
 * (anomalyncd_spec §3.5: normalised map, Pillow bicubic in float, window max with zero fill, /255)
 * against Pillow + NumPy. Goldens: tests/golden/resize_f32/cases.txt, written by
 * tests/golden/gen_resize_f32_golden.py with Pillow 13 (so the RESIZE_*_PIL pass order; the
 * *_PIL12 modes are checked equal to it where Pillow 13 keeps the old order). Every value must be
 * the same float32 bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "mebin.h"
#include "regions_image.h"
#include "test_util.h"

static float resize_input(int x, int y) {
  return (float)((x * 37 + y * 91 + x * y * 13) % 256) / 4.0f - 20.0f;
}

static uint8_t score_map(int x, int y) { return (uint8_t)((x * 17 + y * 29 + x * y * 7) % 256); }

static void check_resize(FILE *f, int wi, int hi, int wo, int ho, const char *filter) {
  int bicubic = !strcmp(filter, "bicubic");
  float *in = xmalloc((size_t)wi * hi * sizeof *in);
  float *want = xmalloc((size_t)wo * ho * sizeof *want);
  float *got = xmalloc((size_t)wo * ho * sizeof *got);
  float *got12 = xmalloc((size_t)wo * ho * sizeof *got12);
  for (int y = 0; y < hi; y++)
    for (int x = 0; x < wi; x++)
      in[y * wi + x] = resize_input(x, y);
  for (int k = 0; k < wo * ho; k++)
    if (fscanf(f, "%f", &want[k]) != 1) {
      CHECK(0, "golden: %dx%d -> %dx%d %s: value %d missing", wi, hi, wo, ho, filter, k);
      goto done;
    }
  CHECK(image_resize_f32(got, in, wi, hi, wo, ho,
                         bicubic ? RESIZE_BICUBIC_PIL : RESIZE_BILINEAR_PIL) == 0,
        "%s", ancd_error());
  CHECK(image_resize_f32(got12, in, wi, hi, wo, ho,
                         bicubic ? RESIZE_BICUBIC_PIL12 : RESIZE_BILINEAR_PIL12) == 0,
        "%s", ancd_error());
  int bad = 0, bad12 = 0;
  for (int k = 0; k < wo * ho; k++) {
    if (memcmp(&got[k], &want[k], sizeof got[k]) && bad++ < 3)
      fprintf(stderr, "  %dx%d -> %dx%d %s: [%d] = %.9g, Pillow %.9g\n", wi, hi, wo, ho, filter, k,
              got[k], want[k]);
    bad12 += got12[k] != got[k];
  }
  CHECK(bad == 0, "%dx%d -> %dx%d %s: %d of %d values differ from Pillow", wi, hi, wo, ho, filter,
        bad, wo * ho);
  /* Pillow 13 goes vertical first only when the height shrinks by more than twice the width. */
  int vertical_first = hi - ho > 0 && hi - ho > 2 * (wi - wo) && wi != wo;
  if (!vertical_first)
    CHECK(bad12 == 0, "%dx%d -> %dx%d %s: the PIL12 order differs where it is the same", wi, hi, wo,
          ho, filter);
  else
    printf("%dx%d -> %dx%d %s: PIL12 (horizontal first) differs from Pillow 13 in %d values\n", wi,
           hi, wo, ho, filter, bad12);
done:
  free(in);
  free(want);
  free(got);
  free(got12);
}

static void check_score(int mw, int mh, int lo, int hi, int W, int H, int x0, int y0, int x1,
                        int y1, double want) {
  uint8_t *map = xmalloc((size_t)mw * mh);
  float *n = xmalloc((size_t)mw * mh * sizeof *n), *big = xmalloc((size_t)W * H * sizeof *big);
  for (int y = 0; y < mh; y++)
    for (int x = 0; x < mw; x++)
      map[y * mw + x] = score_map(x, y);
  mebin_normalise_map(n, map, (size_t)mw * mh, lo, hi);
  CHECK(image_resize_f32(big, n, mw, mh, W, H, RESIZE_BICUBIC_PIL12) == 0, "%s", ancd_error());
  float got = regions_window_score(big, H, W, x0, y0, x1, y1);
  CHECK(got == (float)want, "score [%d, %d] %dx%d window (%d, %d, %d, %d): %.9g, reference %.9g",
        lo, hi, W, H, x0, y0, x1, y1, got, want);
  free(map);
  free(n);
  free(big);
}

int main(void) {
  char path[2048];
  snprintf(path, sizeof path, "%s/tests/golden/resize_f32/cases.txt", test_source_dir());
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f)
    return test_done("test_resize_f32");
  char word[32];
  int n_resize = 0, n_score = 0;
  while (fscanf(f, "%31s", word) == 1) {
    if (!strcmp(word, "resize")) {
      int wi, hi, wo, ho;
      char filter[16];
      if (fscanf(f, "%d %d %d %d %15s", &wi, &hi, &wo, &ho, filter) != 5)
        break;
      check_resize(f, wi, hi, wo, ho, filter);
      n_resize++;
    } else if (!strcmp(word, "score")) {
      int v[10];
      double s;
      if (fscanf(f, "%d %d %d %d %d %d %d %d %d %d %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                 &v[6], &v[7], &v[8], &v[9], &s) != 11)
        break;
      check_score(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], s);
      n_score++;
    } else {
      CHECK(0, "%s: unexpected '%s'", path, word);
      break;
    }
  }
  fclose(f);
  CHECK(n_resize == 10 && n_score == 30, "%s: %d resize and %d score cases", path, n_resize,
        n_score);

  /* Degenerate MAX == MIN: 255 from MIN up; below MIN 0. */
  uint8_t m[4] = {9, 10, 11, 255};
  float n[4];
  mebin_normalise_map(n, m, 4, 10, 10);
  CHECK(n[0] == 0 && n[1] == 255 && n[2] == 255 && n[3] == 255, "degenerate: %g %g %g %g", n[0],
        n[1], n[2], n[3]);
  /* A window wholly outside the image scores 0 (PIL fills with 0). */
  float one[1] = {5.0f};
  CHECK(regions_window_score(one, 1, 1, 3, 3, 6, 6) == 0.0f, "outside window");
  CHECK(regions_window_score(one, 1, 1, 0, 0, 1, 1) == (float)(5.0 / 255.0), "inside window");
  return test_done("test_resize_f32");
}
