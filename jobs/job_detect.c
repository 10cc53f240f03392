/* ancd detect: MuSc (musc_hetmm_spec Part A; issue 4) or HETMM (Part B; issue 14, the steps in
 * detect_hetmm.c) anomaly maps and scores for every test image of every category. Categories go
 * round-robin to the groups of parallel.group_size ranks; inside a group each rank runs the ViT on
 * its contiguous shard, MSM sends the features round a ring (mpi/msm_dist.c), and group rank 0 does
 * RsCIN and the metrics. Per category: maps.h5 (written last, so a complete maps.h5 means the
 * category is done and a rerun skips it), metrics.json, optional heat maps and exported PNG maps;
 * per dataset: tables.md / tables.csv.
 *
 * Every rank of a group takes part in every collective: each step returns an exit code that
 * the ranks agree on (MPI_MAX) before the next collective, so a failing rank never leaves the
 * others waiting. Exit codes: 0 ok, 1 data error (the message names the category and file),
 * 2 usage error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category_loop.h"
#include "cli.h"
#include "dataset.h"
#include "detect_hetmm.h"
#include "detect_inputs.h"
#include "detect_outputs.h"
#include "detect_store.h"
#include "error.h"
#include "features_h5.h"
#include "fsutil.h"
#include "h5store.h"
#include "log.h"
#include "metrics.h"
#include "msm_dist.h"
#include "musc.h"
#include "output_paths.h"
#include "partition.h"
#include "pyrandom.h"
#include "stage_key.h"
#include "stages.h"
#include "vit.h"
#include "wideresnet.h"
#include "world.h"

/* One category's run on one rank of its group. */
typedef struct {
  const config *cfg;
  const char *category;
  const char *export_dir; /* --export-maps, or NULL */
  MPI_Comm comm;
  int rank, size; /* in the group */
  char dir[OUTPUT_PATH_LEN];
  char hash[STAGE_KEY_LEN]; /* the stage key of maps.h5 (stage_key.h) */

  ds_item *items; /* [n] test images, manifest order, on every rank */
  int n, has_masks;
  int first, n_own; /* this rank's images [first, first + n_own) */
  int *counts, *displs;
  /* detect.reference: train (issue 13): the normal train images, scored against, never scored. */
  ds_item *refs;      /* [n_ref] on every rank */
  int n_ref;          /* 0 when zero-shot */
  int r_first, r_own; /* this rank's references [r_first, r_first + r_own) */

  detect_backbone bb;
  int S, h, L, T, C, E, has_cls, n_layers;
  float **taps;                  /* [n_layers][n_own, T, C] */
  float **ref_taps;              /* [n_layers][r_own, T, C] */
  float *embed;                  /* [n_own, E] */
  uint8_t *rgb;                  /* [n_own, S, S, 3] when heat maps are drawn */
  double *acc;                   /* [n_own, L] MSM patch scores */
  float *maps;                   /* [n_own, S, S] */
  uint8_t *masks;                /* [n_own, S, S] when has_masks */
  double *scores, *scores_rscin; /* [n] on every rank */
  uint8_t *labels;               /* [n] */
  int hetmm;                     /* detect.method: hetmm */
  int wrn;                       /* backbone.* names a WideResNet (HETMM only) */
  hetmm_backbone hbb;            /* HETMM's feature maps (the ViT or the WRN through the hook) */
  hetmm_templates tmpl;          /* HETMM's template sheets */
  float *pro;                    /* [n_own, S, S] HETMM's AUPRO map when post_pro differs */
  const char **paths, **types;   /* [n] */
} detect_run;

/* agree_rc() for a step whose failure message is in ancd_error(): printed once when every rank
 * fails alike (by group rank 0), else by each failing rank. */
static int agree_report(int code, const detect_run *r) {
  int code0 = code;
  CHECK_MPI(MPI_Bcast(&code0, 1, MPI_INT, 0, r->comm));
  if (code && (r->rank == 0 || !code0))
    log_error("category %s: %s", r->category, ancd_error());
  return agree_rc(code, r->comm);
}

/* MPI_Gatherv of this rank's rows (unit elements of type each) to group rank 0. */
static void gather_rows(void *all, const void *own, int unit, MPI_Datatype type,
                        const detect_run *r) {
  MPI_Datatype row;
  CHECK_MPI(MPI_Type_contiguous(unit, type, &row));
  CHECK_MPI(MPI_Type_commit(&row));
  static char dummy[8];
  CHECK_MPI(MPI_Gatherv(own ? own : dummy, r->n_own, row, all ? all : dummy, r->counts, r->displs,
                        row, 0, r->comm));
  CHECK_MPI(MPI_Type_free(&row));
}

static int all_finite_f(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return 0;
  return 1;
}

/* ---- step 2: the test images of the category, scanned and validated on group rank 0 ---- */

/* detect.reference: train (group rank 0): the category's normal train images of the validated
 * manifest, into r->refs. A category without any is an error naming it. */
static int take_references(detect_run *r, const ds_manifest *m) {
  r->refs = xmalloc(((size_t)m->n + 1) * sizeof *r->refs);
  r->n_ref = 0;
  for (int i = 0; i < m->n; i++)
    if (ds_is_train_normal(&m->items[i]))
      r->refs[r->n_ref++] = m->items[i];
  if (r->n_ref > 0)
    return 0;
  log_error("category %s: detect.reference: train, but the category has no normal training "
            "images (%s layout under %s); use detect.reference: none",
            r->category, r->cfg->dataset.layout, r->cfg->dataset.root);
  return ANCD_EXIT_INPUT;
}

