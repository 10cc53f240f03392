/* ancd train: AnomalyNCD's mask-guided representation learning (anomalyncd_spec §4, §5) on a
 * category's anomaly-centred crops (regions.h5, the novel samples) and a labelled base set
 * (train.base), into <output>/<dataset>/<category>/model.h5 (issue 10).
 *
 * Data parallel (§10): every rank of the category's group holds the crops and a replica of the
 * trainable parameters; each step's samples are split into contiguous blocks over the ranks,
 * f and z are all-gathered for the batch-level losses and the gradients summed by one all-reduce
 * (mpi/ncd_exchange.c), so the replicas stay bit-identical. Every random choice (the sampler's
 * draws, each view's augmentation) is a pure function of (seed, epoch, draw, view), so the
 * result does not depend on the number of ranks and a resumed run continues exactly.
 *
 * model.h5 is written every train.checkpoint_every epochs, when SIGTERM or SIGUSR1 arrives
 * (a checkpoint at the current step, then exit status 75: what a preempted Slurm job gets), and
 * at the end with finished=1 and the chosen head; a rerun resumes from it, or skips a finished
 * one whose stage key matches. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "base_set.h"
#include "category_loop.h"
#include "cli.h"
#include "curves_svg.h"
#include "detect_inputs.h"
#include "error.h"
#include "h5store.h"
#include "k_estimate.h"
#include "log.h"
#include "mgvit.h"
#include "model_h5.h"
#include "ncd_exchange.h"
#include "ncd_metrics.h"
#include "ncd_model.h"
#include "ncd_schedule.h"
#include "ncd_step.h"
#include "output_paths.h"
#include "partition.h"
#include "regions_h5.h"
#include "rng.h"
#include "sampler.h"
#include "stage_key.h"
#include "stages.h"
#include "wideresnet.h"
#include "world.h"

static volatile sig_atomic_t stop_requested;
static int stopped; /* the ranks agreed to stop: later categories are not started */
static void on_stop(int sig) { stop_requested = sig; }

/* One sample of the merged set (§4): the base crops first, then the novel ones. */
typedef struct {
  int w, h;
  uint8_t *rgb, *mask; /* [h, w, 3], [h, w] */
  int is_base, label;  /* base: the class; novel: the type (metrics only, never a loss) */
  float score;         /* novel: the crop's anomaly score (§3.5) */
} sample;

typedef struct {
  const config *cfg;
  const config_set *cs;
  const char *category;
  MPI_Comm comm;
  int rank, size;
  char dir[OUTPUT_PATH_LEN];
  char key[STAGE_KEY_LEN];

  sample *samples;
  int L, U, K, n_base;
  int K_types, k_est; /* the oracle K (types of the images) and the estimate (0: none) */
  float *features;    /* [U, D] the fresh model's CLS features of the novel crops, or NULL */
  char **classes;     /* [n_base + K] */
  base_set base;
  regions_crop *crops; /* [U] */

  detect_backbone bb;
  mgvit *m;
  model_state st;
} train_run;

/* ---- inputs ---- */

static char *strdup_checked(const char *s) {
  char *d = xmalloc(strlen(s) + 1);
  memcpy(d, s, strlen(s) + 1);
  return d;
}

