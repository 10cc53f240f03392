/* MEBin (anomalyncd_spec §2): erosion with cv2's anchor and border (patterns checked against
 * cv2.erode), 8-connected counts, the §2.4 run selection on crafted count sequences, the t_raw
 * arithmetic, the degenerate MAX == MIN range, and the one-pass sweep against the straightforward
 * one (threshold, erode and label the full map at every step) on random maps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mebin.h"
#include "test_util.h"

static uint32_t rng_state = 12345u;
static uint32_t rng_next(void) { /* xorshift32 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}
static int rng_int(int lo, int hi) { return lo + (int)(rng_next() % (uint32_t)(hi - lo + 1)); }

static void fill_rect(uint8_t *m, int w, int x0, int y0, int x1, int y1, uint8_t v) {
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++)
      m[y * w + x] = v;
}

/* Foreground pixels of m inside [x0..x1] x [y0..y1] and outside it. */
static void count_in_out(int *in, int *out, const uint8_t *m, int h, int w, int x0, int y0, int x1,
                         int y1) {
  *in = *out = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (m[y * w + x]) {
        if (x >= x0 && x <= x1 && y >= y0 && y <= y1)
          (*in)++;
        else
          (*out)++;
      }
}

/* Brute-force k x k minimum over the in-image part of [x - k/2, x - k/2 + k - 1]. */
static void erode_brute(uint8_t *out, const uint8_t *in, int h, int w, int k) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int m = 255;
      for (int dy = 0; dy < k; dy++)
        for (int dx = 0; dx < k; dx++) {
          int yy = y - k / 2 + dy, xx = x - k / 2 + dx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w && in[yy * w + xx] < m)
            m = in[yy * w + xx];
        }
      out[y * w + x] = (uint8_t)(k <= 1 ? in[y * w + x] : m);
    }
}

static void test_search_range(void) {
  uint8_t maxima[] = {120, 37, 255, 90};
  int lo, hi;
  mebin_search_range(&lo, &hi, maxima, 4);
  CHECK(lo == 37 && hi == 255, "range %d..%d", lo, hi);
  mebin_search_range(&lo, &hi, maxima, 1);
  CHECK(lo == 120 && hi == 120, "range %d..%d", lo, hi);
}

