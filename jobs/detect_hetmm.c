/* HETMM in `ancd detect` (detect_hetmm.h; musc_hetmm_spec Part B). */
#include "detect_hetmm.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category_loop.h"
#include "check_mpi.h"
#include "error.h"
#include "log.h"
#include "ops.h"
#include "optics.h"
#include "partition.h"
#include "templates_h5.h"

/* ---- configuration ---- */

/* The value of a per-layer list for layer l: its own entry, or the one entry for every layer. */
static int layer_int(const cfg_ints *v, int l) { return v->v[v->n == 1 ? 0 : l]; }
static double layer_float(const cfg_floats *v, int l) { return v->v[v->n == 1 ? 0 : l]; }

int hetmm_check_config(const config *c, const char *category) {
  const cfg_hetmm *h = &c->hetmm;
  const int nl = c->detect.layers.n;
  const struct {
    const char *key;
    int n;
  } lists[] = {{"hetmm.fwd_windows", h->fwd_windows.n},
               {"hetmm.bwd_windows", h->bwd_windows.n},
               {"hetmm.alpha", h->alpha.n},
               {"hetmm.lambda", h->lambda.n}};
  if (nl > HETMM_MAX_LAYERS) {
    log_error("detect.layers (category %s): HETMM takes at most %d layers, got %d", category,
              HETMM_MAX_LAYERS, nl);
    return ANCD_EXIT_USAGE;
  }
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
    if (lists[i].n != 1 && lists[i].n != nl) {
      log_error("%s (category %s): %d values for %d detect.layers; give one per layer or one for "
                "all",
                lists[i].key, category, lists[i].n, nl);
      return ANCD_EXIT_USAGE;
    }
  for (int l = 0; l < nl; l++)
    if (layer_int(&h->fwd_windows, l) % 2 == 0 || layer_int(&h->bwd_windows, l) % 2 == 0) {
      log_error("hetmm.fwd_windows / hetmm.bwd_windows (category %s): windows must be odd, got "
                "%d / %d for layer %d",
                category, layer_int(&h->fwd_windows, l), layer_int(&h->bwd_windows, l), l + 1);
      return ANCD_EXIT_USAGE;
    }
  const char *keys[] = {"hetmm.post_image", "hetmm.post_pixel", "hetmm.post_pro"};
  const char *texts[] = {h->post_image, h->post_pixel, h->post_pro};
  for (int i = 0; i < 3; i++) {
    hetmm_post p;
    if (hetmm_post_parse(&p, texts[i]) != 0) {
      log_error("%s (category %s): %s", keys[i], category, ancd_error());
      return ANCD_EXIT_USAGE;
    }
    if (i > 0 && p.kind == HETMM_PP_MP) {
      log_error("%s (category %s): mp_k gives an image score, not a map; use clean or blur",
                keys[i], category);
      return ANCD_EXIT_USAGE;
    }
  }
  return 0;
}

static int key_in(const char *key, const char *prefix) {
  size_t n = strlen(prefix);
  return !strncmp(key, prefix, n) && (key[n] == '\0' || key[n] == '.');
}

static int templates_selected(const char *key, const void *ctx) {
  const config *c = ctx;
  if (!strcmp(key, "dataset.name") || !strcmp(key, "dataset.categories"))
    return 0;
  if (!strcmp(key, "seed"))
    return !strcmp(c->backbone.weights, "random");
  if (!strcmp(key, "hetmm.tsize"))
    return !strcmp(c->hetmm.templates, "pts");
  return key_in(key, "dataset") || key_in(key, "backbone") || !strcmp(key, "device") ||
         !strcmp(key, "precision") || !strcmp(key, "detect.image_size") ||
         !strcmp(key, "detect.layers") || !strcmp(key, "hetmm.templates");
}

void hetmm_templates_key(char out[STAGE_KEY_LEN], const config *c) {
  char *text = config_keys_text(c, templates_selected, c);
  uint64_t h = fnv1a64(FNV1A64_INIT, "templates\n");
  h = fnv1a64(h, text);
  free(text);
  snprintf(out, STAGE_KEY_LEN, "%016llx", (unsigned long long)h);
}

/* ---- features ---- */

/* Unit feature maps of images items[i0, i0 + B): feats[l] [B, h, w, C]; rgb [B, S, S, 3] or NULL.
 * batch [B, 3, S, S] and maps[l] [B, C, h, w] are scratch. */
