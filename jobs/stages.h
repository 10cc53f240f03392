/* The four stages of a category (DESIGN "The pipeline"), as `ancd run` chains them: each job file
 * exports its per-category work, the check of a category's config, and the setup its job does
 * once before the categories (ctx NULL: no exports, the config set for the keys' origins). */
#ifndef ANCD_STAGES_H
#define ANCD_STAGES_H

#include "category_loop.h"

#define EXIT_STOPPED 75 /* EX_TEMPFAIL: train checkpointed on SIGTERM/SIGUSR1; rerun resumes */

typedef struct {
  const char *name;
  /* Once on every rank before any category (NULL: nothing): usage errors, signal handlers.
   * Collective over the world; returns an exit code every rank agrees on. */
  int (*prepare)(const config_set *cs, const world *w);
  category_check_fn check; /* NULL: none */
  category_run_fn run;     /* ctx: the config set */
} job_stage;

extern const job_stage stage_detect, stage_regions, stage_train, stage_classify;

#endif
