/* ancd bench: this machine's SGEMM GFLOP/s (the peak every ratio is taken against), the ViT
 * forward (issue 3 "Speed") and MuSc's mutual scoring (issue 4) measured against it. Times are
 * the best of --repeat runs after one warm-up run; the backend is synchronised before each clock
 * read. */
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "blas_select.h"
#include "cli.h"
#include "error.h"
#include "hetmm.h"
#include "log.h"
#include "mgvit.h"
#include "musc.h"
#include "ncd_step.h"
#include "ops.h"
#include "ops_profile.h"
#include "rng.h"
#include "vit.h"

typedef struct {
  const ops *o;
  int json, repeat, batch, threads, profile;
  double sgemm_gflops; /* best SGEMM rate measured: the peak */
} bench;

/* A JSON number, or null where a zero time made it infinite. */
static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* One result line: human-readable, or one JSON object. sizes holds the integer sizes, extra the
 * benchmark's own keys: jansson objects, taken over (NULL where building them ran out of memory).
 */
static void report(const bench *b, const char *name, json_t *sizes, double seconds, double flops,
                   size_t peak_bytes, json_t *extra) {
  double gflops = flops / seconds / 1e9;
  double ratio = b->sgemm_gflops > 0 ? gflops / b->sgemm_gflops : 0.0;
  if (b->json) { /* pack and update fail on a NULL object, so one check covers every call */
    json_t *o = json_pack("{s:s, s:s, s:O, s:o, s:o, s:o, s:o, s:I}", "name", name, "device",
                          b->o->name, "sizes", sizes, "seconds", number(seconds), "gflops",
                          number(gflops), "sgemm_gflops", number(b->sgemm_gflops), "ratio",
                          number(ratio), "peak_bytes", (json_int_t)peak_bytes);
    char *line =
        o && json_object_update(o, extra) == 0 ? json_dumps(o, JSON_REAL_PRECISION(6)) : NULL;
    if (!line)
      ANCD_FATAL("bench %s: cannot encode the result as JSON (out of memory)", name);
    printf("%s\n", line);
    free(line);
    json_decref(o);
  } else { /* the sizes as M=1576 K=768 N=2304 */
    char plain[256] = "";
    size_t len = 0;
    const char *key;
    json_t *v;
    json_object_foreach(sizes, key, v) {
      if (len < sizeof plain)
        len += (size_t)snprintf(plain + len, sizeof plain - len, "%s%s=%lld", len ? " " : "", key,
                                (long long)json_integer_value(v));
    }
    printf("%-18s %-36s %9.4f s %8.1f GFLOP/s  %.2f of sgemm  %7.1f MiB\n", name, plain, seconds,
           gflops, ratio, peak_bytes / 1048576.0);
  }
  fflush(stdout);
  json_decref(sizes);
  json_decref(extra);
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
    report(b, sizes[s].name, json_pack("{s:i, s:i, s:i}", "M", M, "K", K, "N", N), secs[s],
           2.0 * M * N * K, (size_t)(M * K + N * K + M * N) * sizeof(float), json_object());
  }
}

