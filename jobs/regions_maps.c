/* The images and maps `ancd regions` starts from (regions_maps.h). */
#include "regions_maps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "detect_store.h"
#include "error.h"
#include "fsutil.h"
#include "h5store.h"
#include "log.h"

/* ---- maps.h5 ---- */

int regions_items_from_maps_h5(regions_item **items, maps_h5_info *info, const char *dir) {
  char path[CFG_PATH_LEN + 16];
  if (maps_h5_path(path, sizeof path, dir) < 0)
    return -1;
  memset(info, 0, sizeof *info);
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  uint64_t dims[3];
  char **paths = NULL, **types = NULL;
  int np = 0, nt = 0, rc = 0;
  uint8_t *labels = NULL;
  if (h5s_dataset_dims(&f, "maps", dims, 3) != 3 || dims[1] != dims[2] || dims[0] < 1)
    rc = ancd_errorf("%s: /maps is not [n, S, S] with n >= 1", path);
  if (rc == 0 && (h5s_attr_get_str(&f, "/", "method", info->method, sizeof info->method) < 0 ||
                  h5s_read_strings(&f, "paths", &paths, &np) < 0 ||
                  h5s_read_strings(&f, "types", &types, &nt) < 0))
    rc = -1;
  if (rc == 0 && (np != (int)dims[0] || nt != (int)dims[0]))
    rc = ancd_errorf("%s: %d maps but %d paths and %d types", path, (int)dims[0], np, nt);
  if (rc == 0) {
    info->n = (int)dims[0];
    info->S = (int)dims[1];
    labels = xmalloc((size_t)info->n);
    const uint64_t start = 0, count = (uint64_t)info->n;
    rc = h5s_read_slab(&f, "labels", H5S_U8, &start, &count, labels);
  }
  if (rc == 0) {
    regions_item *it = xcalloc((size_t)info->n, sizeof *it);
    for (int i = 0; i < info->n && rc == 0; i++) {
      if (snprintf(it[i].path, sizeof it[i].path, "%s", paths[i]) >= (int)sizeof it[i].path ||
          snprintf(it[i].type, sizeof it[i].type, "%s", types[i]) >= (int)sizeof it[i].type)
        rc = ancd_errorf("%s: row %d: path or type too long", path, i);
      it[i].label = labels[i];
    }
    if (rc == 0)
      *items = it;
    else
      free(it);
  }
  if (paths)
    h5s_free_strings(paths, np);
  if (types)
    h5s_free_strings(types, nt);
  free(labels);
  h5s_close(&f);
  return rc;
}

int regions_items_masks(regions_item *items, int n, const config *c, const char *category) {
  ds_manifest m = {0};
  if (ds_scan(&m, &c->dataset, category) != 0)
    return -1;
  int found = 0;
  for (int i = 0; i < n; i++) {
    items[i].mask[0] = '\0';
    for (int j = 0; j < m.n; j++)
      if (m.items[j].split == DS_TEST && !strcmp(m.items[j].path, items[i].path)) {
        snprintf(items[i].mask, sizeof items[i].mask, "%s", m.items[j].mask);
        found += m.items[j].mask[0] != '\0';
        break;
      }
  }
  ds_free(&m);
  return found;
}

int regions_read_maps_h5(float *maps, const char *dir, int first, int count, int S) {
  char path[CFG_PATH_LEN + 16];
  if (maps_h5_path(path, sizeof path, dir) < 0)
    return -1;
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  const uint64_t start[3] = {(uint64_t)first, 0, 0};
  const uint64_t cnt[3] = {(uint64_t)count, (uint64_t)S, (uint64_t)S};
  int rc = h5s_read_slab(&f, "maps", H5S_F32, start, cnt, maps);
  h5s_close(&f);
  return rc;
}

/* ---- imported PNG maps ---- */

/* 1 when some name in names[0..n) has the stem s (a name too long for a stem has none). */
static int has_stem(char *const *names, int n, const char *s) {
  char t[CFG_PATH_LEN];
  for (int i = 0; i < n; i++)
    if (fs_stem(t, sizeof t, names[i]) == 0 && !strcmp(t, s))
      return 1;
  return 0;
}

typedef struct {
  const char *name; /* basename */
  int index;        /* in the manifest */
} named_index;

static int by_name(const void *a, const void *b) {
  return strcmp(((const named_index *)a)->name, ((const named_index *)b)->name);
}

/* Pairs the images of one type (manifest indices idx[0..k), any order) with the files of
 * <root>/<type>, writing map[index] for each. */
