/* `ancd regions` end to end on real MTD images (issue 5 "End to end"): `ancd detect` with the real
 * ViT-Ti/16 on the 60 images of tests/golden/musc_mtd60/subset.txt (linked into an mtd-layout
 * tree with an empty train list, as real_detect_mtd.c), then `ancd regions`. Checks every image
 * has >= 1 crop and <= max(1, est + 1), and measures the fraction of ground-truth defect pixels
 * (mask >= 128) covered by the kept mask crops pasted back at their windows: pixel-weighted over
 * the anomalous images, and per image. Prints crops per image, coverage and images/s.
 * With ANCD_REGIONS_MTD_DIR=<out>/mtd/MTD (a category folder that holds a regions.h5, e.g. of
 * the whole MTD) it only evaluates that file. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "h5store.h"
#include "image.h"
#include "log.h"
#include "regions_h5.h"
#include "test_util.h"

#define PATH_LEN 1024
/* The 60-image subset with the real ViT-Ti measures 0.54 (full MTD: 0.31); a floor under it. */
#define MIN_COVERAGE 0.30

/* Links the subset images and their masks (the .png beside each .jpg) into tree. */
static int build_tree(const char *tree, const char *mtd, const char *subset) {
  FILE *f = fopen(subset, "r");
  if (!f)
    return ancd_errorf("%s: cannot open", subset);
  char line[PATH_LEN];
  int n = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || line[0] == '#')
      continue;
    char dir[PATH_LEN + 64];
    PATHF(dir, "%s/%s", tree, line);
    *strrchr(dir, '/') = 0;
    if (test_mkdirs(dir) != 0)
      rc = ancd_errorf("%s: cannot create", dir);
    for (int mask = 0; mask < 2 && rc == 0; mask++) {
      char src[PATH_LEN + 64], dst[PATH_LEN + 64];
      PATHF(src, "%s/%s", mtd, line);
      PATHF(dst, "%s/%s", tree, line);
      if (mask) {
        strcpy(strrchr(src, '.'), ".png");
        strcpy(strrchr(dst, '.'), ".png");
      }
      if (symlink(src, dst) != 0)
        rc = ancd_errorf("%s -> %s: cannot link", dst, src);
    }
    n++;
  }
  fclose(f);
  char list[PATH_LEN + 64];
  PATHF(list, "%s/mtd_train_filenames.txt", tree);
  if (rc == 0 && test_write_file(list, "", 0) != 0)
    rc = ancd_errorf("%s: cannot write", list);
  return rc < 0 ? -1 : n;
}

static int run(const char *cmd, const char *log) {
  int status = system(cmd);
  int ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) {
    char tail[PATH_LEN + 32];
    PATHF(tail, "tail -n 20 '%s' >&2", log);
    if (system(tail) != 0)
      fprintf(stderr, "cannot show %s\n", log);
  }
  return ok;
}

typedef struct {
  long gt, covered; /* ground-truth pixels, and those under a kept mask */
  int images, images_hit;
  double sum_fraction;
} coverage;

/* Pastes the image's kept mask crops into a canvas and counts the ground truth under them. */
static int image_coverage(coverage *cov, h5s_file *f, const char *path, long c0, int n_crops, int W,
                          int H) {
  char mpath[PATH_LEN];
  PATHF(mpath, "%s", path);
  char *dot = strrchr(mpath, '.');
  if (!dot)
    return ancd_errorf("%s: no extension", path);
  strcpy(dot, ".png");
  image_u8 gt = {0};
  if (image_load(&gt, mpath, 1) != 0)
    return -1;
  if (gt.w != W || gt.h != H) {
    image_free(&gt);
    return ancd_errorf("%s is %dx%d, its image %dx%d", mpath, gt.w, gt.h, W, H);
  }
  uint8_t *canvas = xcalloc((size_t)W * H, 1);
  int rc = 0;
  for (int k = 0; k < n_crops && rc == 0; k++) {
    regions_crop c;
    rc = regions_h5_read_crop(&c, f, c0 + k);
    for (int y = 0; rc == 0 && y < c.mask.h; y++)
      for (int x = 0; x < c.mask.w; x++) {
        int sx = c.box_int[0] + x, sy = c.box_int[1] + y;
        if (sx >= 0 && sy >= 0 && sx < W && sy < H && c.mask.data[(size_t)y * c.mask.w + x])
          canvas[(size_t)sy * W + sx] = 1;
      }
    regions_crop_free(&c);
  }
  long g = 0, hit = 0;
  for (size_t p = 0; p < (size_t)W * H; p++)
    if (gt.data[p] >= 128) {
      g++;
      hit += canvas[p];
    }
  if (rc == 0 && g > 0) {
    cov->gt += g;
    cov->covered += hit;
    cov->images++;
    cov->images_hit += hit > 0;
    cov->sum_fraction += (double)hit / g;
  }
  free(canvas);
  image_free(&gt);
  return rc;
}

