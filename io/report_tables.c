/* metrics.json per category and the AD tables per dataset (tables.md / tables.csv): the seven
 * metrics of musc §A.8 with the columns of the MuSc README's table. Undefined metrics are NaN in
 * memory, null in JSON and blank cells in the tables, never 0. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "detect_store.h"
#include "error.h"
#include "fsutil.h"

/* The seven metrics in table order: JSON key, table column, offset in ad_metrics. */
static const struct {
  const char *key, *column;
  size_t offset;
} metric_fields[] = {
    {"auroc_cls", "AUROC-cls", offsetof(ad_metrics, auroc_cls)},
    {"f1max_cls", "F1-max-cls", offsetof(ad_metrics, f1max_cls)},
    {"ap_cls", "AP-cls", offsetof(ad_metrics, ap_cls)},
    {"auroc_px", "AUROC-segm", offsetof(ad_metrics, auroc_px)},
    {"f1max_px", "F1-max-segm", offsetof(ad_metrics, f1max_px)},
    {"ap_px", "AP-segm", offsetof(ad_metrics, ap_px)},
    {"aupro", "PRO-segm", offsetof(ad_metrics, aupro)},
};
enum { N_METRICS = sizeof metric_fields / sizeof metric_fields[0] };

static double *field(ad_metrics *m, int k) {
  return (double *)((char *)m + metric_fields[k].offset);
}
static double field_get(const ad_metrics *m, int k) {
  return *(const double *)((const char *)m + metric_fields[k].offset);
}

/* ---- a growing text buffer ------------------------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
} text;

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (k < 0)
      ANCD_FATAL("vsnprintf failed");
    if (t->s && t->len + (size_t)k < t->cap) {
      t->len += (size_t)k;
      return;
    }
    t->cap = 2 * (t->len + (size_t)k + 64);
    t->s = xrealloc(t->s, t->cap);
  }
}

/* ---- metrics.json ---------------------------------------------------------------------------- */

static int json_path(char *out, size_t n, const char *dir) {
  if (snprintf(out, n, "%s/metrics.json", dir) >= (int)n)
    return ancd_errorf("%s: path too long", dir);
  return 0;
}

/* The category: the last non-empty component of dir. */
static void dir_name(char *out, size_t n, const char *dir) {
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/')
    len--;
  size_t begin = len;
  while (begin > 0 && dir[begin - 1] != '/')
    begin--;
  snprintf(out, n, "%.*s", (int)(len - begin), dir + begin);
}

/* Writes the JSON text json (malloc'ed by json_dumps, freed here) to path atomically, with the
 * newline a text file ends with. */
static int write_json_text(const char *path, char *json) {
  size_t len = strlen(json);
  json = xrealloc(json, len + 2);
  memcpy(json + len, "\n", 2);
  int rc = fs_write_atomic(path, json, len + 1);
  free(json);
  return rc;
}

/* The fewest significant digits, 15 to 17, at which every finite metric reads back as the same
 * double (jansson takes one precision per document). */
static int exact_precision(const ad_metrics *m) {
  for (int digits = 15; digits < 17; digits++) {
    int exact = 1;
    for (int k = 0; k < N_METRICS && exact; k++) {
      double v = field_get(m, k);
      char num[32];
      snprintf(num, sizeof num, "%.*g", digits, v);
      exact = !isfinite(v) || strtod(num, NULL) == v;
    }
    if (exact)
      return digits;
  }
  return 17;
}

int metrics_json_write(const char *dir, const ad_metrics *m, int n_images, const char *stage_key,
                       const char *reason) {
  char path[1100], category[256];
  if (json_path(path, sizeof path, dir) < 0)
    return -1;
  dir_name(category, sizeof category, dir);
  /* json_pack and json_string refuse text that is not UTF-8; set_new fails on a NULL value. */
  json_error_t e = {0};
  json_t *o = json_pack_ex(&e, 0, "{s:s, s:i, s:s}", "category", category, "n_images", n_images,
                           "stage_key", stage_key ? stage_key : "");
  int ok = o != NULL;
  for (int k = 0; k < N_METRICS && ok; k++) {
    double v = field_get(m, k);
    json_t *value = isfinite(v) ? json_real(v) : json_null();
    ok = json_object_set_new(o, metric_fields[k].key, value) == 0;
  }
  ok = ok && json_object_set_new(o, "reason", json_string(reason ? reason : "")) == 0;
  char *json = ok ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(exact_precision(m))) : NULL;
  json_decref(o);
  if (!json)
    return ancd_errorf("%s: cannot encode as JSON: %s", path,
                       e.text[0] ? e.text : "out of memory, or a reason that is not UTF-8");
  return write_json_text(path, json);
}

