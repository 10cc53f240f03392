/* OPTICS as scikit-learn computes it (optics.h; musc_hetmm_spec §B.5.2): compute_optics_graph,
 * _xi_cluster and _extract_xi_labels of sklearn/cluster/_optics.py, ported loop for loop. */
#include "optics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int optics_min_samples(int N, int K) {
  int m = K > 0 ? N / K : 0;
  if (m < 1)
    return -1;
  return m == 1 ? (N > 2 ? N : 2) : m; /* sklearn 0.24: an int <= 1 is a fraction of N */
}

/* np.around(x, 15) = rint(x * 1e15) / 1e15 (numpy's multiply, rint, divide). */
static double around15(double x) { return rint(x * 1e15) / 1e15; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The k-th smallest (1-based) of row[N]; tmp [N]. */
static double kth_smallest(const double *row, int N, int k, double *tmp) {
  if (k > 32) {
    memcpy(tmp, row, (size_t)N * sizeof *tmp);
    qsort(tmp, (size_t)N, sizeof *tmp, cmp_double);
    return tmp[k - 1];
  }
  int n = 0; /* tmp[0..n) sorted ascending, the n <= k smallest so far */
  for (int j = 0; j < N; j++) {
    double v = row[j];
    if (n == k && !(v < tmp[k - 1]))
      continue;
    int i = n < k ? n++ : k - 1;
    while (i > 0 && tmp[i - 1] > v) {
      tmp[i] = tmp[i - 1];
      i--;
    }
    tmp[i] = v;
  }
  return tmp[k - 1];
}

/* _extend_region: the end of the steep area that starts at start. */
static int extend_region(const char *steep, const char *xward, int n, int start, int min_samples) {
  int non_xward = 0, end = start;
  for (int index = start; index < n; index++) {
    if (steep[index]) {
      non_xward = 0;
      end = index;
    } else if (!xward[index]) {
      if (++non_xward > min_samples)
        break;
    } else {
      return end;
    }
  }
  return end;
}

typedef struct {
  int start, end;
  double mib;
} sda;

/* _update_filter_sdas: keeps the SDAs that the maximum in between allows; returns the count. */
static int filter_sdas(sda *s, int n, double mib, double xic, const double *R) {
  if (isinf(mib))
    return 0;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (mib <= R[s[i].start] * xic) {
      s[m] = s[i];
      if (mib > s[m].mib)
        s[m].mib = mib;
      m++;
    }
  return m;
}

/* _correct_predecessor on the ordered plots: 1 with *s, *e kept, or 0 (rejected). */
static int correct_predecessor(const double *R, const int *P, const int *ordering, int *s, int *e) {
  while (*s < *e) {
    if (R[*s] > R[*e])
      return 1;
    int p_e = P[*e];
    for (int i = *s; i < *e; i++)
      if (p_e == ordering[i])
        return 1;
    (*e)--;
  }
  return 0;
}

int optics_xi(int *labels, int *ordering_out, double *reach_out, double *core_out, int *pred_out,
              const double *dist, int N, int min_samples, double xi) {
  double *core = xmalloc((size_t)N * sizeof *core), *reach = xmalloc((size_t)N * sizeof *reach);
  double *R = xmalloc(((size_t)N + 1) * sizeof *R), *tmp = xmalloc((size_t)N * sizeof *tmp);
  int *pred = xmalloc((size_t)N * sizeof *pred), *ordering = xmalloc((size_t)N * sizeof *ordering);
  int *P = xmalloc((size_t)N * sizeof *P), *lab = xmalloc((size_t)N * sizeof *lab);
  int cap = 2 * N + 2, *clusters = xmalloc(2 * (size_t)cap * sizeof *clusters);
  char *processed = xcalloc((size_t)N, 1), *flags = xmalloc(4 * ((size_t)N + 1));
  sda *sdas = xmalloc(((size_t)N + 1) * sizeof *sdas);

  /* compute_optics_graph: core distances (self counted), then the ordering loop. */
  for (int i = 0; i < N; i++) {
    core[i] = around15(kth_smallest(dist + (size_t)i * N, N, min_samples, tmp));
    reach[i] = INFINITY;
    pred[i] = -1;
  }
  for (int oi = 0; oi < N; oi++) {
    int point = -1;
    for (int j = 0; j < N; j++) /* argmin over unprocessed, smallest index on ties (inf too) */
      if (!processed[j] && (point < 0 || reach[j] < reach[point]))
        point = j;
    processed[point] = 1;
    ordering[oi] = point;
    if (isinf(core[point]))
      continue;
    const double *row = dist + (size_t)point * N;
    for (int b = 0; b < N; b++) { /* _set_reach_dist */
      if (processed[b])
        continue;
      double r = around15(row[b] > core[point] ? row[b] : core[point]);
      if (r < reach[b]) {
        reach[b] = r;
        pred[b] = point;
      }
    }
  }

  /* _xi_cluster on the plots in ordering order, +inf appended. */
  for (int i = 0; i < N; i++) {
    R[i] = reach[ordering[i]];
    P[i] = pred[ordering[i]];
  }
  R[N] = INFINITY;
  const double xic = 1.0 - xi;
  char *steep_up = flags, *steep_down = flags + N + 1, *down = flags + 2 * (N + 1),
       *up = flags + 3 * (N + 1);
  for (int i = 0; i < N; i++) {
    double ratio = R[i] / R[i + 1]; /* NaN for inf/inf: every comparison false, as numpy */
    steep_up[i] = ratio <= xic;
    steep_down[i] = ratio >= 1.0 / xic;
    down[i] = ratio > 1;
    up[i] = ratio < 1;
  }
  int n_sdas = 0, n_clusters = 0, index = 0;
  double mib = 0.0;
  for (int si = 0; si < N; si++) {
    if (!(steep_up[si] || steep_down[si]) || si < index)
      continue;
    for (int i = index; i <= si; i++)
      if (R[i] > mib)
        mib = R[i];
    n_sdas = filter_sdas(sdas, n_sdas, mib, xic, R);
    if (steep_down[si]) {
      int d_end = extend_region(steep_down, up, N, si, min_samples);
      sdas[n_sdas++] = (sda){si, d_end, 0.0};
      index = d_end + 1;
      mib = R[index];
      continue;
    }
    int u_start = si, u_end = extend_region(steep_up, down, N, si, min_samples);
    index = u_end + 1;
    mib = R[index];
    int first = n_clusters;
    for (int d = 0; d < n_sdas; d++) {
      int c_start = sdas[d].start, c_end = u_end;
      if (R[c_end + 1] * xic < sdas[d].mib)
        continue;
      double d_max = R[sdas[d].start];
      if (d_max * xic >= R[c_end + 1]) {
        while (R[c_start + 1] > R[c_end + 1] && c_start < sdas[d].end)
          c_start++;
      } else if (R[c_end + 1] * xic >= d_max) {
        while (R[c_end - 1] > d_max && c_end > u_start)
          c_end--;
      }
      if (!correct_predecessor(R, P, ordering, &c_start, &c_end))
        continue;
      if (c_end - c_start + 1 < min_samples || c_start > sdas[d].end || c_end < u_start)
        continue;
      if (n_clusters == cap) { /* up to one per (steep-up, steep-down) pair */
        cap *= 2;
        clusters = xrealloc(clusters, 2 * (size_t)cap * sizeof *clusters);
      }
      clusters[2 * n_clusters] = c_start;
      clusters[2 * n_clusters + 1] = c_end;
      n_clusters++;
    }
    for (int a = first, b = n_clusters - 1; a < b; a++, b--) { /* U_clusters.reverse() */
      int s0 = clusters[2 * a], e0 = clusters[2 * a + 1];
      clusters[2 * a] = clusters[2 * b];
      clusters[2 * a + 1] = clusters[2 * b + 1];
      clusters[2 * b] = s0;
      clusters[2 * b + 1] = e0;
    }
  }

  /* _extract_xi_labels: a cluster whose range has no labelled point yet gets the next label. */
  for (int i = 0; i < N; i++)
    lab[i] = -1;
  int label = 0;
  for (int c = 0; c < n_clusters; c++) {
    int s = clusters[2 * c], e = clusters[2 * c + 1], free_range = 1;
    for (int i = s; i <= e && free_range; i++)
      free_range = lab[i] == -1;
    if (!free_range)
      continue;
    for (int i = s; i <= e; i++)
      lab[i] = label;
    label++;
  }
  for (int i = 0; i < N; i++)
    labels[ordering[i]] = lab[i];

  if (ordering_out)
    memcpy(ordering_out, ordering, (size_t)N * sizeof *ordering);
  if (reach_out)
    memcpy(reach_out, reach, (size_t)N * sizeof *reach);
  if (core_out)
    memcpy(core_out, core, (size_t)N * sizeof *core);
  if (pred_out)
    memcpy(pred_out, pred, (size_t)N * sizeof *pred);
  free(core);
  free(reach);
  free(R);
  free(tmp);
  free(pred);
  free(ordering);
  free(P);
  free(lab);
  free(clusters);
  free(processed);
  free(flags);
  free(sdas);
  return label;
}
