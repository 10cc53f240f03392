/* Image decoding against Pillow's decode of the same files (tests/golden/decode, written by
 * tests/golden/gen_decode_golden.py), PNG round trips, and clean errors on corrupt and
 * truncated files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "test_util.h"

static const char *golden_path(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/tests/golden/decode/%s", test_source_dir(), name);
  return buf;
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(size > 0 ? (size_t)size : 1);
  *n = fread(b, 1, (size_t)size, f);
  fclose(f);
  return b;
}

/* Largest |a - b| over n bytes. */
static int max_diff(const uint8_t *a, const uint8_t *b, size_t n) {
  int m = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    m = d > m ? d : m;
  }
  return m;
}

/* One golden file: probe, then load as native, RGB and grey, each compared with Pillow. */
static void check_golden(const char *file, int w, int h, int c, const char *stem) {
  char path[4096], ref_name[512];
  snprintf(path, sizeof path, "%s", golden_path(file));
  int pw = 0, ph = 0, pc = 0;
  CHECK(image_probe(path, &pw, &ph, &pc) == 0, "%s: %s", file, ancd_error());
  CHECK(pw == w && ph == h && pc == c, "%s: probe %dx%dx%d, want %dx%dx%d", file, pw, ph, pc, w, h,
        c);

  size_t n_rgb = 0, n_l = 0;
  snprintf(ref_name, sizeof ref_name, "%s.rgb", stem);
  uint8_t *ref_rgb = read_all(golden_path(ref_name), &n_rgb);
  snprintf(ref_name, sizeof ref_name, "%s.l", stem);
  uint8_t *ref_l = read_all(golden_path(ref_name), &n_l);
  CHECK(ref_rgb && ref_l && n_rgb == (size_t)w * h * 3 && n_l == (size_t)w * h,
        "%s: golden pixels missing", file);
  if (!ref_rgb || !ref_l || n_rgb != (size_t)w * h * 3 || n_l != (size_t)w * h) {
    free(ref_rgb);
    free(ref_l);
    return;
  }
  /* Exact, JPEG included: the system libjpeg-turbo (2.1.5) decodes these files exactly as the
   * one bundled with Pillow 13 (3.2.0), with the same islow IDCT and fancy upsampling. */
  int tol = 0;
  const int wants[3] = {0, 3, 1};
  for (int k = 0; k < 3; k++) {
    image_u8 img;
    int r = image_load(&img, path, wants[k]);
    CHECK(r == 0, "%s: %s", file, ancd_error());
    if (r != 0)
      continue;
    int want_c = wants[k] ? wants[k] : c;
    CHECK(img.w == w && img.h == h && img.c == want_c, "%s want_c %d: got %dx%dx%d", file, wants[k],
          img.w, img.h, img.c);
    if (img.w == w && img.h == h && img.c == want_c) {
      int d = max_diff(img.data, want_c == 3 ? ref_rgb : ref_l, (size_t)w * h * want_c);
      CHECK(d <= tol, "%s want_c %d: max diff %d from Pillow", file, wants[k], d);
    }
    image_free(&img);
  }
  free(ref_rgb);
  free(ref_l);
}

static void test_goldens(void) {
  FILE *f = fopen(golden_path("cases.txt"), "r");
  CHECK(f != NULL, "cannot open %s", golden_path("cases.txt"));
  if (!f)
    return;
  char file[256], stem[256];
  int w, h, c, count = 0;
  while (fscanf(f, "%255s %d %d %d %255s", file, &w, &h, &c, stem) == 5) {
    check_golden(file, w, h, c, stem);
    count++;
  }
  fclose(f);
  CHECK(count == 21, "%d golden decode cases, expected 21", count);
}

static void fill_pattern(image_u8 *img) {
  size_t n = (size_t)img->w * img->h * img->c;
  uint32_t s = 12345;
  for (size_t i = 0; i < n; i++) {
    s = s * 1103515245u + 12345u;
    img->data[i] = (uint8_t)(s >> 16);
  }
}

