/* model.h5 (model_h5.h). */
#include "model_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fsutil.h"
#include "h5store.h"

const char *const model_hist_names[MODEL_HIST_COLS] = {
    "total",   "con",     "supcon",  "cls",    "clu",    "lr",     "steps",  "clu_h0",
    "clu_h1",  "clu_h2",  "clu_h3",  "cls_h0", "cls_h1", "cls_h2", "cls_h3", "dist_h0",
    "dist_h1", "dist_h2", "dist_h3", "me_h0",  "me_h1",  "me_h2",  "me_h3"};

static int path_of(char *out, size_t n, const char *dir) {
  if (snprintf(out, n, "%s/%s", dir, MODEL_FILE) >= (int)n)
    return ancd_errorf("%s: path too long", dir);
  return 0;
}

int model_h5_write(const char *dir, const model_state *s, const config *cfg) {
  char path[1100], name[128];
  if (path_of(path, sizeof path, dir) < 0 || fs_mkdirs(dir) < 0)
    return -1;
  h5s_file f;
  if (h5s_create(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  int rc = 0;
  size_t at = 0;
  for (int i = 0; i < s->n_tensors && rc == 0; i++) {
    snprintf(name, sizeof name, "params/%s", s->names[i]);
    rc = h5s_write_array(&f, name, H5S_F32, s->params + at, (uint64_t)s->sizes[i], 0,
                         "trainable parameter (flattened state-dict tensor)");
    snprintf(name, sizeof name, "momentum/%s", s->names[i]);
    if (rc == 0)
      rc = h5s_write_array(&f, name, H5S_F32, s->momentum + at, (uint64_t)s->sizes[i], 0,
                           "SGD momentum buffer");
    at += (size_t)s->sizes[i];
  }
  const int n_classes = s->n_base + s->n_novel;
  const char **names = xmalloc(((size_t)s->n_tensors + 1) * sizeof *names);
  for (int i = 0; i < s->n_tensors; i++)
    names[i] = s->names[i];
  if (rc == 0 && (h5s_write_strings(&f, "tensor_names", names, s->n_tensors) < 0 ||
                  h5s_attr_set_str(&f, "tensor_names", "description",
                                   "the trainable tensors in the model's order") < 0))
    rc = -1;
  free(names);
  char *yaml = config_to_yaml(cfg);
  char columns[1024] = "";
  for (int c = 0; c < MODEL_HIST_COLS; c++)
    snprintf(columns + strlen(columns), sizeof columns - strlen(columns), "%s%s", c ? "," : "",
             model_hist_names[c]);
  if (rc == 0 &&
      (h5s_write_array(
           &f, "history", H5S_F64, s->history, (uint64_t)s->epochs_done, MODEL_HIST_COLS,
           "per-epoch means of the loss terms over the steps taken, the LR, the steps") < 0 ||
       h5s_write_array(&f, "partial", H5S_F64, s->partial, MODEL_HIST_COLS + 1, 0,
                       "sums of the epoch in progress and its step count (resume)") < 0 ||
       h5s_write_strings(&f, "classes", (const char *const *)s->classes, n_classes) < 0 ||
       h5s_attr_set_str(&f, "classes", "description",
                        "the base classes (columns 0..n_base-1), then the novel types") < 0 ||
       h5s_attr_set_str(&f, "/", "stage_key", s->stage_key) < 0 ||
       h5s_attr_set_str(&f, "/", "config", yaml) < 0 ||
       h5s_attr_set_str(&f, "/", "ancd_version", ANCD_VERSION) < 0 ||
       h5s_attr_set_str(&f, "/", "backbone", s->backbone) < 0 ||
       h5s_attr_set_str(&f, "/", "category", s->category) < 0 ||
       h5s_attr_set_str(&f, "/", "history_columns", columns) < 0 ||
       h5s_attr_set_i64(&f, "/", "epochs", s->epochs) < 0 ||
       h5s_attr_set_i64(&f, "/", "epochs_done", s->epochs_done) < 0 ||
       h5s_attr_set_i64(&f, "/", "next_batch", s->next_batch) < 0 ||
       h5s_attr_set_i64(&f, "/", "finished", s->finished) < 0 ||
       h5s_attr_set_i64(&f, "/", "head", s->head) < 0 ||
       h5s_attr_set_i64(&f, "/", "n_base", s->n_base) < 0 ||
       h5s_attr_set_i64(&f, "/", "n_novel", s->n_novel) < 0 ||
       h5s_attr_set_i64(&f, "/", "seed", s->seed) < 0 ||
       h5s_attr_set_i64(&f, "/", "k_estimated", s->k_est) < 0 ||
       h5s_attr_set_i64(&f, "/", "steps", s->steps) < 0 ||
       h5s_attr_set_i64(&f, "/", "n_tensors", s->n_tensors) < 0))
    rc = -1;
  free(yaml);
  if (rc < 0) {
    h5s_abort(&f);
    return -1;
  }
  return h5s_publish(&f);
}

static int get_int(h5s_file *f, const char *name, int *out) {
  int64_t v = 0;
  if (h5s_attr_get_i64(f, "/", name, &v) < 0)
    return -1;
  *out = (int)v;
  return 0;
}

int model_h5_read(model_state *s, const char *dir) {
  char path[1100], name[128];
  memset(s, 0, sizeof *s);
  if (path_of(path, sizeof path, dir) < 0)
    return -1;
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  int rc = 0, seed = 0, n_classes = 0;
  int64_t steps = 0;
  if (get_int(&f, "n_tensors", &s->n_tensors) < 0 || get_int(&f, "epochs", &s->epochs) < 0 ||
      get_int(&f, "epochs_done", &s->epochs_done) < 0 ||
      get_int(&f, "next_batch", &s->next_batch) < 0 || get_int(&f, "finished", &s->finished) < 0 ||
      get_int(&f, "head", &s->head) < 0 || get_int(&f, "n_base", &s->n_base) < 0 ||
      get_int(&f, "n_novel", &s->n_novel) < 0 || get_int(&f, "seed", &seed) < 0 ||
      get_int(&f, "k_estimated", &s->k_est) < 0 || h5s_attr_get_i64(&f, "/", "steps", &steps) < 0 ||
      h5s_attr_get_str(&f, "/", "stage_key", s->stage_key, sizeof s->stage_key) < 0 ||
      h5s_attr_get_str(&f, "/", "backbone", s->backbone, sizeof s->backbone) < 0 ||
      h5s_attr_get_str(&f, "/", "category", s->category, sizeof s->category) < 0 ||
      h5s_read_strings(&f, "classes", &s->classes, &n_classes) < 0)
    rc = -1;
  s->seed = seed;
  s->steps = (long)steps;
  if (rc == 0 && n_classes != s->n_base + s->n_novel)
    rc = ancd_errorf("%s: %d class names for %d base and %d novel classes", path, n_classes,
                     s->n_base, s->n_novel);
  /* The tensors by name: the group's members in HDF5's name order are not the model's order, so
   * the caller matches names (the model's table) with model_state's. */
  if (rc == 0) {
    char **names = NULL;
    int n_names = 0;
    rc = h5s_read_strings(&f, "tensor_names", &names, &n_names);
    if (rc == 0 && n_names != s->n_tensors)
      rc = ancd_errorf("%s: %d tensor names for %d tensors", path, n_names, s->n_tensors);
    s->names = xcalloc((size_t)s->n_tensors + 1, sizeof *s->names);
    s->sizes = xcalloc((size_t)s->n_tensors + 1, sizeof *s->sizes);
    size_t total = 0;
    for (int i = 0; rc == 0 && i < s->n_tensors; i++) {
      snprintf(s->names[i], sizeof s->names[i], "%s", names[i]);
      uint64_t d[1];
      snprintf(name, sizeof name, "params/%s", names[i]);
      if (h5s_dataset_dims(&f, name, d, 1) != 1)
        rc = -1;
      s->sizes[i] = (int64_t)d[0];
      total += d[0];
    }
    if (names)
      h5s_free_strings(names, n_names);
    s->params = xmalloc((total + 1) * sizeof *s->params);
    s->momentum = xmalloc((total + 1) * sizeof *s->momentum);
    size_t at = 0;
    for (int i = 0; rc == 0 && i < s->n_tensors; i++) {
      const uint64_t start = 0, count = (uint64_t)s->sizes[i];
      snprintf(name, sizeof name, "params/%s", s->names[i]);
      if (h5s_read_slab(&f, name, H5S_F32, &start, &count, s->params + at) < 0)
        rc = -1;
      snprintf(name, sizeof name, "momentum/%s", s->names[i]);
      if (rc == 0 && h5s_read_slab(&f, name, H5S_F32, &start, &count, s->momentum + at) < 0)
        rc = -1;
      at += count;
    }
  }
  if (rc == 0) {
    s->history = xcalloc((size_t)s->epochs_done * MODEL_HIST_COLS + 1, sizeof *s->history);
    const uint64_t start[2] = {0, 0}, count[2] = {(uint64_t)s->epochs_done, MODEL_HIST_COLS};
    const uint64_t pstart = 0, pcount = MODEL_HIST_COLS + 1;
    if (h5s_read_slab(&f, "history", H5S_F64, start, count, s->history) < 0 ||
        h5s_read_slab(&f, "partial", H5S_F64, &pstart, &pcount, s->partial) < 0)
      rc = -1;
  }
  h5s_close(&f);
  if (rc < 0)
    model_state_free(s);
  return rc;
}

void model_state_free(model_state *s) {
  free(s->names);
  free(s->sizes);
  free(s->params);
  free(s->momentum);
  free(s->history);
  if (s->classes)
    h5s_free_strings(s->classes, s->n_base + s->n_novel);
  memset(s, 0, sizeof *s);
}