static void test_erode(void) {
  enum { H = 10, W = 10 };
  uint8_t in[H * W], out[H * W];
  int n_in, n_out;
  /* cv2.erode(ones 6x6) of a block at rows/cols 4..9 keeps rows/cols 7..9 (checked with cv2). */
  memset(in, 0, sizeof in);
  fill_rect(in, W, 4, 4, 9, 9, 255);
  erode_ocv(out, in, H, W, 6);
  count_in_out(&n_in, &n_out, out, H, W, 7, 7, 9, 9);
  CHECK(n_in == 9 && n_out == 0, "bottom-right block: %d in, %d out", n_in, n_out);
  /* A single zero at (5, 5) clears columns and rows 3..8 (the window x-3..x+2). */
  memset(in, 255, sizeof in);
  in[5 * W + 5] = 0;
  erode_ocv(out, in, H, W, 6);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int hole = x >= 3 && x <= 8 && y >= 3 && y <= 8;
      CHECK(out[y * W + x] == (hole ? 0 : 255), "(%d,%d) = %d", x, y, out[y * W + x]);
    }
  /* All foreground: the edge never erodes. */
  memset(in, 255, sizeof in);
  erode_ocv(out, in, H, W, 6);
  count_in_out(&n_in, &n_out, out, H, W, 0, 0, W - 1, H - 1);
  CHECK(n_in == H * W, "full image eroded to %d pixels", n_in);
  /* A 1-pixel line on each edge vanishes. */
  memset(in, 0, sizeof in);
  fill_rect(in, W, 0, 0, 0, H - 1, 255);
  fill_rect(in, W, W - 1, 0, W - 1, H - 1, 255);
  fill_rect(in, W, 0, 0, W - 1, 0, 255);
  fill_rect(in, W, 0, H - 1, W - 1, H - 1, 255);
  erode_ocv(out, in, H, W, 6);
  count_in_out(&n_in, &n_out, out, H, W, 0, 0, W - 1, H - 1);
  CHECK(n_in == 0, "edge lines left %d pixels", n_in);
  /* Asymmetric window: a band of width 3 survives (one column) on the left edge, where the window
   * is x-3..x+2 clipped to 0..2, but not on the right, where 7..9 needs columns x-3 >= 7. Width 4
   * on the right keeps column 9. */
  memset(in, 0, sizeof in);
  fill_rect(in, W, 0, 0, 2, H - 1, 255);
  erode_ocv(out, in, H, W, 6);
  count_in_out(&n_in, &n_out, out, H, W, 0, 0, 0, H - 1);
  CHECK(n_in == H && n_out == 0, "left band: %d in, %d out", n_in, n_out);
  memset(in, 0, sizeof in);
  fill_rect(in, W, 7, 0, 9, H - 1, 255);
  erode_ocv(out, in, H, W, 6);
  count_in_out(&n_in, &n_out, out, H, W, 0, 0, W - 1, H - 1);
  CHECK(n_in == 0, "right band of 3 left %d pixels", n_in);
  fill_rect(in, W, 6, 0, 9, H - 1, 255);
  erode_ocv(out, in, H, W, 6);
  count_in_out(&n_in, &n_out, out, H, W, 9, 0, 9, H - 1);
  CHECK(n_in == H && n_out == 0, "right band of 4: %d in, %d out", n_in, n_out);
  /* Horizontal bands: the same on rows (top 3 keeps row 0, bottom 3 vanishes). */
  memset(in, 0, sizeof in);
  fill_rect(in, W, 0, 0, W - 1, 2, 255);
  fill_rect(in, W, 0, 7, W - 1, 9, 255);
  erode_ocv(out, in, H, W, 6);
  count_in_out(&n_in, &n_out, out, H, W, 0, 0, W - 1, 0);
  CHECK(n_in == W && n_out == 0, "top/bottom bands: %d in, %d out", n_in, n_out);

  enum { B = 20 };
  uint8_t big[B * B], bout[B * B];
  /* A 6x6 block in the top-left corner keeps 4x4, in the bottom-right corner 3x3. */
  memset(big, 0, sizeof big);
  fill_rect(big, B, 0, 0, 5, 5, 255);
  fill_rect(big, B, 14, 14, 19, 19, 255);
  erode_ocv(bout, big, B, B, 6);
  count_in_out(&n_in, &n_out, bout, B, B, 0, 0, 3, 3);
  CHECK(n_in == 16 && n_out == 9, "corner blocks: %d in top-left, %d elsewhere", n_in, n_out);
  count_in_out(&n_in, &n_out, bout, B, B, 17, 17, 19, 19);
  CHECK(n_in == 9 && n_out == 16, "corner blocks: %d in bottom-right", n_in);
  /* Interior: a 5x5 block vanishes; a 6x6 block at 5..10 leaves exactly (8, 8). */
  memset(big, 0, sizeof big);
  fill_rect(big, B, 2, 2, 6, 6, 255);
  erode_ocv(bout, big, B, B, 6);
  count_in_out(&n_in, &n_out, bout, B, B, 0, 0, B - 1, B - 1);
  CHECK(n_in == 0, "interior 5x5 left %d pixels", n_in);
  memset(big, 0, sizeof big);
  fill_rect(big, B, 5, 5, 10, 10, 255);
  erode_ocv(bout, big, B, B, 6);
  count_in_out(&n_in, &n_out, bout, B, B, 8, 8, 8, 8);
  CHECK(n_in == 1 && n_out == 0, "interior 6x6: %d at (8,8), %d elsewhere", n_in, n_out);
  /* In place. */
  erode_ocv(big, big, B, B, 6);
  CHECK(memcmp(big, bout, sizeof big) == 0, "in-place erosion differs");

  /* Grey values and odd and even kernels against a brute-force window minimum. */
  for (int k = 0; k <= 7; k++) {
    int h = rng_int(1, 17), w = rng_int(1, 17);
    uint8_t *a = malloc((size_t)h * w), *e1 = malloc((size_t)h * w), *e2 = malloc((size_t)h * w);
    for (int i = 0; i < h * w; i++)
      a[i] = (uint8_t)rng_int(0, 255);
    erode_ocv(e1, a, h, w, k);
    erode_brute(e2, a, h, w, k);
    CHECK(memcmp(e1, e2, (size_t)h * w) == 0, "k=%d %dx%d: erode differs from brute force", k, h,
          w);
    free(a);
    free(e1);
    free(e2);
  }
}

