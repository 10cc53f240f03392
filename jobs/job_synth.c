/* ancd synth: writes the built-in synthetic dataset in the MVTec layout (issue 2, "Synthetic
 * data: the embedded default"):
 *   DIR/<surface>/train/good/000.png, DIR/<surface>/test/good/000.png,
 *   DIR/<surface>/test/<defect>/000.png, DIR/<surface>/ground_truth/<defect>/000_mask.png.
 * The pixels come from core/synth/synth.c; the same seed gives byte-identical files. */
#include <omp.h>
#include <stdio.h>

#include "cli.h"
#include "error.h"
#include "fsutil.h"
#include "image.h"
#include "log.h"
#include "synth.h"

/* Image names are three digits so that sorted order is numeric order. */
#define SYNTH_MAX_PER_SPLIT 1000
#define SYNTH_PATH_LEN 4096

static int write_png(const char *path, uint8_t *data, int channels) {
  image_u8 img = {.w = SYNTH_SIZE, .h = SYNTH_SIZE, .c = channels, .data = data};
  return image_write_png(path, &img);
}

typedef struct {
  const char *root;
  uint64_t seed;
  int n_train, n_test_good, per_type;
} synth_plan;

/* One output image: train good, test good, or a defect type's test image and its mask. */
static int write_item(const synth_plan *plan, int surface, long item, uint8_t *rgb, uint8_t *mask) {
  const char *cat = synth_surface_name(surface);
  char path[SYNTH_PATH_LEN];
  int n;
  if (item < plan->n_train) {
    int i = (int)item;
    synth_render(rgb, NULL, plan->seed, surface, -1, i, SYNTH_SALT_TRAIN);
    n = snprintf(path, sizeof path, "%s/%s/train/good/%03d.png", plan->root, cat, i);
    return n >= (int)sizeof path ? ancd_errorf("%s: output path too long", plan->root)
                                 : write_png(path, rgb, 3);
  }
  item -= plan->n_train;
  if (item < plan->n_test_good) {
    int i = (int)item;
    synth_render(rgb, NULL, plan->seed, surface, -1, i, SYNTH_SALT_TEST_GOOD);
    n = snprintf(path, sizeof path, "%s/%s/test/good/%03d.png", plan->root, cat, i);
    return n >= (int)sizeof path ? ancd_errorf("%s: output path too long", plan->root)
                                 : write_png(path, rgb, 3);
  }
  item -= plan->n_test_good;
  int d = (int)(item / plan->per_type), i = (int)(item % plan->per_type);
  const char *type = synth_defect_name(d);
  synth_render(rgb, mask, plan->seed, surface, d, i, SYNTH_SALT_TEST_DEFECT0 + d);
  n = snprintf(path, sizeof path, "%s/%s/test/%s/%03d.png", plan->root, cat, type, i);
  if (n >= (int)sizeof path)
    return ancd_errorf("%s: output path too long", plan->root);
  if (write_png(path, rgb, 3))
    return -1;
  n = snprintf(path, sizeof path, "%s/%s/ground_truth/%s/%03d_mask.png", plan->root, cat, type, i);
  if (n >= (int)sizeof path)
    return ancd_errorf("%s: output path too long", plan->root);
  return write_png(path, mask, 1);
}

static int make_category_dirs(const synth_plan *plan, int surface) {
  const char *cat = synth_surface_name(surface);
  char path[SYNTH_PATH_LEN];
  for (int d = -1; d < synth_n_defects(); d++) {
    for (int k = 0; k < 2; k++) {
      const char *sub = d < 0 ? (k ? "train" : "test") : (k ? "ground_truth" : "test");
      const char *type = d < 0 ? "good" : synth_defect_name(d);
      if (snprintf(path, sizeof path, "%s/%s/%s/%s", plan->root, cat, sub, type) >=
          (int)sizeof path)
        return ancd_errorf("%s: output path too long", plan->root);
      if (fs_mkdirs(path))
        return -1;
    }
  }
  return 0;
}

/* Writes one category: its folders, then its images in parallel (each file depends only on its
 * own arguments, so the bytes do not depend on the thread count). */
