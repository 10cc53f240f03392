/* Labeled base sets (anomalyncd_spec §4; issue 10 "Inputs"): the crops of known defect classes
 * that training mixes with the novel crops. Two sources, one reader:
 *   - base.h5, written by `ancd base` (base_h5_write) from any dataset with ground-truth masks;
 *   - a folder in AnomalyNCD's AeBAD_crop layout: images/<class>/<name> (PNG, JPEG or BMP) with
 *     masks/<class>/<name> (the same file name); classes are the sorted sub-folders (§4).
 * Whether a sample is base or novel is the set it came from, never a substring of a path
 * (§5.9, §11.12-13).
 *
 * base.h5 (DESIGN "Files"), mirroring regions.h5's layout:
 *   class_names strings [C] (sorted; label = index);
 *   per image [N]: paths strings, image_class, image_height, image_width, n_crops i32;
 *   per crop [R] (grouped by image, images in manifest order, crops in §3.3 order):
 *   image_index, class_index i32, names strings ("<class>/<stem>_crop<i>.png", the AeBAD_crop
 *   name), box f64 [R, 4] (l, u, r, d), crop_box_int i32 [R, 4] (x0, y0, x1, y1: the window,
 *   rounded half to even), crop_height, crop_width i32, mask_area i64 (foreground pixels of the
 *   mask crop), crop_offset, mask_offset i64 into two flat u8 pools: crop_pixels (RGB, HWC) and
 *   mask_pixels (the ground-truth grey values, as the reference saves PIL "L");
 *   crop_offset = 3 * mask_offset.
 *   Root attributes: kind "base", config (YAML), stage_key (stage_key_base), ancd_version,
 *   dataset_name, dataset_layout, dataset_root, categories, n_classes, n_images, n_crops,
 *   max_crops_per_image (2), foreground_min (a mask pixel >= it is foreground: 128, 1 for VisA),
 *   skipped_empty (images whose mask has no foreground). */
#ifndef ANCD_BASE_SET_H
#define ANCD_BASE_SET_H

#include <stdint.h>

#include "config.h"
#include "stage_key.h"

#define BASE_FILE "base.h5"

/* One labeled crop. */
typedef struct {
  int cls;       /* class index, 0 .. n_classes - 1 */
  int w, h;      /* crop size in pixels */
  uint8_t *rgb;  /* [h, w, 3] */
  uint8_t *mask; /* [h, w], the ground truth's grey values kept (0/255 in binary masks) */
  char *name;    /* "<class>/<file>": unique in the set */
  char *source;  /* the crop file (folder), or the image it was cut from (base.h5) */
} base_crop;

typedef struct {
  int n_classes;
  char (*class_names)[CFG_NAME_LEN]; /* [n_classes], sorted */
  int n;                             /* crops */
  base_crop *crops;                  /* [n], sorted by (class, name) whatever the source */
  int from_h5;                       /* 1: base.h5, 0: folder */
  char stage_key[STAGE_KEY_LEN];     /* base.h5's stage key; "" for a folder */
} base_set;

/* Loads a base set from path: a base.h5 file or an AeBAD_crop-style folder (base.h5 is read with
 * HDF5 over MPI_COMM_SELF: MPI must be initialised; no other rank takes part). Errors (with the
 * path and reason in ancd_error()): missing path; a base.h5 that is incomplete, truncated,
 * damaged or not a base set (stage_file_check gives the reason); in a folder a missing images/
 * or masks/ folder, a missing mask, an unreadable image or mask, a mask whose size differs from
 * its image; an empty set or a class without crops. b is empty after a failure. */
int base_set_load(base_set *b, const char *path);
void base_set_free(base_set *b);
/* 1 when train.base names no base set ("none" or empty), else 0. */
int base_set_is_none(const char *spec);

/* Writes b as an AeBAD_crop-style folder: dir/images/<class>/<file> (RGB PNG) and
 * dir/masks/<class>/<file> (gray PNG, values kept), <class>/<file> being each crop's name (PNG
 * content whatever its extension; ancd decodes by content). */
int base_set_write_folder(const base_set *b, const char *dir);

/* What `ancd base` writes; see the layout above. */
typedef struct {
  int n_classes;
  const char *const *class_names;                          /* [n_classes] */
  int n_images;                                            /* images with crops */
  const char *const *paths;                                /* [n_images] */
  const int32_t *image_class, *image_height, *image_width; /* [n_images] */
  const int32_t *n_crops;                                  /* [n_images], each >= 1 */
  long n_crops_total;                                      /* R = sum of n_crops */
  const int32_t *image_index, *class_index;                /* [R] */
  const char *const *names;                                /* [R] */
  const double *box;                                       /* [R, 4] */
  const int32_t *box_int;                                  /* [R, 4] */
  const int32_t *crop_height, *crop_width;                 /* [R] */
  const int64_t *mask_area;                                /* [R] */
  const uint8_t *crop_pixels;                              /* [sum h*w*3] */
  const uint8_t *mask_pixels;                              /* [sum h*w] */
  const config *cfg;                                       /* stored as YAML, for the record */
  const char *stage_key;                                   /* stage_key_base */
  const char *categories;                                  /* the categories it came from */
  int foreground_min;                                      /* the binarisation: >= it */
  int skipped_empty;
} base_record;

/* Writes path (base.h5) atomically from this process alone (h5s over MPI_COMM_SELF); creates
 * its folder. */
int base_h5_write(const char *path, const base_record *r);

#endif