static int load_novel(train_run *r) {
  char path[OUTPUT_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/%s", r->dir, REGIONS_FILE);
  char regions_key[STAGE_KEY_LEN];
  int st = stage_file_check(r->dir, REGIONS_FILE, regions_key);
  if (st == H5S_MISSING)
    return ancd_errorf("%s is missing: run `ancd regions` first", path);
  if (st != 0)
    return ancd_error_prefix("run `ancd regions` to recompute it: ");
  stage_key(r->key, STAGE_TRAIN, r->cfg, regions_key);
  h5s_file f;
  if (regions_h5_open(&f, path) != 0)
    return -1;
  int n_images = 0, n_types = 0, rc = 0;
  long n_crops = 0;
  char **types = NULL;
  if (regions_h5_counts(&f, &n_images, &n_crops) != 0 ||
      h5s_read_strings(&f, "types", &types, &n_types) != 0)
    rc = -1;
  /* §5.10: K = the type folders of the category's images, good included, sorted. */
  char **names = xcalloc((size_t)n_types + 1, sizeof *names);
  int K = 0;
  for (int i = 0; rc == 0 && i < n_types; i++) {
    int seen = 0;
    for (int k = 0; k < K && !seen; k++)
      seen = !strcmp(names[k], types[i]);
    if (!seen)
      names[K++] = types[i];
  }
  for (int a = 0; a < K; a++) /* insertion sort: a handful of names */
    for (int b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
      char *t = names[b];
      names[b] = names[b - 1];
      names[b - 1] = t;
    }
  r->U = (int)n_crops;
  r->crops = xcalloc((size_t)r->U + 1, sizeof *r->crops);
  r->samples = xrealloc(r->samples, ((size_t)(r->L + r->U) + 1) * sizeof *r->samples);
  int *type_of = xcalloc((size_t)n_types + 1, sizeof *type_of);
  for (int i = 0; i < n_types; i++)
    for (int k = 0; k < K; k++)
      if (!strcmp(names[k], types[i]))
        type_of[i] = k;
  for (long c = 0; rc == 0 && c < n_crops; c++)
    rc = regions_h5_read_crop(&r->crops[c], &f, c);
  h5s_close(&f);
  if (rc == 0) {
    r->K_types = K;
    for (int k = 0; k < r->n_base && rc == 0; k++) /* a base class must not be a novel type */
      for (int j = 0; j < K && rc == 0; j++)
        if (!strcmp(r->base.class_names[k], names[j]))
          rc = ancd_errorf("base class '%s' is also a type of %s: rename one of them (a base "
                           "sample and a novel one cannot share a class)",
                           names[j], r->category);
    for (long c = 0; c < n_crops; c++) {
      sample *s = &r->samples[r->L + c];
      const regions_crop *rc_ = &r->crops[c];
      *s = (sample){.w = rc_->pixels.w,
                    .h = rc_->pixels.h,
                    .rgb = rc_->pixels.data,
                    .mask = rc_->mask.data,
                    .label = type_of[rc_->image_index],
                    .score = rc_->score};
    }
  }
  free(type_of);
  free(names);
  if (types)
    h5s_free_strings(types, n_types);
  return rc;
}

static int load_data(train_run *r) {
  const char *base = r->cfg->train.base;
  if (!base_set_is_none(base)) {
    if (base_set_load(&r->base, base) != 0)
      return ancd_error_prefix("train.base (%s): ",
                               config_origin(r->cs, r->category, "train.base"));
    r->n_base = r->base.n_classes;
    r->L = r->base.n;
  }
  r->samples = xcalloc((size_t)r->L + 1, sizeof *r->samples); /* load_novel appends */
  for (int i = 0; i < r->L; i++) {
    const base_crop *b = &r->base.crops[i];
    r->samples[i] = (sample){
        .w = b->w, .h = b->h, .rgb = b->rgb, .mask = b->mask, .is_base = 1, .label = b->cls};
  }
  if (load_novel(r) != 0)
    return -1;
  if (r->U < r->size)
    return ancd_errorf("%d novel crops for %d ranks: run this category on fewer ranks "
                       "(parallel.group_size)",
                       r->U, r->size);
  return 0;
}

/* ---- K ---- */

/* k-means at the oracle K on the features, scored against the types: what the estimate's
 * features alone would give (a baseline for the trained model, logged). */
static double kmeans_nmi(const double *x, const train_run *r, int D) {
  const int U = r->U;
  int *labels = xmalloc((size_t)U * sizeof *labels), *types = xmalloc((size_t)U * sizeof *types);
  double nmi = NAN;
  if (kmeans_fit(labels, NULL, NULL, x, U, D, r->K_types, K_EST_N_INIT, (uint64_t)r->cfg->seed) ==
      0) {
    for (int i = 0; i < U; i++)
      types[i] = r->samples[r->L + i].label;
    ncd_eval e;
    ncd_evaluate(&e, types, labels, U);
    nmi = e.nmi;
    ncd_eval_free(&e);
  }
  free(labels);
  free(types);
  return nmi;
}

/* The estimate of K from the pretrained backbone's CLS features of the novel crops (§5.3's mask
 * guidance included; k_estimate.h): each rank embeds its block, rank 0 estimates. */
static int estimate_k(train_run *r) {
  r->k_est = 0;
  if (r->U < 3)
    return 0;
  const int per_rank = (r->cfg->train.batch_size + r->size - 1) / r->size;
  mgvit *m = NULL;
  detect_backbone bb = {0};
  int rc = ncd_model_create(&m, &bb, r->cfg, r->cs, r->category, r->n_base + 2, 2 * per_rank);
  if ((rc = agree_rc(rc, r->comm)) != 0) {
    mgvit_free(m);
    detect_backbone_free(&bb);
    return rc;
  }
  const int D = mgvit_dim(m);
  int *counts = xmalloc((size_t)r->size * sizeof *counts);
  int *displs = xmalloc((size_t)r->size * sizeof *displs);
  partition_counts(counts, displs, r->U, r->size, 1);
  float *own = xmalloc(((size_t)counts[r->rank] * D + 1) * sizeof *own);
  float *all = xmalloc(((size_t)r->U * D + 1) * sizeof *all);
  rc = ncd_model_infer(own, NULL, m, r->crops + displs[r->rank], counts[r->rank], bb.mean, bb.std);
  if (!agree_rc(rc, r->comm)) {
    for (int i = 0; i < r->size; i++) {
      counts[i] *= D;
      displs[i] *= D;
    }
    CHECK_MPI(
        MPI_Allgatherv(own, counts[r->rank], MPI_FLOAT, all, counts, displs, MPI_FLOAT, r->comm));
    int k = 0;
    if (r->rank == 0) {
      const k_est_method method =
          strcmp(r->cfg->train.k_method, "silhouette") ? K_EST_EIGENGAP : K_EST_SILHOUETTE;
      const double t0 = now_seconds();
      if (k_estimate(&k, all, r->U, D, 2, r->cfg->train.k_max, method, (uint64_t)r->cfg->seed) !=
          0) {
        log_warn("category %s: no estimate of K: %s", r->category, ancd_error());
        k = 0;
      } else {
        double *x = xmalloc((size_t)r->U * D * sizeof *x);
        for (size_t i = 0; i < (size_t)r->U * D; i++)
          x[i] = all[i];
        log_info("category %s: K estimated %d (%s over k = 2..%d of %d crops' backbone features, "
                 "%.1f s); the images' types give %d; k-means at %d on those features: NMI %.3f",
                 r->category, k, r->cfg->train.k_method, r->cfg->train.k_max, r->U,
                 now_seconds() - t0, r->K_types, r->K_types, kmeans_nmi(x, r, D));
        free(x);
      }
    }
    CHECK_MPI(MPI_Bcast(&k, 1, MPI_INT, 0, r->comm));
    r->k_est = k;
    r->features = all;
    all = NULL;
  }
  free(own);
  free(all);
  free(counts);
  free(displs);
  mgvit_free(m);
  detect_backbone_free(&bb);
  return rc ? ANCD_EXIT_INPUT : 0;
}

/* train.proto_init kmeans (ancd's option; the reference draws them at random, §5.4): each
 * head's novel prototypes start at the k-means centres (head h: seed + h) of the L2-normalised
 * features of the novel crops, scaled to the norm of the random row they replace. Rank 0
 * computes, every rank sets. */
static int init_prototypes(train_run *r) {
  const int D = mgvit_dim(r->m), K = r->K, C = r->n_base + K;
  double *centers = xmalloc((size_t)MGVIT_HEADS * K * D * sizeof *centers);
  int rc = 0;
  if (r->rank == 0) {
    double *x = xmalloc((size_t)r->U * D * sizeof *x);
    int *labels = xmalloc((size_t)r->U * sizeof *labels);
    for (int i = 0; i < r->U; i++) {
      double n2 = 0;
      for (int d = 0; d < D; d++)
        n2 += (double)r->features[(size_t)i * D + d] * r->features[(size_t)i * D + d];
      const double inv = n2 > 0 ? 1 / sqrt(n2) : 0;
      for (int d = 0; d < D; d++)
        x[(size_t)i * D + d] = r->features[(size_t)i * D + d] * inv;
    }
    for (int h = 0; h < MGVIT_HEADS && rc == 0; h++)
      rc = kmeans_fit(labels, centers + (size_t)h * K * D, NULL, x, r->U, D, K, K_EST_N_INIT,
                      (uint64_t)r->cfg->seed + (uint64_t)h);
    free(labels);
    free(x);
  }
  if (agree_rc(rc, r->comm)) {
    free(centers);
    return -1;
  }
  CHECK_MPI(MPI_Bcast(centers, MGVIT_HEADS * K * D, MPI_DOUBLE, 0, r->comm));
  float *v = xmalloc((size_t)C * D * sizeof *v);
  for (int h = 0; h < MGVIT_HEADS; h++) {
    char name[64];
    snprintf(name, sizeof name, "head.last_layer.%d.weight_v", h);
    const mgvit_tensor *t = mgvit_find(r->m, name);
    mgvit_tensor_get(r->m, mgvit_params(r->m), t, v);
    for (int k = 0; k < K; k++) {
      float *row = v + (size_t)(r->n_base + k) * D;
      const double *c = centers + ((size_t)h * K + k) * D;
      double old2 = 0, c2 = 0;
      for (int d = 0; d < D; d++) {
        old2 += (double)row[d] * row[d];
        c2 += c[d] * c[d];
      }
      const double scale = c2 > 0 ? sqrt(old2 / c2) : 0;
      for (int d = 0; d < D && scale > 0; d++)
        row[d] = (float)(c[d] * scale);
    }
    mgvit_tensor_set(r->m, mgvit_params(r->m), t, v);
  }
  if (r->rank == 0)
    log_info("category %s: the %d heads' %d novel prototypes start at the k-means centres of %d "
             "crops' backbone features (train.proto_init: kmeans)",
             r->category, MGVIT_HEADS, K, r->U);
  free(v);
  free(centers);
  return 0;
}

/* K (train.n_novel): the oracle, the config's, or the estimate, which is made in every case
 * (model.h5 records it beside the K used) unless this stage key's model.h5 already holds it.
 * Then the class names: the base classes, then novel_0 .. novel_{K-1}. Returns an exit code. */
static int decide_k(train_run *r) {
  int kept[2] = {0, 0}; /* K and the estimate of a model.h5 of this stage key */
  if (r->rank == 0) {
    char old[STAGE_KEY_LEN] = "";
    model_state s;
    if (stage_file_check(r->dir, MODEL_FILE, old) == 0 && !strcmp(old, r->key) &&
        model_h5_read(&s, r->dir) == 0) {
      kept[0] = s.n_novel;
      kept[1] = s.k_est;
      model_state_free(&s);
    }
  }
  CHECK_MPI(MPI_Bcast(kept, 2, MPI_INT, 0, r->comm));
  const int n_novel = r->cfg->train.n_novel;
  if (kept[0] > 0) {
    r->K = kept[0];
    r->k_est = kept[1];
  } else {
    const int rc = estimate_k(r);
    if (rc != 0)
      return rc;
    r->K = n_novel > 0 ? n_novel : n_novel == 0 ? r->k_est : r->K_types;
  }
  if (r->K < 2) {
    ancd_errorf("K = %d novel class%s: class discovery needs at least 2 (set train.n_novel, %s%s)",
                r->K, r->K == 1 ? "" : "es", config_origin(r->cs, r->category, "train.n_novel"),
                n_novel == 0 && r->U < 3 ? "; an estimate needs at least 3 crops" : "");
    return ANCD_EXIT_INPUT;
  }
  r->classes = xcalloc((size_t)(r->n_base + r->K) + 1, sizeof *r->classes);
  for (int k = 0; k < r->n_base; k++)
    r->classes[k] = strdup_checked(r->base.class_names[k]);
  for (int k = 0; k < r->K; k++) {
    char name[32];
    snprintf(name, sizeof name, "novel_%d", k);
    r->classes[r->n_base + k] = strdup_checked(name);
  }
  return 0;
}

/* ---- model and checkpoints ---- */

static int create_model(train_run *r) {
  const int per_rank = (r->cfg->train.batch_size + r->size - 1) / r->size;
  return ncd_model_create(&r->m, &r->bb, r->cfg, r->cs, r->category, r->n_base + r->K,
                          2 * per_rank);
}

/* The state to write: the replica's tensors in the model's order. */
static void snapshot(train_run *r) {
  mgvit *m = r->m;
  model_state *s = &r->st;
  const int n = mgvit_n_tensors(m);
  size_t total = 0;
  for (int i = 0; i < n; i++)
    total += mgvit_tensor_at(m, i)->n;
  s->n_tensors = n;
  s->names = xrealloc(s->names, (size_t)n * sizeof *s->names);
  s->sizes = xrealloc(s->sizes, (size_t)n * sizeof *s->sizes);
  s->params = xrealloc(s->params, total * sizeof *s->params);
  s->momentum = xrealloc(s->momentum, total * sizeof *s->momentum);
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    const mgvit_tensor *t = mgvit_tensor_at(m, i);
    snprintf(s->names[i], sizeof s->names[i], "%s", t->name);
    s->sizes[i] = (int64_t)t->n;
    mgvit_tensor_get(m, mgvit_params(m), t, s->params + at);
    mgvit_tensor_get(m, mgvit_momentum(m), t, s->momentum + at);
    at += t->n;
  }
}

