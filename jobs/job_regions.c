/* ancd regions: MEBin binarization and anomaly-centred crops for every test image of every
 * category (anomalyncd_spec §2-§3; issue 5), into <output>/<dataset>/<category>/regions.h5.
 * Categories go round-robin to the groups of parallel.group_size ranks; inside a group the images
 * are sharded over the ranks (partition_range), each rank binarizes and crops its images, and
 * the crop counts are all-gathered so that every rank writes its rows and pixel ranges of
 * regions.h5 collectively. The category-wide quantities (the joint min-max of the float maps,
 * MEBin's search range) are reduced over the group first, so the file does not depend on the
 * number of ranks. A complete regions.h5 made with the same config from the same maps.h5 marks
 * the category done; a rerun skips it (and only exports, with --export).
 *
 * Every rank of a group takes part in every collective: each step returns an exit code that the
 * ranks agree on (MPI_MAX) before the next collective. Exit codes: 0 ok, 1 data error (the
 * message names the category and file), 2 usage error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "category_loop.h"
#include "cli.h"
#include "dataset.h"
#include "detect_store.h"
#include "error.h"
#include "fsutil.h"
#include "h5store.h"
#include "image.h"
#include "log.h"
#include "mebin.h"
#include "output_paths.h"
#include "partition.h"
#include "regions_h5.h"
#include "regions_image.h"
#include "regions_maps.h"
#include "stage_key.h"
#include "stages.h"
#include "world.h"

/* One category's run on one rank of its group. */
typedef struct {
  const config *cfg;
  const char *category;
  const char *export_dir; /* --export, or NULL */
  MPI_Comm comm;
  int rank, size; /* in the group */
  char dir[OUTPUT_PATH_LEN];
  char maps_key[STAGE_KEY_LEN]; /* stage key of maps.h5 (or of the import settings); "" when
                                   maps.h5 is missing or damaged */
  char hash[STAGE_KEY_LEN];     /* regions.h5's stage key: regions keys chained with maps_key */

  int import;          /* detect.method import: PNG maps */
  maps_h5_info info;   /* maps.h5 otherwise */
  regions_item *items; /* [n] on every rank */
  int n, first, n_own;

  uint8_t *maps; /* this rank's 8-bit maps, concatenated */
  int *mh, *mw;  /* [n_own] map sizes */
  size_t *moff;  /* [n_own] offsets into maps */
  double lo, hi; /* joint float min-max (maps.h5) */
  int search_min, search_max, degenerate;
  image_regions *res; /* [n_own] */
  /* [n_own] 1: a kept crop covers the ground truth, 2: only the whole-image crop (no region
   * found) does, 0: none does, -1: not measured. Then the group's counts of >= 0, >= 1 and 2. */
  int8_t *gt_hit;
  int defect_images, defect_images_hit, defect_images_whole;
} regions_run;

/* The stage keys (group rank 0 decides, every rank gets them): maps_key from the current
 * maps.h5 when it passes the readers' test, or from the detect settings for imported maps. */
static void stage_keys(regions_run *r) {
  if (r->rank == 0) {
    r->maps_key[0] = '\0';
    if (r->import)
      stage_key(r->maps_key, STAGE_DETECT, r->cfg, "");
    else if (stage_file_check(r->dir, MAPS_FILE, r->maps_key) != 0)
      r->maps_key[0] = '\0';
    stage_key(r->hash, STAGE_REGIONS, r->cfg, r->maps_key);
    char want[STAGE_KEY_LEN];
    stage_key(want, STAGE_DETECT, r->cfg, "");
    if (r->maps_key[0] && strcmp(r->maps_key, want))
      log_warn("category %s: %s/maps.h5 was made with other dataset, backbone or detect settings "
               "than this config (stage key %s, this config %s): using it; run `ancd detect` to "
               "recompute it",
               r->category, r->dir, r->maps_key, want);
  }
  CHECK_MPI(MPI_Bcast(r->maps_key, STAGE_KEY_LEN, MPI_CHAR, 0, r->comm));
  CHECK_MPI(MPI_Bcast(r->hash, STAGE_KEY_LEN, MPI_CHAR, 0, r->comm));
}

