/* templates.h5 (templates_h5.h). */
#include "templates_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5store.h"

static int path_of(char *out, size_t n, const char *dir) {
  if (snprintf(out, n, "%s/templates.h5", dir) >= (int)n)
    return ancd_errorf("%s: path too long", dir);
  return 0;
}

int templates_h5_write(const char *dir, const hetmm_templates *t, const char *key,
                       const char *backbone, const char *mode, int n_normal) {
  char path[CFG_PATH_LEN + 32];
  if (path_of(path, sizeof path, dir) != 0)
    return -1;
  h5s_file f;
  if (h5s_create(&f, path, MPI_COMM_SELF) != 0)
    return -1;
  int rc = 0;
  for (int l = 0; l < t->n_layers && rc == 0; l++) {
    char name[32];
    snprintf(name, sizeof name, "layer%d", l);
    uint64_t dims[4] = {(uint64_t)t->h[l], (uint64_t)t->w[l], (uint64_t)t->K, (uint64_t)t->C[l]};
    uint64_t start[4] = {0, 0, 0, 0};
    rc = h5s_dataset_create(&f, name, H5S_F32, 4, dims, NULL);
    if (rc == 0)
      rc = h5s_write_slab(&f, name, H5S_F32, start, dims, t->t[l]);
    if (rc == 0)
      rc = h5s_attr_set_str(&f, name, "description",
                            "HETMM template sheets [h, w, K, C]: unit channel vectors per pixel");
  }
  if (rc == 0)
    rc = h5s_attr_set_str(&f, "/", "stage_key", key);
  if (rc == 0)
    rc = h5s_attr_set_str(&f, "/", "backbone", backbone);
  if (rc == 0)
    rc = h5s_attr_set_str(&f, "/", "mode", mode);
  if (rc == 0)
    rc = h5s_attr_set_i64(&f, "/", "K", t->K);
  if (rc == 0)
    rc = h5s_attr_set_i64(&f, "/", "n_layers", t->n_layers);
  if (rc == 0)
    rc = h5s_attr_set_i64(&f, "/", "n_normal", n_normal);
  if (rc != 0) {
    h5s_abort(&f);
    return -1;
  }
  return h5s_publish(&f);
}

int templates_h5_read(hetmm_templates *t, const char *dir, const char *key) {
  char have[STAGE_KEY_LEN] = "";
  int st = stage_file_check(dir, "templates.h5", have);
  if (st != 0)
    return st;
  if (strcmp(have, key) != 0)
    return TEMPLATES_STALE;
  char path[CFG_PATH_LEN + 32];
  if (path_of(path, sizeof path, dir) != 0)
    return -1;
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) != 0)
    return -1;
  int64_t n_layers = 0, K = 0;
  int rc = h5s_attr_get_i64(&f, "/", "n_layers", &n_layers);
  if (rc == 0)
    rc = h5s_attr_get_i64(&f, "/", "K", &K);
  if (rc == 0 && (n_layers < 1 || n_layers > HETMM_MAX_LAYERS || K < 1))
    rc = ancd_errorf("%s: %lld layers of %lld sheets: not a templates file ancd reads", path,
                     (long long)n_layers, (long long)K);
  memset(t, 0, sizeof *t);
  t->n_layers = (int)n_layers;
  t->K = (int)K;
  for (int l = 0; l < t->n_layers && rc == 0; l++) {
    char name[32];
    snprintf(name, sizeof name, "layer%d", l);
    uint64_t dims[4], start[4] = {0, 0, 0, 0};
    if (h5s_dataset_dims(&f, name, dims, 4) != 4 || dims[2] != (uint64_t)K) {
      rc = ancd_errorf("%s: /%s is not [h, w, %lld, C]", path, name, (long long)K);
      break;
    }
    t->h[l] = (int)dims[0];
    t->w[l] = (int)dims[1];
    t->C[l] = (int)dims[3];
    t->t[l] = xmalloc((size_t)(dims[0] * dims[1] * dims[2] * dims[3]) * sizeof(float) + 1);
    rc = h5s_read_slab(&f, name, H5S_F32, start, dims, t->t[l]);
  }
  h5s_close(&f);
  if (rc != 0) {
    hetmm_templates_free(t);
    return -1;
  }
  return 0;
}
