/* One step of AnomalyNCD's mask-guided representation learning (anomalyncd_spec §5.5-§5.6) on
 * one process: the MGViT forward of the 2B rows, the classifier and the losses on the host, the
 * backward, a NaN/Inf check that names what went wrong, and SGD. The job that feeds it (data,
 * ranks, checkpoints) is `ancd train`. */
#ifndef ANCD_NCD_STEP_H
#define ANCD_NCD_STEP_H

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

/* Host buffers of a step for up to B samples (2B rows), so a step allocates nothing. */
typedef struct {
  int B, D, Z, C;
  float *f, *z, *logits, *df, *dz, *dlogits, *dv;
} ncd_step_work;

void ncd_step_work_init(ncd_step_work *w, const mgvit *m, int B, int Z, int C);
void ncd_step_work_free(ncd_step_work *w);

#define NCD_STEP_SKIPPED 1 /* the batch lacks base or novel samples (§5.5): nothing was done */

/* One step on B samples x 2 views: images [2B,3,S,S] and masks [2B,S,S] (host, rows as
 * ncd_loss.h: view 1 then view 2), is_base/label/score [B]. Fills *t. Returns 0,
 * NCD_STEP_SKIPPED, or -1 with the reason in ancd_error(): a non-finite loss term (named, with
 * its head) or gradient (the parameter and element), both naming the step; no update is made
 * then. */
int ncd_step(mgvit *m, ncd_loss_terms *t, ncd_step_work *w, const float *images, const float *masks,
             const uint8_t *is_base, const int *label, const float *score, int B,
             const ncd_loss_cfg *lc, const ncd_step_cfg *sc);

#endif
