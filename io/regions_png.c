/* regions.h5 crops as PNG files in AnomalyNCD's crop layout (regions_h5.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fsutil.h"
#include "regions_h5.h"

#define EXPORT_PATH_LEN 4096

typedef struct {
  char key[EXPORT_PATH_LEN]; /* <type>/<stem> */
  int index;
} stem_key;

static int by_key(const void *a, const void *b) {
  return strcmp(((const stem_key *)a)->key, ((const stem_key *)b)->key);
}

/* Types must be folder names and (type, stem) unique, else two images write the same files. */
static int check_names(char **paths, char **types, int n) {
  stem_key *k = xcalloc((size_t)n + 1, sizeof *k);
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    const char *t = types[i];
    if (!t[0] || strchr(t, '/') || !strcmp(t, ".") || !strcmp(t, ".."))
      rc = ancd_errorf("%s: type '%s' is not a folder name", paths[i], t);
    char s[EXPORT_PATH_LEN / 2] = "";
    if (rc == 0)
      rc = fs_stem(s, sizeof s, paths[i]);
    if (rc == 0 && !s[0])
      rc = ancd_errorf("%s: no file stem to name its crops", paths[i]);
    snprintf(k[i].key, sizeof k[i].key, "%s/%s", t, s);
    k[i].index = i;
  }
  if (rc == 0) {
    qsort(k, (size_t)n, sizeof *k, by_key);
    for (int i = 1; i < n && rc == 0; i++)
      if (!strcmp(k[i - 1].key, k[i].key))
        rc = ancd_errorf("%s and %s would both be exported as %s_crop<i>.png",
                         paths[k[i - 1].index], paths[k[i].index], k[i].key);
  }
  free(k);
  return rc;
}

static int write_png(const char *root, const char *kind, const char *type, const char *stem, int i,
                     const image_u8 *img) {
  char dir[EXPORT_PATH_LEN], path[EXPORT_PATH_LEN + 256];
  if (snprintf(dir, sizeof dir, "%s/%s/%s", root, kind, type) >= (int)sizeof dir)
    return ancd_errorf("%s: path too long", root);
  if (snprintf(path, sizeof path, "%s/%s_crop%d.png", dir, stem, i) >= (int)sizeof path)
    return ancd_errorf("%s/%s: path too long", dir, stem);
  if (fs_mkdirs(dir) < 0)
    return -1;
  return image_write_png(path, img);
}

int regions_export_png(const char *dir, const char *category, const char *path, int first,
                       int count) {
  h5s_file f;
  if (regions_h5_open(&f, path) < 0)
    return -1;
  int n = 0, np = 0, nt = 0;
  long n_crops = 0;
  char **paths = NULL, **types = NULL;
  int32_t *per_image = NULL;
  int rc = regions_h5_counts(&f, &n, &n_crops);
  if (rc == 0 && (first < 0 || count < 0 || first + count > n))
    rc = ancd_errorf("%s: images [%d, %d) of %d", path, first, first + count, n);
  if (rc == 0) {
    per_image = xmalloc(((size_t)n + 1) * sizeof *per_image);
    rc = regions_h5_read_image_i32(&f, "n_crops", per_image, n);
  }
  if (rc == 0 && (h5s_read_strings(&f, "paths", &paths, &np) < 0 ||
                  h5s_read_strings(&f, "types", &types, &nt) < 0))
    rc = -1;
  if (rc == 0 && (np != n || nt != n))
    rc = ancd_errorf("%s: %d images but %d paths and %d types", path, n, np, nt);
  if (rc == 0)
    rc = check_names(paths, types, n);
  char root[EXPORT_PATH_LEN];
  if (rc == 0 && snprintf(root, sizeof root, "%s/%s", dir, category) >= (int)sizeof root)
    rc = ancd_errorf("%s: path too long", dir);
  long c = 0;
  for (int i = 0; i < first && rc == 0; i++)
    c += per_image[i];
  for (int i = first; i < first + count && rc == 0; i++) {
    char stem[EXPORT_PATH_LEN / 2];
    rc = fs_stem(stem, sizeof stem, paths[i]);
    for (int k = 0; k < per_image[i] && rc == 0; k++, c++) {
      regions_crop cr;
      rc = regions_h5_read_crop(&cr, &f, c);
      if (rc == 0 && cr.image_index != i)
        rc = ancd_errorf("%s: crop %ld belongs to image %d, expected %d", path, c, cr.image_index,
                         i);
      if (rc == 0)
        rc = write_png(root, "images", types[i], stem, k, &cr.pixels);
      if (rc == 0)
        rc = write_png(root, "masks", types[i], stem, k, &cr.mask);
      regions_crop_free(&cr);
    }
  }
  if (paths)
    h5s_free_strings(paths, np);
  if (types)
    h5s_free_strings(types, nt);
  free(per_image);
  h5s_close(&f);
  return rc;
}
