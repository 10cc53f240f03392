/* One MGRL step (ncd_step.h). */
#include "ncd_step.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ncd_classifier.h"

void ncd_step_work_init(ncd_step_work *w, const mgvit *m, int B, int Z, int C) {
  const size_t N = 2 * (size_t)B, D = (size_t)mgvit_dim(m), H = MGVIT_HEADS;
  *w = (ncd_step_work){.B = B, .D = (int)D, .Z = Z, .C = C};
  w->f = xmalloc(N * D * sizeof(float));
  w->z = xmalloc(N * Z * sizeof(float));
  w->logits = xmalloc(H * N * C * sizeof(float));
  w->dz = xmalloc(N * Z * sizeof(float));
  w->dlogits = xmalloc(H * N * C * sizeof(float));
  w->f_own = xmalloc(N * D * sizeof(float));
  w->z_own = xmalloc(N * Z * sizeof(float));
  w->df = xmalloc(N * D * sizeof(float));
  w->dz_own = xmalloc(N * Z * sizeof(float));
  w->dlogits_own = xmalloc(H * N * C * sizeof(float));
  w->dv = xmalloc(H * C * D * sizeof(float));
}

void ncd_step_work_free(ncd_step_work *w) {
  float *bufs[] = {w->f,     w->z,  w->logits, w->dz,          w->dlogits, w->f_own,
                   w->z_own, w->df, w->dz_own, w->dlogits_own, w->dv};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    free(bufs[i]);
  memset(w, 0, sizeof *w);
}

/* dst [2 count, width] = the rows of samples [first, first + count) of src [2B, width]: the
 * view-1 block, then the view-2 block (the layout of a process's own rows). */
static void own_rows(float *dst, const float *src, int B, int first, int count, int width) {
  const size_t row = (size_t)width * sizeof(float);
  memcpy(dst, src + (size_t)first * width, (size_t)count * row);
  memcpy(dst + (size_t)count * width, src + (size_t)(B + first) * width, (size_t)count * row);
}

static int loss_error(const ncd_loss_terms *t, long step) {
  int head = -1;
  const char *term = ncd_loss_nonfinite(t, &head);
  if (head >= 0)
    return ancd_errorf("step %ld: loss term %s of head %d is not finite", step, term, head);
  return ancd_errorf("step %ld: loss term %s is not finite", step, term);
}

int ncd_step(mgvit *m, ncd_loss_terms *t, ncd_step_work *w, const float *images, const float *masks,
             const uint8_t *is_base, const int *label, const float *score, int B,
             const ncd_shard *shard, const ncd_loss_cfg *lc, const ncd_step_cfg *sc) {
  const int N = 2 * B, D = w->D, Z = w->Z, C = w->C, H = MGVIT_HEADS;
  const int first = shard ? shard->first : 0, count = shard ? shard->count : B, n = 2 * count;
  if (B < 1 || B > w->B || first < 0 || count < 0 || first + count > B)
    return ancd_errorf("step %ld: samples [%d, %d) of %d, the step was sized for 1..%d", sc->step,
                       first, first + count, B, w->B);
  int n_base = 0;
  for (int i = 0; i < B; i++)
    n_base += is_base[i] != 0;
  if (lc->n_base > 0 ? (n_base == 0 || n_base == B) : n_base == B)
    return NCD_STEP_SKIPPED; /* every process sees the same batch: the same decision */

  /* This process's rows, then the whole batch's f and z on every process. */
  if (count > 0 && mgvit_forward(m, images, masks, n, w->f_own, w->z_own) != 0)
    return -1;
  if (shard) {
    if (shard->gather_rows(w->f, w->f_own, D, B, shard->ctx) != 0 ||
        shard->gather_rows(w->z, w->z_own, Z, B, shard->ctx) != 0)
      return ancd_error_prefix("step %ld: ", sc->step);
  } else {
    memcpy(w->f, w->f_own, (size_t)N * D * sizeof(float));
    memcpy(w->z, w->z_own, (size_t)N * Z * sizeof(float));
  }

  /* The classifier (v [H, C, D] contiguous on the host) and the losses of the whole batch; §11.17:
   * the teacher is the live network's logits, detached. */
  const float *v = mgvit_prototypes(m, 0);
  ncd_classifier_forward(w->logits, w->f, v, N, D, C, H);
  memset(w->dz, 0, (size_t)N * Z * sizeof(float));
  memset(w->dlogits, 0, (size_t)H * N * C * sizeof(float));
  if (ncd_loss(t, w->dz, w->dlogits, w->z, w->logits, w->logits, is_base, label, score, B, Z, C, H,
               sc->teacher_temp, lc) != 0)
    return ancd_error_prefix("step %ld: ", sc->step);
  if (ncd_loss_nonfinite(t, &(int){0}))
    return loss_error(t, sc->step);

  /* This process's share of the gradients: its rows through the classifier and the model; the
   * prototypes' gradient is a sum over rows, completed by sum_grads. */
  own_rows(w->dz_own, w->dz, B, first, count, Z);
  for (int h = 0; h < H; h++)
    own_rows(w->dlogits_own + (size_t)h * n * C, w->dlogits + (size_t)h * N * C, B, first, count,
             C);
  memset(w->df, 0, (size_t)n * D * sizeof(float));
  memset(w->dv, 0, (size_t)H * C * D * sizeof(float));
  ncd_classifier_backward(w->df, w->dv, w->dlogits_own, w->f_own, v, n, D, C, H);
  if (count > 0) {
    if (mgvit_backward(m, w->df, w->dz_own, w->dv, n) != 0)
      return -1;
  } else {
    mgvit_zero_grads(m);
  }
  if (shard && shard->sum_grads(mgvit_grads(m), mgvit_n_params(m), shard->ctx) != 0)
    return ancd_error_prefix("step %ld: ", sc->step);
  size_t at = 0;
  const mgvit_tensor *bad = mgvit_first_nonfinite(m, mgvit_grads(m), &at);
  if (bad)
    return ancd_errorf("step %ld: the gradient of %s is not finite (element %zu); no update made",
                       sc->step, bad->name, at);
  mgvit_sgd_step(m, sc->lr, sc->momentum, sc->weight_decay, sc->first_step);
  return 0;
}
