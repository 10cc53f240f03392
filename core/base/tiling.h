/* The one rule for "the ranks' blocks tile [0, n)", wherever each rank writes or scores its own
 * rows (maps.h5, regions.h5, distributed MSM). No MPI here: the caller gathers the table, so
 * every rank checks the same table and fails with the same message. */
#ifndef ANCD_TILING_H
#define ANCD_TILING_H

/* table: p rows of stride ints, row k starting (first_k, count_k): rank k holds
 * [first_k, first_k + count_k). The rule: count_k >= 0, and each block starts where the one of
 * the rank before ends (first_0 = 0; a rank holding nothing too), and the counts add up to n.
 * what names one element in the message ("row", "image"), ctx prefixes it. Returns 0, or -1 with
 * ancd_error(): an overlap names both ranks, a gap the rank after it. */
int tiling_check(const char *ctx, const char *what, const int *table, int stride, int p, long n);

#endif
