/* ancd classify: the anomaly class of every region and image of a category (anomalyncd_spec §6)
 * from its trained model.h5 and regions.h5, and the clustering metrics against the true types
 * when the dataset has them (§7): results.h5, ncd_metrics.json, confusion.png, gallery.png in
 * <output>/<dataset>/<category>/.
 *
 * The crops are split into contiguous blocks over the ranks of the category's group; each rank
 * runs the test transform and the MGViT on its block and the logits are gathered on group rank 0,
 * which merges the regions, scores and writes. Every head's predictions are kept; the reported
 * head is the one training chose (lowest mean L_clu,h over its last epoch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category_loop.h"
#include "classify_outputs.h"
#include "cli.h"
#include "error.h"
#include "h5store.h"
#include "log.h"
#include "ncd_model.h"
#include "output_paths.h"
#include "partition.h"
#include "region_merge.h"
#include "results_h5.h"
#include "stage_key.h"
#include "stages.h"
#include "world.h"

#define N_HEADS MGVIT_HEADS

typedef struct {
  const config *cfg;
  const config_set *cs;
  const char *category;
  MPI_Comm comm;
  int rank, size;
  char dir[OUTPUT_PATH_LEN];
  char key[STAGE_KEY_LEN], model_key[STAGE_KEY_LEN];
  model_state st;
  int N, n_types, C;
  long R;
  char **paths, **image_types, **types; /* [N], [N], [n_types] sorted unique */
  int32_t *true_type, *crop_image;      /* [N], [R] */
  int64_t *area;                        /* [R] */
  long *first_crop;                     /* [N + 1] */
  float *logits;                        /* [R, N_HEADS, C] (rank 0) */
} classify_run;

/* §6: T = 100 for MVTec-style layouts, 50 otherwise, unless classify.merge_temperature is set. */
static double merge_temperature(const config *c) {
  if (c->classify.merge_temperature > 0)
    return c->classify.merge_temperature;
  return !strcmp(c->dataset.layout, "mvtec") || !strcmp(c->dataset.layout, "anomalies") ? 100 : 50;
}

/* model.h5 finished with this config's training key, its classify key, and the skip decision:
 * 1 skip, 0 classify, -1 error. Group rank 0 decides; every rank reads the model. */
static int inputs_ready(classify_run *r) {
  char path[OUTPUT_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/%s", r->dir, MODEL_FILE);
  int st = stage_file_check(r->dir, MODEL_FILE, r->model_key);
  if (st == H5S_MISSING)
    return ancd_errorf("%s is missing: run `ancd train` first", path);
  if (st != 0)
    return ancd_error_prefix("run `ancd train` to recompute it: ");
  if (model_h5_read(&r->st, r->dir) != 0)
    return -1;
  if (!r->st.finished)
    return ancd_errorf("%s: training stopped at epoch %d of %d: rerun `ancd train` to finish it",
                       path, r->st.epochs_done, r->st.epochs);
  char regions_key[STAGE_KEY_LEN], want[STAGE_KEY_LEN];
  if (stage_file_check(r->dir, REGIONS_FILE, regions_key) != 0)
    return ancd_error_prefix("run `ancd regions`: ");
  stage_key(want, STAGE_TRAIN, r->cfg, regions_key);
  if (strcmp(want, r->model_key))
    return ancd_errorf("%s was trained with other settings or other regions than this config "
                       "gives: run `ancd train` again",
                       path);
  stage_key(r->key, STAGE_CLASSIFY, r->cfg, r->model_key);
  char old[STAGE_KEY_LEN] = "";
  st = stage_file_check(r->dir, RESULTS_FILE, old);
  if (st < 0)
    log_warn("category %s: %s: recomputing", r->category, ancd_error());
  return st == 0 && !strcmp(old, r->key);
}

static int index_of(char **names, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], s))
      return i;
  return -1;
}

/* The images, their crops' images and mask areas, and the true types (sorted, good included, as
 * train's §5.10 order) from regions.h5; *f stays open for the crops' pixels. */
