/* Every backward op of the CPU backend against central finite differences of its forward op, as
 * ggml's test-grad0. For an op out = f(x_1, .., x_n) and a fixed random R, the loss
 * L = sum(R o out) (in double) has dL/dx_i = the op's backward with dout = R; each element of
 * every x_i is perturbed by +-h (in float) and (L(x+h) - L(x-h)) / 2h is compared with it.
 * Error measure per tensor: ||analytic - fd||_2 / ||fd||_2 <= FD_TOL. The forward is fp32, so the
 * differences carry its rounding (about 1e-7 |L| / h) besides the O(h^2) truncation: the sizes
 * are small and the inputs O(1) so that both stay near 1e-5.
 * Also: accumulation (a second call adds the same gradient again), NULL d-outputs (each gradient
 * alone equals the one computed with all), layernorm_train against layernorm and a
 * recomputation of the moments, and sgd_update against the formula over three steps. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "test_util.h"

#define FD_TOL 1e-3  /* relative L2, analytic vs finite differences */
#define ACC_TOL 1e-6 /* relative L2, second call vs twice the first; one gradient vs all */

static const ops *o;
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

/* Uniform in [lo, hi) (xorshift64*). */
static float urand(float lo, float hi) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
  return lo + (hi - lo) * (float)((double)(r >> 11) / 9007199254740992.0);
}

static float *rand_floats(long n, float lo, float hi) {
  float *x = malloc((size_t)n * sizeof(float));
  for (long i = 0; i < n; i++)
    x[i] = urand(lo, hi);
  return x;
}

static float *zeros(long n) { return calloc((size_t)n, sizeof(float)); }

static double rel_l2(const float *got, const double *ref, long n) {
  double d2 = 0.0, r2 = 0.0;
  for (long i = 0; i < n; i++) {
    double d = (double)got[i] - ref[i];
    d2 += d * d;
    r2 += ref[i] * ref[i];
  }
  return sqrt(d2) / (r2 > 0 ? sqrt(r2) : 1.0);
}

/* ---- the generic check ---- */

#define MAX_IN 3

typedef struct fd_case fd_case;
struct fd_case {
  const char *name;
  int n_in;                    /* differentiable inputs */
  const char *in_name[MAX_IN]; /* for the report */
  float *in[MAX_IN];           /* perturbed in place by the check */
  long len[MAX_IN];
  long n_out;
  float h;                        /* the perturbation */
  long rows;                      /* layernorm, add_scaled */
  int C, M, K, N, B, T, NH, flag; /* flag: affine, bias or gamma */
  float eps;
  const float *cls_bias;
  float *scratch;
  void (*forward)(float *out, const fd_case *c);
  /* grads[i] += dL/din[i] for L = sum(dout o out); grads[i] NULL: not computed. */
  void (*backward)(float *const *grads, const float *dout, const fd_case *c);
};

static double loss(const fd_case *c, float *out, const float *r) {
  c->forward(out, c);
  double L = 0.0;
  for (long i = 0; i < c->n_out; i++)
    L += (double)r[i] * out[i];
  return L;
}

static void fd_check(fd_case *c) {
  float *r = rand_floats(c->n_out, -1, 1), *out = zeros(c->n_out);
  float *grad[MAX_IN] = {0}, *again[MAX_IN] = {0};
  for (int i = 0; i < c->n_in; i++)
    grad[i] = zeros(c->len[i]);
  c->backward(grad, r, c);

  for (int i = 0; i < c->n_in; i++) {
    double *fd = malloc((size_t)c->len[i] * sizeof(double));
    for (long j = 0; j < c->len[i]; j++) {
      float v = c->in[i][j], vp = v + c->h, vm = v - c->h;
      c->in[i][j] = vp;
      double Lp = loss(c, out, r);
      c->in[i][j] = vm;
      double Lm = loss(c, out, r);
      c->in[i][j] = v;
      fd[j] = (Lp - Lm) / ((double)vp - vm); /* the step actually taken in float */
    }
    double rel = rel_l2(grad[i], fd, c->len[i]);
    printf("%-34s d%-6s n=%-5ld h=%.0e  rel_l2 %.2e  tol %.0e  %s\n", c->name, c->in_name[i],
           c->len[i], c->h, rel, FD_TOL, rel <= FD_TOL ? "ok" : "FAIL");
    CHECK(rel <= FD_TOL, "%s: d%s rel_l2 %.3e vs finite differences", c->name, c->in_name[i], rel);
    free(fd);
  }

  /* Accumulation: a second call on the same buffers doubles them. */
  double *twice[MAX_IN] = {0};
  for (int i = 0; i < c->n_in; i++) {
    twice[i] = malloc((size_t)c->len[i] * sizeof(double));
    for (long j = 0; j < c->len[i]; j++)
      twice[i][j] = 2.0 * grad[i][j];
  }
  c->backward(grad, r, c);
  for (int i = 0; i < c->n_in; i++) {
    double rel = rel_l2(grad[i], twice[i], c->len[i]);
    CHECK(rel <= ACC_TOL, "%s: d%s after two calls is not twice one call (rel_l2 %.3e)", c->name,
          c->in_name[i], rel);
  }

  /* NULL d-outputs: each gradient alone (the others NULL) is the same as with all. */
  for (int i = 0; i < c->n_in; i++) {
    float *only[MAX_IN] = {0};
    only[i] = again[i] = zeros(c->len[i]);
    c->backward(only, r, c);
    for (long j = 0; j < c->len[i]; j++)
      twice[i][j] *= 0.5;
    double rel = rel_l2(again[i], twice[i], c->len[i]);
    CHECK(rel <= ACC_TOL, "%s: d%s alone differs from d%s with all (rel_l2 %.3e)", c->name,
          c->in_name[i], c->in_name[i], rel);
  }
  for (int i = 0; i < c->n_in; i++)
    free(grad[i]), free(again[i]), free(twice[i]);
  free(r), free(out);
}

