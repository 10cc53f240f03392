/* regions.h5 (DESIGN "Files"): the output of `ancd regions` for one category, the MEBin result
 * per image and the anomaly-centred crops (anomalyncd_spec §2-§3), written collectively over the
 * ranks of a group and published atomically; plus the readers that train and the tests use.
 *
 * Per image (rows in maps.h5 / manifest order): threshold, est, n_crops, image_height,
 * image_width i32 [N]; labels u8 [N]; paths, types strings [N].
 * Per crop (rows grouped by image, images in order, crops in §3.3 order): image_index i32 [R],
 * box f64 [R, 4] (l, u, r, d as §3.3 leaves them), crop_box_int i32 [R, 4] (x0, y0, x1, y1: the
 * window PIL's crop takes, rounded half to even), crop_height, crop_width i32 [R] (y1 - y0,
 * x1 - x0), mask_area i64 [R] (foreground pixels of the mask crop), score f32 [R] (§3.5).
 * Pixels in two flat u8 pools: crop_pixels [sum h*w*3] (RGB, HWC) and mask_pixels [sum h*w]
 * (0/255) with crop_offset and mask_offset i64 [R] (crop_offset = 3 * mask_offset).
 * Root attributes: config (YAML), stage_key, ancd_version, category, maps_method,
 * maps_stage_key, map_lo, map_hi (the joint float min-max that made the 8-bit maps), search_min,
 * search_max (§2.1), degenerate (MAX == MIN), n_images, n_crops; and, when the dataset has
 * ground-truth masks, defect_images (anomalous images with a mask), defect_images_hit (those
 * where at least one kept crop window covers a mask pixel >= 128) and defect_images_whole (those
 * hits where the only crop is the whole image: MEBin found no region). */
#ifndef ANCD_REGIONS_H5_H
#define ANCD_REGIONS_H5_H

#include <mpi.h>
#include <stdint.h>

#include "config.h"
#include "h5store.h"
#include "image.h"

#define REGIONS_FILE "regions.h5"

/* What one rank writes: its block of images [first, first + n_own) and their crops. */
typedef struct {
  int n;            /* images of the category */
  int first, n_own; /* this rank's images; the ranks' blocks must tile [0, n) in rank order */
  const int32_t *threshold, *est, *n_crops, *image_height, *image_width; /* [n_own] */
  long r_own;                              /* crops of this rank's images (sum of n_crops) */
  const int32_t *image_index;              /* [r_own] global image index */
  const double *box;                       /* [r_own, 4] */
  const int32_t *box_int;                  /* [r_own, 4] */
  const int32_t *crop_height, *crop_width; /* [r_own] */
  const int64_t *mask_area;                /* [r_own] */
  const float *score;                      /* [r_own] */
  const uint8_t *crop_pixels;              /* [sum h*w*3] this rank's crops, in order */
  const uint8_t *mask_pixels;              /* [sum h*w] */
  const uint8_t *labels;                   /* [n], every rank */
  const char *const *paths, *const *types; /* [n], every rank */
  const config *cfg;                       /* stored as YAML, for the record */
  const char *stage_key; /* io/stage_key.h: regions keys chained with maps_stage_key */
  const char *category;
  const char *maps_method;    /* "musc", ..., "import" */
  const char *maps_stage_key; /* stage key of maps.h5, or of the detect settings for imports */
  double map_lo, map_hi;
  int search_min, search_max, degenerate;
  /* Over the category; defect_images 0: no ground truth, no attributes. */
  int defect_images, defect_images_hit, defect_images_whole;
} regions_record;

/* Writes <dir>/regions.h5 collectively over comm, atomically; creates dir. Crop counts and pool
 * sizes are all-gathered; each rank writes its rows and pool ranges at the exclusive prefix sums
 * of the ranks before it, so the file does not depend on the number of ranks. */
int regions_h5_write(const char *dir, const regions_record *r, MPI_Comm comm);

/* Reading: open a complete regions.h5 (file path) with h5s_open over MPI_COMM_SELF; reads are then
 * independent of other ranks. */
int regions_h5_open(h5s_file *f, const char *path);
/* Images and crops in the file. */
int regions_h5_counts(h5s_file *f, int *n_images, long *n_crops);
/* Per-image i32 dataset ("threshold", "est", "n_crops", "image_height", "image_width") [n]. */
int regions_h5_read_image_i32(h5s_file *f, const char *name, int32_t *out, int n);

/* One crop with its pixels. */
typedef struct {
  int image_index;
  double box[4];
  int box_int[4]; /* x0, y0, x1, y1 */
  int64_t mask_area;
  float score;
  image_u8 pixels; /* w x h x 3 */
  image_u8 mask;   /* w x h x 1, 0/255 */
} regions_crop;

/* Crop i (0 <= i < n_crops); the images are allocated (regions_crop_free). */
int regions_h5_read_crop(regions_crop *c, h5s_file *f, long i);
void regions_crop_free(regions_crop *c);

/* `ancd regions --export DIR` (io/regions_png.c): the crops of images [first, first + count) of
 * the complete regions.h5 at path as PNG in AnomalyNCD's crop layout (anomalyncd_spec §1.3):
 * DIR/<category>/images/<type>/<stem>_crop<i>.png (RGB) and .../masks/... (gray 0/255; the
 * reference writes 1-bit PNGs, which read back as the same 0/255). <stem> is the image file name
 * up to its first dot; two images of a type with the same stem are an error naming both. */
int regions_export_png(const char *dir, const char *category, const char *path, int first,
                       int count);

#endif
