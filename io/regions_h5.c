/* regions.h5 (regions_h5.h): MEBin results and crops of one category, written collectively (each
 * rank its images' rows and its range of the pixel pools) and published atomically. */
#include "regions_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_mpi.h"
#include "error.h"
#include "fsutil.h"
#include "tiling.h"

static int path_in(char *out, size_t n, const char *dir) {
  if (snprintf(out, n, "%s/%s", dir, REGIONS_FILE) >= (int)n)
    return ancd_errorf("%s: path too long", dir);
  return 0;
}

/* This rank's arguments; *pool gets its mask-pool size (sum of h*w over its crops). */
static int check_local(int64_t *pool, const char *path, const regions_record *r) {
  *pool = 0;
  if (r->n < 1)
    return ancd_errorf("%s: no images: nothing to write", path);
  if (!r->cfg || !r->stage_key || !r->labels || !r->paths || !r->types || !r->category ||
      !r->maps_method || !r->maps_stage_key)
    return ancd_errorf("%s: incomplete record (config, stage key, labels, paths, types, category "
                       "and the maps' method and stage key needed)",
                       path);
  if (r->first < 0 || r->n_own < 0 || r->first + r->n_own > r->n)
    return ancd_errorf("%s: images [%d, %d) outside [0, %d)", path, r->first, r->first + r->n_own,
                       r->n);
  if (r->n_own > 0 &&
      (!r->threshold || !r->est || !r->n_crops || !r->image_height || !r->image_width))
    return ancd_errorf("%s: no per-image results for images [%d, %d)", path, r->first,
                       r->first + r->n_own);
  long crops = 0;
  for (int i = 0; i < r->n_own; i++) {
    if (r->n_crops[i] < 1)
      return ancd_errorf("%s: image %d (%s) has %d crops; every image has at least 1", path,
                         r->first + i, r->paths[r->first + i], r->n_crops[i]);
    crops += r->n_crops[i];
  }
  if (crops != r->r_own)
    return ancd_errorf("%s: the images [%d, %d) have %ld crops, the record %ld", path, r->first,
                       r->first + r->n_own, crops, r->r_own);
  if (r->r_own > 0 &&
      (!r->image_index || !r->box || !r->box_int || !r->crop_height || !r->crop_width ||
       !r->mask_area || !r->score || !r->crop_pixels || !r->mask_pixels))
    return ancd_errorf("%s: incomplete crops for images [%d, %d)", path, r->first,
                       r->first + r->n_own);
  /* Crops come grouped by image, in image order. */
  long j = 0;
  for (int i = 0; i < r->n_own; i++)
    for (int k = 0; k < r->n_crops[i]; k++, j++) {
      if (r->image_index[j] != r->first + i)
        return ancd_errorf("%s: crop %ld belongs to image %d, expected %d", path, j,
                           r->image_index[j], r->first + i);
      const int32_t *b = r->box_int + 4 * j;
      if (r->crop_width[j] < 1 || r->crop_height[j] < 1 || b[2] - b[0] != r->crop_width[j] ||
          b[3] - b[1] != r->crop_height[j])
        return ancd_errorf("%s: crop %ld of %s: size %dx%d does not match its window "
                           "(%d, %d, %d, %d)",
                           path, j, r->paths[r->first + i], r->crop_width[j], r->crop_height[j],
                           b[0], b[1], b[2], b[3]);
      *pool += (int64_t)r->crop_height[j] * r->crop_width[j];
    }
  return 0;
}

/* The ranks' blocks tile [0, n) (tiling_check) and agree on n. *row0 and *pool0 get the crop row
 * and mask-pool element where this rank starts; *rows and *pool_all the totals. */
