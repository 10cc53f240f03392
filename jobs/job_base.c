/* ancd base: a labeled base set (anomalyncd_spec §4; issue 10 "Inputs") from any dataset with
 * ground-truth masks, into <output.dir>/<dataset.name>/base.h5 (io/base_set.h). As the reference
 * makes AeBAD_crop (`crop_sub_image_mask(image, mask, anomaly_map=None, est=1)`): every test
 * image of a defect type is cropped by the §3 geometry on its binarised ground-truth mask,
 * keeping at most est + 1 = 2 boxes (§3.4); there is no anomaly map, so no score. The foreground
 * is ancd's ground-truth rule (as detect): >= 128, > 0 for layout visa. The reference takes any
 * non-zero pixel (§3.1); on MTD's anti-aliased masks that widens 48 of 415 crops by more than
 * 4 px (same counts). Crops are RGB, mask crops keep the ground-truth grey values (PIL "L"). One
 * class per defect type, sorted by name (labels 0..n-1); with several categories a class is
 * <category>_<type>. Images whose mask has no foreground are skipped with a warning (the
 * reference would cut the whole image with an empty mask: a useless labeled sample).
 *
 * The work is small (MTD: 392 images), so world rank 0 does all of it with OpenMP over the
 * images and the other ranks wait. A valid base.h5 with the same stage key (stage_key_base:
 * the dataset section) is skipped. Exit codes: 0 ok, 1 data error, 2 usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base_set.h"
#include "category_loop.h"
#include "cli.h"
#include "crops.h"
#include "dataset.h"
#include "error.h"
#include "fsutil.h"
#include "h5store.h"
#include "image.h"
#include "log.h"
#include "output_paths.h"
#include "stage_key.h"
#include "world.h"

#define BASE_MAX_CROPS 2 /* est = 1 keeps est + 1 boxes (§3.4, §4 step 3) */

/* One image of the base set and its crops. */
typedef struct {
  char path[CFG_PATH_LEN], mask[CFG_PATH_LEN];
  char cls_name[CFG_NAME_LEN];
  int cls;
  int H, W, n_crops, empty;
  crop_box box[BASE_MAX_CROPS];
  int32_t win[4 * BASE_MAX_CROPS];
  int64_t area[BASE_MAX_CROPS];
  uint8_t *pixels, *masks; /* the crops, concatenated */
  size_t pool;             /* sum h*w */
} base_image;

typedef struct {
  const config *cfg;
  uint8_t fg_min;                  /* a mask pixel >= fg_min is foreground */
  char path[OUTPUT_PATH_LEN + 16]; /* base.h5 */
  char key[STAGE_KEY_LEN];
  char categories[CFG_MAX_NAMES * CFG_NAME_LEN];
  base_image *im;
  int n, cap;
  char (*classes)[CFG_NAME_LEN];
  int n_classes;
} base_run;

/* ---- the images: test images of a defect type with a mask, validated ---- */