/* The references from group rank 0 to every rank. */
static void share_references(detect_run *r) {
  CHECK_MPI(MPI_Bcast(&r->n_ref, 1, MPI_INT, 0, r->comm));
  if (r->n_ref == 0)
    return;
  if (r->rank != 0)
    r->refs = xmalloc((size_t)r->n_ref * sizeof *r->refs);
  MPI_Datatype item;
  CHECK_MPI(MPI_Type_contiguous((int)sizeof(ds_item), MPI_BYTE, &item));
  CHECK_MPI(MPI_Type_commit(&item));
  CHECK_MPI(MPI_Bcast(r->refs, r->n_ref, item, 0, r->comm));
  CHECK_MPI(MPI_Type_free(&item));
}

static int load_items(detect_run *r) {
  int rc = 0;
  ds_manifest m = {0};
  if (r->rank == 0) {
    ds_report rep = {0};
    if (ds_scan(&m, &r->cfg->dataset, r->category) != 0) {
      log_error("%s", ancd_error());
      rc = ANCD_EXIT_INPUT;
    } else {
      /* detect reads the test split (and the normal train images as references): validate
       * just those */
      const int with_refs = !strcmp(r->cfg->detect.reference, "train");
      int kept = 0;
      for (int i = 0; i < m.n; i++)
        if (m.items[i].split == DS_TEST || (with_refs && ds_is_train_normal(&m.items[i])))
          m.items[kept++] = m.items[i];
      m.n = kept;
      if (ds_validate_ex(&m, &rep, r->cfg->io.max_bad_fraction, 1) != 0) {
        log_error("%s", ancd_error());
        rc = ANCD_EXIT_INPUT;
      }
      ds_report_free(&rep);
      if (!rc && with_refs)
        rc = take_references(r, &m);
      kept = 0;
      for (int i = 0; i < m.n; i++)
        if (m.items[i].split == DS_TEST)
          m.items[kept++] = m.items[i];
      m.n = kept;
    }
  }
  rc = agree_rc(rc, r->comm);
  if (rc) {
    ds_free(&m);
    return rc;
  }
  share_references(r);
  int head[2] = {m.n, m.has_masks};
  CHECK_MPI(MPI_Bcast(head, 2, MPI_INT, 0, r->comm));
  r->n = head[0];
  r->has_masks = head[1];
  r->items = xmalloc(((size_t)r->n + 1) * sizeof *r->items);
  if (r->rank == 0)
    memcpy(r->items, m.items, (size_t)r->n * sizeof *r->items);
  ds_free(&m);
  MPI_Datatype item;
  CHECK_MPI(MPI_Type_contiguous((int)sizeof(ds_item), MPI_BYTE, &item));
  CHECK_MPI(MPI_Type_commit(&item));
  CHECK_MPI(MPI_Bcast(r->items, r->n, item, 0, r->comm));
  CHECK_MPI(MPI_Type_free(&item));
  if (r->n < 2 - r->hetmm) {
    if (r->rank == 0)
      log_error("category %s: %s needs at least %d test image%s, found %d", r->category,
                r->hetmm ? "HETMM" : "MuSc", 2 - r->hetmm, r->hetmm ? "" : "s", r->n);
    return ANCD_EXIT_INPUT;
  }

  r->labels = xmalloc((size_t)r->n);
  r->paths = xmalloc((size_t)r->n * sizeof *r->paths);
  r->types = xmalloc((size_t)r->n * sizeof *r->types);
  for (int i = 0; i < r->n; i++) {
    r->labels[i] = (uint8_t)r->items[i].label;
    r->paths[i] = r->items[i].path;
    r->types[i] = r->items[i].type;
  }
  r->counts = xmalloc((size_t)r->size * sizeof *r->counts);
  r->displs = xmalloc((size_t)r->size * sizeof *r->displs);
  /* Shards are whole batches (boundaries at global multiples of detect.batch_size), so every
   * image meets the same batch-mates whatever the rank count: the ViT's GEMMs then see the same
   * shapes and the features do not depend on the rank count. */
  partition_counts(r->counts, r->displs, r->n, r->size, r->cfg->detect.batch_size);
  r->first = r->displs[r->rank];
  r->n_own = r->counts[r->rank];
  if (r->n_ref > 0) { /* the references shard the same way */
    int *rc_counts = xmalloc((size_t)r->size * sizeof *rc_counts),
        *rc_displs = xmalloc((size_t)r->size * sizeof *rc_displs);
    partition_counts(rc_counts, rc_displs, r->n_ref, r->size, r->cfg->detect.batch_size);
    r->r_first = rc_displs[r->rank];
    r->r_own = rc_counts[r->rank];
    free(rc_counts);
    free(rc_displs);
  }
  return 0;
}

/* ---- step 3: the backbone ---- */

/* musc §A.4 (detect_inputs.c), or HETMM's WideResNet (issue 14: hetmm_backbone_wrn.c); the model
 * is sized for this rank's batches. */
