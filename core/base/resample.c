/* Pillow's resampling taps (resample.h). */
#include "resample.h"

#include <math.h>

double resample_cubic(double x) {
  const double a = -0.5;
  x = fabs(x);
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

int resample_max_taps(int in_size, int out_size, double kernel_support) {
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  return (int)ceil(kernel_support * filterscale) * 2 + 1;
}

int resample_taps(double *w, int *first, int i, int in_size, int out_size, double (*kernel)(double),
                  double kernel_support) {
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale; /* stretch only when downscaling */
  double support = kernel_support * filterscale;
  double inv_filterscale = 1.0 / filterscale;
  double center = (i + 0.5) * scale;
  int lo = (int)(center - support + 0.5); /* truncation toward zero, as Pillow */
  int hi = (int)(center + support + 0.5);
  if (lo < 0)
    lo = 0;
  if (hi > in_size)
    hi = in_size;
  int n = hi - lo;
  double sum = 0.0;
  for (int x = 0; x < n; x++) {
    w[x] = kernel((x + lo - center + 0.5) * inv_filterscale);
    sum += w[x];
  }
  for (int x = 0; x < n; x++)
    w[x] = sum != 0.0 ? w[x] / sum : w[x];
  *first = lo;
  return n;
}
