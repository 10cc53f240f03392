/* The comparison of one MGRL training step and 3 SGD steps with the PyTorch golden of
 * tests/golden/gen_train_golden.py (tests/golden/train/README.md): every loss term and every
 * trainable gradient within 1e-4 relative (L2 over the tensor), f, z and the logits too, the
 * total loss of steps 2 and 3, and the parameters after 3 steps within 1e-5 relative over all of
 * them together (each tensor within 1e-4: the projector biases start at 0, so after 3 steps they
 * are pure accumulated update and carry the gradients' own float32 error, 1.9e-5 even in
 * PyTorch's float32 run). Shared by test_train_golden.c (tiny ViT) and real_train_golden.c
 * (ViT-Ti/16 on MTD crops); header-only test code. */
#ifndef ANCD_TRAIN_GOLDEN_H
#define ANCD_TRAIN_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ncd_step.h"
#include "safetensors.h"
#include "test_util.h"

#define GOLDEN_TOL 1e-4       /* losses, outputs, gradients: relative L2 per tensor */
#define GOLDEN_STEP3_TOL 1e-5 /* parameters after 3 steps, all together */

/* A golden tensor as floats (malloc'ed), or NULL with a failed check. */
static float *golden_floats(const st_file *g, const char *name, int64_t numel) {
  const st_tensor *t = st_find(g, name);
  CHECK(t != NULL, "golden lacks %s", name);
  if (!t)
    return NULL;
  CHECK(t->numel == numel, "golden %s has %lld values, want %lld", name, (long long)t->numel,
        (long long)numel);
  if (t->numel != numel)
    return NULL;
  float *x = malloc((size_t)numel * sizeof *x + 1);
  st_to_f32(x, t);
  return x;
}

/* Relative L2 error of got against the golden tensor `name` (absolute when it is all zero). */
static double golden_compare(const st_file *g, const char *name, const float *got, int64_t n,
                             double tol) {
  float *want = golden_floats(g, name, n);
  if (!want)
    return INFINITY;
  double e = 0, r = 0;
  for (int64_t i = 0; i < n; i++) {
    e += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
    r += (double)want[i] * want[i];
  }
  free(want);
  double rel = r > 0 ? sqrt(e / r) : sqrt(e);
  if (getenv("ANCD_TEST_VERBOSE"))
    printf("  %-40s rel %.3g\n", name, rel);
  CHECK(rel <= tol, "%s: relative L2 error %.3g > %.0e", name, rel, tol);
  return rel;
}

static void golden_compare_scalar(const st_file *g, const char *name, double got) {
  float v = (float)got;
  golden_compare(g, name, &v, 1, GOLDEN_TOL);
}

/* The golden's per-sample inputs and its 3-step run on model m (ops_cpu), with the head
 * parameters set to the golden's initial values; images [2B,3,S,S], masks [2B,S,S]. */
