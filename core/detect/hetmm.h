/* HETMM numerics on buffers (musc_hetmm_spec Part B): ATMM matching of one layer, the fusion of
 * the layers into one map, the per-metric post-processing, and PTS template selection at one
 * position. Plain C + OpenBLAS/OpenMP; templates, files and ranks live in jobs/ and io/.
 * Feature layout everywhere: unit channel vectors, position-major. A query batch is
 * q [B, h, w, C]; a template set is t [h, w, K, C] (all K sheets of one position together, so
 * one position's sheets are one GEMM operand). */
#ifndef ANCD_HETMM_H
#define ANCD_HETMM_H

#include <stddef.h>

#define HETMM_MAX_LAYERS 8

/* A category's template sheets (§B.5): per layer t[l] [h, w, K, C], unit rows (PTS: zero rows
 * past the normal images when K > N). */
typedef struct {
  int n_layers, K;
  int C[HETMM_MAX_LAYERS], h[HETMM_MAX_LAYERS], w[HETMM_MAX_LAYERS];
  float *t[HETMM_MAX_LAYERS];
} hetmm_templates;
void hetmm_templates_free(hetmm_templates *t);

/* §B.6 ATMM for one layer: fwd[b, p] = max over the K sheets and the template positions u within
 * +-df rows and cols of p (clipped, no padding) of <q_b(p), t_k(u)>, and bwd[b, p] = max over k and
 * query positions u within +-db of p of <q_b(u), t_k(p)>; both start at -1 (the reference's
 * running max). The caller takes 1 - x. For every pair of positions (p, u) at most
 * D = max(df, db) apart, one sgemm of the query rows of the window column block against the K
 * sheets at u gives both directions (the "window offsets as GEMM" of §B.10); each value is one
 * sgemm entry, so the result is independent of the thread count. OpenMP over query rows; call
 * from outside a parallel region. fwd, bwd [B, h*w]. */
void hetmm_match_layer(float *fwd, float *bwd, const float *q, const float *t, int B, int h, int w,
                       int C, int K, int df, int db);
/* Multiply-adds hetmm_match_layer does (the useful ones are h*w*K*C*((2df+1)^2 + (2db+1)^2)
 * in §B.10's count, minus the clipped border). */
double hetmm_match_macs(int B, int h, int w, int C, int K, int df, int db);

/* §B.6 fusion of one layer: out[b] += lambda * (alpha * up(1 - fwd[b]) + (1 - alpha) *
 * up(1 - bwd[b])), up = bilinear align_corners=True from h x w to S x S (float, as torch). out
 * [B, S, S] starts at 0 before the first layer. */
void hetmm_fuse_layer(float *out, const float *fwd, const float *bwd, int B, int h, int w, int S,
                      double alpha, double lambda);

/* §B.6 bilinear align_corners=True upsampling of one h x w grid to S x S in float. */
void hetmm_upsample_ac(float *out, const float *in, int h, int w, int S);

/* §B.7 post-processing of one metric: clean, blur_s=<sigma>_k=<k> (zero-padded truncated
 * Gaussian), mp_k=<k> (mean of the k x k block maxima: an image score only). */
typedef enum { HETMM_PP_CLEAN, HETMM_PP_BLUR, HETMM_PP_MP } hetmm_pp_kind;
typedef struct {
  hetmm_pp_kind kind;
  double sigma;
  int k;
} hetmm_post;

/* Parses the spec's <pp> text; -1 with ancd_error() naming it when malformed (k must be odd and
 * >= 1 for blur, >= 1 for mp, sigma > 0). */
int hetmm_post_parse(hetmm_post *out, const char *text);
/* out [S, S] = the map after p (clean: a copy; blur: §B.7; mp is not a map: a copy). out != in. */
void hetmm_post_map(float *out, const float *in, int S, const hetmm_post *p);
/* §B.7 image score: max of the post-processed map, or for mp the mean of the block maxima. */
double hetmm_image_score(const float *map, int S, const hetmm_post *p);

/* §B.5.3 PTS at one position: sheets [N, C] (unit rows), labels [N] (OPTICS, -1 noise). out
 * [K, C]: easy-normal medoids per cluster in first-appearance order, the global centre when no
 * cluster, then hard normals (smallest summed similarity to the chosen, lowest index on ties)
 * until K; rows past N stay zero (K > N). picked [K]: the sheet index of each row, -1 for a
 * zero row. gram: [N, N] scratch (the sheets' dot products, float as the reference's
 * accumulators). Returns the number of rows filled. */
int hetmm_pts_position(float *out, int *picked, float *gram, const float *sheets, const int *labels,
                       int N, int C, int K);

#endif
