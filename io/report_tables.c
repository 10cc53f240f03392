/* metrics.json per category and the AD tables per dataset (tables.md / tables.csv): the seven
 * metrics of musc §A.8 with the columns of the MuSc README's table. Undefined metrics are NaN in
 * memory, null in JSON and blank cells in the tables, never 0. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* JSON string literal: quotes, backslashes and control characters escaped. */
static void text_json_string(text *t, const char *s) {
  text_printf(t, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      text_printf(t, "\\%c", *p);
    else if (*p == '\n')
      text_printf(t, "\\n");
    else if (*p == '\t')
      text_printf(t, "\\t");
    else if (*p < 0x20)
      text_printf(t, "\\u%04x", *p);
    else
      text_printf(t, "%c", *p);
  }
  text_printf(t, "\"");
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

/* The shortest of 15, 16 or 17 significant digits that reads back as the same double. */
static const char *exact_number(char out[32], double v) {
  for (int digits = 15; digits < 17; digits++) {
    snprintf(out, 32, "%.*g", digits, v);
    if (strtod(out, NULL) == v)
      return out;
  }
  snprintf(out, 32, "%.17g", v);
  return out;
}

int metrics_json_write(const char *dir, const ad_metrics *m, int n_images, const char *hash,
                       const char *reason) {
  char path[1100], category[256], num[32];
  if (json_path(path, sizeof path, dir) < 0)
    return -1;
  dir_name(category, sizeof category, dir);
  text t = {0};
  text_printf(&t, "{\n  \"category\": ");
  text_json_string(&t, category);
  text_printf(&t, ",\n  \"n_images\": %d,\n  \"config_hash\": ", n_images);
  text_json_string(&t, hash ? hash : "");
  for (int k = 0; k < N_METRICS; k++) {
    double v = field_get(m, k);
    if (isfinite(v))
      text_printf(&t, ",\n  \"%s\": %s", metric_fields[k].key, exact_number(num, v));
    else
      text_printf(&t, ",\n  \"%s\": null", metric_fields[k].key);
  }
  text_printf(&t, ",\n  \"reason\": ");
  text_json_string(&t, reason ? reason : "");
  text_printf(&t, "\n}\n");
  int rc = fs_write_atomic(path, t.s, t.len);
  free(t.s);
  return rc;
}

/* A reader for the flat object metrics_json_write writes: string, number and null values. */
typedef struct {
  const char *path, *p;
} json_reader;

static void skip_space(json_reader *r) {
  while (isspace((unsigned char)*r->p))
    r->p++;
}

/* Reads a string literal into out (truncated to n - 1 bytes; \u escapes above ASCII become '?'). */
static int read_string(json_reader *r, char *out, size_t n) {
  if (*r->p != '"')
    return -1;
  r->p++;
  size_t len = 0;
  while (*r->p && *r->p != '"') {
    char c = *r->p++;
    if (c == '\\') {
      char e = *r->p++;
      if (e == 'n')
        c = '\n';
      else if (e == 't')
        c = '\t';
      else if (e == 'r')
        c = '\r';
      else if (e == 'b')
        c = '\b';
      else if (e == 'f')
        c = '\f';
      else if (e == 'u') {
        unsigned code = 0;
        for (int i = 0; i < 4; i++, r->p++) {
          if (!isxdigit((unsigned char)*r->p))
            return -1;
          code = code * 16 + (unsigned)(isdigit((unsigned char)*r->p)
                                            ? *r->p - '0'
                                            : tolower((unsigned char)*r->p) - 'a' + 10);
        }
        c = code < 0x80 ? (char)code : '?';
      } else if (e == '"' || e == '\\' || e == '/')
        c = e;
      else
        return -1;
    }
    if (len + 1 < n)
      out[len++] = c;
  }
  if (*r->p != '"')
    return -1;
  r->p++;
  if (n > 0)
    out[len] = '\0';
  return 0;
}

int metrics_json_read(const char *dir, ad_metrics *m) {
  char path[1100];
  if (json_path(path, sizeof path, dir) < 0)
    return -1;
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return ancd_errorf("%s: cannot open: %s", path, strerror(errno));
  char buf[65536];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  int too_long = !feof(fp) && n == sizeof buf - 1;
  fclose(fp);
  if (too_long)
    return ancd_errorf("%s: larger than %zu bytes: not a metrics file", path, sizeof buf - 1);
  buf[n] = '\0';

  int seen[N_METRICS] = {0};
  json_reader r = {path, buf};
  const char *err = NULL;
  skip_space(&r);
  if (*r.p++ != '{')
    err = "expected '{'";
  for (int first = 1; !err; first = 0) {
    skip_space(&r);
    if (*r.p == '}' && first) {
      r.p++;
      break;
    }
    char key[64];
    if (read_string(&r, key, sizeof key) < 0) {
      err = "expected a key string";
      break;
    }
    skip_space(&r);
    if (*r.p++ != ':') {
      err = "expected ':'";
      break;
    }
    skip_space(&r);
    int k = 0;
    while (k < N_METRICS && strcmp(key, metric_fields[k].key))
      k++;
    double v = NAN;
    if (*r.p == '"') {
      char ignored[512];
      if (read_string(&r, ignored, sizeof ignored) < 0)
        err = "bad string";
      else if (k < N_METRICS)
        err = "a metric holds a string";
    } else if (!strncmp(r.p, "null", 4)) {
      r.p += 4;
    } else {
      char *end;
      errno = 0;
      v = strtod(r.p, &end);
      if (end == r.p || errno == ERANGE)
        err = "bad number";
      r.p = end;
    }
    if (err)
      break;
    if (k < N_METRICS) { /* other keys (category, reason, ...) are not needed here */
      *field(m, k) = v;
      seen[k] = 1;
    }
    skip_space(&r);
    if (*r.p == ',') {
      r.p++;
    } else if (*r.p == '}') {
      r.p++;
      break;
    } else {
      err = "expected ',' or '}'";
    }
  }
  if (err)
    return ancd_errorf("%s: not a metrics file: %s at byte %ld", path, err, (long)(r.p - buf));
  for (int k = 0; k < N_METRICS; k++)
    if (!seen[k])
      return ancd_errorf("%s: no \"%s\"", path, metric_fields[k].key);
  return 0;
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

int tables_write(const char *root, const char *dataset, const char *const *categories,
                 const ad_metrics *m, int n_categories) {
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
  free(md.s);
  free(csv.s);
  return rc;
}