int metrics_json_add(const char *dir, const char *key, double value) {
  char path[1100];
  if (json_path(path, sizeof path, dir) < 0)
    return -1;
  json_error_t e = {0};
  json_t *o = json_load_file(path, 0, &e);
  if (!o || !json_is_object(o)) {
    json_decref(o);
    return ancd_errorf("%s: cannot read: %s", path, e.text);
  }
  int ok = json_object_set_new(o, key, isfinite(value) ? json_real(value) : json_null()) == 0;
  char *json = ok ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(o);
  if (!json)
    return ancd_errorf("%s: cannot encode as JSON", path);
  return write_json_text(path, json);
}

int metrics_json_read(const char *dir, ad_metrics *m) {
  char path[1100];
  if (json_path(path, sizeof path, dir) < 0)
    return -1;
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return ancd_errorf("%s: cannot open: %s", path, strerror(errno));
  json_error_t e;
  json_t *o = json_loadf(fp, JSON_REJECT_DUPLICATES, &e);
  fclose(fp);
  if (!o)
    return ancd_errorf("%s: not a metrics file: %s at line %d, column %d", path, e.text, e.line,
                       e.column);
  int rc = json_is_object(o) ? 0 : ancd_errorf("%s: not a metrics file: not a JSON object", path);
  /* Other keys (category, reason, ...) are not needed here. */
  for (int k = 0; k < N_METRICS && rc == 0; k++) {
    const json_t *v = json_object_get(o, metric_fields[k].key);
    if (!v)
      rc = ancd_errorf("%s: no \"%s\"", path, metric_fields[k].key);
    else if (json_is_number(v))
      *field(m, k) = json_number_value(v);
    else if (json_is_null(v))
      *field(m, k) = NAN;
    else
      rc = ancd_errorf("%s: not a metrics file: \"%s\" is not a number or null", path,
                       metric_fields[k].key);
  }
  json_decref(o);
  return rc;
}

/* ---- ncd_metrics.json ------------------------------------------------------------------------ */

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *scores_json(const ncd_scores *s) {
  json_t *o = json_object();
  json_object_set_new(o, "nmi", real_or_null(s->nmi));
  json_object_set_new(o, "ari", real_or_null(s->ari));
  json_object_set_new(o, "f1", real_or_null(s->f1));
  return o;
}

int ncd_json_write(const char *dir, const ncd_summary *s, const char *stage_key) {
  char path[1100], category[256];
  if (snprintf(path, sizeof path, "%s/ncd_metrics.json", dir) >= (int)sizeof path)
    return ancd_errorf("%s: path too long", dir);
  dir_name(category, sizeof category, dir);
  json_t *o =
      json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i}", "category", category, "stage_key",
                stage_key, "head", s->head, "n_images", s->n_images, "n_crops", s->n_crops,
                "n_types", s->n_types, "n_novel", s->n_novel, "k_estimated", s->k_est);
  if (!o)
    return ancd_errorf("%s: cannot encode the category name as JSON (not UTF-8?)", path);
  json_object_set_new(o, "image", scores_json(&s->image));
  json_object_set_new(o, "subimage", scores_json(&s->subimage));
  json_t *heads = json_array();
  for (int h = 0; h < NCD_HEADS; h++) {
    json_t *e = json_pack("{s:i, s:o}", "head", h, "loss", real_or_null(s->head_loss[h]));
    json_object_set_new(e, "image", scores_json(&s->image_head[h]));
    json_object_set_new(e, "subimage", scores_json(&s->subimage_head[h]));
    json_array_append_new(heads, e);
  }
  json_object_set_new(o, "heads", heads);
  json_object_set_new(o, "reason", json_string(s->reason));
  char *json = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
  json_decref(o);
  if (!json)
    return ancd_errorf("%s: cannot encode as JSON (a reason that is not UTF-8?)", path);
  return write_json_text(path, json);
}

static double number_or_nan(const json_t *v) {
  return json_is_number(v) ? json_number_value(v) : NAN;
}

int ncd_json_read(const char *dir, ncd_summary *s, char *stage_key) {
  char path[1100];
  if (snprintf(path, sizeof path, "%s/ncd_metrics.json", dir) >= (int)sizeof path)
    return ancd_errorf("%s: path too long", dir);
  json_error_t e;
  json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
  if (!o)
    return ancd_errorf("%s: %s", path, e.text);
  memset(s, 0, sizeof *s);
  const char *key = NULL;
  json_t *image = NULL;
  int rc = json_unpack_ex(o, &e, 0, "{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:o}", "stage_key", &key,
                          "head", &s->head, "n_images", &s->n_images, "n_crops", &s->n_crops,
                          "n_types", &s->n_types, "n_novel", &s->n_novel, "k_estimated", &s->k_est,
                          "image", &image);
  if (rc == 0 && json_is_object(image)) {
    snprintf(stage_key, 17, "%s", key);
    s->image.nmi = number_or_nan(json_object_get(image, "nmi"));
    s->image.ari = number_or_nan(json_object_get(image, "ari"));
    s->image.f1 = number_or_nan(json_object_get(image, "f1"));
  } else {
    rc = ancd_errorf("%s: not an ncd_metrics.json: %s", path, e.text);
  }
  json_decref(o);
  return rc;
}