/* --profile: the time of each op kind in the fastest forward, with its share and GFLOP/s. */
static void report_profile(const bench *b, const char *arch, const ops_profile_entry *e, int n,
                           double total) {
  for (int i = 0; i < n; i++) {
    double share = e[i].seconds / total, gflops = e[i].flops / e[i].seconds / 1e9;
    if (b->json) {
      json_t *o =
          json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o}", "name", "profile", "model", arch, "op",
                    e[i].name, "calls", (json_int_t)e[i].calls, "seconds", number(e[i].seconds),
                    "share", number(share), "gflops", number(e[i].flops > 0 ? gflops : NAN));
      char *line = o ? json_dumps(o, JSON_REAL_PRECISION(6)) : NULL;
      if (!line)
        ANCD_FATAL("bench profile: cannot encode the result as JSON (out of memory)");
      printf("%s\n", line);
      free(line);
      json_decref(o);
    } else if (e[i].flops > 0) {
      printf("  %-26s %4ld calls %9.2f ms %5.1f%% %8.1f GFLOP/s\n", e[i].name, e[i].calls,
             e[i].seconds * 1e3, 100 * share, gflops);
    } else {
      printf("  %-26s %4ld calls %9.2f ms %5.1f%%\n", e[i].name, e[i].calls, e[i].seconds * 1e3,
             100 * share);
    }
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
  if (vit_create(&m, &d, &w, b->profile ? ops_profile(b->o) : b->o, B, S, S) != 0) {
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
  int rc = 0, n_prof = 0;
  ops_profile_entry prof[OPS_PROFILE_MAX_ENTRIES];
  for (int r = 0; r <= b->repeat && rc == 0; r++) {
    if (b->profile)
      ops_profile_reset();
    double t0 = now_seconds();
    rc = vit_forward(m, images, B, NULL, 0, NULL, NULL, logits);
    double t = now_seconds() - t0;
    if (r > 0 && t < best) {
      best = t;
      if (b->profile) { /* the fastest run's ops */
        const ops_profile_entry *e;
        n_prof = ops_profile_entries(&e);
        memcpy(prof, e, (size_t)n_prof * sizeof *e);
      }
    }
  }
  if (rc == 0) {
    json_t *sz =
        json_pack("{s:i, s:i, s:i, s:i}", "batch", B, "image", S, "dim", d.dim, "depth", d.depth);
    report(b, arch, sz, best, vit_flops(&d, S, S) * B, vit_peak_bytes(m),
           json_pack("{s:o}", "images_per_s", number(B / best)));
    if (!b->json)
      printf("%-18s %.2f images/s\n", "", B / best);
    report_profile(b, arch, prof, n_prof, best);
  }
  free(images);
  free(logits);
  vit_free(m);
  return rc;
}

/* N images of L random unit rows of C values (uniform in [-1, 1), then scaled), in parallel:
 * each value is a function of its index only, so every thread count gives the same features. */
static float *random_unit_features(int N, int L, int C, uint64_t seed) {
  float *z = xmalloc((size_t)N * L * C * sizeof *z);
#pragma omp parallel for schedule(static)
  for (long row = 0; row < (long)N * L; row++) {
    float *v = z + (size_t)row * C;
    double ss = 0.0;
    for (int c = 0; c < C; c++) {
      v[c] = (float)(2.0 * rng_uniform_at(seed, (uint64_t)row * C + c) - 1.0);
      ss += (double)v[c] * v[c];
    }
    for (int c = 0; c < C; c++)
      v[c] = (float)(v[c] / sqrt(ss));
  }
  return z;
}

/* MSM for one (layer, r) on random unit features, all N images in one block (one rank). The
 * Q = --queries images 0..Q-1 are scored against the whole pool: their pairs among themselves
 * (one same-block call, both directions) and against images Q..N-1 (one cross-block call, the
 * query side only), each pair computed once, then the interval average of their rows. Q = N is
 * the full MSM. Figures: GFLOP/s counting 2 L^2 C per pair computed; ms per query (this run's
 * time / Q); ms per image of a full pool, where each image's share is (N - 1) / 2 pairs (a
 * pair's block gives both images their distances); the peak memory of the full pool on one rank
 * (features, the N x L x N distances, the N x L accumulator, the per-thread scratch) computed,
 * and the measured max RSS of this process. */
