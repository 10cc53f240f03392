/* results.h5 (DESIGN "Files"): what `ancd classify` found for one category (anomalyncd_spec §6,
 * §7): the discovered class of every crop (sub-image) and of every image (region merging), by
 * each of the MGVIT_HEADS heads, and which head is reported. One writer (rank 0), atomic.
 *
 * Datasets: crop_image_index i32 [R], crop_mask_area i64 [R], crop_probs f32 [H, R, C] (softmax,
 * base columns 0), crop_pred i32 [H, R]; image_probs f32 [H, N, C] (merged), image_pred i32
 * [H, N] (a column of classes: >= n_base), true_type i32 [N] (index into types, -1 unknown);
 * paths [N], types [n_types] (the true types, sorted), classes [C] (base classes, then the
 * discovered ones) strings; head_loss f64 [H] (mean L_clu,h of the last training epoch).
 * Root attributes: stage_key, model_stage_key, config (YAML), ancd_version, category, head,
 * n_base, n_novel, merge_temperature, n_images, n_crops. */
#ifndef ANCD_RESULTS_H5_H
#define ANCD_RESULTS_H5_H

#include <stdint.h>

#include "config.h"

#define RESULTS_FILE "results.h5"

typedef struct {
  int N, H, C, n_base, n_types, head;
  long R;
  const int32_t *crop_image_index; /* [R] */
  const int64_t *crop_mask_area;   /* [R] */
  const float *crop_probs;         /* [H, R, C] */
  const int32_t *crop_pred;        /* [H, R] */
  const float *image_probs;        /* [H, N, C] */
  const int32_t *image_pred;       /* [H, N] */
  const int32_t *true_type;        /* [N] */
  const char *const *paths;        /* [N] */
  const char *const *types;        /* [n_types] */
  const char *const *classes;      /* [C] */
  const double *head_loss;         /* [H] */
  const config *cfg;
  const char *stage_key, *model_stage_key, *category;
  double merge_temperature;
} results_record;

/* Writes <dir>/results.h5 atomically from this process alone. */
int results_h5_write(const char *dir, const results_record *r);

#endif