static int add_category(base_run *r, const char *category, int several) {
  ds_manifest m = {0};
  if (ds_scan(&m, &r->cfg->dataset, category) != 0)
    return -1;
  int rc = 0;
  if (!m.has_masks)
    rc = ancd_errorf("category %s: layout %s has no ground-truth masks: a base set is cut from "
                     "them (dataset.mask_dir for layout folder)",
                     category, r->cfg->dataset.layout);
  int kept = 0; /* anomalous test images with their mask */
  for (int i = 0; i < m.n && rc == 0; i++)
    if (m.items[i].split == DS_TEST && m.items[i].label == 1 && m.items[i].mask[0])
      m.items[kept++] = m.items[i];
  m.n = kept;
  if (rc == 0 && kept == 0)
    rc = ancd_errorf("category %s: no test image of a defect type has a ground-truth mask",
                     category);
  ds_report rep = {0};
  if (rc == 0)
    rc = ds_validate(&m, &rep, r->cfg->io.max_bad_fraction); /* masks at the image size */
  ds_report_free(&rep);
  for (int i = 0; i < m.n && rc == 0; i++) {
    const ds_item *it = &m.items[i];
    if (r->n == r->cap) {
      r->cap = r->cap ? 2 * r->cap : 256;
      r->im = xrealloc(r->im, (size_t)r->cap * sizeof *r->im);
    }
    base_image *b = &r->im[r->n];
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", it->path);
    snprintf(b->mask, sizeof b->mask, "%s", it->mask);
    int len = several ? snprintf(b->cls_name, sizeof b->cls_name, "%s_%s", category, it->type)
                      : snprintf(b->cls_name, sizeof b->cls_name, "%s", it->type);
    if (len >= (int)sizeof b->cls_name)
      rc = ancd_errorf("%s: class name '%s_%s' longer than %d bytes", it->path, category, it->type,
                       CFG_NAME_LEN - 1);
    r->n++;
  }
  ds_free(&m);
  return rc;
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }
static int by_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Classes: the sorted distinct names; each image gets its index. */
static void assign_classes(base_run *r) {
  r->classes = xcalloc((size_t)r->n + 1, sizeof *r->classes);
  for (int i = 0; i < r->n; i++)
    memcpy(r->classes[i], r->im[i].cls_name, CFG_NAME_LEN);
  qsort(r->classes, (size_t)r->n, sizeof *r->classes, by_name);
  int k = 0;
  for (int i = 0; i < r->n; i++)
    if (k == 0 || strcmp(r->classes[k - 1], r->classes[i]))
      memmove(r->classes[k++], r->classes[i], CFG_NAME_LEN);
  r->n_classes = k;
  for (int i = 0; i < r->n; i++) {
    const char(*hit)[CFG_NAME_LEN] =
        bsearch(r->im[i].cls_name, r->classes, (size_t)k, sizeof *r->classes, by_name);
    r->im[i].cls = (int)(hit - r->classes);
  }
}

/* ---- one image: §3 on its ground-truth mask ---- */

static int crop_image(base_image *b, uint8_t fg_min) {
  image_u8 img = {0}, mask = {0}, bin = {0};
  int rc = image_load(&img, b->path, 3);
  if (rc == 0)
    rc = image_load(&mask, b->mask, 1);
  if (rc == 0 && (mask.w != img.w || mask.h != img.h))
    rc = ancd_errorf("%s: mask is %dx%d, its image %s is %dx%d", b->mask, mask.w, mask.h, b->path,
                     img.w, img.h);
  if (rc == 0)
    rc = image_alloc(&bin, mask.w, mask.h, 1);
  size_t fg = 0;
  for (size_t k = 0; rc == 0 && k < (size_t)mask.w * mask.h; k++) {
    bin.data[k] = mask.data[k] >= fg_min ? 255 : 0;
    fg += bin.data[k] != 0;
  }
  b->H = img.h;
  b->W = img.w;
  b->empty = rc == 0 && fg == 0;
  if (rc == 0 && !b->empty) {
    /* §3.1-§3.4 with est = 1: regions of the binarised mask, at most 2 boxes. */
    b->n_crops = crop_boxes(b->box, BASE_MAX_CROPS, bin.data, img.h, img.w, 1);
    for (int i = 0; i < b->n_crops && rc == 0; i++) {
      int x0, y0, x1, y1;
      crop_box_round(&x0, &y0, &x1, &y1, &b->box[i]);
      if (x1 <= x0 || y1 <= y0)
        rc = ancd_errorf("%s: crop %d: empty window (%d, %d, %d, %d)", b->path, i, x0, y0, x1, y1);
      int32_t *w = b->win + 4 * i;
      w[0] = x0;
      w[1] = y0;
      w[2] = x1;
      w[3] = y1;
      b->pool += (size_t)(x1 - x0) * (y1 - y0);
    }
  }
  if (rc == 0 && !b->empty) {
    b->pixels = xmalloc(3 * b->pool + 1);
    b->masks = xmalloc(b->pool + 1);
    size_t at = 0;
    for (int i = 0; i < b->n_crops && rc == 0; i++) {
      const int32_t *w = b->win + 4 * i;
      const int cw = w[2] - w[0], ch = w[3] - w[1];
      image_u8 pc = {0}, mc = {0}, bc = {0}; /* §3.5: zeros outside the image */
      rc = image_crop(&pc, &img, w[0], w[1], cw, ch);
      if (rc == 0)
        rc = image_crop(&mc, &mask, w[0], w[1], cw, ch);
      if (rc == 0)
        rc = image_crop(&bc, &bin, w[0], w[1], cw, ch);
      if (rc == 0) {
        const size_t px = (size_t)cw * ch;
        memcpy(b->pixels + 3 * at, pc.data, 3 * px);
        memcpy(b->masks + at, mc.data, px);
        b->area[i] = 0;
        for (size_t k = 0; k < px; k++)
          b->area[i] += bc.data[k] != 0;
        at += px;
      }
      image_free(&pc);
      image_free(&mc);
      image_free(&bc);
    }
  }
  image_free(&img);
  image_free(&mask);
  image_free(&bin);
  return rc;
}

