/* Lab: the CPU backend's row-wise and elementwise ops at ViT-B/16 batch 8 sizes, one thread.
 * Each op has its plain reference (the code ops_cpu.c had before issue 9: libm erff/expf,
 * scalar double sums) and variants; every variant is checked against the reference with
 * |out - ref| <= TOL + |ref| * EPS, then timed (best of REPEAT) with napkin math: bytes read and
 * written per second, nanoseconds per element.
 *
 *   build/tests/lab_rowwise            all ops
 *   build/tests/lab_rowwise gelu       one of gelu, softmax, layernorm, add
 *
 * "vec" variants are the ones ops_cpu.c took: plain loops (sums over fixed lanes) that gcc
 * vectorises, vm_expf/vm_erff (core/ops/vecmath.h), cloned per ISA with target_clones ("novec"
 * is the same source without clones, i.e. SSE2, to show what the clones buy). Build flags as
 * ops_cpu.c's: -O3 -fopenmp -fno-trapping-math -fno-math-errno. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vecmath.h"

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define REPEAT 7
#define LANES 16

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float urand(unsigned long *s) { /* uniform in [-1, 1) */
  *s = *s * 6364136223846793005ul + 1442695040888963407ul;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Worst |out - ref| beyond tol + |ref| * eps; prints and returns 1 on a failure. */
static int check(const char *what, const float *out, const float *ref, long n, double tol,
                 double eps) {
  long worst = -1;
  double excess = 0.0;
  for (long i = 0; i < n; i++) {
    double d = fabs((double)out[i] - ref[i]) - (tol + fabs(ref[i]) * eps);
    if (d > excess || isnan(d)) {
      excess = isnan(d) ? INFINITY : d;
      worst = i;
    }
  }
  if (worst >= 0) {
    printf("  %-10s FAIL at %ld: %.9g vs %.9g\n", what, worst, out[worst], ref[worst]);
    return 1;
  }
  return 0;
}

/* ---- GELU (exact, erf form): ViT-B fc1 output, 1576 x 3072 ---- */

static void gelu_ref(float *out, const float *inp, long n) {
  for (long i = 0; i < n; i++)
    out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * 0.70710678118654752440f));
}

/* vm_erff (rational, 7.5 ulp) without clones: SSE2 only. */
static void gelu_novec(float *out, const float *inp, long n) {
  for (long i = 0; i < n; i++)
    out[i] = 0.5f * inp[i] * (1.0f + vm_erff(inp[i] * 0.70710678118654752440f));
}

/* The winner: vm_erff, cloned; omp simd because the forward calls it in place. */
CLONES static void gelu_vec(float *out, const float *inp, long n) {
#pragma omp simd
  for (long i = 0; i < n; i++)
    out[i] = 0.5f * inp[i] * (1.0f + vm_erff(inp[i] * 0.70710678118654752440f));
}

/* Norbert Juffa's erff (1.6 ulp without FMA): an odd polynomial below |x| = 0.9277, 1 - e^u
 * above; both computed, one selected. */
static inline float erf_juffa(float x) {
  float t = x < 0.0f ? -x : x, s = x * x;
  float q = -5.96761703e-4f;
  q = q * s + 4.99119423e-3f;
  q = q * s - 2.67681349e-2f;
  q = q * s + 1.12819925e-1f;
  q = q * s - 3.76125336e-1f;
  q = q * s + 1.28379166e-1f;
  float small = q * x + x;
  float tc = t > 4.0f ? 4.0f : t; /* from 4 on e^u < 2^-25: erf rounds to 1 */
  float a = -1.72853470e-5f * tc + 3.83197126e-4f;
  float b = -3.88396438e-3f * tc + 2.42546219e-2f;
  float u = a * (tc * tc) + b;
  u = u * tc - 1.06777877e-1f;
  u = u * tc - 6.34846687e-1f;
  u = u * tc - 1.28717512e-1f;
  u = u * tc - tc;
  float big = 1.0f - vm_expf(u);
  big = x < 0.0f ? -big : big;
  return t > 0.927734375f ? big : small;
}

CLONES static void gelu_juffa(float *out, const float *inp, long n) {
#pragma omp simd
  for (long i = 0; i < n; i++)
    out[i] = 0.5f * inp[i] * (1.0f + erf_juffa(inp[i] * 0.70710678118654752440f));
}

/* Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7 in exact arithmetic): one exp, one division. */
static inline float erf_as(float x) {
  float t = x < 0.0f ? -x : x;
  float k = 1.0f / (0.3275911f * t + 1.0f);
  float p = 1.061405429f;
  p = p * k - 1.453152027f;
  p = p * k + 1.421413741f;
  p = p * k - 0.284496736f;
  p = p * k + 0.254829592f;
  float r = 1.0f - k * p * vm_expf(-t * t);
  return x < 0.0f ? -r : r;
}

CLONES static void gelu_as(float *out, const float *inp, long n) {
#pragma omp simd
  for (long i = 0; i < n; i++)
    out[i] = 0.5f * inp[i] * (1.0f + erf_as(inp[i] * 0.70710678118654752440f));
}