static int load_backbone(detect_run *r) {
  const int B = r->cfg->detect.batch_size; /* HETMM also runs the normal images: whole batches */
  int rc = r->wrn ? hetmm_backbone_wrn(&r->hbb, &r->bb, r->cfg, B)
                  : detect_backbone_load(&r->bb, r->cfg,
                                         B < r->n_own || r->hetmm ? B
                                         : r->n_own > 0           ? r->n_own
                                                                  : 1);
  if (rc)
    return rc;
  r->S = r->bb.S;
  r->h = r->bb.h;
  r->L = r->bb.L;
  r->T = r->bb.T;
  r->C = r->bb.C;
  r->E = r->bb.E;
  r->has_cls = r->T - r->L;
  r->n_layers = r->cfg->detect.layers.n;
  return 0;
}

/* ---- step 4: features of this rank's images ---- */

/* Decodes and preprocesses images [i0, i0 + B) of a shard (items, rgb: its first image) into
 * batch [B, 3, S, S]. */
static int load_batch(const detect_run *r, float *batch, uint8_t *rgb, const ds_item *items, int i0,
                      int B) {
  const size_t px = (size_t)r->S * r->S;
  int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
  for (int b = 0; b < B; b++) {
    int k = i0 + b;
    if (detect_load_image(batch + (size_t)b * 3 * px, rgb ? rgb + (size_t)k * px * 3 : NULL,
                          items[k].path, r->S, r->bb.resize, r->bb.mean, r->bb.std) != 0) {
      log_error("category %s: %s", r->category, ancd_error());
      failed++;
    }
  }
  return failed ? ANCD_EXIT_INPUT : 0;
}

/* NaN/Inf in the taps or the embedding of image k of a shard: an error naming the image. */
static int check_features(const detect_run *r, float **taps, const float *embed,
                          const ds_item *items, int k) {
  const size_t tc = (size_t)r->T * r->C;
  for (int l = 0; l < r->n_layers; l++)
    if (!all_finite_f(taps[l] + (size_t)k * tc, tc)) {
      log_error("category %s: %s: NaN or Inf in the features of block %d", r->category,
                items[k].path, r->cfg->detect.layers.v[l]);
      return ANCD_EXIT_INPUT;
    }
  if (!all_finite_f(embed + (size_t)k * r->E, (size_t)r->E)) {
    log_error("category %s: %s: NaN or Inf in the image embedding", r->category, items[k].path);
    return ANCD_EXIT_INPUT;
  }
  return 0;
}

/* The ViT taps [n_layers][n, T, C] and embeddings [n, E] of a shard's n images (items), and
 * their RGB pixels when rgb is not NULL. */
static int extract_shard(const detect_run *r, float **taps, float *embed, uint8_t *rgb,
                         const ds_item *items, int n, const char *what) {
  const int B = r->cfg->detect.batch_size;
  const size_t px = (size_t)r->S * r->S, tc = (size_t)r->T * r->C;
  float *batch = xmalloc(((size_t)(B < n ? B : n) * 3 * px + 1) * sizeof(float));
  float **tap_out = xmalloc((size_t)r->n_layers * sizeof *tap_out);
  char label[96];
  snprintf(label, sizeof label, "%s %.60s", what, r->category);
  progress p;
  progress_start(&p, label, n);
  int rc = 0;
  for (int i0 = 0; i0 < n && !rc; i0 += B) {
    int nb = n - i0 < B ? n - i0 : B;
    rc = load_batch(r, batch, rgb, items, i0, nb);
    for (int l = 0; l < r->n_layers; l++)
      tap_out[l] = taps[l] + (size_t)i0 * tc;
    if (!rc && vit_forward(r->bb.model, batch, nb, r->cfg->detect.layers.v, r->n_layers, tap_out,
                           embed + (size_t)i0 * r->E, NULL) != 0) {
      log_error("category %s: %s", r->category, ancd_error());
      rc = ANCD_EXIT_INPUT;
    }
    for (int k = i0; k < i0 + nb && !rc; k++)
      rc = check_features(r, taps, embed, items, k);
    progress_update(&p, i0 + nb);
  }
  progress_finish(&p);
  free(tap_out);
  free(batch);
  return rc;
}

static float **alloc_taps(const detect_run *r, int n) {
  float **taps = xcalloc((size_t)r->n_layers, sizeof *taps);
  for (int l = 0; l < r->n_layers; l++)
    taps[l] = xmalloc(((size_t)n * r->T * r->C + 1) * sizeof(float));
  return taps;
}

static void free_taps(const detect_run *r, float **taps) {
  if (taps)
    for (int l = 0; l < r->n_layers; l++)
      free(taps[l]);
  free(taps);
}

/* This rank's test images, then its references (their embeddings are not used). */
static int extract_features(detect_run *r) {
  r->taps = alloc_taps(r, r->n_own);
  r->embed = xmalloc(((size_t)r->n_own * r->E + 1) * sizeof(float));
  if (strcmp(r->cfg->detect.vis, "none"))
    r->rgb = xmalloc((size_t)r->n_own * r->S * r->S * 3 + 1);
  int rc = extract_shard(r, r->taps, r->embed, r->rgb, r->items + r->first, r->n_own, "extract");
  if (!rc && r->n_ref > 0) {
    r->ref_taps = alloc_taps(r, r->r_own);
    float *embed = xmalloc(((size_t)r->r_own * r->E + 1) * sizeof(float));
    rc = extract_shard(r, r->ref_taps, embed, NULL, r->refs + r->r_first, r->r_own, "references");
    free(embed);
  }
  return rc;
}