static int crop_all(base_run *r) {
  progress bar;
  progress_start(&bar, "base", r->n);
  long done = 0;
  int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
  for (int i = 0; i < r->n; i++) {
    if (crop_image(&r->im[i], r->fg_min) != 0) {
      log_error("%s", ancd_error());
      failed++;
    }
    long now;
#pragma omp atomic capture
    now = ++done;
#ifdef _OPENMP
    if (omp_get_thread_num() == 0) /* the bar belongs to one thread */
#endif
      progress_update(&bar, now);
  }
  progress_finish(&bar);
  return failed ? -1 : 0;
}

/* ---- base.h5 ---- */

/* Drops the images with an empty mask and the classes left without crops (warnings), then
 * renumbers the classes. Returns the number of images skipped. */
static int drop_empty(base_run *r) {
  int kept = 0, skipped = 0;
  for (int i = 0; i < r->n; i++) {
    if (r->im[i].empty) {
      log_warn("%s: no foreground (>= %d) in its ground-truth mask %s: skipped", r->im[i].path,
               r->fg_min, r->im[i].mask);
      skipped++;
    } else {
      r->im[kept++] = r->im[i];
    }
  }
  r->n = kept;
  int *count = xcalloc((size_t)r->n_classes + 1, sizeof *count);
  int *renum = xcalloc((size_t)r->n_classes + 1, sizeof *renum);
  for (int i = 0; i < r->n; i++)
    count[r->im[i].cls]++;
  int k = 0;
  for (int c = 0; c < r->n_classes; c++) {
    renum[c] = k;
    if (count[c])
      memmove(r->classes[k++], r->classes[c], CFG_NAME_LEN);
    else
      log_warn("base: defect type %s has no image with a non-empty mask: no class", r->classes[c]);
  }
  r->n_classes = k;
  for (int i = 0; i < r->n; i++)
    r->im[i].cls = renum[r->im[i].cls];
  free(count);
  free(renum);
  return skipped;
}

/* <class>/<stem>_crop<i>.png, unique: two images of a class with one stem would collide. */
static int crop_names(char **names, const base_run *r) {
  long j = 0;
  for (int i = 0; i < r->n; i++) {
    char stem[CFG_PATH_LEN];
    if (fs_stem(stem, sizeof stem, r->im[i].path) != 0 || !stem[0])
      return ancd_errorf("%s: no file stem to name its crops", r->im[i].path);
    for (int k = 0; k < r->im[i].n_crops; k++, j++) {
      size_t n = strlen(r->classes[r->im[i].cls]) + strlen(stem) + 32;
      names[j] = xmalloc(n);
      snprintf(names[j], n, "%s/%s_crop%d.png", r->classes[r->im[i].cls], stem, k);
    }
  }
  char **sorted = xmalloc(((size_t)j + 1) * sizeof *sorted);
  memcpy(sorted, names, (size_t)j * sizeof *sorted);
  qsort(sorted, (size_t)j, sizeof *sorted, by_str);
  int rc = 0;
  for (long k = 1; k < j && rc == 0; k++)
    if (!strcmp(sorted[k - 1], sorted[k]))
      rc = ancd_errorf("two images of one class have the stem of %s: crop names must be unique",
                       sorted[k]);
  free(sorted);
  return rc;
}