static int batch_features(float **feats, uint8_t *rgb, float *batch, float **maps,
                          const ds_item *items, int B, const hetmm_job *j) {
  const int S = j->in->S;
  const size_t px = (size_t)S * S;
  int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
  for (int b = 0; b < B; b++)
    if (detect_load_image(batch + (size_t)b * 3 * px, rgb ? rgb + (size_t)b * px * 3 : NULL,
                          items[b].path, S, j->in->resize, j->in->mean, j->in->std) != 0) {
      log_error("category %s: %s", j->category, ancd_error());
      failed++;
    }
  if (failed)
    return ANCD_EXIT_INPUT;
  int rc = j->bb->forward(j->bb, maps, batch, B);
  if (rc) {
    log_error("category %s: %s", j->category, ancd_error());
    return rc;
  }
  hetmm_features(feats, maps, j->bb, B);
  for (int l = 0; l < j->bb->n_layers; l++) {
    const size_t n = (size_t)B * j->bb->h[l] * j->bb->w[l] * j->bb->C[l];
    for (size_t i = 0; i < n; i++)
      if (!isfinite(feats[l][i])) {
        log_error("category %s: %s: NaN or Inf in the features of layer %d", j->category,
                  items[i / (n / B)].path, l + 1);
        return ANCD_EXIT_INPUT;
      }
  }
  return 0;
}

/* Scratch of batch_features for batches of up to bb->max_batch. */
typedef struct {
  float *batch, *maps[HETMM_MAX_LAYERS], *feats[HETMM_MAX_LAYERS];
} feat_scratch;

static void scratch_alloc(feat_scratch *s, const hetmm_job *j) {
  const hetmm_backbone *bb = j->bb;
  const size_t B = (size_t)bb->max_batch;
  s->batch = xmalloc(B * 3 * j->in->S * j->in->S * sizeof(float));
  for (int l = 0; l < bb->n_layers; l++) {
    const size_t n = B * bb->C[l] * bb->h[l] * bb->w[l];
    s->maps[l] = xmalloc(n * sizeof(float));
    s->feats[l] = xmalloc(n * sizeof(float));
  }
}

static void scratch_free(feat_scratch *s, int n_layers) {
  free(s->batch);
  for (int l = 0; l < n_layers; l++) {
    free(s->maps[l]);
    free(s->feats[l]);
  }
}

/* ---- templates ---- */

/* The normal training images on every rank (scanned and validated on group rank 0). */
static int normal_items(ds_item **items, int *n, const hetmm_job *j) {
  int rc = 0;
  ds_manifest m = {0};
  if (j->rank == 0) {
    ds_report rep = {0};
    if (ds_scan_train_normals(&m, &j->cfg->dataset, j->category) != 0 ||
        ds_validate_ex(&m, &rep, j->cfg->io.max_bad_fraction, 1) != 0) {
      log_error("category %s: %s", j->category, ancd_error());
      rc = ANCD_EXIT_INPUT;
    } else if (m.n == 0) {
      log_error("category %s has no normal training images (dataset.layout %s): HETMM "
                "(detect.method: hetmm) builds its templates from them; use detect.method: musc "
                "for this category",
                j->category, j->cfg->dataset.layout);
      rc = ANCD_EXIT_INPUT;
    }
    ds_report_free(&rep);
  }
  rc = agree_rc(rc, j->comm);
  if (rc) {
    ds_free(&m);
    return rc;
  }
  CHECK_MPI(MPI_Bcast(&m.n, 1, MPI_INT, 0, j->comm));
  *n = m.n;
  *items = xmalloc(((size_t)m.n + 1) * sizeof **items);
  if (j->rank == 0)
    memcpy(*items, m.items, (size_t)m.n * sizeof **items);
  ds_free(&m);
  CHECK_MPI(MPI_Bcast(*items, (int)(*n * sizeof **items), MPI_BYTE, 0, j->comm));
  return 0;
}

/* MPI_Allgatherv of rows of `unit` floats: all[counts.. displs..] from own. */
static void allgather_rows(float *all, const float *own, size_t unit, const int *counts,
                           const int *displs, const hetmm_job *j) {
  MPI_Datatype row;
  CHECK_MPI(MPI_Type_contiguous((int)unit, MPI_FLOAT, &row));
  CHECK_MPI(MPI_Type_commit(&row));
  CHECK_MPI(MPI_Allgatherv(own, counts[j->rank], row, all, counts, displs, row, j->comm));
  CHECK_MPI(MPI_Type_free(&row));
}

