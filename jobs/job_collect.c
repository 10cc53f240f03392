/* ancd collect: gathers the points of a sweep (io/sweep.h) into OUT/sweep.md and OUT/sweep.csv.
 *
 * Layout (what slurm/sweep.sbatch writes): array task i runs
 *   ancd run -c BASE [--set X ...] $(ancd sweep S --index i) -o OUT/point_<i>
 * so point i's files are OUT/point_<i>/<dataset.name>/<category>/{metrics.json,ncd_metrics.json,
 * maps.h5, ...}; <i> is the 0-based index, not zero-padded (point_$SLURM_ARRAY_TASK_ID).
 * `ancd collect S -o OUT [--set X ...]` must be given the same extra --set as the runs: it
 * rebuilds each point's config (base, --set, the point's values) to find its folders and to
 * check that each file's stage key is the one that config gives (a file of another run, e.g. a
 * folder left from an earlier sweep with other values, is listed as stale, not reported).
 *
 * Sharing stage files between points: stage keys ignore where outputs go (io/stage_key.h), so a
 * point whose detect/regions keys equal another's (any sweep over train.* or classify.* keys)
 * can start from that point's detect and regions files: sweep.sbatch may run point 0 first (or
 * wait for any finished point) and hard-link (`ln`, or copy across file systems) its
 * <dataset>/<category>/{maps.h5,metrics.json,regions.h5} into OUT/point_<i>/<dataset>/<category>/
 * before `ancd run`; run then skips detect and regions for that point (detect is done when
 * maps.h5 has the point's stage key and metrics.json reads). Hard links are safe because every
 * writer replaces a file by rename (never in place), so a point that does recompute a stage breaks
 * the link instead of changing the other point's file.
 *
 * Tables (metrics x 100, 2 decimals, blank when undefined or missing): a row per (point,
 * category) with the resolved values of the swept keys, the seven AD metrics of metrics.json and
 * NMI, ARI, F1 of the reported head at image level from ncd_metrics.json; then per point the mean
 * over its categories (only for points with every file) and the best point per metric. Missing or
 * stale files are listed (sweep.md "Missing", sweep.csv's status column) and make the exit
 * status 1 after the tables are written. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "dataset.h"
#include "detect_store.h"
#include "error.h"
#include "fsutil.h"
#include "log.h"
#include "output_paths.h"
#include "stage_key.h"
#include "sweep.h"

/* The columns: JSON name (sweep.csv), table heading (sweep.md, as tables.md has them). */
static const struct {
  const char *key, *column;
} cols[] = {
    {"auroc_cls", "AUROC-cls"},
    {"f1max_cls", "F1-max-cls"},
    {"ap_cls", "AP-cls"},
    {"auroc_px", "AUROC-segm"},
    {"f1max_px", "F1-max-segm"},
    {"ap_px", "AP-segm"},
    {"aupro", "PRO-segm"},
    {"nmi", "NMI"},
    {"ari", "ARI"},
    {"f1", "F1"},
};
enum { N_COLS = sizeof cols / sizeof cols[0], N_AD = 7 };

typedef struct {
  int point;
  char category[CFG_NAME_LEN];
  char values[SWEEP_MAX_KEYS][SWEEP_VALUE_LEN]; /* resolved values of the swept keys */
  double v[N_COLS];                             /* NaN: undefined or missing */
  char status[64];                              /* "ok", or what is missing / stale */
} row;

/* ---- a growing text buffer ---- */

typedef struct {
  char *s;
  size_t len, cap;
} text;

static void tprintf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0)
    ANCD_FATAL("vsnprintf failed");
  if (t->len + (size_t)k + 1 > t->cap) {
    t->cap = 2 * (t->len + (size_t)k + 64);
    t->s = xrealloc(t->s, t->cap);
  }
  va_start(ap, fmt);
  vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)k;
}

static void cell(text *t, double v) {
  if (isfinite(v))
    tprintf(t, "%.2f", 100 * v);
}

/* A CSV field, quoted when it holds a comma, a quote or a newline. */
static void csv_field(text *t, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    tprintf(t, "%s", s);
    return;
  }
  tprintf(t, "\"");
  for (const char *p = s; *p; p++) {
    if (*p == '"')
      tprintf(t, "\"\"");
    else
      tprintf(t, "%c", *p);
  }
  tprintf(t, "\"");
}

/* A Markdown cell: '|' escaped. */
static void md_field(text *t, const char *s) {
  for (const char *p = s; *p; p++) {
    if (*p == '|')
      tprintf(t, "\\|");
    else
      tprintf(t, "%c", *p);
  }
}

/* ---- reading a point ---- */

