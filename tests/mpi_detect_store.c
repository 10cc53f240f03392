/* maps.h5 under MPI (run with 2 and 3 ranks): the rows split over the ranks give the same file
 * content as one rank writing everything (every dataset and attribute read back and compared),
 * also when a rank holds no row; overlapping rows and a NaN on one rank fail on every rank. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_store.h"
#include "error.h"
#include "h5store.h"
#include "stage_key.h"
#include "test_util.h"
#include "world.h"

enum { S = 5, MAX_N = 7 };

static const char *all_paths[MAX_N] = {"/d/c/test/crack/0.png", "/d/c/test/crack/1.png",
                                       "/d/c/test/good/0.png",  "/d/c/test/good/1.png",
                                       "/d/c/test/good/2.png",  "/d/c/test/hole/0.png",
                                       "/d/c/test/hole/1.png"};
static const char *all_types[MAX_N] = {"crack", "crack", "good", "good", "good", "hole", "hole"};

typedef struct {
  float maps[MAX_N * S * S];
  uint8_t masks[MAX_N * S * S], labels[MAX_N];
  double scores[MAX_N], rscin[MAX_N];
  config cfg;
} full_data;

static void make_data(full_data *d) {
  config_set *cs = malloc(sizeof *cs);
  config_defaults(cs);
  d->cfg = cs->base;
  d->cfg.seed = 99;
  free(cs);
  for (int i = 0; i < MAX_N; i++) {
    for (int k = 0; k < S * S; k++) {
      d->maps[i * S * S + k] = (float)(i * 100 + k) / 8.0f;
      d->masks[i * S * S + k] = (uint8_t)((i * 7 + k) % 5 == 0);
    }
    d->labels[i] = strcmp(all_types[i], "good") != 0;
    d->scores[i] = 1.0 / (i + 1);
    d->rscin[i] = 0.5 + 0.01 * i;
  }
}

/* This rank's record for rows [first, first + n_own) of the first n images. */
static maps_record record_of(const full_data *d, int n, int first, int n_own) {
  return (maps_record){.n = n,
                       .size = S,
                       .maps = d->maps + (size_t)first * S * S,
                       .first = first,
                       .n_own = n_own,
                       .scores = d->scores,
                       .scores_rscin = d->rscin,
                       .labels = d->labels,
                       .paths = all_paths,
                       .types = all_types,
                       .masks = d->masks + (size_t)first * S * S,
                       .cfg = &d->cfg,
                       .stage_key = "0123456789abcdef",
                       .backbone = "test backbone",
                       .category = "c"};
}

/* Reads a dataset of n rows whole. */
static int read_all(h5s_file *f, const char *name, h5s_type t, void *buf, int n) {
  uint64_t dims[3] = {0}, zero[3] = {0};
  int rank = h5s_dataset_dims(f, name, dims, 3);
  if (rank < 1 || dims[0] != (uint64_t)n)
    return -1;
  return h5s_read_slab(f, name, t, zero, dims, buf);
}

/* Every dataset and root attribute of two files is the same. */
static void compare_files(const char *a_path, const char *b_path, int n) {
  h5s_file a, b;
  CHECK(h5s_open(&a, a_path, MPI_COMM_SELF) == 0, "%s", ancd_error());
  CHECK(h5s_open(&b, b_path, MPI_COMM_SELF) == 0, "%s", ancd_error());
  if (a.file < 0 || b.file < 0)
    return;
  static const struct {
    const char *name;
    h5s_type type;
    size_t row_bytes;
  } sets[] = {{"maps", H5S_F32, S * S * 4},
              {"masks", H5S_U8, S * S},
              {"scores", H5S_F64, 8},
              {"scores_rscin", H5S_F64, 8},
              {"labels", H5S_U8, 1}};
  for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
    size_t bytes = sets[k].row_bytes * (size_t)n;
    char *x = calloc(1, bytes), *y = calloc(1, bytes);
    CHECK(read_all(&a, sets[k].name, sets[k].type, x, n) == 0, "%s: %s", sets[k].name,
          ancd_error());
    CHECK(read_all(&b, sets[k].name, sets[k].type, y, n) == 0, "%s: %s", sets[k].name,
          ancd_error());
    CHECK(!memcmp(x, y, bytes), "%s differs between 1 rank and the split", sets[k].name);
    free(x);
    free(y);
  }
  const char *strs[] = {"paths", "types"};
  for (int k = 0; k < 2; k++) {
    char **x = NULL, **y = NULL;
    int nx = 0, ny = 0;
    CHECK(h5s_read_strings(&a, strs[k], &x, &nx) == 0 &&
              h5s_read_strings(&b, strs[k], &y, &ny) == 0,
          "%s", ancd_error());
    CHECK(nx == n && ny == n, "%s: %d and %d strings", strs[k], nx, ny);
    for (int i = 0; i < nx && i < ny; i++)
      CHECK(!strcmp(x[i], y[i]), "%s %d: %s vs %s", strs[k], i, x[i], y[i]);
    h5s_free_strings(x, nx);
    h5s_free_strings(y, ny);
  }
  const char *str_attrs[] = {"config",   "stage_key", "ancd_version",
                             "backbone", "method",    "category"};
  for (int k = 0; k < 6; k++) {
    static char x[65536], y[65536];
    CHECK(h5s_attr_get_str(&a, "/", str_attrs[k], x, sizeof x) == 0 &&
              h5s_attr_get_str(&b, "/", str_attrs[k], y, sizeof y) == 0,
          "%s", ancd_error());
    CHECK(!strcmp(x, y), "attribute %s differs", str_attrs[k]);
  }
  const char *int_attrs[] = {"image_size", "map_size", "n_images", "complete"};
  for (int k = 0; k < 4; k++) {
    int64_t x = -1, y = -2;
    CHECK(h5s_attr_get_i64(&a, "/", int_attrs[k], &x) == 0 &&
              h5s_attr_get_i64(&b, "/", int_attrs[k], &y) == 0 && x == y,
          "attribute %s: %lld vs %lld", int_attrs[k], (long long)x, (long long)y);
  }
  int64_t n_images = 0;
  h5s_attr_get_i64(&b, "/", "n_images", &n_images);
  CHECK(n_images == n, "n_images %lld, want %d", (long long)n_images, n);
  h5s_close(&a);
  h5s_close(&b);
}

