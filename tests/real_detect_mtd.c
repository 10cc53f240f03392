/* `ancd detect` end to end on 60 real MTD images with the real ViT-Ti/16 against the independent
 * NumPy/PyTorch MuSc of tests/golden/musc_ref.py (issue 4 "Verification on real data"; musc_hetmm
 * spec Part A). The 60 images (tests/golden/musc_mtd60/subset.txt) are linked into an mtd-layout
 * tree with an empty train list, so they form one MuSc set; configs/mtd.yaml is run unchanged but
 * for the root and the weights. Checks against tests/golden/musc_mtd60/expected.txt: Spearman
 * rank correlation >= 0.999 and max relative difference <= 1e-3 of the raw and of the RsCIN
 * image scores, and each of the seven metrics within 0.002. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detect_store.h"
#include "error.h"
#include "h5store.h"
#include "metrics.h"
#include "test_util.h"

#define MAX_IMAGES 64
#define PATH_LEN 1024

#define SPEARMAN_MIN 0.999
#define REL_DIFF_MAX 1e-3
#define METRIC_TOL 0.002

typedef struct {
  char path[PATH_LEN]; /* relative to the MTD root: MT_<Class>/Imgs/<name>.jpg */
  double raw, rscin;
} ref_image;

typedef struct {
  ref_image img[MAX_IMAGES];
  int n;
  double metric[7];
  int have_metric[7];
} reference;

static const char *const metric_names[7] = {"auroc_cls", "f1max_cls", "ap_cls", "auroc_px",
                                            "f1max_px",  "ap_px",     "aupro"};

/* expected.txt: "image <path> <raw> <rscin>" and "metric <name> <value>" lines. */
static int read_reference(reference *ref, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return ancd_errorf("%s: cannot open", path);
  memset(ref, 0, sizeof *ref);
  char line[2 * PATH_LEN], name[PATH_LEN];
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    double a, b;
    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (sscanf(line, "image %1023s %lf %lf", name, &a, &b) == 3 && ref->n < MAX_IMAGES) {
      ref_image *im = &ref->img[ref->n++];
      snprintf(im->path, sizeof im->path, "%s", name);
      im->raw = a;
      im->rscin = b;
    } else if (sscanf(line, "metric %1023s %lf", name, &a) == 2) {
      int k = 0;
      while (k < 7 && strcmp(metric_names[k], name) != 0)
        k++;
      if (k == 7)
        rc = ancd_errorf("%s: unknown metric '%s'", path, name);
      else {
        ref->metric[k] = a;
        ref->have_metric[k] = 1;
      }
    } else {
      rc = ancd_errorf("%s: cannot parse '%s'", path, line);
    }
  }
  fclose(f);
  return rc;
}

/* Links every subset image and its mask (the .png beside it) from the MTD root into tree. */
static int build_tree(const char *tree, const char *mtd, const reference *ref) {
  for (int i = 0; i < ref->n; i++) {
    char src[PATH_LEN], dst[PATH_LEN + 64], dir[PATH_LEN + 64];
    PATHF(dir, "%s/%s", tree, ref->img[i].path);
    *strrchr(dir, '/') = 0;
    if (test_mkdirs(dir) != 0)
      return ancd_errorf("%s: cannot create", dir);
    for (int mask = 0; mask < 2; mask++) {
      PATHF(src, "%s/%s", mtd, ref->img[i].path);
      PATHF(dst, "%s/%s", tree, ref->img[i].path);
      if (mask) {
        strcpy(strrchr(src, '.'), ".png");
        strcpy(strrchr(dst, '.'), ".png");
      }
      if (symlink(src, dst) != 0)
        return ancd_errorf("%s -> %s: cannot link", dst, src);
    }
  }
  char list[PATH_LEN + 64];
  PATHF(list, "%s/mtd_train_filenames.txt", tree);
  return test_write_file(list, "", 0) == 0 ? 0 : ancd_errorf("%s: cannot write", list);
}

