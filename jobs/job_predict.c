/* ancd predict (issue 13): new images through a category whose detect (with
 * detect.keep_features), regions and train have finished. Per image: the ViT taps, the mutual
 * score of its patches against the category's stored pool (its test images, and its references
 * when detect used them) exactly as detect scores a test image, the map and image score, RsCIN
 * against the pool's scores, the OK/NG decision, MEBin with the category's stored 8-bit range
 * and search range, the crops, and the trained MGViT with region merging: a discovered class per
 * region and per image. An image that is itself in the pool (same file) is not scored against
 * itself, so predicting a category's own test images gives back their stored maps and classes.
 *
 * Images shard over the ranks (one image works on one rank); each rank reads the whole pool.
 * Outputs in OUT/<dataset>/<category>/predict/: predictions.csv, predictions.json,
 * predictions.h5 (maps, scores, every head's image class) and <stem>.png per image (the map over
 * the image with the region boxes). Exit 1 when an image could not be predicted (the others
 * are). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category_loop.h"
#include "cli.h"
#include "detect_inputs.h"
#include "detect_store.h"
#include "error.h"
#include "features_h5.h"
#include "fsutil.h"
#include "h5store.h"
#include "log.h"
#include "mgvit.h"
#include "model_h5.h"
#include "ncd_model.h"
#include "output_paths.h"
#include "partition.h"
#include "predict_decide.h"
#include "region_merge.h"
#include "regions_h5.h"
#include "regions_image.h"
#include "stage_key.h"
#include "world.h"

#define PREDICT_CHUNK 32 /* images scored together against the pool */

/* What one image came to. */
typedef struct {
  int ok;
  char error[512];
  double raw, score; /* max of the map; after RsCIN */
  int ng;
  int n_regions;
  int32_t *box;          /* [n_regions, 4] x0, y0, x1, y1 in the image */
  int32_t *region_class; /* [n_regions] reported head */
  float *region_prob;    /* [n_regions] */
  int32_t image_class[MGVIT_HEADS];
  float image_prob; /* reported head */
} image_result;

typedef struct {
  const config *cfg;
  const config_set *cs;
  const char *category;
  int rank, size;
  char dir[OUTPUT_PATH_LEN], out[OUTPUT_PATH_LEN + 16];
  char detect_key[STAGE_KEY_LEN];
  /* maps.h5 */
  int N, S;
  double *raw, *rscin;
  uint8_t *labels;
  char **paths;
  /* features.h5 */
  features_pool pool;
  /* regions.h5 */
  double map_lo, map_hi;
  int search_min, search_max;
  /* model.h5 */
  model_state st;
  /* the detect backbone and the MGViT */
  detect_backbone det, ncd_bb;
  mgvit *m;
  double threshold;
  const char *threshold_rule;
  /* the images */
  char **images;
  int n_images, first, n_own;
} predict_run;

/* ---- inputs ---- */

/* maps.h5 and features.h5 with detect's key for this config, regions.h5 and a finished model.h5
 * made from them. Any missing piece is an error saying which stage to run. */