static int bench_msm(const bench *b, int N, int L, int C, int Q) {
  if (Q <= 0 || Q > N)
    Q = N;
  const int threads = omp_get_max_threads(), k = msm_k(N, 0.3);
  const size_t img = (size_t)L * C, scratch_floats = (size_t)threads * msm_scratch_floats(L, C);
  double t0 = now_seconds();
  float *Z = random_unit_features(N, L, C, 61);
  log_info("msm: %d images x %d patches x %d dims (%.2f GiB of features) made in %.1f s", N, L, C,
           (double)N * img * 4 / 1073741824.0, now_seconds() - t0);
  float *scratch = xmalloc(scratch_floats * sizeof *scratch);
  float *D = xmalloc((size_t)Q * L * N * sizeof *D);
  double *acc = xmalloc((size_t)Q * L * sizeof *acc);
  int *self = xmalloc((size_t)Q * sizeof *self);
  for (int q = 0; q < Q; q++)
    self[q] = q;
  /* Warm-up: the pair (0, 1) (OpenBLAS buffers, first touch of the scratch). */
  msm_score_blocks(D, NULL, scratch, (msm_block){Z, 1, 0, 0}, (msm_block){Z + img, 1, 1, 1}, L, C,
                   N, 0);

  const double pairs = (double)Q * (Q - 1) / 2 + (double)Q * (N - Q);
  double best = 1e30, best_score = 0.0;
  for (int r = 0; r < b->repeat; r++) {
    memset(acc, 0, (size_t)Q * L * sizeof *acc);
    double ts = now_seconds();
    msm_score_blocks(D, NULL, scratch, (msm_block){Z, Q, 0, 0}, (msm_block){Z, Q, 0, 0}, L, C, N,
                     1);
    if (Q < N)
      msm_score_blocks(D, NULL, scratch, (msm_block){Z, Q, 0, 0},
                       (msm_block){Z + (size_t)Q * img, N - Q, Q, Q}, L, C, N, 0);
    double tm = now_seconds();
    msm_interval_average(acc, D, self, Q, L, N, k, 1.0);
    double te = now_seconds();
    if (te - ts < best) {
      best = te - ts;
      best_score = tm - ts;
    }
  }
  int rc = 0;
  for (size_t i = 0; i < (size_t)Q * L && rc == 0; i++)
    if (!isfinite(acc[i]) || acc[i] <= 0.0 || acc[i] > 2.0)
      rc = ancd_errorf("bench msm: score %g of patch %zu outside (0, 2]", acc[i], i);
  free(Z);
  free(scratch);
  free(D);
  free(acc);
  free(self);
  if (rc)
    return rc;
  struct rusage ru;
  size_t rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_maxrss * 1024 : 0;
  const size_t full_peak = (size_t)N * img * sizeof(float) + (size_t)N * L * N * sizeof(float) +
                           (size_t)N * L * sizeof(double) + scratch_floats * sizeof(float);
  const double ms_query = best / Q * 1e3, ms_image = best / pairs * (N - 1) / 2 * 1e3;
  json_t *sz =
      json_pack("{s:i, s:i, s:i, s:i, s:i}", "n", N, "patches", L, "dim", C, "queries", Q, "k", k);
  json_t *extra =
      json_pack("{s:I, s:o, s:o, s:o, s:i, s:I, s:s}", "pairs", (json_int_t)pairs, "score_seconds",
                number(best_score), "ms_per_query", number(ms_query), "ms_per_image_full_pool",
                number(ms_image), "threads", threads, "max_rss_bytes", (json_int_t)rss, "kernel",
                msm_kernel_fused(L, C) ? "fused" : "sgemm");
  report(b, "msm", sz, best, 2.0 * L * L * C * pairs, full_peak, extra);
  if (!b->json)
    printf("%-18s %.0f pairs, %.1f ms per query, %.1f ms per image of the full pool, "
           "%s kernel %.4f s, interval average %.4f s; full-pool peak %.1f MiB computed, "
           "max RSS %.1f MiB measured\n",
           "", pairs, ms_query, ms_image, msm_kernel_fused(L, C) ? "fused" : "sgemm+max",
           best_score, best - best_score, full_peak / 1048576.0, rss / 1048576.0);
  return 0;
}

/* HETMM's ATMM matching of one layer (musc_hetmm_spec §B.6, §B.10) on random unit features:
 * B query images of h x h x C against K template sheets, windows f (forward) and b (backward).
 * Figures: ms per image; GFLOP/s of the GEMMs run (2 x hetmm_match_macs) and the ratio to SGEMM;
 * and the spec's count h^2 K C (f^2 + b^2) (each direction on its own, border windows clipped
 * counted whole), which a direct kernel would do, as an "effective" rate. */