/* Rank 0 writes model.h5 (the replicas are identical); every rank gets the status. */
static int checkpoint(train_run *r) {
  int rc = 0;
  if (r->rank == 0) {
    snapshot(r);
    rc = model_h5_write(r->dir, &r->st, r->cfg);
    if (rc)
      log_error("category %s: %s", r->category, ancd_error());
  }
  return agree_rc(rc ? ANCD_EXIT_INPUT : 0, r->comm);
}

/* 1 finished (skip), 0 start or resume (r->st holds where), -1 error. Decided on group
 * rank 0 and shared; a checkpoint is read by every rank. */
static int resume_point(train_run *r) {
  int state = 0; /* 0 fresh, 1 finished, 2 resume */
  if (r->rank == 0) {
    char old[STAGE_KEY_LEN] = "", path[OUTPUT_PATH_LEN + 16];
    snprintf(path, sizeof path, "%s/%s", r->dir, MODEL_FILE);
    int st = stage_file_check(r->dir, MODEL_FILE, old);
    if (st < 0)
      log_warn("category %s: %s: starting again", r->category, ancd_error());
    else if (st == 0 && strcmp(old, r->key))
      log_info("category %s: %s was made with other settings or other regions: starting again",
               r->category, path);
    else if (st == 0) {
      model_state s;
      if (model_h5_read(&s, r->dir) == 0) {
        state = s.finished ? 1 : 2;
        model_state_free(&s);
      } else {
        log_warn("category %s: %s: starting again", r->category, ancd_error());
      }
    }
  }
  CHECK_MPI(MPI_Bcast(&state, 1, MPI_INT, 0, r->comm));
  if (state == 2) {
    model_state s;
    int rc = model_h5_read(&s, r->dir) != 0 || ncd_model_restore(r->m, &s, r->dir, 1) != 0;
    if (agree_rc(rc, r->comm)) {
      log_error("category %s: %s", r->category, ancd_error());
      return -1;
    }
    r->st.epochs_done = s.epochs_done;
    r->st.next_batch = s.next_batch;
    r->st.steps = s.steps;
    r->st.history = s.history;
    memcpy(r->st.partial, s.partial, sizeof s.partial);
    s.history = NULL;
    model_state_free(&s);
    if (r->rank == 0)
      log_info("category %s: resuming at epoch %d, batch %d", r->category, r->st.epochs_done + 1,
               r->st.next_batch);
  }
  return state == 1;
}

