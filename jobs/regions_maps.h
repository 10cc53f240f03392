/* The inputs of `ancd regions` for one category: the test images and their anomaly maps, either
 * from maps.h5 of `ancd detect` (float maps, turned into 8-bit maps by the caller with one joint
 * min-max) or, with detect.method: import, 8-bit PNG maps in AnomalyNCD's layout
 * <detect.maps_root>/<category>/<type>/<file> (anomalyncd_spec §1.2). Files in; no MPI. */
#ifndef ANCD_REGIONS_MAPS_H
#define ANCD_REGIONS_MAPS_H

#include <stdint.h>

#include "config.h"

typedef struct {
  char path[CFG_PATH_LEN]; /* the image */
  char map[CFG_PATH_LEN];  /* import: its PNG map; "" with maps.h5 */
  char type[CFG_NAME_LEN];
  char mask[CFG_PATH_LEN]; /* its ground-truth mask, "" when none (io/dataset.h) */
  int label;               /* 0 normal, 1 anomalous */
} regions_item;

/* What maps.h5 in dir says about itself. */
typedef struct {
  int n, S;
  char method[32];
} maps_h5_info;

/* The rows of <dir>/maps.h5 (complete): *items (xmalloc'ed, n of them) and info. */
int regions_items_from_maps_h5(regions_item **items, maps_h5_info *info, const char *dir);
/* Fills items[i].mask from the dataset's manifest of the category (matched by image path), for
 * measuring where the crops land; images not in the manifest keep "". Returns how many got a
 * mask, or -1 when the dataset cannot be scanned. */
int regions_items_masks(regions_item *items, int n, const config *c, const char *category);
/* Rows [first, first + count) of /maps [n, S, S] f32. */
int regions_read_maps_h5(float *maps, const char *dir, int first, int count, int S);

/* detect.method import: the category's test images (dataset scan and validation, as detect) with
 * their maps, paired per type by sorted position as the reference does. A type folder of the
 * maps root without images, a type without its folder, and a map missing or extra (named by
 * the image stem, the file name up to its first dot) are errors naming the path. */
int regions_items_import(regions_item **items, int *n, const config *c, const char *category);

#endif
