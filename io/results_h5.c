/* results.h5 (results_h5.h). */
#include "results_h5.h"

#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "fsutil.h"
#include "h5store.h"

/* A whole [a, b, c] array as a new dataset (one writer). */
static int write_3d(h5s_file *f, const char *name, const float *data, uint64_t a, uint64_t b,
                    uint64_t c, const char *description) {
  const uint64_t dims[3] = {a, b, c}, start[3] = {0, 0, 0};
  if (h5s_dataset_create(f, name, H5S_F32, 3, dims, NULL) < 0 ||
      h5s_write_slab(f, name, H5S_F32, start, dims, a * b * c > 0 ? data : NULL) < 0)
    return -1;
  return h5s_attr_set_str(f, name, "description", description);
}

int results_h5_write(const char *dir, const results_record *r) {
  char path[1100];
  if (snprintf(path, sizeof path, "%s/%s", dir, RESULTS_FILE) >= (int)sizeof path)
    return ancd_errorf("%s: path too long", dir);
  if (fs_mkdirs(dir) < 0)
    return -1;
  h5s_file f;
  if (h5s_create(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  const uint64_t H = (uint64_t)r->H, N = (uint64_t)r->N, R = (uint64_t)r->R, C = (uint64_t)r->C;
  char *yaml = config_to_yaml(r->cfg);
  int rc = 0;
  if (h5s_write_array(&f, "crop_image_index", H5S_I32, r->crop_image_index, R, 0,
                      "the image of each crop (row of paths)") < 0 ||
      h5s_write_array(&f, "crop_mask_area", H5S_I64, r->crop_mask_area, R, 0,
                      "foreground pixels of each crop's mask (the merging weight's a_j)") < 0 ||
      write_3d(&f, "crop_probs", r->crop_probs, H, R, C,
               "per head: softmax of each crop's logits, base columns 0 (sub-image, §6)") < 0 ||
      h5s_write_array(&f, "crop_pred", H5S_I32, r->crop_pred, H, R,
                      "per head: each crop's class (column of classes)") < 0 ||
      write_3d(&f, "image_probs", r->image_probs, H, N, C,
               "per head: the merged probabilities of each image (region merging, §6)") < 0 ||
      h5s_write_array(&f, "image_pred", H5S_I32, r->image_pred, H, N,
                      "per head: each image's class (column of classes)") < 0 ||
      h5s_write_array(&f, "true_type", H5S_I32, r->true_type, N, 0,
                      "each image's true type (row of types), -1 unknown") < 0 ||
      h5s_write_array(&f, "head_loss", H5S_F64, r->head_loss, H, 0,
                      "mean L_clu of each head over the last training epoch (the lowest is "
                      "reported)") < 0 ||
      h5s_write_strings(&f, "paths", r->paths, r->N) < 0 ||
      h5s_write_strings(&f, "types", r->types, r->n_types) < 0 ||
      h5s_write_strings(&f, "classes", r->classes, r->C) < 0 ||
      h5s_attr_set_str(&f, "/", "stage_key", r->stage_key) < 0 ||
      h5s_attr_set_str(&f, "/", "model_stage_key", r->model_stage_key) < 0 ||
      h5s_attr_set_str(&f, "/", "config", yaml) < 0 ||
      h5s_attr_set_str(&f, "/", "ancd_version", ANCD_VERSION) < 0 ||
      h5s_attr_set_str(&f, "/", "category", r->category) < 0 ||
      h5s_attr_set_i64(&f, "/", "head", r->head) < 0 ||
      h5s_attr_set_i64(&f, "/", "n_base", r->n_base) < 0 ||
      h5s_attr_set_i64(&f, "/", "n_novel", r->C - r->n_base) < 0 ||
      h5s_attr_set_f64(&f, "/", "merge_temperature", r->merge_temperature) < 0 ||
      h5s_attr_set_i64(&f, "/", "n_images", r->N) < 0 ||
      h5s_attr_set_i64(&f, "/", "n_crops", r->R) < 0)
    rc = -1;
  free(yaml);
  if (rc == 0)
    return h5s_publish(&f);
  h5s_abort(&f);
  return -1;
}
