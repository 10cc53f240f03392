/* ancd run: detect -> regions -> train -> classify for every category of a config in one job
 * (DESIGN "The pipeline", issue 11), then the dataset's tables.
 *
 * The world splits into groups (parallel.group_size); the categories go to the groups largest
 * first (most images), each to the group with the fewest images so far, so one large category
 * does not leave the other groups idle at the end. Inside a group every stage shards as its own
 * job does. Each stage skips what is complete with its stage key, so a rerun resumes. A failing
 * stage stops its category only: the next categories go on, and the summary at the end says
 * which stage of which category failed and why; the exit status is then non-zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "detect_outputs.h"
#include "error.h"
#include "log.h"
#include "stages.h"
#include "world.h"

#define N_STAGES 4
#define MSG_LEN 512

enum { ST_NOT_RUN = 0, ST_DONE, ST_SKIPPED, ST_FAILED, ST_BLOCKED };
static const char *const state_names[] = {"-", "ok", "skipped", "FAILED", "not run"};

typedef struct {
  int state[N_STAGES];
  double seconds[N_STAGES];
  unsigned char message[MSG_LEN]; /* the first failure's reason */
} category_status;

/* Images per category (world rank 0 lists them; a category that cannot be listed counts 0 and
 * fails in detect with the reason), broadcast. */
static void category_sizes(long *size, const config_set *cs, const cfg_names *cats,
                           const world *w) {
  if (w->rank == 0) {
    config *c = xmalloc(sizeof *c);
    for (int i = 0; i < cats->n; i++) {
      ds_manifest m;
      size[i] = 0;
      if (config_for_category(c, cs, cats->v[i]) == 0 &&
          ds_scan(&m, &c->dataset, cats->v[i]) == 0) {
        size[i] = m.n;
        ds_free(&m);
      }
    }
    free(c);
  }
  CHECK_MPI(MPI_Bcast(size, cats->n, MPI_LONG, 0, MPI_COMM_WORLD));
}

/* order [n]: the categories largest first (ties: lower index first); owner[i]: the group of
 * category i, each in that order to the least-loaded group (ties: the lower group), the same on
 * every rank. A group runs its categories in that order too. */