/* detect.keep_features (issue 13): the pool's taps and embeddings in features.h5, for `ancd
 * predict`; written before maps.h5, which marks the category done. */
static int write_features(detect_run *r) {
  const char **ref_paths = xmalloc(((size_t)r->n_ref + 1) * sizeof *ref_paths);
  for (int i = 0; i < r->n_ref; i++)
    ref_paths[i] = r->refs[i].path;
  const features_record fr = {.n = r->n,
                              .n_ref = r->n_ref,
                              .n_layers = r->n_layers,
                              .T = r->T,
                              .C = r->C,
                              .E = r->E,
                              .layers = r->cfg->detect.layers.v,
                              .taps = r->taps,
                              .ref_taps = r->ref_taps,
                              .embed = r->embed,
                              .first = r->first,
                              .n_own = r->n_own,
                              .r_first = r->r_first,
                              .r_own = r->r_own,
                              .ref_paths = ref_paths,
                              .stage_key = r->hash,
                              .backbone = r->bb.text};
  int rc = r->rank == 0 ? fs_mkdirs(r->dir) : 0;
  if (h5s_agree(r->comm, rc) == 0)
    rc = features_h5_write(r->dir, &fr, r->comm);
  else
    rc = -1;
  free(ref_paths);
  if (rc && r->rank == 0)
    log_error("category %s: %s", r->category, ancd_error());
  return rc ? ANCD_EXIT_INPUT : 0;
}

/* ---- steps 5-6: subsets, LNAMD and distributed MSM ---- */

/* MSM of one subset: acc rows of this rank's images in it. progress counts (r, layer) pairs. */
static int score_subset(detect_run *r, const int *subset, int s, float *Z, float *Rz,
                        float *scratch, progress *p, long *done) {
  const config *c = r->cfg;
  const size_t lc = (size_t)r->L * r->C, tc = (size_t)r->T * r->C;
  int N_s = 0, first_s = 0, n_s = 0;
  int *own = xmalloc(((size_t)r->n_own + 1) * sizeof *own); /* shard indices in the subset */
  for (int i = 0; i < r->n; i++) {
    if (subset[i] != s)
      continue;
    N_s++;
    if (i < r->first)
      first_s++;
    else if (i < r->first + r->n_own)
      own[n_s++] = i - r->first;
  }
  if (N_s < (r->n_ref > 0 ? 1 : 2)) {
    if (r->rank == 0)
      log_error("category %s: subset %d of detect.divide_num=%d has %d image%s; MuSc needs at "
                "least 2",
                r->category, s, c->detect.divide_num, N_s, N_s == 1 ? "" : "s");
    free(own);
    return ANCD_EXIT_INPUT;
  }
  /* With references the pool is N_s + n_ref images (§A.6.1's K over the enlarged pool). */
  const int N_pool = N_s + r->n_ref, K = msm_k(N_pool, c->detect.topmin_max);
  msm_refs refs = {Rz, r->r_own, r->r_first, r->n_ref, detect_reference_rule(c)};
  if (r->n_ref == 0 && (int)((double)(N_pool - 1) * c->detect.topmin_max) < 1)
    log_info("category %s: %d images%s: MSM uses K = 1 where the reference's K = floor(%g (N - 1)) "
             "= 0 gives NaN maps",
             r->category, N_s, c->detect.divide_num > 1 ? " in the subset" : "",
             c->detect.topmin_max);
  double *acc = xcalloc((size_t)n_s * r->L + 1, sizeof *acc);
  const double weight = 1.0 / ((double)c->detect.r_list.n * r->n_layers);
  int rc = 0;
  for (int ri = 0; ri < c->detect.r_list.n && !rc; ri++) {
    for (int l = 0; l < r->n_layers && !rc; l++) {
      for (int j = 0; j < n_s; j++) /* musc §A.5 per image, then §A.6 over the group */
        lnamd(Z + (size_t)j * lc, scratch, r->taps[l] + (size_t)own[j] * tc, 1, r->T, r->has_cls,
              r->h, r->h, r->C, c->detect.r_list.v[ri]);
      for (int j = 0; j < r->r_own; j++)
        lnamd(Rz + (size_t)j * lc, scratch, r->ref_taps[l] + (size_t)j * tc, 1, r->T, r->has_cls,
              r->h, r->h, r->C, c->detect.r_list.v[ri]);
      if (msm_distributed(acc, weight, Z, n_s, first_s, N_s, r->L, r->C, K,
                          r->n_ref > 0 ? &refs : NULL, r->comm) != 0) {
        if (r->rank == 0)
          log_error("category %s: %s", r->category, ancd_error());
        rc = ANCD_EXIT_INPUT;
      }
      progress_update(p, ++*done);
    }
  }
  for (int j = 0; j < n_s; j++)
    memcpy(r->acc + (size_t)own[j] * r->L, acc + (size_t)j * r->L, (size_t)r->L * sizeof *acc);
  free(acc);
  free(own);
  return rc;
}

