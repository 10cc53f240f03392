/* HDF5 store under MPI (run with 2 and 3 ranks): every rank writes its disjoint block of rows of
 * one shared file collectively, the file is published, and every rank reads it back exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "h5store.h"
#include "test_util.h"
#include "world.h"

#define N 10 /* rows: divisible by neither 2 nor 3 */
#define H 5
#define W 7

/* Exact in f32 and distinct for every (row, y, x). */
static float map_value(long row, int y, int x) { return (float)(row * 100 + y * 10 + x) + 0.5f; }
static int32_t label_value(long row) { return (int32_t)(row * 1000 - 3); }

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static void write_file(const char *path, int rank, int size) {
  h5s_file f;
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0, "rank %d: %s", rank, ancd_error());
  long begin, end;
  partition_range(N, size, rank, &begin, &end);
  long rows = end - begin;
  float *maps = malloc((size_t)(rows ? rows : 1) * H * W * sizeof *maps);
  int32_t labels[N];
  for (long r = begin; r < end; r++) {
    labels[r - begin] = label_value(r);
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        maps[((r - begin) * H + y) * W + x] = map_value(r, y, x);
  }
  const uint64_t dims[3] = {N, H, W}, chunk[3] = {3, H, W}; /* chunks straddle rank blocks */
  const uint64_t start[3] = {(uint64_t)begin, 0, 0}, count[3] = {(uint64_t)rows, H, W};
  const uint64_t ldims[1] = {N};
  CHECK(h5s_dataset_create(&f, "maps", H5S_F32, 3, dims, NULL) == 0, "%s", ancd_error());
  CHECK(h5s_dataset_create(&f, "maps_chunked", H5S_F32, 3, dims, chunk) == 0, "%s", ancd_error());
  CHECK(h5s_dataset_create(&f, "labels", H5S_I32, 1, ldims, NULL) == 0, "%s", ancd_error());
  CHECK(h5s_write_slab(&f, "maps", H5S_F32, start, count, maps) == 0, "%s", ancd_error());
  CHECK(h5s_write_slab(&f, "maps_chunked", H5S_F32, start, count, maps) == 0, "%s", ancd_error());
  CHECK(h5s_write_slab(&f, "labels", H5S_I32, start, count, labels) == 0, "%s", ancd_error());

  /* Two items over 2 or 3 ranks: with 3 ranks, rank 2 selects nothing and passes no buffer. */
  const uint64_t tdims[1] = {2};
  long tb, te;
  partition_range(2, size, rank, &tb, &te);
  const uint64_t ts[1] = {(uint64_t)tb}, tc[1] = {(uint64_t)(te - tb)};
  uint8_t tiny[2] = {(uint8_t)(200 + tb), (uint8_t)(201 + tb)};
  CHECK(h5s_dataset_create(&f, "tiny", H5S_U8, 1, tdims, NULL) == 0, "%s", ancd_error());
  CHECK(h5s_write_slab(&f, "tiny", H5S_U8, ts, tc, te > tb ? tiny : NULL) == 0, "%s", ancd_error());

  /* One rank's bad slab fails the call on every rank (no rank left waiting in HDF5). */
  const uint64_t bad[3] = {rank == size - 1 ? N : 0, 0, 0};
  CHECK(h5s_write_slab(&f, "maps", H5S_F32, bad, count, maps) < 0, "bad slab accepted");
  CHECK(contains(ancd_error(), "maps") && contains(ancd_error(), "exceeds"), "rank %d: %s", rank,
        ancd_error());

  const char *names[] = {"good", "scratch", rank == 0 ? "hole" : "ignored on other ranks"};
  CHECK(h5s_write_strings(&f, "types", names, 3) == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_str(&f, "/", "config", "seed: 7\n") == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_i64(&f, "/", "ranks", size) == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_f64(&f, "maps", "threshold", 0.125) == 0, "%s", ancd_error());
  free(maps);

  struct stat st;
  CHECK(stat(f.tmp_path, &st) == 0 && stat(path, &st) != 0, "before publish: only the .tmp");
  CHECK(h5s_publish(&f) == 0, "rank %d: %s", rank, ancd_error());
  CHECK(stat(f.tmp_path, &st) != 0 && stat(path, &st) == 0, "after publish: only the final");
}

