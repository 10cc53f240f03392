/* ancd bench: this machine's SGEMM GFLOP/s (the peak every ratio is taken against) and the ViT
 * forward measured against it (issue 3 "Speed"). Times are the best of --repeat runs after one
 * warm-up run; the backend is synchronised before each clock read. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "ops.h"
#include "rng.h"
#include "vit.h"

typedef struct {
  const ops *o;
  int json, repeat, batch, threads;
  double sgemm_gflops; /* best SGEMM rate measured: the peak */
} bench;

/* One result line: human-readable, or one JSON object. sizes is a JSON object body. */
static void report(const bench *b, const char *name, const char *sizes, double seconds,
                   double flops, size_t peak_bytes, const char *extra) {
  double gflops = flops / seconds / 1e9;
  double ratio = b->sgemm_gflops > 0 ? gflops / b->sgemm_gflops : 0.0;
  if (b->json) {
    printf("{\"name\": \"%s\", \"device\": \"%s\", \"sizes\": {%s}, \"seconds\": %.6g, "
           "\"gflops\": %.4g, \"sgemm_gflops\": %.4g, \"ratio\": %.4g, \"peak_bytes\": %zu%s}\n",
           name, b->o->name, sizes, seconds, gflops, b->sgemm_gflops, ratio, peak_bytes, extra);
  } else { /* sizes without JSON quoting: M=1576 K=768 N=2304 */
    char plain[256];
    size_t k = 0;
    for (const char *c = sizes; *c && k + 1 < sizeof plain; c++)
      if (*c == ':')
        plain[k++] = '=';
      else if (*c != '"' && *c != ',' && !(*c == ' ' && c > sizes && c[-1] == ':'))
        plain[k++] = *c;
    plain[k] = 0;
    printf("%-18s %-36s %9.4f s %8.1f GFLOP/s  %.2f of sgemm  %7.1f MiB\n", name, plain, seconds,
           gflops, ratio, peak_bytes / 1048576.0);
  }
  fflush(stdout);
}

/* Fills n floats of backend memory with uniform values in [-1, 1). */
static void fill_random(const ops *o, float *dst, size_t n, uint64_t seed) {
  float *h = xmalloc(n * sizeof *h);
  for (size_t i = 0; i < n; i++)
    h[i] = (float)(2.0 * rng_uniform_at(seed, i) - 1.0);
  o->to_device(dst, h, n * sizeof *h);
  free(h);
}

/* SGEMM through the backend's matmul (out = inp . weight^T, the ViT's call), no bias. Shapes of
 * ViT-B/16 batch 8 (qkv and fc1: M = 8 * 197 tokens) and a large square one. */
static void bench_gemm(bench *b) {
  static const struct {
    const char *name;
    int M, K, N;
  } sizes[] = {
      {"sgemm_qkv", 1576, 768, 2304},
      {"sgemm_fc1", 1576, 768, 3072},
      {"sgemm_fc2", 1576, 3072, 768},
      {"sgemm_2048", 2048, 2048, 2048},
  };
  const ops *o = b->o;
  double best_rate = 0.0;
  double secs[4];
  for (int s = 0; s < 4; s++) {
    const int M = sizes[s].M, K = sizes[s].K, N = sizes[s].N;
    float *A = o->alloc((size_t)M * K * sizeof(float));
    float *W = o->alloc((size_t)N * K * sizeof(float));
    float *C = o->alloc((size_t)M * N * sizeof(float));
    fill_random(o, A, (size_t)M * K, 1);
    fill_random(o, W, (size_t)N * K, 2);
    double best = 1e30;
    for (int r = 0; r <= b->repeat; r++) { /* r = 0 warms up */
      o->synchronize();
      double t0 = now_seconds();
      o->matmul(C, A, W, NULL, M, K, N);
      o->synchronize();
      double t = now_seconds() - t0;
      if (r > 0 && t < best)
        best = t;
    }
    o->free(A);
    o->free(W);
    o->free(C);
    secs[s] = best;
    double rate = 2.0 * M * N * K / best / 1e9;
    best_rate = rate > best_rate ? rate : best_rate;
  }
  /* Ratios of the SGEMM lines are to the best of them, so the peak itself shows 1.00. */
  b->sgemm_gflops = best_rate;
  for (int s = 0; s < 4; s++) {
    const int M = sizes[s].M, K = sizes[s].K, N = sizes[s].N;
    char sz[96];
    snprintf(sz, sizeof sz, "\"M\": %d, \"K\": %d, \"N\": %d", M, K, N);
    report(b, sizes[s].name, sz, secs[s], 2.0 * M * N * K,
           (size_t)(M * K + N * K + M * N) * sizeof(float), "");
  }
}