static int select_one(const char *key, const void *ctx) { return !strcmp(key, (const char *)ctx); }

/* out = the value of key in c as `ancd config` prints it. */
static void resolved_value(char *out, size_t n, const config *c, const char *key) {
  char *t = config_keys_text(c, select_one, key);
  const char *v = strstr(t, ": ");
  snprintf(out, n, "%s", v ? v + 2 : "");
  out[strcspn(out, "\n")] = 0;
  free(t);
}

/* The stage_key of <dir>/metrics.json into key (metrics_json_read does not return it). */
static int metrics_json_key(const char *dir, char key[STAGE_KEY_LEN]) {
  char path[OUTPUT_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/metrics.json", dir);
  json_error_t e;
  json_t *o = json_load_file(path, 0, &e);
  if (!o)
    return ancd_errorf("%s: %s", path, e.text);
  const char *k = json_string_value(json_object_get(o, "stage_key"));
  int rc = k ? 0 : ancd_errorf("%s: no stage_key", path);
  if (k)
    snprintf(key, STAGE_KEY_LEN, "%s", k);
  json_decref(o);
  return rc;
}

static void add_status(row *r, const char *what) {
  size_t n = strlen(r->status);
  if (!strcmp(r->status, "ok"))
    n = 0;
  snprintf(r->status + n, sizeof r->status - n, "%s%s", n ? "; " : "", what);
}

/* Fills r from the category's folder; appends the problems to missing. */
static void read_row(row *r, const config *c, const char *dir, text *missing, const char *label) {
  char key[STAGE_KEY_LEN], want[STAGE_KEY_LEN];
  for (int k = 0; k < N_COLS; k++)
    r->v[k] = NAN;
  snprintf(r->status, sizeof r->status, "ok");
  char path[OUTPUT_PATH_LEN + 32];
  ad_metrics m;
  stage_key_chain(want, STAGE_DETECT, c);
  snprintf(path, sizeof path, "%s/metrics.json", dir);
  if (!fs_is_file(path)) {
    tprintf(missing, "- %s: metrics.json missing\n", label);
    add_status(r, "missing metrics.json");
  } else if (metrics_json_read(dir, &m) != 0) {
    tprintf(missing, "- %s: metrics.json unreadable: %s\n", label, ancd_error());
    add_status(r, "unreadable metrics.json");
  } else if (metrics_json_key(dir, key) != 0 || strcmp(key, want)) {
    tprintf(missing,
            "- %s: metrics.json is stale: made with other settings than the point's config (stage "
            "key %s, the config gives %s; collect needs the runs' --set)\n",
            label, key, want);
    add_status(r, "stale metrics.json");
  } else {
    const double ad[N_AD] = {m.auroc_cls, m.f1max_cls, m.ap_cls, m.auroc_px,
                             m.f1max_px,  m.ap_px,     m.aupro};
    memcpy(r->v, ad, sizeof ad);
  }
  ncd_summary s;
  stage_key_chain(want, STAGE_CLASSIFY, c);
  snprintf(path, sizeof path, "%s/ncd_metrics.json", dir);
  if (!fs_is_file(path)) {
    tprintf(missing, "- %s: ncd_metrics.json missing\n", label);
    add_status(r, "missing ncd_metrics.json");
  } else if (ncd_json_read(dir, &s, key) != 0) {
    tprintf(missing, "- %s: ncd_metrics.json unreadable: %s\n", label, ancd_error());
    add_status(r, "unreadable ncd_metrics.json");
  } else if (strcmp(key, want)) {
    tprintf(
        missing,
        "- %s: ncd_metrics.json is stale: made with other settings than the point's config (stage "
        "key %s, the config gives %s; collect needs the runs' --set)\n",
        label, key, want);
    add_status(r, "stale ncd_metrics.json");
  } else {
    r->v[N_AD] = s.image.nmi;
    r->v[N_AD + 1] = s.image.ari;
    r->v[N_AD + 2] = s.image.f1;
  }
}

static int by_name(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static int keep_all(const char *name) {
  (void)name;
  return 1;
}

/* The categories found under the points' output folders (when the dataset is not here): the
 * folders holding metrics.json or ncd_metrics.json, the union over the points, sorted. */
static void categories_from_outputs(cfg_names *out, const sweep *s, const config_set *cs0,
                                    const char *out_dir) {
  memset(out, 0, sizeof *out);
  config_set *cs = xmalloc(sizeof *cs);
  for (int i = 0; i < s->n_points; i++) {
    memcpy(cs, cs0, sizeof *cs);
    if (sweep_apply_point(cs, s, i) != 0)
      continue;
    snprintf(cs->base.output.dir, sizeof cs->base.output.dir, "%s/point_%d", out_dir, i);
    char dataset_dir[OUTPUT_PATH_LEN], path[OUTPUT_PATH_LEN + 300];
    output_dataset_dir(dataset_dir, sizeof dataset_dir, &cs->base);
    fs_names dirs = {0};
    if (fs_list_dir(&dirs, dataset_dir, FS_DIRS, keep_all) != 0)
      continue;
    for (int d = 0; d < dirs.n && out->n < CFG_MAX_NAMES; d++) {
      int seen = strlen(dirs.v[d]) >= CFG_NAME_LEN;
      for (int j = 0; j < out->n && !seen; j++)
        seen = !strcmp(out->v[j], dirs.v[d]);
      snprintf(path, sizeof path, "%s/%s/metrics.json", dataset_dir, dirs.v[d]);
      int has = fs_is_file(path);
      snprintf(path, sizeof path, "%s/%s/ncd_metrics.json", dataset_dir, dirs.v[d]);
      has = has || fs_is_file(path);
      if (!seen && has)
        snprintf(out->v[out->n++], CFG_NAME_LEN, "%s", dirs.v[d]);
    }
    fs_names_free(&dirs);
  }
  free(cs);
  qsort(out->v, (size_t)out->n, sizeof out->v[0], by_name);
}

/* ---- the tables ---- */

static void md_header(text *md, const sweep *s, const char *what, int with_category) {
  tprintf(md, "| Point");
  for (int k = 0; k < s->n_keys; k++) {
    tprintf(md, " | ");
    md_field(md, s->keys[k]);
  }
  tprintf(md, " | %s", what);
  for (int c = 0; c < N_COLS; c++)
    tprintf(md, " | %s", cols[c].column);
  tprintf(md, " |\n|---:");
  for (int k = 0; k < s->n_keys; k++)
    tprintf(md, "|---");
  tprintf(md, "|%s", with_category ? "---" : "---:");
  for (int c = 0; c < N_COLS; c++)
    tprintf(md, "|---:");
  tprintf(md, "|\n");
}

static void md_values(text *md, const sweep *s, const row *r) {
  tprintf(md, "| %d", r->point);
  for (int k = 0; k < s->n_keys; k++) {
    tprintf(md, " | ");
    md_field(md, r->values[k]);
  }
}

static int write_tables(const char *out_dir, const sweep *s, const row *rows, int n_rows,
                        int n_cats, const char *missing, const char *dataset_label) {
  text md = {0}, csv = {0};
  tprintf(&md, "# Sweep %s\n\n", s->name);
  tprintf(&md,
          "%s over `%s` (%s), %d point%s x %d categor%s, read from "
          "`%s/point_<i>/%s/<category>/`. Anomaly detection (metrics.json) and class discovery "
          "at image level, reported head (ncd_metrics.json), x 100; blank: undefined or "
          "missing.\n\n## Per point and category\n\n",
          s->file, s->config, s->grid ? "grid" : "points", s->n_points, s->n_points == 1 ? "" : "s",
          n_cats, n_cats == 1 ? "y" : "ies", out_dir, dataset_label);
  md_header(&md, s, "Category", 1);
  tprintf(&csv, "point");
  for (int k = 0; k < s->n_keys; k++) {
    tprintf(&csv, ",");
    csv_field(&csv, s->keys[k]);
  }
  tprintf(&csv, ",category");
  for (int c = 0; c < N_COLS; c++)
    tprintf(&csv, ",%s", cols[c].key);
  tprintf(&csv, ",status\n");
  for (int i = 0; i < n_rows; i++) {
    const row *r = &rows[i];
    md_values(&md, s, r);
    tprintf(&md, " | ");
    md_field(&md, r->category);
    tprintf(&csv, "%d", r->point);
    for (int k = 0; k < s->n_keys; k++) {
      tprintf(&csv, ",");
      csv_field(&csv, r->values[k]);
    }
    tprintf(&csv, ",");
    csv_field(&csv, r->category);
    for (int c = 0; c < N_COLS; c++) {
      tprintf(&md, " | ");
      cell(&md, r->v[c]);
      tprintf(&csv, ",");
      cell(&csv, r->v[c]);
    }
    tprintf(&md, " |\n");
    tprintf(&csv, ",");
    csv_field(&csv, r->status);
    tprintf(&csv, "\n");
  }

  /* Per point: the mean over its categories, for points with every file (a point missing a
   * category is not comparable); then the best of those per metric (every metric: higher is
   * better). */
  double *mean = xmalloc((size_t)s->n_points * N_COLS * sizeof *mean);
  int *complete = xcalloc((size_t)s->n_points, sizeof *complete);
  const row **first = xcalloc((size_t)s->n_points, sizeof *first);
  for (int p = 0; p < s->n_points; p++) {
    double sum[N_COLS] = {0};
    int count[N_COLS] = {0}, n = 0, ok = 1;
    for (int i = 0; i < n_rows; i++) {
      if (rows[i].point != p)
        continue;
      first[p] = first[p] ? first[p] : &rows[i];
      n++;
      ok = ok && !strcmp(rows[i].status, "ok");
      for (int c = 0; c < N_COLS; c++)
        if (isfinite(rows[i].v[c])) {
          sum[c] += rows[i].v[c];
          count[c]++;
        }
    }
    complete[p] = ok && n > 0;
    for (int c = 0; c < N_COLS; c++)
      mean[p * N_COLS + c] = complete[p] && count[c] ? sum[c] / count[c] : NAN;
  }
  tprintf(&md, "\n## Per point: mean over categories\n\n");
  md_header(&md, s, "Complete", 0);
  for (int p = 0; p < s->n_points; p++) {
    if (!first[p])
      continue;
    md_values(&md, s, first[p]);
    tprintf(&md, " | %s", complete[p] ? "yes" : "no");
    for (int c = 0; c < N_COLS; c++) {
      tprintf(&md, " | ");
      cell(&md, mean[p * N_COLS + c]);
    }
    tprintf(&md, " |\n");
  }
  tprintf(&md, "\n## Best point per metric\n\n| Metric | Point");
  for (int k = 0; k < s->n_keys; k++) {
    tprintf(&md, " | ");
    md_field(&md, s->keys[k]);
  }
  tprintf(&md, " | Mean | Tied with |\n|---|---:");
  for (int k = 0; k < s->n_keys; k++)
    tprintf(&md, "|---");
  tprintf(&md, "|---:|---|\n");
  for (int c = 0; c < N_COLS; c++) {
    int best = -1;
    for (int p = 0; p < s->n_points; p++)
      if (isfinite(mean[p * N_COLS + c]) &&
          (best < 0 || mean[p * N_COLS + c] > mean[best * N_COLS + c]))
        best = p;
    tprintf(&md, "| %s ", cols[c].column);
    if (best < 0) { /* no complete point has it */
      for (int k = 0; k < s->n_keys + 3; k++)
        tprintf(&md, "| ");
      tprintf(&md, "|\n");
      continue;
    }
    md_values(&md, s, first[best]);
    tprintf(&md, " | ");
    cell(&md, mean[best * N_COLS + c]);
    tprintf(&md, " |");
    int n_tied = 0;
    for (int p = best + 1; p < s->n_points; p++)
      if (mean[p * N_COLS + c] == mean[best * N_COLS + c])
        tprintf(&md, "%s%d", n_tied++ ? ", " : " ", p);
    tprintf(&md, " |\n");
    log_info("collect: best %-9s point %d (%.2f)", cols[c].key, best,
             100 * mean[best * N_COLS + c]);
  }
  if (missing && *missing)
    tprintf(&md, "\n## Missing\n\n%s", missing);
  free(first);
  free(complete);
  free(mean);

  char path[CFG_PATH_LEN + 32];
  int rc = fs_mkdirs(out_dir);
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/sweep.md", out_dir);
    rc = fs_write_atomic(path, md.s, md.len);
  }
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/sweep.csv", out_dir);
    rc = fs_write_atomic(path, csv.s, csv.len);
  }
  free(md.s);
  free(csv.s);
  return rc;
}

