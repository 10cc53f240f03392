/* The number of anomaly classes from features (k_estimate.h): eigengap and silhouette. */
#include "k_estimate.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

/* Self-tuning affinity: the scale of a point is its distance to this neighbour (Zelnik-Manor &
 * Perona 2004, §2.1). */
#define K_EST_NEIGHBOUR 7
/* Lloyd steps of one k-means restart (scikit-learn's max_iter). */
#define KMEANS_MAX_ITER 300

static double uniform(rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

static double dist2(const double *a, const double *b, int d) {
  double s = 0;
  for (int j = 0; j < d; j++)
    s += (a[j] - b[j]) * (a[j] - b[j]);
  return s;
}

/* ---- eigenvalues ---- */

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int sym_eigenvalues(double *w, const double *a_in, int n) {
  if (n < 1)
    return ancd_errorf("sym_eigenvalues: n = %d, need n >= 1", n);
  /* a full symmetric copy, so every loop below runs along rows */
  double *a = xmalloc((size_t)n * n * sizeof *a), *e = xcalloc((size_t)n, sizeof *e);
  for (int i = 0; i < n; i++)
    for (int j = 0; j <= i; j++)
      a[(size_t)i * n + j] = a[(size_t)j * n + i] = a_in[(size_t)i * n + j];
  /* Householder (tred2, values only): reflect row i's first l = i - 1 entries onto its last,
   * A' = A - q u^T - u q^T on the leading (l+1)-block, with p = A u / h, q = p - (u^T p / 2h) u. */
  for (int i = n - 1; i > 0; i--) {
    const int l = i - 1;
    double *ai = a + (size_t)i * n;
    double scale = 0;
    for (int k = 0; k <= l; k++)
      scale += fabs(ai[k]);
    if (l == 0 || scale == 0) {
      e[i] = ai[l];
      continue;
    }
    double h = 0;
    for (int k = 0; k <= l; k++) {
      ai[k] /= scale;
      h += ai[k] * ai[k];
    }
    const double f = ai[l], g = f >= 0 ? -sqrt(h) : sqrt(h);
    e[i] = scale * g;
    h -= f * g;
    ai[l] = f - g;
    double up = 0;
    for (int j = 0; j <= l; j++) {
      const double *aj = a + (size_t)j * n;
      double s = 0;
      for (int k = 0; k <= l; k++)
        s += aj[k] * ai[k];
      e[j] = s / h;
      up += e[j] * ai[j];
    }
    const double hh = up / (h + h);
    for (int j = 0; j <= l; j++)
      e[j] -= hh * ai[j];
    for (int j = 0; j <= l; j++) {
      double *aj = a + (size_t)j * n;
      const double uj = ai[j], qj = e[j];
      for (int k = 0; k <= l; k++)
        aj[k] -= uj * e[k] + qj * ai[k];
    }
  }
  for (int i = 0; i < n; i++)
    w[i] = a[(size_t)i * n + i];
  /* implicit QL with Wilkinson shifts on the tridiagonal (diagonal w, sub-diagonal e) (tqli) */
  for (int i = 1; i < n; i++)
    e[i - 1] = e[i];
  e[n - 1] = 0;
  int rc = 0;
  for (int l = 0; l < n && rc == 0; l++) {
    int iter = 0, m;
    do {
      for (m = l; m < n - 1; m++)
        if (fabs(e[m]) <= DBL_EPSILON * (fabs(w[m]) + fabs(w[m + 1])))
          break;
      if (m == l)
        break;
      if (iter++ == 60) {
        rc = ancd_errorf("sym_eigenvalues: QL did not converge (n = %d)", n);
        break;
      }
      double g = (w[l + 1] - w[l]) / (2 * e[l]), r = hypot(g, 1.0);
      g = w[m] - w[l] + e[l] / (g + copysign(r, g));
      double s = 1, c = 1, p = 0;
      int i;
      for (i = m - 1; i >= l; i--) {
        const double f = s * e[i], b = c * e[i];
        e[i + 1] = r = hypot(f, g);
        if (r == 0) { /* underflow: deflate and restart this l */
          w[i + 1] -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = w[i + 1] - p;
        r = (w[i] - g) * s + 2 * c * b;
        p = s * r;
        w[i + 1] = g + p;
        g = c * r - b;
      }
      if (r == 0 && i >= l)
        continue;
      w[l] -= p;
      e[l] = g;
      e[m] = 0;
    } while (1);
  }
  free(a);
  free(e);
  if (rc == 0)
    qsort(w, (size_t)n, sizeof *w, cmp_double);
  return rc;
}

/* ---- k-means ---- */

/* Greedy k-means++ (scikit-learn's _kmeans_plusplus): the first centre uniform, each next one
 * the best of 2 + floor(ln k) candidates drawn with probability ~ squared distance, "best"
 * giving the least total squared distance. closest [n] scratch. */
static void kmeans_pp(double *centers, const double *x, int n, int d, int k, rng *r,
                      double *closest) {
  const int trials = 2 + (int)log(k);
  int first = (int)(uniform(r) * n);
  first = first < n ? first : n - 1;
  memcpy(centers, x + (size_t)first * d, (size_t)d * sizeof *centers);
  double pot = 0;
  for (int i = 0; i < n; i++)
    pot += closest[i] = dist2(x + (size_t)i * d, centers, d);
  for (int c = 1; c < k; c++) {
    double best_pot = INFINITY;
    int best = 0;
    for (int t = 0; t < trials; t++) {
      /* searchsorted(cumsum(closest), u * pot), clipped to n - 1 */
      const double target = uniform(r) * pot;
      double cum = 0;
      int id = 0;
      while (id < n - 1 && (cum += closest[id]) <= target)
        id++;
      double cand_pot = 0;
      for (int i = 0; i < n; i++) {
        const double dd = dist2(x + (size_t)i * d, x + (size_t)id * d, d);
        cand_pot += dd < closest[i] ? dd : closest[i];
      }
      if (cand_pot < best_pot)
        best_pot = cand_pot, best = id;
    }
    memcpy(centers + (size_t)c * d, x + (size_t)best * d, (size_t)d * sizeof *centers);
    pot = 0;
    for (int i = 0; i < n; i++) {
      const double dd = dist2(x + (size_t)i * d, x + (size_t)best * d, d);
      closest[i] = dd < closest[i] ? dd : closest[i];
      pot += closest[i];
    }
  }
}

/* Nearest centre of every point (the lowest index on ties): labels, squared distances dist;
 * returns how many labels changed. */
static int kmeans_assign(int *labels, double *dist, const double *x, const double *centers, int n,
                         int d, int k) {
  int changed = 0;
  for (int i = 0; i < n; i++) {
    int best = 0;
    double bd = INFINITY;
    for (int c = 0; c < k; c++) {
      const double dd = dist2(x + (size_t)i * d, centers + (size_t)c * d, d);
      if (dd < bd)
        bd = dd, best = c;
    }
    changed += labels[i] != best;
    labels[i] = best;
    dist[i] = bd;
  }
  return changed;
}

/* Centres as the means of their points; an empty cluster takes the point farthest from its
 * centre among clusters with two or more points. count [k] scratch. */
static void kmeans_update(double *centers, int *labels, double *dist, int *count, const double *x,
                          int n, int d, int k) {
  memset(count, 0, (size_t)k * sizeof *count);
  for (int i = 0; i < n; i++)
    count[labels[i]]++;
  for (int c = 0; c < k; c++) {
    if (count[c] > 0)
      continue;
    int far = -1;
    for (int i = 0; i < n; i++)
      if (count[labels[i]] > 1 && (far < 0 || dist[i] > dist[far]))
        far = i;
    count[labels[far]]--;
    labels[far] = c;
    dist[far] = 0;
    count[c] = 1;
  }
  memset(centers, 0, (size_t)k * d * sizeof *centers);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++)
      centers[(size_t)labels[i] * d + j] += x[(size_t)i * d + j];
  for (int c = 0; c < k; c++)
    for (int j = 0; j < d; j++)
      centers[(size_t)c * d + j] /= count[c];
}

int kmeans_fit(int *labels, double *centers, double *inertia, const double *x, int n, int d, int k,
               int n_init, uint64_t seed) {
  if (k < 1 || k > n || d < 1 || n_init < 1)
    return ancd_errorf("kmeans_fit: k = %d, n = %d, d = %d, n_init = %d: need 1 <= k <= n, d >= 1 "
                       "and n_init >= 1",
                       k, n, d, n_init);
  double *cen = xmalloc((size_t)k * d * sizeof *cen), *dist = xmalloc((size_t)n * sizeof *dist);
  int *lab = xmalloc((size_t)n * sizeof *lab), *count = xmalloc((size_t)k * sizeof *count);
  double best = INFINITY;
  rng r;
  rng_init(&r, seed);
  for (int run = 0; run < n_init; run++) {
    kmeans_pp(cen, x, n, d, k, &r, dist);
    for (int i = 0; i < n; i++)
      lab[i] = -1;
    kmeans_assign(lab, dist, x, cen, n, d, k);
    for (int it = 0; it < KMEANS_MAX_ITER; it++) {
      kmeans_update(cen, lab, dist, count, x, n, d, k);
      if (kmeans_assign(lab, dist, x, cen, n, d, k) == 0)
        break;
    }
    double sse = 0;
    for (int i = 0; i < n; i++)
      sse += dist[i];
    if (sse < best) {
      best = sse;
      memcpy(labels, lab, (size_t)n * sizeof *labels);
      if (centers)
        memcpy(centers, cen, (size_t)k * d * sizeof *centers);
    }
  }
  if (inertia)
    *inertia = best;
  free(cen), free(dist), free(lab), free(count);
  return 0;
}

/* ---- silhouette ---- */

/* silhouette_score from the distance matrix dist [n, n] when not NULL, else from x [n, d]. */
static int silhouette(double *score, const double *dist, const double *x, int d, const int *labels,
                      int n) {
  int D = 0;
  for (int i = 0; i < n; i++) {
    if (labels[i] < 0)
      return ancd_errorf("silhouette_score: label %d of item %d is negative", labels[i], i);
    D = labels[i] + 1 > D ? labels[i] + 1 : D;
  }
  int *count = xcalloc((size_t)D, sizeof *count), groups = 0;
  for (int i = 0; i < n; i++)
    groups += count[labels[i]]++ == 0;
  if (groups < 2 || groups > n - 1) {
    free(count);
    return ancd_errorf("silhouette_score: %d clusters of %d items, need 2..n-1", groups, n);
  }
  double *sum = xmalloc((size_t)D * sizeof *sum), total = 0;
  for (int i = 0; i < n; i++) {
    memset(sum, 0, (size_t)D * sizeof *sum);
    for (int j = 0; j < n; j++)
      sum[labels[j]] +=
          dist ? dist[(size_t)i * n + j] : sqrt(dist2(x + (size_t)i * d, x + (size_t)j * d, d));
    const int ci = labels[i];
    if (count[ci] == 1)
      continue; /* s_i = 0 */
    const double a = sum[ci] / (count[ci] - 1);
    double b = INFINITY;
    for (int c = 0; c < D; c++)
      if (c != ci && count[c] > 0 && sum[c] / count[c] < b)
        b = sum[c] / count[c];
    const double m = a > b ? a : b;
    total += m > 0 ? (b - a) / m : 0;
  }
  *score = total / n;
  free(count);
  free(sum);
  return 0;
}

int silhouette_score(double *score, const double *x, const int *labels, int n, int d) {
  if (n < 2 || d < 1)
    return ancd_errorf("silhouette_score: n = %d, d = %d", n, d);
  return silhouette(score, NULL, x, d, labels, n);
}

/* ---- K ---- */

/* Row i of x, L2-normalised (a zero row stays zero, as sklearn's normalize). */
static void normalise_rows(double *y, const float *x, int n, int d) {
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < d; j++)
      s += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
    const double inv = s > 0 ? 1 / sqrt(s) : 0;
    for (int j = 0; j < d; j++)
      y[(size_t)i * d + j] = x[(size_t)i * d + j] * inv;
  }
}