static void test_components(void) {
  int labels[64];
  /* Diagonal neighbours are one component; a one-pixel gap separates. */
  uint8_t diag[16] = {255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255};
  CHECK(count_components8(labels, diag, 4, 4) == 1, "diagonal line is one component");
  uint8_t gap[16] = {255, 0, 255, 0, 0, 0, 0, 0, 255, 0, 255, 0, 0, 0, 0, 0};
  CHECK(count_components8(labels, gap, 4, 4) == 4, "four isolated pixels");
  /* A "W": arms that meet only at the bottom row (labels merge late in the raster scan). */
  uint8_t wshape[5 * 5] = {255, 0,   255, 0, 255, 255, 0,   255, 0, 255, 255, 0, 255,
                           0,   255, 255, 0, 255, 0,   255, 0,   1, 0,   1,   0};
  CHECK(count_components8(labels, wshape, 5, 5) == 1, "W shape is one component");
  /* The anti-diagonal touch (up-right neighbour). */
  uint8_t anti[9] = {0, 0, 7, 0, 7, 0, 7, 0, 0};
  CHECK(count_components8(labels, anti, 3, 3) == 1, "anti-diagonal is one component");
  /* Labels are numbered in raster order of each component's first pixel. */
  uint8_t two[12] = {0, 0, 0, 9, 9, 0, 0, 9, 0, 0, 0, 9};
  int n = label_components8(labels, two, 3, 4);
  CHECK(n == 2, "two components, got %d", n);
  CHECK(labels[3] == 0 && labels[7] == 0 && labels[11] == 0, "first component label 0");
  CHECK(labels[4] == 1 && labels[0] == -1, "second component label 1, background -1");
  uint8_t empty[12] = {0};
  CHECK(count_components8(labels, empty, 3, 4) == 0, "empty mask");
}