/* §B.5.1 ALL: t->t[l] [P, N, C] from every rank's share of the normal images. */
static int build_all(hetmm_templates *t, const ds_item *items, int N, const hetmm_job *j) {
  const hetmm_backbone *bb = j->bb;
  const int B = bb->max_batch;
  int *counts = xmalloc((size_t)j->size * sizeof *counts);
  int *displs = xmalloc((size_t)j->size * sizeof *displs);
  partition_counts(counts, displs, N, j->size, B); /* whole batches: rank-count independent */
  const int first = displs[j->rank], n_own = counts[j->rank];
  float *own[HETMM_MAX_LAYERS];
  for (int l = 0; l < bb->n_layers; l++)
    own[l] = xmalloc(((size_t)n_own * bb->h[l] * bb->w[l] * bb->C[l] + 1) * sizeof(float));
  feat_scratch s;
  scratch_alloc(&s, j);
  char label[96];
  snprintf(label, sizeof label, "templates %.60s", j->category);
  progress p;
  progress_start(&p, label, n_own);
  int rc = 0;
  for (int i0 = 0; i0 < n_own && !rc; i0 += B) {
    int nb = n_own - i0 < B ? n_own - i0 : B;
    rc = batch_features(s.feats, NULL, s.batch, s.maps, items + first + i0, nb, j);
    for (int l = 0; l < bb->n_layers && !rc; l++) {
      const size_t unit = (size_t)bb->h[l] * bb->w[l] * bb->C[l];
      memcpy(own[l] + (size_t)i0 * unit, s.feats[l], (size_t)nb * unit * sizeof(float));
    }
    progress_update(&p, i0 + nb);
  }
  progress_finish(&p);
  scratch_free(&s, bb->n_layers);
  rc = agree_rc(rc, j->comm);
  t->n_layers = bb->n_layers;
  t->K = N;
  for (int l = 0; l < bb->n_layers && !rc; l++) {
    const int C = bb->C[l];
    const size_t P = (size_t)bb->h[l] * bb->w[l], unit = P * C;
    float *all = xmalloc((size_t)N * unit * sizeof(float));
    allgather_rows(all, own[l], unit, counts, displs, j);
    t->C[l] = C;
    t->h[l] = bb->h[l];
    t->w[l] = bb->w[l];
    t->t[l] = xmalloc((size_t)N * unit * sizeof(float));
#pragma omp parallel for schedule(static)
    for (long pn = 0; pn < (long)(P * N); pn++) { /* [N, P, C] -> [P, N, C] */
      const size_t pp = (size_t)pn / N, n = (size_t)pn % N;
      memcpy(t->t[l] + ((size_t)pp * N + n) * C, all + (n * P + pp) * C, (size_t)C * sizeof(float));
    }
    free(all);
  }
  for (int l = 0; l < bb->n_layers; l++)
    free(own[l]);
  free(counts);
  free(displs);
  return rc;
}

/* §B.5.2-§B.5.3 PTS: per layer, the positions are shared out over the ranks; each runs OPTICS
 * (distance 1 - a.b in double, as sklearn's callable on float64 rows) and PTS on its positions;
 * the K sheets of every position are gathered. all (ALL) is replaced by the PTS set. */
static int build_pts(hetmm_templates *t, int K, int min_samples, const hetmm_job *j) {
  const int N = t->K;
  int *counts = xmalloc((size_t)j->size * sizeof *counts);
  int *displs = xmalloc((size_t)j->size * sizeof *displs);
  long clusters = 0, positions = 0;
  (void)ops_cpu(); /* single-threaded BLAS inside the OpenMP loop */
  for (int l = 0; l < t->n_layers; l++) {
    const int C = t->C[l], P = t->h[l] * t->w[l];
    partition_counts(counts, displs, P, j->size, 1);
    const int p0 = displs[j->rank], np = counts[j->rank];
    float *own = xmalloc(((size_t)np * K * C + 1) * sizeof(float));
#pragma omp parallel reduction(+ : clusters)
    {
      double *x = xmalloc((size_t)N * C * sizeof *x), *d = xmalloc((size_t)N * N * sizeof *d);
      float *gram = xmalloc((size_t)N * N * sizeof *gram);
      int *labels = xmalloc((size_t)N * sizeof *labels),
          *picked = xmalloc((size_t)K * sizeof *picked);
#pragma omp for schedule(dynamic, 1)
      for (int i = 0; i < np; i++) {
        const float *sheets = t->t[l] + (size_t)(p0 + i) * N * C;
        for (size_t k = 0; k < (size_t)N * C; k++)
          x[k] = sheets[k];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, C, 1.0, x, C, x, C, 0.0, d, N);
        for (size_t k = 0; k < (size_t)N * N; k++)
          d[k] = 1.0 - d[k];
        clusters += optics_xi(labels, NULL, NULL, NULL, NULL, d, N, min_samples, 0.05);
        hetmm_pts_position(own + (size_t)i * K * C, picked, gram, sheets, labels, N, C, K);
      }
      free(x);
      free(d);
      free(gram);
      free(labels);
      free(picked);
    }
    positions += np;
    float *pts = xmalloc((size_t)P * K * C * sizeof(float));
    allgather_rows(pts, own, (size_t)K * C, counts, displs, j);
    free(own);
    free(t->t[l]);
    t->t[l] = pts;
  }
  t->K = K;
  long sums[2] = {clusters, positions};
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_LONG, MPI_SUM, j->comm));
  if (j->rank == 0)
    log_info("category %s: PTS: %d sheets per position from %d normal images (OPTICS "
             "min_samples %d: %.1f clusters per position on average)",
             j->category, K, N, min_samples, sums[1] ? (double)sums[0] / sums[1] : 0.0);
  free(counts);
  free(displs);
  return 0;
}