/* ---- tables ---------------------------------------------------------------------------------- */

/* A cell: value x 100 with 2 decimals, blank for NaN. */
static void cell(char out[32], double v) {
  if (isfinite(v))
    snprintf(out, 32, "%.2f", 100.0 * v);
  else
    out[0] = '\0';
}

/* Markdown: '|' inside a name would split the cell. */
static void text_md_name(text *t, const char *s) {
  for (; *s; s++)
    text_printf(t, *s == '|' ? "\\|" : "%c", *s);
}

/* CSV: quoted when it holds a comma, a quote or a line break (RFC 4180). */
static void text_csv_name(text *t, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    text_printf(t, "%s", s);
    return;
  }
  text_printf(t, "\"");
  for (; *s; s++)
    text_printf(t, *s == '"' ? "\"\"" : "%c", *s);
  text_printf(t, "\"");
}

static void table_row(text *md, text *csv, const char *name, int bold, const ad_metrics *m) {
  text_printf(md, "| ");
  if (bold)
    text_printf(md, "**%s**", name);
  else
    text_md_name(md, name);
  text_csv_name(csv, name);
  for (int k = 0; k < N_METRICS; k++) {
    char c[32];
    cell(c, field_get(m, k));
    text_printf(md, " | %s", c);
    text_printf(csv, ",%s", c);
  }
  text_printf(md, " |\n");
  text_printf(csv, "\n");
}