static void test_select_run(void) {
  int est, k;
  int zeros[64] = {0};
  k = mebin_select_run(&est, zeros, 64, 4);
  CHECK(k == -1 && est == 0, "all zero: k=%d est=%d", k, est);
  /* No run reaches 4. */
  int short_runs[] = {3, 3, 3, 0, 0, 2, 2, 2, 5, 5, 5, 0};
  k = mebin_select_run(&est, short_runs, 12, 4);
  CHECK(k == -1 && est == 0, "no qualifying run: k=%d est=%d", k, est);
  /* A run of exactly min_len qualifies; long zero runs never do. */
  int exact[] = {0, 0, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  k = mebin_select_run(&est, exact, 15, 4);
  CHECK(k == 5 && est == 5, "exact min_len: k=%d est=%d", k, est);
  /* The longest run wins. */
  int longest[] = {1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1};
  k = mebin_select_run(&est, longest, 16, 4);
  CHECK(k == 10 && est == 2, "longest: k=%d est=%d", k, est);
  /* Tie between values: each value's longest is 5 (b - a); value 2 qualified first. */
  int tie_values[] = {2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 0};
  k = mebin_select_run(&est, tie_values, 17, 4);
  CHECK(k == 15 && est == 2, "tie between values: k=%d est=%d", k, est);
  /* The first non-qualifying run of 1 does not count for the order: 3 qualified first. */
  int first_qualifying[] = {1, 1, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1};
  k = mebin_select_run(&est, first_qualifying, 12, 4);
  CHECK(k == 6 && est == 3, "first qualifying run decides: k=%d est=%d", k, est);
  /* Tie between runs of one value: the last one. */
  int tie_runs[] = {4, 4, 4, 4, 4, 0, 4, 4, 4, 4, 4, 0, 4, 4, 4, 4};
  k = mebin_select_run(&est, tie_runs, 16, 4);
  CHECK(k == 10 && est == 4, "tie between runs: k=%d est=%d", k, est);
  /* A value's longest run decides even when a shorter run of it comes first. */
  int later_longer[] = {6, 6, 6, 6, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6};
  k = mebin_select_run(&est, later_longer, 15, 4);
  CHECK(k == 14 && est == 6, "later longer run: k=%d est=%d", k, est);
  /* A run reaching the end of the sequence; min_len 1 makes single steps qualify. */
  int tail[] = {0, 1, 2, 2, 2, 2, 2};
  k = mebin_select_run(&est, tail, 7, 4);
  CHECK(k == 6 && est == 2, "run to the end: k=%d est=%d", k, est);
  int singles[] = {0, 3, 0, 4, 0};
  k = mebin_select_run(&est, singles, 5, 1);
  CHECK(k == 1 && est == 3, "min_len 1: k=%d est=%d", k, est);
}

/* The smallest 8-bit value whose normalisation exceeds s (the reference's n(v) > s). */
static double normalise(int v, int lo, int hi) {
  return v < lo ? 0.0 : ((double)(v - lo) / (double)(hi - lo)) * 255.0;
}
static int first_value_above(double s, int lo, int hi) {
  for (int v = 0; v < 256; v++)
    if (normalise(v, lo, hi) > s)
      return v;
  return -1;
}

/* MIN = 20, MAX = 220, k* = 10: t_norm = 215, t_raw = trunc(215 * 200 / 255 + 20) = 188. Blob A
 * (255) is present from the first step; six more blobs appear every 10 steps from k = 11, so the
 * counts are 1 (k 0..10), 2, 3, 4, 5, 6 (10 steps each) and 7 (3 steps): count 1 has the longest
 * run. */
static void test_threshold_arithmetic(void) {
  enum { H = 10, W = 70, LO = 20, HI = 220 };
  uint8_t map[H * W], mask[H * W], want[H * W];
  memset(map, 0, sizeof map);
  fill_rect(map, W, 1, 1, 7, 7, 255);
  for (int j = 1; j <= 6; j++) {
    int k_appear = 11 + 10 * (j - 1);
    int v = first_value_above(255 - 4 * k_appear, LO, HI);
    CHECK(!(normalise(v, LO, HI) > 255 - 4 * (k_appear - 1)), "blob %d appears too early", j);
    fill_rect(map, W, 1 + 10 * j, 1, 7 + 10 * j, 7, (uint8_t)v);
  }
  void *scratch = malloc(mebin_scratch_bytes(H, W));
  mebin_result res;
  mebin_binarize(mask, &res, scratch, map, H, W, LO, HI, 4, 4, 6);
  CHECK(res.n_steps == 64, "n_steps %d", res.n_steps);
  for (int k = 0; k < 64; k++) {
    int want_count = k <= 10 ? 1 : k >= 61 ? 7 : 2 + (k - 11) / 10;
    CHECK(res.counts[k] == want_count, "count[%d] = %d, want %d", k, res.counts[k], want_count);
  }
  CHECK(res.est == 1 && res.threshold == 188, "est %d threshold %d", res.est, res.threshold);
  CHECK(!res.degenerate, "not degenerate");
  for (int i = 0; i < H * W; i++)
    want[i] = map[i] > 188 ? 255 : 0;
  erode_ocv(want, want, H, W, 6);
  CHECK(memcmp(mask, want, sizeof mask) == 0, "mask != erode(map > 188)");
  int n_in, n_out;
  count_in_out(&n_in, &n_out, mask, H, W, 4, 4, 5, 5);
  CHECK(n_in == 4 && n_out == 0, "mask: %d in blob A's eroded core, %d elsewhere", n_in, n_out);

  /* No run: an all-zero map. */
  memset(map, 0, sizeof map);
  memset(mask, 7, sizeof mask);
  mebin_binarize(mask, &res, scratch, map, H, W, LO, HI, 4, 4, 6);
  count_in_out(&n_in, &n_out, mask, H, W, 0, 0, W - 1, H - 1);
  CHECK(res.threshold == 255 && res.est == 0 && n_in == 0, "no region: t %d est %d, %d pixels",
        res.threshold, res.est, n_in);

  /* Degenerate MAX == MIN = 100: v >= 100 normalises to 255 (two 7x7 blobs, one exactly at MIN),
   * so the counts are 0 at s = 255 and 2 after; the threshold is MIN - 1 so that
   * mask = erode(map > threshold) = erode(map >= MIN). */
  memset(map, 50, sizeof map);
  fill_rect(map, W, 1, 1, 7, 7, 100);
  fill_rect(map, W, 20, 2, 26, 8, 150);
  map[5 * W + 40] = 200; /* a single pixel: eroded away */
  mebin_binarize(mask, &res, scratch, map, H, W, 100, 100, 4, 4, 6);
  CHECK(res.degenerate && res.est == 2 && res.threshold == 99, "degenerate: %d est %d t %d",
        res.degenerate, res.est, res.threshold);
  for (int k = 0; k < res.n_steps; k++)
    CHECK(res.counts[k] == (k == 0 ? 0 : 2), "degenerate count[%d] = %d", k, res.counts[k]);
  for (int i = 0; i < H * W; i++)
    want[i] = map[i] >= 100 ? 255 : 0;
  erode_ocv(want, want, H, W, 6);
  CHECK(memcmp(mask, want, sizeof mask) == 0, "degenerate mask != erode(map >= MIN)");
  /* Degenerate with nothing left after erosion: no region. */
  memset(map, 50, sizeof map);
  map[5 * W + 40] = 100;
  mebin_binarize(mask, &res, scratch, map, H, W, 100, 100, 4, 4, 6);
  CHECK(res.degenerate && res.est == 0 && res.threshold == 255, "degenerate empty: est %d t %d",
        res.est, res.threshold);
  /* Degenerate at MIN = MAX = 0 (all-zero maps): every pixel is foreground, threshold -1. */
  memset(map, 0, sizeof map);
  mebin_binarize(mask, &res, scratch, map, H, W, 0, 0, 4, 4, 6);
  count_in_out(&n_in, &n_out, mask, H, W, 0, 0, W - 1, H - 1);
  CHECK(res.degenerate && res.est == 1 && res.threshold == -1 && n_in == H * W,
        "degenerate at 0: est %d t %d, %d pixels", res.est, res.threshold, n_in);
  /* Degenerate with a coarse sweep (255, 127): one non-zero step is no run of 4. */
  mebin_binarize(mask, &res, scratch, map, H, W, 0, 0, 128, 4, 6);
  CHECK(res.n_steps == 2 && res.est == 0 && res.threshold == 255, "coarse: %d steps est %d t %d",
        res.n_steps, res.est, res.threshold);
  free(scratch);
}

/* A random map: smoothed noise plus blobs of random values. */
static void random_map(uint8_t *map, int h, int w) {
  int base = rng_int(0, 120), amp = rng_int(0, 135), smooth = rng_int(0, 3);
  int *noise = malloc((size_t)h * w * sizeof *noise);
  for (int i = 0; i < h * w; i++)
    noise[i] = rng_int(0, amp);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int sum = 0, n = 0;
      for (int dy = -smooth; dy <= smooth; dy++)
        for (int dx = -smooth; dx <= smooth; dx++) {
          int yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
            sum += noise[yy * w + xx];
            n++;
          }
        }
      map[y * w + x] = (uint8_t)(base + sum / n);
    }
  free(noise);
  int n_blobs = rng_int(0, 8);
  for (int b = 0; b < n_blobs; b++) {
    int bw = rng_int(2, w / 2 > 2 ? w / 2 : 2), bh = rng_int(2, h / 2 > 2 ? h / 2 : 2);
    int x0 = rng_int(0, w - 1), y0 = rng_int(0, h - 1), v = rng_int(100, 255);
    int x1 = x0 + bw - 1 < w ? x0 + bw - 1 : w - 1, y1 = y0 + bh - 1 < h ? y0 + bh - 1 : h - 1;
    for (int y = y0; y <= y1; y++)
      for (int x = x0; x <= x1; x++) {
        int val = v - rng_int(0, 30); /* a ragged plateau */
        if (val > map[y * w + x])
          map[y * w + x] = (uint8_t)val;
      }
  }
}

