/* Anomaly-centred square crops from a binary mask (anomalyncd_spec §3): external regions, one
 * square box per region, the reference's non-transitive merging of near boxes, sort by area, the
 * first est + 1 boxes (the reference's count), or the whole image when there is no region. */
#ifndef ANCD_CROPS_H
#define ANCD_CROPS_H

#include <stdint.h>

typedef struct {
  double l, u, r, d; /* may hold .5 after merging; not clamped after merging */
} crop_box;

/* Boxes for one image: mask u8 [H, W] (non-zero = foreground) at the image resolution; est from
 * MEBin. Writes at most max_boxes boxes to out and returns how many (>= 1). padding 0.1,
 * min_crop_size 0.1, max_merge_dist 0.01 as the reference. */
int crop_boxes(crop_box *out, int max_boxes, const uint8_t *mask, int H, int W, int est);

/* The integer window of a box as PIL's crop takes it: each coordinate rounded half to even. */
void crop_box_round(int *x0, int *y0, int *x1, int *y1, const crop_box *b);

#endif