static void read_file(const char *path, int rank, int size) {
  h5s_file f;
  CHECK(h5s_open(&f, path, MPI_COMM_WORLD) == 0, "rank %d: %s", rank, ancd_error());
  if (f.file < 0)
    return;
  const uint64_t zero[3] = {0, 0, 0}, dims[3] = {N, H, W};
  float *maps = malloc(N * H * W * sizeof *maps);
  const char *which[] = {"maps", "maps_chunked"};
  for (int d = 0; d < 2; d++) {
    memset(maps, 0, N * H * W * sizeof *maps);
    CHECK(h5s_read_slab(&f, which[d], H5S_F32, zero, dims, maps) == 0, "%s", ancd_error());
    int wrong = 0;
    for (long r = 0; r < N; r++)
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          wrong += maps[(r * H + y) * W + x] != map_value(r, y, x);
    CHECK(wrong == 0, "rank %d: %s: %d values differ", rank, which[d], wrong);
  }
  /* Different selections per rank in one collective read: the next rank's block. */
  long begin, end;
  partition_range(N, size, (rank + 1) % size, &begin, &end);
  const uint64_t start[3] = {(uint64_t)begin, 0, 0}, count[3] = {(uint64_t)(end - begin), H, W};
  CHECK(h5s_read_slab(&f, "maps_chunked", H5S_F32, start, count, maps) == 0, "%s", ancd_error());
  CHECK(maps[0] == map_value(begin, 0, 0), "rank %d: block of row %ld", rank, begin);
  free(maps);

  int32_t labels[N] = {0};
  const uint64_t ldims[1] = {N};
  CHECK(h5s_read_slab(&f, "labels", H5S_I32, zero, ldims, labels) == 0, "%s", ancd_error());
  for (long r = 0; r < N; r++)
    CHECK(labels[r] == label_value(r), "rank %d: labels[%ld] = %d", rank, r, labels[r]);
  uint8_t tiny[2] = {0};
  const uint64_t tdims[1] = {2};
  CHECK(h5s_read_slab(&f, "tiny", H5S_U8, zero, tdims, tiny) == 0, "%s", ancd_error());
  CHECK(tiny[0] == 200 && tiny[1] == 201, "rank %d: tiny = %d %d", rank, tiny[0], tiny[1]);
  const uint64_t nothing[1] = {0};
  CHECK(h5s_read_slab(&f, "tiny", H5S_U8, zero, rank == 0 ? tdims : nothing, tiny) == 0, "%s",
        ancd_error());

  char **s = NULL;
  int n = 0;
  CHECK(h5s_read_strings(&f, "types", &s, &n) == 0 && n == 3, "%s", ancd_error());
  if (n == 3)
    CHECK(!strcmp(s[0], "good") && !strcmp(s[1], "scratch") && !strcmp(s[2], "hole"),
          "rank %d: types %s %s %s", rank, s[0], s[1], s[2]);
  h5s_free_strings(s, n);

  if (rank == 0) {
    char text[64] = "";
    int64_t i64 = 0;
    double f64 = 0;
    CHECK(h5s_attr_get_str(&f, "/", "config", text, sizeof text) == 0 && !strcmp(text, "seed: 7\n"),
          "config '%s'", text);
    CHECK(h5s_attr_get_i64(&f, "/", "ranks", &i64) == 0 && i64 == size, "ranks %lld",
          (long long)i64);
    CHECK(h5s_attr_get_i64(&f, "/", "complete", &i64) == 0 && i64 == 1, "complete");
    CHECK(h5s_attr_get_str(&f, "/", "format", text, sizeof text) == 0 && !strcmp(text, "ancd"),
          "format '%s'", text);
    CHECK(h5s_attr_get_f64(&f, "maps", "threshold", &f64) == 0 && f64 == 0.125, "threshold");
    uint64_t d[4];
    CHECK(h5s_dataset_dims(&f, "maps", d, 4) == 3 && d[0] == N && d[1] == H && d[2] == W, "dims");
  }
  h5s_close(&f);
  CHECK(h5s_is_complete(path) == 1, "rank %d: not complete", rank);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char dir[4096] = "";
  if (rank == 0) {
    char name[64];
    snprintf(name, sizeof name, "mpi_h5_np%d", size);
    snprintf(dir, sizeof dir, "%s", test_tmpdir(name));
  }
  if (MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    MPI_Abort(MPI_COMM_WORLD, 2);
  char path[4200];
  snprintf(path, sizeof path, "%s/shared.h5", dir);

  write_file(path, rank, size);
  read_file(path, rank, size);

  /* A file some rank cannot open fails on every rank with the same message. */
  char missing[4300];
  snprintf(missing, sizeof missing, "%s/missing.h5", dir);
  h5s_file f;
  CHECK(h5s_open(&f, missing, MPI_COMM_WORLD) < 0 && contains(ancd_error(), missing), "%s",
        ancd_error());

  int failures = test_failures, total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  test_failures = total;
  int status = rank == 0 ? test_done("mpi_h5") : (total ? 1 : 0);
  MPI_Finalize();
  return status;
}
