/* train_curves.svg (curves_svg.h): plain SVG text, no library needed. */
#include "curves_svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fsutil.h"

typedef struct {
  char *s;
  size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (t->s && t->n + (size_t)k < t->cap) {
      t->n += (size_t)k;
      return;
    }
    t->cap = (t->cap + (size_t)k + 1) * 2;
    t->s = xrealloc(t->s, t->cap);
  }
}

int curves_svg_write(const char *path, const char *title, const double *table, int rows, int cols,
                     const int *which, int n_which, const char *const *names) {
  static const char *const colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                        "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  const double W = 720, H = 420, x0 = 60, y0 = 30, pw = 500, ph = 330;
  double lo = INFINITY, hi = -INFINITY;
  for (int r = 0; r < rows; r++)
    for (int k = 0; k < n_which; k++) {
      double v = table[(size_t)r * cols + which[k]];
      if (isfinite(v)) {
        lo = fmin(lo, v);
        hi = fmax(hi, v);
      }
    }
  if (!(hi >= lo)) {
    lo = 0;
    hi = 1;
  }
  if (hi == lo)
    hi = lo + 1;
  const double xs = rows > 1 ? pw / (rows - 1) : 0, ys = ph / (hi - lo);
  text t = {0};
  put(&t,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
      "fill=\"white\"/>\n<text x=\"%.0f\" y=\"18\" font-size=\"14\">%s</text>\n",
      W, H, x0, title);
  put(&t,
      "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
      "stroke=\"#888\"/>\n",
      x0, y0, pw, ph);
  for (int g = 0; g <= 4; g++) { /* y ticks */
    double v = lo + (hi - lo) * g / 4, y = y0 + ph - (v - lo) * ys;
    put(&t, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", x0 - 6, y + 4, v);
  }
  put(&t, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">epoch (1..%d)</text>\n", x0 + pw / 2,
      y0 + ph + 24, rows);
  for (int k = 0; k < n_which; k++) {
    const char *colour = colours[k % 8];
    put(&t, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
    for (int r = 0; r < rows; r++) {
      double v = table[(size_t)r * cols + which[k]];
      if (isfinite(v))
        put(&t, "%.1f,%.1f ", x0 + r * xs, y0 + ph - (v - lo) * ys);
    }
    put(&t, "\"/>\n<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n", x0 + pw + 16,
        y0 + 16 + 18.0 * k, colour, names[which[k]]);
  }
  put(&t, "</svg>\n");
  int rc = fs_write_atomic(path, t.s, t.n);
  free(t.s);
  return rc;
}
