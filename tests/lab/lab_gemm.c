/* Lab: how to thread the ViT's GEMMs (out[M,N] = inp[M,K] . weight[N,K]^T + bias) over the CPU
 * backend's OpenMP team, at ViT-B/16 batch 8 shapes. Every variant is checked against the
 * first one (the split ops_cpu.c uses) and timed (best of REPEAT) against the machine's peak:
 * 2 M N K FLOPs per call.
 *
 *   OMP_NUM_THREADS=2 build/tests/lab_gemm
 *
 * 0 rows:     one OpenMP team, each thread a single-threaded sgemm on its share of the M rows
 *             (each thread packs all of the weights).
 * 1 columns:  the same on shares of the N output columns (each thread packs all of inp).
 * 2 openblas: one sgemm call with OpenBLAS's own threads (they share the packed weights),
 *             between OpenMP regions as in the forward.
 * 3 chunks:   the rows in 4 chunks per thread, dynamic schedule: a preempted thread's work
 *             moves to the other (each chunk re-packs the weights). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPEAT 5

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int share(int n, int t, int nt) { return (int)((long)n * t / nt); }

static void sgemm_nt(float *out, const float *inp, const float *weight, const float *bias, int M,
                     int K, int N, int ldo) {
  if (M <= 0 || N <= 0)
    return;
  for (int i = 0; i < M; i++)
    memcpy(out + (size_t)i * ldo, bias, (size_t)N * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, weight, K, 1.0f, out,
              ldo);
}

static void matmul(int variant, float *out, const float *inp, const float *w, const float *bias,
                   int M, int K, int N) {
  if (variant == 2) {
    sgemm_nt(out, inp, w, bias, M, K, N, N);
    return;
  }
  if (variant == 3) {
    int chunks = 4 * omp_get_max_threads();
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < chunks; c++) {
      int r0 = share(M, c, chunks), r1 = share(M, c + 1, chunks);
      sgemm_nt(out + (size_t)r0 * N, inp + (size_t)r0 * K, w, bias, r1 - r0, K, N, N);
    }
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    if (variant == 0) {
      int r0 = share(M, t, nt), r1 = share(M, t + 1, nt);
      sgemm_nt(out + (size_t)r0 * N, inp + (size_t)r0 * K, w, bias, r1 - r0, K, N, N);
    } else {
      int c0 = share(N, t, nt), c1 = share(N, t + 1, nt);
      sgemm_nt(out + c0, inp, w + (size_t)c0 * K, bias + c0, M, K, c1 - c0, N);
    }
  }
}

int main(void) {
  static const int shapes[][3] = {
      {1576, 768, 2304}, {1576, 768, 768}, {1576, 768, 3072}, {1576, 3072, 768}};
  static const char *names[] = {"rows", "columns", "openblas", "chunks"};
  int nt = omp_get_max_threads(), fails = 0;
  printf("%d threads\n", nt);
  for (int s = 0; s < 4; s++) {
    const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
    float *A = malloc((size_t)M * K * sizeof(float)), *W = malloc((size_t)N * K * sizeof(float));
    float *bias = malloc((size_t)N * sizeof(float)), *C = malloc((size_t)M * N * sizeof(float));
    float *ref = malloc((size_t)M * N * sizeof(float));
    for (size_t i = 0; i < (size_t)M * K; i++)
      A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++)
      W[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    for (int i = 0; i < N; i++)
      bias[i] = (float)i / N;
    printf("M=%d K=%d N=%d\n", M, K, N);
    for (int v = 0; v < 4; v++) {
      openblas_set_num_threads(v == 2 ? nt : 1);
      double best = 1e30;
      for (int r = 0; r <= REPEAT; r++) {
        double t = now();
        matmul(v, C, A, W, bias, M, K, N);
        t = now() - t;
        best = r > 0 && t < best ? t : best;
      }
      if (v == 0)
        memcpy(ref, C, (size_t)M * N * sizeof(float));
      double worst = 0.0;
      for (size_t i = 0; i < (size_t)M * N; i++)
        worst = fmax(worst, fabs((double)C[i] - ref[i]) / (1.0 + fabs(ref[i])));
      if (worst > 1e-5) {
        printf("  %-9s FAIL: %.3g from rows\n", names[v], worst);
        fails++;
      }
      printf("  %-9s %8.2f ms %7.1f GFLOP/s\n", names[v], best * 1e3, 2.0 * M * N * K / best / 1e9);
    }
    free(A), free(W), free(bias), free(C), free(ref);
  }
  return fails ? 1 : 0;
}
