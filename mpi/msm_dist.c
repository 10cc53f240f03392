/* MSM over the ranks of a communicator (musc §A.6.1, §A.10 "Parallelism"; DESIGN "Distribution").
 *
 * Rank r owns images [first, first + n) and their distances D_own [n, L, N] to every image.
 *   1. Its own block: every pair inside it, once (msm_score_blocks with same = 1).
 *   2. Ring steps s = 1 .. P/2: r sends its features to (r + s) and receives those of
 *      v = (r - s), scores own x visitor once (both directions from one dot-product block),
 *      keeps the own-row distances and sends the visitor-row distances straight back to v on
 *      the reverse direction (to v, from r + s). Over s = 1 .. P/2 every pair of ranks meets
 *      once, except for even P at s = P/2, where r and r + P/2 see each other: the block of that
 *      pair is split by the lower rank's rows (it scores the first half, the upper rank the
 *      rest), so that both ranks do the same work and each pair is still scored once.
 *   3. With references (issue 13): r scores its images against its own references, then at
 *      steps s = 1 .. P - 1 against those of r - s (its own travel to r + s), one direction
 *      only, into the columns after the test images (NEAREST skips steps 1-2 altogether).
 *   4. The interval average (and/or the nearest reference) of the own rows.
 * Every send has its receive posted with it (non-blocking, then wait), so no order of ranks can
 * deadlock. The block of the lower-numbered images is always A in msm_score_blocks, as in the
 * single-block call, so each pair's distances come from the same arithmetic for any rank count.
 *
 * Memory per rank (floats, nmax = the largest n over the ranks): D_own n*L*(N + N_r), one visiting
 * block nmax*L*C, two pair buffers nmax*L*nmax (own-row and visitor-row results of one step;
 * the first also receives the results sent back), msm_scratch_floats(L, C) per thread; the caller
 * holds Z_own (n*L*C). At N = 200, L = 1369, C = 1024 on 4 ranks: D_own 55 MB, visiting block
 * 280 MB, pair buffers 2 x 14 MB (and Z_own 280 MB). */
#include "msm_dist.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h"
#include "musc.h"
#include "tiling.h"
#include "world.h"

enum { TAG_FEATURES = 4101, TAG_RESULTS = 4102, TAG_REFERENCES = 4103 };

/* What each rank passed, gathered so that every rank validates the same table and fails with
 * the same message. */
enum {
  ARG_FIRST,
  ARG_N_OWN,
  ARG_N,
  ARG_L,
  ARG_C,
  ARG_K,
  ARG_R_FIRST,
  ARG_NR_OWN,
  ARG_N_R,
  ARG_RULE,
  N_ARGS
}; /* (first, n_own) and (r_first, nr_own): tiling.h; N_r -1: no references */

static int check_args(const int *all, int P) {
  const int *a0 = all;
  for (int q = 1; q < P; q++) {
    const int *a = all + q * N_ARGS;
    if (a[ARG_N] != a0[ARG_N] || a[ARG_L] != a0[ARG_L] || a[ARG_C] != a0[ARG_C] ||
        a[ARG_K] != a0[ARG_K] || a[ARG_N_R] != a0[ARG_N_R] || a[ARG_RULE] != a0[ARG_RULE])
      return ancd_errorf("MSM: ranks disagree on the sizes (rank 0: N = %d, L = %d, C = %d, "
                         "k = %d, N_r = %d; rank %d: N = %d, L = %d, C = %d, k = %d, N_r = %d)",
                         a0[ARG_N], a0[ARG_L], a0[ARG_C], a0[ARG_K], a0[ARG_N_R], q, a[ARG_N],
                         a[ARG_L], a[ARG_C], a[ARG_K], a[ARG_N_R]);
  }
  int N = a0[ARG_N], L = a0[ARG_L], C = a0[ARG_C], k = a0[ARG_K], N_r = a0[ARG_N_R];
  int nearest_only = N_r >= 0 && a0[ARG_RULE] == MSM_REF_NEAREST;
  int others = N - 1 + (N_r > 0 ? N_r : 0); /* the columns of a test patch's interval average */
  if (N_r < 0 && N < 2)
    return ancd_errorf("MSM: fewer than 2 images (N = %d): each image is scored by the others", N);
  if (N_r == 0)
    return ancd_errorf("MSM: no reference images (N_r = 0) where references were asked for");
  if (L < 1 || C < 1)
    return ancd_errorf("MSM: empty features (L = %d patches, C = %d channels)", L, C);
  if (!nearest_only && (k < 1 || k > others))
    return ancd_errorf("MSM: k = %d is outside [1, %d] for N = %d images%s", k, others, N,
                       N_r > 0 ? " and the references" : "");
  if (N_r > 0 &&
      tiling_check("MSM", "reference", all + (ARG_R_FIRST - ARG_FIRST), N_ARGS, P, N_r) < 0)
    return -1;
  return tiling_check("MSM", "image", all, N_ARGS, P, N);
}