/* ---- softmax of rows of T = 197 scores (one attention tile per (image, head)) ---- */

static void softmax_ref(float *y, const float *x, int cols) {
  float mx = -INFINITY;
  for (int c = 0; c < cols; c++)
    mx = x[c] > mx ? x[c] : mx;
  double sum = 0.0;
  for (int c = 0; c < cols; c++) {
    y[c] = expf(x[c] - mx);
    sum += y[c];
  }
  float inv = (float)(1.0 / sum);
  for (int c = 0; c < cols; c++)
    y[c] *= inv;
}

/* Max, e^ and the sum over LANES fixed lanes fused in two loops. */
CLONES static void softmax_fused(float *y, const float *x, int cols) {
  float m[LANES], s[LANES], mx = -INFINITY, sum = 0.0f;
  int c0 = cols / LANES * LANES;
  for (int l = 0; l < LANES; l++)
    m[l] = -INFINITY, s[l] = 0.0f;
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++)
      m[l] = x[c + l] > m[l] ? x[c + l] : m[l];
  for (int l = 0; l < LANES; l++)
    mx = m[l] > mx ? m[l] : mx;
  for (int c = c0; c < cols; c++)
    mx = x[c] > mx ? x[c] : mx;
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++) {
      y[c + l] = vm_expf(x[c + l] - mx);
      s[l] += y[c + l];
    }
  for (int c = c0; c < cols; c++) {
    y[c] = vm_expf(x[c] - mx);
    sum += y[c];
  }
  for (int l = 0; l < LANES; l++)
    sum += s[l];
  float inv = 1.0f / sum;
  for (int c = 0; c < cols; c++)
    y[c] *= inv;
}

/* The winner: one simple pass each for the max (exact in any order), e^, the sum (fixed lanes)
 * and the scaling. */
CLONES static void softmax_vec(float *y, const float *x, int cols) {
  float mx = -INFINITY, s[LANES] = {0}, sum = 0.0f;
  int c0 = cols / LANES * LANES;
#pragma omp simd reduction(max : mx)
  for (int c = 0; c < cols; c++)
    mx = x[c] > mx ? x[c] : mx;
#pragma omp simd
  for (int c = 0; c < cols; c++)
    y[c] = vm_expf(x[c] - mx);
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++)
      s[l] += y[c + l];
  for (int c = c0; c < cols; c++)
    sum += y[c];
  for (int l = 0; l < LANES; l++)
    sum += s[l];
  float inv = 1.0f / sum;
#pragma omp simd
  for (int c = 0; c < cols; c++)
    y[c] *= inv;
}

/* ---- LayerNorm of rows of C = 768 ---- */

static void layernorm_ref(float *y, const float *x, const float *w, const float *b, int C,
                          float eps) {
  double sum = 0.0;
  for (int c = 0; c < C; c++)
    sum += x[c];
  double mean = sum / C;
  double ss = 0.0;
  for (int c = 0; c < C; c++) {
    double d = x[c] - mean;
    ss += d * d;
  }
  double rstd = 1.0 / sqrt(ss / C + eps);
  for (int c = 0; c < C; c++) {
    float v = (float)((x[c] - mean) * rstd);
    y[c] = w ? v * w[c] + (b ? b[c] : 0.0f) : v;
  }
}

/* The same two passes in double over LANES fixed lanes. */
CLONES static void layernorm_vec(float *y, const float *x, const float *w, const float *b, int C,
                                 float eps) {
  double s[LANES] = {0}, sum = 0.0, ss = 0.0;
  int c0 = C / LANES * LANES;
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++)
      s[l] += x[c + l];
  for (int c = c0; c < C; c++)
    sum += x[c];
  for (int l = 0; l < LANES; l++)
    sum += s[l], s[l] = 0.0;
  double mean = sum / C;
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++) {
      double d = x[c + l] - mean;
      s[l] += d * d;
    }
  for (int c = c0; c < C; c++) {
    double d = x[c] - mean;
    ss += d * d;
  }
  for (int l = 0; l < LANES; l++)
    ss += s[l];
  double rstd = 1.0 / sqrt(ss / C + eps);
  if (w) {
#pragma omp simd
    for (int c = 0; c < C; c++)
      y[c] = (float)((x[c] - mean) * rstd) * w[c] + (b ? b[c] : 0.0f);
  } else {
#pragma omp simd
    for (int c = 0; c < C; c++)
      y[c] = (float)((x[c] - mean) * rstd);
  }
}

/* ---- residual add, 1576 x 768 ---- */

static void add_ref(float *out, const float *a, const float *b, long n) {
  for (long i = 0; i < n; i++)
    out[i] = a[i] + b[i];
}

CLONES static void add_vec(float *out, const float *a, const float *b, long n) {
  for (long i = 0; i < n; i++)
    out[i] = a[i] + b[i];
}

/* ---- driver ---- */

typedef struct {
  const char *name;
  int rows, cols; /* the op's shape */
  double bytes;   /* read + written per call */
} op_info;

