/* One MGRL step (ncd_step.h). */
#include "ncd_step.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ncd_classifier.h"

void ncd_step_work_init(ncd_step_work *w, const mgvit *m, int B, int Z, int C) {
  const int N = 2 * B, D = mgvit_dim(m), H = MGVIT_HEADS;
  *w = (ncd_step_work){.B = B, .D = D, .Z = Z, .C = C};
  w->f = xmalloc((size_t)N * D * sizeof(float));
  w->z = xmalloc((size_t)N * Z * sizeof(float));
  w->logits = xmalloc((size_t)H * N * C * sizeof(float));
  w->df = xmalloc((size_t)N * D * sizeof(float));
  w->dz = xmalloc((size_t)N * Z * sizeof(float));
  w->dlogits = xmalloc((size_t)H * N * C * sizeof(float));
  w->dv = xmalloc((size_t)H * C * D * sizeof(float));
}

void ncd_step_work_free(ncd_step_work *w) {
  free(w->f);
  free(w->z);
  free(w->logits);
  free(w->df);
  free(w->dz);
  free(w->dlogits);
  free(w->dv);
  memset(w, 0, sizeof *w);
}

int ncd_step(mgvit *m, ncd_loss_terms *t, ncd_step_work *w, const float *images, const float *masks,
             const uint8_t *is_base, const int *label, const float *score, int B,
             const ncd_loss_cfg *lc, const ncd_step_cfg *sc) {
  const int N = 2 * B, D = w->D, Z = w->Z, C = w->C, H = MGVIT_HEADS;
  if (B < 1 || B > w->B)
    return ancd_errorf("step %ld: %d samples, the step was sized for 1..%d", sc->step, B, w->B);
  int n_base = 0;
  for (int i = 0; i < B; i++)
    n_base += is_base[i] != 0;
  if (n_base == 0 || n_base == B)
    return NCD_STEP_SKIPPED;

  if (mgvit_forward(m, images, masks, N, w->f, w->z) != 0)
    return -1;
  /* The prototypes of every head are contiguous on the host: [H, C, D]. */
  const float *v = mgvit_prototypes(m, 0);
  ncd_classifier_forward(w->logits, w->f, v, N, D, C, H);
  memset(w->dz, 0, (size_t)N * Z * sizeof(float));
  memset(w->dlogits, 0, (size_t)H * N * C * sizeof(float));
  /* §11.17: the teacher is the live network's logits, detached. */
  if (ncd_loss(t, w->dz, w->dlogits, w->z, w->logits, w->logits, is_base, label, score, B, Z, C, H,
               sc->teacher_temp, lc) != 0)
    return ancd_error_prefix("step %ld: ", sc->step);
  int head = -1;
  const char *term = ncd_loss_nonfinite(t, &head);
  if (term) {
    if (head >= 0)
      return ancd_errorf("step %ld: loss term %s of head %d is not finite", sc->step, term, head);
    return ancd_errorf("step %ld: loss term %s is not finite", sc->step, term);
  }
  memset(w->df, 0, (size_t)N * D * sizeof(float));
  memset(w->dv, 0, (size_t)H * C * D * sizeof(float));
  ncd_classifier_backward(w->df, w->dv, w->dlogits, w->f, v, N, D, C, H);
  if (mgvit_backward(m, w->df, w->dz, w->dv, N) != 0)
    return -1;
  size_t at = 0;
  const mgvit_tensor *bad = mgvit_first_nonfinite(m, mgvit_grads(m), &at);
  if (bad)
    return ancd_errorf("step %ld: the gradient of %s is not finite (element %zu); no update made",
                       sc->step, bad->name, at);
  mgvit_sgd_step(m, sc->lr, sc->momentum, sc->weight_decay, sc->first_step);
  return 0;
}