static int write_file(const base_run *r, int skipped) {
  long R = 0;
  size_t pool = 0;
  for (int i = 0; i < r->n; i++) {
    R += r->im[i].n_crops;
    pool += r->im[i].pool;
  }
  const char **cls = xmalloc(((size_t)r->n_classes + 1) * sizeof *cls);
  for (int k = 0; k < r->n_classes; k++)
    cls[k] = r->classes[k];
  const char **paths = xmalloc(((size_t)r->n + 1) * sizeof *paths);
  int32_t *per_image = xmalloc(((size_t)r->n * 4 + 1) * sizeof *per_image);
  int32_t *icls = per_image, *ih = icls + r->n, *iw = ih + r->n, *nc = iw + r->n;
  int32_t *per_crop = xmalloc(((size_t)R * 8 + 1) * sizeof *per_crop);
  int32_t *img = per_crop, *ccls = img + R, *ch = ccls + R, *cw = ch + R, *win = cw + R;
  double *box = xmalloc(((size_t)R * 4 + 1) * sizeof *box);
  int64_t *area = xmalloc(((size_t)R + 1) * sizeof *area);
  char **names = xcalloc((size_t)R + 1, sizeof *names);
  uint8_t *pixels = xmalloc(3 * pool + 1), *masks = xmalloc(pool + 1);
  long j = 0;
  size_t at = 0;
  for (int i = 0; i < r->n; i++) {
    const base_image *b = &r->im[i];
    paths[i] = b->path;
    icls[i] = b->cls;
    ih[i] = b->H;
    iw[i] = b->W;
    nc[i] = b->n_crops;
    for (int k = 0; k < b->n_crops; k++, j++) {
      img[j] = i;
      ccls[j] = b->cls;
      memcpy(win + 4 * j, b->win + 4 * k, 4 * sizeof *win);
      cw[j] = win[4 * j + 2] - win[4 * j];
      ch[j] = win[4 * j + 3] - win[4 * j + 1];
      box[4 * j] = b->box[k].l;
      box[4 * j + 1] = b->box[k].u;
      box[4 * j + 2] = b->box[k].r;
      box[4 * j + 3] = b->box[k].d;
      area[j] = b->area[k];
    }
    memcpy(pixels + 3 * at, b->pixels, 3 * b->pool);
    memcpy(masks + at, b->masks, b->pool);
    at += b->pool;
  }
  int rc = crop_names(names, r);
  base_record rec = {.n_classes = r->n_classes,
                     .class_names = cls,
                     .n_images = r->n,
                     .paths = paths,
                     .image_class = icls,
                     .image_height = ih,
                     .image_width = iw,
                     .n_crops = nc,
                     .n_crops_total = R,
                     .image_index = img,
                     .class_index = ccls,
                     .names = (const char *const *)names,
                     .box = box,
                     .box_int = win,
                     .crop_height = ch,
                     .crop_width = cw,
                     .mask_area = area,
                     .crop_pixels = pixels,
                     .mask_pixels = masks,
                     .cfg = r->cfg,
                     .stage_key = r->key,
                     .categories = r->categories,
                     .foreground_min = r->fg_min,
                     .skipped_empty = skipped};
  if (rc == 0)
    rc = base_h5_write(r->path, &rec);
  for (long k = 0; k < R; k++)
    free(names[k]);
  free(names);
  free(cls);
  free(paths);
  free(per_image);
  free(per_crop);
  free(box);
  free(area);
  free(pixels);
  free(masks);
  return rc;
}

static void log_summary(const base_run *r, int skipped, double dt) {
  long total = 0;
  for (int k = 0; k < r->n_classes; k++) {
    int images = 0;
    long crops = 0;
    for (int i = 0; i < r->n; i++)
      if (r->im[i].cls == k) {
        images++;
        crops += r->im[i].n_crops;
      }
    log_info("base: class %d %s: %d images, %ld crops", k, r->classes[k], images, crops);
    total += crops;
  }
  log_info("base: %d classes, %d images (%d skipped: empty mask), %ld crops in %.1f s: %s",
           r->n_classes, r->n, skipped, total, dt, r->path);
}

static void run_free(base_run *r) {
  for (int i = 0; i < r->n; i++) {
    free(r->im[i].pixels);
    free(r->im[i].masks);
  }
  free(r->im);
  free(r->classes);
}

/* 1 when base.h5 is valid and carries this key; a stale or damaged one is removed first so that
 * a complete file always matches its inputs. -1 when it cannot be removed. */