static int bench_atmm(const bench *b, int B, int h, int C, int K, int f, int bw) {
  const size_t P = (size_t)h * h;
  float *q = random_unit_features(B, (int)P, C, 71), *t = random_unit_features((int)P, K, C, 72);
  float *fwd = xmalloc((size_t)B * P * sizeof *fwd), *bwd = xmalloc((size_t)B * P * sizeof *bwd);
  hetmm_match_layer(fwd, bwd, q, t, B, h, h, C, K, f / 2, bw / 2); /* warm-up */
  double best = 1e30;
  for (int r = 0; r < b->repeat; r++) {
    double t0 = now_seconds();
    hetmm_match_layer(fwd, bwd, q, t, B, h, h, C, K, f / 2, bw / 2);
    double dt = now_seconds() - t0;
    best = dt < best ? dt : best;
  }
  int rc = 0;
  for (size_t i = 0; i < (size_t)B * P && rc == 0; i++)
    if (!(fwd[i] >= -1.0f && fwd[i] <= 1.0001f && bwd[i] >= -1.0f && bwd[i] <= 1.0001f))
      rc = ancd_errorf("bench atmm: match %g / %g at %zu outside [-1, 1]", fwd[i], bwd[i], i);
  free(q);
  free(t);
  free(fwd);
  free(bwd);
  if (rc)
    return rc;
  const double macs = hetmm_match_macs(B, h, h, C, K, f / 2, bw / 2);
  const double spec_macs = (double)B * P * K * C * ((double)f * f + (double)bw * bw);
  json_t *sz = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "batch", B, "grid", h, "dim", C,
                         "sheets", K, "fwd", f, "bwd", bw);
  json_t *extra = json_pack("{s:o, s:o}", "ms_per_image", number(best / B * 1e3),
                            "effective_gflops", number(2 * spec_macs / best / 1e9));
  report(b, "atmm", sz, best, 2 * macs, (size_t)(P * K * C + 2 * (size_t)B * P * C) * 4, extra);
  if (!b->json)
    printf("%-18s %.2f ms per image; %.1f effective GFLOP/s at the spec's h^2 K C (f^2 + b^2) "
           "count (%.2f GMAC per image vs %.2f GMAC run)\n",
           "", best / B * 1e3, 2 * spec_macs / best / 1e9, spec_macs / B / 1e9, macs / B / 1e9);
  return 0;
}

/* One MGRL training step (anomalyncd_spec §5.5, §10) of a random timm ViT at 224 px: B samples
 * x 2 views through every block, the backward from grad_from_block (default the last block),
 * the projector 2048/256, 4 heads of C = 4 + 6 classes, the losses and SGD. Masks cover a random
 * half of each crop; every other sample is a base one. */
