/* Dataset validation and summary (io/dataset.h); the layouts are in dataset_layouts.c.
 * Validation decodes every image and mask in full (a header probe would miss truncation),
 * in parallel over files, and reports bad files in manifest order. */
#include "dataset.h"
#include "error.h"
#include "image.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void ds_free(ds_manifest *m) {
  free(m->items);
  memset(m, 0, sizeof *m);
}

void ds_report_free(ds_report *r) {
  free(r->bad);
  memset(r, 0, sizeof *r);
}

/* The reason without the leading "path: " that image_load's messages carry. */
static void set_reason(char *out, size_t n, const char *path, const char *msg) {
  size_t len = strlen(path);
  if (strncmp(msg, path, len) == 0 && msg[len] == ':' && msg[len + 1] == ' ')
    msg += len + 2;
  snprintf(out, n, "%s", msg);
}

/* Decodes the image and its mask; on failure fills reason and says which file was bad
 * (0 image, 1 mask). Returns 0 when both are good. A mask of another size than its image is bad
 * unless mask_size_ok. */
static int check_item(const ds_item *it, char *reason, size_t n, int *bad_is_mask,
                      int mask_size_ok) {
  image_u8 img = {0}, mask = {0};
  *bad_is_mask = 0;
  if (image_load(&img, it->path, 0) != 0) {
    set_reason(reason, n, it->path, ancd_error());
    return -1;
  }
  int rc = 0;
  if (it->mask[0]) {
    *bad_is_mask = 1;
    if (image_load(&mask, it->mask, 1) != 0) {
      set_reason(reason, n, it->mask, ancd_error());
      rc = -1;
    } else if (!mask_size_ok && (mask.w != img.w || mask.h != img.h)) {
      snprintf(reason, n, "mask is %dx%d but its image is %dx%d", mask.w, mask.h, img.w, img.h);
      rc = -1;
    }
  }
  image_free(&img);
  image_free(&mask);
  return rc;
}

int ds_validate(ds_manifest *m, ds_report *r, double max_bad_fraction) {
  return ds_validate_ex(m, r, max_bad_fraction, 0);
}

int ds_validate_ex(ds_manifest *m, ds_report *r, double max_bad_fraction, int mask_size_ok) {
  memset(r, 0, sizeof *r);
  const int n = m->n;
  int n_test = 0; /* a manifest of train images only (ds_scan_train_normals) needs no test image */
  for (int i = 0; i < n; i++)
    n_test += m->items[i].split == DS_TEST;
  char(*reason)[256] = xcalloc((size_t)n + 1, sizeof *reason);
  int *status = xcalloc((size_t)n + 1, sizeof *status); /* 0 good, 1 image bad, 2 mask bad */
  progress p;
  char label[64];
  snprintf(label, sizeof label, "validate %.50s", m->category);
  progress_start(&p, label, n);
  long done = 0;
#pragma omp parallel for schedule(dynamic, 4)
  for (int i = 0; i < n; i++) {
    int bad_is_mask;
    if (check_item(&m->items[i], reason[i], sizeof reason[i], &bad_is_mask, mask_size_ok) != 0)
      status[i] = 1 + bad_is_mask;
    long now;
#pragma omp atomic capture
    now = ++done;
#ifdef _OPENMP
    if (omp_get_thread_num() == 0) /* the bar belongs to one thread */
#endif
      progress_update(&p, now);
  }
  progress_finish(&p);

  /* Report in manifest order and keep the good items. */
  r->n_checked = n;
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (!status[i]) {
      m->items[kept++] = m->items[i];
      continue;
    }
    r->bad = xrealloc(r->bad, (size_t)(r->n_bad + 1) * sizeof *r->bad);
    ds_bad_file *b = &r->bad[r->n_bad++];
    snprintf(b->path, sizeof b->path, "%s", status[i] == 2 ? m->items[i].mask : m->items[i].path);
    snprintf(b->reason, sizeof b->reason, "%s", reason[i]);
    log_warn("%s: %s", b->path, b->reason);
  }
  m->n = kept;
  free(reason);
  free(status);
  if (n > 0 && (double)r->n_bad / n > max_bad_fraction)
    return ancd_errorf("category %s: %d of %d files bad (> io.max_bad_fraction=%g)", m->category,
                       r->n_bad, n, max_bad_fraction);
  for (int i = 0; i < m->n; i++)
    if (m->items[i].split == DS_TEST)
      return 0;
  if (n_test == 0)
    return 0;
  return ancd_errorf("category %s: no test images left after removing %d bad files", m->category,
                     r->n_bad);
}

/* Counts per type, types sorted by name (VisA manifests are in CSV order). */
typedef struct {
  const char *type;
  int test, train, masks, anomalous;
} type_count;

static int cmp_type_count(const void *a, const void *b) {
  return strcmp(((const type_count *)a)->type, ((const type_count *)b)->type);
}

void ds_print_summary(FILE *f, const ds_manifest *m, const ds_report *r) {
  type_count *tc = xcalloc((size_t)m->n + 1, sizeof *tc);
  int nt = 0, n_test = 0, n_train = 0, n_masks = 0, n_anom = 0;
  for (int i = 0; i < m->n; i++) {
    const ds_item *it = &m->items[i];
    int t = 0;
    while (t < nt && strcmp(tc[t].type, it->type) != 0)
      t++;
    if (t == nt)
      tc[nt++].type = it->type;
    int test = it->split == DS_TEST, mask = it->mask[0] != 0;
    tc[t].test += test;
    tc[t].train += !test;
    tc[t].masks += mask;
    tc[t].anomalous |= it->label;
    n_test += test;
    n_train += !test;
    n_masks += mask;
    n_anom += test && it->label;
  }
  qsort(tc, (size_t)nt, sizeof *tc, cmp_type_count);
  fprintf(f, "category %s: %d test (%d normal, %d anomalous), %d train, %d masks%s\n", m->category,
          n_test, n_test - n_anom, n_anom, n_train, n_masks,
          m->has_masks ? "" : " (layout without masks)");
  fprintf(f, "  %-24s %6s %6s %6s\n", "type", "test", "train", "masks");
  for (int t = 0; t < nt; t++)
    fprintf(f, "  %-24s %6d %6d %6d%s\n", tc[t].type, tc[t].test, tc[t].train, tc[t].masks,
            tc[t].anomalous ? "" : "  (normal)");
  if (r && r->n_checked > 0) {
    fprintf(f, "  validated %d files: %d bad\n", r->n_checked, r->n_bad);
    for (int i = 0; i < r->n_bad; i++)
      fprintf(f, "    %s: %s\n", r->bad[i].path, r->bad[i].reason);
  }
  free(tc);
}

/* The normal training images of a category (dataset.h). */
int ds_scan_train_normals(ds_manifest *m, const cfg_dataset *d, const char *category) {
  if (ds_scan(m, d, category) != 0)
    return -1;
  int kept = 0;
  for (int i = 0; i < m->n; i++)
    if (ds_is_train_normal(&m->items[i]))
      m->items[kept++] = m->items[i];
  m->n = kept;
  return 0;
}
