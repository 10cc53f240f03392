/* Crop geometry (anomalyncd_spec §3): external regions (a dot inside a ring is ignored, the 8/4
 * connectivity duality), square boxes with the reference's truncations and one-sided shifts,
 * the non-transitive merge of near boxes, the stable area sort, the est + 1 rule, the whole-image
 * fallback and PIL's half-to-even rounding. Expected boxes are worked out by hand from the
 * reference's arithmetic (and agree with running the reference functions). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crops.h"
#include "test_util.h"

static void fill_rect(uint8_t *m, int w, int x0, int y0, int x1, int y1) {
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++)
      m[y * w + x] = 255;
}

/* A one-pixel square outline with corners (x0, y0), (x1, y1). */
static void ring(uint8_t *m, int w, int x0, int y0, int x1, int y1) {
  fill_rect(m, w, x0, y0, x1, y0);
  fill_rect(m, w, x0, y1, x1, y1);
  fill_rect(m, w, x0, y0, x0, y1);
  fill_rect(m, w, x1, y0, x1, y1);
}

static int box_is(const crop_box *b, double l, double u, double r, double d) {
  return b->l == l && b->u == u && b->r == r && b->d == d;
}
#define CHECK_BOX(b, L, U, R, D)                                                                   \
  CHECK(box_is(b, L, U, R, D), "box (%g, %g, %g, %g), want (%g, %g, %g, %g)", (b)->l, (b)->u,      \
        (b)->r, (b)->d, (double)(L), (double)(U), (double)(R), (double)(D))

static int region_is(const crop_region *r, int x, int y, int w, int h) {
  return r->x == x && r->y == y && r->w == w && r->h == h;
}

static void test_regions(void) {
  enum { H = 30, W = 40 };
  uint8_t m[H * W];
  crop_region *reg;
  /* Ring with a dot: the dot lies in the ring's hole and is ignored. */
  memset(m, 0, sizeof m);
  ring(m, W, 5, 5, 20, 18);
  fill_rect(m, W, 12, 11, 12, 11);
  fill_rect(m, W, 9, 8, 10, 9); /* a second, bigger inner blob */
  int n = crop_regions(&reg, m, H, W);
  CHECK(n == 1 && region_is(&reg[0], 5, 5, 16, 14), "ring with dots: %d regions", n);
  free(reg);
  /* Open the ring with a 4-connected gap: the dots become external. */
  m[5 * W + 12] = 0;
  n = crop_regions(&reg, m, H, W);
  CHECK(n == 3, "opened ring: %d regions, want 3", n);
  if (n == 3) { /* sorted by (area, x, y, w, h) */
    CHECK(region_is(&reg[0], 12, 11, 1, 1), "dot first");
    CHECK(region_is(&reg[1], 9, 8, 2, 2), "2x2 blob second");
    CHECK(region_is(&reg[2], 5, 5, 16, 14), "ring last");
  }
  free(reg);
  /* A gap only at a corner: the sides still touch diagonally, so the 8-connected ring stays
   * closed and the background inside is not 4-connected to the outside. */
  memset(m, 0, sizeof m);
  ring(m, W, 5, 5, 20, 18);
  m[5 * W + 5] = 0;
  fill_rect(m, W, 12, 11, 12, 11);
  n = crop_regions(&reg, m, H, W);
  CHECK(n == 1 && region_is(&reg[0], 5, 5, 16, 14), "corner-gap ring: %d regions", n);
  free(reg);
  /* Nested rings: only the outermost. A ring touching the image edge is external. */
  memset(m, 0, sizeof m);
  ring(m, W, 0, 0, 25, 29);
  ring(m, W, 3, 3, 20, 20);
  ring(m, W, 6, 6, 10, 10);
  fill_rect(m, W, 30, 10, 39, 12);
  n = crop_regions(&reg, m, H, W);
  CHECK(n == 2, "nested rings: %d regions, want 2", n);
  if (n == 2) {
    CHECK(region_is(&reg[0], 30, 10, 10, 3), "edge bar");
    CHECK(region_is(&reg[1], 0, 0, 26, 30), "outer ring");
  }
  free(reg);
  /* Diagonal touch is one region; empty mask has none. */
  memset(m, 0, sizeof m);
  fill_rect(m, W, 2, 2, 4, 4);
  fill_rect(m, W, 5, 5, 7, 7);
  n = crop_regions(&reg, m, H, W);
  CHECK(n == 1 && region_is(&reg[0], 2, 2, 6, 6), "diagonal touch: %d regions", n);
  free(reg);
  memset(m, 0, sizeof m);
  n = crop_regions(&reg, m, H, W);
  CHECK(n == 0 && reg == NULL, "empty: %d regions", n);
  /* Equal areas sort by x, then y. */
  fill_rect(m, W, 20, 3, 21, 4);
  fill_rect(m, W, 5, 20, 6, 21);
  fill_rect(m, W, 5, 10, 6, 11);
  n = crop_regions(&reg, m, H, W);
  CHECK(n == 3, "three squares: %d", n);
  if (n == 3)
    CHECK(region_is(&reg[0], 5, 10, 2, 2) && region_is(&reg[1], 5, 20, 2, 2) &&
              region_is(&reg[2], 20, 3, 2, 2),
          "equal areas sorted by (x, y)");
  free(reg);
}