/* The reference's loop: at every step threshold the normalised map, erode, label. */
static void straightforward(int *counts, int *k_star, int *est, int *threshold, uint8_t *mask,
                            const uint8_t *map, int h, int w, int lo, int hi, int rate, int min_len,
                            int kernel) {
  int hw = h * w, n_steps = 0;
  uint8_t *b = malloc((size_t)hw);
  int *labels = malloc((size_t)hw * sizeof *labels);
  for (int s = 255; s > 0; s -= rate, n_steps++) {
    for (int i = 0; i < hw; i++)
      b[i] = normalise(map[i], lo, hi) > s ? 255 : 0;
    erode_ocv(b, b, h, w, kernel);
    counts[n_steps] = count_components8(labels, b, h, w);
  }
  *k_star = mebin_select_run(est, counts, n_steps, min_len);
  *threshold = *k_star < 0 ? 255 : (int)((double)((255 - rate * *k_star) * (hi - lo)) / 255.0 + lo);
  for (int i = 0; i < hw; i++)
    mask[i] = map[i] > *threshold ? 255 : 0;
  erode_ocv(mask, mask, h, w, kernel);
  free(b);
  free(labels);
}

static void test_fast_equals_straightforward(void) {
  int n_with_region = 0;
  for (int t = 0; t < 50; t++) {
    int h = rng_int(8, 72), w = rng_int(8, 72);
    int rate = t % 5 == 4 ? rng_int(2, 9) : 4, kernel = t % 7 == 6 ? rng_int(1, 5) : 6;
    uint8_t *map = malloc((size_t)h * w), *mask = malloc((size_t)h * w);
    uint8_t *want = malloc((size_t)h * w);
    random_map(map, h, w);
    int map_max = 0;
    for (int i = 0; i < h * w; i++)
      map_max = map[i] > map_max ? map[i] : map_max;
    /* A category range around this map's maximum (sometimes below it, as for the top image). */
    int lo = rng_int(0, map_max > 1 ? map_max - 1 : 0);
    int hi = rng_int(lo + 1, 255);
    void *scratch = malloc(mebin_scratch_bytes(h, w));
    mebin_result res;
    mebin_binarize(mask, &res, scratch, map, h, w, lo, hi, rate, 4, kernel);
    int counts[MEBIN_MAX_STEPS], k_star, est, threshold;
    straightforward(counts, &k_star, &est, &threshold, want, map, h, w, lo, hi, rate, 4, kernel);
    int same_counts = res.n_steps == (255 + rate - 1) / rate;
    for (int k = 0; k < res.n_steps && same_counts; k++)
      same_counts = res.counts[k] == counts[k];
    CHECK(same_counts, "map %d (%dx%d, range %d..%d, rate %d, k %d): counts differ", t, h, w, lo,
          hi, rate, kernel);
    CHECK(res.est == est && res.threshold == threshold, "map %d: est %d/%d threshold %d/%d", t,
          res.est, est, res.threshold, threshold);
    CHECK(memcmp(mask, want, (size_t)h * w) == 0, "map %d: masks differ", t);
    if (k_star >= 0) {
      /* Errata: the final mask equals the eroded sweep mask at k*. */
      n_with_region++;
      for (int i = 0; i < h * w; i++)
        want[i] = normalise(map[i], lo, hi) > 255 - rate * k_star ? 255 : 0;
      erode_ocv(want, want, h, w, kernel);
      CHECK(memcmp(mask, want, (size_t)h * w) == 0, "map %d: mask != sweep mask at k*", t);
    }
    free(scratch);
    free(map);
    free(mask);
    free(want);
  }
  CHECK(n_with_region >= 20, "only %d of 50 random maps had a region", n_with_region);
}