/* At ring step s, rank r scores its rows [o0, o1) against rows [v0, v1) of the visitor
 * v = (r - s) mod P. */
typedef struct {
  int o0, o1, v0, v1;
} step_rows;

static step_rows rows_at_step(const int *all, int P, int r, int s) {
  int v = (r - s + P) % P;
  int n_r = all[r * N_ARGS + ARG_N_OWN], n_v = all[v * N_ARGS + ARG_N_OWN];
  step_rows sr = {0, n_r, 0, n_v};
  if (2 * s == P) { /* r and v meet twice: the lower rank's rows are split between them */
    if (r < v)
      sr.o1 = n_r / 2;
    else
      sr.v0 = n_v / 2;
  }
  return sr;
}

/* Receives n_recv floats from src and sends n_send floats to dest, in messages of at most 2^30
 * floats (MPI counts are int). Both are posted before waiting, so the pair never blocks on the
 * order of the ranks. Counts of 0 post nothing (the partner computes the same count). */
static void exchange(float *recv, size_t n_recv, int src, const float *send, size_t n_send,
                     int dest, int tag, MPI_Comm comm) {
  const size_t chunk = (size_t)1 << 30;
  size_t n_msgs = (n_recv + chunk - 1) / chunk + (n_send + chunk - 1) / chunk;
  MPI_Request *req = xmalloc((n_msgs + 1) * sizeof *req);
  int m = 0;
  for (size_t i = 0; i < n_recv; i += chunk) {
    int count = (int)(n_recv - i < chunk ? n_recv - i : chunk);
    CHECK_MPI(MPI_Irecv(recv + i, count, MPI_FLOAT, src, tag, comm, &req[m++]));
  }
  for (size_t i = 0; i < n_send; i += chunk) {
    int count = (int)(n_send - i < chunk ? n_send - i : chunk);
    CHECK_MPI(MPI_Isend(send + i, count, MPI_FLOAT, dest, tag, comm, &req[m++]));
  }
  CHECK_MPI(MPI_Waitall(m, req, MPI_STATUSES_IGNORE));
  free(req);
}

/* Copies a block T [nt, L, width] into D [rows, L, ncols]: T[t, p, j] (j < nj) goes to
 * D[r0 + t, p, c0 + j]. */
static void put_block(float *D, int r0, int c0, const float *T, int nt, int nj, int width, int L,
                      int ncols) {
  for (int t = 0; t < nt; t++)
    for (int p = 0; p < L; p++) {
      const float *src = T + ((size_t)t * L + p) * width;
      float *dst = D + ((size_t)(r0 + t) * L + p) * ncols + c0;
      for (int j = 0; j < nj; j++)
        dst[j] = src[j];
    }
}

/* Steps 1-2 of the header: every pair of test images once, both directions, into the columns
 * [0, N) of D_own [n_own, L, ncols]. */