/* Reads every (point, category) and writes the tables. Returns an exit code. */
static int collect(const sweep *s, const config_set *cs0, const char *out_dir) {
  config_set *cs = xmalloc(sizeof *cs);
  config *c = xmalloc(sizeof *c);
  cfg_names *cats = xmalloc(sizeof *cats), *found = NULL;
  row *rows = NULL;
  text missing = {0};
  tprintf(&missing, "%s", "");
  int n_rows = 0, cap = 0, rc = ANCD_EXIT_OK, n_cats_max = 0, n_bad = 0;
  char dataset_label[CFG_NAME_LEN] = "";
  for (int i = 0; i < s->n_points && rc == ANCD_EXIT_OK; i++) {
    memcpy(cs, cs0, sizeof *cs);
    if (sweep_apply_point(cs, s, i) != 0) {
      log_error("%s", ancd_error());
      rc = ANCD_EXIT_INPUT;
      break;
    }
    snprintf(cs->base.output.dir, sizeof cs->base.output.dir, "%s/point_%d", out_dir, i);
    const char *name = cs->base.dataset.name[0] ? cs->base.dataset.name : cs->base.dataset.layout;
    if (i == 0 || strcmp(dataset_label, name)) /* points that sweep dataset.name: no one name */
      snprintf(dataset_label, sizeof dataset_label, "%s", i == 0 ? name : "<dataset>");
    const cfg_names *list = cats;
    if (ds_list_categories(cats, &cs->base.dataset) != 0) {
      if (!found) { /* the dataset is not here: the categories the points wrote */
        log_warn("%s; collecting the categories found under %s/point_*", ancd_error(), out_dir);
        found = xmalloc(sizeof *found);
        categories_from_outputs(found, s, cs0, out_dir);
      }
      list = found;
    }
    n_cats_max = list->n > n_cats_max ? list->n : n_cats_max;
    for (int j = 0; j < list->n; j++) {
      if (config_for_category(c, cs, list->v[j]) != 0) {
        log_error("%s", ancd_error());
        rc = ANCD_EXIT_INPUT;
        break;
      }
      if (n_rows == cap) {
        cap = cap ? 2 * cap : 16;
        rows = xrealloc(rows, (size_t)cap * sizeof *rows);
      }
      row *r = &rows[n_rows++];
      memset(r, 0, sizeof *r);
      r->point = i;
      snprintf(r->category, sizeof r->category, "%s", list->v[j]);
      for (int k = 0; k < s->n_keys; k++)
        resolved_value(r->values[k], sizeof r->values[k], c, s->keys[k]);
      char dir[OUTPUT_PATH_LEN], label[CFG_NAME_LEN + 32];
      output_category_dir(dir, sizeof dir, c, list->v[j]);
      snprintf(label, sizeof label, "point %d, %s", i, list->v[j]);
      read_row(r, c, dir, &missing, label);
      n_bad += strcmp(r->status, "ok") != 0;
    }
  }
  if (rc == ANCD_EXIT_OK && n_rows == 0) {
    log_error("%s: no categories: neither the dataset nor any point's outputs name one", out_dir);
    rc = ANCD_EXIT_INPUT;
  }
  if (rc == ANCD_EXIT_OK &&
      write_tables(out_dir, s, rows, n_rows, n_cats_max, missing.s, dataset_label) != 0) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  if (rc == ANCD_EXIT_OK) {
    log_info("%s/sweep.md, sweep.csv: %d point%s, %d row%s", out_dir, s->n_points,
             s->n_points == 1 ? "" : "s", n_rows, n_rows == 1 ? "" : "s");
    if (n_bad) {
      log_warn("%d of %d (point, category) rows lack files:\n%s", n_bad, n_rows, missing.s);
      rc = ANCD_EXIT_INPUT;
    }
  }
  free(missing.s);
  free(rows);
  free(found);
  free(cats);
  free(c);
  free(cs);
  return rc;
}