/* Squared distances [n, n] of the rows of y. */
static double *pair_dist2(const double *y, int n, int d) {
  double *D2 = xmalloc((size_t)n * n * sizeof *D2);
  for (int i = 0; i < n; i++) {
    D2[(size_t)i * n + i] = 0;
    for (int j = 0; j < i; j++)
      D2[(size_t)i * n + j] = D2[(size_t)j * n + i] =
          dist2(y + (size_t)i * d, y + (size_t)j * d, d);
  }
  return D2;
}

static int eigengap(int *k_out, const double *y, int n, int d, int lo, int hi) {
  double *L = pair_dist2(y, n, d), *s = xmalloc((size_t)n * sizeof *s);
  const int nb = K_EST_NEIGHBOUR < n - 1 ? K_EST_NEIGHBOUR : n - 1;
  double best[K_EST_NEIGHBOUR];
  for (int i = 0; i < n; i++) {
    /* the nb smallest squared distances to the others, ascending, by insertion */
    int m = 0;
    for (int j = 0; j < n; j++) {
      if (j == i)
        continue;
      double v = L[(size_t)i * n + j];
      if (m == nb && v >= best[nb - 1])
        continue;
      int p = m < nb ? m++ : nb - 1;
      while (p > 0 && best[p - 1] > v) {
        best[p] = best[p - 1];
        p--;
      }
      best[p] = v;
    }
    /* duplicates would give a zero scale: floor it far below any real neighbour distance */
    s[i] = fmax(sqrt(best[nb - 1]), 1e-8);
  }
  double *deg = xcalloc((size_t)n, sizeof *deg);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double *v = &L[(size_t)i * n + j];
      *v = i == j ? 0 : exp(-*v / (s[i] * s[j]));
      deg[i] += *v;
    }
  /* L = I - D^-1/2 W D^-1/2; an isolated point is a component of its own (scipy's laplacian) */
  for (int i = 0; i < n; i++)
    s[i] = deg[i] > 0 ? 1 / sqrt(deg[i]) : 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double *v = &L[(size_t)i * n + j];
      *v = i == j ? (deg[i] > 0 ? 1 : 0) - *v * s[i] * s[j] : -*v * s[i] * s[j];
    }
  int rc = sym_eigenvalues(deg, L, n);
  if (rc == 0) {
    int k_best = lo;
    for (int k = lo + 1; k <= hi; k++)
      if (deg[k] - deg[k - 1] > deg[k_best] - deg[k_best - 1])
        k_best = k;
    *k_out = k_best;
  }
  free(L), free(s), free(deg);
  return rc;
}