static int score_patches(detect_run *r) {
  const config *c = r->cfg;
  int *group = xmalloc(((size_t)r->n + 1) * sizeof *group);
  int *subset = xmalloc(((size_t)r->n + 1) * sizeof *subset);
  detect_parent_groups(group, r->items, r->n);
  pyrandom_divide(subset, group, r->n, c->detect.divide_num, 42); /* MuSc's fixed seed */
  r->acc = xcalloc((size_t)r->n_own * r->L + 1, sizeof *r->acc);
  float *Z = xmalloc(((size_t)r->n_own * r->L * r->C + 1) * sizeof(float));
  float *Rz = xmalloc(((size_t)r->r_own * r->L * r->C + 1) * sizeof(float));
  float *scratch = xmalloc(lnamd_scratch_floats(r->h, r->h, r->C) * sizeof(float));
  char label[96];
  snprintf(label, sizeof label, "msm %.60s", r->category);
  progress p;
  progress_start(&p, label, (long)c->detect.divide_num * c->detect.r_list.n * r->n_layers);
  long done = 0;
  int rc = 0;
  for (int s = 0; s < c->detect.divide_num && !rc; s++)
    rc = score_subset(r, subset, s, Z, Rz, scratch, &p, &done);
  progress_finish(&p);
  free(scratch);
  free(Rz);
  free(Z);
  free(subset);
  free(group);
  /* The taps are not needed any more: give their memory back before the maps. */
  free_taps(r, r->taps);
  free_taps(r, r->ref_taps);
  r->taps = r->ref_taps = NULL;
  return rc;
}

/* ---- step 7: maps, scores, RsCIN ---- */

static int make_maps(detect_run *r) {
  const size_t px = (size_t)r->S * r->S;
  r->maps = xmalloc(((size_t)r->n_own * px + 1) * sizeof(float));
  double *own_scores = xmalloc(((size_t)r->n_own + 1) * sizeof *own_scores);
  int rc = 0;
  for (int k = 0; k < r->n_own; k++) {
    own_scores[k] =
        upsample_bilinear_ac(r->maps + (size_t)k * px, r->acc + (size_t)k * r->L, r->h, r->h, r->S);
    if (!rc && (!isfinite(own_scores[k]) || !all_finite_f(r->maps + (size_t)k * px, px))) {
      log_error("category %s: %s: NaN or Inf in the anomaly map", r->category,
                r->items[r->first + k].path);
      rc = ANCD_EXIT_INPUT;
    }
  }
  rc = agree_rc(rc, r->comm);
  if (!rc) {
    r->scores = xmalloc((size_t)r->n * sizeof *r->scores);
    r->scores_rscin = xmalloc((size_t)r->n * sizeof *r->scores_rscin);
    float *embed_all = r->rank == 0 ? xmalloc((size_t)r->n * r->E * sizeof(float)) : NULL;
    gather_rows(r->scores, own_scores, 1, MPI_DOUBLE, r);
    gather_rows(embed_all, r->embed, r->E, MPI_FLOAT, r);
    if (r->rank == 0) {
      const cfg_ints *win = detect_rscin_windows(r->cfg);
      rscin(r->scores_rscin, r->scores, embed_all, r->n, r->E, win->v, win->n);
      int equal = 1;
      for (int i = 1; i < r->n; i++)
        equal &= r->scores[i] == r->scores[0];
      if (equal && win->n > 0)
        log_warn("category %s: every raw score is %g: RsCIN's min-max is 0/0 (NaN in the "
                 "reference); ancd gives 0 to every image",
                 r->category, r->scores[0]);
    }
    CHECK_MPI(MPI_Bcast(r->scores, r->n, MPI_DOUBLE, 0, r->comm));
    CHECK_MPI(MPI_Bcast(r->scores_rscin, r->n, MPI_DOUBLE, 0, r->comm));
    free(embed_all);
  }
  free(own_scores);
  return rc;
}

/* ---- steps 4-7 for HETMM (musc_hetmm_spec Part B; detect_hetmm.c) ---- */

static int run_hetmm(detect_run *r) {
  const config *c = r->cfg;
  const size_t px = (size_t)r->S * r->S;
  if (!r->wrn) /* the WRN's hook is made with its weights (load_backbone) */
    hetmm_backbone_vit(&r->hbb, &r->bb, c->detect.layers.v, r->n_layers, c->detect.batch_size);
  hetmm_job j = {.cfg = c,
                 .category = r->category,
                 .dir = r->dir,
                 .comm = r->comm,
                 .rank = r->rank,
                 .size = r->size,
                 .in = &r->bb,
                 .bb = &r->hbb};
  int rc = 0;
  if (r->rank == 0 && fs_mkdirs(r->dir) != 0) {
    log_error("category %s: %s", r->category, ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  rc = agree_rc(rc, r->comm);
  if (!rc)
    rc = hetmm_templates_get(&r->tmpl, &j); /* collective, agreed */
  if (rc)
    return rc;
  r->maps = xmalloc(((size_t)r->n_own * px + 1) * sizeof(float));
  if (strcmp(c->hetmm.post_pro, c->hetmm.post_pixel))
    r->pro = xmalloc(((size_t)r->n_own * px + 1) * sizeof(float));
  if (strcmp(c->detect.vis, "none"))
    r->rgb = xmalloc((size_t)r->n_own * px * 3 + 1);
  double *own_scores = xmalloc(((size_t)r->n_own + 1) * sizeof *own_scores);
  double stat[2] = {0, 0}; /* multiply-adds of the matching, its seconds */
  double t0 = now_seconds();
  rc = hetmm_score_images(r->maps, r->pro, own_scores, r->rgb, &stat[0], &stat[1], &r->tmpl,
                          r->items + r->first, r->n_own, &j);
  double dt = now_seconds() - t0;
  rc = agree_rc(rc, r->comm);
  if (!rc) {
    double sum[2], slow[2] = {dt, stat[1]};
    CHECK_MPI(MPI_Reduce(stat, sum, 2, MPI_DOUBLE, MPI_SUM, 0, r->comm));
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, slow, 2, MPI_DOUBLE, MPI_MAX, r->comm));
    if (r->rank == 0)
      log_info("category %s: HETMM %d images x %d sheets: %.1f ms per image (matching %.1f ms), "
               "matching %.1f GFLOP/s over the group",
               r->category, r->n, r->tmpl.K, 1e3 * slow[0] / r->n * r->size,
               1e3 * slow[1] / r->n * r->size, slow[1] > 0 ? 2e-9 * sum[0] / slow[1] : 0.0);
    r->scores = xmalloc((size_t)r->n * sizeof *r->scores);
    r->scores_rscin = xmalloc((size_t)r->n * sizeof *r->scores_rscin);
    gather_rows(r->scores, own_scores, 1, MPI_DOUBLE, r);
    CHECK_MPI(MPI_Bcast(r->scores, r->n, MPI_DOUBLE, 0, r->comm));
    /* HETMM has no RsCIN: both score columns hold its image score (§B.7) */
    memcpy(r->scores_rscin, r->scores, (size_t)r->n * sizeof *r->scores);
  }
  free(own_scores);
  return rc;
}

