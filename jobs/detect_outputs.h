/* What `ancd detect` decides from its outputs: whether a category is complete with a config
 * (resume), why metrics are NaN, and the dataset's tables from the categories' metrics.json. */
#ifndef ANCD_DETECT_OUTPUTS_H
#define ANCD_DETECT_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"

/* A category's detect outputs in dir against the stage key the config gives now (stage_key.h):
 * DONE when maps.h5 passes the readers' test (h5s_verify), carries this key and metrics.json
 * reads back; MISSING when there is no maps.h5; STALE when it was made with other settings;
 * DAMAGED when maps.h5 or metrics.json does not read back (the reason in ancd_error()). */
typedef enum { DETECT_DONE, DETECT_MISSING, DETECT_STALE, DETECT_DAMAGED } detect_state;
detect_state detect_category_state(const char *dir, const char *key);

/* Why some of m are NaN ("" when none is): one class only among labels [n], or no pixel truth. */
void detect_metrics_reason(char *out, size_t size, const ad_metrics *m, const uint8_t *labels,
                           int n, int has_masks);

/* <output>/<dataset>/tables.md and tables.csv from the metrics.json of every category that is
 * complete with its own config (stale or failed categories are left out), and tables.md printed
 * to stdout. Returns an exit code; no category complete writes nothing and returns 0. */
int detect_write_tables(const config_set *cs, const cfg_names *cats);

#endif
