/* Labeled base sets (base_set.h, anomalyncd_spec §4): base.h5 written by `ancd base`, and one
 * reader for base.h5 and AeBAD_crop-style folders. */
#include "base_set.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "error.h"
#include "fsutil.h"
#include "h5store.h"
#include "image.h"

#define BASE_PATH_LEN 4096

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = xmalloc(n);
  memcpy(d, s, n);
  return d;
}

void base_set_free(base_set *b) {
  for (int i = 0; i < b->n; i++) {
    free(b->crops[i].rgb);
    free(b->crops[i].mask);
    free(b->crops[i].name);
    free(b->crops[i].source);
  }
  free(b->crops);
  free(b->class_names);
  memset(b, 0, sizeof *b);
}

/* A class name must be one folder name (the folder layout and the crop names use it). */
static int check_class_name(const char *where, const char *name) {
  if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return ancd_errorf("%s: class '%s' is not a folder name", where, name);
  if (strlen(name) >= CFG_NAME_LEN)
    return ancd_errorf("%s: class name '%s' longer than %d bytes", where, name, CFG_NAME_LEN - 1);
  return 0;
}

/* ---- writing base.h5 ---- */

static int describe(h5s_file *f, const char *name, const char *description) {
  return h5s_attr_set_str(f, name, "description", description);
}

/* A whole dataset [n] (or [n, cols]) of type t. */
static int write_all(h5s_file *f, const char *name, h5s_type t, int cols, int64_t n,
                     const void *data, const char *description) {
  const uint64_t dims[2] = {(uint64_t)n, (uint64_t)cols}, start[2] = {0, 0};
  int rank = cols > 1 ? 2 : 1;
  if (h5s_dataset_create(f, name, t, rank, dims, NULL) < 0 ||
      h5s_write_slab(f, name, t, start, dims, n > 0 ? data : NULL) < 0)
    return -1;
  return describe(f, name, description);
}

static int check_record(const char *path, const base_record *r, int64_t *pool) {
  *pool = 0;
  if (r->n_classes < 1 || r->n_images < 1 || r->n_crops_total < 1)
    return ancd_errorf("%s: %d classes, %d images, %ld crops: nothing to write", path, r->n_classes,
                       r->n_images, r->n_crops_total);
  if (!r->class_names || !r->paths || !r->image_class || !r->image_height || !r->image_width ||
      !r->n_crops || !r->image_index || !r->class_index || !r->names || !r->box || !r->box_int ||
      !r->crop_height || !r->crop_width || !r->mask_area || !r->crop_pixels || !r->mask_pixels ||
      !r->cfg || !r->stage_key || !r->categories)
    return ancd_errorf("%s: incomplete record", path);
  for (int k = 0; k < r->n_classes; k++)
    if (check_class_name(path, r->class_names[k]) < 0)
      return -1;
  long j = 0;
  for (int i = 0; i < r->n_images; i++) {
    if (r->image_class[i] < 0 || r->image_class[i] >= r->n_classes || r->n_crops[i] < 1)
      return ancd_errorf("%s: image %s: class %d of %d, %d crops", path, r->paths[i],
                         r->image_class[i], r->n_classes, r->n_crops[i]);
    for (int k = 0; k < r->n_crops[i]; k++, j++) {
      if (j >= r->n_crops_total || r->image_index[j] != i || r->class_index[j] != r->image_class[i])
        return ancd_errorf("%s: crop %ld does not belong to image %d (%s)", path, j, i,
                           r->paths[i]);
      const int32_t *b = r->box_int + 4 * j;
      if (r->crop_width[j] < 1 || r->crop_height[j] < 1 || b[2] - b[0] != r->crop_width[j] ||
          b[3] - b[1] != r->crop_height[j])
        return ancd_errorf("%s: crop %ld of %s: size %dx%d does not match its window", path, j,
                           r->paths[i], r->crop_width[j], r->crop_height[j]);
      *pool += (int64_t)r->crop_height[j] * r->crop_width[j];
    }
  }
  if (j != r->n_crops_total)
    return ancd_errorf("%s: the images have %ld crops, the record %ld", path, j, r->n_crops_total);
  return 0;
}