/* ---- layernorm ---- */

static void ln_forward(float *out, const fd_case *c) {
  const float *w = c->flag ? c->in[1] : NULL, *b = c->flag ? c->in[2] : NULL;
  o->layernorm(out, c->in[0], w, b, c->rows, c->C, c->eps);
}

static void ln_backward(float *const *g, const float *dout, const fd_case *c) {
  const float *w = c->flag ? c->in[1] : NULL, *b = c->flag ? c->in[2] : NULL;
  float *out = zeros(c->rows * c->C), *mean = zeros(c->rows), *rstd = zeros(c->rows);
  o->layernorm_train(out, mean, rstd, c->in[0], w, b, c->rows, c->C, c->eps);
  o->layernorm_backward(g[0], c->flag ? g[1] : NULL, c->flag ? g[2] : NULL, dout, c->in[0], w, mean,
                        rstd, c->rows, c->C);
  free(out), free(mean), free(rstd);
}

static void check_layernorm_grad(long rows, int C, int affine) {
  fd_case c = {.name = affine ? "layernorm_backward" : "layernorm_backward (no affine)",
               .rows = rows,
               .C = C,
               .flag = affine,
               .eps = 1e-5f,
               .h = 1e-2f,
               .n_out = rows * C,
               .forward = ln_forward,
               .backward = ln_backward};
  c.n_in = affine ? 3 : 1;
  c.in_name[0] = "inp", c.in_name[1] = "weight", c.in_name[2] = "bias";
  c.in[0] = rand_floats(rows * C, -2, 2), c.len[0] = rows * C;
  c.in[1] = rand_floats(C, 0.5f, 1.5f), c.len[1] = C;
  c.in[2] = rand_floats(C, -1, 1), c.len[2] = C;
  for (int k = 0; k < C; k++)
    c.in[0][k] += 5.0f; /* a row with a large mean: the centring matters */
  fd_check(&c);
  for (int i = 0; i < 3; i++)
    free(c.in[i]);
}

/* layernorm_train writes what layernorm writes, bit for bit, and the row moments (compared with
 * a recomputation in double, as float). */
static void check_layernorm_train(long rows, int C, float eps, int affine) {
  float *x = rand_floats(rows * C, -3, 3), *w = rand_floats(C, 0.5f, 1.5f);
  float *b = rand_floats(C, -1, 1);
  for (int k = 0; k < C; k++)
    x[k] = 7.5f; /* constant row: variance 0 */
  float *out = zeros(rows * C), *out_train = zeros(rows * C);
  float *mean = zeros(rows), *rstd = zeros(rows);
  o->layernorm(out, x, affine ? w : NULL, affine ? b : NULL, rows, C, eps);
  o->layernorm_train(out_train, mean, rstd, x, affine ? w : NULL, affine ? b : NULL, rows, C, eps);
  CHECK(memcmp(out, out_train, (size_t)(rows * C) * sizeof(float)) == 0,
        "layernorm_train out differs from layernorm (rows=%ld C=%d affine=%d)", rows, C, affine);
  int bad = 0;
  for (long r = 0; r < rows; r++) {
    double m = 0.0, v = 0.0;
    for (int k = 0; k < C; k++)
      m += x[r * C + k];
    m /= C;
    for (int k = 0; k < C; k++)
      v += (x[r * C + k] - m) * (x[r * C + k] - m);
    double rs = 1.0 / sqrt(v / C + eps);
    if (fabs(mean[r] - m) > 1e-6 * (fabs(m) + 1) || fabs(rstd[r] - rs) > 1e-6 * rs)
      bad++;
  }
  CHECK(bad == 0, "layernorm_train: %d rows with mean/rstd unlike the recomputation", bad);
  printf("layernorm_train rows=%ld C=%d affine=%d: out == layernorm's: %s, moments: %s\n", rows, C,
         affine, memcmp(out, out_train, (size_t)(rows * C) * sizeof(float)) ? "NO" : "yes",
         bad ? "FAIL" : "ok");
  free(x), free(w), free(b), free(out), free(out_train), free(mean), free(rstd);
}

