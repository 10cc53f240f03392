/* WideResNet checkpoints (issue 14, musc_hetmm_spec §B.4): the narrow WRN that
 * tests/golden/gen_wrn_golden.py saved with torchvision's key names (fp16, int64
 * num_batches_tracked, a layer4 and fc to ignore) loads, its architecture is inferred from the
 * shapes, and the forward reproduces torchvision's layer1..3 (rel L2 <= 1e-4 per tensor). Then
 * copies of that file written here with a "module." prefix, a missing tensor, a wrong shape or a
 * missing downsample: each error names the file and the tensor. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "safetensors.h"
#include "test_util.h"
#include "wrn_load.h"

#define REL_TOL 1e-4

static char golden_dir[4096];

static const char *golden(const char *stem) {
  static char buf[8192];
  PATHF(buf, "%s/%s.safetensors", golden_dir, stem);
  return buf;
}

static size_t dtype_bytes(const char *dtype) {
  return !strcmp(dtype, "F32") ? 4 : !strcmp(dtype, "I64") ? 8 : 2; /* F16, BF16 */
}

/* A copy of src at path: every tensor but `drop`, names prefixed, the tensor `reshape` given
 * shape new_shape[4] (same element count). */
static void write_copy(const char *path, const st_file *src, const char *prefix, const char *drop,
                       const char *reshape, const int64_t *new_shape) {
  size_t hcap = 1 << 20, hn = 0, dn = 0, dcap = 0;
  for (int k = 0; k < src->n; k++)
    dcap += (size_t)src->tensors[k].numel * dtype_bytes(src->tensors[k].dtype_name);
  char *h = xmalloc(hcap);
  unsigned char *data = xmalloc(dcap + 1);
  int first = 1;
  hn += (size_t)snprintf(h + hn, hcap - hn, "{");
  for (int k = 0; k < src->n; k++) {
    const st_tensor *t = &src->tensors[k];
    if (drop && !strcmp(t->name, drop))
      continue;
    size_t bytes = (size_t)t->numel * dtype_bytes(t->dtype_name), begin = dn;
    memcpy(data + dn, t->data, bytes);
    dn += bytes;
    const int64_t *shape = reshape && !strcmp(t->name, reshape) ? new_shape : t->shape;
    int rank = reshape && !strcmp(t->name, reshape) ? 4 : t->rank;
    hn += (size_t)snprintf(h + hn, hcap - hn, "%s\"%s%s\":{\"dtype\":\"%s\",\"shape\":[",
                           first ? "" : ",", prefix, t->name, t->dtype_name);
    for (int d = 0; d < rank; d++)
      hn += (size_t)snprintf(h + hn, hcap - hn, "%s%lld", d ? "," : "", (long long)shape[d]);
    hn += (size_t)snprintf(h + hn, hcap - hn, "],\"data_offsets\":[%zu,%zu]}", begin, dn);
    first = 0;
  }
  test_write_safetensors(path, h, hn, hcap, data, dn);
  free(h), free(data);
}

/* rel = ||a - ref|| / ||ref|| (NaN fails). */
static double rel_l2(const float *a, const float *ref, size_t n) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  double r = sqrt(num) / (den > 0.0 ? sqrt(den) : 1.0);
  return isnan(r) ? INFINITY : r;
}