/* §2.2 value by value (mebin_normalise) and over a map as float (mebin_normalise_map). */
static void test_normalise(void) {
  const int ranges[][2] = {{0, 255}, {37, 200}, {254, 255}, {100, 100}, {0, 0}};
  for (int r = 0; r < 5; r++) {
    int lo = ranges[r][0], hi = ranges[r][1], bad = 0;
    uint8_t map[256];
    float out[256];
    for (int v = 0; v < 256; v++)
      map[v] = (uint8_t)v;
    mebin_normalise_map(out, map, 256, lo, hi);
    for (int v = 0; v < 256; v++) {
      double want = lo == hi ? (v < lo ? 0.0 : 255.0) : normalise(v, lo, hi);
      bad += mebin_normalise(v, lo, hi) != want || out[v] != (float)want;
    }
    CHECK(bad == 0, "MIN %d MAX %d: %d values differ", lo, hi, bad);
  }
  /* Divide first, then multiply: (1 / 7) * 255 is 36.42857142857142, 255 / 7 ends in ...43. */
  CHECK(mebin_normalise(1, 0, 7) == 36.42857142857142 && 255.0 / 7.0 != 36.42857142857142, "%.17g",
        mebin_normalise(1, 0, 7));
}

int main(void) {
  test_normalise();
  test_search_range();
  test_erode();
  test_components();
  test_select_run();
  test_threshold_arithmetic();
  test_fast_equals_straightforward();
  return test_done("test_mebin");
}
