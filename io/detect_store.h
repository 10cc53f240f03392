/* The outputs of `ancd detect` for one category (DESIGN "Files"): maps.h5, metrics.json, heat
 * maps, 8-bit PNG maps for other tools; and the per-dataset tables.md / tables.csv. */
#ifndef ANCD_DETECT_STORE_H
#define ANCD_DETECT_STORE_H

#include <mpi.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "ncd_store.h"

/* What maps.h5 holds; rows are the category's test images in manifest order. */
typedef struct {
  int n, size;       /* images, map side S */
  const float *maps; /* [n_own, S, S] this rank's rows [first, first + n_own) */
  int first, n_own;
  const double *scores;       /* [n] raw image scores (max of the map); every rank passes them */
  const double *scores_rscin; /* [n] */
  const uint8_t *labels;      /* [n] */
  const char *const *paths;   /* [n] */
  const char *const *types;   /* [n] */
  const uint8_t *masks;       /* [n_own, S, S] 0/1 rows [first, first + n_own), or NULL */
  const config *cfg;          /* resolved config: stored as YAML, for the record */
  const char *stage_key;      /* io/stage_key.h: what the maps depend on */
  const char *backbone;       /* e.g. "timm ViT: dim 192, depth 12, ..." */
  const char *category;       /* stored as an attribute; NULL: not stored */
} maps_record;

#define MAPS_FILE "maps.h5"

/* out = <dir>/maps.h5, the one place that names it. -1 when out is too small. */
int maps_h5_path(char *out, size_t n, const char *dir);
/* Writes <dir>/maps.h5 collectively over comm (each rank its rows), atomically; creates dir.
 * The rows of the ranks must tile [0, n) in rank order (tiling.h); maps must be finite (the error
 * names the image). Datasets: /maps [n,S,S] f32 (one chunk per image), /scores, /scores_rscin [n]
 * f64, /labels [n] u8, /paths, /types strings, /masks [n,S,S] u8 when masks is not NULL (on every
 * rank), each with a "description". Root attributes: config (YAML), stage_key, ancd_version,
 * backbone, method, image_size, map_size, n_images, category. */
int maps_h5_write(const char *dir, const maps_record *r, MPI_Comm comm);

/* <dir>/metrics.json: the seven metrics (null for NaN, with "reason"), n images, stage key;
 * "category" is the last component of dir (output_category_dir). Written atomically, numbers
 * with the fewest digits (15 to 17, one count for the file) that read back as the same doubles
 * (NaN <-> null); text that is not UTF-8 is an error. */
int metrics_json_write(const char *dir, const ad_metrics *m, int n_images, const char *stage_key,
                       const char *reason);
int metrics_json_read(const char *dir, ad_metrics *m);
/* Adds (or replaces) one extra number key of <dir>/metrics.json, e.g. HETMM's pro_hetmm (null
 * for NaN); the tables do not read it. Atomic rewrite. */
int metrics_json_add(const char *dir, const char *key, double value);

/* <root>/tables.md and tables.csv: one row per category (metrics x 100, 2 decimals; pixel
 * columns blank when NaN) and a mean row over the categories that have the value. With n_ncd > 0
 * rows of `ancd classify`, tables.md also holds the class-discovery table (NMI, ARI, F1, AUPRO, K,
 * the means likewise) and ncd_tables.csv the same as CSV. report.md: the tables and, per
 * category, links to its pictures (heat maps, boxes, training curves, confusion, gallery). */
int tables_write(const char *root, const char *dataset, const char *const *categories,
                 const ad_metrics *m, int n_categories, const ncd_table_row *ncd, int n_ncd);

/* 8-bit gray PNG maps in AnomalyNCD's layout <dir>/<category>/<type>/<file> with one joint
 * min-max over the category (value = (m - min) / (max - min) * 255 in float, truncated), as the
 * AnomalyNCD README's generate_anomaly_maps. <file> is the image's file name with its extension
 * replaced by .png (the README keeps the image's name, which makes MTD maps JPEG; AnomalyNCD
 * reads maps with cv2.IMREAD_GRAYSCALE by content and pairs them with the images by sorted
 * position in each type folder, which a common extension change keeps). maps [n, S, S]. */
int export_maps_png(const char *dir, const char *category, const float *maps, int n, int S,
                    const char *const *paths, const char *const *types);
/* The conversion export_maps_png applies: out[k] = map_value_u8(maps[k], lo, hi) (image.h),
 * with lo/hi the joint min/max over the category. `ancd regions` turns float maps into MEBin's
 * 8-bit maps with it (anomalyncd_spec §1.2). */
void maps_to_u8(uint8_t *out, const float *maps, size_t n, float lo, float hi);

/* Jet heat maps (detect.vis, musc §A.9): single_norm: each map scaled by its own min/max, written
 * only for anomalous images (labels != 0); whole_norm: one min/max over the category, every image;
 * none: nothing. Written to <dir>/<type>/<name>.png (the image's file name with the extension
 * .png); blended 0.5 over the image resized to S x S when rgb [n, S, S, 3] is not NULL, plain jet
 * as MuSc otherwise. */
int heatmaps_write(const char *dir, const char *mode, const float *maps, const uint8_t *rgb,
                   const uint8_t *labels, int n, int S, const char *const *paths,
                   const char *const *types);

#endif