/* ---- training ---- */

/* The epoch's draws: the §4 weighted sampler; without a base set, uniform over the novel crops. */
static void epoch_order(int *order, const train_run *r, int epoch) {
  const uint64_t seed = (uint64_t)r->cfg->seed;
  if (r->L > 0) {
    sampler_epoch(order, r->L, r->U, seed, (uint64_t)epoch);
    return;
  }
  for (int i = 0; i < r->U; i++)
    order[i] =
        (int)(rng_u64_at(seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(epoch + 1)), (uint64_t)i) %
              (uint64_t)r->U);
}

static void add_terms(double *acc, const ncd_loss_terms *t) {
  const double v[] = {t->total, t->con, t->supcon, t->cls, t->clu};
  for (int i = 0; i < 5; i++)
    acc[i] += v[i];
  for (int h = 0; h < MGVIT_HEADS; h++) {
    acc[7 + h] += t->clu_head[h];
    acc[11 + h] += t->cls_head[h];
    acc[15 + h] += t->dist_head[h];
    acc[19 + h] += t->me_head[h];
  }
  acc[MODEL_HIST_COLS] += 1; /* the step count */
}

static int train_loop(train_run *r) {
  const config *c = r->cfg;
  const int E = c->train.epochs, bs = c->train.batch_size, n_draws = r->L + r->U;
  const int steps_per_epoch = (n_draws + bs - 1) / bs, Bmax = (bs + r->size - 1) / r->size;
  const size_t img = 3 * (size_t)NCD_IMAGE_SIZE * NCD_IMAGE_SIZE,
               px = (size_t)NCD_IMAGE_SIZE * NCD_IMAGE_SIZE;
  int *order = xmalloc((size_t)n_draws * sizeof *order);
  float *images = xmalloc(2 * (size_t)Bmax * img * sizeof *images);
  float *masks = xmalloc(2 * (size_t)Bmax * px * sizeof *masks);
  uint8_t *is_base = xmalloc((size_t)bs);
  int *label = xmalloc((size_t)bs * sizeof *label);
  float *score = xmalloc((size_t)bs * sizeof *score);
  ncd_loss_cfg lc;
  ncd_loss_cfg_default(&lc);
  lc.n_base = r->n_base;
  ncd_step_work work;
  ncd_step_work_init(&work, r->m, bs, NCD_PROJ_OUT, r->n_base + r->K);
  ncd_exchange x;
  ncd_exchange_init(&x, r->comm, ops_select(c->device));
  model_state *s = &r->st;
  int rc = 0;
  double t_run = now_seconds();
  int epochs_run = 0;
  for (int e = s->epochs_done; e < E && rc == 0; e++) {
    double temp = 0.04;
    ncd_teacher_temp(&temp, e, 40, 4, 0.07, 0.04); /* §5.6's staircase */
    const float lr = (float)ncd_cosine_lr(c->train.lr, e, E);
    epoch_order(order, r, e);
    double t0 = now_seconds();
    long seen = 0;
    for (int b = s->next_batch; b < steps_per_epoch && rc == 0; b++) {
      const int first_draw = b * bs, B = n_draws - first_draw < bs ? n_draws - first_draw : bs;
      for (int i = 0; i < B; i++) {
        const sample *sm = &r->samples[order[first_draw + i]];
        is_base[i] = (uint8_t)sm->is_base;
        label[i] = sm->is_base ? sm->label : 0;
        score[i] = sm->score;
      }
      ncd_shard shard;
      ncd_exchange_shard(&shard, &x, B);
      /* This rank's samples, both views (§5.7), keyed by the draw: any rank computes the same. */
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
      for (int i = 0; i < shard.count; i++)
        for (int v = 0; v < 2; v++) {
          const sample *sm = &r->samples[order[first_draw + shard.first + i]];
          augment_key key = {(uint64_t)c->seed, (uint64_t)e,
                             (uint64_t)(first_draw + shard.first + i), (uint64_t)v};
          const size_t row = (size_t)v * shard.count + i;
          augment_train(images + row * img, masks + row * px, sm->rgb, sm->mask, sm->w, sm->h, &key,
                        r->bb.mean, r->bb.std);
        }
      ncd_step_cfg sc = {.teacher_temp = temp,
                         .lr = lr,
                         .momentum = 0.9f,
                         .weight_decay = 5e-5f,
                         .first_step = s->steps == 0,
                         .step = (long)e * steps_per_epoch + b + 1};
      ncd_loss_terms t;
      int st = ncd_step(r->m, &t, &work, images, masks, is_base, label, score, B, &shard, &lc, &sc);
      if (st < 0) {
        log_error("category %s: epoch %d: %s", r->category, e + 1, ancd_error());
        rc = ANCD_EXIT_INPUT;
        break;
      }
      if (st == 0) {
        add_terms(s->partial, &t);
        s->steps++;
      }
      seen += B;
      s->next_batch = b + 1;
      int stop = stop_requested != 0;
      CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, r->comm));
      if (stop) {
        if (r->rank == 0)
          log_warn("category %s: stop requested: checkpoint at epoch %d, batch %d; rerun to "
                   "resume",
                   r->category, e + 1, b + 1);
        rc = checkpoint(r);
        rc = rc ? rc : EXIT_STOPPED;
        stopped = 1;
        break;
      }
    }
    if (rc)
      break;
    /* The epoch's means, its row of the history, the log line, maybe a checkpoint. */
    const double dt = now_seconds() - t0, n_steps = s->partial[MODEL_HIST_COLS];
    s->history = xrealloc(s->history, (size_t)(e + 1) * MODEL_HIST_COLS * sizeof *s->history);
    double *row = s->history + (size_t)e * MODEL_HIST_COLS;
    for (int k = 0; k < MODEL_HIST_COLS; k++)
      row[k] = n_steps > 0 ? s->partial[k] / n_steps : NAN;
    row[5] = lr;
    row[6] = n_steps;
    const double rate = dt > 0 ? 2.0 * seen / dt : 0;
    memset(s->partial, 0, sizeof s->partial);
    s->epochs_done = e + 1;
    s->next_batch = 0;
    epochs_run++;
    if (r->rank == 0) {
      char eta[32];
      format_duration(eta, sizeof eta, (now_seconds() - t_run) / epochs_run * (E - e - 1));
      log_info("category %s: epoch %d/%d  loss %.4f  con %.4f  supcon %.4f  cls %.4f  clu %.4f  "
               "lr %.2e  %.1f images/s  ETA %s",
               r->category, e + 1, E, row[0], row[1], row[2], row[3], row[4], row[5], rate, eta);
    }
    if (c->train.checkpoint_every > 0 && (e + 1) % c->train.checkpoint_every == 0 && e + 1 < E)
      rc = checkpoint(r);
  }
  ncd_exchange_free(&x);
  ncd_step_work_free(&work);
  free(order);
  free(images);
  free(masks);
  free(is_base);
  free(label);
  free(score);
  return rc;
}