static void assign_groups(int *owner, int *order, const long *size, int n, int n_groups) {
  long *load = xcalloc((size_t)n_groups, sizeof *load);
  for (int i = 0; i < n; i++)
    order[i] = i;
  for (int a = 1; a < n; a++) /* insertion sort by size, descending, stable */
    for (int b = a; b > 0 && size[order[b - 1]] < size[order[b]]; b--) {
      int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  for (int k = 0; k < n; k++) {
    int g = 0;
    for (int j = 1; j < n_groups; j++)
      if (load[j] < load[g])
        g = j;
    owner[order[k]] = g;
    load[g] += size[order[k]] > 0 ? size[order[k]] : 1;
  }
  free(load);
}

static const job_stage *const STAGES[N_STAGES] = {&stage_detect, &stage_regions, &stage_train,
                                                  &stage_classify};

/* The stages of one category on its group; a failure marks the later stages blocked. Returns
 * ANCD_EXIT_USAGE or EXIT_STOPPED when the whole run must stop, else 0. */
static int run_category(category_status *st, const config_set *cs, const config *c,
                        const char *category, const world *w) {
  for (int s = 0; s < N_STAGES; s++) {
    double t0 = now_seconds();
    long n = 0;
    int rc = STAGES[s]->run(cs, c, category, w, &n);
    st->seconds[s] = now_seconds() - t0;
    if (rc == 0) {
      st->state[s] = n > 0 ? ST_DONE : ST_SKIPPED; /* a stage reports 0 images when it skips */
      continue;
    }
    st->state[s] = ST_FAILED;
    if (w->group_rank == 0)
      snprintf((char *)st->message, MSG_LEN, "%s",
               rc == EXIT_STOPPED ? "stopped by a signal" : ancd_error());
    for (int t = s + 1; t < N_STAGES; t++)
      st->state[t] = ST_BLOCKED;
    return rc == ANCD_EXIT_USAGE || rc == EXIT_STOPPED ? rc : 0;
  }
  return 0;
}

/* World rank 0: one line per category and stage, and the failures with their reasons. */
static int print_summary(const category_status *st, const cfg_names *cats) {
  int failed = 0;
  fprintf(stderr, "run: %-20s", "category");
  for (int s = 0; s < N_STAGES; s++)
    fprintf(stderr, " %-16s", STAGES[s]->name);
  fprintf(stderr, "\n");
  for (int i = 0; i < cats->n; i++) {
    fprintf(stderr, "run: %-20s", cats->v[i]);
    for (int s = 0; s < N_STAGES; s++) {
      char cell[32];
      if (st[i].state[s] == ST_DONE)
        snprintf(cell, sizeof cell, "ok %.1f s", st[i].seconds[s]);
      else
        snprintf(cell, sizeof cell, "%s", state_names[st[i].state[s]]);
      fprintf(stderr, " %-16s", cell);
    }
    fprintf(stderr, "\n");
  }
  for (int i = 0; i < cats->n; i++)
    for (int s = 0; s < N_STAGES; s++)
      if (st[i].state[s] == ST_FAILED) {
        failed++;
        log_error("run: category %s failed in %s: %s", cats->v[i], STAGES[s]->name,
                  (const char *)st[i].message);
      }
  if (failed)
    log_error("run: %d of %d categories failed (rerun resumes where each stopped)", failed,
              cats->n);
  return failed;
}

static int run_all(const config_set *cs, world *w, const void *ctx) {
  (void)ctx;
  world_split(w, cs->base.parallel.group_size);
  for (int s = 0; s < N_STAGES; s++)
    if (STAGES[s]->prepare) {
      int rc = STAGES[s]->prepare(cs, w);
      if (rc)
        return rc;
    }
  cfg_names *cats = xmalloc(sizeof *cats);
  category_check_fn checks[N_STAGES];
  for (int s = 0; s < N_STAGES; s++)
    checks[s] = STAGES[s]->check;
  int rc = categories_check(cats, cs, w, checks, N_STAGES);
  if (rc) {
    free(cats);
    return rc;
  }
  long *size = xmalloc(((size_t)cats->n + 1) * sizeof *size);
  int *owner = xmalloc(((size_t)cats->n + 1) * sizeof *owner);
  int *order = xmalloc(((size_t)cats->n + 1) * sizeof *order);
  category_status *st = xcalloc((size_t)cats->n + 1, sizeof *st);
  category_sizes(size, cs, cats, w);
  assign_groups(owner, order, size, cats->n, w->n_groups);
  config *c = xmalloc(sizeof *c);
  double t0 = now_seconds();
  for (int k = 0; k < cats->n && !rc; k++) {
    const int i = order[k];
    if (owner[i] != w->group || config_for_category(c, cs, cats->v[i]) != 0)
      continue;
    if (w->group_rank == 0)
      log_info("run: category %s (%ld images) on group %d of %d", cats->v[i], size[i], w->group,
               w->n_groups);
    rc = run_category(&st[i], cs, c, cats->v[i], w);
  }
  /* SIGTERM/SIGUSR1 reach every rank (Slurm signals all tasks): every group stops training at
   * its next step and skips its remaining categories; everything meets here. */
  rc = agree_rc(rc, MPI_COMM_WORLD);
  /* Each category's status lives on its group; the others hold zeros, so MAX gathers them. */
  for (int i = 0; i < cats->n; i++) {
    if (w->group_rank != 0)
      memset(&st[i], 0, sizeof st[i]);
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, st[i].state, N_STAGES, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    CHECK_MPI(
        MPI_Allreduce(MPI_IN_PLACE, st[i].seconds, N_STAGES, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, st[i].message, MSG_LEN, MPI_UNSIGNED_CHAR, MPI_MAX,
                            MPI_COMM_WORLD));
  }
  if (w->rank == 0) {
    int failed = print_summary(st, cats);
    if (detect_write_tables(cs, cats) != 0)
      log_error("run: tables: %s", ancd_error());
    log_info("run: %d categories in %.1f s on %d rank%s", cats->n, now_seconds() - t0, w->size,
             w->size == 1 ? "" : "s");
    if (!rc && failed)
      rc = ANCD_EXIT_INPUT;
  }
  rc = agree_rc(rc, MPI_COMM_WORLD);
  free(c), free(st), free(order), free(owner), free(size), free(cats);
  return rc;
}

int job_run(int argc, char **argv) {
  const cli_job job = {
      "run",
      "Every stage for every category of the config: detect (maps.h5), regions (regions.h5), "
      "train (model.h5), classify (results.h5), then the dataset's tables (tables.md: anomaly "
      "detection and class discovery; tables.csv, ncd_tables.csv). Categories go to the groups of "
      "parallel.group_size ranks, largest first. Finished stages are skipped, so a rerun "
      "resumes; a failing category is reported and the others go on (exit status 1 at the end). "
      "SIGTERM/SIGUSR1 checkpoint training and stop with status 75.",
      "-c FILE [--set KEY=VALUE ...] [-o DIR]", NULL, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if ((rc = cli_require_config(&a, "run", "its dataset, backbone and output")) != 0)
    return rc;
  return job_on_world(&a, &argc, &argv, run_all, NULL);
}
