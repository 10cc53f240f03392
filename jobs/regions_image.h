/* One image of `ancd regions` (anomalyncd_spec §2-§3): MEBin on its 8-bit map, the mask at the
 * image resolution, the anomaly-centred crops with their masks and scores, and the optional
 * picture of the boxes. Files in (the image), buffers out; no MPI. */
#ifndef ANCD_REGIONS_IMAGE_H
#define ANCD_REGIONS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "crops.h"

/* The category-wide inputs of MEBin and of the crop score. */
typedef struct {
  int search_min, search_max; /* §2.1 */
  const cfg_regions *opt;     /* sample_rate, min_interval_len, erode_kernel */
} regions_params;

typedef struct {
  int threshold, est, degenerate; /* MEBin (§2.4) */
  int H, W;                       /* the original image */
  int n_crops;                    /* >= 1 */
  crop_box *box;                  /* [n_crops] (§3.3 order) */
  int32_t *window;                /* [n_crops, 4] x0, y0, x1, y1 (§3.5 rounding) */
  int64_t *mask_area;             /* [n_crops] */
  float *score;                   /* [n_crops] */
  uint8_t *pixels;                /* [sum h*w*3] the crops, concatenated */
  uint8_t *masks;                 /* [sum h*w] 0/255 */
  size_t pool;                    /* sum h*w */
} image_regions;

/* Runs §2.2-§3.5 for the image at path (decoded as RGB) with its 8-bit map u8 [mh, mw].
 * vis_path (NULL: none) receives a PNG: the jet map resized to the image, blended over it, with
 * the kept windows drawn. Returns 0, or -1 with ancd_error() naming the image. */
int regions_image(image_regions *out, const char *path, const uint8_t *map, int mh, int mw,
                  const regions_params *p, const char *vis_path);
void image_regions_free(image_regions *r);

/* *hit = 1 when one of r's kept windows covers a pixel >= 128 of the ground-truth mask at
 * mask_path (resized nearest to the image when its size differs, as detect takes masks), else 0.
 * Returns 0, or -1 with ancd_error() naming the mask. */
int regions_gt_hit(int *hit, const image_regions *r, const char *mask_path);

/* §3.5 score of window [x0, x1) x [y0, y1) on the image-size map smap [H, W]: the maximum, with
 * 0 for window pixels outside the image (PIL's crop fills them), / 255 as NumPy 1.x's float64. */
float regions_window_score(const float *smap, int H, int W, int x0, int y0, int x1, int y1);

#endif
