/* HETMM against an independent PyTorch/NumPy implementation (tests/golden/gen_hetmm_golden.py;
 * musc_hetmm_spec Part B): ATMM forward/backward matching, bilinear align-corners upsampling and
 * the alpha/lambda fusion within 1e-4 of torch (unfold + einsum); each post-processing (clean,
 * zero-padded Gaussian blur, block-max mean) and its image score within 1e-4; OPTICS labels on
 * the reference's callable distances equal to sklearn's and PTS sheet choices equal to NumPy's
 * (K > N leaves zero rows); HETMM's own PRO variant (§B.8) within 1e-9 of NumPy. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hetmm.h"
#include "metrics.h"
#include "optics.h"
#include "test_util.h"

#define MAP_TOL 1e-4

static int read_floats(FILE *f, float *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fscanf(f, "%f", &v[i]) != 1)
      return 0;
  return 1;
}

static int read_atmm(FILE *f) {
  char name[64];
  int B, K, S, n_layers;
  if (fscanf(f, "%63s %d %d %d %d", name, &B, &K, &S, &n_layers) != 5)
    return 0;
  const size_t SS = (size_t)S * S;
  float *fused = calloc((size_t)B * SS, sizeof *fused), *want = malloc((size_t)B * SS * 4);
  int ok = 1;
  for (int l = 0; l < n_layers && ok; l++) {
    int h, w, C, fw, bw;
    double alpha, lambda;
    ok = fscanf(f, " layer %d %d %d %d %d %lf %lf", &h, &w, &C, &fw, &bw, &alpha, &lambda) == 7;
    if (!ok)
      break;
    const size_t P = (size_t)h * w;
    float *q = malloc((size_t)B * P * C * 4), *t = malloc(P * K * C * 4);
    float *fwd = malloc((size_t)B * P * 4), *bwd = malloc((size_t)B * P * 4);
    ok = read_floats(f, q, (size_t)B * P * C) && read_floats(f, t, P * K * C);
    if (ok) {
      hetmm_match_layer(fwd, bwd, q, t, B, h, w, C, K, fw / 2, bw / 2);
      hetmm_fuse_layer(fused, fwd, bwd, B, h, w, S, alpha, lambda);
    }
    free(q), free(t), free(fwd), free(bwd);
  }
  ok = ok && read_floats(f, want, (size_t)B * SS);
  CHECK(ok, "case %s: malformed golden file", name);
  if (ok) {
    double worst = 0;
    for (size_t i = 0; i < (size_t)B * SS; i++)
      worst = fmax(worst, fabs(fused[i] - want[i]));
    CHECK(worst <= MAP_TOL, "case %s: fused maps: max |ancd - torch| %.3g", name, worst);
    printf("case %s: fused maps max |diff| %.3g\n", name, worst);
  }
  for (int p = 0; p < 3 && ok; p++) {
    char text[64];
    float *scores = malloc((size_t)B * 4), *map = malloc(SS * 4);
    ok = fscanf(f, " post %63s", text) == 1 && read_floats(f, want, (size_t)B * SS) &&
         read_floats(f, scores, (size_t)B);
    hetmm_post pp;
    ok = ok && hetmm_post_parse(&pp, text) == 0;
    CHECK(ok, "case %s: post %d malformed", name, p);
    double worst_map = 0, worst_score = 0;
    for (int b = 0; b < B && ok; b++) {
      hetmm_post_map(map, fused + b * SS, S, &pp);
      for (size_t i = 0; i < SS; i++)
        worst_map = fmax(worst_map, fabs(map[i] - want[b * SS + i]));
      worst_score = fmax(worst_score, fabs(hetmm_image_score(fused + b * SS, S, &pp) - scores[b]));
    }
    CHECK(worst_map <= MAP_TOL, "case %s post %s: map max |diff| %.3g", name, text, worst_map);
    CHECK(worst_score <= MAP_TOL, "case %s post %s: score max |diff| %.3g", name, text,
          worst_score);
    printf("case %s post %s: map max |diff| %.3g, score max |diff| %.3g\n", name, text, worst_map,
           worst_score);
    free(scores), free(map);
  }
  free(fused), free(want);
  return ok;
}

static int read_pts(FILE *f) {
  char name[64];
  int N, C, K, ms, n_pos;
  if (fscanf(f, "%63s %d %d %d %d %d", name, &N, &C, &K, &ms, &n_pos) != 6)
    return 0;
  float *x = malloc((size_t)N * C * 4), *out = malloc((size_t)K * C * 4), *gram = malloc(N * N * 4);
  int *want_lab = malloc(N * sizeof(int)), *lab = malloc(N * sizeof(int));
  int *want_pick = malloc(K * sizeof(int)), *pick = malloc(K * sizeof(int));
  double *d = malloc((size_t)N * N * sizeof *d);
  int ok = 1, bad_lab = 0, bad_pick = 0, bad_rows = 0;
  for (int p = 0; p < n_pos && ok; p++) {
    ok = read_floats(f, x, (size_t)N * C);
    for (int i = 0; i < N && ok; i++)
      ok = fscanf(f, "%d", &want_lab[i]) == 1;
    for (int k = 0; k < K && ok; k++)
      ok = fscanf(f, "%d", &want_pick[k]) == 1;
    if (!ok)
      break;
    for (int i = 0; i < N; i++) /* the callable 1 - a.b on float64 copies of the rows */
      for (int j = 0; j < N; j++) {
        double s = 0;
        for (int c = 0; c < C; c++)
          s += (double)x[i * C + c] * x[j * C + c];
        d[(size_t)i * N + j] = 1.0 - s;
      }
    optics_xi(lab, NULL, NULL, NULL, NULL, d, N, ms, 0.05);
    int n = hetmm_pts_position(out, pick, gram, x, want_lab, N, C, K);
    for (int i = 0; i < N; i++)
      bad_lab += lab[i] != want_lab[i];
    for (int k = 0; k < K; k++) {
      bad_pick += pick[k] != want_pick[k];
      for (int c = 0; c < C; c++)
        bad_rows += out[k * C + c] != (pick[k] < 0 ? 0.0f : x[pick[k] * C + c]);
    }
    CHECK(n == (K < N ? K : N), "pts %s position %d: %d rows filled", name, p, n);
  }
  CHECK(ok, "pts %s: malformed golden file", name);
  CHECK(bad_lab == 0, "pts %s: %d OPTICS labels differ from sklearn", name, bad_lab);
  CHECK(bad_pick == 0, "pts %s: %d PTS picks differ from NumPy", name, bad_pick);
  CHECK(bad_rows == 0, "pts %s: %d sheet values are not the picked sheets (or zero)", name,
        bad_rows);
  printf("pts %s: N %d K %d min_samples %d, %d positions: labels and picks equal\n", name, N, K, ms,
         n_pos);
  free(x), free(out), free(gram), free(want_lab), free(lab), free(want_pick), free(pick), free(d);
  return ok;
}