/* One rank writes everything, then all ranks write their blocks; rank 0 compares. */
static void split_matches_single(const char *root, const full_data *d, int n, int rank, int size) {
  char one[4200], split[4200];
  snprintf(one, sizeof one, "%s/n%d_one", root, n);
  snprintf(split, sizeof split, "%s/n%d_split", root, n);
  if (rank == 0) {
    maps_record r = record_of(d, n, 0, n);
    CHECK(maps_h5_write(one, &r, MPI_COMM_SELF) == 0, "%s", ancd_error());
  }
  long begin, end;
  partition_range(n, size, rank, &begin, &end);
  maps_record r = record_of(d, n, (int)begin, (int)(end - begin));
  CHECK(maps_h5_write(split, &r, MPI_COMM_WORLD) == 0, "rank %d: %s", rank, ancd_error());
  CHECK(stage_file_check(split, MAPS_FILE, NULL) == 0, "rank %d: split file not valid: %s", rank,
        ancd_error());
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/maps.h5", one);
    snprintf(b, sizeof b, "%s/maps.h5", split);
    compare_files(a, b, n);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char dir[4096] = "";
  if (rank == 0) {
    char name[64];
    snprintf(name, sizeof name, "mpi_detect_store_np%d", size);
    snprintf(dir, sizeof dir, "%s", test_tmpdir(name));
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  full_data *d = calloc(1, sizeof *d);
  make_data(d);

  split_matches_single(dir, d, MAX_N, rank, size); /* 7 rows: blocks of unequal size */
  split_matches_single(dir, d, 2, rank, size);     /* with 3 ranks one holds no row */

  /* Overlapping blocks: every rank claims rows from 0. */
  char bad[4200];
  snprintf(bad, sizeof bad, "%s/overlap", dir);
  maps_record r = record_of(d, size, 0, 1);
  CHECK(maps_h5_write(bad, &r, MPI_COMM_WORLD) < 0, "rank %d: overlap accepted", rank);
  CHECK(strstr(ancd_error(), "both hold rows"), "rank %d: %s", rank, ancd_error());

  /* A NaN in the last rank's rows fails every rank, naming the image. */
  long begin, end;
  partition_range(MAX_N, size, rank, &begin, &end);
  if (rank == size - 1)
    d->maps[(MAX_N - 1) * S * S + 3] = NAN;
  r = record_of(d, MAX_N, (int)begin, (int)(end - begin));
  snprintf(bad, sizeof bad, "%s/nan", dir);
  CHECK(maps_h5_write(bad, &r, MPI_COMM_WORLD) < 0, "rank %d: NaN accepted", rank);
  CHECK(strstr(ancd_error(), "/d/c/test/hole/1.png") && strstr(ancd_error(), "NaN"), "rank %d: %s",
        rank, ancd_error());
  CHECK(stage_file_check(bad, MAPS_FILE, NULL) == H5S_MISSING, "rank %d: failed write left a file",
        rank);
  free(d);

  int failures = test_failures, total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  test_failures = total; /* rank 0 reports the failures of all ranks */
  int status = rank == 0 ? test_done("mpi_detect_store") : (total ? 1 : 0);
  MPI_Finalize();
  return status;
}