static void score_test_pairs(float *D_own, int ncols, float *scratch, const float *Z_own,
                             const int *all, int P, int r, int nmax, int L, int C, MPI_Comm comm) {
  const int first = all[r * N_ARGS + ARG_FIRST], n_own = all[r * N_ARGS + ARG_N_OWN];
  const size_t row = (size_t)L * C; /* floats per image of Z */
  if (n_own > 1)
    msm_score_blocks(D_own, D_own, scratch, (msm_block){Z_own, n_own, first, first},
                     (msm_block){Z_own, n_own, first, first}, L, C, ncols, 1);
  if (P == 1)
    return;
  size_t pair = (size_t)nmax * L * nmax + 1;
  float *Z_vis = xmalloc(((size_t)nmax * row + 1) * sizeof *Z_vis);
  float *T_own = xmalloc(pair * sizeof *T_own), *T_vis = xmalloc(pair * sizeof *T_vis);
  for (int s = 1; s <= P / 2; s++) {
    int dest = (r + s) % P, src = (r - s + P) % P;
    step_rows me = rows_at_step(all, P, r, s);      /* what this rank scores */
    step_rows them = rows_at_step(all, P, dest, s); /* what dest scores against this rank */
    int no = me.o1 - me.o0, nv = me.v1 - me.v0, width = no > nv ? no : nv;
    int src_first = all[src * N_ARGS + ARG_FIRST], dest_first = all[dest * N_ARGS + ARG_FIRST];
    size_t n_send = (size_t)(them.v1 - them.v0) * row;
    exchange(Z_vis, (size_t)nv * row, src, n_send ? Z_own + (size_t)them.v0 * row : NULL, n_send,
             dest, TAG_FEATURES, comm);

    if (no > 0 && nv > 0) {
      msm_block O = {Z_own + (size_t)me.o0 * row, no, first + me.o0, 0};
      msm_block V = {Z_vis, nv, src_first + me.v0, 0};
      if (src_first < first) /* the lower images are A, as in the one-block call */
        msm_score_blocks(T_vis, T_own, scratch, V, O, L, C, width, 0);
      else
        msm_score_blocks(T_own, T_vis, scratch, O, V, L, C, width, 0);
      put_block(D_own, me.o0, src_first + me.v0, T_own, no, nv, width, L, ncols);
      /* Pack the visitor rows to [nv, L, no] in place (each row moves to a lower address). */
      for (size_t t = 0; t < (size_t)nv * L; t++)
        for (int j = 0; j < no; j++)
          T_vis[t * no + j] = T_vis[t * width + j];
    } else {
      no = nv = 0;
    }
    /* Send the visitor-row results back to src; receive from dest its results for this rank's
     * rows [them.v0, them.v1) against its rows [them.o0, them.o1), into T_own (already used). */
    int tv = them.v1 - them.v0, to = them.o1 - them.o0;
    if (tv == 0 || to == 0)
      tv = to = 0;
    exchange(T_own, (size_t)tv * L * to, dest, T_vis, (size_t)nv * L * no, src, TAG_RESULTS, comm);
    put_block(D_own, them.v0, dest_first + them.o0, T_own, tv, to, to, L, ncols);
  }
  free(T_vis);
  free(T_own);
  free(Z_vis);
}

/* This rank's test images against every reference, into the columns [c0, c0 + N_r) of D_own:
 * its own references, then at steps s = 1 .. P - 1 those of rank r - s while its own go to
 * r + s. One direction only: the references are never scored. */
