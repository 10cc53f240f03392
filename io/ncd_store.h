/* The outputs of `ancd classify` that people and `ancd report` read (anomalyncd_spec §7):
 * <category>/ncd_metrics.json, and the class-discovery table of a dataset in tables.md and
 * ncd_tables.csv. Undefined metrics (e.g. NMI with one true type) are NaN in memory, null in
 * JSON with the reason, blank cells in the tables, never 0. */
#ifndef ANCD_NCD_STORE_H
#define ANCD_NCD_STORE_H

#define NCD_HEADS 4 /* MGVIT_HEADS: every head's scores are kept */

typedef struct {
  double nmi, ari, f1;
} ncd_scores;

typedef struct {
  ncd_scores image, subimage; /* the reported head's (§7.2) */
  ncd_scores image_head[NCD_HEADS], subimage_head[NCD_HEADS];
  double head_loss[NCD_HEADS];                          /* mean L_clu,h of the last epoch */
  int head, n_images, n_crops, n_types, n_novel, k_est; /* k_est 0: not estimated */
  char reason[256];                                     /* why a metric is null, or "" */
} ncd_summary;

/* <dir>/ncd_metrics.json, atomically: category (dir's last component), stage_key, the fields of
 * s ("image": {nmi, ari, f1}, "subimage": ..., "heads": [...]). */
int ncd_json_write(const char *dir, const ncd_summary *s, const char *stage_key);
/* Reads the reported head's scores, the counts and the stage key (stage_key[17]) back. */
int ncd_json_read(const char *dir, ncd_summary *s, char *stage_key);

/* One row of the class-discovery table: NMI, ARI, F1 of the images (x100), AUPRO of the maps
 * (NaN when the dataset has no masks), K and the estimate. */
typedef struct {
  const char *category;
  ncd_scores image;
  double aupro;
  int n_images, n_novel, k_est;
} ncd_table_row;

#endif