int job_collect(int argc, char **argv) {
  const cli_opt opts[] = {{0}};
  const cli_job job = {
      "collect",
      "Gathers the points of a sweep, OUT/point_<i>/<dataset>/<category>/metrics.json and "
      "ncd_metrics.json (`ancd run ... -o OUT/point_<i>` per point), into OUT/sweep.md and "
      "OUT/sweep.csv: a row per point and category with the swept values and the metrics, the "
      "mean per point and the best point per metric. Give it the --set the runs had besides "
      "the point's own. Missing or stale files are listed and make the exit status 1.",
      "SWEEP.yaml -o OUT [--set KEY=VALUE ...]", opts, 1};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if (a.n_positional != 1 || !a.output) {
    fprintf(stderr, "ancd collect: %s is needed (see 'ancd collect --help')\n",
            a.n_positional != 1 ? "the sweep file" : "-o OUT, the sweep's output folder");
    return ANCD_EXIT_USAGE;
  }
  if (a.n_configs > 0) {
    fprintf(stderr, "ancd collect: -c is not taken: the sweep file names its config\n");
    return ANCD_EXIT_USAGE;
  }
  if (strlen(a.output) + 16 >= CFG_PATH_LEN) {
    fprintf(stderr, "ancd collect: -o path too long\n");
    return ANCD_EXIT_USAGE;
  }
  sweep s;
  config_set *cs0 = xmalloc(sizeof *cs0);
  rc = ANCD_EXIT_OK;
  if (sweep_load(&s, a.positional[0]) != 0 || sweep_base_config(cs0, &s, a.sets, a.n_sets) != 0) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  if (rc == ANCD_EXIT_OK)
    rc = collect(&s, cs0, a.output);
  free(cs0);
  sweep_free(&s);
  return rc;
}
