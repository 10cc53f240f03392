/* core/regions crop_windows_hit: whether a kept crop window covers a ground-truth pixel (the
 * measurement `ancd regions` logs): half-open windows, the >= 128 threshold, windows reaching
 * outside the image, and several windows where only one hits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crops.h"
#include "test_util.h"

enum { H = 40, W = 60 };

static int hit1(const uint8_t *gt, int x0, int y0, int x1, int y1) {
  const int32_t win[4] = {x0, y0, x1, y1};
  return crop_windows_hit(win, 1, gt, H, W);
}

static void test_single_pixel(void) {
  uint8_t *gt = calloc((size_t)H * W, 1);
  CHECK(gt != NULL, "calloc");
  if (!gt)
    return;
  gt[10 * W + 20] = 255; /* (x 20, y 10) */
  CHECK(hit1(gt, 0, 0, W, H) == 1, "the whole image covers it");
  CHECK(hit1(gt, 20, 10, 21, 11) == 1, "a 1x1 window on it");
  CHECK(hit1(gt, 21, 10, 30, 20) == 0, "x0 one past it");
  CHECK(hit1(gt, 0, 0, 20, 11) == 0, "x1 = 20 excludes column 20 (half-open)");
  CHECK(hit1(gt, 0, 0, 21, 10) == 0, "y1 = 10 excludes row 10 (half-open)");
  CHECK(hit1(gt, 10, 0, 21, 11) == 1, "x1 = 21 includes column 20");
  CHECK(hit1(gt, 20, 10, 20, 20) == 0, "empty window");
  /* x <-> y swapped would put the pixel at (10, 20): a window there must miss. */
  CHECK(hit1(gt, 5, 15, 15, 25) == 0, "transposed window misses");
  gt[10 * W + 20] = 127;
  CHECK(hit1(gt, 0, 0, W, H) == 0, "127 is not ground truth");
  gt[10 * W + 20] = 128;
  CHECK(hit1(gt, 0, 0, W, H) == 1, "128 is ground truth");
  free(gt);
}

static void test_outside_and_several(void) {
  uint8_t *gt = calloc((size_t)H * W, 1);
  CHECK(gt != NULL, "calloc");
  if (!gt)
    return;
  gt[(H - 1) * W + (W - 1)] = 255; /* the last pixel */
  gt[0] = 255;                     /* the first */
  CHECK(hit1(gt, W - 5, H - 5, W + 30, H + 30) == 1, "window past the bottom-right corner");
  CHECK(hit1(gt, -30, -30, 1, 1) == 1, "window before the top-left corner");
  CHECK(hit1(gt, -30, -30, 0, 0) == 0, "window wholly outside");
  CHECK(hit1(gt, W, H, W + 10, H + 10) == 0, "window wholly past the end");
  CHECK(hit1(gt, 1, 1, W - 1, H - 1) == 0, "inner window misses both corners");
  const int32_t wins[3][4] = {{5, 5, 20, 20}, {30, 10, 50, 30}, {W - 2, H - 2, W + 2, H + 2}};
  CHECK(crop_windows_hit(&wins[0][0], 2, gt, H, W) == 0, "first two windows miss");
  CHECK(crop_windows_hit(&wins[0][0], 3, gt, H, W) == 1, "the third hits");
  CHECK(crop_windows_hit(&wins[0][0], 0, gt, H, W) == 0, "no window, no hit");
  memset(gt, 0, (size_t)H * W);
  CHECK(hit1(gt, -10, -10, W + 10, H + 10) == 0, "empty ground truth");
  free(gt);
}

int main(void) {
  test_single_pixel();
  test_outside_and_several();
  return test_done("test_crop_hits");
}