static int best_silhouette(int *k_out, const double *y, int n, int d, int lo, int hi,
                           uint64_t seed) {
  double *D = pair_dist2(y, n, d), best = -INFINITY;
  for (size_t i = 0; i < (size_t)n * n; i++)
    D[i] = sqrt(D[i]);
  int *labels = xmalloc((size_t)n * sizeof *labels), rc = 0;
  *k_out = lo;
  for (int k = lo; k <= hi && rc == 0; k++) {
    double sc = -INFINITY;
    rc = kmeans_fit(labels, NULL, NULL, y, n, d, k, K_EST_N_INIT, rng_u64_at(seed, (uint64_t)k));
    /* fewer than 2 distinct clusters (duplicate points): no score for this k */
    if (rc == 0 && silhouette(&sc, D, NULL, 0, labels, n) == 0 && sc > best)
      best = sc, *k_out = k;
  }
  free(D);
  free(labels);
  return rc;
}

int k_estimate(int *k_out, const float *features, int n, int d, int k_min, int k_max,
               k_est_method method, uint64_t seed) {
  if (!k_out || !features)
    return ancd_errorf("k_estimate: NULL argument");
  if (n < 3 || d < 1)
    return ancd_errorf("k_estimate: %d items of dimension %d, need n >= 3 and d >= 1", n, d);
  if (k_min < 2 || k_max < k_min)
    return ancd_errorf("k_estimate: k range [%d, %d], need 2 <= k_min <= k_max", k_min, k_max);
  if (method != K_EST_EIGENGAP && method != K_EST_SILHOUETTE)
    return ancd_errorf("k_estimate: unknown method %d", (int)method);
  for (size_t i = 0; i < (size_t)n * d; i++)
    if (!isfinite(features[i]))
      return ancd_errorf("k_estimate: feature %zu (item %zu) is not finite", i % (size_t)d,
                         i / (size_t)d);
  const int hi = k_max < n - 1 ? k_max : n - 1, lo = k_min < hi ? k_min : hi;
  double *y = xmalloc((size_t)n * d * sizeof *y);
  normalise_rows(y, features, n, d);
  const int rc = method == K_EST_EIGENGAP ? eigengap(k_out, y, n, d, lo, hi)
                                          : best_silhouette(k_out, y, n, d, lo, hi, seed);
  free(y);
  return rc;
}