static void golden_train_check(const st_file *g, mgvit *m, const float *images, const float *masks,
                               int B, int C, int check_step3) {
  const int N = 2 * B, D = mgvit_dim(m), Z = 256;
  /* Heads start where the golden's start. */
  for (int i = 0; i < mgvit_n_tensors(m); i++) {
    const mgvit_tensor *t = mgvit_tensor_at(m, i);
    if (strncmp(t->name, "head.", 5))
      continue;
    char name[96];
    snprintf(name, sizeof name, "init.%s", t->name);
    float *x = golden_floats(g, name, (int64_t)t->n);
    if (x)
      mgvit_tensor_set(m, mgvit_params(m), t, x);
    free(x);
  }
  float *base = golden_floats(g, "input.base", B), *labels = golden_floats(g, "input.labels", B);
  float *score = golden_floats(g, "input.scores", B);
  if (!base || !labels || !score)
    return;
  uint8_t is_base[64];
  int label[64];
  for (int i = 0; i < B; i++) {
    is_base[i] = base[i] != 0.0f;
    label[i] = is_base[i] ? (int)labels[i] : 0;
  }
  ncd_loss_cfg lc;
  ncd_loss_cfg_default(&lc);
  ncd_step_work w;
  ncd_step_work_init(&w, m, B, Z, C);
  ncd_loss_terms t;
  float *steps_total = golden_floats(g, "loss.steps_total", 3);
  for (int s = 0; s < 3; s++) {
    ncd_step_cfg sc = {.teacher_temp = 0.07,
                       .lr = 0.003f,
                       .momentum = 0.9f,
                       .weight_decay = 5e-5f,
                       .first_step = s == 0,
                       .step = s + 1};
    int rc = ncd_step(m, &t, &w, images, masks, is_base, label, score, B, NULL, &lc, &sc);
    CHECK(rc == 0, "step %d: %s", s + 1, rc < 0 ? ancd_error() : "skipped");
    if (rc != 0)
      break;
    if (steps_total)
      CHECK(fabs(t.total - steps_total[s]) <= GOLDEN_TOL * fabs(steps_total[s]),
            "step %d total %.9g, golden %.9g", s + 1, t.total, steps_total[s]);
    if (s > 0)
      continue;
    /* Step 1: outputs, every loss term, every gradient (the step's SGD leaves them). */
    golden_compare(g, "out.f", w.f, (int64_t)N * D, GOLDEN_TOL);
    golden_compare(g, "out.z", w.z, (int64_t)N * Z, GOLDEN_TOL);
    golden_compare(g, "out.logits", w.logits, (int64_t)MGVIT_HEADS * N * C, GOLDEN_TOL);
    golden_compare_scalar(g, "loss.total", t.total);
    golden_compare_scalar(g, "loss.con", t.con);
    golden_compare_scalar(g, "loss.supcon", t.supcon);
    golden_compare_scalar(g, "loss.cls", t.cls);
    golden_compare_scalar(g, "loss.clu", t.clu);
    float heads[4][MGVIT_HEADS];
    for (int h = 0; h < MGVIT_HEADS; h++) {
      heads[0][h] = (float)t.cls_head[h];
      heads[1][h] = (float)t.dist_head[h];
      heads[2][h] = (float)t.me_head[h];
      heads[3][h] = (float)t.clu_head[h];
    }
    golden_compare(g, "loss.cls_head", heads[0], MGVIT_HEADS, GOLDEN_TOL);
    golden_compare(g, "loss.dist_head", heads[1], MGVIT_HEADS, GOLDEN_TOL);
    golden_compare(g, "loss.me_head", heads[2], MGVIT_HEADS, GOLDEN_TOL);
    golden_compare(g, "loss.clu_head", heads[3], MGVIT_HEADS, GOLDEN_TOL);
    int n_golden_grads = 0; /* grad.<name>, or grad_rows.<name>: the first rows of a large one */
    for (int i = 0; i < g->n; i++)
      n_golden_grads += !strncmp(g->tensors[i].name, "grad.", 5) ||
                        !strncmp(g->tensors[i].name, "grad_rows.", 10);
    CHECK(n_golden_grads == mgvit_n_tensors(m), "golden has %d gradients, ancd trains %d tensors",
          n_golden_grads, mgvit_n_tensors(m));
    for (int i = 0; i < mgvit_n_tensors(m); i++) {
      const mgvit_tensor *tt = mgvit_tensor_at(m, i);
      float *x = malloc(tt->n * sizeof *x);
      mgvit_tensor_get(m, mgvit_grads(m), tt, x);
      char name[96];
      snprintf(name, sizeof name, "grad.%s", tt->name);
      if (!st_find(g, name)) {
        snprintf(name, sizeof name, "grad_rows.%s", tt->name);
        const st_tensor *rows = st_find(g, name);
        CHECK(rows && rows->rank == 2 && rows->shape[1] == tt->shape[1] &&
                  rows->numel <= (int64_t)tt->n,
              "golden lacks the gradient of %s", tt->name);
        if (rows)
          golden_compare(g, name, x, rows->numel, GOLDEN_TOL); /* the tensor's first rows */
      } else {
        golden_compare(g, name, x, (int64_t)tt->n, GOLDEN_TOL);
      }
      free(x);
    }
  }
  /* After 3 steps: every tensor within 1e-4, all of them together within 1e-5. */
  double e_all = 0, r_all = 0;
  for (int i = 0; check_step3 && i < mgvit_n_tensors(m); i++) {
    const mgvit_tensor *tt = mgvit_tensor_at(m, i);
    float *x = malloc(tt->n * sizeof *x);
    mgvit_tensor_get(m, mgvit_params(m), tt, x);
    char name[96];
    snprintf(name, sizeof name, "step3.%s", tt->name);
    golden_compare(g, name, x, (int64_t)tt->n, GOLDEN_TOL);
    float *want = golden_floats(g, name, (int64_t)tt->n);
    for (size_t k = 0; want && k < tt->n; k++) {
      e_all += ((double)x[k] - want[k]) * ((double)x[k] - want[k]);
      r_all += (double)want[k] * want[k];
    }
    free(want);
    free(x);
  }
  double rel_all = sqrt(e_all / (r_all > 0 ? r_all : 1));
  if (check_step3) {
    printf("parameters after 3 steps: relative L2 error %.3g over all trainable tensors\n",
           rel_all);
    CHECK(rel_all <= GOLDEN_STEP3_TOL, "parameters after 3 steps: %.3g > %.0e", rel_all,
          GOLDEN_STEP3_TOL);
  }
  free(steps_total);
  free(base);
  free(labels);
  free(score);
  ncd_step_work_free(&w);
}

#endif