/* ---- matmul ---- */

static void mm_forward(float *out, const fd_case *c) {
  o->matmul(out, c->in[0], c->in[1], c->flag ? c->in[2] : NULL, c->M, c->K, c->N);
}

static void mm_backward(float *const *g, const float *dout, const fd_case *c) {
  o->matmul_backward(g[0], g[1], c->flag ? g[2] : NULL, dout, c->in[0], c->in[1], c->M, c->K, c->N);
}

static void check_matmul_grad(int M, int K, int N, int with_bias) {
  fd_case c = {.name = with_bias ? "matmul_backward" : "matmul_backward (no bias)",
               .M = M,
               .K = K,
               .N = N,
               .flag = with_bias,
               .h = 1e-2f,
               .n_out = (long)M * N,
               .forward = mm_forward,
               .backward = mm_backward};
  c.n_in = with_bias ? 3 : 2;
  c.in_name[0] = "inp", c.in_name[1] = "weight", c.in_name[2] = "bias";
  c.in[0] = rand_floats((long)M * K, -1, 1), c.len[0] = (long)M * K;
  c.in[1] = rand_floats((long)N * K, -1, 1), c.len[1] = (long)N * K;
  c.in[2] = rand_floats(N, -1, 1), c.len[2] = N;
  fd_check(&c);
  for (int i = 0; i < 3; i++)
    free(c.in[i]);
}

/* ---- activations ---- */

static void act_forward(float *out, const fd_case *c) {
  (c->flag ? o->quick_gelu : o->gelu)(out, c->in[0], c->len[0]);
}

static void act_backward(float *const *g, const float *dout, const fd_case *c) {
  if (g[0])
    (c->flag ? o->quick_gelu_backward : o->gelu_backward)(g[0], c->in[0], dout, c->len[0]);
}

/* Inputs over [-6, 6]: both tails and the curved middle. */
static void check_activation_grad(int quick, long n) {
  fd_case c = {.name = quick ? "quick_gelu_backward" : "gelu_backward",
               .flag = quick,
               .h = 1e-2f,
               .n_in = 1,
               .n_out = n,
               .forward = act_forward,
               .backward = act_backward};
  c.in_name[0] = "inp";
  c.in[0] = rand_floats(n, -6, 6), c.len[0] = n;
  fd_check(&c);
  free(c.in[0]);
}

/* ---- add_scaled ---- */

static void add_forward(float *out, const fd_case *c) {
  o->add_scaled(out, c->in[0], c->in[1], c->flag ? c->in[2] : NULL, c->rows, c->C);
}

static void add_backward(float *const *g, const float *dout, const fd_case *c) {
  o->add_scaled_backward(g[0], g[1], c->flag ? g[2] : NULL, dout, c->in[1],
                         c->flag ? c->in[2] : NULL, c->rows, c->C);
}

static void check_add_scaled_grad(long rows, int C, int with_gamma) {
  fd_case c = {.name = with_gamma ? "add_scaled_backward" : "add_scaled_backward (no gamma)",
               .rows = rows,
               .C = C,
               .flag = with_gamma,
               .h = 1e-2f,
               .n_out = rows * C,
               .forward = add_forward,
               .backward = add_backward};
  c.n_in = with_gamma ? 3 : 2;
  c.in_name[0] = "a", c.in_name[1] = "b", c.in_name[2] = "gamma";
  c.in[0] = rand_floats(rows * C, -1, 1), c.len[0] = rows * C;
  c.in[1] = rand_floats(rows * C, -1, 1), c.len[1] = rows * C;
  c.in[2] = rand_floats(C, -2, 2), c.len[2] = C;
  fd_check(&c);
  for (int i = 0; i < 3; i++)
    free(c.in[i]);
}

/* ---- attention ---- */

static void attn_forward(float *out, const fd_case *c) {
  o->attention(out, c->scratch, c->in[0], c->cls_bias, c->B, c->T, c->C, c->NH);
}

