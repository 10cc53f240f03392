/* Golden parity of the WideResNet forward (issue 14, musc_hetmm_spec §B.4) against torchvision
 * run in float64 by tests/golden/gen_wrn_golden.py: wide_resnet50_2 (2 images of 50 x 40) and
 * wide_resnet101_2 (1 image of 64 x 64) at their real architectures, with the random weights of
 * wrn_random_weights, which the script draws with the same rule, so no weights are stored.
 * Every stage output (pre-ReLU, §B.4) must match with
 *   rel = ||ancd - torch||_2 / ||torch||_2   (per tensor, in double)   <= 1e-4,
 * both raw [B,C,H,W] and, with WRN_NORMALIZE | WRN_CHANNELS_LAST, normalised per pixel
 * [B,H,W,C] against the reference normalised here in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "rng.h"
#include "safetensors.h"
#include "test_util.h"
#include "wideresnet.h"

#define REL_TOL 1e-4

static const char *golden_path(const char *stem) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/tests/golden/wrn/%s.safetensors", test_source_dir(), stem);
  return buf;
}

/* rel = ||a - ref|| / ||ref|| over n values (NaN fails). */
static double rel_l2(const float *a, const double *ref, size_t n) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  double r = sqrt(num) / (den > 0.0 ? sqrt(den) : 1.0);
  return isnan(r) ? INFINITY : r;
}

/* ref [B,C,HW] -> [B,HW,C] with each pixel's C values divided by max(||v||, 1e-12), in double. */
static double *normalised_nhwc(const double *ref, int B, int C, int HW) {
  double *out = xmalloc((size_t)B * C * HW * sizeof *out);
  for (int b = 0; b < B; b++)
    for (int p = 0; p < HW; p++) {
      double ss = 0.0;
      for (int c = 0; c < C; c++)
        ss += ref[((size_t)b * C + c) * HW + p] * ref[((size_t)b * C + c) * HW + p];
      double norm = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
      for (int c = 0; c < C; c++)
        out[((size_t)b * HW + p) * C + c] = ref[((size_t)b * C + c) * HW + p] / norm;
    }
  return out;
}

static void run_case(const char *arch) {
  st_file g;
  if (st_open(&g, golden_path(arch)) != 0) {
    CHECK(0, "%s", ancd_error());
    return;
  }
  const char *meta_arch = st_metadata(&g, "arch"), *meta_seed = st_metadata(&g, "seed");
  const st_tensor *in = st_find(&g, "input");
  CHECK(meta_arch && meta_seed && strcmp(meta_arch, arch) == 0, "%s: metadata arch/seed", g.path);
  CHECK(in && in->rank == 4 && in->shape[1] == 3 && in->dtype == ST_F32, "%s: input [B,3,H,W]",
        g.path);
  if (!meta_seed || !in || in->rank != 4) {
    st_close(&g);
    return;
  }
  const int B = (int)in->shape[0], H = (int)in->shape[2], W = (int)in->shape[3];
  wrn_desc d;
  wrn_weights w;
  float *storage = NULL;
  if (wrn_random(&d, &w, &storage, arch, strtoull(meta_seed, NULL, 10)) != 0) {
    CHECK(0, "%s", ancd_error());
    st_close(&g);
    return;
  }
  wrn_model *m = NULL;
  if (wrn_create(&m, &d, &w, ops_cpu(), B, H, W) != 0) {
    CHECK(0, "%s: %s", arch, ancd_error());
    free(storage);
    st_close(&g);
    return;
  }
  float *images = xmalloc((size_t)in->numel * sizeof *images);
  st_to_f32(images, in);
  int C[3], Hl[3], Wl[3];
  wrn_layer_shapes(C, Hl, Wl, &d, H, W);
  float *raw[3], *nrm[3];
  double *ref[3];
  for (int l = 0; l < 3; l++) {
    char name[16];
    snprintf(name, sizeof name, "layer%d", l + 1);
    const st_tensor *t = st_find(&g, name);
    int ok = t && t->rank == 4 && t->shape[0] == B && t->shape[1] == C[l] && t->shape[2] == Hl[l] &&
             t->shape[3] == Wl[l];
    CHECK(ok, "%s: %s missing or not [%d,%d,%d,%d]", arch, name, B, C[l], Hl[l], Wl[l]);
    size_t n = (size_t)B * C[l] * Hl[l] * Wl[l];
    raw[l] = xcalloc(n, sizeof(float));
    nrm[l] = xcalloc(n, sizeof(float));
    ref[l] = xcalloc(n, sizeof(double));
    if (ok) {
      float *f = xmalloc(n * sizeof *f);
      st_to_f32(f, t);
      for (size_t i = 0; i < n; i++)
        ref[l][i] = f[i];
      free(f);
    }
  }
  CHECK(wrn_forward(raw, m, images, B, 0) == 0, "%s: %s", arch, ancd_error());
  CHECK(wrn_forward(nrm, m, images, B, WRN_NORMALIZE | WRN_CHANNELS_LAST) == 0, "%s: %s", arch,
        ancd_error());
  for (int l = 0; l < 3; l++) {
    const size_t n = (size_t)B * C[l] * Hl[l] * Wl[l];
    double *ref_n = normalised_nhwc(ref[l], B, C[l], Hl[l] * Wl[l]);
    double e_raw = rel_l2(raw[l], ref[l], n), e_nrm = rel_l2(nrm[l], ref_n, n);
    double mn = 0.0;
    for (size_t i = 0; i < n; i++)
      mn = ref[l][i] < mn ? ref[l][i] : mn;
    printf("%-17s layer%d [%d,%4d,%2d,%2d]  rel_l2 %.2e  normalised %.2e  (tol %.0e)\n", arch,
           l + 1, B, C[l], Hl[l], Wl[l], e_raw, e_nrm, REL_TOL);
    CHECK(e_raw <= REL_TOL, "%s layer%d: rel_l2 %.3e", arch, l + 1, e_raw);
    CHECK(e_nrm <= REL_TOL, "%s layer%d normalised: rel_l2 %.3e", arch, l + 1, e_nrm);
    /* §B.4: the stage outputs are taken before the ReLU, so the reference has negative values */
    CHECK(mn < 0.0, "%s layer%d: reference has no negative value (post-ReLU?)", arch, l + 1);
    free(ref_n);
  }
  for (int l = 0; l < 3; l++)
    free(raw[l]), free(nrm[l]), free(ref[l]);
  free(images);
  wrn_free(m);
  free(storage);
  st_close(&g);
}

int main(void) {
  /* The NumPy port of the RNG printed this first draw (gen_wrn_golden.py). */
  CHECK(rng_u64_at(14, 0) == 0x632272f6459c8a44ull, "rng_u64_at(14, 0) = %llx",
        (unsigned long long)rng_u64_at(14, 0));
  run_case("wide_resnet50_2");
  run_case("wide_resnet101_2");
  return test_done("test_wrn_golden");
}