/* The class-discovery section (AnomalyNCD README's columns) and its CSV. */
static void ncd_table(text *md, text *csv, const char *dataset, const ncd_table_row *rows, int n) {
  static const char *const columns[] = {"NMI", "ARI", "F1", "AUPRO", "K", "K estimated", "Images"};
  text_printf(md, "\n## %s: anomaly class discovery (x100)\n\n| Category", dataset);
  text_printf(csv, "Category");
  for (int k = 0; k < 7; k++) {
    text_printf(md, " | %s", columns[k]);
    text_printf(csv, ",%s", columns[k]);
  }
  text_printf(md, " |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  text_printf(csv, "\n");
  double sum[4] = {0}, count[4] = {0};
  for (int i = 0; i <= n; i++) {
    const int mean = i == n;
    double v[4];
    for (int k = 0; k < 4; k++) {
      if (mean) {
        v[k] = count[k] ? sum[k] / count[k] : NAN;
        continue;
      }
      v[k] = k == 0   ? rows[i].image.nmi
             : k == 1 ? rows[i].image.ari
             : k == 2 ? rows[i].image.f1
                      : rows[i].aupro;
      if (isfinite(v[k]))
        sum[k] += v[k], count[k]++;
    }
    text_printf(md, "| ");
    if (mean)
      text_printf(md, "**Mean**");
    else
      text_md_name(md, rows[i].category);
    text_csv_name(csv, mean ? "Mean" : rows[i].category);
    for (int k = 0; k < 4; k++) {
      char c[32];
      cell(c, v[k]);
      text_printf(md, " | %s", c);
      text_printf(csv, ",%s", c);
    }
    if (mean) {
      text_printf(md, " | | | |\n");
      text_printf(csv, ",,,\n");
    } else {
      char k_est[16] = "";
      if (rows[i].k_est > 0)
        snprintf(k_est, sizeof k_est, "%d", rows[i].k_est);
      text_printf(md, " | %d | %s | %d |\n", rows[i].n_novel, k_est, rows[i].n_images);
      text_printf(csv, ",%d,%s,%d\n", rows[i].n_novel, k_est, rows[i].n_images);
    }
  }
}

/* Up to `most` pictures of <root>/<cat>/<sub>/<type>/ as Markdown images (the first types and
 * files in sorted order), after a link to the folder. */
static void report_pictures(text *md, const char *root, const char *cat, const char *sub,
                            const char *what, int most) {
  char dir[1200], typedir[1400];
  snprintf(dir, sizeof dir, "%s/%s/%s", root, cat, sub);
  fs_names types = {0}, files = {0};
  if (!fs_is_dir(dir) || fs_list_dir(&types, dir, FS_DIRS, NULL) != 0)
    return;
  text_printf(md, "%s ([all](%s/%s/)):\n\n", what, cat, sub);
  int shown = 0;
  for (int t = 0; t < types.n && shown < most; t++) {
    snprintf(typedir, sizeof typedir, "%s/%s", dir, types.v[t]);
    if (fs_list_dir(&files, typedir, FS_FILES, fs_is_image_name) != 0)
      continue;
    for (int f = 0; f < files.n && f < 2 && shown < most; f++, shown++)
      text_printf(md, "![%s %s](%s/%s/%s/%s) ", types.v[t], files.v[f], cat, sub, types.v[t],
                  files.v[f]);
    fs_names_free(&files);
  }
  text_printf(md, "\n\n");
  fs_names_free(&types);
}

/* report.md: the tables, then per category links to the pictures it has (heat maps, boxes,
 * training curves, confusion matrix, gallery). */
static int report_write(const char *root, const char *dataset, const text *tables,
                        const char *const *categories, int n_categories, const ncd_table_row *ncd,
                        int n_ncd) {
  static const char *const singles[][2] = {{"train_curves.svg", "training curves"},
                                           {"confusion.png", "confusion matrix"},
                                           {"gallery.png", "discovered classes"}};
  char path[1200];
  text md = {0};
  text_printf(&md, "# %s\n\n%s\n# Categories\n\n", dataset, tables->s);
  for (int i = 0; i < n_categories + n_ncd; i++) {
    const char *cat = i < n_categories ? categories[i] : ncd[i - n_categories].category;
    int seen = 0;
    for (int j = 0; j < n_categories && j < i && !seen; j++)
      seen = !strcmp(categories[j], cat);
    for (int j = 0; j < i - n_categories && !seen; j++)
      seen = !strcmp(ncd[j].category, cat);
    if (seen)
      continue;
    text_printf(&md, "## %s\n\n", cat);
    for (size_t k = 0; k < sizeof singles / sizeof *singles; k++) {
      snprintf(path, sizeof path, "%s/%s/%s", root, cat, singles[k][0]);
      if (fs_is_file(path))
        text_printf(&md, "%s:\n\n![%s %s](%s/%s)\n\n", singles[k][1], cat, singles[k][1], cat,
                    singles[k][0]);
    }
    report_pictures(&md, root, cat, "vis", "heat maps", 4);
    report_pictures(&md, root, cat, "regions_vis", "kept boxes", 4);
  }
  snprintf(path, sizeof path, "%s/report.md", root);
  int rc = fs_write_atomic(path, md.s, md.len);
  free(md.s);
  return rc;
}

int tables_write(const char *root, const char *dataset, const char *const *categories,
                 const ad_metrics *m, int n_categories, const ncd_table_row *ncd, int n_ncd) {
  char path[1100];
  text md = {0}, csv = {0};
  text_printf(&md, "## %s: anomaly detection (x100)\n\n| Category", dataset);
  text_printf(&csv, "Category");
  for (int k = 0; k < N_METRICS; k++) {
    text_printf(&md, " | %s", metric_fields[k].column);
    text_printf(&csv, ",%s", metric_fields[k].column);
  }
  text_printf(&md, " |\n|---");
  for (int k = 0; k < N_METRICS; k++)
    text_printf(&md, "|---:");
  text_printf(&md, "|\n");
  text_printf(&csv, "\n");

  /* The mean of each column over the categories that have it (NaN when none has). */
  ad_metrics mean;
  for (int k = 0; k < N_METRICS; k++) {
    double sum = 0;
    int count = 0;
    for (int i = 0; i < n_categories; i++)
      if (isfinite(field_get(&m[i], k))) {
        sum += field_get(&m[i], k);
        count++;
      }
    *field(&mean, k) = count ? sum / count : NAN;
  }
  for (int i = 0; i < n_categories; i++)
    table_row(&md, &csv, categories[i], 0, &m[i]);
  table_row(&md, &csv, "Mean", 1, &mean);
  text ncd_csv = {0};
  if (n_ncd > 0)
    ncd_table(&md, &ncd_csv, dataset, ncd, n_ncd);

  int rc = 0;
  if (snprintf(path, sizeof path, "%s/tables.md", root) >= (int)sizeof path)
    rc = ancd_errorf("%s: path too long", root);
  if (rc == 0)
    rc = fs_mkdirs(root);
  if (rc == 0)
    rc = fs_write_atomic(path, md.s, md.len);
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/tables.csv", root);
    rc = fs_write_atomic(path, csv.s, csv.len);
  }
  if (rc == 0 && n_ncd > 0) {
    snprintf(path, sizeof path, "%s/ncd_tables.csv", root);
    rc = fs_write_atomic(path, ncd_csv.s, ncd_csv.len);
  }
  if (rc == 0)
    rc = report_write(root, dataset, &md, categories, n_categories, ncd, n_ncd);
  free(md.s);
  free(csv.s);
  free(ncd_csv.s);
  return rc;
}
