/* tiling.h */
#include "tiling.h"

#include "error.h"

int tiling_check(const char *ctx, const char *what, const int *table, int stride, int p, long n) {
  long next = 0; /* blocks 0..k-1 tile [0, next) */
  for (int k = 0; k < p; k++) {
    const long first = table[(long)k * stride], count = table[(long)k * stride + 1];
    if (count < 0)
      return ancd_errorf("%s: rank %d holds %ld %ss", ctx, k, count, what);
    if (count > 0 && first >= 0 && first < next)
      for (int j = 0; j < k; j++) { /* the earlier block that holds first */
        const long fj = table[(long)j * stride], ej = fj + table[(long)j * stride + 1];
        if (fj <= first && first < ej)
          return ancd_errorf("%s: ranks %d and %d both hold %ss [%ld, %ld)", ctx, j, k, what, first,
                             first + count < ej ? first + count : ej);
      }
    if (first != next)
      return ancd_errorf("%s: rank %d holds %ld %ss from %s %ld, but the ranks before it hold "
                         "%ss [0, %ld)",
                         ctx, k, count, what, what, first, what, next);
    next += count;
  }
  if (next != n)
    return ancd_errorf("%s: the ranks hold %ld %ss in all but N = %ld", ctx, next, what, n);
  return 0;
}