static void attn_backward(float *const *g, const float *dout, const fd_case *c) {
  if (!g[0])
    return;
  float *scratch = zeros((long)o->attention_backward_scratch(c->B, c->T, c->C, c->NH));
  o->attention_backward(g[0], scratch, dout, c->in[0], c->cls_bias, c->B, c->T, c->C, c->NH);
  free(scratch);
}

/* with_bias: MGViT's mask on the CLS query (anomalyncd_spec §5.3): about a third of the keys of
 * row 0 get -1e9, a few a finite bias, the CLS key itself 0. */
static void check_attention_grad(int B, int T, int C, int NH, int with_bias) {
  float *bias = zeros((long)B * T);
  for (long i = 0; i < (long)B * T; i++)
    if (i % T != 0) {
      float u = urand(0, 1);
      bias[i] = u < 0.35f ? -1e9f : u < 0.5f ? urand(-1, 1) : 0.0f;
    }
  char name[80];
  snprintf(name, sizeof name, "attention_backward B=%d T=%d C=%d NH=%d%s", B, T, C, NH,
           with_bias ? " mask" : "");
  fd_case c = {.name = name,
               .B = B,
               .T = T,
               .C = C,
               .NH = NH,
               .h = 1e-2f,
               .n_in = 1,
               .n_out = (long)B * T * C,
               .cls_bias = with_bias ? bias : NULL,
               .forward = attn_forward,
               .backward = attn_backward};
  c.scratch = zeros((long)ops_cpu()->attention_scratch(B, T, NH));
  c.in_name[0] = "qkv";
  c.in[0] = rand_floats((long)B * T * 3 * C, -2, 2), c.len[0] = (long)B * T * 3 * C;
  fd_check(&c);
  free(c.in[0]), free(c.scratch), free(bias);
}

/* ---- SGD ---- */

/* Three steps (the first with first_step) with new gradients each, against the formula of
 * ops.h in double. */
static void check_sgd(float weight_decay) {
  long n = 57;
  float lr = 0.05f, momentum = 0.9f;
  float *p = rand_floats(n, -1, 1), *buf = rand_floats(n, -1, 1); /* buf: garbage before step 1 */
  double *p_ref = malloc((size_t)n * sizeof(double)), *buf_ref = calloc((size_t)n, sizeof(double));
  for (long i = 0; i < n; i++)
    p_ref[i] = p[i];
  double worst = 0.0;
  for (int step = 0; step < 3; step++) {
    float *g = rand_floats(n, -1, 1);
    o->sgd_update(p, buf, g, n, lr, momentum, weight_decay, step == 0);
    for (long i = 0; i < n; i++) {
      double gi = (double)g[i] + (double)weight_decay * p_ref[i];
      buf_ref[i] = step == 0 ? gi : (double)momentum * buf_ref[i] + gi;
      p_ref[i] -= (double)lr * buf_ref[i];
      double e = fmax(fabs(p[i] - p_ref[i]), fabs(buf[i] - buf_ref[i]) * lr);
      worst = fmax(worst, e);
    }
    free(g);
  }
  printf("sgd_update wd=%g, 3 steps: max |param - formula| %.2e  tol 1e-6  %s\n", weight_decay,
         worst, worst <= 1e-6 ? "ok" : "FAIL");
  CHECK(worst <= 1e-6, "sgd_update wd=%g: max error %.3e vs the formula", weight_decay, worst);
  free(p), free(buf), free(p_ref), free(buf_ref);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  o = ops_cpu();
  CHECK(o->layernorm_train && o->layernorm_backward && o->matmul_backward && o->gelu_backward &&
            o->quick_gelu_backward && o->add_scaled_backward && o->attention_backward &&
            o->attention_backward_scratch && o->sgd_update,
        "cpu: a training op is missing");
  printf("analytic gradient vs central differences of L = sum(R o out): rel_l2 = "
         "||grad - fd|| / ||fd||\n");

  check_layernorm_train(37, 97, 1e-6f, 1);
  check_layernorm_train(37, 97, 1e-5f, 0);
  check_layernorm_train(3, 1, 1e-5f, 1);

  check_layernorm_grad(5, 23, 1);
  check_layernorm_grad(5, 23, 0);
  check_matmul_grad(6, 11, 7, 1);
  check_matmul_grad(6, 11, 7, 0);
  check_matmul_grad(40, 5, 3, 1); /* enough rows for the row split of dinp */
  check_activation_grad(0, 200);
  check_activation_grad(1, 200);
  check_add_scaled_grad(4, 9, 1);
  check_add_scaled_grad(4, 9, 0);
  check_attention_grad(2, 17, 24, 3, 0);
  check_attention_grad(2, 17, 24, 3, 1);
  check_attention_grad(1, 5, 8, 2, 1);

  check_sgd(0.0f);
  check_sgd(0.1f);
  return test_done("test_ops_grad");
}