static int write_attrs(h5s_file *f, const base_record *r) {
  char *yaml = config_to_yaml(r->cfg);
  int rc = h5s_attr_set_str(f, "/", "config", yaml);
  free(yaml);
  const cfg_dataset *d = &r->cfg->dataset;
  if (rc < 0 || h5s_attr_set_str(f, "/", "kind", "base") < 0 ||
      h5s_attr_set_str(f, "/", "stage_key", r->stage_key) < 0 ||
      h5s_attr_set_str(f, "/", "ancd_version", ANCD_VERSION) < 0 ||
      h5s_attr_set_str(f, "/", "dataset_name", d->name) < 0 ||
      h5s_attr_set_str(f, "/", "dataset_layout", d->layout) < 0 ||
      h5s_attr_set_str(f, "/", "dataset_root", d->root) < 0 ||
      h5s_attr_set_str(f, "/", "categories", r->categories) < 0 ||
      h5s_attr_set_i64(f, "/", "n_classes", r->n_classes) < 0 ||
      h5s_attr_set_i64(f, "/", "n_images", r->n_images) < 0 ||
      h5s_attr_set_i64(f, "/", "n_crops", r->n_crops_total) < 0 ||
      h5s_attr_set_i64(f, "/", "max_crops_per_image", 2) < 0 ||
      h5s_attr_set_i64(f, "/", "foreground_min", r->foreground_min) < 0 ||
      h5s_attr_set_i64(f, "/", "skipped_empty", r->skipped_empty) < 0)
    return -1;
  return 0;
}

static int write_data(h5s_file *f, const base_record *r, int64_t pool) {
  const int64_t n = r->n_images, R = r->n_crops_total;
  int64_t *mask_off = xmalloc(((size_t)R + 1) * sizeof *mask_off);
  int64_t *crop_off = xmalloc(((size_t)R + 1) * sizeof *crop_off);
  int64_t at = 0;
  for (int64_t j = 0; j < R; j++) {
    mask_off[j] = at;
    crop_off[j] = 3 * at;
    at += (int64_t)r->crop_height[j] * r->crop_width[j];
  }
  int rc = 0;
  if (h5s_write_strings(f, "class_names", r->class_names, r->n_classes) < 0 ||
      describe(f, "class_names", "base classes, sorted: the label of a crop is its index") < 0 ||
      h5s_write_strings(f, "paths", r->paths, r->n_images) < 0 ||
      describe(f, "paths", "image the crops were cut from") < 0 ||
      write_all(f, "image_class", H5S_I32, 1, n, r->image_class, "class index of the image") < 0 ||
      write_all(f, "image_height", H5S_I32, 1, n, r->image_height, "image height in pixels") < 0 ||
      write_all(f, "image_width", H5S_I32, 1, n, r->image_width, "image width in pixels") < 0 ||
      write_all(f, "n_crops", H5S_I32, 1, n, r->n_crops,
                "crops of the image: 1 or 2 (est = 1, anomalyncd_spec §4 step 3, §3.4)") < 0 ||
      write_all(f, "image_index", H5S_I32, 1, R, r->image_index,
                "row of the crop's image in the per-image datasets") < 0 ||
      write_all(f, "class_index", H5S_I32, 1, R, r->class_index, "class index (label)") < 0 ||
      h5s_write_strings(f, "names", r->names, (int)R) < 0 ||
      describe(f, "names", "<class>/<stem>_crop<i>.png, the crop's name in AeBAD_crop") < 0 ||
      write_all(f, "box", H5S_F64, 4, R, r->box,
                "crop box (l, u, r, d) of the ground-truth mask's regions (§3.2-§3.3)") < 0 ||
      write_all(f, "crop_box_int", H5S_I32, 4, R, r->box_int,
                "window (x0, y0, x1, y1) cropped: box rounded half to even, as PIL (§3.5)") < 0 ||
      write_all(f, "crop_height", H5S_I32, 1, R, r->crop_height, "crop height y1 - y0") < 0 ||
      write_all(f, "crop_width", H5S_I32, 1, R, r->crop_width, "crop width x1 - x0") < 0 ||
      write_all(f, "mask_area", H5S_I64, 1, R, r->mask_area,
                "foreground pixels (>= foreground_min) of the mask crop") < 0 ||
      write_all(f, "crop_offset", H5S_I64, 1, R, crop_off,
                "first element of the crop in crop_pixels (HWC, 3 channels)") < 0 ||
      write_all(f, "mask_offset", H5S_I64, 1, R, mask_off,
                "first element of the mask crop in mask_pixels") < 0 ||
      write_all(f, "crop_pixels", H5S_U8, 1, 3 * pool, r->crop_pixels,
                "RGB crops at the original resolution, zero outside the image, concatenated") < 0 ||
      write_all(f, "mask_pixels", H5S_U8, 1, pool, r->mask_pixels,
                "ground-truth mask crops, grey values kept, zero outside the image") < 0)
    rc = -1;
  free(mask_off);
  free(crop_off);
  return rc;
}