/* The narrow golden: architecture, a few tensors in place, the forward, batch 1 vs 2. */
static void test_narrow(void) {
  wrn_checkpoint ck;
  if (wrn_load(&ck, golden("narrow_weights")) != 0) {
    CHECK(0, "%s", ancd_error());
    return;
  }
  const wrn_desc *d = &ck.desc;
  char line[256];
  wrn_describe(line, sizeof line, &ck);
  printf("%s\n", line);
  CHECK(d->stem == 8 && d->blocks[0] == 2 && d->blocks[1] == 2 && d->blocks[2] == 2,
        "stem %d blocks %d/%d/%d", d->stem, d->blocks[0], d->blocks[1], d->blocks[2]);
  CHECK(d->width[0] == 16 && d->width[1] == 32 && d->width[2] == 64 && d->out[0] == 32 &&
            d->out[1] == 64 && d->out[2] == 128,
        "widths %d/%d/%d outputs %d/%d/%d", d->width[0], d->width[1], d->width[2], d->out[0],
        d->out[1], d->out[2]);
  CHECK(strcmp(ck.prefix, "") == 0 && fabsf(d->bn_eps - 1e-5f) < 1e-12f, "prefix '%s' eps %g",
        ck.prefix, (double)d->bn_eps);
  /* Parameters to layer3: stem conv + bn, per block 3 convs + bns, downsample in block 0. */
  size_t want = 8 * 3 * 49 + 4 * 8;
  int cin = 8;
  for (int s = 0; s < 3; s++)
    for (int b = 0; b < 2; b++) {
      size_t wd = (size_t)d->width[s], o = (size_t)d->out[s];
      want += wd * cin + 4 * wd + wd * wd * 9 + 4 * wd + o * wd + 4 * o;
      if (b == 0)
        want += o * cin + 4 * o;
      cin = d->out[s];
    }
  CHECK(ck.n_params == want, "n_params %zu, expected %zu", ck.n_params, want);

  /* Two tensors where they belong: layer2.0's 3x3 conv and layer3.0's downsample BN var. */
  st_file f;
  CHECK(st_open(&f, golden("narrow_weights")) == 0, "%s", ancd_error());
  const char *names[2] = {"layer2.0.conv2.weight", "layer3.0.downsample.1.running_var"};
  const float *got[2] = {ck.w.blocks[2].conv2.w, ck.w.blocks[4].down.bn_var};
  for (int i = 0; i < 2; i++) {
    const st_tensor *t = st_find(&f, names[i]);
    CHECK(t != NULL, "no %s", names[i]);
    if (!t)
      continue;
    float *v = xmalloc((size_t)t->numel * sizeof *v);
    st_to_f32(v, t);
    CHECK(memcmp(v, got[i], (size_t)t->numel * sizeof *v) == 0, "%s not loaded in place", names[i]);
    free(v);
  }
  st_close(&f);

  /* The forward against torchvision, batch 2, then image 1 alone. */
  st_file g;
  if (st_open(&g, golden("narrow")) != 0) {
    CHECK(0, "%s", ancd_error());
    wrn_checkpoint_free(&ck);
    return;
  }
  const st_tensor *in = st_find(&g, "input");
  CHECK(in && in->rank == 4 && in->shape[0] == 2 && in->shape[1] == 3, "narrow: input");
  if (in && in->rank == 4) {
    const int B = 2, H = (int)in->shape[2], W = (int)in->shape[3];
    float *images = xmalloc((size_t)in->numel * sizeof *images);
    st_to_f32(images, in);
    wrn_model *m = NULL;
    CHECK(wrn_create(&m, d, &ck.w, ops_cpu(), B, H, W) == 0, "%s", ancd_error());
    int C[3], Hl[3], Wl[3];
    wrn_layer_shapes(C, Hl, Wl, d, H, W);
    float *out[3], *one[3];
    for (int l = 0; l < 3; l++) {
      out[l] = xcalloc((size_t)B * C[l] * Hl[l] * Wl[l], sizeof(float));
      one[l] = xcalloc((size_t)C[l] * Hl[l] * Wl[l], sizeof(float));
    }
    CHECK(m && wrn_forward(out, m, images, B, 0) == 0, "%s", ancd_error());
    CHECK(m && wrn_forward(one, m, images + (size_t)3 * H * W, 1, 0) == 0, "%s", ancd_error());
    for (int l = 0; l < 3; l++) {
      char name[16];
      snprintf(name, sizeof name, "layer%d", l + 1);
      const st_tensor *t = st_find(&g, name);
      size_t n = (size_t)B * C[l] * Hl[l] * Wl[l];
      CHECK(t && (size_t)t->numel == n && t->shape[1] == C[l] && t->shape[2] == Hl[l] &&
                t->shape[3] == Wl[l],
            "narrow: %s shape", name);
      if (!t || (size_t)t->numel != n)
        continue;
      float *ref = xmalloc(n * sizeof *ref);
      st_to_f32(ref, t);
      double e = rel_l2(out[l], ref, n);
      printf("narrow layer%d [2,%d,%d,%d] rel_l2 %.2e (tol %.0e)\n", l + 1, C[l], Hl[l], Wl[l], e,
             REL_TOL);
      CHECK(e <= REL_TOL, "narrow layer%d: rel_l2 %.3e", l + 1, e);
      /* batch independence: image 1 alone gives image 1 of the batch (the GEMMs may split
       * their rows differently, so to rounding) */
      double e1 = rel_l2(one[l], out[l] + n / 2, n / 2);
      CHECK(e1 <= 1e-6, "narrow layer%d: image 1 alone differs from the batch's: rel_l2 %.3e",
            l + 1, e1);
      free(ref);
    }
    CHECK(wrn_forward(out, m, images, 3, 0) != 0 && strstr(ancd_error(), "1..2"),
          "batch 3 > max_batch 2 accepted: %s", ancd_error());
    /* im2col columns for one image of the largest conv (the stem): it runs image by image */
    wrn_model *m1 = NULL;
    wrn_set_cols_budget(1);
    CHECK(wrn_create(&m1, d, &ck.w, ops_cpu(), B, H, W) == 0, "%s", ancd_error());
    wrn_set_cols_budget(0);
    float *chunked[3];
    for (int l = 0; l < 3; l++)
      chunked[l] = xcalloc((size_t)B * C[l] * Hl[l] * Wl[l], sizeof(float));
    CHECK(m1 && wrn_forward(chunked, m1, images, B, 0) == 0, "%s", ancd_error());
    for (int l = 0; l < 3; l++) {
      double e = rel_l2(chunked[l], out[l], (size_t)B * C[l] * Hl[l] * Wl[l]);
      CHECK(e <= 1e-6, "layer%d: chunked im2col differs: rel_l2 %.3e", l + 1, e);
      free(chunked[l]);
    }
    wrn_free(m1);
    for (int l = 0; l < 3; l++)
      free(out[l]), free(one[l]);
    free(images);
    wrn_free(m);
  }
  st_close(&g);
  wrn_checkpoint_free(&ck);
}