static void score_references(float *D_own, int ncols, int c0, float *scratch, const float *Z_own,
                             const msm_refs *refs, const int *all, int P, int r, int L, int C,
                             MPI_Comm comm) {
  const int first = all[r * N_ARGS + ARG_FIRST], n_own = all[r * N_ARGS + ARG_N_OWN];
  const size_t row = (size_t)L * C;
  int nrmax = 0;
  for (int q = 0; q < P; q++)
    if (all[q * N_ARGS + ARG_NR_OWN] > nrmax)
      nrmax = all[q * N_ARGS + ARG_NR_OWN];
  const msm_block A = {Z_own, n_own, first, 0};
  if (n_own > 0 && refs->nr_own > 0)
    msm_score_blocks(D_own, NULL, scratch, A,
                     (msm_block){refs->R_own, refs->nr_own, refs->r_first, c0 + refs->r_first}, L,
                     C, ncols, 0);
  float *R_vis = P > 1 ? xmalloc(((size_t)nrmax * row + 1) * sizeof *R_vis) : NULL;
  for (int s = 1; s < P; s++) {
    int dest = (r + s) % P, src = (r - s + P) % P;
    int n_src = all[src * N_ARGS + ARG_NR_OWN], src_first = all[src * N_ARGS + ARG_R_FIRST];
    exchange(R_vis, (size_t)n_src * row, src, refs->R_own, (size_t)refs->nr_own * row, dest,
             TAG_REFERENCES, comm);
    if (n_own > 0 && n_src > 0)
      msm_score_blocks(D_own, NULL, scratch, A,
                       (msm_block){R_vis, n_src, src_first, c0 + src_first}, L, C, ncols, 0);
  }
  free(R_vis);
}

int msm_distributed(double *acc, double weight, const float *Z_own, int n_own, int first, int N,
                    int L, int C, int k, const msm_refs *refs, MPI_Comm comm) {
  int P, r;
  CHECK_MPI(MPI_Comm_size(comm, &P));
  CHECK_MPI(MPI_Comm_rank(comm, &r));
  int mine[N_ARGS] = {first,
                      n_own,
                      N,
                      L,
                      C,
                      k,
                      refs ? refs->r_first : 0,
                      refs ? refs->nr_own : 0,
                      refs ? refs->N_r : -1,
                      refs ? (int)refs->rule : -1};
  int *all = xmalloc((size_t)P * N_ARGS * sizeof *all);
  CHECK_MPI(MPI_Allgather(mine, N_ARGS, MPI_INT, all, N_ARGS, MPI_INT, comm));
  if (check_args(all, P) < 0) {
    free(all);
    return -1;
  }
  int nmax = 0;
  for (int q = 0; q < P; q++)
    if (all[q * N_ARGS + ARG_N_OWN] > nmax)
      nmax = all[q * N_ARGS + ARG_N_OWN];

  /* Columns of D_own: the test images (unless NEAREST alone), then the references. */
  const int pairs = !refs || refs->rule != MSM_REF_NEAREST;
  const int c0 = pairs ? N : 0, ncols = c0 + (refs ? refs->N_r : 0);
  float *D_own = xmalloc(((size_t)n_own * L * ncols + 1) * sizeof *D_own);
  for (size_t i = 0; i < (size_t)n_own * L * ncols; i++)
    D_own[i] = NAN; /* a column nobody wrote would show in the average, not pass silently */
  float *scratch =
      xmalloc(msm_scratch_floats(L, C) * (size_t)omp_get_max_threads() * sizeof *scratch);
  log_debug("MSM on rank %d of %d: %d images from %d of %d, %d references; %.1f MB of distances", r,
            P, n_own, first, N, refs ? refs->N_r : 0, 4e-6 * n_own * L * ncols);

  if (pairs)
    score_test_pairs(D_own, ncols, scratch, Z_own, all, P, r, nmax, L, C, comm);
  if (refs)
    score_references(D_own, ncols, c0, scratch, Z_own, refs, all, P, r, L, C, comm);

  if (n_own > 0) {
    const int mean = refs && refs->rule == MSM_REF_MEAN;
    const double w = mean ? 0.5 * weight : weight;
    if (pairs) {
      int *self_col = xmalloc((size_t)n_own * sizeof *self_col);
      for (int i = 0; i < n_own; i++)
        self_col[i] = first + i;
      msm_interval_average(acc, D_own, self_col, n_own, L, ncols, k, w);
      free(self_col);
    }
    if (refs && refs->rule != MSM_REF_POOL)
      msm_nearest(acc, D_own, n_own, L, ncols, c0, ncols, w);
  }
  free(scratch);
  free(D_own);
  free(all);
  return 0;
}