static void test_square_box(void) {
  crop_box b;
  /* 100 x 100, S = 100: r = max(int(20 * 1.1 * 0.5) = 11, int(100 * 0.1) = 10); centre
   * (int(100 * 0.5), int(90 * 0.5)) = (50, 45). */
  b = crop_square_box(&(crop_region){40, 40, 20, 10}, 100, 100);
  CHECK_BOX(&b, 39, 34, 61, 56);
  /* Small region: the minimum crop size, r = 10; centre (int(5 * 0.5), ...) truncates. */
  b = crop_square_box(&(crop_region){47, 47, 5, 3}, 100, 100);
  CHECK_BOX(&b, 39, 38, 59, 58);
  /* Near each edge: shifted into the image. */
  b = crop_square_box(&(crop_region){0, 50, 4, 4}, 100, 100);
  CHECK_BOX(&b, 0, 42, 20, 62);
  b = crop_square_box(&(crop_region){96, 50, 4, 4}, 100, 100);
  CHECK_BOX(&b, 80, 42, 100, 62);
  b = crop_square_box(&(crop_region){50, 1, 4, 4}, 100, 100);
  CHECK_BOX(&b, 42, 0, 62, 20);
  b = crop_square_box(&(crop_region){50, 95, 4, 5}, 100, 100);
  CHECK_BOX(&b, 42, 80, 62, 100);
  b = crop_square_box(&(crop_region){97, 97, 3, 3}, 100, 100);
  CHECK_BOX(&b, 80, 80, 100, 100);
  /* The half-side is capped at S / 2: the whole image. */
  b = crop_square_box(&(crop_region){0, 0, 100, 100}, 100, 100);
  CHECK_BOX(&b, 0, 0, 100, 100);
  /* Non-square 200 x 50 (W x H), S = 200, r >= 20: a box of 40 fits the height. */
  b = crop_square_box(&(crop_region){100, 20, 10, 10}, 50, 200);
  CHECK_BOX(&b, 85, 5, 125, 45);
  /* 2r = 88 > H = 50: shifted down to the top, and it sticks out at the bottom (one branch). */
  b = crop_square_box(&(crop_region){50, 0, 80, 50}, 50, 200);
  CHECK_BOX(&b, 46, 0, 134, 88);
  /* Tall image 60 x 300 (W x H), S = 300: r = int(60 * 1.1 * 0.5) = 33, 2r = 66 > W. The right
   * edge is past W, so the box is shifted to end at W and sticks out on the left. */
  b = crop_square_box(&(crop_region){50, 100, 10, 60}, 300, 60);
  CHECK_BOX(&b, -6, 97, 60, 163);
  /* Tiny image: S = max(H, W, 3) = 3 (the colour image's shape), r_min = int(0.3) = 0. */
  b = crop_square_box(&(crop_region){0, 0, 1, 1}, 2, 2);
  CHECK_BOX(&b, 0, 0, 0, 0);
  /* Minimum crop size on a 1000 x 1000 image: r = int(1000 * 0.1) = 100. */
  b = crop_square_box(&(crop_region){500, 500, 10, 10}, 1000, 1000);
  CHECK_BOX(&b, 405, 405, 605, 605);
}