static int check_global(int64_t *row0, int64_t *pool0, int64_t *rows, int64_t *pool_all,
                        const char *path, const regions_record *r, int64_t pool, MPI_Comm comm) {
  int rank, size;
  CHECK_MPI(MPI_Comm_rank(comm, &rank));
  CHECK_MPI(MPI_Comm_size(comm, &size));
  int64_t mine[5] = {r->first, r->n_own, r->n, r->r_own, pool};
  int64_t *all = xmalloc((size_t)size * 5 * sizeof *all);
  int *blocks = xmalloc((size_t)size * 2 * sizeof *blocks);
  CHECK_MPI(MPI_Allgather(mine, 5, MPI_INT64_T, all, 5, MPI_INT64_T, comm));
  int rc = 0;
  *row0 = *pool0 = *rows = *pool_all = 0;
  for (int k = 0; k < size && rc == 0; k++) {
    const int64_t *o = all + 5 * k;
    if (o[2] != r->n)
      rc = ancd_errorf("%s: ranks disagree on the number of images (%lld vs %d)", path,
                       (long long)o[2], r->n);
    blocks[2 * k] = (int)o[0]; /* first and n_own are ints on every rank */
    blocks[2 * k + 1] = (int)o[1];
    if (k < rank) {
      *row0 += o[3];
      *pool0 += o[4];
    }
    *rows += o[3];
    *pool_all += o[4];
  }
  if (rc == 0)
    rc = tiling_check(path, "image", blocks, 2, size, r->n);
  free(blocks);
  free(all);
  return rc;
}

static int describe(h5s_file *f, const char *name, const char *description) {
  return h5s_attr_set_str(f, name, "description", description);
}

/* [n] (or [n, 4] when cols = 4) of type t; this rank writes count rows at start. */
static int write_rows(h5s_file *f, const char *name, h5s_type t, int cols, int64_t n, int64_t start,
                      int64_t count, const void *data, const char *description) {
  const uint64_t dims[2] = {(uint64_t)n, (uint64_t)cols};
  const uint64_t st[2] = {(uint64_t)start, 0}, cnt[2] = {(uint64_t)count, (uint64_t)cols};
  int rank = cols > 1 ? 2 : 1;
  if (h5s_dataset_create(f, name, t, rank, dims, NULL) < 0 ||
      h5s_write_slab(f, name, t, st, cnt, count > 0 ? data : NULL) < 0)
    return -1;
  return describe(f, name, description);
}

static int write_attrs(h5s_file *f, const regions_record *r, int64_t rows) {
  char *yaml = config_to_yaml(r->cfg);
  int rc = h5s_attr_set_str(f, "/", "config", yaml);
  free(yaml);
  if (rc < 0 || h5s_attr_set_str(f, "/", "stage_key", r->stage_key) < 0 ||
      h5s_attr_set_str(f, "/", "ancd_version", ANCD_VERSION) < 0 ||
      h5s_attr_set_str(f, "/", "category", r->category) < 0 ||
      h5s_attr_set_str(f, "/", "maps_method", r->maps_method) < 0 ||
      h5s_attr_set_str(f, "/", "maps_stage_key", r->maps_stage_key) < 0 ||
      h5s_attr_set_f64(f, "/", "map_lo", r->map_lo) < 0 ||
      h5s_attr_set_f64(f, "/", "map_hi", r->map_hi) < 0 ||
      h5s_attr_set_i64(f, "/", "search_min", r->search_min) < 0 ||
      h5s_attr_set_i64(f, "/", "search_max", r->search_max) < 0 ||
      h5s_attr_set_i64(f, "/", "degenerate", r->degenerate) < 0 ||
      h5s_attr_set_i64(f, "/", "n_images", r->n) < 0 ||
      h5s_attr_set_i64(f, "/", "n_crops", rows) < 0)
    return -1;
  if (r->defect_images > 0 &&
      (h5s_attr_set_i64(f, "/", "defect_images", r->defect_images) < 0 ||
       h5s_attr_set_i64(f, "/", "defect_images_hit", r->defect_images_hit) < 0 ||
       h5s_attr_set_i64(f, "/", "defect_images_whole", r->defect_images_whole) < 0))
    return -1;
  return 0;
}

