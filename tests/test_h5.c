/* HDF5 store on one rank: typed round trips, hyperslabs, strings, attributes, atomic publish and
 * rejection of incomplete, truncated and foreign files (DESIGN.md "Files"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5store.h"
#include "test_util.h"

#include "error.h"

static const size_t elem_size[] = {
    [H5S_F32] = 4, [H5S_F64] = 8, [H5S_U8] = 1, [H5S_I32] = 4, [H5S_I64] = 8};
static const char *type_name[] = {"f32", "f64", "u8", "i32", "i64"};

/* Values that use each type's range: fractions, > 2^24 mantissas, negatives, > 2^32. */
static void fill(void *buf, h5s_type t, size_t n, int seed) {
  for (size_t i = 0; i < n; i++) {
    long v = (long)i * 7 + seed;
    switch (t) {
    case H5S_F32:
      ((float *)buf)[i] = (float)v * 0.25f - 3.5f;
      break;
    case H5S_F64:
      ((double *)buf)[i] = 1e10 + (double)v * 1e-3;
      break;
    case H5S_U8:
      ((uint8_t *)buf)[i] = (uint8_t)(v % 256);
      break;
    case H5S_I32:
      ((int32_t *)buf)[i] = (int32_t)(v * 100003 - 2000000000L);
      break;
    case H5S_I64:
      ((int64_t *)buf)[i] = (int64_t)v * 1000000000007LL - 5;
      break;
    }
  }
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static void copy_prefix(const char *dst, const char *src, double fraction) {
  FILE *in = fopen(src, "rb");
  CHECK(in != NULL, "open %s", src);
  if (!in)
    return;
  fseek(in, 0, SEEK_END);
  long n = ftell(in);
  fseek(in, 0, SEEK_SET);
  size_t keep = (size_t)((double)n * fraction);
  char *buf = malloc(n);
  CHECK(fread(buf, 1, n, in) == (size_t)n, "read %s", src);
  fclose(in);
  CHECK(test_write_file(dst, buf, keep) == 0, "write %s", dst);
  free(buf);
}

/* Every type, 2-D contiguous and 3-D chunked (chunks that do not divide the shape). */
static void test_round_trip(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/types.h5", dir);
  h5s_file f;
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  const uint64_t d2[2] = {5, 7}, d3[3] = {4, 5, 6}, c3[3] = {3, 5, 4}, zero[3] = {0, 0, 0};
  void *in2[5], *in3[5];
  for (int t = 0; t < 5; t++) {
    char name[64];
    in2[t] = malloc(35 * elem_size[t]);
    in3[t] = malloc(120 * elem_size[t]);
    fill(in2[t], t, 35, t);
    fill(in3[t], t, 120, 100 + t);
    snprintf(name, sizeof name, "/plain_%s", type_name[t]);
    CHECK(h5s_dataset_create(&f, name, t, 2, d2, NULL) == 0, "%s", ancd_error());
    CHECK(h5s_write_slab(&f, name, t, zero, d2, in2[t]) == 0, "%s", ancd_error());
    snprintf(name, sizeof name, "chunked_%s", type_name[t]);
    CHECK(h5s_dataset_create(&f, name, t, 3, d3, c3) == 0, "%s", ancd_error());
    CHECK(h5s_write_slab(&f, name, t, zero, d3, in3[t]) == 0, "%s", ancd_error());
  }
  CHECK(h5s_publish(&f) == 0, "%s", ancd_error());

  CHECK(h5s_open(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  for (int t = 0; t < 5; t++) {
    char name[64];
    void *out = calloc(120, elem_size[t]);
    uint64_t dims[4] = {0};
    snprintf(name, sizeof name, "plain_%s", type_name[t]);
    CHECK(h5s_dataset_dims(&f, name, dims, 4) == 2, "%s", ancd_error());
    CHECK(dims[0] == 5 && dims[1] == 7, "%s dims %llu %llu", name, (unsigned long long)dims[0],
          (unsigned long long)dims[1]);
    CHECK(h5s_read_slab(&f, name, t, zero, d2, out) == 0, "%s", ancd_error());
    CHECK(memcmp(out, in2[t], 35 * elem_size[t]) == 0, "%s differs", name);
    snprintf(name, sizeof name, "/chunked_%s", type_name[t]);
    CHECK(h5s_dataset_dims(&f, name, dims, 4) == 3, "%s", ancd_error());
    CHECK(dims[0] == 4 && dims[1] == 5 && dims[2] == 6, "%s dims", name);
    CHECK(h5s_read_slab(&f, name, t, zero, d3, out) == 0, "%s", ancd_error());
    CHECK(memcmp(out, in3[t], 120 * elem_size[t]) == 0, "%s differs", name);
    free(out);
    free(in2[t]);
    free(in3[t]);
  }
  /* Reading with another type is refused, not converted. */
  float wrong[35];
  CHECK(h5s_read_slab(&f, "plain_f64", H5S_F32, zero, d2, wrong) < 0, "f64 read as f32");
  CHECK(contains(ancd_error(), "plain_f64") && contains(ancd_error(), "is f64, not f32"), "%s",
        ancd_error());
  CHECK(h5s_read_slab(&f, "plain_i32", H5S_U8, zero, d2, wrong) < 0, "i32 read as u8");
  CHECK(contains(ancd_error(), "is i32, not u8"), "%s", ancd_error());
  uint64_t dims[1];
  CHECK(h5s_dataset_dims(&f, "chunked_f32", dims, 1) < 0, "rank 3 into max_rank 1");
  CHECK(h5s_dataset_dims(&f, "nothing", dims, 1) < 0, "missing dataset");
  CHECK(contains(ancd_error(), path) && contains(ancd_error(), "nothing") &&
            contains(ancd_error(), "H5Dopen2"),
        "%s", ancd_error());
  h5s_close(&f);
}

/* Writes in several slabs, an empty slab, reads a window; bounds and read-only are errors. */
static void test_slabs(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/slabs.h5", dir);
  h5s_file f;
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  const uint64_t dims[2] = {6, 4};
  int32_t all[24];
  for (int i = 0; i < 24; i++)
    all[i] = 1000 * (i / 4) + i % 4;
  CHECK(h5s_dataset_create(&f, "grid", H5S_I32, 2, dims, NULL) == 0, "%s", ancd_error());
  const uint64_t s0[2] = {0, 0}, n0[2] = {3, 4}, s1[2] = {3, 0}, n1[2] = {3, 4};
  const uint64_t none[2] = {0, 4};
  CHECK(h5s_write_slab(&f, "grid", H5S_I32, s1, n1, all + 12) == 0, "%s", ancd_error());
  CHECK(h5s_write_slab(&f, "grid", H5S_I32, s0, none, NULL) == 0, "empty: %s", ancd_error());
  CHECK(h5s_write_slab(&f, "grid", H5S_I32, s0, n0, all) == 0, "%s", ancd_error());
  const uint64_t past[2] = {4, 0};
  CHECK(h5s_write_slab(&f, "grid", H5S_I32, past, n0, all) < 0, "slab past the end");
  CHECK(contains(ancd_error(), "grid") && contains(ancd_error(), "exceeds"), "%s", ancd_error());
  CHECK(h5s_dataset_create(&f, "grid", H5S_I32, 2, dims, NULL) < 0, "dataset created twice");
  CHECK(contains(ancd_error(), ".tmp") && contains(ancd_error(), "grid") &&
            contains(ancd_error(), "H5Dcreate2 failed (HDF5: "),
        "%s", ancd_error());
  const uint64_t nested[1] = {3};
  CHECK(h5s_dataset_create(&f, "model/layer1/w", H5S_F32, 1, nested, nested) == 0, "%s",
        ancd_error());
  const uint64_t empty_dims[2] = {0, 3}, chunk[2] = {8, 8};
  CHECK(h5s_dataset_create(&f, "empty", H5S_U8, 2, empty_dims, chunk) == 0, "%s", ancd_error());
  CHECK(h5s_exists(&f, "model/layer1/w") == 1 && h5s_exists(&f, "model") == 1 &&
            h5s_exists(&f, "model/layer2/w") == 0 && h5s_exists(&f, "grid") == 1 &&
            h5s_exists(&f, "nope/x") == 0,
        "h5s_exists");
  CHECK(h5s_publish(&f) == 0, "%s", ancd_error());

  CHECK(h5s_open(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  int32_t window[6] = {0};
  const uint64_t ws[2] = {2, 1}, wn[2] = {3, 2};
  CHECK(h5s_read_slab(&f, "grid", H5S_I32, ws, wn, window) == 0, "%s", ancd_error());
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 2; c++)
      CHECK(window[r * 2 + c] == 1000 * (2 + r) + 1 + c, "window[%d][%d] = %d", r, c,
            window[r * 2 + c]);
  int32_t back[24];
  CHECK(h5s_read_slab(&f, "grid", H5S_I32, s0, dims, back) == 0, "%s", ancd_error());
  CHECK(memcmp(back, all, sizeof all) == 0, "grid differs");
  uint64_t d[2] = {9, 9};
  CHECK(h5s_dataset_dims(&f, "empty", d, 2) == 2 && d[0] == 0 && d[1] == 3, "empty dims");
  CHECK(h5s_write_slab(&f, "grid", H5S_I32, s0, n0, all) < 0, "write to a read-only file");
  CHECK(contains(ancd_error(), "read-only"), "%s", ancd_error());
  h5s_close(&f);
  h5s_close(&f); /* closing twice is harmless */
}

static void test_strings_and_attrs(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/meta.h5", dir);
  h5s_file f;
  const char *paths[] = {"a/good/000.png", "a/scratch/a_much_longer_name_017.png", "",
                         "\xc3\xbcnicode.png"};
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(h5s_write_strings(&f, "paths", paths, 4) == 0, "%s", ancd_error());
  CHECK(h5s_write_strings(&f, "none", NULL, 0) == 0, "%s", ancd_error());
  const uint64_t dims[1] = {3};
  CHECK(h5s_dataset_create(&f, "scores", H5S_F32, 1, dims, NULL) == 0, "%s", ancd_error());
  char *big = malloc(100001);
  for (int i = 0; i < 100000; i++)
    big[i] = (char)('a' + i % 26);
  big[100000] = '\0';
  CHECK(h5s_attr_set_str(&f, "/", "config", "first") == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_str(&f, "/", "config", "dataset:\n  layout: mvtec\n") == 0, "replace: %s",
        ancd_error());
  CHECK(h5s_attr_set_str(&f, "/", "big", big) == 0, "100 kB attribute: %s", ancd_error());
  CHECK(h5s_attr_set_str(&f, "/", "empty", "") == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_i64(&f, "/", "seed", -9000000000123LL) == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_f64(&f, "scores", "threshold", 3.141592653589793) == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_str(&f, "scores", "units", "anomaly score") == 0, "%s", ancd_error());
  CHECK(h5s_attr_set_i64(&f, "missing", "x", 1) < 0, "attribute on a missing dataset");
  CHECK(contains(ancd_error(), "missing attribute x"), "%s", ancd_error());
  CHECK(h5s_publish(&f) == 0, "%s", ancd_error());

  CHECK(h5s_open(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  char **s = NULL;
  int n = -1;
  CHECK(h5s_read_strings(&f, "paths", &s, &n) == 0, "%s", ancd_error());
  CHECK(n == 4, "n = %d", n);
  for (int i = 0; i < n && i < 4; i++)
    CHECK(strcmp(s[i], paths[i]) == 0, "string %d: '%s' != '%s'", i, s[i], paths[i]);
  h5s_free_strings(s, n);
  CHECK(h5s_read_strings(&f, "none", &s, &n) == 0 && n == 0, "empty string list");
  h5s_free_strings(s, n);
  CHECK(h5s_read_strings(&f, "scores", &s, &n) < 0 && s == NULL, "floats read as strings");
  CHECK(contains(ancd_error(), "not a 1-D fixed-length string"), "%s", ancd_error());

  char text[256];
  int64_t i64 = 0;
  double f64 = 0;
  CHECK(h5s_attr_get_str(&f, "/", "config", text, sizeof text) == 0, "%s", ancd_error());
  CHECK(strcmp(text, "dataset:\n  layout: mvtec\n") == 0, "config = '%s'", text);
  char *big_back = malloc(100001);
  CHECK(h5s_attr_get_str(&f, "/", "big", big_back, 100001) == 0, "%s", ancd_error());
  CHECK(strcmp(big_back, big) == 0, "100 kB attribute differs");
  CHECK(h5s_attr_get_str(&f, "/", "big", text, sizeof text) < 0, "too small buffer");
  CHECK(contains(ancd_error(), "does not fit"), "%s", ancd_error());
  free(big);
  free(big_back);
  CHECK(h5s_attr_get_str(&f, "/", "empty", text, sizeof text) == 0 && text[0] == '\0', "empty");
  CHECK(h5s_attr_get_str(&f, "/", "format", text, sizeof text) == 0 && !strcmp(text, "ancd"),
        "format = '%s'", text);
  CHECK(h5s_attr_get_i64(&f, "/", "format_version", &i64) == 0 && i64 == 1, "version %lld",
        (long long)i64);
  CHECK(h5s_attr_get_i64(&f, "/", "seed", &i64) == 0 && i64 == -9000000000123LL, "seed %lld",
        (long long)i64);
  CHECK(h5s_attr_get_f64(&f, "scores", "threshold", &f64) == 0 && f64 == 3.141592653589793,
        "threshold %.17g", f64);
  CHECK(h5s_attr_get_f64(&f, "/", "seed", &f64) == 0 && f64 == -9000000000123.0, "i64 as f64");
  CHECK(h5s_attr_get_str(&f, "scores", "units", text, sizeof text) == 0 &&
            !strcmp(text, "anomaly score"),
        "units = '%s'", text);
  CHECK(h5s_attr_get_i64(&f, "scores", "threshold", &i64) < 0, "f64 read as i64");
  CHECK(contains(ancd_error(), "not a number"), "%s", ancd_error());
  CHECK(h5s_attr_get_i64(&f, "/", "config", &i64) < 0, "string read as i64");
  CHECK(h5s_attr_get_str(&f, "/", "seed", text, sizeof text) < 0, "i64 read as string");
  CHECK(contains(ancd_error(), "not a string"), "%s", ancd_error());
  CHECK(h5s_attr_get_i64(&f, "/", "nope", &i64) < 0, "missing attribute");
  CHECK(contains(ancd_error(), path) && contains(ancd_error(), "nope: missing"), "%s",
        ancd_error());
  CHECK(h5s_attr_exists(&f, "/", "seed") == 1 && h5s_attr_exists(&f, "/", "nope") == 0 &&
            h5s_attr_exists(&f, "scores", "units") == 1 &&
            h5s_attr_exists(&f, "gone", "units") == 0,
        "h5s_attr_exists");
  h5s_close(&f);
}

/* Before publish only <path>.tmp exists; after it only <path>, with complete=1. */
static void test_publish(const char *dir) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/maps.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(test_write_file(tmp, "stale", 5) == 0, "write stale tmp");
  h5s_file f, r;
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0, "over a stale tmp: %s", ancd_error());
  const uint64_t dims[1] = {4};
  const double v1[4] = {1, 2, 3, 4}, v2[4] = {5, 6, 7, 8};
  const uint64_t zero[1] = {0};
  CHECK(h5s_dataset_create(&f, "v", H5S_F64, 1, dims, NULL) == 0, "%s", ancd_error());
  CHECK(h5s_write_slab(&f, "v", H5S_F64, zero, dims, v1) == 0, "%s", ancd_error());
  CHECK(exists(tmp) && !exists(path), "before publish: only the .tmp");
  CHECK(h5s_is_complete(path) == 0, "not complete before publish");
  CHECK(h5s_is_complete(tmp) == 0, "the .tmp is not complete");
  CHECK(h5s_open(&r, path, MPI_COMM_WORLD) < 0, "opened before publish");
  CHECK(contains(ancd_error(), path) && contains(ancd_error(), "No such file"), "%s", ancd_error());
  CHECK(h5s_publish(&f) == 0, "%s", ancd_error());
  CHECK(!exists(tmp) && exists(path), "after publish: only the final file");
  CHECK(h5s_is_complete(path) == 1, "complete after publish");
  h5s_close(&f); /* no-op after publish */

  /* Rewriting keeps the old file readable until the new one is published. */
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(h5s_dataset_create(&f, "v", H5S_F64, 1, dims, NULL) == 0, "%s", ancd_error());
  CHECK(h5s_write_slab(&f, "v", H5S_F64, zero, dims, v2) == 0, "%s", ancd_error());
  double back[4] = {0};
  CHECK(h5s_open(&r, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(h5s_read_slab(&r, "v", H5S_F64, zero, dims, back) == 0 && back[3] == 4, "old values");
  int64_t complete = 0;
  CHECK(h5s_attr_get_i64(&r, "/", "complete", &complete) == 0 && complete == 1, "complete");
  h5s_close(&r);
  CHECK(h5s_publish(&f) == 0, "%s", ancd_error());
  CHECK(h5s_open(&r, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(h5s_read_slab(&r, "v", H5S_F64, zero, dims, back) == 0 && back[3] == 8, "new values");
  h5s_close(&r);

  /* An aborted or merely closed writer leaves nothing behind. */
  char other[4096];
  snprintf(other, sizeof other, "%s/aborted.h5", dir);
  CHECK(h5s_create(&f, other, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(h5s_dataset_create(&f, "v", H5S_F64, 1, dims, NULL) == 0, "%s", ancd_error());
  h5s_abort(&f);
  snprintf(tmp, sizeof tmp, "%s.tmp", other);
  CHECK(!exists(other) && !exists(tmp), "abort leaves no file");
  CHECK(h5s_is_complete(other) == 0, "aborted is not complete");
  CHECK(h5s_create(&f, other, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  h5s_close(&f);
  CHECK(!exists(other) && !exists(tmp), "close without publish leaves no file");
  CHECK(h5s_open(&r, other, MPI_COMM_WORLD) < 0 && contains(ancd_error(), other), "%s",
        ancd_error());
}

static void check_rejected(const char *path, const char *reason) {
  h5s_file r;
  CHECK(h5s_open(&r, path, MPI_COMM_WORLD) < 0, "%s was accepted", path);
  CHECK(contains(ancd_error(), path) && contains(ancd_error(), reason), "%s", ancd_error());
  CHECK(h5s_is_complete(path) == 0, "%s counted complete", path);
  CHECK(h5s_verify(path) == -1 && contains(ancd_error(), reason), "%s: %s", path, ancd_error());
  CHECK(r.file < 0, "%s left open", path);
}

/* A file written without the store (raw HDF5) with or without complete / a newer format. */
static void write_raw(const char *path, int64_t complete, int64_t version) {
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  CHECK(file >= 0, "raw create %s", path);
  hid_t space = H5Screate(H5S_SCALAR);
  if (complete >= 0) {
    hid_t a = H5Acreate2(file, "complete", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &complete) >= 0, "raw complete");
    H5Aclose(a);
  }
  if (version >= 0) {
    hid_t a = H5Acreate2(file, "format_version", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &version) >= 0, "raw version");
    H5Aclose(a);
  }
  /* What other tools write: a variable-length UTF-8 attribute (h5py's default) and ASCII
   * null-terminated fixed-length strings. */
  hid_t vlen = H5Tcopy(H5T_C_S1), ascii = H5Tcopy(H5T_C_S1);
  H5Tset_size(vlen, H5T_VARIABLE);
  H5Tset_cset(vlen, H5T_CSET_UTF8);
  H5Tset_size(ascii, 8);
  H5Tset_strpad(ascii, H5T_STR_NULLTERM);
  const char *note = "h\xc3\xa9llo";
  hid_t a = H5Acreate2(file, "note", vlen, space, H5P_DEFAULT, H5P_DEFAULT);
  CHECK(a >= 0 && H5Awrite(a, vlen, &note) >= 0, "raw note");
  H5Aclose(a);
  const hsize_t n[1] = {2};
  const char names[2][8] = {"good", "crack12"};
  hid_t list = H5Screate_simple(1, n, NULL);
  hid_t d = H5Dcreate2(file, "names", ascii, list, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  CHECK(d >= 0 && H5Dwrite(d, ascii, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0, "raw names");
  H5Dclose(d);
  H5Sclose(list);
  H5Tclose(vlen);
  H5Tclose(ascii);
  H5Sclose(space);
  CHECK(H5Fclose(file) >= 0, "raw close");
}

/* h5s_verify, the readers' test: missing, valid, and a file whose header, attributes and
 * complete=1 are intact but whose data is damaged (garbage over one compressed chunk), which
 * h5s_open alone accepts. */
static void test_verify(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/verify.h5", dir);
  CHECK(h5s_verify(path) == H5S_MISSING, "%s: not missing", path);
  enum { N = 8192, CHUNK = 1024 };
  float *x = malloc(N * sizeof *x);
  for (int i = 0; i < N; i++)
    x[i] = (float)(i % 97) * 0.25f;
  h5s_file f;
  const uint64_t dims[1] = {N}, chunk[1] = {CHUNK}, start[1] = {0};
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0 &&
            h5s_dataset_create(&f, "grid/x", H5S_F32, 1, dims, chunk) == 0 &&
            h5s_write_slab(&f, "grid/x", H5S_F32, start, dims, x) == 0 && h5s_publish(&f) == 0,
        "%s", ancd_error());
  free(x);
  CHECK(h5s_verify(path) == 0, "valid file rejected: %s", ancd_error());
  /* Where chunk 3 lies in the file. */
  haddr_t addr = HADDR_UNDEF;
  hsize_t size = 0, offset[1] = {0};
  unsigned mask = 0;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_file_locking(fapl, 0, 1); /* as the store opens files */
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  hid_t d = file >= 0 ? H5Dopen2(file, "grid/x", H5P_DEFAULT) : -1;
  hid_t space = d >= 0 ? H5Dget_space(d) : -1;
  CHECK(space >= 0 && H5Dget_chunk_info(d, space, 3, offset, &mask, &addr, &size) >= 0,
        "chunk info of %s", path);
  if (space >= 0)
    H5Sclose(space);
  if (d >= 0)
    H5Dclose(d);
  if (file >= 0)
    H5Fclose(file);
  FILE *fp = fopen(path, "r+b");
  CHECK(fp && size > 0 && fseek(fp, (long)addr, SEEK_SET) == 0, "seek %s", path);
  for (hsize_t i = 0; fp && i < size; i++)
    fputc(0xA5 ^ (int)(i * 7), fp);
  if (fp)
    fclose(fp);
  h5s_file r;
  CHECK(h5s_open(&r, path, MPI_COMM_WORLD) == 0, "the damaged file no longer opens: %s",
        ancd_error());
  h5s_close(&r);
  CHECK(h5s_verify(path) == -1 && contains(ancd_error(), path) &&
            contains(ancd_error(), "grid/x does not read back whole"),
        "damaged data passed the readers' test: %s", ancd_error());
  CHECK(h5s_is_complete(path) == 0, "damaged data counted complete");
}

static void test_rejects(const char *dir) {
  char good[4096], path[4096];
  snprintf(good, sizeof good, "%s/types.h5", dir); /* from test_round_trip */
  CHECK(h5s_is_complete(good) == 1, "%s should be complete", good);
  snprintf(path, sizeof path, "%s/truncated.h5", dir);
  copy_prefix(path, good, 0.5);
  check_rejected(path, "not an HDF5 file or truncated");
  snprintf(path, sizeof path, "%s/stub.h5", dir);
  copy_prefix(path, good, 0.002); /* a few bytes: not even a superblock */
  check_rejected(path, "not an HDF5 file or truncated");
  snprintf(path, sizeof path, "%s/garbage.h5", dir);
  char noise[4096];
  for (int i = 0; i < 4096; i++)
    noise[i] = (char)(i * 131 + 7);
  CHECK(test_write_file(path, noise, sizeof noise) == 0, "write garbage");
  check_rejected(path, "not an HDF5 file or truncated");
  snprintf(path, sizeof path, "%s/empty.h5", dir);
  CHECK(test_write_file(path, "", 0) == 0, "write empty");
  check_rejected(path, "not an HDF5 file or truncated");
  snprintf(path, sizeof path, "%s/no_complete.h5", dir);
  write_raw(path, -1, -1);
  check_rejected(path, "incomplete (the job that wrote it did not finish; rerun to resume)");
  snprintf(path, sizeof path, "%s/complete0.h5", dir);
  write_raw(path, 0, -1);
  check_rejected(path, "incomplete");
  snprintf(path, sizeof path, "%s/newer.h5", dir);
  write_raw(path, 1, 2);
  h5s_file r;
  CHECK(h5s_open(&r, path, MPI_COMM_WORLD) < 0 && contains(ancd_error(), "newer"), "%s",
        ancd_error());
  snprintf(path, sizeof path, "%s/raw_ok.h5", dir);
  write_raw(path, 1, -1);
  CHECK(h5s_open(&r, path, MPI_COMM_WORLD) == 0, "complete=1 without format: %s", ancd_error());
  char text[16] = "";
  CHECK(h5s_attr_get_str(&r, "/", "note", text, sizeof text) == 0 && !strcmp(text, "h\xc3\xa9llo"),
        "vlen attribute '%s': %s", text, ancd_error());
  char **s = NULL;
  int n = 0;
  CHECK(h5s_read_strings(&r, "names", &s, &n) == 0 && n == 2, "ascii strings: %s", ancd_error());
  if (n == 2)
    CHECK(!strcmp(s[0], "good") && !strcmp(s[1], "crack12"), "'%s' '%s'", s[0], s[1]);
  h5s_free_strings(s, n);
  h5s_close(&r);
  CHECK(h5s_open(&r, dir, MPI_COMM_WORLD) < 0 && contains(ancd_error(), "not a regular file"), "%s",
        ancd_error());
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const char *dir = test_tmpdir("test_h5");
  test_round_trip(dir);
  test_slabs(dir);
  test_strings_and_attrs(dir);
  test_publish(dir);
  test_rejects(dir);
  test_verify(dir);
  /* Error paths included, every file, dataset, group, datatype and attribute was closed. */
  ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  CHECK(open_ids == 0, "%zd HDF5 identifiers still open", open_ids);
  int status = test_done("test_h5");
  MPI_Finalize();
  return status;
}