static int write_category(const synth_plan *plan, int surface, progress *bar, long *done) {
  if (make_category_dirs(plan, surface))
    return -1;
  long n_items = plan->n_train + plan->n_test_good + (long)synth_n_defects() * plan->per_type;
  char first_error[1024] = "";
  int failed = 0;
#pragma omp parallel
  {
    uint8_t *rgb = xmalloc((size_t)SYNTH_SIZE * SYNTH_SIZE * 3);
    uint8_t *mask = xmalloc((size_t)SYNTH_SIZE * SYNTH_SIZE);
#pragma omp for schedule(dynamic)
    for (long item = 0; item < n_items; item++) {
      int stop;
#pragma omp atomic read
      stop = failed;
      if (stop)
        continue;
      if (write_item(plan, surface, item, rgb, mask) != 0) {
#pragma omp critical(synth_error)
        {
          if (!failed)
            snprintf(first_error, sizeof first_error, "%s", ancd_error());
          failed = 1;
        }
        continue;
      }
      long now;
#pragma omp atomic capture
      now = ++*done;
      if (omp_get_thread_num() == 0)
        progress_update(bar, now);
    }
    free(rgb);
    free(mask);
  }
  /* The message was recorded on a worker thread; record it again on this one. */
  return failed ? ancd_errorf("%s", first_error) : 0;
}

static int usage_error(const char *msg, int value) {
  fprintf(stderr, "ancd synth: %s, got %d (see 'ancd synth --help')\n", msg, value);
  return ANCD_EXIT_USAGE;
}

int job_synth(int argc, char **argv) {
  int n_categories = synth_n_surfaces(), seed = 42, n_train = 20, n_test_good = 10, per_type = 12;
  const cli_opt opts[] = {
      {"categories", 0, CLI_INT, &n_categories, "N", "number of surfaces (default: all)"},
      {"seed", 0, CLI_INT, &seed, "S", "random seed (default 42); same seed, same bytes"},
      {"train", 0, CLI_INT, &n_train, "N", "good training images per category (default 20)"},
      {"test-good", 0, CLI_INT, &n_test_good, "N", "good test images per category (default 10)"},
      {"per-type", 0, CLI_INT, &per_type, "N", "test images per defect type (default 12)"},
      {0}};
  const cli_job job = {"synth",
                       "Writes the built-in synthetic dataset (procedural industrial surfaces, "
                       "several defect types, exact masks)\nin the mvtec layout under -o DIR "
                       "(default demo_data).",
                       "[-o DIR] [--categories N] [--seed S] [--train N] [--test-good N] "
                       "[--per-type N]",
                       opts, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if (a.n_configs || a.n_sets) {
    fprintf(stderr, "ancd synth: takes no -c/--set; its options are on the command line "
                    "(see 'ancd synth --help')\n");
    return ANCD_EXIT_USAGE;
  }
  char range[96];
  snprintf(range, sizeof range, "--categories must be in 1..%d", synth_n_surfaces());
  if (n_categories < 1 || n_categories > synth_n_surfaces())
    return usage_error(range, n_categories);
  if (n_train < 1 || n_train > SYNTH_MAX_PER_SPLIT)
    return usage_error("--train must be in 1..1000", n_train);
  if (n_test_good < 1 || n_test_good > SYNTH_MAX_PER_SPLIT)
    return usage_error("--test-good must be in 1..1000", n_test_good);
  if (per_type < 1 || per_type > SYNTH_MAX_PER_SPLIT)
    return usage_error("--per-type must be in 1..1000", per_type);
  if (per_type < 10)
    log_warn("synth: --per-type %d is below 10; defect-type clustering needs more", per_type);

  synth_plan plan = {.root = a.output ? a.output : "demo_data",
                     .seed = (uint64_t)(int64_t)seed,
                     .n_train = n_train,
                     .n_test_good = n_test_good,
                     .per_type = per_type};
  long per_category = n_train + n_test_good + (long)synth_n_defects() * per_type;
  progress bar;
  progress_start(&bar, "synth", per_category * n_categories);
  double t0 = now_seconds();
  long done = 0;
  rc = ANCD_EXIT_OK;
  for (int s = 0; s < n_categories && rc == ANCD_EXIT_OK; s++) {
    if (write_category(&plan, s, &bar, &done) != 0) {
      log_error("%s", ancd_error());
      rc = ANCD_EXIT_INPUT;
    }
  }
  progress_finish(&bar);
  if (rc == ANCD_EXIT_OK)
    log_info("synth: wrote %d categories x (%d train, %d test good, %d defect types x %d) = %ld "
             "images and %ld masks to %s in %.1f s (seed %d)",
             n_categories, n_train, n_test_good, synth_n_defects(), per_type, done,
             (long)n_categories * synth_n_defects() * per_type, plan.root, now_seconds() - t0,
             seed);
  return rc;
}