static void test_round_trip(const char *dir) {
  for (int c = 1; c <= 3; c += 2) {
    image_u8 img, back;
    CHECK(image_alloc(&img, 13, 9, c) == 0, "%s", ancd_error());
    fill_pattern(&img);
    char path[4096];
    snprintf(path, sizeof path, "%s/round%d.png", dir, c);
    CHECK(image_write_png(path, &img) == 0, "%s", ancd_error());
    int w, h, pc;
    CHECK(image_probe(path, &w, &h, &pc) == 0 && w == 13 && h == 9 && pc == c, "probe %s: %dx%dx%d",
          path, w, h, pc);
    CHECK(image_load(&back, path, 0) == 0, "%s", ancd_error());
    CHECK(back.w == 13 && back.h == 9 && back.c == c &&
              memcmp(back.data, img.data, (size_t)13 * 9 * c) == 0,
          "round trip c=%d differs", c);
    image_free(&back);
    image_free(&img);
  }
  /* Writing into a missing folder fails with the path in the message. */
  image_u8 img;
  CHECK(image_alloc(&img, 2, 2, 3) == 0, "%s", ancd_error());
  char path[4096];
  snprintf(path, sizeof path, "%s/no/such/dir/x.png", dir);
  CHECK(image_write_png(path, &img) == -1 && strstr(ancd_error(), path),
        "write into a missing folder: %s", ancd_error());
  image_free(&img);
}

/* image_load and image_probe on path must fail with a message naming the path and containing
 * what (when not NULL). */
static void expect_fail(const char *path, const char *what, int probe_too) {
  image_u8 img = {0};
  int r = image_load(&img, path, 3);
  CHECK(r == -1, "%s: image_load returned %d", path, r);
  CHECK(strstr(ancd_error(), path) != NULL, "message does not name the file: %s", ancd_error());
  CHECK(!what || strstr(ancd_error(), what), "message lacks '%s': %s", what, ancd_error());
  CHECK(img.data == NULL, "%s: failed load left data", path);
  fprintf(stderr, "  expected error: %s\n", ancd_error());
  if (probe_too) {
    int w, h, c;
    CHECK(image_probe(path, &w, &h, &c) == -1 && strstr(ancd_error(), path),
          "%s: probe should fail: %s", path, ancd_error());
  }
}

/* Writes the first n bytes (or n < 0: half) of a golden file into dir/name. */
static const char *cut_copy(const char *dir, const char *src, const char *name, long n) {
  static char path[4096];
  size_t size = 0;
  uint8_t *b = read_all(src, &size);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  CHECK(b != NULL && size > 0, "cannot read %s", src);
  size_t keep = n < 0 ? size / 2 : (size_t)n;
  CHECK(test_write_file(path, b, keep < size ? keep : size) == 0, "cannot write %s", path);
  free(b);
  return path;
}