/* ---- step 8: ground truth ---- */

static int load_masks(detect_run *r) {
  if (!r->has_masks)
    return 0;
  const size_t px = (size_t)r->S * r->S;
  const int visa = !strcmp(r->cfg->dataset.layout, "visa");
  r->masks = xmalloc((size_t)r->n_own * px + 1);
  int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
  for (int k = 0; k < r->n_own; k++)
    if (detect_load_mask(r->masks + (size_t)k * px, &r->items[r->first + k], r->S, visa) != 0) {
      log_error("category %s: %s", r->category, ancd_error());
      failed++;
    }
  return failed ? ANCD_EXIT_INPUT : 0;
}

/* ---- step 9: metrics, heat maps, exported maps (rank 0), maps.h5 (every rank) ---- */

static int write_results_rank0(const detect_run *r, float *maps_all, uint8_t *masks_all,
                               uint8_t *rgb_all, const float *pro_all) {
  const int n = r->n, S = r->S;
  float *scores = xmalloc((size_t)n * sizeof *scores);
  for (int i = 0; i < n; i++) /* the reference's RsCIN output is float32 (musc §A.7.1) */
    scores[i] = (float)r->scores_rscin[i];
  ad_metrics m;
  ad_metrics_compute(&m, scores, r->labels, maps_all, masks_all, n, S, S);
  free(scores);
  if (pro_all && masks_all) /* HETMM: AUPRO on its own post-processed map (§B.7) */
    m.aupro = metric_aupro(pro_all, masks_all, n, S, S);
  char reason[256];
  detect_metrics_reason(reason, sizeof reason, &m, r->labels, r->n, r->has_masks);
  int rc = fs_mkdirs(r->dir);
  if (rc == 0)
    rc = metrics_json_write(r->dir, &m, n, r->hash, reason[0] ? reason : NULL);
  double pro_hetmm = NAN; /* §B.8, an extra column when asked: not the standard AUPRO */
  if (rc == 0 && r->hetmm && r->cfg->hetmm.pro_variant) {
    pro_hetmm =
        masks_all ? metric_pro_hetmm(pro_all ? pro_all : maps_all, masks_all, n, S, S) : NAN;
    rc = metrics_json_add(r->dir, "pro_hetmm", pro_hetmm);
  }
  if (rc == 0 && strcmp(r->cfg->detect.vis, "none")) {
    char vis[OUTPUT_PATH_LEN + 8];
    snprintf(vis, sizeof vis, "%s/vis", r->dir);
    rc = heatmaps_write(vis, r->cfg->detect.vis, maps_all, rgb_all, r->labels, n, S, r->paths,
                        r->types);
  }
  if (rc == 0 && r->export_dir)
    rc = export_maps_png(r->export_dir, r->category, maps_all, n, S, r->paths, r->types);
  if (rc != 0) {
    log_error("category %s: %s", r->category, ancd_error());
    return ANCD_EXIT_INPUT;
  }
  log_info("category %s: AUROC-cls %.2f  AP-cls %.2f  F1-cls %.2f  AUROC-px %.2f  AUPRO %.2f",
           r->category, 100 * m.auroc_cls, 100 * m.ap_cls, 100 * m.f1max_cls, 100 * m.auroc_px,
           100 * m.aupro);
  if (isfinite(pro_hetmm))
    log_info("category %s: HETMM's own PRO (§B.8, both axes rescaled; not AUPRO) %.2f", r->category,
             100 * pro_hetmm);
  return 0;
}

