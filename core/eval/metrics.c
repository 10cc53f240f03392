/* Anomaly-detection metrics, musc_hetmm_spec §A.8, matching scikit-learn / scikit-image.
 *
 * Scores are sorted once as 32-bit keys (LSD radix sort on the float bits), positives and
 * negatives apart, and the distinct thresholds are swept from the top: one sweep gives ROC area,
 * average precision and F1-max. AUPRO labels each mask once (8-connected union-find), sorts each
 * region's scores and the negative pixels' scores, and answers each of the ~200 thresholds with
 * one binary search per region. All accumulation is in double (counts in 64-bit integers). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Order-preserving map float -> uint32 (negatives flipped). -0 becomes +0 first so the two are a
 * tie, as numpy's == says. */
static uint32_t float_key(float x) {
  if (x == 0.0f)
    x = 0.0f;
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float key_float(uint32_t k) {
  uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Ascending LSD radix sort of keys[n] in 3 passes of 11 bits, carrying payload[n] when not NULL
 * (stable, so an earlier order survives among equal keys). A pass whose digit is the same for
 * every key is skipped. Scratch is allocated here. */
static void radix_sort_u32(uint32_t *keys, uint32_t *payload, long n) {
  enum { BITS = 11, BUCKETS = 1 << BITS, PASSES = 3 };
  if (n < 2)
    return;
  long(*count)[BUCKETS] = xcalloc(PASSES, sizeof *count);
  for (long i = 0; i < n; i++)
    for (int p = 0; p < PASSES; p++)
      count[p][(keys[i] >> (p * BITS)) & (BUCKETS - 1)]++;
  uint32_t *tmp_keys = xmalloc((size_t)n * sizeof *tmp_keys);
  uint32_t *tmp_payload = payload ? xmalloc((size_t)n * sizeof *tmp_payload) : NULL;
  uint32_t *src_k = keys, *dst_k = tmp_keys, *src_p = payload, *dst_p = tmp_payload;
  for (int p = 0; p < PASSES; p++) {
    int shift = p * BITS;
    if (count[p][(src_k[0] >> shift) & (BUCKETS - 1)] == n)
      continue; /* one bucket holds everything: the pass would be the identity */
    long offset = 0;
    for (int b = 0; b < BUCKETS; b++) {
      long c = count[p][b];
      count[p][b] = offset;
      offset += c;
    }
    for (long i = 0; i < n; i++) {
      long j = count[p][(src_k[i] >> shift) & (BUCKETS - 1)]++;
      dst_k[j] = src_k[i];
      if (payload)
        dst_p[j] = src_p[i];
    }
    uint32_t *t = src_k;
    src_k = dst_k;
    dst_k = t;
    t = src_p;
    src_p = dst_p;
    dst_p = t;
  }
  if (src_k != keys) {
    memcpy(keys, src_k, (size_t)n * sizeof *keys);
    if (payload)
      memcpy(payload, src_p, (size_t)n * sizeof *payload);
  }
  free(tmp_keys);
  free(tmp_payload);
  free(count);
}

/* §A.8 image/pixel level: roc_auc_score, average_precision_score and the F1-max of
 * precision_recall_curve, from one descending sweep over distinct scores. NaN for all three with
 * one class only, NaN scores or n < 1. */
static void ranking_metrics(double *auroc, double *ap, double *f1max, const float *scores,
                            const uint8_t *labels, long n) {
  *auroc = *ap = *f1max = NAN;
  long n_pos = 0;
  for (long i = 0; i < n; i++) {
    if (isnan(scores[i]))
      return; /* sklearn refuses NaN input */
    n_pos += labels[i] != 0;
  }
  long n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0)
    return;
  uint32_t *pos = xmalloc((size_t)n_pos * sizeof *pos), *neg = xmalloc((size_t)n_neg * sizeof *neg);
  long ip = 0, in = 0;
  for (long i = 0; i < n; i++) {
    if (labels[i])
      pos[ip++] = float_key(scores[i]);
    else
      neg[in++] = float_key(scores[i]);
  }
  radix_sort_u32(pos, NULL, n_pos);
  radix_sort_u32(neg, NULL, n_neg);

  /* Walk both sorted arrays from the top; each step consumes one distinct score. */
  uint64_t tp = 0, fp = 0, area2 = 0; /* area2 = 2 x (ROC area in positive-negative pairs) */
  double ap_sum = 0.0, best_f1 = 0.0; /* the final (P=1, R=0) point has F1 = 0 */
  ip = n_pos - 1;
  in = n_neg - 1;
  while (ip >= 0 || in >= 0) {
    uint32_t t;
    if (ip < 0)
      t = neg[in];
    else if (in < 0)
      t = pos[ip];
    else
      t = pos[ip] > neg[in] ? pos[ip] : neg[in];
    uint64_t cp = 0, cn = 0;
    while (ip >= 0 && pos[ip] == t)
      ip--, cp++;
    while (in >= 0 && neg[in] == t)
      in--, cn++;
    /* Trapezoid of this step: tied pairs count 1/2 (Mann-Whitney). */
    area2 += cn * (2 * tp + cp);
    tp += cp;
    fp += cn;
    double precision = (double)tp / (double)(tp + fp);
    double recall = (double)tp / (double)n_pos;
    ap_sum += ((double)cp / (double)n_pos) * precision;
    if (precision + recall > 0.0) { /* 0/0 is dropped as non-finite */
      double f1 = 2.0 * precision * recall / (precision + recall);
      if (f1 > best_f1)
        best_f1 = f1;
    }
  }
  *auroc = (double)area2 / (2.0 * (double)n_pos * (double)n_neg);
  *ap = ap_sum;
  *f1max = best_f1;
  free(pos);
  free(neg);
}

double metric_auroc(const float *scores, const uint8_t *labels, long n) {
  double auroc, ap, f1;
  ranking_metrics(&auroc, &ap, &f1, scores, labels, n);
  return auroc;
}

double metric_ap(const float *scores, const uint8_t *labels, long n) {
  double auroc, ap, f1;
  ranking_metrics(&auroc, &ap, &f1, scores, labels, n);
  return ap;
}

double metric_f1max(const float *scores, const uint8_t *labels, long n) {
  double auroc, ap, f1;
  ranking_metrics(&auroc, &ap, &f1, scores, labels, n);
  return f1;
}

/* Union-find root with path halving. */
static int32_t uf_find(int32_t *parent, int32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

static void uf_union(int32_t *parent, int32_t a, int32_t b) {
  a = uf_find(parent, a);
  b = uf_find(parent, b);
  if (a < b)
    parent[b] = a;
  else if (b < a)
    parent[a] = b;
}

/* 8-connected components of mask[h, w] (nonzero = foreground), as skimage.measure.label with its
 * default 2-D connectivity: label[h, w] gets 0 for background and 1..count numbered in raster
 * order of each component's first pixel. parent is scratch of h*w+1. Returns count. */
static int32_t label_8connected(int32_t *label, int32_t *parent, const uint8_t *mask, int h,
                                int w) {
  int32_t next = 1;
  parent[0] = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      long i = (long)y * w + x;
      label[i] = 0;
      if (!mask[i])
        continue;
      /* Neighbours already visited: W, NW, N, NE. */
      int32_t nb[4] = {0, 0, 0, 0};
      if (x > 0)
        nb[0] = label[i - 1];
      if (y > 0) {
        if (x > 0)
          nb[1] = label[i - w - 1];
        nb[2] = label[i - w];
        if (x + 1 < w)
          nb[3] = label[i - w + 1];
      }
      int32_t l = 0;
      for (int k = 0; k < 4; k++)
        if (nb[k] && (l == 0 || nb[k] < l))
          l = nb[k];
      if (l == 0) {
        l = next++;
        parent[l] = l;
      } else {
        for (int k = 0; k < 4; k++)
          if (nb[k] && nb[k] != l)
            uf_union(parent, l, nb[k]);
      }
      label[i] = l;
    }
  /* Second pass: provisional roots renumbered in raster order of first appearance. */
  int32_t *final_id = xcalloc((size_t)next, sizeof *final_id);
  int32_t count = 0;
  for (long i = 0; i < (long)h * w; i++) {
    if (!label[i])
      continue;
    int32_t r = uf_find(parent, label[i]);
    if (!final_id[r])
      final_id[r] = ++count;
    label[i] = final_id[r];
  }
  free(final_id);
  return count;
}

/* Number of elements of sorted[n] that are <= th (numpy searchsorted side='right'). */
static long count_le(const float *sorted, long n, double th) {
  long lo = 0, hi = n;
  while (lo < hi) {
    long mid = lo + (hi - lo) / 2;
    if ((double)sorted[mid] <= th)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* §A.8 AUPRO (cal_pro_score, max_step 200, expect_fpr 0.3); hetmm = 1: HETMM's PRO (§B.8:
 * np.linspace(min, max, 300), overlap / (area + 1e-5), FPR <= 0.3, both axes rescaled by
 * (x - min) / (max - min + 1e-5)). */
static double pro_area(const float *maps, const uint8_t *masks, int n, int h, int w, int hetmm) {
  if (!maps || !masks || n < 1 || h < 1 || w < 1)
    return NAN;
  long hw = (long)h * w, total = (long)n * hw, n_pos = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (long i = 0; i < total; i++) {
    if (!isfinite(maps[i]))
      return NAN;
    n_pos += masks[i] != 0;
    lo = fmin(lo, (double)maps[i]);
    hi = fmax(hi, (double)maps[i]);
  }
  long n_neg = total - n_pos;
  if (n_pos == 0 || n_neg == 0)
    return NAN;

  /* Regions once: positive pixels' keys tagged with a global region id, negatives' keys apart. */
  uint32_t *pos_key = xmalloc((size_t)n_pos * sizeof *pos_key);
  uint32_t *pos_region = xmalloc((size_t)n_pos * sizeof *pos_region);
  uint32_t *neg_key = xmalloc((size_t)n_neg * sizeof *neg_key);
  int32_t *label = xmalloc((size_t)hw * sizeof *label);
  int32_t *parent = xmalloc((size_t)(hw + 1) * sizeof *parent);
  long *area = NULL;
  long n_regions = 0, ip = 0, in = 0;
  for (int img = 0; img < n; img++) {
    const float *map = maps + img * hw;
    const uint8_t *mask = masks + img * hw;
    int32_t count = label_8connected(label, parent, mask, h, w);
    area = xrealloc(area, (size_t)(n_regions + count + 1) * sizeof *area);
    for (int32_t r = 0; r < count; r++)
      area[n_regions + r] = 0;
    for (long i = 0; i < hw; i++) {
      if (label[i]) {
        long r = n_regions + label[i] - 1;
        area[r]++;
        pos_key[ip] = float_key(map[i]);
        pos_region[ip++] = (uint32_t)r;
      } else {
        neg_key[in++] = float_key(map[i]);
      }
    }
    n_regions += count;
  }
  free(label);
  free(parent);

  /* Sort by score, then a stable counting sort by region: each region's scores end up as one
   * ascending segment starting at start[r]. */
  radix_sort_u32(pos_key, pos_region, n_pos);
  radix_sort_u32(neg_key, NULL, n_neg);
  long *start = xmalloc((size_t)(n_regions + 1) * sizeof *start);
  long *fill = xmalloc((size_t)n_regions * sizeof *fill);
  start[0] = 0;
  for (long r = 0; r < n_regions; r++) {
    start[r + 1] = start[r] + area[r];
    fill[r] = start[r];
  }
  float *region_scores = xmalloc((size_t)n_pos * sizeof *region_scores);
  for (long i = 0; i < n_pos; i++)
    region_scores[fill[pos_region[i]]++] = key_float(pos_key[i]);
  free(fill);
  free(pos_key);
  free(pos_region);
  float *neg_scores = (float *)neg_key; /* decoded in place: same size */
  for (long i = 0; i < n_neg; i++)
    neg_scores[i] = key_float(neg_key[i]);

  /* Thresholds exactly as np.arange(min, max, delta): length ceil((max-min)/delta), element 1 is
   * min + delta and element i >= 2 is min + i * ((min + delta) - min) (numpy's fill). */
  double result = NAN;
  double delta = (hi - lo) / 200.0;
  long n_th = delta > 0.0 ? (long)ceil((hi - lo) / delta) : 0;
  const double lin_step = (hi - lo) / 299.0;
  if (hetmm)
    n_th = 300;
  double step = (lo + delta) - lo;
  double *fprs = xmalloc((size_t)(n_th > 0 ? n_th : 1) * sizeof *fprs);
  double *pros = xmalloc((size_t)(n_th > 0 ? n_th : 1) * sizeof *pros);
  long kept = 0;
  for (long t = 0; t < n_th; t++) {
    double th = t == 0 ? lo : t == 1 ? lo + delta : lo + (double)t * step;
    if (hetmm) /* np.linspace: arange(300) * step + start, the last one set to stop */
      th = t == n_th - 1 ? hi : (double)t * lin_step + lo;
    double pro_sum = 0.0;
    for (long r = 0; r < n_regions; r++) {
      long a = area[r];
      long above = a - count_le(region_scores + start[r], a, th);
      pro_sum += (double)above / ((double)a + (hetmm ? 1e-5 : 0.0));
    }
    long fp = n_neg - count_le(neg_scores, n_neg, th);
    double fpr = (double)fp / (double)n_neg;
    if (hetmm ? fpr <= 0.3 : fpr < 0.3) { /* expect_fpr: strict in MuSc, inclusive in HETMM */
      fprs[kept] = fpr;
      pros[kept] = pro_sum / (double)n_regions;
      kept++;
    }
  }

  /* Rescale the kept FPRs by their own min and max; sklearn.metrics.auc: x must be monotone, a
   * decreasing x gives direction -1 so the area is positive. Fewer than 2 points: the reference
   * raises, ancd gives NaN. */
  if (kept >= 2) {
    double fmin = fprs[0], fmax = fprs[0];
    for (long k = 1; k < kept; k++) {
      fmin = fmin < fprs[k] ? fmin : fprs[k];
      fmax = fmax > fprs[k] ? fmax : fprs[k];
    }
    for (long k = 0; k < kept; k++)
      fprs[k] = (fprs[k] - fmin) / (fmax - fmin + (hetmm ? 1e-5 : 0.0));
    if (hetmm) { /* HETMM also stretches the PRO values (§B.8 step 4) */
      double pmin = pros[0], pmax = pros[0];
      for (long k = 1; k < kept; k++) {
        pmin = pmin < pros[k] ? pmin : pros[k];
        pmax = pmax > pros[k] ? pmax : pros[k];
      }
      for (long k = 0; k < kept; k++)
        pros[k] = (pros[k] - pmin) / (pmax - pmin + 1e-5);
    }
    int any_down = 0, any_up = 0;
    for (long k = 1; k < kept; k++) {
      any_down |= fprs[k] - fprs[k - 1] < 0.0;
      any_up |= fprs[k] - fprs[k - 1] > 0.0;
    }
    if (!(any_down && any_up)) {
      double direction = any_down ? -1.0 : 1.0, area_sum = 0.0;
      for (long k = 1; k < kept; k++)
        area_sum += (fprs[k] - fprs[k - 1]) * (pros[k] + pros[k - 1]) / 2.0;
      result = direction * area_sum;
    }
  }
  free(fprs);
  free(pros);
  free(region_scores);
  free(neg_key);
  free(start);
  free(area);
  return result;
}

double metric_aupro(const float *maps, const uint8_t *masks, int n, int h, int w) {
  return pro_area(maps, masks, n, h, w, 0);
}

double metric_pro_hetmm(const float *maps, const uint8_t *masks, int n, int h, int w) {
  return pro_area(maps, masks, n, h, w, 1);
}

void ad_metrics_compute(ad_metrics *m, const float *scores, const uint8_t *labels,
                        const float *maps, const uint8_t *masks, int n, int h, int w) {
  ranking_metrics(&m->auroc_cls, &m->ap_cls, &m->f1max_cls, scores, labels, n);
  m->auroc_px = m->ap_px = m->f1max_px = m->aupro = NAN;
  if (!maps || !masks)
    return;
  long total = (long)n * h * w, n_pos = 0;
  for (long i = 0; i < total; i++)
    n_pos += masks[i] != 0;
  if (n_pos == 0)
    return; /* §A.8: the reference writes 0; ancd says undefined */
  ranking_metrics(&m->auroc_px, &m->ap_px, &m->f1max_px, maps, masks, total);
  m->aupro = metric_aupro(maps, masks, n, h, w);
}