/* The full forward (through the classifier head) of a random timm ViT at 224 px. */
static int bench_vit(const bench *b, const char *arch) {
  const int S = 224, B = b->batch;
  vit_desc d;
  vit_weights w;
  float *storage = NULL;
  if (vit_random(&d, &w, &storage, arch, 0) != 0)
    return -1;
  vit_model *m = NULL;
  if (vit_create(&m, &d, &w, b->o, B, S, S) != 0) {
    free(storage);
    return -1;
  }
  free(storage); /* the model holds its own copy on the backend */
  const size_t n_img = (size_t)B * 3 * S * S;
  float *images = xmalloc(n_img * sizeof *images);
  float *logits = xmalloc((size_t)B * d.n_classes * sizeof *logits);
  for (size_t i = 0; i < n_img; i++)
    images[i] = (float)(2.0 * rng_uniform_at(7, i) - 1.0);
  double best = 1e30;
  int rc = 0;
  for (int r = 0; r <= b->repeat && rc == 0; r++) {
    double t0 = now_seconds();
    rc = vit_forward(m, images, B, NULL, 0, NULL, NULL, logits);
    double t = now_seconds() - t0;
    if (r > 0 && t < best)
      best = t;
  }
  if (rc == 0) {
    char sz[128], extra[64];
    snprintf(sz, sizeof sz, "\"batch\": %d, \"image\": %d, \"dim\": %d, \"depth\": %d", B, S, d.dim,
             d.depth);
    snprintf(extra, sizeof extra, ", \"images_per_s\": %.4g", B / best);
    report(b, arch, sz, best, vit_flops(&d, S, S) * B, vit_peak_bytes(m), extra);
    if (!b->json)
      printf("%-18s %.2f images/s\n", "", B / best);
  }
  free(images);
  free(logits);
  vit_free(m);
  return rc;
}

int job_bench(int argc, char **argv) {
  int json = 0, threads = 0, batch = 8, repeat = 3;
  const cli_opt opts[] = {
      {"json", 0, CLI_FLAG, &json, NULL, "one JSON object per benchmark line"},
      {"threads", 0, CLI_INT, &threads, "N", "CPU threads (the OpenMP team); 0: default"},
      {"batch", 0, CLI_INT, &batch, "B", "images per ViT forward (default 8)"},
      {"repeat", 0, CLI_INT, &repeat, "R",
       "timed runs after one warm-up; the best is kept "
       "(default 3)"},
      {0},
  };
  const cli_job job = {
      "bench",
      "Benchmarks on the configured device. gemm: SGEMM GFLOP/s at ViT-B/16 shapes and 2048^3; "
      "the best is the peak that every ratio uses. vit: that, then the forward of random "
      "ViT-B/16 and ViT-Ti/16 at 224 px (images/s, GEMM GFLOP/s, ratio to SGEMM, peak memory). "
      "On CPU, OpenBLAS picks its kernels by CPU type; on an unrecognised CPU set "
      "OPENBLAS_CORETYPE (e.g. Haswell) in the environment.",
      "gemm|vit [--json] [--threads N] [--batch B] [--repeat R] [-c FILE] [--set device=cpu]", opts,
      1};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if (a.n_positional != 1 || (strcmp(a.positional[0], "gemm") && strcmp(a.positional[0], "vit"))) {
    fprintf(stderr, "ancd bench: expected 'gemm' or 'vit' (see 'ancd bench --help')\n");
    return ANCD_EXIT_USAGE;
  }
  if (threads < 0 || batch < 1 || repeat < 1) {
    fprintf(stderr, "ancd bench: --threads >= 0, --batch >= 1 and --repeat >= 1 are needed\n");
    return ANCD_EXIT_USAGE;
  }
  config_set *cs = xmalloc(sizeof *cs);
  rc = cli_load_config(cs, &a);
  const ops *o = rc ? NULL : ops_select(cs->base.device);
  if (!rc && !o) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  if (!rc) {
    const char *p = cs->base.precision;
    o->set_precision(!strcmp(p, "tf32")   ? PRECISION_TF32
                     : !strcmp(p, "bf16") ? PRECISION_BF16
                                          : PRECISION_FP32);
  }
  free(cs);
  if (rc)
    return rc;
  if (threads > 0) /* the CPU backend's OpenMP team; OpenBLAS runs single-threaded inside it */
    omp_set_num_threads(threads);
  if (!strcmp(o->name, "cpu"))
    log_info("bench on cpu (%s, %d threads)", openblas_get_config(),
             threads > 0 ? threads : omp_get_max_threads());
  else
    log_info("bench on %s", o->name);

  bench b = {.o = o, .json = json, .repeat = repeat, .batch = batch, .threads = threads};
  bench_gemm(&b);
  if (!strcmp(a.positional[0], "vit")) {
    if (bench_vit(&b, "vit_base_patch16") != 0 || bench_vit(&b, "vit_tiny_patch16") != 0) {
      log_error("%s", ancd_error());
      return ANCD_EXIT_INPUT;
    }
  }
  return ANCD_EXIT_OK;
}
