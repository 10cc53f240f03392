/* Dataset layouts -> one manifest per category (image path, split, type, label, mask path),
 * in a deterministic order, and validation of every file before any compute.
 * Layouts (see README):
 *   mvtec     <cat>/train/good, <cat>/test/<type>, <cat>/ground_truth/<type>/<stem>_mask.png
 *   btad      same shape, .bmp/.png, normal type "ok"
 *   visa      split CSV (object,split,label,image,mask) relative to root
 *   mtd       MT_<Class>/Imgs/<stem>.jpg + <stem>.png; train list file; one category "MTD"
 *   folder    <cat>/<normal_type>/, <cat>/<type>/, optional <cat>/<mask_dir>/<type>/<stem><suffix>
 *   anomalies <cat>/<type>/<image>, no masks, no normal images
 * <stem>: the image's file name up to its first dot (fs_stem). */
#ifndef ANCD_DATASET_H
#define ANCD_DATASET_H

#include <stdio.h>

#include "config.h"

enum { DS_TRAIN = 0, DS_TEST = 1 };

typedef struct {
  char path[CFG_PATH_LEN];
  char mask[CFG_PATH_LEN]; /* "" when the image has no mask (normal, or layout without masks) */
  char type[CFG_NAME_LEN];
  int split; /* DS_TRAIN | DS_TEST */
  int label; /* 0 normal, 1 anomalous */
} ds_item;

typedef struct {
  char category[CFG_NAME_LEN];
  int has_masks; /* the layout provides pixel ground truth for anomalous images */
  int n, cap;
  ds_item *items; /* test items sorted by (type, file name), then train items likewise;
                     visa: test rows, then train rows, in CSV order */
} ds_manifest;

/* The categories of the dataset: dataset.categories when given (each must exist), otherwise
 * every category found under root, sorted. */
int ds_list_categories(cfg_names *out, const cfg_dataset *d);
/* Builds the manifest of one category. Missing folders, empty categories or types, and
 * anomalous images without their mask (in layouts with masks) are errors naming the path. */
int ds_scan(ds_manifest *m, const cfg_dataset *d, const char *category);
void ds_free(ds_manifest *m);
/* The normal training images of a category (split train, label 0) in manifest order: mvtec/btad
 * <cat>/train/<normal_type>, mtd the split file's list, visa the CSV's train rows, folder none.
 * HETMM's templates (and any stage that needs normal references) read them. m->n = 0 when the
 * layout or category has none: not an error here, the caller names what needs them. */
int ds_scan_train_normals(ds_manifest *m, const cfg_dataset *d, const char *category);
/* The one test of "a normal training image" (HETMM's templates, detect.reference: train). */
static inline int ds_is_train_normal(const ds_item *it) {
  return it->split == DS_TRAIN && it->label == 0;
}

typedef struct {
  char path[CFG_PATH_LEN];
  char reason[256];
} ds_bad_file;

typedef struct {
  int n_checked, n_bad;
  ds_bad_file *bad;
} ds_report;

/* Decodes every image and mask of the manifest: unreadable, corrupt or truncated files and masks
 * whose size differs from the image are reported (path + reason) and their items removed.
 * Returns -1 (with a summary in ancd_error()) when the bad fraction exceeds max_bad_fraction. */
int ds_validate(ds_manifest *m, ds_report *r, double max_bad_fraction);
/* As ds_validate; mask_size_ok = 1 accepts masks of another size than their image, for stages
 * that resize them (detect: nearest to the image size, issue 4 "Bad input"). */
int ds_validate_ex(ds_manifest *m, ds_report *r, double max_bad_fraction, int mask_size_ok);
void ds_report_free(ds_report *r);

/* The summary that `ancd info -c CFG` prints: counts per type (test, train, masks) and, when r is
 * not NULL, the files validated and every bad file with its reason. */
void ds_print_summary(FILE *f, const ds_manifest *m, const ds_report *r);

#endif