static double time_best(void (*run)(void *), void *ctx) {
  double best = 1e30;
  for (int r = 0; r <= REPEAT; r++) {
    double t = now();
    run(ctx);
    t = now() - t;
    if (r > 0 && t < best)
      best = t;
  }
  return best;
}

typedef struct {
  int variant, rows, cols;
  float *out, *x, *x2, *w, *b;
} ctx;

static void run_gelu(void *p) {
  ctx *c = p;
  long n = (long)c->rows * c->cols;
  if (c->variant == 0)
    gelu_ref(c->out, c->x, n);
  else if (c->variant == 1)
    gelu_novec(c->out, c->x, n);
  else if (c->variant == 2)
    gelu_vec(c->out, c->x, n);
  else if (c->variant == 3)
    gelu_juffa(c->out, c->x, n);
  else
    gelu_as(c->out, c->x, n);
}
static void run_softmax(void *p) {
  ctx *c = p;
  void (*fn)(float *, const float *, int) = c->variant == 0   ? softmax_ref
                                            : c->variant == 1 ? softmax_fused
                                                              : softmax_vec;
  for (int r = 0; r < c->rows; r++)
    fn(c->out + (long)r * c->cols, c->x + (long)r * c->cols, c->cols);
}
static void run_layernorm(void *p) {
  ctx *c = p;
  for (int r = 0; r < c->rows; r++)
    (c->variant == 0 ? layernorm_ref : layernorm_vec)(
        c->out + (long)r * c->cols, c->x + (long)r * c->cols, c->w, c->b, c->cols, 1e-6f);
}
static void run_add(void *p) {
  ctx *c = p;
  (c->variant == 0 ? add_ref : add_vec)(c->out, c->x, c->x2, (long)c->rows * c->cols);
}

int main(int argc, char **argv) {
  static const char *names[] = {"gelu", "softmax", "layernorm", "add"};
  static const char *variants[4][5] = {{"ref", "novec", "vec", "juffa", "as"},
                                       {"ref", "fused", "vec", NULL},
                                       {"ref", "vec", NULL},
                                       {"ref", "vec", NULL}};
  void (*runs[4])(void *) = {run_gelu, run_softmax, run_layernorm, run_add};
  /* gelu: fc1 output; softmax: one forward block's 8 * 12 tiles of 197 x 197; LayerNorm, add:
   * the residual stream. Inputs: gelu N(0, 1.5)-ish, scores of scale 4. */
  const int rows[4] = {1576, 8 * 12 * 197, 1576, 1576}, cols[4] = {3072, 197, 768, 768};
  /* gelu: vm_erff's 4.5e-7 on erf; softmax: e^ within 2 ulp and a float sum; LayerNorm: the
   * same double sums in another order. */
  const double tol[4] = {1.5e-6, 1e-8, 1e-6, 0.0}, eps[4] = {1e-6, 1e-6, 1e-6, 0.0};
  const double streams[4] = {2, 2, 2, 3}; /* arrays of rows x cols moved per call */
  int fails = 0;
  for (int op = 0; op < 4; op++) {
    if (argc > 1 && strcmp(argv[1], names[op]))
      continue;
    long n = (long)rows[op] * cols[op];
    unsigned long seed = 1;
    ctx c = {.rows = rows[op], .cols = cols[op]};
    c.x = malloc(n * sizeof(float)), c.x2 = malloc(n * sizeof(float));
    c.out = malloc(n * sizeof(float));
    float *ref = malloc(n * sizeof(float));
    c.w = malloc(cols[op] * sizeof(float)), c.b = malloc(cols[op] * sizeof(float));
    for (long i = 0; i < n; i++)
      c.x[i] = (op == 0 ? 4.0f : op == 1 ? 4.0f : 2.0f) * urand(&seed), c.x2[i] = urand(&seed);
    if (op == 2) /* rows with a large mean, one constant row */
      for (int r = 0; r < rows[op]; r += 7)
        for (int j = 0; j < cols[op]; j++)
          c.x[(long)r * cols[op] + j] = r == 0 ? 3.25f : c.x[(long)r * cols[op] + j] + 100.0f;
    for (int j = 0; j < cols[op]; j++)
      c.w[j] = 1.0f + 0.5f * urand(&seed), c.b[j] = urand(&seed);
    printf("%s [%d x %d]\n", names[op], rows[op], cols[op]);
    double t_ref = 0.0;
    for (int v = 0; v < 5 && variants[op][v]; v++) {
      c.variant = v;
      memset(c.out, 0, n * sizeof(float));
      double t = time_best(runs[op], &c);
      if (v == 0) {
        memcpy(ref, c.out, n * sizeof(float));
        t_ref = t;
      } else {
        fails += check(variants[op][v], c.out, ref, n, tol[op], eps[op]);
      }
      printf("  %-10s %8.3f ms %7.2f GB/s %6.2f ns/element %5.1fx\n", variants[op][v], t * 1e3,
             streams[op] * n * 4 / t / 1e9, t / n * 1e9, t_ref / t);
    }
    free(c.x), free(c.x2), free(c.out), free(ref), free(c.w), free(c.b);
  }
  return fails ? 1 : 0;
}