int hetmm_templates_get(hetmm_templates *t, const hetmm_job *j) {
  const cfg_hetmm *h = &j->cfg->hetmm;
  char key[STAGE_KEY_LEN];
  hetmm_templates_key(key, j->cfg);
  memset(t, 0, sizeof *t);
  int st = 0;
  if (j->rank == 0) { /* every rank reads a valid file; rank 0 decides whether there is one */
    char have[STAGE_KEY_LEN] = "";
    st = stage_file_check(j->dir, "templates.h5", have);
    if (st == 0 && strcmp(have, key) != 0)
      st = TEMPLATES_STALE;
    if (st == TEMPLATES_STALE)
      log_info("category %s: templates.h5 was made with another backbone or template setting: "
               "recomputing",
               j->category);
    else if (st < 0)
      log_warn("category %s: %s: recomputing the templates", j->category, ancd_error());
  }
  CHECK_MPI(MPI_Bcast(&st, 1, MPI_INT, 0, j->comm));
  if (st == 0) {
    int rc = templates_h5_read(t, j->dir, key) == 0 ? 0 : ANCD_EXIT_INPUT;
    if (rc)
      log_error("category %s: %s", j->category, ancd_error());
    rc = agree_rc(rc, j->comm);
    for (int l = 0; l < t->n_layers && !rc; l++)
      if (t->n_layers != j->bb->n_layers || t->C[l] != j->bb->C[l] || t->h[l] != j->bb->h[l] ||
          t->w[l] != j->bb->w[l])
        rc = ANCD_EXIT_INPUT;
    if (!rc) {
      if (j->rank == 0)
        log_info("category %s: %d template sheets (%s) read from templates.h5", j->category, t->K,
                 h->templates);
      return 0;
    }
    hetmm_templates_free(t);
    if (j->rank == 0)
      log_error("category %s: templates.h5 does not fit the backbone's layers", j->category);
    return ANCD_EXIT_INPUT;
  }

  ds_item *items = NULL;
  int N = 0;
  int rc = normal_items(&items, &N, j);
  const int pts = !strcmp(h->templates, "pts");
  int min_samples = pts ? optics_min_samples(N, h->tsize) : 0;
  if (!rc && pts && min_samples < 0) { /* §B.5.2: N // K = 0, which sklearn rejects */
    if (j->rank == 0)
      log_error("category %s: hetmm.tsize %d is larger than its %d normal training images: "
                "OPTICS' min_samples = N // K would be 0 (the reference fails there); use "
                "hetmm.tsize <= %d or hetmm.templates: all",
                j->category, h->tsize, N, N);
    rc = ANCD_EXIT_INPUT;
  }
  if (!rc && pts && N / h->tsize == 1 && j->rank == 0)
    log_info("category %s: N // K = %d // %d = 1: OPTICS min_samples = N = %d (sklearn 0.24, "
             "which the reference pinned; sklearn >= 1.2 rejects 1)",
             j->category, N, h->tsize, min_samples);
  double t0 = now_seconds();
  if (!rc)
    rc = build_all(t, items, N, j);
  double t1 = now_seconds();
  if (!rc && pts)
    rc = build_pts(t, h->tsize, min_samples, j);
  if (!rc && j->rank == 0)
    log_info("category %s: templates from %d normal images: features %.1f s%s", j->category, N,
             t1 - t0, pts ? "" : " (all sheets)");
  if (!rc && pts && j->rank == 0)
    log_info("category %s: OPTICS + PTS %.1f s", j->category, now_seconds() - t1);
  if (!rc) {
    int wrc = 0;
    if (j->rank == 0 && templates_h5_write(j->dir, t, key, j->bb->text, h->templates, N) != 0) {
      log_error("category %s: %s", j->category, ancd_error());
      wrc = ANCD_EXIT_INPUT;
    }
    rc = agree_rc(wrc, j->comm);
  }
  free(items);
  if (rc)
    hetmm_templates_free(t);
  return rc;
}