static int read_regions(classify_run *r, h5s_file *f) {
  char path[OUTPUT_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/%s", r->dir, REGIONS_FILE);
  if (regions_h5_open(f, path) != 0)
    return -1;
  int n_paths = 0, n_types = 0;
  if (regions_h5_counts(f, &r->N, &r->R) != 0 ||
      h5s_read_strings(f, "paths", &r->paths, &n_paths) != 0 ||
      h5s_read_strings(f, "types", &r->image_types, &n_types) != 0)
    return -1;
  if (n_paths != r->N || n_types != r->N)
    return ancd_errorf("%s: %d paths and %d types for %d images", path, n_paths, n_types, r->N);
  r->crop_image = xmalloc(((size_t)r->R + 1) * sizeof *r->crop_image);
  r->area = xmalloc(((size_t)r->R + 1) * sizeof *r->area);
  const uint64_t start = 0, count = (uint64_t)r->R;
  if (h5s_read_slab(f, "image_index", H5S_I32, &start, &count, r->crop_image) != 0 ||
      h5s_read_slab(f, "mask_area", H5S_I64, &start, &count, r->area) != 0)
    return -1;
  r->first_crop = xcalloc((size_t)r->N + 1, sizeof *r->first_crop);
  for (long j = 0; j < r->R; j++) {
    const int i = r->crop_image[j];
    if (i < 0 || i >= r->N || (j > 0 && i < r->crop_image[j - 1]))
      return ancd_errorf("%s: crop %ld: image index %d out of order", path, j, i);
    r->first_crop[i + 1]++;
  }
  for (int i = 0; i < r->N; i++)
    r->first_crop[i + 1] += r->first_crop[i];
  r->types = xcalloc((size_t)r->N + 1, sizeof *r->types);
  for (int i = 0; i < r->N; i++)
    if (index_of(r->types, r->n_types, r->image_types[i]) < 0)
      r->types[r->n_types++] = r->image_types[i];
  for (int a = 0; a < r->n_types; a++) /* insertion sort: a handful of names */
    for (int b = a; b > 0 && strcmp(r->types[b - 1], r->types[b]) > 0; b--) {
      char *t = r->types[b];
      r->types[b] = r->types[b - 1];
      r->types[b - 1] = t;
    }
  r->true_type = xmalloc((size_t)r->N * sizeof *r->true_type + 1);
  for (int i = 0; i < r->N; i++)
    r->true_type[i] = index_of(r->types, r->n_types, r->image_types[i]);
  return 0;
}

/* This rank's block of crops through the model; the logits [R, N_HEADS, C] gathered on rank 0. */
static int infer(classify_run *r, h5s_file *f, mgvit *m, const detect_backbone *bb) {
  int *counts = xmalloc((size_t)r->size * sizeof *counts);
  int *displs = xmalloc((size_t)r->size * sizeof *displs);
  partition_counts(counts, displs, r->R, r->size, 1);
  const int first = displs[r->rank], n = counts[r->rank], row = N_HEADS * r->C;
  regions_crop *crops = xcalloc((size_t)n + 1, sizeof *crops);
  float *own = xmalloc(((size_t)n * row + 1) * sizeof *own);
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++)
    rc = regions_h5_read_crop(&crops[i], f, first + i);
  if (rc == 0)
    rc = ncd_model_infer(NULL, own, m, crops, n, bb->mean, bb->std);
  for (int i = 0; i < n; i++)
    regions_crop_free(&crops[i]);
  free(crops);
  rc = agree_rc(rc ? ANCD_EXIT_INPUT : 0, r->comm);
  if (rc == 0) {
    for (int k = 0; k < r->size; k++) {
      counts[k] *= row;
      displs[k] *= row;
    }
    if (r->rank == 0)
      r->logits = xmalloc(((size_t)r->R * row + 1) * sizeof *r->logits);
    CHECK_MPI(
        MPI_Gatherv(own, n * row, MPI_FLOAT, r->logits, counts, displs, MPI_FLOAT, 0, r->comm));
  }
  free(own);
  free(counts);
  free(displs);
  return rc;
}

/* Rank 0: §6 for every head, the §7 metrics, the files. */
static int predict_and_write(classify_run *r) {
  const int N = r->N, C = r->C, n_base = r->st.n_base;
  const long R = r->R;
  const double T = merge_temperature(r->cfg);
  float *head_logits = xmalloc(((size_t)R * C + 1) * sizeof *head_logits);
  float *crop_probs = xmalloc(((size_t)N_HEADS * R * C + 1) * sizeof *crop_probs);
  float *image_probs = xmalloc(((size_t)N_HEADS * N * C + 1) * sizeof *image_probs);
  int32_t *crop_pred = xmalloc(((size_t)N_HEADS * R + 1) * sizeof *crop_pred);
  int32_t *image_pred = xmalloc(((size_t)N_HEADS * N + 1) * sizeof *image_pred);
  int *pred = xmalloc(((size_t)(R > N ? R : N) + 1) * sizeof *pred);
  int rc = 0;
  for (int h = 0; h < N_HEADS && rc == 0; h++) {
    for (long j = 0; j < R; j++)
      memcpy(head_logits + (size_t)j * C, r->logits + ((size_t)j * N_HEADS + h) * C,
             (size_t)C * sizeof(float));
    ncd_subimage_predict(crop_probs + (size_t)h * R * C, pred, head_logits, (int)R, C, n_base);
    for (long j = 0; j < R; j++)
      crop_pred[(size_t)h * R + j] = pred[j];
    rc = ncd_merge_predict(image_probs + (size_t)h * N * C, pred, head_logits, r->area,
                           r->first_crop, N, C, n_base, T);
    for (int i = 0; i < N; i++)
      image_pred[(size_t)h * N + i] = pred[i];
  }
  double head_loss[N_HEADS];
  const double *last = r->st.history + (size_t)(r->st.epochs_done - 1) * MODEL_HIST_COLS;
  for (int h = 0; h < N_HEADS; h++)
    head_loss[h] = last[7 + h]; /* clu_h0..3: model_h5.h */
  const results_record rec = {.N = N,
                              .H = N_HEADS,
                              .C = C,
                              .n_base = n_base,
                              .n_types = r->n_types,
                              .head = r->st.head,
                              .R = R,
                              .crop_image_index = r->crop_image,
                              .crop_mask_area = r->area,
                              .crop_probs = crop_probs,
                              .crop_pred = crop_pred,
                              .image_probs = image_probs,
                              .image_pred = image_pred,
                              .true_type = r->true_type,
                              .paths = (const char *const *)r->paths,
                              .types = (const char *const *)r->types,
                              .classes = (const char *const *)r->st.classes,
                              .head_loss = head_loss,
                              .cfg = r->cfg,
                              .stage_key = r->key,
                              .model_stage_key = r->model_key,
                              .category = r->category,
                              .merge_temperature = T};
  if (rc == 0)
    rc = results_h5_write(r->dir, &rec);
  if (rc == 0)
    rc = classify_outputs_write(r->dir, &rec, r->cfg->classify.gallery_size, r->st.k_est);
  free(head_logits), free(crop_probs), free(image_probs), free(crop_pred), free(image_pred);
  free(pred);
  return rc;
}

