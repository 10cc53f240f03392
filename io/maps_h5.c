/* maps.h5 (DESIGN "Files"): the anomaly maps, image scores, labels, paths, types and masks of one
 * category, written collectively (each rank its block of rows) and published atomically. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_mpi.h"
#include "detect_store.h"
#include "error.h"
#include "fsutil.h"
#include "h5store.h"
#include "tiling.h"

int maps_h5_path(char *out, size_t n, const char *dir) {
  if (snprintf(out, n, "%s/%s", dir, MAPS_FILE) >= (int)n)
    return ancd_errorf("%s: path too long", dir);
  return 0;
}

/* This rank's arguments: sizes, its row block, finite maps (NaN/Inf names the image). */
static int check_local(const char *path, const maps_record *r) {
  if (r->n < 1 || r->size < 1)
    return ancd_errorf("%s: %d images of %dx%d: nothing to write", path, r->n, r->size, r->size);
  if (!r->cfg || !r->stage_key || !r->scores || !r->scores_rscin || !r->labels || !r->paths ||
      !r->types)
    return ancd_errorf(
        "%s: incomplete record (config, stage key, scores, labels, paths and types needed)", path);
  if (r->first < 0 || r->n_own < 0 || r->first + r->n_own > r->n)
    return ancd_errorf("%s: rows [%d, %d) outside [0, %d)", path, r->first, r->first + r->n_own,
                       r->n);
  if (r->n_own > 0 && !r->maps)
    return ancd_errorf("%s: no maps for rows [%d, %d)", path, r->first, r->first + r->n_own);
  size_t px = (size_t)r->size * r->size;
  for (int i = 0; i < r->n_own; i++)
    for (size_t k = 0; k < px; k++)
      if (!isfinite(r->maps[(size_t)i * px + k]))
        return ancd_errorf("%s: the map of image %d (%s) holds NaN or Inf", path, r->first + i,
                           r->paths[r->first + i]);
  return 0;
}

/* Every rank's rows together tile [0, n) in rank order and every rank agrees on n, S and
 * masks. */
static int check_global(const char *path, const maps_record *r, MPI_Comm comm) {
  int size;
  CHECK_MPI(MPI_Comm_size(comm, &size));
  int mine[5] = {r->first, r->n_own, r->n, r->size, r->masks != NULL};
  int *all = xmalloc((size_t)size * 5 * sizeof *all);
  CHECK_MPI(MPI_Allgather(mine, 5, MPI_INT, all, 5, MPI_INT, comm));
  int rc = 0;
  for (int k = 0; k < size && rc == 0; k++) {
    const int *o = all + 5 * k;
    if (o[2] != r->n || o[3] != r->size || o[4] != mine[4])
      rc = ancd_errorf("%s: ranks disagree on the images, the map size or the masks", path);
  }
  if (rc == 0)
    rc = tiling_check(path, "row", all, 5, size, r->n);
  free(all);
  return rc;
}

/* A dataset with its description; [n] rows written by rank 0 alone (every rank has them). */
static int write_vector(h5s_file *f, const char *name, h5s_type t, const void *data, int n,
                        const char *description) {
  const uint64_t dims[1] = {(uint64_t)n}, start[1] = {0};
  const uint64_t count[1] = {f->rank == 0 ? (uint64_t)n : 0};
  if (h5s_dataset_create(f, name, t, 1, dims, NULL) < 0 ||
      h5s_write_slab(f, name, t, start, count, f->rank == 0 ? data : NULL) < 0)
    return -1;
  return h5s_attr_set_str(f, name, "description", description);
}

/* [n, S, S] rows [first, first + n_own) of this rank; one chunk per image. */
static int write_rows(h5s_file *f, const char *name, h5s_type t, const void *rows,
                      const maps_record *r, const char *description) {
  const uint64_t S = (uint64_t)r->size;
  const uint64_t dims[3] = {(uint64_t)r->n, S, S}, chunk[3] = {1, S, S};
  const uint64_t start[3] = {(uint64_t)r->first, 0, 0}, count[3] = {(uint64_t)r->n_own, S, S};
  if (h5s_dataset_create(f, name, t, 3, dims, chunk) < 0 ||
      h5s_write_slab(f, name, t, start, count, r->n_own > 0 ? rows : NULL) < 0)
    return -1;
  return h5s_attr_set_str(f, name, "description", description);
}

static int write_attrs(h5s_file *f, const maps_record *r) {
  char *yaml = config_to_yaml(r->cfg);
  int rc = h5s_attr_set_str(f, "/", "config", yaml);
  free(yaml);
  if (rc < 0 || h5s_attr_set_str(f, "/", "stage_key", r->stage_key) < 0 ||
      h5s_attr_set_str(f, "/", "ancd_version", ANCD_VERSION) < 0 ||
      h5s_attr_set_str(f, "/", "backbone", r->backbone ? r->backbone : "") < 0 ||
      h5s_attr_set_str(f, "/", "method", r->cfg->detect.method) < 0 ||
      h5s_attr_set_i64(f, "/", "image_size", r->cfg->detect.image_size) < 0 ||
      h5s_attr_set_i64(f, "/", "map_size", r->size) < 0 ||
      h5s_attr_set_i64(f, "/", "n_images", r->n) < 0)
    return -1;
  if (r->category && h5s_attr_set_str(f, "/", "category", r->category) < 0)
    return -1;
  return 0;
}

int maps_h5_write(const char *dir, const maps_record *r, MPI_Comm comm) {
  char path[1024];
  int rank;
  CHECK_MPI(MPI_Comm_rank(comm, &rank));
  int rc = maps_h5_path(path, sizeof path, dir);
  if (rc == 0)
    rc = check_local(path, r);
  if (h5s_agree(comm, rc) < 0)
    return -1;
  rc = check_global(path, r, comm); /* the same verdict on every rank: all saw the same table */
  if (rc == 0 && rank == 0)
    rc = fs_mkdirs(dir);
  if (h5s_agree(comm, rc) < 0)
    return -1;

  h5s_file f;
  if (h5s_create(&f, path, comm) < 0)
    return -1;
  /* Every h5s_* call returns the same status on every rank, so all ranks leave together. */
  if (write_rows(&f, "maps", H5S_F32, r->maps, r,
                 "anomaly map per test image (manifest order), S x S at the preprocessed size; "
                 "higher is more anomalous (musc §A.6.3)") < 0 ||
      write_vector(&f, "scores", H5S_F64, r->scores, r->n,
                   "image score: the maximum of the map (musc §A.6.3)") < 0 ||
      write_vector(&f, "scores_rscin", H5S_F64, r->scores_rscin, r->n,
                   "image score after RsCIN re-scoring (musc §A.7)") < 0 ||
      write_vector(&f, "labels", H5S_U8, r->labels, r->n, "1 anomalous, 0 normal") < 0 ||
      h5s_write_strings(&f, "paths", r->paths, r->n) < 0 ||
      h5s_attr_set_str(&f, "paths", "description", "image file path") < 0 ||
      h5s_write_strings(&f, "types", r->types, r->n) < 0 ||
      h5s_attr_set_str(&f, "types", "description", "anomaly type (the image's folder)") < 0 ||
      (r->masks && write_rows(&f, "masks", H5S_U8, r->masks, r,
                              "ground truth 0/1 at S x S (musc §A.3 mask processing)") < 0) ||
      write_attrs(&f, r) < 0) {
    h5s_abort(&f);
    return -1;
  }
  return h5s_publish(&f);
}