static void test_merge(void) {
  crop_box out[8];
  int n;
  /* S = 1000: merge distance int(1000 * 0.01) = 10. A chain A-B-C with gaps of 5: B's group
   * holds all three, so {A, B} and {B, C} are subsets and one box comes out. Union A+B =
   * (0, 0, 205, 100) squared to (0, -52.5, 205, 152.5); + C squared again. */
  crop_box chain3[] = {{0, 0, 100, 100}, {105, 0, 205, 100}, {210, 0, 310, 100}};
  n = crop_merge_boxes(out, chain3, 3, 1000, 1000);
  CHECK(n == 1, "chain of 3: %d boxes", n);
  CHECK_BOX(&out[0], 0, -105, 310, 205);
  /* A-B-C-D: the maximal groups {A, B, C} and {B, C, D} both survive (not a transitive closure),
   * B and C each contribute to two merged boxes. Equal areas keep list order. */
  crop_box chain4[] = {
      {315, 0, 415, 100}, {0, 0, 100, 100}, {210, 0, 310, 100}, {105, 0, 205, 100}};
  n = crop_merge_boxes(out, chain4, 4, 1000, 1000);
  CHECK(n == 2, "chain of 4: %d boxes", n);
  if (n == 2) {
    /* Groups follow the order of first appearance: D's group {B, C, D} comes first. */
    CHECK_BOX(&out[0], 105, -105, 415, 205);
    CHECK_BOX(&out[1], 0, -105, 310, 205);
  }
  /* Gap exactly at the distance (10): not merged (strict <). Diagonal gaps use the Euclidean
   * distance: (6, 8) -> 10 is not merged, (6, 7) -> 9.2 is. */
  crop_box at_thr[] = {{0, 0, 100, 100}, {110, 0, 210, 100}};
  n = crop_merge_boxes(out, at_thr, 2, 1000, 1000);
  CHECK(n == 2, "gap = threshold: %d boxes", n);
  crop_box diag_far[] = {{0, 0, 100, 100}, {106, 108, 206, 208}};
  n = crop_merge_boxes(out, diag_far, 2, 1000, 1000);
  CHECK(n == 2, "diagonal gap 10: %d boxes", n);
  crop_box diag_near[] = {{0, 0, 100, 100}, {106, 107, 156, 157}};
  n = crop_merge_boxes(out, diag_near, 2, 1000, 1000);
  CHECK(n == 1, "diagonal gap 9.2: %d boxes", n);
  if (n == 1) /* union (0, 0, 156, 157), width < height: x widened by 0.5 each side */
    CHECK_BOX(&out[0], -0.5, 0, 156.5, 157);
  /* Identical boxes collapse into one (all copies removed); the far box stays; sort by area. */
  crop_box dup[] = {{0, 0, 50, 50}, {500, 500, 600, 600}, {0, 0, 50, 50}};
  n = crop_merge_boxes(out, dup, 3, 1000, 1000);
  CHECK(n == 2, "duplicates: %d boxes", n);
  if (n == 2) {
    CHECK_BOX(&out[0], 500, 500, 600, 600);
    CHECK_BOX(&out[1], 0, 0, 50, 50);
  }
  /* Overlapping boxes (distance -1) merge even when the threshold is 0 (S < 100). */
  crop_box overlap[] = {{0, 0, 20, 20}, {10, 10, 30, 30}};
  n = crop_merge_boxes(out, overlap, 2, 50, 50);
  CHECK(n == 1, "overlap: %d boxes", n);
  if (n == 1)
    CHECK_BOX(&out[0], 0, 0, 30, 30);
  /* Touching boxes (gap 0) do not merge when the threshold is 0. */
  crop_box touch[] = {{0, 0, 20, 20}, {20, 0, 40, 20}};
  n = crop_merge_boxes(out, touch, 2, 50, 50);
  CHECK(n == 2, "touching with threshold 0: %d boxes", n);
  /* Stable area sort: equal areas keep their order. */
  crop_box stable[] = {{0, 0, 10, 10}, {500, 500, 520, 520}, {900, 0, 910, 10}};
  n = crop_merge_boxes(out, stable, 3, 1000, 1000);
  CHECK(n == 3, "stable: %d boxes", n);
  if (n == 3) {
    CHECK_BOX(&out[0], 500, 500, 520, 520);
    CHECK_BOX(&out[1], 0, 0, 10, 10);
    CHECK_BOX(&out[2], 900, 0, 910, 10);
  }
}

