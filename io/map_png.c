/* Maps as PNG files, one per image under <dir>/<type>/<name>.png: 8-bit gray maps for AnomalyNCD
 * (its README's generate_anomaly_maps: one joint min-max over the category) and jet heat maps
 * (musc §A.9: single_norm / whole_norm). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_store.h"
#include "error.h"
#include "fsutil.h"
#include "image.h"
#include "log.h"

#define MAP_PATH_LEN 4096

void maps_to_u8(uint8_t *out, const float *maps, size_t n, float lo, float hi) {
  for (size_t k = 0; k < n; k++)
    out[k] = map_value_u8(maps[k], lo, hi);
}

/* min and max of [lo_row, hi_row) maps; NaN or Inf names the image. */
static int map_range(float *lo, float *hi, const float *maps, int first, int end, int S,
                     const char *const *paths) {
  size_t px = (size_t)S * S;
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int i = first; i < end; i++)
    for (size_t k = 0; k < px; k++) {
      float v = maps[(size_t)i * px + k];
      if (!isfinite(v))
        return ancd_errorf("%s: its anomaly map holds NaN or Inf", paths[i]);
      *lo = v < *lo ? v : *lo;
      *hi = v > *hi ? v : *hi;
    }
  return 0;
}

typedef struct {
  char name[MAP_PATH_LEN]; /* <type>/<name>.png */
  int index;
} out_name;

static int by_name(const void *a, const void *b) {
  return strcmp(((const out_name *)a)->name, ((const out_name *)b)->name);
}

/* The relative output names <type>/<name>.png of the selected images (keep NULL: all). Types must
 * be plain folder names; two images that would write the same file are an error naming both. */
static int output_names(out_name **out, const char *const *paths, const char *const *types,
                        const uint8_t *keep, int n) {
  out_name *names = xcalloc((size_t)(n > 0 ? n : 1), sizeof *names);
  int m = 0, rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    if (keep && !keep[i])
      continue;
    const char *t = types[i];
    if (!t[0] || strchr(t, '/') || !strcmp(t, ".") || !strcmp(t, ".."))
      rc = ancd_errorf("%s: type '%s' is not a folder name", paths[i], t);
    char file[MAP_PATH_LEN];
    if (rc == 0)
      rc = fs_replace_ext(file, sizeof file, fs_basename(paths[i]), ".png");
    if (rc == 0 && (!file[0] || !strcmp(file, ".png")))
      rc = ancd_errorf("%s: no file name", paths[i]);
    if (rc == 0 && snprintf(names[m].name, MAP_PATH_LEN, "%s/%s", t, file) >= MAP_PATH_LEN)
      rc = ancd_errorf("%s: output name too long", paths[i]);
    names[m++].index = i;
  }
  if (rc == 0) {
    qsort(names, (size_t)m, sizeof *names, by_name);
    for (int i = 1; i < m && rc == 0; i++)
      if (!strcmp(names[i - 1].name, names[i].name))
        rc = ancd_errorf("%s and %s would both be written as %s", paths[names[i - 1].index],
                         paths[names[i].index], names[i].name);
  }
  if (rc < 0) {
    free(names);
    return -1;
  }
  *out = names;
  return m;
}

/* <root>/<type>/<name>.png with its folder created. */
static int write_one(const char *root, const char *name, const image_u8 *img) {
  char path[2 * MAP_PATH_LEN + 2];
  snprintf(path, sizeof path, "%s/%s", root, name);
  char *slash = strrchr(path, '/');
  *slash = '\0';
  if (fs_mkdirs(path) < 0)
    return -1;
  *slash = '/';
  return image_write_png(path, img);
}

int export_maps_png(const char *dir, const char *category, const float *maps, int n, int S,
                    const char *const *paths, const char *const *types) {
  if (n < 1 || S < 1)
    return ancd_errorf("%s/%s: %d maps of %dx%d: nothing to export", dir, category, n, S, S);
  char root[MAP_PATH_LEN];
  if (snprintf(root, sizeof root, "%s/%s", dir, category) >= (int)sizeof root)
    return ancd_errorf("%s: path too long", dir);
  float lo, hi;
  if (map_range(&lo, &hi, maps, 0, n, S, paths) < 0)
    return ancd_error_prefix("%s: ", category);
  if (!(hi > lo))
    log_warn("%s: every map value is %g: the exported maps are all 0", category, lo);
  out_name *names = NULL;
  int m = output_names(&names, paths, types, NULL, n);
  if (m < 0)
    return -1;
  image_u8 img;
  int rc = image_alloc(&img, S, S, 1);
  size_t px = (size_t)S * S;
  for (int j = 0; j < m && rc == 0; j++) {
    maps_to_u8(img.data, maps + (size_t)names[j].index * px, px, lo, hi);
    rc = write_one(root, names[j].name, &img);
  }
  image_free(&img);
  free(names);
  return rc;
}

int heatmaps_write(const char *dir, const char *mode, const float *maps, const uint8_t *rgb,
                   const uint8_t *labels, int n, int S, const char *const *paths,
                   const char *const *types) {
  if (!strcmp(mode, "none"))
    return 0;
  int single = !strcmp(mode, "single_norm");
  if (!single && strcmp(mode, "whole_norm"))
    return ancd_errorf("%s: unknown heat map mode '%s' (none, single_norm, whole_norm)", dir, mode);
  if (n < 1 || S < 1)
    return ancd_errorf("%s: %d maps of %dx%d: no heat maps", dir, n, S, S);
  float lo = 0, hi = 0;
  if (!single && map_range(&lo, &hi, maps, 0, n, S, paths) < 0)
    return -1;
  /* single_norm: MuSc writes only the anomalous images (gt != 0, folder not normal). */
  out_name *names = NULL;
  int m = output_names(&names, paths, types, single ? labels : NULL, n);
  if (m < 0)
    return -1;
  size_t px = (size_t)S * S;
  int rc = 0;
  for (int j = 0; j < m && rc == 0; j++) {
    int i = names[j].index;
    if (single)
      rc = map_range(&lo, &hi, maps, i, i + 1, S, paths);
    image_u8 out = {0};
    image_u8 under = {.w = S, .h = S, .c = 3, .data = rgb ? (uint8_t *)rgb + 3 * px * i : NULL};
    if (rc == 0)
      rc = heatmap_jet(&out, maps + px * i, S, S, lo, hi, rgb ? &under : NULL, 0.5f);
    if (rc == 0)
      rc = write_one(dir, names[j].name, &out);
    image_free(&out);
  }
  free(names);
  return rc;
}