/* 1 when regions.h5 passes the readers' test and carries this stage key, i.e. it was made with
 * these settings from the current maps (decided on group rank 0). A stale or damaged one is
 * removed (a damaged one with a warning), so that a complete file always matches its inputs;
 * nothing is judged while maps.h5 itself is missing or damaged (load_items reports that).
 * Returns -1 when a file cannot be removed. */
static int already_done(regions_run *r) {
  int done = 0;
  if (r->rank == 0 && r->maps_key[0]) {
    char path[OUTPUT_PATH_LEN + 16], key[STAGE_KEY_LEN] = "";
    snprintf(path, sizeof path, "%s/%s", r->dir, REGIONS_FILE);
    int st = stage_file_check(r->dir, REGIONS_FILE, key);
    done = st == 0 && !strcmp(key, r->hash);
    if (st < 0)
      log_warn("category %s: %s: recomputing", r->category, ancd_error());
    else if (st == 0 && !done)
      log_info("category %s: %s was made with other regions settings or other maps: recomputing",
               r->category, path);
    if (st != H5S_MISSING && !done && remove(path) != 0 && errno != ENOENT) {
      /* the new file still replaces it when published */
      log_error("category %s: cannot remove %s: %s", r->category, path, strerror(errno));
    }
  }
  CHECK_MPI(MPI_Bcast(&done, 1, MPI_INT, 0, r->comm));
  return done;
}

/* ---- step 1: the images and where their maps are, listed on group rank 0 ---- */

static int list_items_rank0(regions_run *r) {
  if (r->import) {
    if (regions_items_import(&r->items, &r->n, r->cfg, r->category) != 0) {
      log_error("category %s: %s", r->category, ancd_error());
      return ANCD_EXIT_INPUT;
    }
    snprintf(r->info.method, sizeof r->info.method, "import");
    return 0;
  }
  int st = stage_file_check(r->dir, MAPS_FILE, NULL);
  if (st == H5S_MISSING) {
    log_error("category %s: %s/maps.h5 is missing: run `ancd detect` first, or set "
              "detect.method: import with detect.maps_root",
              r->category, r->dir);
    return ANCD_EXIT_INPUT;
  }
  if (st != 0 || !r->maps_key[0]) {
    log_error("category %s: %s: run `ancd detect` to recompute it", r->category, ancd_error());
    return ANCD_EXIT_INPUT;
  }
  if (regions_items_from_maps_h5(&r->items, &r->info, r->dir) != 0) {
    log_error("category %s: %s", r->category, ancd_error());
    return ANCD_EXIT_INPUT;
  }
  r->n = r->info.n;
  /* The ground-truth masks are only measured against, so a dataset that moved is no error. */
  if (regions_items_masks(r->items, r->n, r->cfg, r->category) < 0)
    log_warn("category %s: %s: crops not measured against the ground truth", r->category,
             ancd_error());
  return 0;
}

static int load_items(regions_run *r) {
  int rc = r->rank == 0 ? list_items_rank0(r) : 0;
  rc = agree_rc(rc, r->comm);
  if (rc)
    return rc;
  CHECK_MPI(MPI_Bcast(&r->n, 1, MPI_INT, 0, r->comm));
  CHECK_MPI(MPI_Bcast(&r->info, (int)sizeof r->info, MPI_BYTE, 0, r->comm));
  if (r->rank != 0)
    r->items = xcalloc((size_t)r->n + 1, sizeof *r->items);
  MPI_Datatype item;
  CHECK_MPI(MPI_Type_contiguous((int)sizeof(regions_item), MPI_BYTE, &item));
  CHECK_MPI(MPI_Type_commit(&item));
  CHECK_MPI(MPI_Bcast(r->items, r->n, item, 0, r->comm));
  CHECK_MPI(MPI_Type_free(&item));
  long b, e;
  partition_range(r->n, r->size, r->rank, &b, &e);
  r->first = (int)b;
  r->n_own = (int)(e - b);
  return 0;
}

/* ---- step 2: this rank's 8-bit maps ---- */

