/* ancd report: gathers <out>/<dataset>/<category>/metrics.json of every category of the config's
 * dataset into <out>/<dataset>/tables.md and tables.csv, for runs (e.g. Slurm arrays) that
 * detected the categories separately. A missing category is a warning; none at all is an error. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "classify_outputs.h"
#include "cli.h"
#include "dataset.h"
#include "detect_store.h"
#include "error.h"
#include "log.h"
#include "output_paths.h"

static int by_name(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

/* Without the dataset (e.g. reporting on another machine): the folders under the dataset's output
 * folder that hold a metrics.json, sorted. */
static int categories_from_outputs(cfg_names *out, const char *dataset_dir) {
  memset(out, 0, sizeof *out);
  DIR *d = opendir(dataset_dir);
  if (!d)
    return ancd_errorf("%s: cannot open the output folder", dataset_dir);
  struct dirent *e;
  while ((e = readdir(d)) != NULL && out->n < CFG_MAX_NAMES) {
    char path[OUTPUT_PATH_LEN + 300];
    struct stat st;
    if (e->d_name[0] == '.' || strlen(e->d_name) >= CFG_NAME_LEN)
      continue;
    snprintf(path, sizeof path, "%s/%s/metrics.json", dataset_dir, e->d_name);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
      memcpy(out->v[out->n++], e->d_name, strlen(e->d_name) + 1); /* length checked above */
  }
  closedir(d);
  qsort(out->v, (size_t)out->n, sizeof out->v[0], by_name);
  return 0;
}

/* Reads every category's metrics and writes the tables. Returns an exit code. */
static int report(const config_set *cs) {
  char dataset_dir[OUTPUT_PATH_LEN], dir[OUTPUT_PATH_LEN];
  output_dataset_dir(dataset_dir, sizeof dataset_dir, &cs->base);
  const char *name = cs->base.dataset.name[0] ? cs->base.dataset.name : cs->base.dataset.layout;

  cfg_names *cats = xmalloc(sizeof *cats);
  if (ds_list_categories(cats, &cs->base.dataset) != 0) {
    log_warn("%s; reporting the categories found under %s", ancd_error(), dataset_dir);
    if (categories_from_outputs(cats, dataset_dir) != 0) {
      log_error("%s", ancd_error());
      free(cats);
      return ANCD_EXIT_INPUT;
    }
  }

  config *c = xmalloc(sizeof *c);
  ad_metrics *m = xcalloc((size_t)(cats->n > 0 ? cats->n : 1), sizeof *m);
  const char **found = xcalloc((size_t)(cats->n > 0 ? cats->n : 1), sizeof *found);
  char missing[1024] = "";
  int n_found = 0, n_missing = 0, rc = ANCD_EXIT_OK;
  for (int i = 0; i < cats->n && rc == ANCD_EXIT_OK; i++) {
    /* The category's own config: an override may move its outputs. */
    if (config_for_category(c, cs, cats->v[i]) != 0) {
      log_error("%s", ancd_error());
      rc = ANCD_EXIT_INPUT;
      break;
    }
    output_category_dir(dir, sizeof dir, c, cats->v[i]);
    if (metrics_json_read(dir, &m[n_found]) != 0) {
      log_warn("%s: missing: %s", cats->v[i], ancd_error());
      size_t len = strlen(missing);
      snprintf(missing + len, sizeof missing - len, "%s%s", n_missing ? ", " : "", cats->v[i]);
      n_missing++;
      continue;
    }
    found[n_found++] = cats->v[i];
  }
  if (rc == ANCD_EXIT_OK && n_found == 0) {
    log_error("%s: no category has a metrics.json (%d expected)", dataset_dir, cats->n);
    rc = ANCD_EXIT_INPUT;
  }
  ncd_table_row *ncd = xcalloc((size_t)cats->n + 1, sizeof *ncd);
  const int n_ncd = ncd_rows_gather(ncd, cs, cats, 0);
  if (rc == ANCD_EXIT_OK && tables_write(dataset_dir, name, found, m, n_found, ncd, n_ncd) != 0) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  if (rc == ANCD_EXIT_OK) {
    log_info("%s/tables.md, tables.csv: %d categor%s; class discovery: %d", dataset_dir, n_found,
             n_found == 1 ? "y" : "ies", n_ncd);
    if (n_missing)
      log_warn("%d categor%s missing: %s", n_missing, n_missing == 1 ? "y" : "ies", missing);
  }
  free(ncd);
  free(found);
  free(m);
  free(c);
  free(cats);
  return rc;
}

int job_report(int argc, char **argv) {
  const cli_opt opts[] = {{0}};
  const cli_job job = {"report",
                       "Gathers OUT/<dataset>/<category>/metrics.json of every category of the "
                       "config's dataset into OUT/<dataset>/tables.md and tables.csv (one row per "
                       "category and a mean row, metrics x 100). Missing categories are warnings.",
                       "-c FILE [--set KEY=VALUE ...] [-o DIR]", opts, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "report", "its dataset names the categories")) != 0)
    return rc;
  config_set *cs = xmalloc(sizeof *cs);
  rc = cli_load_config(cs, &a);
  if (!rc)
    rc = report(cs);
  free(cs);
  return rc;
}
