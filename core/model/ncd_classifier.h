/* anomalyncd §5.4: the classifier of the heads, SimGCD's DINOHead last layer made multi-head:
 * l_h = f̂ · Ŵ_hᵀ with f̂ = f / max(||f||, 1e-12) (F.normalize) and Ŵ_h the rows of the
 * prototypes v_h scaled to unit length (torch.nn.utils.weight_norm(dim=0), g frozen at 1, no eps:
 * a zero row gives non-finite logits, as in torch). Host code on small buffers, accumulated in
 * double; the model copies f and v to the host, calls these and copies the gradients back.
 *
 * Layouts (row-major float):
 *   f       [N, D]     CLS features, one row per image (row order as ncd_loss.h's: view 1, view 2)
 *   v       [H, C, D]  the prototypes: head h's weight_v [C, D] at v + h*C*D
 *   logits  [H, N, C]  head h's cosines at logits + h*N*C (PyTorch's student_out[h]) */
#ifndef ANCD_NCD_CLASSIFIER_H
#define ANCD_NCD_CLASSIFIER_H

#define NCD_NORM_EPS 1e-12 /* F.normalize's eps */

/* F.normalize of rows of x [., d] (rows NULL: rows 0..n-1, else the listed ones) into xhat [n, d]
 * in double: x / max(||x||, eps); norm[k] = ||x_row||. eps 0: plain weight norm. */
void ncd_unit_rows(double *xhat, double *norm, const float *x, const int *rows, int n, int d,
                   double eps);

void ncd_classifier_forward(float *logits, const float *f, const float *v, int N, int D, int C,
                            int H);

/* Given dlogits [H, N, C]: df [N, D] += dL/df (through the normalisation of f) and dv [H, C, D]
 * += dL/dv, the weight-norm projection (1/||v_c||)(I - ŵ_c ŵ_cᵀ) dL/dŵ_c (§11.33: the trained
 * parameter is v, not the unit rows). Accumulates like every backward of ops.h; NULL: skipped. */
void ncd_classifier_backward(float *df, float *dv, const float *dlogits, const float *f,
                             const float *v, int N, int D, int C, int H);

#endif
