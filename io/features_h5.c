/* features.h5: the scoring pool of a category (features_h5.h). */
#include "features_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5store.h"

static void layer_name(char *out, size_t n, int block) { snprintf(out, n, "taps/block%d", block); }

static void layers_text(char *out, size_t n, const int *layers, int n_layers) {
  size_t at = 0;
  out[0] = '\0';
  for (int l = 0; l < n_layers && at < n; l++)
    at += (size_t)snprintf(out + at, n - at, "%s%d", l ? "," : "", layers[l]);
}

int features_h5_write(const char *dir, const features_record *r, MPI_Comm comm) {
  char path[1024], name[64], layers[256];
  if (snprintf(path, sizeof path, "%s/%s", dir, FEATURES_FILE) >= (int)sizeof path)
    return ancd_errorf("features.h5: path too long under %s", dir);
  layers_text(layers, sizeof layers, r->layers, r->n_layers);
  h5s_file f;
  if (h5s_create(&f, path, comm) < 0)
    return -1;
  const uint64_t rows = (uint64_t)r->n + (uint64_t)r->n_ref;
  int rc = 0;
  for (int l = 0; l < r->n_layers && rc == 0; l++) {
    layer_name(name, sizeof name, r->layers[l]);
    const uint64_t dims[3] = {rows, (uint64_t)r->T, (uint64_t)r->C};
    const uint64_t chunk[3] = {1, (uint64_t)r->T, (uint64_t)r->C};
    const uint64_t s_test[3] = {(uint64_t)r->first, 0, 0},
                   c_test[3] = {(uint64_t)r->n_own, dims[1], dims[2]};
    const uint64_t s_ref[3] = {(uint64_t)(r->n + r->r_first), 0, 0},
                   c_ref[3] = {(uint64_t)r->r_own, dims[1], dims[2]};
    rc = h5s_dataset_create(&f, name, H5S_F32, 3, dims, chunk);
    if (rc == 0)
      rc = h5s_write_slab(&f, name, H5S_F32, s_test, c_test, r->n_own ? r->taps[l] : NULL);
    if (rc == 0 && r->n_ref > 0)
      rc = h5s_write_slab(&f, name, H5S_F32, s_ref, c_ref, r->r_own ? r->ref_taps[l] : NULL);
  }
  const uint64_t edims[2] = {(uint64_t)r->n, (uint64_t)r->E};
  const uint64_t es[2] = {(uint64_t)r->first, 0}, ec[2] = {(uint64_t)r->n_own, (uint64_t)r->E};
  if (rc == 0)
    rc = h5s_dataset_create(&f, "embed", H5S_F32, 2, edims, NULL);
  if (rc == 0)
    rc = h5s_write_slab(&f, "embed", H5S_F32, es, ec, r->n_own ? r->embed : NULL);
  if (rc == 0 && r->n_ref > 0)
    rc = h5s_write_strings(&f, "ref_paths", r->ref_paths, r->n_ref);
  if (rc == 0)
    rc = h5s_attr_set_str(&f, "/", "stage_key", r->stage_key) < 0 ||
                 h5s_attr_set_str(&f, "/", "backbone", r->backbone) < 0 ||
                 h5s_attr_set_str(&f, "/", "layers", layers) < 0 ||
                 h5s_attr_set_i64(&f, "/", "n_images", r->n) < 0 ||
                 h5s_attr_set_i64(&f, "/", "n_references", r->n_ref) < 0
             ? -1
             : 0;
  if (rc != 0) {
    h5s_abort(&f);
    return -1;
  }
  return h5s_publish(&f);
}

int features_h5_read(features_pool *p, const char *dir, const char *stage_key, const char *backbone,
                     const int *layers, int n_layers) {
  memset(p, 0, sizeof *p);
  char path[1024], got[1024], name[64], want_layers[256], got_layers[256];
  snprintf(path, sizeof path, "%s/%s", dir, FEATURES_FILE);
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return ancd_error_prefix("the category's pool: ");
  int64_t n = 0, n_ref = 0;
  int rc = 0;
  if (h5s_attr_get_str(&f, "/", "stage_key", got, sizeof got) < 0 || strcmp(got, stage_key))
    rc = ancd_errorf("%s was made with other dataset, backbone or detect settings than maps.h5: "
                     "rerun `ancd detect` with detect.keep_features: true",
                     path);
  else if (h5s_attr_get_str(&f, "/", "backbone", got, sizeof got) < 0 || strcmp(got, backbone))
    rc = ancd_errorf("%s holds features of another backbone (%s), not of this config's (%s)", path,
                     got, backbone);
  layers_text(want_layers, sizeof want_layers, layers, n_layers);
  if (!rc && (h5s_attr_get_str(&f, "/", "layers", got_layers, sizeof got_layers) < 0 ||
              strcmp(got_layers, want_layers)))
    rc = ancd_errorf("%s holds blocks %s, not detect.layers %s", path, got_layers, want_layers);
  if (!rc && (h5s_attr_get_i64(&f, "/", "n_images", &n) < 0 ||
              h5s_attr_get_i64(&f, "/", "n_references", &n_ref) < 0))
    rc = -1;
  uint64_t dims[3] = {0, 0, 0};
  if (!rc) {
    layer_name(name, sizeof name, layers[0]);
    if (h5s_dataset_dims(&f, name, dims, 3) != 3 || dims[0] != (uint64_t)(n + n_ref))
      rc = ancd_errorf("%s: %s is not [%lld, T, C]", path, name, (long long)(n + n_ref));
  }
  uint64_t edims[2] = {0, 0};
  if (!rc && (h5s_dataset_dims(&f, "embed", edims, 2) != 2 || edims[0] != (uint64_t)n))
    rc = ancd_errorf("%s: embed is not [%lld, E]", path, (long long)n);
  if (!rc) {
    p->n = (int)n, p->n_ref = (int)n_ref, p->n_layers = n_layers;
    p->T = (int)dims[1], p->C = (int)dims[2], p->E = (int)edims[1];
    p->taps = xcalloc((size_t)n_layers, sizeof *p->taps);
    for (int l = 0; l < n_layers && !rc; l++) {
      layer_name(name, sizeof name, layers[l]);
      p->taps[l] = xmalloc((size_t)dims[0] * dims[1] * dims[2] * sizeof(float) + 1);
      const uint64_t s[3] = {0, 0, 0};
      rc = h5s_read_slab(&f, name, H5S_F32, s, dims, p->taps[l]);
    }
    p->embed = xmalloc((size_t)n * p->E * sizeof(float) + 1);
    const uint64_t s[2] = {0, 0};
    if (!rc)
      rc = h5s_read_slab(&f, "embed", H5S_F32, s, edims, p->embed);
    int got_n = 0;
    if (!rc && n_ref > 0 &&
        (h5s_read_strings(&f, "ref_paths", &p->ref_paths, &got_n) < 0 || got_n != n_ref))
      rc = ancd_errorf("%s: ref_paths does not hold %lld paths", path, (long long)n_ref);
  }
  h5s_close(&f);
  if (rc)
    features_pool_free(p);
  return rc ? -1 : 0;
}

void features_pool_free(features_pool *p) {
  if (p->taps)
    for (int l = 0; l < p->n_layers; l++)
      free(p->taps[l]);
  free(p->taps);
  free(p->embed);
  if (p->ref_paths)
    h5s_free_strings(p->ref_paths, p->n_ref);
  memset(p, 0, sizeof *p);
}