/* The last three components of a path (MT_<Class>/Imgs/<name>). */
static const char *rel_path(const char *p) {
  const char *s = p + strlen(p);
  for (int slashes = 0; s > p; s--)
    if (s[-1] == '/' && ++slashes == 3)
      break;
  return s;
}

/* Ranks with ties averaged (1-based). */
static void ranks(double *r, const double *v, int n) {
  for (int i = 0; i < n; i++) {
    int less = 0, equal = 0;
    for (int j = 0; j < n; j++) {
      less += v[j] < v[i];
      equal += v[j] == v[i];
    }
    r[i] = less + (equal + 1) / 2.0;
  }
}

static double spearman(const double *a, const double *b, int n) {
  double ra[MAX_IMAGES], rb[MAX_IMAGES], ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
  ranks(ra, a, n);
  ranks(rb, b, n);
  for (int i = 0; i < n; i++) {
    ma += ra[i] / n;
    mb += rb[i] / n;
  }
  for (int i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return sab / sqrt(saa * sbb);
}

static double max_rel_diff(const double *got, const double *want, int n, int *worst) {
  double m = 0;
  for (int i = 0; i < n; i++) {
    double d = fabs(got[i] - want[i]) / fabs(want[i]);
    if (!(d <= m)) { /* NaN counts as the worst */
      m = d;
      *worst = i;
    }
  }
  return m;
}

/* Reads /paths, /scores, /scores_rscin of maps.h5 and puts them in reference order. */
static int read_maps(double *raw, double *rscin, const char *path, const reference *ref) {
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) != 0)
    return -1;
  char **paths = NULL;
  int n = 0, rc = h5s_read_strings(&f, "paths", &paths, &n);
  double *s = NULL, *t = NULL;
  if (rc == 0 && n != ref->n)
    rc = ancd_errorf("%s: %d images, the reference has %d", path, n, ref->n);
  if (rc == 0) {
    uint64_t start = 0, count = (uint64_t)n;
    s = malloc((size_t)n * sizeof *s);
    t = malloc((size_t)n * sizeof *t);
    rc = h5s_read_slab(&f, "scores", H5S_F64, &start, &count, s);
    if (rc == 0)
      rc = h5s_read_slab(&f, "scores_rscin", H5S_F64, &start, &count, t);
  }
  for (int i = 0; rc == 0 && i < ref->n; i++) {
    int j = 0;
    while (j < n && strcmp(rel_path(paths[j]), ref->img[i].path) != 0)
      j++;
    if (j == n)
      rc = ancd_errorf("%s: no image %s in /paths", path, ref->img[i].path);
    else {
      raw[i] = s[j];
      rscin[i] = t[j];
    }
  }
  if (paths)
    h5s_free_strings(paths, n);
  free(s);
  free(t);
  h5s_close(&f);
  return rc;
}

