/* MEBin, anomalyncd_spec §2.
 *
 * The reference thresholds, erodes and labels the whole map 64 times. Here the sweep is one pass:
 * normalisation is monotone in the 8-bit value, so "n(v) > s_k" is "v > T_k" for an integer T_k;
 * erosion is a min filter, and thresholding commutes with it (erode(v > T) == min(v) > T), so the
 * map is min-filtered once; as the threshold drops, pixels only join the foreground and components
 * only merge, so adding pixels in decreasing order of the filtered value to a union-find gives the
 * component count at every threshold. The counts and the mask are identical to the reference's
 * (tests/test_mebin.c checks against the straightforward sweep). */
#include "mebin.h"

#include <string.h>

#include "error.h"

/* §2.1 */
void mebin_search_range(int *min, int *max, const uint8_t *maxima, int n) {
  int lo = 0, hi = 0;
  for (int i = 0; i < n; i++) {
    if (i == 0 || maxima[i] < lo)
      lo = maxima[i];
    if (i == 0 || maxima[i] > hi)
      hi = maxima[i];
  }
  *min = lo;
  *max = hi;
}

/* Min over the window [x - k/2, x - k/2 + k - 1] of each row, clipped to the image (cv2's anchor
 * and +inf border). */
static void min_rows(uint8_t *out, const uint8_t *in, int h, int w, int k) {
  int before = k / 2, after = k - 1 - k / 2;
  for (int y = 0; y < h; y++) {
    const uint8_t *row = in + (size_t)y * w;
    uint8_t *dst = out + (size_t)y * w;
    for (int x = 0; x < w; x++) {
      int x0 = x - before < 0 ? 0 : x - before;
      int x1 = x + after > w - 1 ? w - 1 : x + after;
      uint8_t m = row[x0];
      for (int i = x0 + 1; i <= x1; i++)
        m = row[i] < m ? row[i] : m;
      dst[x] = m;
    }
  }
}

/* The same down the columns, row by row so the inner loop runs along memory. */
static void min_cols(uint8_t *out, const uint8_t *in, int h, int w, int k) {
  int before = k / 2, after = k - 1 - k / 2;
  for (int y = 0; y < h; y++) {
    int y0 = y - before < 0 ? 0 : y - before;
    int y1 = y + after > h - 1 ? h - 1 : y + after;
    uint8_t *dst = out + (size_t)y * w;
    memcpy(dst, in + (size_t)y0 * w, (size_t)w);
    for (int j = y0 + 1; j <= y1; j++) {
      const uint8_t *src = in + (size_t)j * w;
      for (int x = 0; x < w; x++)
        dst[x] = src[x] < dst[x] ? src[x] : dst[x];
    }
  }
}

/* Separable: a k x k box minimum is a row minimum then a column minimum. tmp: h*w bytes. */
static void erode_with(uint8_t *out, uint8_t *tmp, const uint8_t *in, int h, int w, int k) {
  if (k <= 1) {
    if (out != in)
      memmove(out, in, (size_t)h * w);
    return;
  }
  min_rows(tmp, in, h, w, k);
  min_cols(out, tmp, h, w, k);
}

void erode_ocv(uint8_t *out, const uint8_t *in, int h, int w, int k) {
  if (h <= 0 || w <= 0)
    return;
  uint8_t *tmp = xmalloc((size_t)h * w);
  erode_with(out, tmp, in, h, w, k);
  free(tmp);
}

/* Union-find over pixel indices; parent[i] < 0 marks a pixel not (yet) in the foreground. */
static int uf_find(int *parent, int i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]]; /* path halving */
    i = parent[i];
  }
  return i;
}

/* Returns 1 when a and b were in different sets (now joined). */
static int uf_union(int *parent, int a, int b) {
  int ra = uf_find(parent, a), rb = uf_find(parent, b);
  if (ra == rb)
    return 0;
  if (ra < rb)
    parent[rb] = ra;
  else
    parent[ra] = rb;
  return 1;
}

/* Raster union-find with the 4 already-visited 8-neighbours (left, up-left, up, up-right).
 * Returns the number of components; parent[] holds the forest. */
