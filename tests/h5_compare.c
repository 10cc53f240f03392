/* Test helper (not a test): compares datasets of two complete ancd HDF5 files.
 *   h5_compare A.h5 B.h5 TOL NAME [NAME ...]
 *   h5_compare --list A.h5 GROUP      (prints GROUP/<member> for every member of GROUP)
 * For each NAME prints "NAME: max abs diff X over N values" (read as float64); exits 0 when every
 * dataset has the same shape in both files and differs by at most TOL, 1 otherwise, 2 on usage.
 * tests/detect_ranks.sh uses it because h5dump (hdf5-tools) is not a dependency. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5store.h"

/* Reads a whole dataset converted to float64 (h5s_read_slab insists on the stored type). */
static long read_all(double **out, h5s_file *f, const char *name, uint64_t *dims, int *rank) {
  *rank = h5s_dataset_dims(f, name, dims, 4);
  if (*rank < 0)
    return -1;
  long n = 1;
  for (int i = 0; i < *rank; i++)
    n *= (long)dims[i];
  *out = xmalloc(((size_t)n + 1) * sizeof **out);
  hid_t d = H5Dopen2(f->file, name, H5P_DEFAULT);
  herr_t st = d < 0 ? -1 : H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out);
  if (d >= 0)
    H5Dclose(d);
  if (st < 0) {
    free(*out);
    ancd_errorf("cannot read the dataset as float64");
    return -1;
  }
  return n;
}

static int compare(h5s_file *a, h5s_file *b, const char *name, double tol) {
  double *x = NULL, *y = NULL;
  uint64_t da[4], db[4];
  int ra, rb;
  long na = read_all(&x, a, name, da, &ra);
  if (na < 0) {
    fprintf(stderr, "%s: %s: %s\n", a->path, name, ancd_error());
    return 1;
  }
  long nb = read_all(&y, b, name, db, &rb);
  if (nb < 0) {
    fprintf(stderr, "%s: %s: %s\n", b->path, name, ancd_error());
    free(x);
    return 1;
  }
  int same_shape = ra == rb;
  for (int i = 0; same_shape && i < ra; i++)
    same_shape = da[i] == db[i];
  int bad = 0;
  if (!same_shape) {
    fprintf(stderr, "%s: shapes differ (%ld vs %ld values)\n", name, na, nb);
    bad = 1;
  } else {
    double worst = 0;
    for (long i = 0; i < na; i++) {
      double d = fabs(x[i] - y[i]);
      if (!(d <= worst)) /* NaN on either side counts as the worst */
        worst = isnan(d) ? INFINITY : d;
    }
    printf("%s: max abs diff %.3g over %ld values\n", name, worst, na);
    bad = !(worst <= tol);
  }
  free(x);
  free(y);
  return bad;
}

static herr_t print_member(hid_t group, const char *name, const H5L_info_t *info, void *prefix) {
  (void)group, (void)info;
  printf("%s/%s\n", (const char *)prefix, name);
  return 0;
}

static int list_group(const char *path, const char *group) {
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) != 0) {
    fprintf(stderr, "%s\n", ancd_error());
    return 1;
  }
  hid_t g = H5Gopen2(f.file, group, H5P_DEFAULT);
  int rc =
      g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, print_member, (void *)group) < 0;
  if (g >= 0)
    H5Gclose(g);
  h5s_close(&f);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--list")) {
    MPI_Init(&argc, &argv);
    int rc = list_group(argv[2], argv[3]);
    MPI_Finalize();
    return rc;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: h5_compare A.h5 B.h5 TOL NAME [NAME ...]\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  double tol = atof(argv[3]);
  h5s_file a, b;
  int rc = 0;
  if (h5s_open(&a, argv[1], MPI_COMM_SELF) != 0) {
    fprintf(stderr, "%s\n", ancd_error());
    rc = 1;
  } else {
    if (h5s_open(&b, argv[2], MPI_COMM_SELF) != 0) {
      fprintf(stderr, "%s\n", ancd_error());
      rc = 1;
    } else {
      for (int i = 4; i < argc; i++)
        rc |= compare(&a, &b, argv[i], tol);
      h5s_close(&b);
    }
    h5s_close(&a);
  }
  MPI_Finalize();
  return rc;
}