/* §6: the head with the lowest mean L_clu,h over the last epoch. */
static int choose_head(const model_state *s) {
  const double *last = s->history + (size_t)(s->epochs_done - 1) * MODEL_HIST_COLS;
  int best = 0;
  for (int h = 1; h < MGVIT_HEADS; h++)
    if (last[7 + h] < last[7 + best])
      best = h;
  return best;
}

static int finish(train_run *r) {
  model_state *s = &r->st;
  s->finished = 1;
  s->head = choose_head(s);
  int rc = checkpoint(r);
  if (rc == 0 && r->rank == 0) {
    char path[OUTPUT_PATH_LEN + 32], title[256];
    snprintf(path, sizeof path, "%s/train_curves.svg", r->dir);
    snprintf(title, sizeof title, "%s: training losses per epoch (head %d chosen)", r->category,
             s->head);
    const int which[] = {0, 1, 2, 3, 4};
    if (curves_svg_write(path, title, s->history, s->epochs_done, MODEL_HIST_COLS, which, 5,
                         model_hist_names) != 0)
      log_warn("category %s: %s", r->category, ancd_error());
    log_info("category %s: trained %d epochs, head %d (L_clu %.4f), peak backend memory %.0f "
             "MiB per rank: %s/%s, %s",
             r->category, s->epochs_done, s->head,
             s->history[(size_t)(s->epochs_done - 1) * MODEL_HIST_COLS + 7 + s->head],
             mgvit_peak_bytes(r->m) / 1048576.0, r->dir, MODEL_FILE, path);
  }
  return rc;
}

