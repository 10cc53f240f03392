/* The ranks' blocks: partition_counts (mpi/partition.h) gives the v-collectives' counts and
 * displacements, tiling_check (core/base/tiling.h) is the one rule every writer checks. */
#include <string.h>

#include "error.h"
#include "partition.h"
#include "test_util.h"
#include "tiling.h"
#include "world.h"

static void test_counts(void) {
  enum { P = 3 };
  int counts[P], displs[P];
  /* unit 1 is partition_range itself. */
  for (long n = 0; n < 12; n++) {
    partition_counts(counts, displs, n, P, 1);
    for (int k = 0; k < P; k++) {
      long b, e;
      partition_range(n, P, k, &b, &e);
      CHECK(displs[k] == b && counts[k] == e - b, "n %ld rank %d: [%d, +%d), want [%ld, %ld)", n, k,
            displs[k], counts[k], b, e);
    }
  }
  /* Whole batches of 4: 10 items are batches [0,4) [4,8) [8,10) over 3 ranks. */
  partition_counts(counts, displs, 10, P, 4);
  CHECK(counts[0] == 4 && counts[1] == 4 && counts[2] == 2, "counts %d %d %d", counts[0], counts[1],
        counts[2]);
  CHECK(displs[0] == 0 && displs[1] == 4 && displs[2] == 8, "displs %d %d %d", displs[0], displs[1],
        displs[2]);
  /* 5 items in batches of 4: two batches, the last rank holds nothing and starts at the end. */
  partition_counts(counts, displs, 5, P, 4);
  CHECK(counts[0] == 4 && counts[1] == 1 && counts[2] == 0 && displs[2] == 5,
        "counts %d %d %d, last from %d", counts[0], counts[1], counts[2], displs[2]);
  /* Every split is a tiling. */
  for (long n = 0; n < 20; n++)
    for (long unit = 1; unit < 6; unit++) {
      int table[2 * P];
      partition_counts(counts, displs, n, P, unit);
      for (int k = 0; k < P; k++) {
        table[2 * k] = displs[k];
        table[2 * k + 1] = counts[k];
      }
      CHECK(tiling_check("split", "row", table, 2, P, n) == 0, "n %ld unit %ld: %s", n, unit,
            ancd_error());
    }
}

static void expect(const int *table, int stride, int p, long n, const char *want) {
  int rc = tiling_check("f.h5", "row", table, stride, p, n);
  if (!want)
    CHECK(rc == 0, "%s", ancd_error());
  else
    CHECK(rc == -1 && strstr(ancd_error(), want), "want '%s', got '%s' (rc %d)", want, ancd_error(),
          rc);
}

static void test_tiling(void) {
  const int ok[] = {0, 3, 3, 0, 3, 4}; /* an empty block starts where the one before ends */
  expect(ok, 2, 3, 7, NULL);
  /* Other columns after (first, count) are skipped by the stride. */
  const int wide[] = {0, 2, 99, 2, 5, 99};
  expect(wide, 3, 2, 7, NULL);
  expect(ok, 2, 3, 8, "f.h5: the ranks hold 7 rows in all but N = 8");
  const int overlap[] = {0, 1, 0, 1};
  expect(overlap, 2, 2, 2, "f.h5: ranks 0 and 1 both hold rows [0, 1)");
  const int inside[] = {0, 5, 2, 1, 6, 1};
  expect(inside, 2, 3, 7, "ranks 0 and 1 both hold rows [2, 3)");
  const int gap[] = {0, 2, 3, 4};
  expect(gap, 2, 2, 7, "rank 1 holds 4 rows from row 3, but the ranks before it hold rows [0, 2)");
  const int swapped[] = {3, 4, 0, 3}; /* rank order, not any order */
  expect(swapped, 2, 2, 7, "rank 0 holds 4 rows from row 3");
  const int empty_elsewhere[] = {0, 3, 9, 0, 3, 4};
  expect(empty_elsewhere, 2, 3, 7, "rank 1 holds 0 rows from row 9");
  const int negative[] = {0, -1};
  expect(negative, 2, 1, 0, "rank 0 holds -1 rows");
  expect(NULL, 2, 0, 0, NULL); /* no ranks, nothing to hold */
}

int main(void) {
  test_counts();
  test_tiling();
  return test_done("test_partition");
}