static int bench_train(const bench *b, const char *arch, int grad_from_block) {
  const int S = 224, B = b->batch, N = 2 * B, Z = 256, C = 10;
  vit_desc d;
  vit_weights w;
  float *storage = NULL;
  if (vit_random(&d, &w, &storage, arch, 0) != 0)
    return -1;
  d.n_classes = 0; /* the classifier of the backbone is not used */
  mgvit_config cfg = {.grad_from_block = grad_from_block > 0 ? grad_from_block : d.depth,
                      .mask_layers = d.depth < 9 ? d.depth : 9,
                      .proj_hidden = 2048,
                      .proj_out = Z,
                      .n_classes = C,
                      .max_batch = N,
                      .image_size = S};
  mgvit *m = NULL;
  int rc = mgvit_create(&m, &d, &w, b->profile ? ops_profile(b->o) : b->o, &cfg, 3407);
  free(storage);
  if (rc != 0)
    return -1;
  float *images = xmalloc((size_t)N * 3 * S * S * sizeof *images);
  float *masks = xmalloc((size_t)N * S * S * sizeof *masks);
  for (size_t i = 0; i < (size_t)N * 3 * S * S; i++)
    images[i] = (float)(2.0 * rng_uniform_at(7, i) - 1.0);
  for (size_t i = 0; i < (size_t)N * S * S; i++)
    masks[i] = (float)((int)(i % (size_t)S) < S / 2); /* the left half of every crop */
  uint8_t *is_base = xmalloc((size_t)B);
  int *label = xmalloc((size_t)B * sizeof *label);
  float *score = xmalloc((size_t)B * sizeof *score);
  for (int i = 0; i < B; i++) {
    is_base[i] = (uint8_t)(i % 2 == 0);
    label[i] = i % 4;
    score[i] = (float)rng_uniform_at(8, (uint64_t)i);
  }
  ncd_loss_cfg lc;
  ncd_loss_cfg_default(&lc);
  ncd_step_work work;
  ncd_step_work_init(&work, m, B, Z, C);
  ncd_loss_terms terms;
  double best = 1e30;
  int n_prof = 0;
  ops_profile_entry prof[OPS_PROFILE_MAX_ENTRIES];
  for (int r = 0; r <= b->repeat && rc == 0; r++) {
    if (b->profile)
      ops_profile_reset();
    ncd_step_cfg sc = {.teacher_temp = 0.07,
                       .lr = 0.003f,
                       .momentum = 0.9f,
                       .weight_decay = 5e-5f,
                       .first_step = r == 0,
                       .step = r};
    double t0 = now_seconds();
    rc = ncd_step(m, &terms, &work, images, masks, is_base, label, score, B, NULL, &lc, &sc);
    double t = now_seconds() - t0;
    if (r > 0 && t < best) {
      best = t;
      if (b->profile) { /* the fastest step's ops */
        const ops_profile_entry *e;
        n_prof = ops_profile_entries(&e);
        memcpy(prof, e, (size_t)n_prof * sizeof *e);
      }
    }
  }
  if (rc == 0) {
    json_t *sz = json_pack("{s:i, s:i, s:i, s:i, s:i}", "batch", B, "rows", N, "image", S, "depth",
                           d.depth, "grad_from_block", cfg.grad_from_block);
    char name[64];
    snprintf(name, sizeof name, "train_%s", arch);
    struct rusage ru; /* the whole process: weights, buffers, OpenBLAS, the bench's inputs */
    size_t rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_maxrss * 1024 : 0;
    report(b, name, sz, best, mgvit_step_flops(&d, &cfg, N), mgvit_peak_bytes(m),
           json_pack("{s:o, s:o, s:I}", "images_per_s", number(N / best), "loss",
                     number(terms.total), "max_rss_bytes", (json_int_t)rss));
    if (!b->json)
      printf("%-18s %.3f s per step, %.2f images/s (2 views x %d samples), loss %.4f, max RSS "
             "%.1f MiB\n",
             "", best, N / best, B, terms.total, rss / 1048576.0);
    report_profile(b, name, prof, n_prof, best);
  }
  ncd_step_work_free(&work);
  free(images);
  free(masks);
  free(is_base);
  free(label);
  free(score);
  mgvit_free(m);
  return rc < 0 ? -1 : 0;
}

