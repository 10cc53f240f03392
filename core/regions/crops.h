/* Anomaly-centred square crops from a binary mask (anomalyncd_spec §3): external regions, one
 * square box per region, the reference's non-transitive merging of near boxes, sort by area, the
 * first est + 1 boxes (the reference's count), or the whole image when there is no region.
 * S = max(H, W, 3) throughout: the reference takes the max of the colour image's shape. */
#ifndef ANCD_CROPS_H
#define ANCD_CROPS_H

#include <stdint.h>

typedef struct {
  double l, u, r, d; /* may hold .5 after merging; not clamped after merging */
} crop_box;

/* Boxes for one image: mask u8 [H, W] (non-zero = foreground) at the image resolution; est from
 * MEBin. Writes at most max_boxes boxes to out and returns how many (>= 1); max_boxes >= est + 1
 * gets them all. padding 0.1, min_crop_size 0.1, max_merge_dist 0.01 as the reference. */
int crop_boxes(crop_box *out, int max_boxes, const uint8_t *mask, int H, int W, int est);

/* The integer window of a box as PIL's crop takes it: each coordinate rounded half to even. */
void crop_box_round(int *x0, int *y0, int *x1, int *y1, const crop_box *b);

/* 1 when at least one of the n windows (int32 [n, 4]: x0, y0, x1, y1, the half-open window
 * [x0, x1) x [y0, y1) in the image's own pixels, as crop_box_round gives it; it may reach outside
 * the image) covers a ground-truth pixel (gt >= 128) of the H x W mask gt, else 0. `ancd regions`
 * measures with it whether the kept crops land on the defect. */
int crop_windows_hit(const int32_t *windows, int n, const uint8_t *gt, int H, int W);

/* The steps of crop_boxes, exposed for tests and for dumps against the reference. */
typedef struct {
  int x, y, w, h; /* cv2.boundingRect: inclusive extents, w = x_max - x_min + 1 */
} crop_region;
/* §3.1: bounding rectangles of the external regions (8-connected foreground components not in a
 * hole of another component, as findContours RETR_EXTERNAL), sorted by (w*h, x, y, w, h)
 * ascending. *regions is xmalloc'd (NULL when none; the caller frees). Returns the count. */
int crop_regions(crop_region **regions, const uint8_t *mask, int H, int W);
/* §3.2: the square box of one region, shifted into the image as the reference does. */
crop_box crop_square_box(const crop_region *region, int H, int W);
/* §3.3: the reference's merge of near boxes, then the stable sort by area, descending. At most n
 * boxes come out (every input box ends in a surviving group). Returns the number written. */
int crop_merge_boxes(crop_box *out, const crop_box *boxes, int n, int H, int W);

#endif