static int union_find8(int *parent, const uint8_t *mask, int h, int w) {
  int n = 0;
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      int i = y * w + x;
      if (!mask[i]) {
        parent[i] = -1;
        continue;
      }
      parent[i] = i;
      n++;
      if (x > 0 && mask[i - 1])
        n -= uf_union(parent, i, i - 1);
      if (y > 0) {
        int up = i - w;
        if (x > 0 && mask[up - 1])
          n -= uf_union(parent, i, up - 1);
        if (mask[up])
          n -= uf_union(parent, i, up);
        if (x < w - 1 && mask[up + 1])
          n -= uf_union(parent, i, up + 1);
      }
    }
  }
  return n;
}

int count_components8(int *labels, const uint8_t *mask, int h, int w) {
  return union_find8(labels, mask, h, w);
}

int label_components8(int *labels, const uint8_t *mask, int h, int w) {
  int n = union_find8(labels, mask, h, w), hw = h * w;
  for (int i = 0; i < hw; i++)
    if (labels[i] >= 0)
      labels[i] = uf_find(labels, i);
  /* A root is the smallest index of its set (union keeps the smaller root), so a raster pass
   * meets it first: it takes the next label, encoded as -2 - label apart from pixel indices, and
   * the rest of its component copies that code. */
  int next = 0;
  for (int i = 0; i < hw; i++) {
    if (labels[i] == i)
      labels[i] = -2 - next++;
    else if (labels[i] >= 0)
      labels[i] = labels[labels[i]];
  }
  for (int i = 0; i < hw; i++)
    if (labels[i] <= -2)
      labels[i] = -2 - labels[i];
  if (next != n)
    ANCD_FATAL("label_components8: %d labels for %d components", next, n);
  return n;
}

/* §2.4. Runs are maximal runs of equal counts; a run qualifies when its count is non-zero and it
 * is at least min_len long. est = the count whose longest qualifying run (b - a) is longest, ties
 * to the count whose first qualifying run comes first (Python dict order under max); k* = end of
 * est's longest run, ties to the last (stable sort, then [-1]). */
int mebin_select_run(int *est, const int *counts, int n, int min_len) {
  int run_start[MEBIN_MAX_STEPS], run_end[MEBIN_MAX_STEPS], n_runs = 0;
  for (int a = 0; a < n;) {
    int b = a;
    while (b + 1 < n && counts[b + 1] == counts[a])
      b++;
    if (counts[a] != 0 && b - a + 1 >= min_len && n_runs < MEBIN_MAX_STEPS) {
      run_start[n_runs] = a;
      run_end[n_runs] = b;
      n_runs++;
    }
    a = b + 1;
  }
  *est = 0;
  if (n_runs == 0)
    return -1;
  /* Counts in order of their first qualifying run; the first strictly longest wins. */
  int best_count = 0, best_len = -1;
  for (int i = 0; i < n_runs; i++) {
    int q = counts[run_start[i]], seen = 0, len = -1;
    for (int j = 0; j < i && !seen; j++)
      seen = counts[run_start[j]] == q;
    if (seen)
      continue;
    for (int j = i; j < n_runs; j++)
      if (counts[run_start[j]] == q && run_end[j] - run_start[j] > len)
        len = run_end[j] - run_start[j];
    if (len > best_len) {
      best_len = len;
      best_count = q;
    }
  }
  int k_star = -1;
  for (int i = 0; i < n_runs; i++)
    if (counts[run_start[i]] == best_count && run_end[i] - run_start[i] == best_len)
      k_star = run_end[i]; /* the last of the longest */
  *est = best_count;
  return k_star;
}

/* Scratch layout: parent[hw] int, order[hw] int, filtered[hw] u8, tmp[hw] u8. */
size_t mebin_scratch_bytes(int h, int w) {
  size_t hw = (size_t)h * (size_t)w;
  return hw * (2 * sizeof(int) + 2);
}

/* Component counts of (filtered > thresholds[k]) for k = 0..n_steps-1, thresholds non-increasing:
 * pixels are added in decreasing order of their filtered value (counting sort) and joined with
 * their active 8-neighbours. */