static void test_crop_boxes(void) {
  enum { H = 600, W = 800 };
  uint8_t *m = calloc((size_t)H * W, 1);
  crop_box out[16];
  /* No region: the whole image, not square, one crop whatever est says. */
  int n = crop_boxes(out, 16, m, H, W, 0);
  CHECK(n == 1, "empty mask: %d boxes", n);
  CHECK_BOX(&out[0], 0, 0, W, H);
  n = crop_boxes(out, 16, m, H, W, 3);
  CHECK(n == 1, "empty mask with est 3: %d boxes", n);
  /* Four far-apart regions of different sizes; S = 800, r_min = 80, merge distance 8. */
  fill_rect(m, W, 100, 100, 299, 299); /* 200 x 200: r = 110 */
  fill_rect(m, W, 500, 50, 649, 199);  /* 150 x 150: r = 82 */
  fill_rect(m, W, 500, 400, 509, 409); /* 10 x 10: r = 80 */
  fill_rect(m, W, 700, 500, 704, 504); /* 5 x 5: r = 80 */
  n = crop_boxes(out, 16, m, H, W, 1);
  CHECK(n == 2, "est 1 keeps est + 1 = 2 boxes, got %d", n);
  if (n == 2) {
    CHECK_BOX(&out[0], 90, 90, 310, 310);
    CHECK_BOX(&out[1], 493, 43, 657, 207);
  }
  n = crop_boxes(out, 16, m, H, W, 0);
  CHECK(n == 1, "est 0 with regions keeps 1, got %d", n);
  n = crop_boxes(out, 16, m, H, W, 3);
  CHECK(n == 4, "est 3 keeps 4, got %d", n);
  if (n == 4) { /* the two 160 x 160 boxes in region order: (area, x, y, w, h) ascending */
    CHECK_BOX(&out[2], 622, 422, 782, 582);
    CHECK_BOX(&out[3], 425, 325, 585, 485);
  }
  n = crop_boxes(out, 16, m, H, W, 10);
  CHECK(n == 4, "est 10 keeps all 4, got %d", n);
  n = crop_boxes(out, 2, m, H, W, 10);
  CHECK(n == 2, "max_boxes caps the output, got %d", n);
  /* Ring with a dot: one box, the dot's region ignored. */
  memset(m, 0, (size_t)H * W);
  ring(m, W, 100, 100, 300, 300);
  fill_rect(m, W, 190, 190, 210, 210);
  n = crop_boxes(out, 16, m, H, W, 5);
  CHECK(n == 1, "ring with dot: %d boxes", n);
  CHECK_BOX(&out[0], 90, 90, 310, 310); /* w = 201: r = int(110.55) */
  free(m);
}

static void test_round(void) {
  int x0, y0, x1, y1;
  crop_box b = {0.5, 1.5, 2.5, -0.5};
  crop_box_round(&x0, &y0, &x1, &y1, &b);
  CHECK(x0 == 0 && y0 == 2 && x1 == 2 && y1 == 0, "half to even: %d %d %d %d", x0, y0, x1, y1);
  b = (crop_box){-1.5, 52.5, 3.49, 7.51};
  crop_box_round(&x0, &y0, &x1, &y1, &b);
  CHECK(x0 == -2 && y0 == 52 && x1 == 3 && y1 == 8, "rounding: %d %d %d %d", x0, y0, x1, y1);
  b = (crop_box){-52.5, 105, 415, 205};
  crop_box_round(&x0, &y0, &x1, &y1, &b);
  CHECK(x0 == -52 && y0 == 105 && x1 == 415 && y1 == 205, "integers: %d %d %d %d", x0, y0, x1, y1);
}

int main(void) {
  test_regions();
  test_square_box();
  test_merge();
  test_crop_boxes();
  test_round();
  return test_done("test_crops");
}