static void test_errors(const char *dir) {
  char path[4096];
  /* Missing file. */
  snprintf(path, sizeof path, "%s/missing.png", dir);
  expect_fail(path, "cannot open", 1);

  /* Garbage bytes, named .png: rejected by content. */
  uint8_t junk[300];
  for (int i = 0; i < 300; i++)
    junk[i] = (uint8_t)(i * 37 + 11);
  snprintf(path, sizeof path, "%s/garbage.png", dir);
  test_write_file(path, junk, sizeof junk);
  expect_fail(path, "not a PNG, JPEG or BMP", 1);

  /* Right signatures followed by garbage. */
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  memcpy(junk, png_sig, 8);
  snprintf(path, sizeof path, "%s/badbody.png", dir);
  test_write_file(path, junk, sizeof junk);
  expect_fail(path, "corrupt PNG", 1);
  junk[0] = 0xff, junk[1] = 0xd8, junk[2] = 0xff;
  snprintf(path, sizeof path, "%s/badbody.jpg", dir);
  test_write_file(path, junk, sizeof junk);
  expect_fail(path, "corrupt JPEG", 1);
  junk[0] = 'B', junk[1] = 'M';
  snprintf(path, sizeof path, "%s/badbody.bmp", dir);
  test_write_file(path, junk, sizeof junk);
  expect_fail(path, "BMP", 1);

  /* Empty file. */
  snprintf(path, sizeof path, "%s/empty.png", dir);
  test_write_file(path, "", 0);
  expect_fail(path, "empty", 1);

  /* Truncated PNG: a noisy 96x64 image (so the image data is large), cut in half. The header
   * survives, so probe still works. */
  image_u8 img;
  CHECK(image_alloc(&img, 96, 64, 3) == 0, "%s", ancd_error());
  fill_pattern(&img);
  snprintf(path, sizeof path, "%s/full.png", dir);
  CHECK(image_write_png(path, &img) == 0, "%s", ancd_error());
  image_free(&img);
  const char *cut = cut_copy(dir, path, "half.png", -1);
  expect_fail(cut, "truncated PNG", 0);
  int w, h, c;
  CHECK(image_probe(cut, &w, &h, &c) == 0 && w == 96 && h == 64, "probe of half.png");
  cut = cut_copy(dir, path, "sig_only.png", 20);
  expect_fail(cut, "truncated PNG", 1);

  /* Truncated JPEGs (baseline and progressive) and BMP. */
  cut = cut_copy(dir, golden_path("rgb420.jpg"), "half.jpg", -1);
  expect_fail(cut, "truncated JPEG", 0);
  cut = cut_copy(dir, golden_path("prog.jpg"), "half_prog.jpg", -1);
  expect_fail(cut, "truncated JPEG", 0);
  cut = cut_copy(dir, golden_path("gray.jpg"), "header_cut.jpg", 100);
  expect_fail(cut, "truncated JPEG", 1);
  cut = cut_copy(dir, golden_path("rgb24.bmp"), "half.bmp", -1);
  expect_fail(cut, "truncated BMP", 0);
  cut = cut_copy(dir, golden_path("pal8.bmp"), "pal_cut.bmp", 60);
  expect_fail(cut, "truncated BMP", 1);

  /* A JPEG whose frame header claims 60000x60000 is refused before any large allocation. */
  size_t n = 0;
  uint8_t *jpg = read_all(golden_path("rgb420.jpg"), &n);
  size_t sof = 2;
  while (jpg && sof + 9 < n && !(jpg[sof] == 0xff && jpg[sof + 1] == 0xc0))
    sof++;
  CHECK(jpg && sof + 9 < n, "no SOF0 marker in rgb420.jpg");
  if (jpg && sof + 9 < n) {
    jpg[sof + 5] = jpg[sof + 7] = 0xea; /* height and width, big-endian: 0xea60 = 60000 */
    jpg[sof + 6] = jpg[sof + 8] = 0x60;
    snprintf(path, sizeof path, "%s/huge.jpg", dir);
    test_write_file(path, jpg, n);
    expect_fail(path, "out of range", 0);
    CHECK(image_probe(path, &w, &h, &c) == 0 && w == 60000 && h == 60000, "probe of huge.jpg");
  }
  free(jpg);

  /* Bad arguments. */
  image_u8 tmp;
  CHECK(image_load(&tmp, golden_path("rgb8.png"), 2) == -1 && strstr(ancd_error(), "want_c"),
        "want_c 2 accepted");
  CHECK(image_alloc(&tmp, 0, 5, 3) == -1, "zero width accepted");
  CHECK(image_alloc(&tmp, 5, 5, 2) == -1, "2 channels accepted");
}

/* Every golden file cut at ~100 lengths and with ~100 corrupted bytes either decodes or fails
 * with a message naming the file; under ASan this also proves no out-of-bounds access. */
static void test_damaged(const char *dir) {
  FILE *f = fopen(golden_path("cases.txt"), "r");
  if (!f)
    return;
  char file[256], stem[256], path[4096];
  int w, h, c, loads = 0, failures = 0;
  uint32_t s = 99;
  snprintf(path, sizeof path, "%s/damaged", dir);
  while (fscanf(f, "%255s %d %d %d %255s", file, &w, &h, &c, stem) == 5) {
    size_t n = 0;
    uint8_t *orig = read_all(golden_path(file), &n);
    if (!orig)
      continue;
    uint8_t *b = malloc(n);
    size_t step = n / 97 + 1;
    for (size_t trial = 0; trial < 2 * (n / step); trial++) {
      memcpy(b, orig, n);
      size_t len = n;
      if (trial < n / step) {
        len = trial * step;
      } else {
        s = s * 1103515245u + 12345u;
        b[(s >> 8) % n] ^= (uint8_t)(1 + (s >> 24) % 255);
      }
      test_write_file(path, b, len);
      image_u8 img;
      int r = image_load(&img, path, 0);
      loads++;
      if (r == 0) {
        image_free(&img);
      } else {
        failures++;
        CHECK(r == -1 && strstr(ancd_error(), path), "%s damaged (trial %zu): %s", file, trial,
              ancd_error());
      }
      int pw, ph, pc;
      r = image_probe(path, &pw, &ph, &pc);
      CHECK(r == 0 || strstr(ancd_error(), path), "%s probe: %s", file, ancd_error());
    }
    free(b);
    free(orig);
  }
  fclose(f);
  fprintf(stderr, "damaged files: %d loads, %d failed cleanly\n", loads, failures);
  CHECK(failures > loads / 4, "too few damaged files were rejected (%d of %d)", failures, loads);
}

int main(void) {
  const char *dir = test_tmpdir("test_image");
  test_goldens();
  test_round_trip(dir);
  test_errors(dir);
  test_damaged(dir);
  return test_done("test_image");
}