/* Checks and measures <cat_dir>/regions.h5; returns the pixel-weighted coverage (NaN on error). */
static double evaluate(const char *cat_dir) {
  char path[PATH_LEN + 32];
  PATHF(path, "%s/regions.h5", cat_dir);
  h5s_file f;
  int n = 0;
  long R = 0;
  if (regions_h5_open(&f, path) != 0 || regions_h5_counts(&f, &n, &R) != 0) {
    CHECK(0, "%s", ancd_error());
    return NAN;
  }
  int32_t *est = xmalloc((size_t)n * sizeof *est), *nc = xmalloc((size_t)n * sizeof *nc);
  int32_t *ih = xmalloc((size_t)n * sizeof *ih), *iw = xmalloc((size_t)n * sizeof *iw);
  uint8_t *labels = xmalloc((size_t)n);
  char **paths = NULL;
  int np = 0;
  const uint64_t start = 0, count = (uint64_t)n;
  int rc = regions_h5_read_image_i32(&f, "est", est, n) ||
           regions_h5_read_image_i32(&f, "n_crops", nc, n) ||
           regions_h5_read_image_i32(&f, "image_height", ih, n) ||
           regions_h5_read_image_i32(&f, "image_width", iw, n) ||
           h5s_read_slab(&f, "labels", H5S_U8, &start, &count, labels) ||
           h5s_read_strings(&f, "paths", &paths, &np);
  CHECK(rc == 0, "%s", ancd_error());
  coverage cov = {0};
  long c0 = 0, crops_anom = 0;
  int n_anom = 0, bad = 0;
  for (int i = 0; rc == 0 && i < n; i++) {
    int cap = est[i] + 1 > 1 ? est[i] + 1 : 1;
    if ((nc[i] < 1 || nc[i] > cap) && bad++ < 5)
      CHECK(0, "%s: %d crops with est %d", paths[i], nc[i], est[i]);
    if (labels[i]) {
      n_anom++;
      crops_anom += nc[i];
      if (image_coverage(&cov, &f, paths[i], c0, nc[i], iw[i], ih[i]) != 0) {
        CHECK(0, "%s", ancd_error());
        rc = -1;
      }
    }
    c0 += nc[i];
  }
  double frac = cov.gt > 0 ? (double)cov.covered / cov.gt : NAN;
  printf("%s: %d images, %ld crops (%.3f per image); anomalous: %d images, %.3f crops per image\n",
         path, n, R, (double)R / n, n_anom, n_anom ? (double)crops_anom / n_anom : 0.0);
  printf("ground-truth defect pixels covered by kept masks: %.4f (%ld of %ld); mean per image "
         "%.4f; images with some coverage %d of %d\n",
         frac, cov.covered, cov.gt, cov.images ? cov.sum_fraction / cov.images : 0.0,
         cov.images_hit, cov.images);
  if (paths)
    h5s_free_strings(paths, np);
  free(est);
  free(nc);
  free(ih);
  free(iw);
  free(labels);
  h5s_close(&f);
  return rc == 0 ? frac : NAN;
}

int main(int argc, char **argv) {
  const char *given = getenv("ANCD_REGIONS_MTD_DIR");
  if (given && given[0]) {
    MPI_Init(&argc, &argv);
    double frac = evaluate(given);
    CHECK(frac == frac, "no coverage measured");
    MPI_Finalize();
    return test_done("real_regions_mtd");
  }
  const char *shared = test_shared_dir();
  if (!shared)
    test_skip("../shared is absent");
  char mtd[PATH_LEN], weights[PATH_LEN], src[PATH_LEN], subset[PATH_LEN + 64];
  PATHF(mtd, "%s/data/mtd", shared);
  PATHF(weights, "%s/data/weights/vit_tiny_patch16_224.safetensors", shared);
  if (!test_file_exists(mtd) || !test_file_exists(weights))
    test_skip("../shared/data/mtd or the ViT-Ti/16 weights are absent");
  PATHF(src, "%s", test_source_dir());
  PATHF(subset, "%s/tests/golden/musc_mtd60/subset.txt", src);
  const char *bin = getenv("ANCD_BIN");
  char tmp[PATH_LEN], tree[PATH_LEN + 16], cmd[6 * PATH_LEN], log[PATH_LEN + 32];
  PATHF(tmp, "%s", test_tmpdir("real_regions_mtd"));
  PATHF(tree, "%s/mtd", tmp);
  PATHF(log, "%s/run.log", tmp);
  int n = bin ? build_tree(tree, mtd, subset) : -1;
  if (n < 0) {
    CHECK(0, "%s", bin ? ancd_error() : "ANCD_BIN is not set");
    return test_done("real_regions_mtd");
  }
  /* ancd runs before this process initialises MPI: a singleton must not fork another. */
  char common[4 * PATH_LEN];
  PATHF(common,
        "-c '%s/configs/mtd.yaml' --set 'dataset.root=%s' --set 'backbone.weights=%s' -o '%s/out'",
        src, tree, weights, tmp);
  PATHF(cmd, "'%s' detect %s > '%s' 2>&1", bin, common, log);
  int ok = run(cmd, log);
  CHECK(ok, "ancd detect failed, see %s", log);
  double dt = 0;
  if (ok) {
    PATHF(cmd, "'%s' regions %s >> '%s' 2>&1", bin, common, log);
    double t0 = now_seconds();
    ok = run(cmd, log);
    dt = now_seconds() - t0;
    CHECK(ok, "ancd regions failed, see %s", log);
  }
  if (!ok)
    return test_done("real_regions_mtd");
  printf("ancd regions: %d images in %.2f s (%.1f images/s, process start included)\n", n, dt,
         n / dt);
  MPI_Init(&argc, &argv);
  char cat_dir[PATH_LEN + 32];
  PATHF(cat_dir, "%s/out/mtd/MTD", tmp);
  double frac = evaluate(cat_dir);
  CHECK(frac >= MIN_COVERAGE, "coverage %.4f < %.2f", frac, MIN_COVERAGE);
  MPI_Finalize();
  return test_done("real_regions_mtd");
}