static int write_results(detect_run *r) {
  const size_t px = (size_t)r->S * r->S;
  float *maps_all = NULL, *pro_all = NULL;
  uint8_t *masks_all = NULL, *rgb_all = NULL;
  if (r->rank == 0) {
    maps_all = xmalloc((size_t)r->n * px * sizeof *maps_all);
    pro_all = r->pro ? xmalloc((size_t)r->n * px * sizeof *pro_all) : NULL;
    masks_all = r->has_masks ? xmalloc((size_t)r->n * px) : NULL;
    rgb_all = r->rgb ? xmalloc((size_t)r->n * px * 3) : NULL;
  }
  gather_rows(maps_all, r->maps, (int)px, MPI_FLOAT, r);
  if (r->pro)
    gather_rows(pro_all, r->pro, (int)px, MPI_FLOAT, r);
  if (r->has_masks)
    gather_rows(masks_all, r->masks, (int)px, MPI_UINT8_T, r);
  if (r->rgb)
    gather_rows(rgb_all, r->rgb, (int)px * 3, MPI_UINT8_T, r);
  int rc = 0;
  if (r->rank == 0)
    rc = write_results_rank0(r, maps_all, masks_all, rgb_all, pro_all);
  free(maps_all);
  free(pro_all);
  free(masks_all);
  free(rgb_all);
  rc = agree_rc(rc, r->comm);
  if (rc)
    return rc;
  /* Last: a complete maps.h5 marks the category done. */
  maps_record rec = {.n = r->n,
                     .size = r->S,
                     .maps = r->maps,
                     .first = r->first,
                     .n_own = r->n_own,
                     .scores = r->scores,
                     .scores_rscin = r->scores_rscin,
                     .labels = r->labels,
                     .paths = r->paths,
                     .types = r->types,
                     .masks = r->masks,
                     .cfg = r->cfg,
                     .stage_key = r->hash,
                     .backbone = r->bb.text,
                     .category = r->category};
  if (maps_h5_write(r->dir, &rec, r->comm) != 0) {
    if (r->rank == 0)
      log_error("category %s: %s", r->category, ancd_error());
    return ANCD_EXIT_INPUT;
  }
  return 0;
}

static void run_free(detect_run *r) {
  if (r->hbb.free)
    r->hbb.free(&r->hbb);
  hetmm_templates_free(&r->tmpl);
  free(r->pro);
  detect_backbone_free(&r->bb);
  free_taps(r, r->taps);
  free_taps(r, r->ref_taps);
  free(r->refs);
  free(r->embed);
  free(r->rgb);
  free(r->acc);
  free(r->maps);
  free(r->masks);
  free(r->scores);
  free(r->scores_rscin);
  free(r->labels);
  free(r->paths);
  free(r->types);
  free(r->counts);
  free(r->displs);
  free(r->items);
}

/* ---- one category ---- */

/* 1 when the category is complete with these settings (decided on group rank 0). A stale or
 * damaged maps.h5 is removed first, so that a complete maps.h5 always belongs to the
 * metrics.json beside it (written before it); a damaged one is reported. Returns -1 when it
 * cannot be removed. */
static int already_done(const detect_run *r) {
  int done = 0;
  if (r->rank == 0) {
    char path[OUTPUT_PATH_LEN + 16];
    maps_h5_path(path, sizeof path, r->dir);
    detect_state st = detect_category_state(r->dir, r->hash);
    done = st == DETECT_DONE;
    char fpath[OUTPUT_PATH_LEN + 16], fkey[STAGE_KEY_LEN] = "";
    snprintf(fpath, sizeof fpath, "%s/%s", r->dir, FEATURES_FILE);
    if (done && r->cfg->detect.keep_features &&
        (h5s_read_root_str(fpath, "stage_key", fkey, sizeof fkey) != 0 || strcmp(fkey, r->hash))) {
      log_info("category %s: detect.keep_features: %s is missing or stale: recomputing (the maps "
               "come out the same)",
               r->category, fpath);
      done = 0;
    }
    if (st == DETECT_STALE)
      log_info("category %s: %s was made with other dataset, backbone or detect settings: "
               "recomputing",
               r->category, path);
    if (st == DETECT_DAMAGED)
      log_warn("category %s: %s: recomputing", r->category, ancd_error());
    if ((st == DETECT_STALE || st == DETECT_DAMAGED) && remove(path) != 0 && errno != ENOENT) {
      /* the new file still replaces it when published */
      log_error("category %s: cannot remove %s: %s", r->category, path, strerror(errno));
    }
  }
  CHECK_MPI(MPI_Bcast(&done, 1, MPI_INT, 0, r->comm));
  return done;
}

/* " and N normal references (rule)" for the log (one buffer: rank 0's log line). */
static const char *ref_note(const detect_run *r) {
  static char note[96];
  snprintf(note, sizeof note, " and %d normal reference%s (%s)", r->n_ref, r->n_ref == 1 ? "" : "s",
           r->cfg->detect.reference_score);
  return note;
}

/* Runs the pipeline (a category_run_fn: ctx is --export-maps DIR or NULL); *n_images gets the
 * number of images scored (0 when skipped). */