static void run_free(train_run *r) {
  mgvit_free(r->m);
  detect_backbone_free(&r->bb);
  for (int i = 0; r->crops && i < r->U; i++)
    regions_crop_free(&r->crops[i]);
  free(r->crops);
  free(r->samples);
  for (int i = 0; r->classes && i < r->n_base + r->K; i++)
    free(r->classes[i]);
  free(r->classes);
  free(r->features);
  base_set_free(&r->base);
  r->st.classes = NULL; /* r->classes, freed above */
  model_state_free(&r->st);
}

/* A category_run_fn; ctx is the config set (for the origins of keys in errors). */
static int train_category(const void *ctx, const config *c, const char *category, const world *w,
                          long *n_images) {
  train_run r = {.cfg = c,
                 .cs = ctx,
                 .category = category,
                 .comm = w->group_comm,
                 .rank = w->group_rank,
                 .size = w->group_size};
  *n_images = 0;
  if (stopped)
    return EXIT_STOPPED;
  output_category_dir(r.dir, sizeof r.dir, c, category);
  int rc = load_data(&r) ? ANCD_EXIT_INPUT : 0;
  rc = agree_rc(rc, r.comm);
  if (!rc)
    rc = decide_k(&r);
  if (rc && r.rank == 0)
    log_error("category %s: %s", category, ancd_error());
  rc = agree_rc(rc, r.comm);
  if (!rc) {
    rc = create_model(&r);
    if (!rc && r.features && !strcmp(c->train.proto_init, "kmeans"))
      rc = init_prototypes(&r) ? ANCD_EXIT_INPUT : 0;
    if (rc && r.rank == 0)
      log_error("category %s: %s", category, ancd_error());
    rc = agree_rc(rc, r.comm);
  }
  int done = 0;
  if (!rc) {
    done = resume_point(&r);
    rc = done < 0 ? ANCD_EXIT_INPUT : 0;
  }
  if (!rc && done == 1) {
    log_info("category %s: skipped (complete: %s/%s, stage key %s)", category, r.dir, MODEL_FILE,
             r.key);
  } else if (!rc) {
    model_state *s = &r.st;
    snprintf(s->stage_key, sizeof s->stage_key, "%s", r.key);
    snprintf(s->backbone, sizeof s->backbone, "%.255s", r.bb.text);
    snprintf(s->category, sizeof s->category, "%s", category);
    s->epochs = c->train.epochs;
    s->head = -1;
    s->n_base = r.n_base;
    s->n_novel = r.K;
    s->k_est = r.k_est;
    s->seed = c->seed;
    s->classes = r.classes;
    if (r.rank == 0)
      log_info("category %s: %d base crops (%d classes) + %d novel crops (K = %d) on %d rank%s, "
               "batch %d x 2 views, %d epochs, %s",
               category, r.L, r.n_base, r.U, r.K, r.size, r.size == 1 ? "" : "s",
               c->train.batch_size, c->train.epochs, r.bb.text);
    rc = train_loop(&r);
    if (!rc)
      rc = finish(&r);
    if (!rc)
      *n_images = r.L + r.U;
  }
  run_free(&r);
  return rc;
}