static void sweep_counts(int *counts, int *parent, int *order, const uint8_t *filtered,
                         const int *thresholds, int n_steps, int h, int w) {
  int hw = h * w, start[257] = {0};
  for (int i = 0; i < hw; i++)
    start[255 - filtered[i] + 1]++;
  for (int v = 0; v < 256; v++)
    start[v + 1] += start[v]; /* start[255 - value]: first slot of that value, highest first */
  for (int i = 0; i < hw; i++)
    order[start[255 - filtered[i]]++] = i;
  for (int i = 0; i < hw; i++)
    parent[i] = -1;
  int n = 0, next = 0;
  for (int k = 0; k < n_steps; k++) {
    for (; next < hw && filtered[order[next]] > thresholds[k]; next++) {
      int i = order[next], y = i / w, x = i % w;
      parent[i] = i;
      n++;
      for (int dy = -1; dy <= 1; dy++) {
        if (y + dy < 0 || y + dy >= h)
          continue;
        for (int dx = -1; dx <= 1; dx++) {
          if ((dx == 0 && dy == 0) || x + dx < 0 || x + dx >= w)
            continue;
          int j = i + dy * w + dx;
          if (parent[j] >= 0)
            n -= uf_union(parent, i, j);
        }
      }
    }
    counts[k] = n;
  }
}

double mebin_normalise(int v, int min, int max) {
  if (v < min)
    return 0.0;
  if (max == min) /* the reference divides by zero */
    return 255.0;
  return ((double)(v - min) / (double)(max - min)) * 255.0;
}

void mebin_normalise_map(float *out, const uint8_t *map, size_t n, int min, int max) {
  float norm[256]; /* as float32, the type PIL's mode "F" stores */
  for (int v = 0; v < 256; v++)
    norm[v] = (float)mebin_normalise(v, min, max);
  for (size_t k = 0; k < n; k++)
    out[k] = norm[map[k]];
}

/* §2.2-§2.4 */
void mebin_binarize(uint8_t *mask, mebin_result *res, void *scratch, const uint8_t *map, int h,
                    int w, int min, int max, int sample_rate, int min_interval_len,
                    int erode_kernel) {
  size_t hw = (size_t)h * (size_t)w;
  int *parent = scratch, *order = parent + hw;
  uint8_t *filtered = (uint8_t *)(order + hw), *tmp = filtered + hw;
  if (sample_rate < 1)
    ANCD_FATAL("mebin_binarize: sample_rate %d < 1", sample_rate);
  memset(res, 0, sizeof *res);
  /* s_k = 255 - rate*k while s_k > 0: range(255, 0, -rate). */
  res->n_steps = (255 + sample_rate - 1) / sample_rate;
  erode_with(filtered, tmp, map, h, w, erode_kernel);

  /* n(v) = mebin_normalise(v). MAX == MIN: v >= MIN normalises to 255, so the sweep counts
   * erode(v >= MIN) at every step but the first (255 > 255 fails). n is monotone in v, so the
   * mask n(v) > s is v > T with T the largest value whose n(v) <= s (-1 when none). */
  res->degenerate = max == min;
  double norm[256];
  for (int v = 0; v < 256; v++)
    norm[v] = mebin_normalise(v, min, max);
  int thresholds[MEBIN_MAX_STEPS];
  for (int k = 0; k < res->n_steps; k++) {
    double s = 255 - sample_rate * k;
    int t = -1;
    for (int v = 0; v < 256; v++)
      if (!(norm[v] > s))
        t = v;
    thresholds[k] = t;
  }
  sweep_counts(res->counts, parent, order, filtered, thresholds, res->n_steps, h, w);

  int k_star = mebin_select_run(&res->est, res->counts, res->n_steps, min_interval_len);
  if (k_star < 0) {
    res->threshold = 255; /* v > 255 never holds: no region */
  } else if (res->degenerate) {
    res->threshold = min - 1; /* every pixel >= MIN is foreground (ancd's fix, documented) */
  } else {
    /* Integer product (the reference's NumPy 1.x int64, not NumPy 2's wrapping uint8), double
     * division, truncation. */
    int t_norm = 255 - sample_rate * k_star;
    res->threshold = (int)((double)(t_norm * (max - min)) / 255.0 + (double)min);
  }
  for (size_t i = 0; i < hw; i++)
    mask[i] = filtered[i] > res->threshold ? 255 : 0;
}