static void run_free(classify_run *r) {
  if (r->paths)
    h5s_free_strings(r->paths, r->N);
  if (r->image_types)
    h5s_free_strings(r->image_types, r->N);
  free(r->types); /* the strings are image_types' */
  free(r->true_type), free(r->crop_image), free(r->area), free(r->first_crop), free(r->logits);
  model_state_free(&r->st);
}

/* A category_run_fn; ctx is the config set (for the origins of keys in errors). */
static int classify_category(const void *ctx, const config *c, const char *category, const world *w,
                             long *n_images) {
  classify_run r = {.cfg = c,
                    .cs = ctx,
                    .category = category,
                    .comm = w->group_comm,
                    .rank = w->group_rank,
                    .size = w->group_size};
  *n_images = 0;
  output_category_dir(r.dir, sizeof r.dir, c, category);
  int ready = inputs_ready(&r);
  int rc = agree_rc(ready < 0 ? ANCD_EXIT_INPUT : 0, r.comm);
  if (rc) {
    log_error("category %s: %s", category, ancd_error());
  } else if (ready == 1) {
    if (r.rank == 0)
      log_info("category %s: skipped (complete: %s/%s, stage key %s)", category, r.dir,
               RESULTS_FILE, r.key);
  } else {
    r.C = r.st.n_base + r.st.n_novel;
    h5s_file f = {0};
    rc = read_regions(&r, &f);
    mgvit *m = NULL;
    detect_backbone bb = {0};
    if (rc == 0)
      rc = ncd_model_create(&m, &bb, c, r.cs, category, r.C, 32);
    if (rc == 0)
      rc = ncd_model_restore(m, &r.st, r.dir, 0) ? ANCD_EXIT_INPUT : 0;
    if (rc && rc != ANCD_EXIT_USAGE)
      rc = ANCD_EXIT_INPUT;
    if (rc)
      log_error("category %s: %s", category, ancd_error());
    rc = agree_rc(rc, r.comm);
    if (rc == 0)
      rc = infer(&r, &f, m, &bb);
    h5s_close(&f);
    mgvit_free(m);
    detect_backbone_free(&bb);
    if (rc == 0 && r.rank == 0 && predict_and_write(&r) != 0) {
      log_error("category %s: %s", category, ancd_error());
      rc = ANCD_EXIT_INPUT;
    }
    rc = agree_rc(rc, r.comm);
    if (rc == 0)
      *n_images = r.N;
  }
  run_free(&r);
  return rc;
}

const job_stage stage_classify = {"classify", NULL, NULL, classify_category};

static int classify_all(const config_set *cs, world *w, const void *ctx) {
  (void)ctx;
  world_split(w, cs->base.parallel.group_size);
  cfg_names *cats = xmalloc(sizeof *cats);
  long all = 0;
  double dt = 0;
  int rc = categories_run(cats, &all, &dt, cs, w, NULL, classify_category, cs);
  free(cats);
  return rc;
}

int job_classify(int argc, char **argv) {
  const cli_job job = {
      "classify",
      "The anomaly class of every region and image of each category (AnomalyNCD's sub-image "
      "prediction and region merging) from OUT/<dataset>/<category>/model.h5 and regions.h5, "
      "with NMI, ARI and F1 against the true types when the images have them: results.h5, "
      "ncd_metrics.json, confusion.png and gallery.png next to them. Every head's predictions "
      "are kept; the head training chose is reported. A rerun skips finished categories.",
      "-c FILE [--set KEY=VALUE ...] [-o DIR]", NULL, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "classify", "its dataset, backbone and output")) != 0)
    return rc;
  return job_on_world(&a, &argc, &argv, classify_all, NULL);
}