static int check_config(const config *c, const char *category) {
  int rc = detect_check_vit_arch(c, category, "`ancd train` trains a ViT");
  if (rc)
    return rc;
  if (c->train.batch_size < 2) {
    log_error("train.batch_size %d: a batch needs base and novel samples (at least 2)",
              c->train.batch_size);
    return ANCD_EXIT_USAGE;
  }
  return 0;
}

/* Once before the categories: the batch must split evenly over a group; SIGTERM and SIGUSR1
 * checkpoint and stop (what a preempted Slurm job receives). */
static int train_prepare(const config_set *cs, const world *w) {
  if (cs->base.train.batch_size % w->group_size) {
    if (w->rank == 0)
      log_error("train.batch_size %d is not a multiple of the %d ranks of a group: set it to %d "
                "or %d, or change parallel.group_size",
                cs->base.train.batch_size, w->group_size,
                cs->base.train.batch_size / w->group_size * w->group_size,
                (cs->base.train.batch_size / w->group_size + 1) * w->group_size);
    return ANCD_EXIT_USAGE;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  return 0;
}

const job_stage stage_train = {"train", train_prepare, check_config, train_category};

static int train_all(const config_set *cs, world *w, const void *ctx) {
  (void)ctx;
  world_split(w, cs->base.parallel.group_size);
  int rc = train_prepare(cs, w);
  if (rc)
    return rc;
  cfg_names *cats = xmalloc(sizeof *cats);
  long all = 0;
  double dt = 0;
  rc = categories_run(cats, &all, &dt, cs, w, check_config, train_category, cs);
  free(cats);
  int any_stopped = stopped;
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &any_stopped, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  return any_stopped ? EXIT_STOPPED : rc;
}

int job_train(int argc, char **argv) {
  const cli_job job = {
      "train",
      "AnomalyNCD's mask-guided ViT trained on each category's anomaly-centred crops "
      "(OUT/<dataset>/<category>/regions.h5, the novel samples) and a labelled base set "
      "(train.base: base.h5 of `ancd base`, an AeBAD_crop-style folder, or none): "
      "OUT/<dataset>/<category>/model.h5 and train_curves.svg. The batch is split over the ranks "
      "of a group (data parallel, gradients all-reduced). model.h5 is checkpointed every "
      "train.checkpoint_every epochs and on SIGTERM/SIGUSR1 (exit status 75); a rerun resumes, "
      "and skips finished categories.",
      "-c FILE [--set KEY=VALUE ...] [-o DIR]", NULL, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "train", "its dataset, backbone and output")) != 0)
    return rc;
  return job_on_world(&a, &argc, &argv, train_all, NULL);
}
