/* predict.threshold auto (predict_decide.h). */
#include "predict_decide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static int by_value_desc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

/* F1-max over "score >= t" with t each distinct score (ties share one threshold). */
static double f1max_threshold(const double *scores, const uint8_t *labels, int n) {
  double *s = xmalloc((size_t)n * 2 * sizeof *s);
  int positives = 0;
  for (int i = 0; i < n; i++) {
    s[2 * i] = scores[i];
    s[2 * i + 1] = labels[i] ? 1.0 : 0.0;
    positives += labels[i] != 0;
  }
  qsort(s, (size_t)n, 2 * sizeof *s, by_value_desc);
  double best = -1, thr = s[0];
  int tp = 0, fp = 0;
  for (int i = 0; i < n; i++) {
    tp += s[2 * i + 1] > 0.5;
    fp += s[2 * i + 1] <= 0.5;
    if (i + 1 < n && s[2 * (i + 1)] == s[2 * i])
      continue; /* the threshold s[i] also takes its equals */
    double f1 = 2.0 * tp / (double)(tp + fp + positives);
    if (f1 > best) {
      best = f1;
      thr = s[2 * i];
    }
  }
  free(s);
  return thr;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, by_value);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void predict_auto_threshold(double *threshold, const char **rule, const double *scores,
                            const uint8_t *labels, int n) {
  int pos = 0;
  for (int i = 0; i < n; i++)
    pos += labels[i] != 0;
  if (pos > 0 && pos < n) {
    *threshold = f1max_threshold(scores, labels, n);
    *rule = "f1max";
    return;
  }
  double *v = xmalloc((size_t)n * sizeof *v + 1);
  memcpy(v, scores, (size_t)n * sizeof *v);
  double med = median(v, n);
  for (int i = 0; i < n; i++)
    v[i] = fabs(scores[i] - med);
  double mad = median(v, n);
  free(v);
  *threshold = med + 3.0 * 1.4826 * mad;
  *rule = "median+3mad";
}
