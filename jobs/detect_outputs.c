/* Resume test, NaN reasons and the dataset tables of `ancd detect` (detect_outputs.h). */
#include "detect_outputs.h"

#include "classify_outputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_store.h"
#include "error.h"
#include "h5store.h"
#include "log.h"
#include "output_paths.h"
#include "stage_key.h"

detect_state detect_category_state(const char *dir, const char *key) {
  char old[STAGE_KEY_LEN] = "";
  int st = stage_file_check(dir, MAPS_FILE, old);
  if (st == H5S_MISSING)
    return DETECT_MISSING;
  if (st != 0)
    return DETECT_DAMAGED;
  if (strcmp(old, key))
    return DETECT_STALE;
  ad_metrics m;
  if (metrics_json_read(dir, &m) != 0)
    return DETECT_DAMAGED;
  return DETECT_DONE;
}

void detect_metrics_reason(char *out, size_t size, const ad_metrics *m, const uint8_t *labels,
                           int n, int has_masks) {
  out[0] = 0;
  int pos = 0;
  for (int i = 0; i < n; i++)
    pos += labels[i] != 0;
  if (isnan(m->auroc_cls))
    snprintf(out, size, "%s",
             pos == 0 ? "no anomalous image: image metrics undefined"
                      : "no normal image: image metrics undefined");
  if (isnan(m->auroc_px)) {
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s", len ? "; " : "",
             !has_masks ? "layout without masks: pixel metrics undefined"
                        : "no positive ground-truth pixel: pixel metrics undefined");
  }
}

/* Prints a text file to stdout. */
static void print_file(const char *path) {
  char line[1024];
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  while (fgets(line, sizeof line, f))
    fputs(line, stdout);
  fclose(f);
  fflush(stdout);
}

int detect_write_tables(const config_set *cs, const cfg_names *cats) {
  char dataset_dir[OUTPUT_PATH_LEN], dir[OUTPUT_PATH_LEN], key[STAGE_KEY_LEN];
  output_dataset_dir(dataset_dir, sizeof dataset_dir, &cs->base);
  const char *name = cs->base.dataset.name[0] ? cs->base.dataset.name : cs->base.dataset.layout;
  config *c = xmalloc(sizeof *c);
  ad_metrics *m = xcalloc((size_t)cats->n + 1, sizeof *m);
  const char **found = xcalloc((size_t)cats->n + 1, sizeof *found);
  int n_found = 0, rc = 0;
  for (int i = 0; i < cats->n; i++) {
    if (config_for_category(c, cs, cats->v[i]) != 0)
      continue;
    output_category_dir(dir, sizeof dir, c, cats->v[i]);
    stage_key(key, STAGE_DETECT, c, "");
    if (detect_category_state(dir, key) == DETECT_DONE && metrics_json_read(dir, &m[n_found]) == 0)
      found[n_found++] = cats->v[i];
  }
  ncd_table_row *ncd = xcalloc((size_t)cats->n + 1, sizeof *ncd);
  const int n_ncd = ncd_rows_gather(ncd, cs, cats, 1);
  if (n_found > 0 && tables_write(dataset_dir, name, found, m, n_found, ncd, n_ncd) != 0) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  if (n_found > 0 && rc == 0) {
    char path[OUTPUT_PATH_LEN + 16];
    snprintf(path, sizeof path, "%s/tables.md", dataset_dir);
    print_file(path);
    log_info("tables: %s/tables.md, tables.csv (%d of %d categories)%s", dataset_dir, n_found,
             cats->n, n_ncd ? ", ncd_tables.csv" : "");
  }
  free(ncd);
  free(found);
  free(m);
  free(c);
  return rc;
}
