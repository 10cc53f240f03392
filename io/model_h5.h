/* model.h5 (DESIGN "Files"): a trained MGViT category, and the checkpoint a training run resumes
 * from. Written by one rank (the replicas are identical) atomically; a checkpoint has finished=0,
 * the end of training finished=1 and the chosen head.
 *
 * Datasets: params/<tensor> and momentum/<tensor> f32 (each trainable tensor by its state-dict
 * name, mgvit.h), tensor_names (strings, the model's order), history [epochs_done, MODEL_HIST_COLS]
 * f64 (per-epoch means of the loss terms, the LR and samples/s; columns named in the attribute
 * history_columns), partial [MODEL_HIST_COLS + 1] f64 (the sums of the epoch in progress and their
 * step count), classes (strings: the base classes, then the novel types). Root attributes:
 * stage_key, config (YAML), backbone, category, epochs, epochs_done, next_batch (of the epoch in
 * progress), finished, head (-1 until finished), n_base, n_novel (K), seed, k_estimated. */
#ifndef ANCD_MODEL_H5_H
#define ANCD_MODEL_H5_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define MODEL_FILE "model.h5"
/* total, con, supcon, cls, clu, lr, steps (the SGD steps the means are over: a deterministic
 * history, so resumed and uninterrupted runs compare), then clu, cls, dist, me of heads 0..3 */
#define MODEL_HIST_COLS 23
extern const char *const model_hist_names[MODEL_HIST_COLS];

typedef struct {
  int n_tensors;
  char (*names)[64];
  int64_t *sizes;  /* [n_tensors] floats each */
  float *params;   /* the tensors one after the other, no padding */
  float *momentum; /* same layout */
  int epochs, epochs_done, next_batch, finished, head, n_base, n_novel;
  long steps; /* SGD steps taken (0: the next one starts the momentum) */
  long seed;
  int k_est; /* K estimated from the novel crops before training (k_estimate.h); 0: none */
  char **classes;  /* [n_base + n_novel] */
  double *history; /* [epochs_done, MODEL_HIST_COLS] */
  double partial[MODEL_HIST_COLS + 1];
  char stage_key[17];
  char backbone[256], category[128];
} model_state;

/* Writes <dir>/model.h5 atomically (one process; dir is created). cfg is stored as YAML. */
int model_h5_write(const char *dir, const model_state *s, const config *cfg);
/* Reads a valid <dir>/model.h5 (the caller checked it with stage_file_check). */
int model_h5_read(model_state *s, const char *dir);
void model_state_free(model_state *s);

#endif
