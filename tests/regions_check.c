/* Test helper (not a test): checks a regions.h5 and prints what it holds.
 *   regions_check REGIONS.h5
 * Checks (exit 1 naming the first few problems): per-image counts add up to the crops; crops are
 * grouped by image in order; each crop's size is its window's, its offsets follow the previous
 * crop's (crop_offset = 3 * mask_offset) and the pools are exactly full; masks are 0/255 and
 * mask_area counts their 255s; the crop pixels equal the decoded image inside the window and 0
 * outside; n_crops <= max(1, est + 1); an image with est 0 has one whole-image crop with an empty
 * mask; scores are finite. Prints "summary images N crops R min_crops A max_crops B", then one
 * line per image and per crop (paths, types, thresholds, boxes, areas, scores, pixel sums) and the
 * category attributes, so two files can be compared with diff. Exit 2 on usage. */
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5store.h"
#include "image.h"
#include "regions_h5.h"

static int problems = 0;

#define PROBLEM(...)                                                                               \
  do {                                                                                             \
    if (problems++ < 20) {                                                                         \
      fprintf(stderr, "regions_check: ");                                                          \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

static int64_t *read_i64(h5s_file *f, const char *name, long n) {
  int64_t *v = xmalloc(((size_t)n + 1) * sizeof *v);
  const uint64_t start = 0, count = (uint64_t)n;
  if (h5s_read_slab(f, name, H5S_I64, &start, &count, v) != 0) {
    fprintf(stderr, "%s\n", ancd_error());
    exit(1);
  }
  return v;
}

/* The crop's pixels against the image, decoded again. */
static void check_pixels(const regions_crop *c, const image_u8 *img, long j) {
  const int *w = c->box_int;
  for (int y = 0; y < c->pixels.h; y++)
    for (int x = 0; x < c->pixels.w; x++)
      for (int k = 0; k < 3; k++) {
        int sx = w[0] + x, sy = w[1] + y;
        int inside = sx >= 0 && sy >= 0 && sx < img->w && sy < img->h;
        uint8_t want = inside ? img->data[((size_t)sy * img->w + sx) * 3 + k] : 0;
        uint8_t got = c->pixels.data[((size_t)y * c->pixels.w + x) * 3 + k];
        if (got != want) {
          PROBLEM("crop %ld: pixel (%d, %d) channel %d is %d, the image has %d", j, x, y, k, got,
                  want);
          return;
        }
      }
}

static void print_attrs(h5s_file *f) {
  const char *s_names[] = {"category", "maps_method"};
  const char *i_names[] = {"search_min", "search_max", "degenerate", "n_images", "n_crops"};
  const char *f_names[] = {"map_lo", "map_hi"};
  char buf[256];
  for (int i = 0; i < 2; i++)
    if (h5s_attr_get_str(f, "/", s_names[i], buf, sizeof buf) == 0)
      printf("attr %s %s\n", s_names[i], buf);
    else
      PROBLEM("no attribute %s", s_names[i]);
  for (int i = 0; i < 5; i++) {
    int64_t v;
    if (h5s_attr_get_i64(f, "/", i_names[i], &v) == 0)
      printf("attr %s %" PRId64 "\n", i_names[i], v);
    else
      PROBLEM("no attribute %s", i_names[i]);
  }
  for (int i = 0; i < 2; i++) {
    double v;
    if (h5s_attr_get_f64(f, "/", f_names[i], &v) == 0)
      printf("attr %s %.9g\n", f_names[i], v);
    else
      PROBLEM("no attribute %s", f_names[i]);
  }
  /* Where the crops land, present only when the dataset has ground-truth masks. */
  int64_t gt[3] = {0, 0, 0};
  const char *gt_names[] = {"defect_images", "defect_images_hit", "defect_images_whole"};
  if (h5s_attr_exists(f, "/", gt_names[0])) {
    for (int i = 0; i < 3; i++)
      if (h5s_attr_get_i64(f, "/", gt_names[i], &gt[i]) == 0)
        printf("attr %s %" PRId64 "\n", gt_names[i], gt[i]);
      else
        PROBLEM("no attribute %s", gt_names[i]);
    if (gt[0] < 1 || gt[1] < 0 || gt[1] > gt[0] || gt[2] < 0 || gt[2] > gt[1])
      PROBLEM("defect_images %" PRId64 ", hit %" PRId64 ", whole %" PRId64 " are inconsistent",
              gt[0], gt[1], gt[2]);
  }
  if (!h5s_attr_exists(f, "/", "config") || !h5s_attr_exists(f, "/", "stage_key") ||
      !h5s_attr_exists(f, "/", "ancd_version"))
    PROBLEM("config, stage_key or ancd_version attribute missing");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: regions_check REGIONS.h5\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  h5s_file f;
  int n = 0;
  long R = 0;
  if (regions_h5_open(&f, argv[1]) != 0 || regions_h5_counts(&f, &n, &R) != 0) {
    fprintf(stderr, "%s\n", ancd_error());
    MPI_Finalize();
    return 1;
  }
  int32_t *thr = xmalloc((size_t)n * sizeof *thr), *est = xmalloc((size_t)n * sizeof *est);
  int32_t *nc = xmalloc((size_t)n * sizeof *nc), *ih = xmalloc((size_t)n * sizeof *ih);
  int32_t *iw = xmalloc((size_t)n * sizeof *iw);
  char **paths = NULL, **types = NULL;
  int np = 0, nt = 0;
  if (regions_h5_read_image_i32(&f, "threshold", thr, n) ||
      regions_h5_read_image_i32(&f, "est", est, n) ||
      regions_h5_read_image_i32(&f, "n_crops", nc, n) ||
      regions_h5_read_image_i32(&f, "image_height", ih, n) ||
      regions_h5_read_image_i32(&f, "image_width", iw, n) ||
      h5s_read_strings(&f, "paths", &paths, &np) || h5s_read_strings(&f, "types", &types, &nt)) {
    fprintf(stderr, "%s\n", ancd_error());
    return 1;
  }
  if (np != n || nt != n)
    PROBLEM("%d images but %d paths, %d types", n, np, nt);
  uint64_t d[1];
  h5s_dataset_dims(&f, "mask_pixels", d, 1);
  const int64_t pool = (int64_t)d[0];
  h5s_dataset_dims(&f, "crop_pixels", d, 1);
  if ((int64_t)d[0] != 3 * pool)
    PROBLEM("crop_pixels holds %" PRIu64 " values, 3 x mask_pixels = %" PRId64, d[0], 3 * pool);
  int64_t *crop_off = read_i64(&f, "crop_offset", R), *mask_off = read_i64(&f, "mask_offset", R);

  print_attrs(&f);
  long total = 0;
  int min_c = 1 << 30, max_c = 0;
  for (int i = 0; i < n; i++) {
    total += nc[i];
    min_c = nc[i] < min_c ? nc[i] : min_c;
    max_c = nc[i] > max_c ? nc[i] : max_c;
    int cap = est[i] + 1 > 1 ? est[i] + 1 : 1;
    if (nc[i] < 1 || nc[i] > cap)
      PROBLEM("image %d (%s): %d crops with est %d", i, paths[i], nc[i], est[i]);
    printf("image %d %s %s threshold %d est %d crops %d size %dx%d\n", i, types[i], paths[i],
           thr[i], est[i], nc[i], iw[i], ih[i]);
  }
  if (total != R)
    PROBLEM("the images have %ld crops, the file %ld", total, R);

  long j = 0;
  int64_t next = 0;
  for (int i = 0; i < n && j < R; i++) {
    image_u8 img = {0};
    if (image_load(&img, paths[i], 3) != 0)
      PROBLEM("%s", ancd_error());
    else if (img.w != iw[i] || img.h != ih[i])
      PROBLEM("%s is %dx%d, the file says %dx%d", paths[i], img.w, img.h, iw[i], ih[i]);
    for (int k = 0; k < nc[i] && j < R; k++, j++) {
      regions_crop c;
      if (regions_h5_read_crop(&c, &f, j) != 0) {
        PROBLEM("crop %ld: %s", j, ancd_error());
        continue;
      }
      const int *w = c.box_int;
      if (c.image_index != i)
        PROBLEM("crop %ld belongs to image %d, expected %d", j, c.image_index, i);
      if (c.pixels.w != w[2] - w[0] || c.pixels.h != w[3] - w[1])
        PROBLEM("crop %ld is %dx%d, its window (%d, %d, %d, %d)", j, c.pixels.w, c.pixels.h, w[0],
                w[1], w[2], w[3]);
      if (mask_off[j] != next || crop_off[j] != 3 * mask_off[j])
        PROBLEM("crop %ld: offsets %" PRId64 " / %" PRId64 ", expected %" PRId64 " / %" PRId64, j,
                mask_off[j], crop_off[j], next, 3 * next);
      next += (int64_t)c.mask.w * c.mask.h;
      int64_t area = 0, sum = 0, msum = 0;
      for (size_t p = 0; p < (size_t)c.mask.w * c.mask.h; p++) {
        uint8_t v = c.mask.data[p];
        if (v != 0 && v != 255) {
          PROBLEM("crop %ld: mask value %d", j, v);
          break;
        }
        area += v == 255;
        msum += v;
      }
      for (size_t p = 0; p < (size_t)c.pixels.w * c.pixels.h * 3; p++)
        sum += c.pixels.data[p];
      if (area != c.mask_area)
        PROBLEM("crop %ld: mask_area %" PRId64 " but %" PRId64 " foreground pixels", j, c.mask_area,
                area);
      if (!isfinite(c.score) || c.score < -0.1f || c.score > 1.5f)
        PROBLEM("crop %ld: score %g", j, c.score);
      if (est[i] == 0 && (w[0] != 0 || w[1] != 0 || w[2] != iw[i] || w[3] != ih[i] || area != 0))
        PROBLEM("image %d has est 0 but crop (%d, %d, %d, %d) with mask area %" PRId64, i, w[0],
                w[1], w[2], w[3], area);
      if (img.data)
        check_pixels(&c, &img, j);
      printf("crop %ld image %d box %.1f %.1f %.1f %.1f window %d %d %d %d area %" PRId64
             " score %.7g sum %" PRId64 " masksum %" PRId64 "\n",
             j, c.image_index, c.box[0], c.box[1], c.box[2], c.box[3], w[0], w[1], w[2], w[3],
             c.mask_area, (double)c.score, sum, msum);
      regions_crop_free(&c);
    }
    image_free(&img);
  }
  if (next != pool)
    PROBLEM("the crops fill %" PRId64 " of %" PRId64 " mask-pool values", next, pool);
  printf("summary images %d crops %ld min_crops %d max_crops %d\n", n, R, min_c, max_c);
  h5s_free_strings(paths, np);
  h5s_free_strings(types, nt);
  free(thr);
  free(est);
  free(nc);
  free(ih);
  free(iw);
  free(crop_off);
  free(mask_off);
  h5s_close(&f);
  MPI_Finalize();
  if (problems)
    fprintf(stderr, "regions_check: %d problems in %s\n", problems, argv[1]);
  return problems ? 1 : 0;
}