static int detect_category(const void *export_dir, const config *c, const char *category,
                           const world *w, long *n_images) {
  detect_run r = {.cfg = c,
                  .category = category,
                  .export_dir = export_dir,
                  .comm = w->group_comm,
                  .rank = w->group_rank,
                  .size = w->group_size,
                  .hetmm = !strcmp(c->detect.method, "hetmm")};
  *n_images = 0;
  output_category_dir(r.dir, sizeof r.dir, c, category);
  stage_key(r.hash, STAGE_DETECT, c, "");
  int done = already_done(&r);
  if (done < 0)
    return ANCD_EXIT_INPUT;
  if (done) {
    log_info("category %s: skipped (complete: %s/maps.h5, stage key %s)", category, r.dir, r.hash);
    return 0;
  }
  double t0 = now_seconds();
  int rc = 0;
  if (r.hetmm) { /* rank 0 looks, so that a file is opened once */
    if (r.rank == 0 && (r.wrn = detect_backbone_is_wrn(c, NULL, 0)) < 0)
      rc = ANCD_EXIT_INPUT;
    rc = agree_report(rc, &r);
    CHECK_MPI(MPI_Bcast(&r.wrn, 1, MPI_INT, 0, r.comm));
  }
  if (!rc)
    rc = load_items(&r);
  if (!rc)
    rc = agree_report(load_backbone(&r), &r);
  if (!rc) {
    if (r.rank == 0)
      log_info("category %s: %s, %d test images%s on %d rank%s, %s, %d px, %s %d..%d", category,
               r.hetmm ? "HETMM" : "MuSc", r.n, r.n_ref ? ref_note(&r) : "", r.size,
               r.size == 1 ? "" : "s", r.bb.text, r.S, r.wrn ? "stages" : "blocks",
               c->detect.layers.v[0], c->detect.layers.v[c->detect.layers.n - 1]);
    if (r.hetmm)
      rc = run_hetmm(&r);
    else
      rc = agree_rc(extract_features(&r), r.comm);
  }
  if (!rc && !r.hetmm && c->detect.keep_features)
    rc = write_features(&r);
  if (!rc && !r.hetmm)
    rc = agree_rc(score_patches(&r), r.comm);
  if (!rc && !r.hetmm)
    rc = make_maps(&r);
  if (!rc)
    rc = agree_rc(load_masks(&r), r.comm);
  if (!rc)
    rc = write_results(&r);
  if (!rc) {
    double dt = now_seconds() - t0;
    log_info("category %s: %d images in %.1f s (%.2f images/s)", category, r.n, dt,
             dt > 0 ? r.n / dt : 0.0);
    *n_images = r.n;
  }
  run_free(&r);
  return rc;
}

/* ---- the job ---- */

/* Usage checks on a category's config before any work. */
static int check_config(const config *c, const char *category) {
  if (!strcmp(c->detect.method, "hetmm") &&
      (strcmp(c->detect.reference, "none") || c->detect.keep_features)) {
    log_error("category %s: detect.reference and detect.keep_features are MuSc's (HETMM always "
              "matches against the normal training images; `ancd predict` needs MuSc's pool)",
              category);
    return ANCD_EXIT_USAGE;
  }
  if (!strcmp(c->detect.method, "hetmm"))
    return hetmm_check_config(c, category);
  if (strcmp(c->detect.method, "musc")) {
    log_error("detect.method %s (category %s): not implemented yet; use musc or hetmm",
              c->detect.method, category);
    return ANCD_EXIT_USAGE;
  }
  int rc = detect_check_vit_arch(c, category, "MuSc takes a ViT");
  if (rc)
    return rc;
  if (c->detect.topmin_min != 0.0) {
    log_error("detect.topmin_min %g: only 0 is supported (the interval average of the K "
              "smallest distances, as every MuSc setting)",
              c->detect.topmin_min);
    return ANCD_EXIT_USAGE;
  }
  return 0;
}

/* `ancd run`'s stage: no exports. */
static int detect_category_run(const void *cs, const config *c, const char *category,
                               const world *w, long *n_images) {
  (void)cs;
  return detect_category(NULL, c, category, w, n_images);
}
const job_stage stage_detect = {"detect", NULL, check_config, detect_category_run};

static int detect_all(const config_set *cs, world *w, const void *export_dir) {
  world_split(w, cs->base.parallel.group_size);
  cfg_names *cats = xmalloc(sizeof *cats);
  long all = 0; /* images over the groups */
  double dt = 0;
  int rc = categories_run(cats, &all, &dt, cs, w, check_config, detect_category, export_dir);
  if (rc != ANCD_EXIT_USAGE && w->rank == 0) {
    int trc = detect_write_tables(cs, cats);
    if (!rc)
      rc = trc;
    if (all > 0)
      log_info("detect: %ld images in %.1f s end to end: %.2f images/s on %d rank%s", all, dt,
               all / dt, w->size, w->size == 1 ? "" : "s");
  }
  CHECK_MPI(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
  free(cats);
  return rc;
}

int job_detect(int argc, char **argv) {
  const char *export_dir = NULL;
  const cli_opt opts[] = {{"export-maps", 0, CLI_STRING, &export_dir, "DIR",
                           "also write 8-bit PNG maps as DIR/<category>/<type>/<file> "
                           "(AnomalyNCD's layout, one min-max per category)"},
                          {0}};
  const cli_job job = {
      "detect",
      "Anomaly maps and scores for every test image of every category with "
      "MuSc (zero-shot mutual scoring) or HETMM (template matching against the "
      "normal training images; detect.method): OUT/<dataset>/<category>/maps.h5 and "
      "metrics.json, OUT/<dataset>/tables.md and tables.csv. Categories go "
      "round-robin to groups of parallel.group_size ranks; the images of a "
      "category are sharded over its group. Complete categories are skipped.",
      "-c FILE [--set KEY=VALUE ...] [-o DIR] [--export-maps DIR]", opts, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "detect", "its dataset and backbone")) != 0)
    return rc;
  return job_on_world(&a, &argc, &argv, detect_all, export_dir);
}