static int write_per_image(h5s_file *f, const regions_record *r) {
  const int64_t n = r->n, s = r->first, c = r->n_own;
  if (write_rows(f, "threshold", H5S_I32, 1, n, s, c, r->threshold,
                 "MEBin threshold t_raw on the 8-bit map: mask = erode(map > threshold); 255 "
                 "when no stable run (anomalyncd_spec §2.4)") < 0 ||
      write_rows(f, "est", H5S_I32, 1, n, s, c, r->est,
                 "MEBin estimated number of main elements (§2.4)") < 0 ||
      write_rows(f, "n_crops", H5S_I32, 1, n, s, c, r->n_crops,
                 "crops of the image, between 1 and max(1, est + 1) (§3.4)") < 0 ||
      write_rows(f, "image_height", H5S_I32, 1, n, s, c, r->image_height,
                 "original image height in pixels") < 0 ||
      write_rows(f, "image_width", H5S_I32, 1, n, s, c, r->image_width,
                 "original image width in pixels") < 0)
    return -1;
  const int64_t mine = f->rank == 0 ? n : 0;
  if (write_rows(f, "labels", H5S_U8, 1, n, 0, mine, r->labels, "1 anomalous, 0 normal") < 0 ||
      h5s_write_strings(f, "paths", r->paths, r->n) < 0 ||
      describe(f, "paths", "image file path") < 0 ||
      h5s_write_strings(f, "types", r->types, r->n) < 0 ||
      describe(f, "types", "anomaly type (the image's folder)") < 0)
    return -1;
  return 0;
}

static int write_per_crop(h5s_file *f, const regions_record *r, int64_t row0, int64_t rows,
                          int64_t pool0, int64_t pool_all) {
  const int64_t c = r->r_own;
  int64_t *mask_off = xmalloc(((size_t)c + 1) * sizeof *mask_off);
  int64_t *crop_off = xmalloc(((size_t)c + 1) * sizeof *crop_off);
  int64_t at = pool0;
  for (int64_t j = 0; j < c; j++) {
    mask_off[j] = at;
    crop_off[j] = 3 * at;
    at += (int64_t)r->crop_height[j] * r->crop_width[j];
  }
  int rc = 0;
  if (write_rows(f, "image_index", H5S_I32, 1, rows, row0, c, r->image_index,
                 "row of the crop's image in the per-image datasets") < 0 ||
      write_rows(f, "box", H5S_F64, 4, rows, row0, c, r->box,
                 "crop box (l, u, r, d) after merging and squaring, not clamped (§3.2-§3.3)") < 0 ||
      write_rows(f, "crop_box_int", H5S_I32, 4, rows, row0, c, r->box_int,
                 "window (x0, y0, x1, y1) cropped: box rounded half to even, as PIL (§3.5)") < 0 ||
      write_rows(f, "crop_height", H5S_I32, 1, rows, row0, c, r->crop_height,
                 "crop height y1 - y0") < 0 ||
      write_rows(f, "crop_width", H5S_I32, 1, rows, row0, c, r->crop_width, "crop width x1 - x0") <
          0 ||
      write_rows(f, "mask_area", H5S_I64, 1, rows, row0, c, r->mask_area,
                 "foreground (255) pixels of the mask crop") < 0 ||
      write_rows(f, "score", H5S_F32, 1, rows, row0, c, r->score,
                 "max of the bicubic-resized normalised map inside the window / 255 (§3.5)") < 0 ||
      write_rows(f, "crop_offset", H5S_I64, 1, rows, row0, c, crop_off,
                 "first element of the crop in crop_pixels (HWC, 3 channels)") < 0 ||
      write_rows(f, "mask_offset", H5S_I64, 1, rows, row0, c, mask_off,
                 "first element of the mask crop in mask_pixels") < 0 ||
      write_rows(
          f, "crop_pixels", H5S_U8, 1, 3 * pool_all, 3 * pool0, 3 * (at - pool0), r->crop_pixels,
          "RGB crops at the original resolution, zero outside the image, concatenated") < 0 ||
      write_rows(f, "mask_pixels", H5S_U8, 1, pool_all, pool0, at - pool0, r->mask_pixels,
                 "mask crops 0/255 at the original resolution, concatenated") < 0)
    rc = -1;
  free(mask_off);
  free(crop_off);
  return rc;
}

