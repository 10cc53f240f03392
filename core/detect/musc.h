/* MuSc numerics on buffers (musc_hetmm_spec Part A): LNAMD, MSM block scoring and interval
 * average, map upsampling, RsCIN. Plain C + OpenBLAS/OpenMP; the distribution over ranks lives in
 * mpi/msm_dist.c and only calls these. */
#ifndef ANCD_MUSC_H
#define ANCD_MUSC_H

#include <stddef.h>

/* §A.5 LNAMD for one tap and one degree r: tokens [n, T, C] (the tap, CLS first when has_cls,
 * patches row-major on an h x w grid, T = has_cls + h*w). Per image: LayerNorm over the whole
 * C x h x w tensor (eps 1e-5, no affine), r x r box average with zero padding counted (r odd;
 * r = 1 is the identity), then per-patch L2 normalisation without epsilon (a zero patch stays
 * 0). out [n, h*w, C]. scratch: lnamd_scratch_floats(h, w, C) floats. */
void lnamd(float *out, float *scratch, const float *tokens, int n, int T, int has_cls, int h, int w,
           int C, int r);
size_t lnamd_scratch_floats(int h, int w, int C);

/* §A.6.1 step 2: K = floor((N - 1) * topmin_max) computed in double, but at least 1 (the
 * reference gives K = 0 and NaN maps for N <= 4; the caller logs that ancd uses 1). N >= 2. */
int msm_k(int N, double topmin_max);

/* A block of images for msm_score_blocks: Z [n, L, C] unit rows; first is the index of its image
 * 0 in the whole set (tiles follow it), col the output column of its image 0. first = -1 packs a
 * cross call's A: its images t at a time from its own start, no zero slots (`ancd predict` of a
 * few images against a pool: not t times the work for one image), the values then depending on
 * how A is cut, in the last bits. */
typedef struct {
  const float *Z;
  int n, first, col;
} msm_block;

/* §A.6.1 step 1 for every pair (a of block A, b of block B), one L x L dot-product block per
 * pair giving both directions (the distance matrix of the reference is never materialised):
 *   dA[a, p, B.col + b] = min_q |A[a,p] - B[b,q]| = sqrt(max(2 - 2 max_q <A[a,p], B[b,q]>, 0))
 *   dB[b, q, A.col + a] = min_p |A[a,p] - B[b,q]|          (skipped when dB is NULL)
 * dA [A.n, L, ncols], dB [B.n, L, ncols] (ncols >= every column written). same = 1 when A and B
 * are the same block (dA == dB allowed): each pair a < b is scored once and the diagonal a == b
 * is not written; dB NULL then means dB = dA. In a cross-block call dA and dB must not overlap.
 * Work goes in tiles of t x t pairs (t L about 1024; t = 1 when L >= 1024): the fused kernel
 * (msm_kernel below) takes a tile's maxima in registers; the sgemm path scores it with one sgemm,
 * the tiles laid on the global indices (first). Either way a pair's values do not depend on how
 * the set is cut into blocks. Threads: OpenMP over tiles, each sgemm single-threaded (it calls
 * ops_cpu(), which sets OpenBLAS to one thread); call it from outside any parallel region.
 * scratch: msm_scratch_floats(L, C) floats per OpenMP thread (omp_get_max_threads()); thread t
 * uses slice t. Deterministic whatever the thread count or blocks. */
void msm_score_blocks(float *dA, float *dB, float *scratch, msm_block A, msm_block B, int L, int C,
                      int ncols, int same);
size_t msm_scratch_floats(int L, int C);

/* Which kernel msm_score_blocks runs. AUTO: the fused one (core/detect/msm_fused.c: the maxima
 * taken in registers, the products never stored) on CPUs with AVX-512 when L >= 16 and
 * C <= 512 (where it is the faster), else one
 * sgemm per tile plus a pass over its products (the reference, always available). The two agree
 * within float rounding of the dot products; each is deterministic and independent of blocks,
 * ranks and threads. SGEMM forces the reference (tests, `ancd bench msm --kernel sgemm`). */
typedef enum { MSM_KERNEL_AUTO, MSM_KERNEL_SGEMM } msm_kernel;
void msm_use_kernel(msm_kernel k);
/* 1 when msm_score_blocks runs the fused kernel for images of L patches of C features. */
int msm_kernel_fused(int L, int C);

/* §A.6.1 step 2: out[i, p] += weight * mean of the k smallest of D[i, p, :] over the columns
 * j != self_col[i] (ncols - 1 values; 1 <= k <= ncols - 1; self_col NULL: every column, as for a
 * new image scored against a pool, `ancd predict`). Partial selection on a copy; the
 * mean is the double sum of the k values rounded to float (the reference averages in fp32).
 * Accumulates in double (§A.6.2: the mean over layers and degrees is taken as weighted sums).
 * OpenMP over rows; call it from outside any parallel region. */
void msm_interval_average(double *out, const float *D, const int *self_col, int n, int L, int ncols,
                          int k, double weight);

/* Reference images (detect.reference: train; issue 13): normal images that test patches are
 * scored against and that are never scored themselves. How a test patch uses them:
 *   NEAREST  the distance to the nearest reference image (min over the references); the test
 *            images are not compared with each other at all;
 *   POOL     the interval average over the N - 1 other test images and the N_r references;
 *   MEAN     the mean of the two. */
typedef enum { MSM_REF_NEAREST, MSM_REF_POOL, MSM_REF_MEAN } msm_ref_rule;
/* Nearest reference (issue 13, detect.reference_score): out[i, p] += weight * the least of
 * D[i, p, c0 .. c1) (rows of ncols). OpenMP over rows; call it from outside any parallel region. */
void msm_nearest(double *out, const float *D, int n, int L, int ncols, int c0, int c1,
                 double weight);

/* §A.6.3: bilinear, align_corners=True upsampling of a h x w grid to S x S: source coordinate
 * u (h-1)/(S-1), computed in double as PyTorch does for a float64 map; out [S, S] rounded to
 * float. Returns the maximum of the double values (the image score). */
double upsample_bilinear_ac(float *out, const double *grid, int h, int w, int S);

/* §A.7 RsCIN: scores [N] (raw), feats [N, D] (image-level embeddings), windows (k values;
 * a 0 anywhere, no windows or feats NULL returns the scores unchanged). out [N]. Min-max
 * normalised first; all scores equal gives NaN in the reference: ancd returns zeros and the
 * caller, which can name the category, logs it. W = F F^T in float; per row the k largest of W
 * are kept, ties broken by the lower image index (the reference's topk tie order is
 * unspecified); k >= N keeps the whole row. */
void rscin(double *out, const double *scores, const float *feats, int N, int D, const int *windows,
           int n_windows);

#endif