/* A copy that must fail to load with an error containing `want` and the file's path. */
static void expect_error(const char *name, const st_file *src, const char *drop,
                         const char *reshape, const int64_t *shape, const char *want) {
  char path[8192];
  PATHF(path, "%s/%s.safetensors", test_tmpdir("wrn_load_bad"), name);
  write_copy(path, src, "", drop, reshape, shape);
  wrn_checkpoint ck;
  int rc = wrn_load(&ck, path);
  const char *err = ancd_error();
  printf("%-14s -> %s\n", name, err);
  CHECK(rc != 0, "%s: loaded", name);
  CHECK(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'", name, err, want);
  CHECK(strstr(err, path) != NULL, "%s: error '%s' lacks the path", name, err);
  CHECK(ck.storage == NULL && ck.w.blocks == NULL, "%s: checkpoint not left empty", name);
  if (rc == 0)
    wrn_checkpoint_free(&ck);
}

static void test_variants(void) {
  st_file src;
  if (st_open(&src, golden("narrow_weights")) != 0) {
    CHECK(0, "%s", ancd_error());
    return;
  }
  /* DataParallel's "module." prefix: the same model. */
  char path[8192];
  PATHF(path, "%s/module.safetensors", test_tmpdir("wrn_load_module"));
  write_copy(path, &src, "module.", NULL, NULL, NULL);
  wrn_checkpoint ck;
  int rc = wrn_load(&ck, path);
  CHECK(rc == 0, "module. prefix: %s", ancd_error());
  if (rc == 0) {
    CHECK(!strcmp(ck.prefix, "module.") && ck.desc.blocks[2] == 2 && ck.desc.out[2] == 128,
          "module. prefix: prefix '%s', blocks %d, out %d", ck.prefix, ck.desc.blocks[2],
          ck.desc.out[2]);
    wrn_checkpoint_free(&ck);
  }

  expect_error("missing", &src, "layer2.1.bn2.running_var", NULL, NULL,
               "missing tensor 'layer2.1.bn2.running_var'");
  expect_error("wrong_shape", &src, NULL, "layer3.0.conv2.weight", (const int64_t[]){64, 64, 9, 1},
               "tensor 'layer3.0.conv2.weight' has shape [64, 64, 9, 1], expected [64, 64, 3, 3]");
  expect_error("no_downsample", &src, "layer1.0.downsample.0.weight", NULL, NULL,
               "missing tensor 'layer1.0.downsample.0.weight'");
  expect_error("no_stem", &src, "conv1.weight", NULL, NULL, "no torchvision ResNet keys");
  expect_error("basicblock", &src, "layer1.0.conv3.weight", NULL, NULL,
               "BasicBlock ResNets (resnet18/34) are not supported");
  st_close(&src);
}

int main(void) {
  PATHF(golden_dir, "%s/tests/golden/wrn", test_source_dir());
  test_narrow();
  test_variants();
  return test_done("test_wrn_load");
}