int job_bench(int argc, char **argv) {
  int json = 0, profile = 0, threads = 0, batch = 8, repeat = 3, n = 200, patches = 1369,
      dim = 1024, queries = 0, grad_from = 0, grid = 14, sheets = 761, fwd_win = 5, bwd_win = 3;
  const char *arch = "vit_base_patch16", *kernel_name = "auto";
  const cli_opt opts[] = {
      {"json", 0, CLI_FLAG, &json, NULL, "one JSON object per benchmark line"},
      {"profile", 0, CLI_FLAG, &profile, NULL,
       "vit, train: the time of each op kind in the fastest forward or step (synchronised per op)"},
      {"threads", 0, CLI_INT, &threads, "N", "CPU threads (the OpenMP team); 0: default"},
      {"batch", 0, CLI_INT, &batch, "B", "images per ViT forward (default 8)"},
      {"repeat", 0, CLI_INT, &repeat, "R",
       "timed runs after one warm-up; the best is kept "
       "(default 3)"},
      {"n", 0, CLI_INT, &n, "N", "msm: images in the pool (default 200)"},
      {"patches", 0, CLI_INT, &patches, "L", "msm: patches per image (default 1369 = 37 x 37)"},
      {"dim", 0, CLI_INT, &dim, "C", "msm: feature width (default 1024)"},
      {"queries", 0, CLI_INT, &queries, "Q",
       "msm: score only images 0..Q-1 against the pool (default: all N, the full MSM)"},
      {"kernel", 0, CLI_STRING, &kernel_name, "K",
       "auto (the AVX-512 kernels where the CPU has them) or sgemm (the references). msm: the "
       "fused kernel at --dim <= 512, else one sgemm per tile of pairs, then the maxima; vit, "
       "train: the attention pair kernel at head size 64, else OpenBLAS's products"},
      {"arch", 0, CLI_STRING, &arch, "NAME",
       "train: the random ViT (vit_base_patch16, vit_tiny_patch16, ...; default vit_base_patch16)"},
      {"grad-from-block", 0, CLI_INT, &grad_from, "K",
       "train: first trained block, 1-based (default: the last)"},
      {"grid", 0, CLI_INT, &grid, "H", "atmm: feature grid side (default 14: ViT/16 at 224 px)"},
      {"sheets", 0, CLI_INT, &sheets, "K", "atmm: template sheets (default 761: MTD's normals)"},
      {"fwd", 0, CLI_INT, &fwd_win, "F", "atmm: forward window (default 5)"},
      {"bwd", 0, CLI_INT, &bwd_win, "W", "atmm: backward window (default 3)"},
      {0},
  };
  const cli_job job = {
      "bench",
      "Benchmarks on the configured device. gemm: SGEMM GFLOP/s at ViT-B/16 shapes and 2048^3; "
      "the best is the peak that every ratio uses. vit: that, then the forward of random "
      "ViT-B/16 and ViT-Ti/16 at 224 px (images/s, GEMM GFLOP/s, ratio to SGEMM, peak memory). "
      "msm: that, then MuSc's mutual scoring of one (layer, r) on random unit features on the "
      "CPU (ms per query image and per image of the full pool, GFLOP/s at 2 L^2 C per image "
      "pair, ratio to SGEMM, full-pool memory of one rank computed and the measured max RSS). "
      "train: that, then one AnomalyNCD training step (anomalyncd §5.5) of a random ViT --arch "
      "on --batch samples x 2 views at 224 px, the backward from --grad-from-block (seconds per "
      "step, images/s, model GFLOP/s, ratio to SGEMM, peak memory). "
      "On CPU, OpenBLAS picks its kernels by CPU type and ancd replaces a generic pick on a "
      "CPU with AVX2 or AVX-512 (ancd info says which); OPENBLAS_CORETYPE, when set, is kept. "
      "atmm: that, then HETMM's matching of one layer on the CPU: --batch queries of --grid^2 x "
      "--dim against --sheets templates, windows --fwd/--bwd (ms per image, GFLOP/s, ratio to "
      "SGEMM; tests/bench/torch_atmm.py is the PyTorch counterpart; default dim 192).",
      "gemm|vit|msm|train|atmm [--json] [--profile] [--threads N] [--batch B] [--repeat R] [--n N] "
      "[--patches L] [--dim C] [--queries Q] [--kernel auto|sgemm] [--arch NAME] "
      "[--grad-from-block K] [-c FILE] "
      "[--set device=cpu]",
      opts, 1};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if (a.n_positional != 1 || (strcmp(a.positional[0], "gemm") && strcmp(a.positional[0], "vit") &&
                              strcmp(a.positional[0], "msm") && strcmp(a.positional[0], "train") &&
                              strcmp(a.positional[0], "atmm"))) {
    fprintf(stderr, "ancd bench: expected 'gemm', 'vit', 'msm', 'train' or 'atmm' (see 'ancd "
                    "bench --help')\n");
    return ANCD_EXIT_USAGE;
  }
  if (threads < 0 || batch < 1 || repeat < 1) {
    fprintf(stderr, "ancd bench: --threads >= 0, --batch >= 1 and --repeat >= 1 are needed\n");
    return ANCD_EXIT_USAGE;
  }
  const int msm = !strcmp(a.positional[0], "msm"), atmm = !strcmp(a.positional[0], "atmm");
  if (atmm && (grid < 1 || sheets < 1 || fwd_win < 1 || bwd_win < 1 || fwd_win % 2 == 0 ||
               bwd_win % 2 == 0)) {
    fprintf(stderr, "ancd bench atmm: --grid, --sheets >= 1 and odd --fwd, --bwd are needed\n");
    return ANCD_EXIT_USAGE;
  }
  if (msm && (n < 2 || patches < 1 || dim < 1 || queries < 0 || queries > n)) {
    fprintf(stderr, "ancd bench msm: --n >= 2, --patches >= 1, --dim >= 1 and 0 <= --queries <= "
                    "--n are needed\n");
    return ANCD_EXIT_USAGE;
  }
  if (strcmp(kernel_name, "auto") && strcmp(kernel_name, "sgemm")) {
    fprintf(stderr, "ancd bench: --kernel is auto or sgemm, not '%s'\n", kernel_name);
    return ANCD_EXIT_USAGE;
  }
  const int reference = !strcmp(kernel_name, "sgemm");
  msm_use_kernel(reference ? MSM_KERNEL_SGEMM : MSM_KERNEL_AUTO);
  ops_cpu_attention_kernel(!reference);
  config_set *cs = xmalloc(sizeof *cs);
  rc = cli_load_config(cs, &a);
  const ops *o = rc ? NULL : ops_select(cs->base.device);
  if (!rc && !o) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  ops_precision prec;
  if (!rc && ops_precision_parse(&prec, cs->base.precision) != 0) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_USAGE;
  }
  if (!rc)
    o->set_precision(prec);
  free(cs);
  if (rc)
    return rc;
  if ((msm || atmm) && strcmp(o->name, "cpu")) { /* MSM is CPU code: its peak is the CPU's SGEMM */
    log_info("bench msm runs on the CPU; the SGEMM peak is measured there too");
    o = ops_cpu();
  }
  if (threads > 0) /* the CPU backend's OpenMP team; OpenBLAS runs single-threaded inside it */
    omp_set_num_threads(threads);
  if (!strcmp(o->name, "cpu")) {
    char blas[256];
    blas_describe(blas, sizeof blas, blas_select());
    log_info("bench on cpu (%s, %d threads; core type %s)", openblas_get_config(),
             threads > 0 ? threads : omp_get_max_threads(), blas);
  } else
    log_info("bench on %s", o->name);

  bench b = {.o = o,
             .json = json,
             .repeat = repeat,
             .batch = batch,
             .threads = threads,
             .profile = profile};
  bench_gemm(&b);
  if (!strcmp(a.positional[0], "vit")) {
    if (bench_vit(&b, "vit_base_patch16") != 0 || bench_vit(&b, "vit_tiny_patch16") != 0) {
      log_error("%s", ancd_error());
      return ANCD_EXIT_INPUT;
    }
  }
  if (!strcmp(a.positional[0], "train") && bench_train(&b, arch, grad_from) != 0) {
    log_error("%s", ancd_error());
    return ANCD_EXIT_INPUT;
  }
  if (atmm && bench_atmm(&b, batch, grid, dim == 1024 ? 192 : dim, sheets, fwd_win, bwd_win) != 0) {
    log_error("%s", ancd_error());
    return ANCD_EXIT_INPUT;
  }
  if (msm && bench_msm(&b, n, patches, dim, queries) != 0) {
    log_error("%s", ancd_error());
    return ANCD_EXIT_INPUT;
  }
  return ANCD_EXIT_OK;
}
