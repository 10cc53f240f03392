/* ncd_metrics.json, confusion.png, gallery.png and the class-discovery rows (classify_outputs.h).
 */
#include "classify_outputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confusion_png.h"
#include "detect_store.h"
#include "error.h"
#include "gallery_png.h"
#include "log.h"
#include "ncd_metrics.h"
#include "output_paths.h"
#include "regions_h5.h"
#include "stage_key.h"

/* The §7.1 scores of predictions pred (class columns, >= n_base) against the true types of the
 * items that have one (true_type >= 0). */
static ncd_scores score(const int32_t *true_type, const int32_t *pred, long n, int n_base,
                        int **match, int *D) {
  int *y = xmalloc(((size_t)n + 1) * sizeof *y), *p = xmalloc(((size_t)n + 1) * sizeof *p);
  int m = 0;
  for (long i = 0; i < n; i++)
    if (true_type[i] >= 0) {
      y[m] = true_type[i];
      p[m++] = pred[i] - n_base;
    }
  ncd_eval e;
  ncd_evaluate(&e, y, p, m);
  ncd_scores s = {e.nmi, e.ari, e.f1};
  if (match) {
    *match = e.match;
    *D = e.D;
  } else {
    ncd_eval_free(&e);
  }
  free(y);
  free(p);
  return s;
}

/* confusion.png: image level, reported head; row i a true type, column i the discovered class
 * the Hungarian matching gave it (match: predicted cluster -> true class, [D]), then the classes
 * matched to no type. */
static int write_confusion(const char *dir, const results_record *r, const int *match, int D) {
  const int K = r->C - r->n_base, T = r->n_types, N = r->N;
  int *col_of_class = xmalloc(((size_t)K + 1) * sizeof *col_of_class), n_cols = 0;
  const char **col_names = xmalloc(((size_t)K + 1) * sizeof *col_names);
  for (int t = 0; t < T; t++)
    for (int c = 0; c < K && c < D; c++)
      if (match[c] == t) {
        col_of_class[c] = n_cols;
        col_names[n_cols++] = r->classes[r->n_base + c];
      }
  for (int c = 0; c < K; c++)
    if (c >= D || match[c] >= T) {
      col_of_class[c] = n_cols;
      col_names[n_cols++] = r->classes[r->n_base + c];
    }
  long *counts = xcalloc((size_t)T * K + 1, sizeof *counts);
  const int32_t *pred = r->image_pred + (size_t)r->head * N;
  for (int i = 0; i < N; i++)
    if (r->true_type[i] >= 0)
      counts[(size_t)r->true_type[i] * K + col_of_class[pred[i] - r->n_base]]++;
  char path[OUTPUT_PATH_LEN], title[256];
  snprintf(path, sizeof path, "%s/confusion.png", dir);
  snprintf(title, sizeof title, "%s: images, head %d", r->category, r->head);
  int rc = confusion_png_write(path, title, counts, T, K, r->types, col_names);
  free(counts);
  free(col_names);
  free(col_of_class);
  return rc;
}

typedef struct {
  long crop;
  float p;
} ranked_crop;

static int by_confidence(const void *a, const void *b) {
  const ranked_crop *x = a, *y = b;
  return x->p < y->p ? 1 : x->p > y->p ? -1 : (x->crop > y->crop) - (x->crop < y->crop);
}

/* gallery.png: per discovered class, its gallery_size crops of highest probability for the
 * class among the crops the reported head assigns to it; pixels and masks from regions.h5. */
static int write_gallery(const char *dir, const results_record *r, int gallery_size) {
  const int K = r->C - r->n_base, H = r->head;
  const long R = r->R;
  char path[OUTPUT_PATH_LEN], title[256];
  snprintf(path, sizeof path, "%s/%s", dir, REGIONS_FILE);
  h5s_file f;
  if (regions_h5_open(&f, path) != 0)
    return -1;
  ranked_crop *ranked = xmalloc(((size_t)R + 1) * sizeof *ranked);
  gallery_row *rows = xcalloc((size_t)K + 1, sizeof *rows);
  gallery_item *items = xcalloc((size_t)K * gallery_size + 1, sizeof *items);
  regions_crop *crops = xcalloc((size_t)K * gallery_size + 1, sizeof *crops);
  int rc = 0, n_read = 0;
  for (int c = 0; c < K && rc == 0; c++) {
    long m = 0;
    for (long j = 0; j < R; j++)
      if (r->crop_pred[(size_t)H * R + j] == r->n_base + c)
        ranked[m++] = (ranked_crop){j, r->crop_probs[((size_t)H * R + j) * r->C + r->n_base + c]};
    qsort(ranked, (size_t)m, sizeof *ranked, by_confidence);
    rows[c] = (gallery_row){.label = r->classes[r->n_base + c],
                            .items = items + (size_t)c * gallery_size,
                            .n_items = m < gallery_size ? (int)m : gallery_size};
    for (int k = 0; k < rows[c].n_items && rc == 0; k++) {
      regions_crop *cr = &crops[n_read];
      if ((rc = regions_h5_read_crop(cr, &f, ranked[k].crop)) != 0)
        break;
      n_read++;
      int t = r->true_type[cr->image_index];
      items[(size_t)c * gallery_size + k] = (gallery_item){.rgb = cr->pixels.data,
                                                           .mask = cr->mask.data,
                                                           .w = cr->pixels.w,
                                                           .h = cr->pixels.h,
                                                           .confidence = ranked[k].p,
                                                           .caption = t >= 0 ? r->types[t] : NULL};
    }
  }
  h5s_close(&f);
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/gallery.png", dir);
    snprintf(title, sizeof title, "%s: most confident crops per class (captions: true type)",
             r->category);
    rc = gallery_png_write(path, title, rows, K);
  }
  for (int i = 0; i < n_read; i++)
    regions_crop_free(&crops[i]);
  free(crops);
  free(items);
  free(rows);
  free(ranked);
  return rc;
}