/* ---- matching ---- */

int hetmm_score_images(float *maps, float *pro, double *scores, uint8_t *rgb, double *macs,
                       double *match_s, const hetmm_templates *t, const ds_item *items, int n,
                       const hetmm_job *j) {
  const cfg_hetmm *h = &j->cfg->hetmm;
  const hetmm_backbone *bb = j->bb;
  const int B = bb->max_batch, S = j->in->S;
  const size_t SS = (size_t)S * S;
  hetmm_post pp_img, pp_pix, pp_pro;
  if (hetmm_post_parse(&pp_img, h->post_image) || hetmm_post_parse(&pp_pix, h->post_pixel) ||
      hetmm_post_parse(&pp_pro, h->post_pro)) {
    log_error("category %s: %s", j->category, ancd_error());
    return ANCD_EXIT_USAGE;
  }
  feat_scratch s;
  scratch_alloc(&s, j);
  float *fused = xmalloc((size_t)B * SS * sizeof *fused);
  size_t pmax = 1;
  for (int l = 0; l < bb->n_layers; l++)
    pmax = (size_t)bb->h[l] * bb->w[l] > pmax ? (size_t)bb->h[l] * bb->w[l] : pmax;
  float *fwd = xmalloc((size_t)B * pmax * sizeof *fwd),
        *bwd = xmalloc((size_t)B * pmax * sizeof *bwd);
  char label[96];
  snprintf(label, sizeof label, "hetmm %.60s", j->category);
  progress p;
  progress_start(&p, label, n);
  int rc = 0;
  for (int i0 = 0; i0 < n && !rc; i0 += B) {
    const int nb = n - i0 < B ? n - i0 : B;
    rc = batch_features(s.feats, rgb ? rgb + (size_t)i0 * SS * 3 : NULL, s.batch, s.maps,
                        items + i0, nb, j);
    if (rc)
      break;
    memset(fused, 0, (size_t)nb * SS * sizeof *fused);
    for (int l = 0; l < bb->n_layers; l++) { /* §B.6 per layer, then the weighted sum */
      const int df = layer_int(&h->fwd_windows, l) / 2, db = layer_int(&h->bwd_windows, l) / 2;
      double m0 = now_seconds();
      hetmm_match_layer(fwd, bwd, s.feats[l], t->t[l], nb, bb->h[l], bb->w[l], bb->C[l], t->K, df,
                        db);
      *match_s += now_seconds() - m0;
      *macs += hetmm_match_macs(nb, bb->h[l], bb->w[l], bb->C[l], t->K, df, db);
      hetmm_fuse_layer(fused, fwd, bwd, nb, bb->h[l], bb->w[l], S, layer_float(&h->alpha, l),
                       layer_float(&h->lambda, l));
    }
    for (int b = 0; b < nb; b++) { /* §B.7 per metric */
      const float *f = fused + (size_t)b * SS;
      const size_t k = (size_t)(i0 + b);
      hetmm_post_map(maps + k * SS, f, S, &pp_pix);
      if (pro)
        hetmm_post_map(pro + k * SS, f, S, &pp_pro);
      scores[k] = hetmm_image_score(f, S, &pp_img);
      int finite = isfinite(scores[k]);
      for (size_t i = 0; i < SS && finite; i++)
        finite = isfinite(maps[k * SS + i]);
      if (!finite) {
        log_error("category %s: %s: NaN or Inf in the anomaly map", j->category, items[k].path);
        rc = ANCD_EXIT_INPUT;
      }
    }
    progress_update(&p, i0 + nb);
  }
  progress_finish(&p);
  free(fwd);
  free(bwd);
  free(fused);
  scratch_free(&s, bb->n_layers);
  return rc;
}