/* §1.2: float maps -> (m - lo) / (hi - lo) * 255 truncated, lo/hi over the whole category. */
static int maps_from_h5(regions_run *r) {
  const int S = r->info.S;
  const size_t px = (size_t)S * S;
  float *f = xmalloc(((size_t)r->n_own * px + 1) * sizeof *f);
  int rc = 0;
  if (r->n_own > 0 && regions_read_maps_h5(f, r->dir, r->first, r->n_own, S) != 0) {
    log_error("category %s: %s", r->category, ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  rc = agree_rc(rc, r->comm);
  float lo = INFINITY, hi = -INFINITY;
  for (size_t k = 0; !rc && k < (size_t)r->n_own * px; k++) {
    lo = f[k] < lo ? f[k] : lo;
    hi = f[k] > hi ? f[k] : hi;
  }
  float glo = lo, ghi = hi;
  CHECK_MPI(MPI_Allreduce(&lo, &glo, 1, MPI_FLOAT, MPI_MIN, r->comm));
  CHECK_MPI(MPI_Allreduce(&hi, &ghi, 1, MPI_FLOAT, MPI_MAX, r->comm));
  r->lo = glo;
  r->hi = ghi;
  if (!rc) {
    if (!(ghi > glo) && r->rank == 0)
      log_warn("category %s: every map value is %g: the 8-bit maps are all 0", r->category, glo);
    r->maps = xmalloc((size_t)r->n_own * px + 1);
    maps_to_u8(r->maps, f, (size_t)r->n_own * px, glo, ghi);
    for (int i = 0; i < r->n_own; i++) {
      r->mh[i] = r->mw[i] = S;
      r->moff[i] = (size_t)i * px;
    }
  }
  free(f);
  return rc;
}

/* detect.method import: the PNG maps as 8-bit gray, each at its own size. */
static int maps_from_png(regions_run *r) {
  image_u8 *m = xcalloc((size_t)r->n_own + 1, sizeof *m);
  int failed = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(+ : failed)
  for (int i = 0; i < r->n_own; i++)
    if (image_load(&m[i], r->items[r->first + i].map, 1) != 0) {
      log_error("category %s: %s", r->category, ancd_error());
      failed++;
    }
  size_t total = 0;
  for (int i = 0; i < r->n_own && !failed; i++) {
    r->mh[i] = m[i].h;
    r->mw[i] = m[i].w;
    r->moff[i] = total;
    total += (size_t)m[i].h * m[i].w;
  }
  if (!failed) {
    r->maps = xmalloc(total + 1);
    for (int i = 0; i < r->n_own; i++)
      memcpy(r->maps + r->moff[i], m[i].data, (size_t)m[i].h * m[i].w);
  }
  for (int i = 0; i < r->n_own; i++)
    image_free(&m[i]);
  free(m);
  r->lo = 0;
  r->hi = 255;
  return agree_rc(failed ? ANCD_EXIT_INPUT : 0, r->comm);
}

/* §2.1 over every image of the category, whatever rank holds it. */
static void search_range(regions_run *r) {
  uint8_t *own = xmalloc((size_t)r->n_own + 1), *all = xmalloc((size_t)r->n + 1);
  for (int i = 0; i < r->n_own; i++) {
    const uint8_t *m = r->maps + r->moff[i];
    uint8_t mx = 0;
    for (size_t k = 0; k < (size_t)r->mh[i] * r->mw[i]; k++)
      mx = m[k] > mx ? m[k] : mx;
    own[i] = mx;
  }
  int *counts = xmalloc((size_t)r->size * sizeof *counts);
  int *displs = xmalloc((size_t)r->size * sizeof *displs);
  partition_counts(counts, displs, r->n, r->size, 1);
  CHECK_MPI(MPI_Allgatherv(own, r->n_own, MPI_UINT8_T, all, counts, displs, MPI_UINT8_T, r->comm));
  mebin_search_range(&r->search_min, &r->search_max, all, r->n);
  if (r->cfg->regions.search_min >= 0) /* no normal images: a lower bound of the user's (§2.1) */
    r->search_min =
        r->cfg->regions.search_min < r->search_max ? r->cfg->regions.search_min : r->search_max;
  r->degenerate = r->search_min == r->search_max;
  if (r->degenerate && r->rank == 0)
    log_warn("category %s: every image's 8-bit map peaks at %d (MEBin's MAX == MIN, where the "
             "reference divides by zero): every pixel >= %d is foreground",
             r->category, r->search_min, r->search_min);
  free(counts);
  free(displs);
  free(own);
  free(all);
}

/* ---- step 3: MEBin and crops of this rank's images ---- */

/* <dir>/regions_vis/<type>/<stem>.png */
static void vis_path(char *out, size_t n, const regions_run *r, const regions_item *it) {
  char stem[CFG_PATH_LEN];
  if (fs_stem(stem, sizeof stem, it->path) != 0)
    ANCD_FATAL("%s", ancd_error()); /* cannot be: the stem is shorter than the path */
  snprintf(out, n, "%s/regions_vis/%s/%s.png", r->dir, it->type, stem);
}

static int process_images(regions_run *r) {
  r->res = xcalloc((size_t)r->n_own + 1, sizeof *r->res);
  r->gt_hit = xmalloc((size_t)r->n_own + 1);
  const regions_params p = {
      .search_min = r->search_min, .search_max = r->search_max, .opt = &r->cfg->regions};
  char label[96];
  snprintf(label, sizeof label, "regions %.60s", r->category);
  progress bar;
  progress_start(&bar, label, r->n_own);
  long done = 0;
  int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
  for (int i = 0; i < r->n_own; i++) {
    const regions_item *it = &r->items[r->first + i];
    char vis[OUTPUT_PATH_LEN + 2 * CFG_PATH_LEN];
    if (r->cfg->regions.vis)
      vis_path(vis, sizeof vis, r, it);
    int bad = regions_image(&r->res[i], it->path, r->maps + r->moff[i], r->mh[i], r->mw[i], &p,
                            r->cfg->regions.vis ? vis : NULL) != 0;
    if (bad) {
      log_error("category %s: %s", r->category, ancd_error());
      failed++;
    }
    int hit = -1;
    if (!bad && it->label == 1 && it->mask[0] && regions_gt_hit(&hit, &r->res[i], it->mask))
      log_warn("category %s: %s: not measured against the ground truth", r->category, ancd_error());
    const int32_t *w = r->res[i].window;
    if (hit == 1 && r->res[i].n_crops == 1 && w[0] <= 0 && w[1] <= 0 && w[2] >= r->res[i].W &&
        w[3] >= r->res[i].H)
      hit = 2;
    r->gt_hit[i] = (int8_t)hit;
    long now;
#pragma omp atomic capture
    now = ++done;
#ifdef _OPENMP
    if (omp_get_thread_num() == 0) /* the bar belongs to one thread */
#endif
      progress_update(&bar, now);
  }
  progress_finish(&bar);
  return failed ? ANCD_EXIT_INPUT : 0;
}

/* The category's count of anomalous images with a mask and of those that a kept crop covers
 * (group-wide, so the file does not depend on the number of ranks). */
static void count_gt_hits(regions_run *r) {
  int own[3] = {0, 0, 0}, all[3];
  for (int i = 0; i < r->n_own; i++) {
    own[0] += r->gt_hit[i] >= 0;
    own[1] += r->gt_hit[i] >= 1;
    own[2] += r->gt_hit[i] == 2;
  }
  CHECK_MPI(MPI_Allreduce(own, all, 3, MPI_INT, MPI_SUM, r->comm));
  r->defect_images = all[0];
  r->defect_images_hit = all[1];
  r->defect_images_whole = all[2];
}

/* The whole-image crop covers any defect, so those images are named apart. */
static void log_gt_hits(const char *category, int64_t images, int64_t hit, int64_t whole) {
  log_info("category %s: kept crops on the ground truth in %lld of %lld defective images (%.1f%%), "
           "%lld of them by the whole-image crop (no region found)",
           category, (long long)hit, (long long)images, 100.0 * (double)hit / (double)images,
           (long long)whole);
}

/* ---- step 4: regions.h5 ---- */

static int write_store(regions_run *r, long *n_crops) {
  const int n_own = r->n_own;
  long rows = 0;
  size_t pool = 0;
  for (int i = 0; i < n_own; i++) {
    rows += r->res[i].n_crops;
    pool += r->res[i].pool;
  }
  int32_t *per_image = xmalloc(((size_t)n_own * 5 + 1) * sizeof *per_image);
  int32_t *thr = per_image, *est = thr + n_own, *nc = est + n_own, *ih = nc + n_own,
          *iw = ih + n_own;
  int32_t *image_index = xmalloc(((size_t)rows + 1) * sizeof *image_index);
  int32_t *win = xmalloc(((size_t)rows * 4 + 1) * sizeof *win);
  int32_t *ch = xmalloc(((size_t)rows + 1) * sizeof *ch),
          *cw = xmalloc(((size_t)rows + 1) * sizeof *cw);
  double *box = xmalloc(((size_t)rows * 4 + 1) * sizeof *box);
  int64_t *area = xmalloc(((size_t)rows + 1) * sizeof *area);
  float *score = xmalloc(((size_t)rows + 1) * sizeof *score);
  uint8_t *pixels = xmalloc(pool * 3 + 1), *masks = xmalloc(pool + 1);
  long j = 0;
  size_t at = 0;
  for (int i = 0; i < n_own; i++) {
    const image_regions *g = &r->res[i];
    thr[i] = g->threshold;
    est[i] = g->est;
    nc[i] = g->n_crops;
    ih[i] = g->H;
    iw[i] = g->W;
    for (int k = 0; k < g->n_crops; k++, j++) {
      image_index[j] = r->first + i;
      const crop_box *b = &g->box[k];
      box[4 * j] = b->l;
      box[4 * j + 1] = b->u;
      box[4 * j + 2] = b->r;
      box[4 * j + 3] = b->d;
      memcpy(win + 4 * j, g->window + 4 * k, 4 * sizeof *win);
      cw[j] = win[4 * j + 2] - win[4 * j];
      ch[j] = win[4 * j + 3] - win[4 * j + 1];
      area[j] = g->mask_area[k];
      score[j] = g->score[k];
    }
    memcpy(pixels + 3 * at, g->pixels, 3 * g->pool);
    memcpy(masks + at, g->masks, g->pool);
    at += g->pool;
  }
  const char **paths = xmalloc(((size_t)r->n + 1) * sizeof *paths);
  const char **types = xmalloc(((size_t)r->n + 1) * sizeof *types);
  uint8_t *labels = xmalloc((size_t)r->n + 1);
  for (int i = 0; i < r->n; i++) {
    paths[i] = r->items[i].path;
    types[i] = r->items[i].type;
    labels[i] = (uint8_t)r->items[i].label;
  }
  regions_record rec = {.n = r->n,
                        .first = r->first,
                        .n_own = n_own,
                        .threshold = thr,
                        .est = est,
                        .n_crops = nc,
                        .image_height = ih,
                        .image_width = iw,
                        .r_own = rows,
                        .image_index = image_index,
                        .box = box,
                        .box_int = win,
                        .crop_height = ch,
                        .crop_width = cw,
                        .mask_area = area,
                        .score = score,
                        .crop_pixels = pixels,
                        .mask_pixels = masks,
                        .labels = labels,
                        .paths = paths,
                        .types = types,
                        .cfg = r->cfg,
                        .stage_key = r->hash,
                        .category = r->category,
                        .maps_method = r->info.method,
                        .maps_stage_key = r->maps_key,
                        .map_lo = r->lo,
                        .map_hi = r->hi,
                        .search_min = r->search_min,
                        .search_max = r->search_max,
                        .degenerate = r->degenerate,
                        .defect_images = r->defect_images,
                        .defect_images_hit = r->defect_images_hit,
                        .defect_images_whole = r->defect_images_whole};
  int rc = 0;
  if (regions_h5_write(r->dir, &rec, r->comm) != 0) {
    if (r->rank == 0)
      log_error("category %s: %s", r->category, ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  long total = rows;
  CHECK_MPI(MPI_Allreduce(&rows, &total, 1, MPI_LONG, MPI_SUM, r->comm));
  *n_crops = total;
  free(per_image);
  free(image_index);
  free(win);
  free(ch);
  free(cw);
  free(box);
  free(area);
  free(score);
  free(pixels);
  free(masks);
  free(paths);
  free(types);
  free(labels);
  return rc;
}

/* ---- step 5: --export, from the file (so a skipped category exports too) ---- */

static int export_crops(const regions_run *r) {
  char path[OUTPUT_PATH_LEN + 16];
  snprintf(path, sizeof path, "%s/%s", r->dir, REGIONS_FILE);
  int n = 0, rc = 0;
  if (r->rank == 0) {
    h5s_file f;
    long crops;
    if (regions_h5_open(&f, path) != 0) {
      rc = -1;
    } else {
      rc = regions_h5_counts(&f, &n, &crops);
      h5s_close(&f);
    }
  }
  CHECK_MPI(MPI_Bcast(&n, 1, MPI_INT, 0, r->comm));
  if (agree_rc(rc ? ANCD_EXIT_INPUT : 0, r->comm)) {
    if (r->rank == 0)
      log_error("category %s: %s", r->category, ancd_error());
    return ANCD_EXIT_INPUT;
  }
  long b, e;
  partition_range(n, r->size, r->rank, &b, &e);
  rc = 0;
  if (regions_export_png(r->export_dir, r->category, path, (int)b, (int)(e - b)) != 0) {
    log_error("category %s: --export %s: %s", r->category, r->export_dir, ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  rc = agree_rc(rc, r->comm);
  if (!rc && r->rank == 0)
    log_info("category %s: crops exported to %s/%s/images and masks", r->category, r->export_dir,
             r->category);
  return rc;
}

static void run_free(regions_run *r) {
  if (r->res)
    for (int i = 0; i < r->n_own; i++)
      image_regions_free(&r->res[i]);
  free(r->res);
  free(r->gt_hit);
  free(r->maps);
  free(r->mh);
  free(r->mw);
  free(r->moff);
  free(r->items);
}

/* ---- one category ---- */

static void log_summary(const regions_run *r, long n_crops, double dt) {
  if (r->rank != 0)
    return;
  log_info("category %s: %d images, %ld crops (%.2f per image), MEBin range [%d, %d], %.1f s "
           "(%.2f images/s)",
           r->category, r->n, n_crops, r->n > 0 ? (double)n_crops / r->n : 0.0, r->search_min,
           r->search_max, dt, dt > 0 ? r->n / dt : 0.0);
  if (r->defect_images > 0)
    log_gt_hits(r->category, r->defect_images, r->defect_images_hit, r->defect_images_whole);
}

/* A skipped category still reports where its crops landed, from the file (group rank 0). */
static void log_gt_hits_from_file(const regions_run *r) {
  char path[OUTPUT_PATH_LEN + 16];
  snprintf(path, sizeof path, "%s/%s", r->dir, REGIONS_FILE);
  h5s_file f;
  if (r->rank != 0 || regions_h5_open(&f, path) != 0)
    return;
  int64_t images = 0, hit = 0, whole = 0;
  if (h5s_attr_exists(&f, "/", "defect_images") &&
      h5s_attr_get_i64(&f, "/", "defect_images", &images) == 0 &&
      h5s_attr_get_i64(&f, "/", "defect_images_hit", &hit) == 0 &&
      h5s_attr_get_i64(&f, "/", "defect_images_whole", &whole) == 0 && images > 0)
    log_gt_hits(r->category, images, hit, whole);
  h5s_close(&f);
}

/* A category_run_fn: ctx is --export DIR or NULL. */
static int regions_category(const void *export_dir, const config *c, const char *category,
                            const world *w, long *n_images) {
  regions_run r = {.cfg = c,
                   .category = category,
                   .export_dir = export_dir,
                   .comm = w->group_comm,
                   .rank = w->group_rank,
                   .size = w->group_size,
                   .import = !strcmp(c->detect.method, "import")};
  *n_images = 0;
  output_category_dir(r.dir, sizeof r.dir, c, category);
  stage_keys(&r);
  int rc = 0, done = already_done(&r);
  if (done < 0) {
    rc = ANCD_EXIT_INPUT;
  } else if (done) {
    log_info("category %s: skipped (complete: %s/%s, stage key %s)", category, r.dir, REGIONS_FILE,
             r.hash);
    log_gt_hits_from_file(&r);
  } else {
    double t0 = now_seconds();
    rc = load_items(&r);
    if (!rc) {
      if (r.rank == 0)
        log_info("category %s: %d test images on %d rank%s, maps from %s", category, r.n, r.size,
                 r.size == 1 ? "" : "s", r.import ? c->detect.maps_root : "maps.h5");
      r.mh = xmalloc(((size_t)r.n_own + 1) * sizeof *r.mh);
      r.mw = xmalloc(((size_t)r.n_own + 1) * sizeof *r.mw);
      r.moff = xmalloc(((size_t)r.n_own + 1) * sizeof *r.moff);
      rc = r.import ? maps_from_png(&r) : maps_from_h5(&r);
    }
    if (!rc) {
      search_range(&r);
      rc = agree_rc(process_images(&r), r.comm);
    }
    if (!rc)
      count_gt_hits(&r);
    long n_crops = 0;
    if (!rc)
      rc = write_store(&r, &n_crops);
    if (!rc) {
      log_summary(&r, n_crops, now_seconds() - t0);
      *n_images = r.n;
    }
  }
  if (!rc && export_dir)
    rc = export_crops(&r);
  run_free(&r);
  return rc;
}

/* ---- the job ---- */

static int check_config(const config *c, const char *category) {
  if (!strcmp(c->detect.method, "import") && !c->detect.maps_root[0]) {
    log_error("category %s: detect.method import needs detect.maps_root (the folder of 8-bit PNG "
              "maps <root>/<category>/<type>/<file>)",
              category);
    return ANCD_EXIT_USAGE;
  }
  return 0;
}

/* `ancd run`'s stage: no exports. */
static int regions_category_run(const void *cs, const config *c, const char *category,
                                const world *w, long *n_images) {
  (void)cs;
  return regions_category(NULL, c, category, w, n_images);
}
const job_stage stage_regions = {"regions", NULL, check_config, regions_category_run};

static int regions_all(const config_set *cs, world *w, const void *export_dir) {
  world_split(w, cs->base.parallel.group_size);
  cfg_names *cats = xmalloc(sizeof *cats);
  long all = 0; /* images over the groups */
  double dt = 0;
  int rc = categories_run(cats, &all, &dt, cs, w, check_config, regions_category, export_dir);
  if (w->rank == 0 && all > 0)
    log_info("regions: %ld images in %.1f s: %.2f images/s on %d rank%s", all, dt, all / dt,
             w->size, w->size == 1 ? "" : "s");
  free(cats);
  return rc;
}

int job_regions(int argc, char **argv) {
  const char *export_dir = NULL;
  const cli_opt opts[] = {{"export", 0, CLI_STRING, &export_dir, "DIR",
                           "also write the crops and masks as PNG in AnomalyNCD's layout "
                           "DIR/<category>/images|masks/<type>/<stem>_crop<i>.png"},
                          {0}};
  const cli_job job = {"regions",
                       "MEBin binarization and anomaly-centred crops with masks and scores for "
                       "every test image of every category: OUT/<dataset>/<category>/regions.h5, "
                       "from maps.h5 of `ancd detect` or, with detect.method: import, from 8-bit "
                       "PNG maps under detect.maps_root. Categories go round-robin to groups of "
                       "parallel.group_size ranks; the images of a category are sharded over its "
                       "group. Complete categories are skipped.",
                       "-c FILE [--set KEY=VALUE ...] [-o DIR] [--export DIR]", opts, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "regions", "its dataset and output")) != 0)
    return rc;
  return job_on_world(&a, &argc, &argv, regions_all, export_dir);
}