static int read_category(predict_run *r) {
  const config *c = r->cfg;
  stage_key(r->detect_key, STAGE_DETECT, c, "");
  char key[STAGE_KEY_LEN], want[STAGE_KEY_LEN], path[OUTPUT_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/%s", r->dir, MAPS_FILE);
  int st = stage_file_check(r->dir, MAPS_FILE, key);
  if (st == H5S_MISSING)
    return ancd_errorf("%s is missing: run `ancd detect` (with detect.keep_features: true) first",
                       path);
  if (st != 0 || strcmp(key, r->detect_key))
    return ancd_errorf("%s is damaged or was made with other settings than this config: run "
                       "`ancd detect` with detect.keep_features: true",
                       path);
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  uint64_t dims[3] = {0, 0, 0};
  int rc = h5s_dataset_dims(&f, "maps", dims, 3) == 3 ? 0 : -1;
  r->N = (int)dims[0], r->S = (int)dims[1];
  r->raw = xmalloc(((size_t)r->N + 1) * sizeof *r->raw);
  r->rscin = xmalloc(((size_t)r->N + 1) * sizeof *r->rscin);
  r->labels = xmalloc((size_t)r->N + 1);
  const uint64_t s0 = 0, n = (uint64_t)r->N;
  int n_paths = 0;
  if (rc == 0 && (h5s_read_slab(&f, "scores", H5S_F64, &s0, &n, r->raw) < 0 ||
                  h5s_read_slab(&f, "scores_rscin", H5S_F64, &s0, &n, r->rscin) < 0 ||
                  h5s_read_slab(&f, "labels", H5S_U8, &s0, &n, r->labels) < 0 ||
                  h5s_read_strings(&f, "paths", &r->paths, &n_paths) < 0 || n_paths != r->N))
    rc = -1;
  h5s_close(&f);
  if (rc)
    return ancd_error_prefix("%s: ", path);

  if (stage_file_check(r->dir, REGIONS_FILE, key) != 0)
    return ancd_error_prefix("run `ancd regions` first: ");
  snprintf(path, sizeof path, "%s/%s", r->dir, REGIONS_FILE);
  if (regions_h5_open(&f, path) != 0)
    return -1;
  int64_t smin = 0, smax = 0;
  rc = h5s_attr_get_f64(&f, "/", "map_lo", &r->map_lo) < 0 ||
               h5s_attr_get_f64(&f, "/", "map_hi", &r->map_hi) < 0 ||
               h5s_attr_get_i64(&f, "/", "search_min", &smin) < 0 ||
               h5s_attr_get_i64(&f, "/", "search_max", &smax) < 0
           ? -1
           : 0;
  h5s_close(&f);
  if (rc)
    return ancd_error_prefix("%s: ", path);
  r->search_min = (int)smin, r->search_max = (int)smax;

  char model_key[STAGE_KEY_LEN];
  snprintf(path, sizeof path, "%s/%s", r->dir, MODEL_FILE);
  st = stage_file_check(r->dir, MODEL_FILE, model_key);
  if (st == H5S_MISSING)
    return ancd_errorf("%s is missing: run `ancd train` first (the category has no trained "
                       "model)",
                       path);
  stage_key(want, STAGE_TRAIN, c, key);
  if (st != 0 || strcmp(want, model_key))
    return ancd_errorf("%s is damaged or was trained with other settings or regions than this "
                       "config gives: run `ancd train`",
                       path);
  if (model_h5_read(&r->st, r->dir) != 0)
    return -1;
  if (!r->st.finished)
    return ancd_errorf("%s: training stopped at epoch %d of %d: rerun `ancd train` to finish it",
                       path, r->st.epochs_done, r->st.epochs);
  return 0;
}

/* The backbones and the pool (features.h5 must hold this backbone's taps). */
static int load_models(predict_run *r) {
  int rc = detect_backbone_load(&r->det, r->cfg, PREDICT_CHUNK);
  if (rc)
    return rc;
  if (r->det.S != r->S)
    return ancd_errorf("maps.h5 holds %d px maps, the config gives %d px", r->S, r->det.S),
           ANCD_EXIT_INPUT;
  if (features_h5_read(&r->pool, r->dir, r->detect_key, r->det.text, r->cfg->detect.layers.v,
                       r->cfg->detect.layers.n) != 0)
    return ANCD_EXIT_INPUT;
  if (r->pool.n != r->N || r->pool.T != r->det.T || r->pool.C != r->det.C || r->pool.E != r->det.E)
    return ancd_errorf("features.h5 (%d images, %d tokens x %d) does not match maps.h5 (%d images) "
                       "and the backbone (%d tokens x %d)",
                       r->pool.n, r->pool.T, r->pool.C, r->N, r->det.T, r->det.C),
           ANCD_EXIT_INPUT;
  rc = ncd_model_create(&r->m, &r->ncd_bb, r->cfg, r->cs, r->category, r->st.n_base + r->st.n_novel,
                        32);
  if (rc == 0 && ncd_model_restore(r->m, &r->st, r->dir, 0) != 0)
    rc = ANCD_EXIT_INPUT;
  return rc;
}

/* The positional arguments: image files, and folders whose images (sorted) are taken. */
static int list_images(predict_run *r, const cli_args *a) {
  int cap = 64;
  r->images = xmalloc((size_t)cap * sizeof *r->images);
  for (int i = 0; i < a->n_positional; i++) {
    const char *arg = a->positional[i];
    fs_names names = {0};
    int is_dir = fs_is_dir(arg);
    if (is_dir && fs_list_dir(&names, arg, FS_FILES, fs_is_image_name) != 0)
      return -1;
    if (!is_dir && !fs_is_file(arg))
      return ancd_errorf("%s: no such image or folder", arg);
    int add = is_dir ? names.n : 1;
    if (is_dir && add == 0)
      log_warn("%s: no images in the folder", arg);
    for (int k = 0; k < add; k++) {
      if (r->n_images == cap)
        r->images = xrealloc(r->images, (size_t)(cap *= 2) * sizeof *r->images);
      char path[CFG_PATH_LEN];
      if (is_dir)
        snprintf(path, sizeof path, "%s/%s", arg, names.v[k]);
      else
        snprintf(path, sizeof path, "%s", arg);
      r->images[r->n_images++] = strdup(path);
    }
    fs_names_free(&names);
  }
  if (r->n_images == 0)
    return ancd_errorf("no images to predict (give image files or folders after the options)");
  return 0;
}

/* ---- scoring against the pool ---- */

/* Where an image is in the pool (the same file): *test its test image index, *ref its reference
 * index, -1 when not. */
static void find_in_pool(int *test, int *ref, const predict_run *r, const char *path) {
  char a[4096], b[4096];
  *test = *ref = -1;
  if (!realpath(path, a))
    return;
  for (int i = 0; i < r->N && *test < 0; i++)
    if (realpath(r->paths[i], b) && !strcmp(a, b))
      *test = i;
  for (int j = 0; j < r->pool.n_ref && *ref < 0; j++)
    if (realpath(r->pool.ref_paths[j], b) && !strcmp(a, b))
      *ref = j;
}

/* acc [n, L] += the detect score of n images (taps [n_layers][n, T, C]) against the pool, every
 * (r, layer) with detect's weight; test [n] and ref [n] say where each is itself in the pool
 * (find_in_pool), a column it is not scored against. */
static void score_chunk(double *acc, float **taps, const int *test, const int *ref, int n,
                        const predict_run *r) {
  const config *c = r->cfg;
  const detect_backbone *b = &r->det;
  const int L = b->L, C = b->C, T = b->T, has_cls = T - L, N = r->N, N_r = r->pool.n_ref;
  const msm_ref_rule rule = detect_reference_rule(c);
  const int tests = N_r == 0 || rule != MSM_REF_NEAREST, c_ref = tests ? N : 0, ncols = c_ref + N_r,
            N_pool = N + N_r;
  const size_t lc = (size_t)L * C, tc = (size_t)T * C;
  float *P = xmalloc(((size_t)N_pool * lc + 1) * sizeof *P);
  float *Z = xmalloc(((size_t)n * lc + 1) * sizeof *Z);
  float *D = xmalloc(((size_t)n * L * ncols + 1) * sizeof *D);
  float *scratch =
      xmalloc(msm_scratch_floats(L, C) * (size_t)omp_get_max_threads() * sizeof *scratch);
  float *ln = xmalloc(lnamd_scratch_floats(b->h, b->h, C) * sizeof *ln);
  const double weight = 1.0 / ((double)c->detect.r_list.n * c->detect.layers.n);
  for (int ri = 0; ri < c->detect.r_list.n; ri++)
    for (int l = 0; l < c->detect.layers.n; l++) {
      const int deg = c->detect.r_list.v[ri];
      for (int j = 0; j < N_pool; j++) /* musc §A.5, per image as detect */
        lnamd(P + j * lc, ln, r->pool.taps[l] + j * tc, 1, T, has_cls, b->h, b->h, C, deg);
      for (int j = 0; j < n; j++)
        lnamd(Z + j * lc, ln, taps[l] + j * tc, 1, T, has_cls, b->h, b->h, C, deg);
      const msm_block A = {Z, n, -1, 0}; /* packed: no zero slots around a lone image */
      if (tests)
        msm_score_blocks(D, NULL, scratch, A, (msm_block){P, N, 0, 0}, L, C, ncols, 0);
      if (N_r > 0)
        msm_score_blocks(D, NULL, scratch, A, (msm_block){P + (size_t)N * lc, N_r, 0, c_ref}, L, C,
                         ncols, 0);
      for (int j = 0; j < n; j++) {
        float *Dj = D + (size_t)j * L * ncols;
        double *aj = acc + (size_t)j * L;
        const int own = ref[j] >= 0 ? c_ref + ref[j] : tests ? test[j] : -1;
        /* As detect: the pool without the image itself, K over it plus the image (§A.6.1). */
        const int others = (tests ? N : 0) + N_r - (own >= 0);
        const double w = N_r > 0 && rule == MSM_REF_MEAN ? 0.5 * weight : weight;
        if (tests)
          msm_interval_average(aj, Dj, own >= 0 ? &own : NULL, 1, L, ncols,
                               msm_k(others + 1, c->detect.topmin_max), w);
        if (N_r > 0 && rule != MSM_REF_POOL) {
          if (own >= c_ref) /* a reference is not its own nearest */
            for (int p = 0; p < L; p++)
              Dj[(size_t)p * ncols + own] = INFINITY;
          msm_nearest(aj, Dj, 1, L, ncols, c_ref, ncols, w);
        }
      }
    }
  free(ln), free(scratch), free(D), free(Z), free(P);
}

/* RsCIN (musc §A.7) of an image with raw score raw and embedding e against the pool: as if it
 * joined the test set (or, being test image own, in its own place). */
static double rscin_against_pool(const predict_run *r, double raw, const float *e, int own) {
  const int E = r->pool.E, n = own >= 0 && own < r->N ? r->N : r->N + 1;
  const int at = own >= 0 && own < r->N ? own : r->N;
  double *s = xmalloc((size_t)n * sizeof *s), *out = xmalloc((size_t)n * sizeof *out);
  float *F = xmalloc((size_t)n * E * sizeof *F);
  memcpy(s, r->raw, (size_t)r->N * sizeof *s);
  memcpy(F, r->pool.embed, (size_t)r->N * E * sizeof *F);
  s[at] = raw;
  memcpy(F + (size_t)at * E, e, (size_t)E * sizeof *F);
  const cfg_ints *win = detect_rscin_windows(r->cfg);
  rscin(out, s, F, n, E, win->v, win->n);
  double v = out[at];
  free(F), free(out), free(s);
  return v;
}

/* ---- regions and classes ---- */

/* <out>/<folder>_<stem>.png: the folder keeps apart same-named images of different folders
 * (MVTec's test/<type>/000.png). */
static void vis_path(char *out, size_t n, const predict_run *r, const char *image) {
  char stem[CFG_PATH_LEN], folder[CFG_PATH_LEN] = "";
  if (fs_stem(stem, sizeof stem, image) != 0)
    snprintf(stem, sizeof stem, "image");
  const char *slash = strrchr(image, '/');
  if (slash) {
    const char *p = slash;
    while (p > image && p[-1] != '/')
      p--;
    snprintf(folder, sizeof folder, "%.*s_", (int)(slash - p), p);
  }
  if (snprintf(out, n, "%s/%s%s.png", r->out, folder, stem) >= (int)n)
    snprintf(out, n, "%s/image.png", r->out);
}

/* MEBin, crops and the MGViT for one image with map [S, S]. */
static int classify_image(image_result *res, const predict_run *r, const char *path,
                          const float *map) {
  const int S = r->S, C = r->st.n_base + r->st.n_novel, nb = r->st.n_base;
  uint8_t *u8 = xmalloc((size_t)S * S);
  maps_to_u8(u8, map, (size_t)S * S, (float)r->map_lo, (float)r->map_hi);
  const regions_params rp = {
      .search_min = r->search_min, .search_max = r->search_max, .opt = &r->cfg->regions};
  char vis[OUTPUT_PATH_LEN + CFG_PATH_LEN + 32];
  vis_path(vis, sizeof vis, r, path);
  image_regions ir = {0};
  int rc = regions_image(&ir, path, u8, S, S, &rp, vis);
  free(u8);
  if (rc)
    return -1;
  const int R = ir.n_crops;
  regions_crop *crops = xcalloc((size_t)R, sizeof *crops);
  size_t off = 0;
  for (int j = 0; j < R; j++) {
    const int w = ir.window[4 * j + 2] - ir.window[4 * j],
              h = ir.window[4 * j + 3] - ir.window[4 * j + 1];
    crops[j].mask_area = ir.mask_area[j];
    crops[j].pixels = (image_u8){.w = w, .h = h, .c = 3, .data = ir.pixels + off * 3};
    crops[j].mask = (image_u8){.w = w, .h = h, .c = 1, .data = ir.masks + off};
    off += (size_t)w * h;
  }
  float *logits = xmalloc((size_t)R * MGVIT_HEADS * C * sizeof *logits);
  rc = ncd_model_infer(NULL, logits, r->m, crops, R, r->ncd_bb.mean, r->ncd_bb.std);
  free(crops); /* their pixels are ir's */
  res->n_regions = R;
  res->box = xmalloc((size_t)R * 4 * sizeof *res->box);
  res->region_class = xmalloc((size_t)R * sizeof *res->region_class);
  res->region_prob = xmalloc((size_t)R * sizeof *res->region_prob);
  memcpy(res->box, ir.window, (size_t)R * 4 * sizeof *res->box);
  float *hl = xmalloc((size_t)R * C * sizeof *hl), *probs = xmalloc((size_t)R * C * sizeof *probs);
  float iprobs[1024];
  int *pred = xmalloc((size_t)R * sizeof *pred), ipred = 0;
  const long first_crop[2] = {0, R};
  const double T =
      r->cfg->classify.merge_temperature > 0 ? r->cfg->classify.merge_temperature
      : (!strcmp(r->cfg->dataset.layout, "mvtec") || !strcmp(r->cfg->dataset.layout, "anomalies"))
          ? 100
          : 50;
  for (int h = 0; h < MGVIT_HEADS && rc == 0 && C <= 1024; h++) {
    for (int j = 0; j < R; j++)
      memcpy(hl + (size_t)j * C, logits + ((size_t)j * MGVIT_HEADS + h) * C,
             (size_t)C * sizeof *hl);
    rc = ncd_merge_predict(iprobs, &ipred, hl, ir.mask_area, first_crop, 1, C, nb, T);
    res->image_class[h] = ipred;
    if (h == r->st.head) {
      res->image_prob = iprobs[ipred];
      ncd_subimage_predict(probs, pred, hl, R, C, nb);
      for (int j = 0; j < R; j++) {
        res->region_class[j] = pred[j];
        res->region_prob[j] = probs[(size_t)j * C + pred[j]];
      }
    }
  }
  free(pred), free(probs), free(hl), free(logits);
  image_regions_free(&ir);
  return rc;
}

/* ---- this rank's images ---- */

static int predict_own(predict_run *r, image_result *res, float *maps) {
  const detect_backbone *b = &r->det;
  const int S = b->S, nl = r->cfg->detect.layers.n;
  const size_t px = (size_t)S * S, tc = (size_t)b->T * b->C;
  float **taps = xmalloc((size_t)nl * sizeof *taps),
        **tap_out = xmalloc((size_t)nl * sizeof *tap_out);
  for (int l = 0; l < nl; l++)
    taps[l] = xmalloc((size_t)PREDICT_CHUNK * tc * sizeof(float));
  float *embed = xmalloc((size_t)PREDICT_CHUNK * b->E * sizeof *embed);
  float *chw = xmalloc(3 * px * sizeof *chw);
  int *ok = xmalloc(PREDICT_CHUNK * sizeof *ok), *test = xmalloc(PREDICT_CHUNK * sizeof *test),
      *ref = xmalloc(PREDICT_CHUNK * sizeof *ref);
  double *acc = xmalloc((size_t)PREDICT_CHUNK * b->L * sizeof *acc);
  progress p;
  progress_start(&p, "predict", r->n_own);
  int failed = 0;
  for (int c0 = 0; c0 < r->n_own; c0 += PREDICT_CHUNK) {
    const int cn = r->n_own - c0 < PREDICT_CHUNK ? r->n_own - c0 : PREDICT_CHUNK;
    for (int j = 0; j < cn; j++) { /* a failed image keeps its row (zeros): fixed positions */
      image_result *re = &res[r->first + c0 + j];
      const char *path = r->images[r->first + c0 + j];
      for (int l = 0; l < nl; l++)
        tap_out[l] = taps[l] + (size_t)j * tc;
      ok[j] = detect_load_image(chw, NULL, path, S, b->resize, b->mean, b->std) == 0 &&
              vit_forward(b->model, chw, 1, r->cfg->detect.layers.v, nl, tap_out,
                          embed + (size_t)j * b->E, NULL) == 0;
      if (!ok[j]) {
        snprintf(re->error, sizeof re->error, "%s", ancd_error());
        log_error("%s", re->error);
        failed++;
        for (int l = 0; l < nl; l++)
          memset(tap_out[l], 0, tc * sizeof(float));
      }
      find_in_pool(&test[j], &ref[j], r, path);
    }
    memset(acc, 0, (size_t)PREDICT_CHUNK * b->L * sizeof *acc);
    score_chunk(acc, taps, test, ref, cn, r);
    for (int j = 0; j < cn; j++) {
      if (!ok[j])
        continue;
      image_result *re = &res[r->first + c0 + j];
      float *map = maps + (size_t)(r->first + c0 + j) * px;
      re->raw = upsample_bilinear_ac(map, acc + (size_t)j * b->L, b->h, b->h, S);
      re->score = rscin_against_pool(r, re->raw, embed + (size_t)j * b->E, test[j]);
      re->ng = re->score >= r->threshold;
      if (classify_image(re, r, r->images[r->first + c0 + j], map) != 0) {
        snprintf(re->error, sizeof re->error, "%s", ancd_error());
        log_error("%s", re->error);
        failed++;
        continue;
      }
      re->ok = 1;
    }
    progress_update(&p, c0 + cn);
  }
  progress_finish(&p);
  for (int l = 0; l < nl; l++)
    free(taps[l]);
  free(taps), free(tap_out), free(embed), free(chw), free(ok), free(test), free(ref), free(acc);
  return failed;
}

/* ---- outputs (rank 0, after the gather) ---- */

static void json_escape(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static int write_tables(const predict_run *r, const image_result *res) {
  char path[OUTPUT_PATH_LEN + 64], tmp[OUTPUT_PATH_LEN + 80];
  char **classes = r->st.classes;
  for (int pass = 0; pass < 2; pass++) {
    snprintf(path, sizeof path, "%s/predictions.%s", r->out, pass ? "json" : "csv");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
      return ancd_errorf("%s: cannot write", tmp);
    if (!pass)
      fprintf(f, "image,status,raw_score,score,threshold,decision,class,probability,regions\n");
    else
      fprintf(f,
              "{\"category\": \"%s\", \"threshold\": %.9g, \"threshold_rule\": \"%s\", "
              "\"images\": [\n",
              r->category, r->threshold, r->threshold_rule);
    for (int i = 0; i < r->n_images; i++) {
      const image_result *e = &res[i];
      const char *cls = e->ok ? classes[e->image_class[r->st.head]] : "";
      if (!pass) {
        fputc('"', f); /* RFC 4180: the path quoted, its quotes doubled */
        for (const char *ch = r->images[i]; *ch; ch++) {
          if (*ch == '"')
            fputc('"', f);
          fputc(*ch, f);
        }
        fprintf(f, "\",%s,", e->ok ? "ok" : "error");
        if (e->ok)
          fprintf(f, "%.9g,%.9g,%.9g,%s,%s,%.6f,%d\n", e->raw, e->score, r->threshold,
                  e->ng ? "NG" : "OK", cls, e->image_prob, e->n_regions);
        else
          fprintf(f, ",,,,,,\n");
        continue;
      }
      fprintf(f, "  {\"image\": ");
      json_escape(f, r->images[i]);
      if (!e->ok) {
        fprintf(f, ", \"error\": ");
        json_escape(f, e->error);
      } else {
        fprintf(f,
                ", \"raw_score\": %.9g, \"score\": %.9g, \"decision\": \"%s\", \"class\": \"%s\", "
                "\"probability\": %.6f, \"regions\": [",
                e->raw, e->score, e->ng ? "NG" : "OK", cls, e->image_prob);
        for (int j = 0; j < e->n_regions; j++)
          fprintf(f, "%s{\"box\": [%d, %d, %d, %d], \"class\": \"%s\", \"probability\": %.6f}",
                  j ? ", " : "", e->box[4 * j], e->box[4 * j + 1], e->box[4 * j + 2],
                  e->box[4 * j + 3], classes[e->region_class[j]], e->region_prob[j]);
        fprintf(f, "]");
      }
      fprintf(f, "}%s\n", i + 1 < r->n_images ? "," : "");
    }
    if (pass)
      fprintf(f, "]}\n");
    if (fclose(f) != 0 || fs_publish(tmp, path) != 0)
      return ancd_errorf("%s: cannot write", path);
  }
  return 0;
}

static int write_h5(const predict_run *r, const image_result *res, const float *maps) {
  char path[OUTPUT_PATH_LEN + 64];
  snprintf(path, sizeof path, "%s/predictions.h5", r->out);
  const int n = r->n_images, S = r->S;
  double *raw = xmalloc((size_t)n * sizeof *raw + 8),
         *score = xmalloc((size_t)n * sizeof *score + 8);
  int32_t *cls = xmalloc((size_t)MGVIT_HEADS * n * sizeof *cls + 8);
  for (int i = 0; i < n; i++) {
    raw[i] = res[i].ok ? res[i].raw : NAN;
    score[i] = res[i].ok ? res[i].score : NAN;
    for (int h = 0; h < MGVIT_HEADS; h++)
      cls[(size_t)h * n + i] = res[i].ok ? res[i].image_class[h] : -1;
  }
  h5s_file f;
  int rc = h5s_create(&f, path, MPI_COMM_SELF);
  if (rc == 0) {
    const uint64_t dims[3] = {(uint64_t)n, (uint64_t)S, (uint64_t)S}, s[3] = {0, 0, 0};
    rc = h5s_dataset_create(&f, "maps", H5S_F32, 3, dims, NULL) < 0 ||
                 h5s_write_slab(&f, "maps", H5S_F32, s, dims, maps) < 0 ||
                 h5s_write_array(&f, "scores", H5S_F64, raw, (uint64_t)n, 0,
                                 "image score: the maximum of the map") < 0 ||
                 h5s_write_array(&f, "scores_rscin", H5S_F64, score, (uint64_t)n, 0,
                                 "image score after RsCIN against the pool") < 0 ||
                 h5s_write_array(&f, "image_pred", H5S_I32, cls, MGVIT_HEADS, (uint64_t)n,
                                 "[head, image] class index (-1: not predicted)") < 0 ||
                 h5s_write_strings(&f, "paths", (const char *const *)r->images, n) < 0
             ? -1
             : 0;
    rc = rc ? (h5s_abort(&f), -1) : h5s_publish(&f);
  }
  free(raw), free(score), free(cls);
  return rc;
}

/* ---- the job ---- */

static void pack(double *row, const image_result *e) {
  row[0] = e->ok, row[1] = e->raw, row[2] = e->score, row[3] = e->ng, row[4] = e->image_prob;
  for (int h = 0; h < MGVIT_HEADS; h++)
    row[5 + h] = e->image_class[h];
}

/* Everything rank 0 writes, gathered: the fixed fields, the maps, the errors and the regions. */
static void gather(predict_run *r, image_result *res, float *maps, const int *counts,
                   const int *displs) {
  enum { F = 5 + MGVIT_HEADS };
  const int px = r->S * r->S;
  double *mine = xmalloc(((size_t)r->n_own * F + 1) * sizeof *mine);
  double *all = xmalloc(((size_t)r->n_images * F + 1) * sizeof *all);
  for (int k = 0; k < r->n_own; k++)
    pack(mine + (size_t)k * F, &res[r->first + k]);
  int *c = xmalloc((size_t)r->size * sizeof *c), *d = xmalloc((size_t)r->size * sizeof *d);
  for (int q = 0; q < r->size; q++)
    c[q] = counts[q] * F, d[q] = displs[q] * F;
  CHECK_MPI(MPI_Gatherv(mine, r->n_own * F, MPI_DOUBLE, all, c, d, MPI_DOUBLE, 0, MPI_COMM_WORLD));
  for (int q = 0; q < r->size; q++)
    c[q] = counts[q] * px, d[q] = displs[q] * px;
  CHECK_MPI(MPI_Gatherv(r->rank == 0 ? MPI_IN_PLACE : maps + (size_t)r->first * px, r->n_own * px,
                        MPI_FLOAT, maps, c, d, MPI_FLOAT, 0, MPI_COMM_WORLD));
  for (int i = 0; i < r->n_images && r->rank == 0; i++) {
    const double *row = all + (size_t)i * F;
    res[i].ok = (int)row[0], res[i].raw = row[1], res[i].score = row[2], res[i].ng = (int)row[3];
    res[i].image_prob = (float)row[4];
    for (int h = 0; h < MGVIT_HEADS; h++)
      res[i].image_class[h] = (int32_t)row[5 + h];
  }
  /* The variable parts image by image from their owners (a handful of regions each). */
  for (int i = 0; i < r->n_images; i++) {
    int owner = 0;
    while (owner + 1 < r->size && i >= displs[owner + 1])
      owner++;
    if (owner == 0)
      continue;
    image_result *e = &res[i];
    if (r->rank == owner) {
      CHECK_MPI(MPI_Send(e->error, (int)sizeof e->error, MPI_CHAR, 0, 1, MPI_COMM_WORLD));
      CHECK_MPI(MPI_Send(&e->n_regions, 1, MPI_INT, 0, 2, MPI_COMM_WORLD));
      if (e->n_regions) {
        CHECK_MPI(MPI_Send(e->box, 4 * e->n_regions, MPI_INT32_T, 0, 3, MPI_COMM_WORLD));
        CHECK_MPI(MPI_Send(e->region_class, e->n_regions, MPI_INT32_T, 0, 4, MPI_COMM_WORLD));
        CHECK_MPI(MPI_Send(e->region_prob, e->n_regions, MPI_FLOAT, 0, 5, MPI_COMM_WORLD));
      }
    } else if (r->rank == 0) {
      CHECK_MPI(MPI_Recv(e->error, (int)sizeof e->error, MPI_CHAR, owner, 1, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE));
      CHECK_MPI(MPI_Recv(&e->n_regions, 1, MPI_INT, owner, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
      if (e->n_regions) {
        e->box = xmalloc((size_t)e->n_regions * 4 * sizeof *e->box);
        e->region_class = xmalloc((size_t)e->n_regions * sizeof *e->region_class);
        e->region_prob = xmalloc((size_t)e->n_regions * sizeof *e->region_prob);
        CHECK_MPI(MPI_Recv(e->box, 4 * e->n_regions, MPI_INT32_T, owner, 3, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
        CHECK_MPI(MPI_Recv(e->region_class, e->n_regions, MPI_INT32_T, owner, 4, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
        CHECK_MPI(MPI_Recv(e->region_prob, e->n_regions, MPI_FLOAT, owner, 5, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
      }
    }
  }
  free(c), free(d), free(all), free(mine);
}

static void run_free(predict_run *r, image_result *res) {
  for (int i = 0; res && i < r->n_images; i++)
    free(res[i].box), free(res[i].region_class), free(res[i].region_prob);
  free(res);
  for (int i = 0; i < r->n_images; i++)
    free(r->images[i]);
  free(r->images);
  if (r->paths)
    h5s_free_strings(r->paths, r->N);
  free(r->raw), free(r->rscin), free(r->labels);
  features_pool_free(&r->pool);
  model_state_free(&r->st);
  mgvit_free(r->m);
  detect_backbone_free(&r->ncd_bb);
  detect_backbone_free(&r->det);
}

typedef struct {
  const cli_args *a;
  const char *category;
} predict_ctx;

static int predict_body(const config_set *cs, world *w, const void *ctx) {
  const cli_args *a = ((const predict_ctx *)ctx)->a;
  predict_run r = {
      .cs = cs, .category = ((const predict_ctx *)ctx)->category, .rank = w->rank, .size = w->size};
  config *c = xmalloc(sizeof *c);
  int rc = config_for_category(c, cs, r.category) ? ANCD_EXIT_USAGE : 0;
  r.cfg = c;
  if (!rc) {
    output_category_dir(r.dir, sizeof r.dir, c, r.category);
    snprintf(r.out, sizeof r.out, "%s/predict", r.dir);
    rc = read_category(&r) || list_images(&r, a) ? ANCD_EXIT_INPUT : 0;
  }
  if (!rc)
    rc = load_models(&r);
  if (!rc && r.rank == 0)
    rc = fs_mkdirs(r.out) ? ANCD_EXIT_INPUT : 0;
  if (rc)
    log_error("category %s: %s", r.category, ancd_error());
  rc = agree_rc(rc, MPI_COMM_WORLD);
  image_result *res = NULL;
  if (!rc) {
    predict_auto_threshold(&r.threshold, &r.threshold_rule, r.rscin, r.labels, r.N);
    if (r.rank == 0)
      log_info("category %s: %d image%s against a pool of %d test images%s; OK/NG threshold "
               "%.4g (%s)",
               r.category, r.n_images, r.n_images == 1 ? "" : "s", r.N,
               r.pool.n_ref ? " and their references" : "", r.threshold, r.threshold_rule);
    int *counts = xmalloc((size_t)r.size * sizeof *counts),
        *displs = xmalloc((size_t)r.size * sizeof *displs);
    partition_counts(counts, displs, r.n_images, r.size, 1);
    r.first = displs[r.rank], r.n_own = counts[r.rank];
    res = xcalloc((size_t)r.n_images, sizeof *res);
    float *maps = xcalloc((size_t)r.n_images * r.S * r.S + 1, sizeof *maps);
    double t0 = now_seconds();
    int failed = predict_own(&r, res, maps);
    double dt = now_seconds() - t0;
    gather(&r, res, maps, counts, displs);
    int total = 0;
    CHECK_MPI(MPI_Reduce(&failed, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD));
    if (r.rank == 0) {
      if (write_tables(&r, res) != 0 || write_h5(&r, res, maps) != 0) {
        log_error("category %s: %s", r.category, ancd_error());
        rc = ANCD_EXIT_INPUT;
      }
      log_info(
          "predict: %d of %d images in %.1f s (%.1f ms per image per rank): %s/predictions.csv",
          r.n_images - total, r.n_images, dt, r.n_own ? 1e3 * dt / r.n_own : 0.0, r.out);
      if (total && !rc)
        rc = ANCD_EXIT_INPUT;
    }
    CHECK_MPI(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
    free(maps), free(counts), free(displs);
  }
  run_free(&r, res);
  free(c);
  return rc;
}

int job_predict(int argc, char **argv) {
  const char *category = NULL;
  const cli_opt opts[] = {
      {"category", 0, CLI_STRING, &category, "C", "the trained category (required)"}, {0}};
  const cli_job job = {
      "predict",
      "Anomaly map, score, OK/NG decision and discovered class (per region and per image) of new "
      "images, for a category whose detect (with detect.keep_features: true), regions and train "
      "have finished: its stored pool scores them as detect scores a test image, then MEBin, "
      "crops and the trained MGViT with region merging. Writes "
      "OUT/<dataset>/<category>/predict/predictions.csv, .json, .h5 and a picture per image. "
      "Images shard over the ranks. Exit 1 when an image could not be predicted.",
      "-c FILE [--set KEY=VALUE ...] [-o DIR] --category C IMAGE|DIR [IMAGE|DIR ...]", opts,
      CLI_MAX_POSITIONAL};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "predict", "the category's dataset, backbone and output")) != 0)
    return rc;
  if (!category || a.n_positional < 1) {
    fprintf(stderr, "ancd predict: give --category C and at least one image or folder (see "
                    "'ancd predict --help')\n");
    return ANCD_EXIT_USAGE;
  }
  const predict_ctx ctx = {&a, category};
  return job_on_world(&a, &argc, &argv, predict_body, &ctx);
}
