/* ncd_metrics.json, confusion.png, gallery.png and the class-discovery rows (classify_outputs.h).
 */
#include "classify_outputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_store.h"
#include "error.h"
#include "log.h"
#include "ncd_metrics.h"
#include "output_paths.h"
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
  (void)gallery_size;
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