/* §B.8 HETMM's PRO against the spec's NumPy/sklearn version (scipy 8-connected labels). */
static int read_pro(FILE *f) {
  char name[64];
  int n, S;
  double want;
  if (fscanf(f, "%63s %d %d %lf", name, &n, &S, &want) != 4)
    return 0;
  const size_t total = (size_t)n * S * S;
  float *maps = malloc(total * 4);
  uint8_t *gts = malloc(total);
  int ok = read_floats(f, maps, total);
  for (size_t i = 0; i < total && ok; i++) {
    int v;
    ok = fscanf(f, "%d", &v) == 1;
    gts[i] = (uint8_t)v;
  }
  CHECK(ok, "pro %s: malformed golden file", name);
  if (ok) {
    double got = metric_pro_hetmm(maps, gts, n, S, S);
    CHECK_NEAR(got, want, 1e-9);
    CHECK(fabs(got - metric_aupro(maps, gts, n, S, S)) > 1e-3,
          "pro %s: HETMM's PRO equals the standard AUPRO", name);
    printf("pro %s: HETMM PRO %.9f (NumPy %.9f), standard AUPRO %.9f\n", name, got, want,
           metric_aupro(maps, gts, n, S, S));
  }
  free(maps), free(gts);
  return ok;
}

static int read_case(FILE *f) {
  char kind[16];
  if (fscanf(f, "%15s", kind) != 1)
    return 0;
  if (!strcmp(kind, "atmm"))
    return read_atmm(f);
  if (!strcmp(kind, "pts"))
    return read_pts(f);
  if (!strcmp(kind, "pro"))
    return read_pro(f);
  return 0;
}

int main(void) {
  test_golden_cases("tests/golden/hetmm/cases.txt", read_case, 6);
  return test_done("test_hetmm_golden");
}