int regions_h5_write(const char *dir, const regions_record *r, MPI_Comm comm) {
  char path[1024];
  int rank;
  CHECK_MPI(MPI_Comm_rank(comm, &rank));
  int64_t pool = 0, row0 = 0, pool0 = 0, rows = 0, pool_all = 0;
  int rc = path_in(path, sizeof path, dir);
  if (rc == 0)
    rc = check_local(&pool, path, r);
  if (h5s_agree(comm, rc) < 0)
    return -1;
  rc = check_global(&row0, &pool0, &rows, &pool_all, path, r, pool, comm);
  if (rc == 0 && rank == 0)
    rc = fs_mkdirs(dir);
  if (h5s_agree(comm, rc) < 0)
    return -1;

  h5s_file f;
  if (h5s_create(&f, path, comm) < 0)
    return -1;
  /* Every h5s_* call returns the same status on every rank, so all ranks leave together. */
  if (write_per_image(&f, r) < 0 || write_per_crop(&f, r, row0, rows, pool0, pool_all) < 0 ||
      write_attrs(&f, r, rows) < 0) {
    h5s_abort(&f);
    return -1;
  }
  return h5s_publish(&f);
}

/* ---- reading ---- */

int regions_h5_open(h5s_file *f, const char *path) { return h5s_open(f, path, MPI_COMM_SELF); }

int regions_h5_counts(h5s_file *f, int *n_images, long *n_crops) {
  uint64_t d[2];
  if (h5s_dataset_dims(f, "threshold", d, 1) != 1)
    return ancd_error_prefix("%s: ", f->path);
  *n_images = (int)d[0];
  if (h5s_dataset_dims(f, "image_index", d, 1) != 1)
    return ancd_error_prefix("%s: ", f->path);
  *n_crops = (long)d[0];
  return 0;
}

int regions_h5_read_image_i32(h5s_file *f, const char *name, int32_t *out, int n) {
  const uint64_t start = 0, count = (uint64_t)n;
  return h5s_read_slab(f, name, H5S_I32, &start, &count, out);
}

static int read_row(h5s_file *f, const char *name, h5s_type t, long i, int cols, void *out) {
  const uint64_t start[2] = {(uint64_t)i, 0}, count[2] = {1, (uint64_t)cols};
  return h5s_read_slab(f, name, t, start, count, out);
}

int regions_h5_read_crop(regions_crop *c, h5s_file *f, long i) {
  memset(c, 0, sizeof *c);
  int n_images = 0;
  long n_crops = 0;
  if (regions_h5_counts(f, &n_images, &n_crops) < 0)
    return -1;
  if (i < 0 || i >= n_crops)
    return ancd_errorf("%s: crop %ld of %ld", f->path, i, n_crops);
  int32_t idx, h, w;
  int32_t bi[4];
  int64_t crop_off, mask_off;
  if (read_row(f, "image_index", H5S_I32, i, 1, &idx) < 0 ||
      read_row(f, "box", H5S_F64, i, 4, c->box) < 0 ||
      read_row(f, "crop_box_int", H5S_I32, i, 4, bi) < 0 ||
      read_row(f, "mask_area", H5S_I64, i, 1, &c->mask_area) < 0 ||
      read_row(f, "score", H5S_F32, i, 1, &c->score) < 0 ||
      read_row(f, "crop_height", H5S_I32, i, 1, &h) < 0 ||
      read_row(f, "crop_width", H5S_I32, i, 1, &w) < 0 ||
      read_row(f, "crop_offset", H5S_I64, i, 1, &crop_off) < 0 ||
      read_row(f, "mask_offset", H5S_I64, i, 1, &mask_off) < 0)
    return -1;
  c->image_index = idx;
  for (int k = 0; k < 4; k++)
    c->box_int[k] = bi[k];
  if (h < 1 || w < 1)
    return ancd_errorf("%s: crop %ld has size %dx%d", f->path, i, w, h);
  if (image_alloc(&c->pixels, w, h, 3) < 0 || image_alloc(&c->mask, w, h, 1) < 0) {
    regions_crop_free(c);
    return ancd_error_prefix("%s: crop %ld: ", f->path, i);
  }
  const uint64_t cs = (uint64_t)crop_off, cc = (uint64_t)w * h * 3;
  const uint64_t ms = (uint64_t)mask_off, mc = (uint64_t)w * h;
  if (h5s_read_slab(f, "crop_pixels", H5S_U8, &cs, &cc, c->pixels.data) < 0 ||
      h5s_read_slab(f, "mask_pixels", H5S_U8, &ms, &mc, c->mask.data) < 0) {
    regions_crop_free(c);
    return -1;
  }
  return 0;
}

void regions_crop_free(regions_crop *c) {
  image_free(&c->pixels);
  image_free(&c->mask);
}