static int already_done(const base_run *r, const char *dir) {
  char have[STAGE_KEY_LEN] = "";
  int st = stage_file_check(dir, BASE_FILE, have);
  if (st == 0 && !strcmp(have, r->key))
    return 1;
  if (st < 0)
    log_warn("base: %s: recomputing", ancd_error());
  else if (st == 0)
    log_info("base: %s was made with other dataset settings: recomputing", r->path);
  if (st != H5S_MISSING && remove(r->path) != 0 && errno != ENOENT) {
    log_error("base: cannot remove %s: %s", r->path, strerror(errno));
    return -1;
  }
  return 0;
}

static int export_folder(const char *path, const char *dir) {
  base_set b;
  if (base_set_load(&b, path) != 0)
    return -1;
  int rc = base_set_write_folder(&b, dir);
  if (rc == 0)
    log_info("base: %d crops of %d classes exported to %s/images and masks", b.n, b.n_classes, dir);
  base_set_free(&b);
  return rc;
}

/* World rank 0's work. */
static int base_rank0(const config *c, const char *export_dir) {
  /* ancd's ground-truth rule (detect_load_mask): >= 128, VisA's masks > 0. */
  base_run r = {.cfg = c, .fg_min = !strcmp(c->dataset.layout, "visa") ? 1 : 128};
  char dir[OUTPUT_PATH_LEN];
  output_dataset_dir(dir, sizeof dir, c);
  snprintf(r.path, sizeof r.path, "%s/%s", dir, BASE_FILE);
  stage_key_base(r.key, c);
  int done = already_done(&r, dir);
  if (done < 0)
    return ANCD_EXIT_INPUT;
  if (done) {
    log_info("base: skipped (complete: %s, stage key %s)", r.path, r.key);
  } else {
    double t0 = now_seconds();
    cfg_names *cats = xcalloc(1, sizeof *cats);
    int rc = ds_list_categories(cats, &c->dataset);
    for (int i = 0; i < cats->n && rc == 0; i++) {
      size_t len = strlen(r.categories);
      snprintf(r.categories + len, sizeof r.categories - len, "%s%s", i ? "," : "", cats->v[i]);
      rc = add_category(&r, cats->v[i], cats->n > 1);
    }
    free(cats);
    if (rc == 0) {
      assign_classes(&r);
      log_info("base: %d images of %d defect types", r.n, r.n_classes);
      rc = crop_all(&r);
    }
    int skipped = rc == 0 ? drop_empty(&r) : 0;
    if (rc == 0 && r.n == 0)
      rc = ancd_errorf("base: every ground-truth mask is empty: no crops");
    if (rc == 0)
      rc = write_file(&r, skipped);
    if (rc == 0)
      log_summary(&r, skipped, now_seconds() - t0);
    run_free(&r);
    if (rc != 0) {
      log_error("%s", ancd_error());
      return ANCD_EXIT_INPUT;
    }
  }
  if (export_dir && export_folder(r.path, export_dir) != 0) {
    log_error("base: --export %s: %s", export_dir, ancd_error());
    return ANCD_EXIT_INPUT;
  }
  return 0;
}

static int base_all(const config_set *cs, world *w, const void *export_dir) {
  int rc = w->rank == 0 ? base_rank0(&cs->base, export_dir) : 0;
  return agree_rc(rc, MPI_COMM_WORLD);
}

int job_base(int argc, char **argv) {
  const char *export_dir = NULL;
  const cli_opt opts[] = {{"export", 0, CLI_STRING, &export_dir, "DIR",
                           "also write the set as an AeBAD_crop-style folder "
                           "DIR/images|masks/<class>/<stem>_crop<i>.png"},
                          {0}};
  const cli_job job = {"base",
                       "A labeled base set for training (train.base) from a dataset with "
                       "ground-truth masks: every test image of a defect type is cropped around "
                       "its mask's regions (at most 2 crops, AnomalyNCD's AeBAD_crop recipe), one "
                       "class per defect type: OUT/<dataset>/base.h5. A complete base.h5 made "
                       "from the same dataset settings is skipped.",
                       "-c FILE [--set KEY=VALUE ...] [-o DIR] [--export DIR]", opts, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "base", "its dataset and output")) != 0)
    return rc;
  return job_on_world(&a, &argc, &argv, base_all, export_dir);
}