int main(int argc, char **argv) {
  const char *shared = test_shared_dir();
  if (!shared)
    test_skip("../shared is absent");
  char mtd[PATH_LEN], weights[PATH_LEN], src[PATH_LEN], expected[PATH_LEN];
  PATHF(mtd, "%s/data/mtd", shared);
  PATHF(weights, "%s/data/weights/vit_tiny_patch16_224.safetensors", shared);
  if (!test_file_exists(mtd) || !test_file_exists(weights))
    test_skip("../shared/data/mtd or the ViT-Ti/16 weights are absent");
  PATHF(src, "%s", test_source_dir());
  PATHF(expected, "%s/tests/golden/musc_mtd60/expected.txt", src);
  const char *bin = getenv("ANCD_BIN");

  reference ref;
  if (read_reference(&ref, expected) != 0) {
    CHECK(0, "%s", ancd_error());
    return test_done("real_detect_mtd");
  }
  CHECK(ref.n == 60, "%d reference images", ref.n);
  for (int k = 0; k < 7; k++)
    CHECK(ref.have_metric[k], "%s: no metric %s", expected, metric_names[k]);

  char tmp[PATH_LEN], tree[PATH_LEN + 16], cmd[6 * PATH_LEN];
  PATHF(tmp, "%s", test_tmpdir("real_detect_mtd"));
  PATHF(tree, "%s/mtd", tmp);
  if (!bin || build_tree(tree, mtd, &ref) != 0) {
    CHECK(0, "%s", bin ? ancd_error() : "ANCD_BIN is not set");
    return test_done("real_detect_mtd");
  }

  /* ancd runs before this process initialises MPI: a singleton must not fork another. */
  PATHF(cmd,
        "'%s' detect -c '%s/configs/mtd.yaml' --set 'dataset.root=%s' "
        "--set 'backbone.weights=%s' -o '%s/out' > '%s/detect.log' 2>&1",
        bin, src, tree, weights, tmp, tmp);
  int status = system(cmd);
  int ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  CHECK(ok, "ancd detect failed (status %d), see %s/detect.log", status, tmp);
  if (!ok) {
    PATHF(cmd, "tail -n 30 '%s/detect.log' >&2", tmp);
    if (system(cmd) != 0)
      fprintf(stderr, "cannot show %s/detect.log\n", tmp);
    return test_done("real_detect_mtd");
  }

  MPI_Init(&argc, &argv);
  char cat_dir[PATH_LEN + 32], maps_path[PATH_LEN + 48];
  PATHF(cat_dir, "%s/out/mtd/MTD", tmp);
  PATHF(maps_path, "%s/maps.h5", cat_dir);
  double raw[MAX_IMAGES], rscin[MAX_IMAGES], ref_raw[MAX_IMAGES], ref_rscin[MAX_IMAGES];
  for (int i = 0; i < ref.n; i++) {
    ref_raw[i] = ref.img[i].raw;
    ref_rscin[i] = ref.img[i].rscin;
  }
  if (read_maps(raw, rscin, maps_path, &ref) == 0) {
    int w_raw = 0, w_rscin = 0;
    double rho_raw = spearman(raw, ref_raw, ref.n), rho_rscin = spearman(rscin, ref_rscin, ref.n);
    double rel_raw = max_rel_diff(raw, ref_raw, ref.n, &w_raw);
    double rel_rscin = max_rel_diff(rscin, ref_rscin, ref.n, &w_rscin);
    printf("raw scores:   Spearman %.6f, max rel diff %.3g (%s: ancd %.9g, reference %.9g)\n",
           rho_raw, rel_raw, ref.img[w_raw].path, raw[w_raw], ref_raw[w_raw]);
    printf("RsCIN scores: Spearman %.6f, max rel diff %.3g (%s: ancd %.9g, reference %.9g)\n",
           rho_rscin, rel_rscin, ref.img[w_rscin].path, rscin[w_rscin], ref_rscin[w_rscin]);
    CHECK(rho_raw >= SPEARMAN_MIN, "raw Spearman %.6f", rho_raw);
    CHECK(rel_raw <= REL_DIFF_MAX, "raw max relative difference %.3g", rel_raw);
    CHECK(rho_rscin >= SPEARMAN_MIN, "RsCIN Spearman %.6f", rho_rscin);
    CHECK(rel_rscin <= REL_DIFF_MAX, "RsCIN max relative difference %.3g", rel_rscin);
  } else {
    CHECK(0, "%s", ancd_error());
  }

  ad_metrics m;
  if (metrics_json_read(cat_dir, &m) == 0) {
    const double got[7] = {m.auroc_cls, m.f1max_cls, m.ap_cls, m.auroc_px,
                           m.f1max_px,  m.ap_px,     m.aupro};
    for (int k = 0; k < 7; k++) {
      printf("%-9s ancd %.6f reference %.6f diff %+.2e\n", metric_names[k], got[k], ref.metric[k],
             got[k] - ref.metric[k]);
      CHECK(fabs(got[k] - ref.metric[k]) <= METRIC_TOL, "%s: ancd %.6f, reference %.6f",
            metric_names[k], got[k], ref.metric[k]);
    }
  } else {
    CHECK(0, "%s", ancd_error());
  }
  MPI_Finalize();
  return test_done("real_detect_mtd");
}