static int pair_type(char (*map)[CFG_PATH_LEN], const ds_manifest *m, const int *idx, int k,
                     const char *root, const char *type) {
  char dir[2 * CFG_PATH_LEN];
  snprintf(dir, sizeof dir, "%s/%s", root, type);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return ancd_errorf("%s: missing map folder for the %d images of type %s (e.g. %s)", dir, k,
                       type, m->items[idx[0]].path);
  fs_names files;
  if (fs_list_dir(&files, dir, FS_FILES, NULL) != 0)
    return -1;
  const int nf = files.n;
  named_index *im = xmalloc((size_t)k * sizeof *im);
  for (int j = 0; j < k; j++) {
    im[j].name = fs_basename(m->items[idx[j]].path);
    im[j].index = idx[j];
  }
  qsort(im, (size_t)k, sizeof *im, by_name);
  int rc = 0;
  if (nf == k) { /* the reference pairs by sorted position, names unchecked */
    for (int j = 0; j < k && rc == 0; j++)
      if (snprintf(map[im[j].index], CFG_PATH_LEN, "%s/%s", dir, files.v[j]) >= CFG_PATH_LEN)
        rc = ancd_errorf("%s/%s: path too long", dir, files.v[j]);
  } else {
    char s[CFG_PATH_LEN];
    char **imnames = xmalloc((size_t)k * sizeof *imnames);
    for (int j = 0; j < k; j++)
      imnames[j] = (char *)im[j].name;
    for (int j = 0; j < k && rc == 0; j++) {
      rc = fs_stem(s, sizeof s, im[j].name);
      if (rc == 0 && !has_stem(files.v, nf, s))
        rc = ancd_errorf("%s: missing anomaly map: no %s/%s.* (%d images, %d maps in %s)",
                         m->items[im[j].index].path, dir, s, k, nf, dir);
    }
    for (int j = 0; j < nf && rc == 0; j++) {
      rc = fs_stem(s, sizeof s, files.v[j]);
      if (rc == 0 && !has_stem(imnames, k, s))
        rc = ancd_errorf("%s/%s: extra anomaly map: no image %s.* of type %s (%d images, %d maps)",
                         dir, files.v[j], s, type, k, nf);
    }
    if (rc == 0)
      rc = ancd_errorf("%s: %d maps for %d images of type %s", dir, nf, k, type);
    free(imnames);
  }
  free(im);
  fs_names_free(&files);
  return rc;
}

/* Every map folder under root must be a type of the category. */
static int check_extra_types(const char *root, const ds_manifest *m) {
  fs_names dirs;
  if (fs_list_dir(&dirs, root, FS_DIRS, NULL) != 0)
    return -1;
  int rc = 0;
  for (int i = 0; i < dirs.n && rc == 0; i++) {
    int found = 0;
    for (int j = 0; j < m->n && !found; j++)
      found = !strcmp(m->items[j].type, dirs.v[i]);
    if (!found)
      rc = ancd_errorf("%s/%s: extra anomaly-map folder: category %s has no test type %s", root,
                       dirs.v[i], m->category, dirs.v[i]);
  }
  fs_names_free(&dirs);
  return rc;
}

/* Pairs every test item of m with its map: map[i] for item i. */
static int pair_all(char (*map)[CFG_PATH_LEN], const ds_manifest *m, const char *root) {
  int *idx = xmalloc(((size_t)m->n + 1) * sizeof *idx);
  char *done = xcalloc((size_t)m->n + 1, 1);
  int rc = check_extra_types(root, m);
  for (int i = 0; i < m->n && rc == 0; i++) {
    if (done[i])
      continue;
    int k = 0;
    for (int j = i; j < m->n; j++)
      if (!strcmp(m->items[j].type, m->items[i].type)) {
        idx[k++] = j;
        done[j] = 1;
      }
    rc = pair_type(map, m, idx, k, root, m->items[i].type);
  }
  free(done);
  free(idx);
  return rc;
}

int regions_items_import(regions_item **items, int *n, const config *c, const char *category) {
  if (!c->detect.maps_root[0])
    return ancd_errorf("detect.method import needs detect.maps_root (the folder of PNG maps)");
  char root[CFG_PATH_LEN + CFG_NAME_LEN + 2];
  snprintf(root, sizeof root, "%s/%s", c->detect.maps_root, category);
  struct stat st;
  if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
    return ancd_errorf("%s: no anomaly-map folder for category %s (detect.maps_root)", root,
                       category);
  ds_manifest m = {0};
  if (ds_scan(&m, &c->dataset, category) != 0)
    return -1;
  int kept = 0; /* the test split only */
  for (int i = 0; i < m.n; i++)
    if (m.items[i].split == DS_TEST)
      m.items[kept++] = m.items[i];
  m.n = kept;
  char(*map)[CFG_PATH_LEN] = xcalloc((size_t)m.n + 1, sizeof *map);
  int rc = pair_all(map, &m, root);
  ds_manifest v = {0}; /* validation drops bad images: pair first, then keep the survivors */
  ds_report rep = {0};
  if (rc == 0) {
    v = m;
    v.items = xmalloc(((size_t)m.n + 1) * sizeof *v.items);
    memcpy(v.items, m.items, (size_t)m.n * sizeof *v.items);
    v.cap = m.n;
    rc = ds_validate_ex(&v, &rep, c->io.max_bad_fraction, 1);
  }
  if (rc == 0) {
    regions_item *it = xcalloc((size_t)v.n + 1, sizeof *it);
    int j = 0;
    for (int i = 0; i < v.n; i++) {
      while (strcmp(m.items[j].path, v.items[i].path))
        j++; /* validation keeps the order */
      snprintf(it[i].path, sizeof it[i].path, "%s", v.items[i].path);
      snprintf(it[i].map, sizeof it[i].map, "%s", map[j]);
      snprintf(it[i].type, sizeof it[i].type, "%s", v.items[i].type);
      snprintf(it[i].mask, sizeof it[i].mask, "%s", v.items[i].mask);
      it[i].label = v.items[i].label;
    }
    *items = it;
    *n = v.n;
  }
  ds_report_free(&rep);
  free(v.items);
  free(map);
  ds_free(&m);
  return rc;
}
