/* anomalyncd §5.5: AnomalyNCD's training losses (MGRL) and their exact gradients, on host
 * buffers. Inputs are float, everything is computed in double, losses come back as double.
 *
 * Batch layout (the reference's): B samples, two views each, N = 2B rows. Row r = v*B + i is
 * view v (0 or 1) of sample i, so rows i and i+B are the same sample.
 *   z        [N, Z]     projector output, not normalised (Z = 256)      PyTorch: student_proj
 *   logits   [H, N, C]  the classifier's cosines, head h at logits + h*N*C  student_out[h]
 *   teacher  [H, N, C]  the teacher's logits: pass `logits` itself (§11.17: the live network,
 *                       detached); a separate buffer only to hold it fixed (tests)
 *   is_base  [B]        1: labelled base sample (§5.9), 0: novel           mask_lab
 *   label    [B]        base samples: the base class 0..n_base-1; ignored for novel samples
 *   score    [B]        novel samples: the crop's anomaly score (§3.5); ignored for base ones
 * Columns: 0..n_base-1 the base classes, n_base..C-1 the K = C - n_base novel clusters; column
 * n_base is the "normal" cluster of the correction (§5.8).
 * Rows of a subset keep batch order, view 1 block first: SupCon's anchors are the base rows
 * [i in view 1..., i in view 2...] as the reference's torch.cat(torch.unbind(...)).
 *
 * Gradients ACCUMULATE (+=) like every backward of ops.h, scaled by `scale` (the term's weight
 * in the total); a NULL gradient buffer is not computed. The teacher gets no gradient. */
#ifndef ANCD_NCD_LOSS_H
#define ANCD_NCD_LOSS_H

#include <stdint.h>

#define NCD_MAX_HEADS 8

typedef struct {
  int n_base; /* base classes: columns 0..n_base-1 (4); 0: no labelled set (train.base: none),
                SupCon and CE drop out (their terms are 0) and a batch needs novel samples only */
  double infonce_temp;     /* 1.0 (§11.18) */
  double supcon_temp;      /* 0.07 */
  double supcon_base_temp; /* 0.07; SupCon is scaled by supcon_temp / supcon_base_temp */
  double student_temp;     /* 0.1 */
  double memax_weight;     /* 4 */
  double sup_weight;       /* lambda 0.3 */
  double anomaly_thred;    /* 0.5; exactly -1: every correction weight is 0 */
} ncd_loss_cfg;

/* The reference's constants (§5.5, §11.18). */
void ncd_loss_cfg_default(ncd_loss_cfg *cfg);

typedef struct {
  double total; /* L = (1-λ) L_clu + λ L_cls + (1-λ) L_con + λ L_supcon */
  double con, supcon;
  double cls, clu; /* means over the heads */
  double cls_head[NCD_MAX_HEADS], dist_head[NCD_MAX_HEADS], me_head[NCD_MAX_HEADS];
  double clu_head[NCD_MAX_HEADS]; /* L_dist,h + memax ME_h: what selects the head (§11.15) */
  int heads, n_base, n_novel;     /* n_base, n_novel: samples of each kind in the batch */
} ncd_loss_terms;

/* Every term for one batch; dz [N, Z] and dlogits [H, N, C] += the gradient of the total.
 * teacher_temp: ncd_teacher_temp() of the epoch. Returns -1 (ancd_errorf), touching nothing,
 * for a batch without a base or without a novel sample (§5.5: the caller skips it, no step),
 * a base label outside 0..n_base-1, or bad sizes or constants. */
int ncd_loss(ncd_loss_terms *t, float *dz, float *dlogits, const float *z, const float *logits,
             const float *teacher, const uint8_t *is_base, const int *label, const float *score,
             int B, int Z, int C, int H, double teacher_temp, const ncd_loss_cfg *cfg);

/* The first non-finite term in the order con, supcon, per head (cls, dist, me, clu), cls, clu,
 * total: its name ("L_dist,h", ...) and *head (h, or -1 for a batch-level term); NULL when all
 * are finite. */
const char *ncd_loss_nonfinite(const ncd_loss_terms *t, int *head);

/* §5.5.5: w = max(0, thred - score); thred exactly -1 gives 0 whatever the score. Rounded to
 * float, as the reference's torch.tensor of the Python list. */
float ncd_correction_weight(float score, double thred);

/* The terms one by one; each returns 0, or -1 (ancd_errorf) for bad sizes or a batch without
 * the rows it needs. */

/* §5.5.2 InfoNCE over all N rows: ẑ = z/max(||z||,1e-12), s = ẑ ẑᵀ / temp; row r's positive is
 * its other view, the negatives every other row but r: mean_r [-s_rp + log sum_{j!=r} e^s_rj]. */
int ncd_infonce_loss(double *loss, float *dz, const float *z, int B, int Z, double temp,
                     double scale);

/* §5.5.3 SupCon ("all") over the 2 n_b base rows: g = ẑ ẑᵀ / temp minus the (detached) row max,
 * positives every other row of the same label, mean over the anchors of
 * -(temp/base_temp)/|P| sum_P [g_ip - log sum_{j!=i} e^g_ij]. */
int ncd_supcon_loss(double *loss, float *dz, const float *z, const uint8_t *is_base,
                    const int *label, int B, int Z, double temp, double base_temp, double scale);

/* §5.5.4 one head: cross-entropy of logits/student_temp over all C columns against the label,
 * mean over the 2 n_b base rows. */
int ncd_ce_loss(double *loss, float *dlogits, const float *logits, const uint8_t *is_base,
                const int *label, int B, int C, int n_base, double student_temp, double scale);

/* §5.5.5 one head, novel rows: Q = w e_{n_base} + (1-w) softmax(teacher/teacher_temp) over the
 * novel columns (base columns 0); each view's Q against the other view's student
 * softmax(logits/student_temp) over all C; ½ (mean over view-1 teachers + mean over view-2
 * teachers). weight [B]: the per-sample w (ncd_correction_weight), read for novel samples. */
int ncd_distill_loss(double *loss, float *dlogits, const float *logits, const float *teacher,
                     const uint8_t *is_base, const float *weight, int B, int C, int n_base,
                     double teacher_temp, double student_temp, double scale);

/* §5.5.6 one head: p̄ = mean over the 2 n_u novel rows of softmax(logits/student_temp) over all C
 * columns (§11.16), ME = sum_c p̄_c log p̄_c + log C (0 log 0 = 0). */
int ncd_memax_loss(double *loss, float *dlogits, const float *logits, const uint8_t *is_base, int B,
                   int C, double student_temp, double scale);

#endif