int classify_outputs_write(const char *dir, const results_record *r, int gallery_size, int k_est) {
  const int H = r->H, N = r->N, n_base = r->n_base, K = r->C - r->n_base;
  const long R = r->R;
  int32_t *crop_type = xmalloc(((size_t)R + 1) * sizeof *crop_type);
  for (long j = 0; j < R; j++)
    crop_type[j] = r->true_type[r->crop_image_index[j]];
  ncd_summary s = {.head = r->head,
                   .n_images = N,
                   .n_crops = (int)R,
                   .n_types = r->n_types,
                   .n_novel = K,
                   .k_est = k_est};
  int *match = NULL, D = 0;
  for (int h = 0; h < H; h++) {
    s.image_head[h] = score(r->true_type, r->image_pred + (size_t)h * N, N, n_base,
                            h == r->head ? &match : NULL, &D);
    s.subimage_head[h] = score(crop_type, r->crop_pred + (size_t)h * R, R, n_base, NULL, NULL);
    s.head_loss[h] = r->head_loss[h];
  }
  s.image = s.image_head[r->head];
  s.subimage = s.subimage_head[r->head];
  int known = 0;
  for (int i = 0; i < N; i++)
    known += r->true_type[i] >= 0;
  if (known == 0)
    snprintf(s.reason, sizeof s.reason, "no image has a true type: no metrics");
  int rc = ncd_json_write(dir, &s, r->stage_key);
  if (rc == 0)
    log_info("category %s: %d images, %ld regions, K = %d: image NMI %.3f ARI %.3f F1 %.3f, "
             "sub-image NMI %.3f ARI %.3f F1 %.3f (head %d): %s/%s, ncd_metrics.json",
             r->category, N, R, K, s.image.nmi, s.image.ari, s.image.f1, s.subimage.nmi,
             s.subimage.ari, s.subimage.f1, r->head, dir, RESULTS_FILE);
  /* The pictures are for looking at: a failure to draw them is a warning, not a lost stage. */
  if (rc == 0 && known > 0 && write_confusion(dir, r, match, D) != 0)
    log_warn("category %s: no confusion.png: %s", r->category, ancd_error());
  if (rc == 0 && gallery_size > 0 && write_gallery(dir, r, gallery_size) != 0)
    log_warn("category %s: no gallery.png: %s", r->category, ancd_error());
  free(match);
  free(crop_type);
  return rc;
}

int ncd_rows_gather(ncd_table_row *rows, const config_set *cs, const cfg_names *cats,
                    int check_keys) {
  char dir[OUTPUT_PATH_LEN], key[STAGE_KEY_LEN], want[STAGE_KEY_LEN];
  config *c = xmalloc(sizeof *c);
  int n = 0;
  for (int i = 0; i < cats->n; i++) {
    ncd_summary s;
    if (config_for_category(c, cs, cats->v[i]) != 0)
      continue;
    output_category_dir(dir, sizeof dir, c, cats->v[i]);
    if (ncd_json_read(dir, &s, key) != 0)
      continue;
    stage_key_chain(want, STAGE_CLASSIFY, c);
    if (check_keys && strcmp(key, want))
      continue;
    ad_metrics ad;
    rows[n] = (ncd_table_row){.category = cats->v[i],
                              .image = s.image,
                              .aupro = metrics_json_read(dir, &ad) == 0 ? ad.aupro : NAN,
                              .n_images = s.n_images,
                              .n_novel = s.n_novel,
                              .k_est = s.k_est};
    n++;
  }
  free(c);
  return n;
}