int base_h5_write(const char *path, const base_record *r) {
  int64_t pool = 0;
  if (check_record(path, r, &pool) < 0)
    return -1;
  char dir[BASE_PATH_LEN];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
    return ancd_errorf("%s: path too long", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    if (fs_mkdirs(dir) < 0)
      return -1;
  }
  h5s_file f;
  if (h5s_create(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  if (write_data(&f, r, pool) < 0 || write_attrs(&f, r) < 0) {
    h5s_abort(&f);
    return -1;
  }
  return h5s_publish(&f);
}

/* ---- reading base.h5 ---- */

static int read_i32(h5s_file *f, const char *name, int32_t *out, long n) {
  const uint64_t start = 0, count = (uint64_t)n;
  return h5s_read_slab(f, name, H5S_I32, &start, &count, out);
}

static int read_i64(h5s_file *f, const char *name, int64_t *out, long n) {
  const uint64_t start = 0, count = (uint64_t)n;
  return h5s_read_slab(f, name, H5S_I64, &start, &count, out);
}

/* The length of 1-d dataset name, or -1. */
static long length_of(h5s_file *f, const char *name) {
  uint64_t d[2];
  if (h5s_dataset_dims(f, name, d, 2) != 1)
    return ancd_errorf("%s: %s: not a 1-d dataset", f->path, name);
  return (long)d[0];
}

static int read_classes(base_set *b, h5s_file *f) {
  char **names = NULL;
  int n = 0;
  if (h5s_read_strings(f, "class_names", &names, &n) < 0)
    return -1;
  int rc = n < 1 ? ancd_errorf("%s: no classes", f->path) : 0;
  b->n_classes = n;
  b->class_names = xcalloc((size_t)n + 1, sizeof *b->class_names);
  for (int k = 0; k < n && rc == 0; k++) {
    rc = check_class_name(f->path, names[k]);
    if (rc == 0)
      snprintf(b->class_names[k], sizeof b->class_names[k], "%s", names[k]);
  }
  h5s_free_strings(names, n);
  return rc;
}

/* The crops and their pixels, every offset and size checked against the pools. */
static int read_crops(base_set *b, h5s_file *f) {
  const long R = length_of(f, "class_index");
  const long pool = length_of(f, "mask_pixels"), pool3 = length_of(f, "crop_pixels");
  if (R < 0 || pool < 0 || pool3 < 0)
    return -1;
  if (R < 1)
    return ancd_errorf("%s: no crops", f->path);
  if (pool3 != 3 * pool)
    return ancd_errorf("%s: crop_pixels holds %ld values, 3 x mask_pixels = %ld", f->path, pool3,
                       3 * pool);
  int32_t *cls = xmalloc((size_t)R * sizeof *cls), *img = xmalloc((size_t)R * sizeof *img);
  int32_t *h = xmalloc((size_t)R * sizeof *h), *w = xmalloc((size_t)R * sizeof *w);
  int64_t *moff = xmalloc((size_t)R * sizeof *moff), *coff = xmalloc((size_t)R * sizeof *coff);
  uint8_t *px = xmalloc((size_t)pool3 + 1), *mk = xmalloc((size_t)pool + 1);
  char **names = NULL, **paths = NULL;
  int nn = 0, np = 0;
  int rc = 0;
  const uint64_t z = 0, c3 = (uint64_t)pool3, c1 = (uint64_t)pool;
  if (read_i32(f, "class_index", cls, R) < 0 || read_i32(f, "image_index", img, R) < 0 ||
      read_i32(f, "crop_height", h, R) < 0 || read_i32(f, "crop_width", w, R) < 0 ||
      read_i64(f, "mask_offset", moff, R) < 0 || read_i64(f, "crop_offset", coff, R) < 0 ||
      h5s_read_slab(f, "crop_pixels", H5S_U8, &z, &c3, px) < 0 ||
      h5s_read_slab(f, "mask_pixels", H5S_U8, &z, &c1, mk) < 0 ||
      h5s_read_strings(f, "names", &names, &nn) < 0 ||
      h5s_read_strings(f, "paths", &paths, &np) < 0)
    rc = -1;
  if (rc == 0 && nn != R)
    rc = ancd_errorf("%s: %ld crops but %d names", f->path, R, nn);
  b->crops = xcalloc((size_t)R, sizeof *b->crops);
  for (long j = 0; j < R && rc == 0; j++) {
    const int64_t a = (int64_t)h[j] * w[j];
    if (cls[j] < 0 || cls[j] >= b->n_classes || img[j] < 0 || img[j] >= np || h[j] < 1 ||
        w[j] < 1 || moff[j] < 0 || moff[j] + a > pool || coff[j] != 3 * moff[j]) {
      rc = ancd_errorf("%s: crop %ld: class %d, image %d, size %dx%d at %lld: outside the file's "
                       "classes, images or pixel pools (damaged?)",
                       f->path, j, cls[j], img[j], w[j], h[j], (long long)moff[j]);
      break;
    }
    base_crop *c = &b->crops[b->n++];
    c->cls = cls[j];
    c->w = w[j];
    c->h = h[j];
    c->rgb = xmalloc((size_t)a * 3);
    c->mask = xmalloc((size_t)a);
    memcpy(c->rgb, px + 3 * moff[j], (size_t)a * 3);
    memcpy(c->mask, mk + moff[j], (size_t)a);
    c->name = dup_str(names[j]);
    c->source = dup_str(paths[img[j]]);
  }
  h5s_free_strings(names, nn);
  h5s_free_strings(paths, np);
  free(cls);
  free(img);
  free(h);
  free(w);
  free(moff);
  free(coff);
  free(px);
  free(mk);
  return rc;
}

static int load_h5(base_set *b, const char *path) {
  char dir[BASE_PATH_LEN];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
    return ancd_errorf("%s: path too long", path);
  char *slash = strrchr(dir, '/');
  const char *file = path;
  if (!slash) {
    strcpy(dir, ".");
  } else {
    file = path + (slash - dir) + 1;
    *slash = '\0';
    if (slash == dir)
      strcpy(dir, "/");
  }
  /* The one validity test (complete=1, every dataset reads back whole, a stage key). */
  int st = stage_file_check(dir, file, b->stage_key);
  if (st == H5S_MISSING)
    return ancd_errorf("%s: base set not found", path);
  if (st != 0)
    return ancd_error_prefix("base set: ");
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  char kind[16] = "";
  int rc = 0;
  if (h5s_attr_get_str(&f, "/", "kind", kind, sizeof kind) < 0 || strcmp(kind, "base") != 0)
    rc = ancd_errorf("%s: not a base set (no kind=base attribute: written by `ancd base`?)", path);
  if (rc == 0)
    rc = read_classes(b, &f);
  if (rc == 0)
    rc = read_crops(b, &f);
  h5s_close(&f);
  b->from_h5 = 1;
  return rc;
}

/* ---- reading a folder: images/<class>/<name> + masks/<class>/<name> (§1.2, §4) ---- */

/* One crop: the image as RGB, its mask as gray of the same size. */
static int load_pair(base_crop *c, const char *image, const char *mask) {
  if (!fs_is_file(mask))
    return ancd_errorf("%s: missing mask (its image is %s)", mask, image);
  image_u8 img = {0}, m = {0};
  if (image_load(&img, image, 3) < 0)
    return -1;
  if (image_load(&m, mask, 1) < 0) {
    image_free(&img);
    return -1;
  }
  int rc = 0;
  if (m.w != img.w || m.h != img.h)
    rc = ancd_errorf("%s: mask is %dx%d but its image %s is %dx%d", mask, m.w, m.h, image, img.w,
                     img.h);
  if (rc == 0) {
    c->w = img.w;
    c->h = img.h;
    c->rgb = img.data;
    c->mask = m.data;
    c->source = dup_str(image);
    return 0;
  }
  image_free(&img);
  image_free(&m);
  return rc;
}

static int load_class(base_set *b, const char *root, int k) {
  const char *cls = b->class_names[k];
  char idir[BASE_PATH_LEN], mdir[BASE_PATH_LEN];
  if (snprintf(idir, sizeof idir, "%s/images/%s", root, cls) >= (int)sizeof idir ||
      snprintf(mdir, sizeof mdir, "%s/masks/%s", root, cls) >= (int)sizeof mdir)
    return ancd_errorf("%s: path too long", root);
  fs_names files = {0};
  if (fs_list_dir(&files, idir, FS_FILES, fs_is_image_name) < 0)
    return -1;
  int rc = files.n == 0
               ? ancd_errorf("%s: class '%s' has no crops (no PNG, JPEG or BMP files)", idir, cls)
               : 0;
  if (rc == 0 && !fs_is_dir(mdir))
    rc = ancd_errorf("%s: missing mask folder of class '%s'", mdir, cls);
  b->crops = xrealloc(b->crops, (size_t)(b->n + files.n + 1) * sizeof *b->crops);
  for (int i = 0; i < files.n && rc == 0; i++) {
    char ip[2 * BASE_PATH_LEN], mp[2 * BASE_PATH_LEN];
    snprintf(ip, sizeof ip, "%s/%s", idir, files.v[i]);
    snprintf(mp, sizeof mp, "%s/%s", mdir, files.v[i]);
    base_crop *c = &b->crops[b->n];
    memset(c, 0, sizeof *c);
    rc = load_pair(c, ip, mp);
    if (rc == 0) {
      char name[CFG_NAME_LEN + BASE_PATH_LEN];
      snprintf(name, sizeof name, "%s/%s", cls, files.v[i]);
      c->cls = k;
      c->name = dup_str(name);
      b->n++;
    }
  }
  fs_names_free(&files);
  return rc;
}

static int load_folder(base_set *b, const char *root) {
  char idir[BASE_PATH_LEN], mdir[BASE_PATH_LEN];
  if (snprintf(idir, sizeof idir, "%s/images", root) >= (int)sizeof idir ||
      snprintf(mdir, sizeof mdir, "%s/masks", root) >= (int)sizeof mdir)
    return ancd_errorf("%s: path too long", root);
  if (!fs_is_dir(idir) || !fs_is_dir(mdir))
    return ancd_errorf("%s: not a base set: a base.h5 file or a folder with images/<class>/ and "
                       "masks/<class>/ (AeBAD_crop layout) is needed",
                       root);
  fs_names cls = {0};
  if (fs_list_dir(&cls, idir, FS_DIRS, NULL) < 0)
    return -1;
  int rc = cls.n == 0 ? ancd_errorf("%s: no class folders: the base set is empty", idir) : 0;
  b->n_classes = cls.n;
  b->class_names = xcalloc((size_t)cls.n + 1, sizeof *b->class_names);
  for (int k = 0; k < cls.n && rc == 0; k++) {
    rc = check_class_name(idir, cls.v[k]);
    if (rc == 0)
      snprintf(b->class_names[k], sizeof b->class_names[k], "%s", cls.v[k]);
  }
  fs_names_free(&cls);
  for (int k = 0; k < b->n_classes && rc == 0; k++)
    rc = load_class(b, root, k);
  return rc;
}

/* ---- the one entry point ---- */

static int by_class_name(const void *pa, const void *pb) {
  const base_crop *a = pa, *b = pb;
  if (a->cls != b->cls)
    return a->cls < b->cls ? -1 : 1;
  return strcmp(a->name, b->name);
}

int base_set_is_none(const char *spec) { return !spec || !spec[0] || !strcmp(spec, "none"); }

int base_set_load(base_set *b, const char *path) {
  memset(b, 0, sizeof *b);
  struct stat st;
  if (!path || !path[0])
    return ancd_errorf("base set: no path given");
  if (stat(path, &st) != 0)
    return ancd_errorf("%s: base set not found (%s)", path, strerror(errno));
  int rc = S_ISDIR(st.st_mode) ? load_folder(b, path) : load_h5(b, path);
  if (rc == 0 && b->n == 0)
    rc = ancd_errorf("%s: the base set is empty", path);
  if (rc == 0) {
    qsort(b->crops, (size_t)b->n, sizeof *b->crops, by_class_name);
    int *count = xcalloc((size_t)b->n_classes, sizeof *count);
    for (int i = 0; i < b->n; i++)
      count[b->crops[i].cls]++;
    for (int k = 0; k < b->n_classes && rc == 0; k++)
      if (count[k] == 0)
        rc = ancd_errorf("%s: class '%s' has no crops", path, b->class_names[k]);
    for (int i = 1; i < b->n && rc == 0; i++)
      if (!strcmp(b->crops[i - 1].name, b->crops[i].name))
        rc = ancd_errorf("%s: two crops named %s", path, b->crops[i].name);
    free(count);
  }
  if (rc < 0)
    base_set_free(b);
  return rc;
}

/* ---- writing a folder ---- */

static int write_one(const char *dir, const char *kind, const char *name, const image_u8 *img) {
  char path[2 * BASE_PATH_LEN], folder[2 * BASE_PATH_LEN];
  if (snprintf(path, sizeof path, "%s/%s/%s", dir, kind, name) >= (int)sizeof path)
    return ancd_errorf("%s: path too long", dir);
  snprintf(folder, sizeof folder, "%s", path);
  *strrchr(folder, '/') = '\0';
  if (fs_mkdirs(folder) < 0)
    return -1;
  return image_write_png(path, img);
}

int base_set_write_folder(const base_set *b, const char *dir) {
  for (int i = 0; i < b->n; i++) {
    const base_crop *c = &b->crops[i];
    if (strstr(c->name, "..") || c->name[0] == '/')
      return ancd_errorf("%s: crop name '%s' leaves the folder", dir, c->name);
    image_u8 rgb = {.w = c->w, .h = c->h, .c = 3, .data = c->rgb};
    image_u8 mask = {.w = c->w, .h = c->h, .c = 1, .data = c->mask};
    if (write_one(dir, "images", c->name, &rgb) < 0 || write_one(dir, "masks", c->name, &mask) < 0)
      return -1;
  }
  return 0;
}
