/* One step of AnomalyNCD's mask-guided representation learning (anomalyncd_spec §5.5-§5.6): the
 * MGViT forward of this process's rows, the classifier and the losses on the host over the whole
 * batch, the backward, a NaN/Inf check that names what went wrong, and SGD.
 *
 * Data parallel (§10) without MPI in core: a process computes samples [first, first + count) of
 * the B samples of the batch; two callbacks of the caller (mpi/ncd_exchange.c) make the global
 * f and z from every process's rows before the batch-level losses, and sum the gradients after
 * the backward. Every process then computes the same losses and the same update, so replicas
 * stay identical. With no shard (NULL) one process does everything. */
#ifndef ANCD_NCD_STEP_H
#define ANCD_NCD_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "mgvit.h"
#include "ncd_loss.h"

typedef struct {
  double teacher_temp; /* ncd_teacher_temp() of the epoch */
  float lr;            /* ncd_cosine_lr() of the epoch */
  float momentum;      /* 0.9 */
  float weight_decay;  /* 5e-5, on tensors of 2 or more dimensions */
  int first_step;      /* 1 on the first step of a run: starts the momentum buffers */
  long step;           /* for messages */
} ncd_step_cfg;

typedef struct {
  int first, count; /* this process's samples of the batch */
  /* global [2B, width]: the view-1 rows of samples 0..B-1, then their view-2 rows, from every
   * process's own [2 count, width] rows (its view-1 rows, then its view-2 rows). 0 or -1. */
  int (*gather_rows)(float *global, const float *own, int width, int B, void *ctx);
  /* grads (backend memory, n floats) summed over the processes, the same bits everywhere. */
  int (*sum_grads)(float *grads, size_t n, void *ctx);
  void *ctx;
} ncd_shard;

/* Host buffers of a step for batches of up to B samples, so a step allocates nothing. */
typedef struct {
  int B, D, Z, C;
  float *f, *z, *logits, *dz, *dlogits;    /* the whole batch: [2B, .], [H, 2B, C] */
  float *f_own, *z_own, *df, *dz_own, *dv; /* this process's rows; dv [H, C, D] */
  float *dlogits_own;                      /* [H, 2 count, C] */
} ncd_step_work;

void ncd_step_work_init(ncd_step_work *w, const mgvit *m, int B, int Z, int C);
void ncd_step_work_free(ncd_step_work *w);

#define NCD_STEP_SKIPPED 1 /* the batch lacks base or novel samples (§5.5): nothing was done */

/* One step on B samples x 2 views. images [2 count, 3, S, S] and masks [2 count, S, S] (host)
 * are this process's rows (all 2B rows without a shard), view 1 then view 2; is_base, label,
 * score [B] describe the whole batch (every process passes the same). Fills *t (the whole
 * batch's losses). Returns 0, NCD_STEP_SKIPPED, or -1 with the reason in ancd_error(): a
 * non-finite loss term (named, with its head) or gradient (the parameter and element), both
 * naming the step; no update is made then. With a shard every process returns the same. */
int ncd_step(mgvit *m, ncd_loss_terms *t, ncd_step_work *w, const float *images, const float *masks,
             const uint8_t *is_base, const int *label, const float *score, int B,
             const ncd_shard *shard, const ncd_loss_cfg *lc, const ncd_step_cfg *sc);

#endif
