/* The MPI jobs' skeleton (category_loop.h). */
#include "category_loop.h"

#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "log.h"

int agree_rc(int rc, MPI_Comm comm) {
  int out = rc;
  CHECK_MPI(MPI_Allreduce(&rc, &out, 1, MPI_INT, MPI_MAX, comm));
  return out;
}

int job_on_world(const cli_args *a, int *argc, char ***argv, world_job_fn body, const void *ctx) {
  world w;
  if (world_init(&w, argc, argv) != 0) {
    log_error("%s", ancd_error());
    world_finalize(&w);
    return ANCD_EXIT_USAGE;
  }
  config_set *cs = xmalloc(sizeof *cs);
  int rc = cli_load_config(cs, a); /* every rank parses the same files: the same verdict */
  if (!rc)
    rc = body(cs, &w, ctx);
  free(cs);
  world_finalize(&w);
  return rc;
}

/* The categories, listed on world rank 0 and broadcast. */
static int list_categories(cfg_names *cats, const config_set *cs, const world *w) {
  int rc = 0;
  memset(cats, 0, sizeof *cats);
  if (w->rank == 0 && ds_list_categories(cats, &cs->base.dataset) != 0) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  rc = agree_rc(rc, MPI_COMM_WORLD);
  CHECK_MPI(MPI_Bcast(cats, (int)sizeof *cats, MPI_BYTE, 0, MPI_COMM_WORLD));
  return rc;
}

int categories_check(cfg_names *cats, const config_set *cs, const world *w,
                     const category_check_fn *checks, int n_checks) {
  config *c = xmalloc(sizeof *c);
  int rc = list_categories(cats, cs, w);
  for (int i = 0; i < cats->n && !rc; i++) { /* usage errors stop the job before any work */
    if (config_for_category(c, cs, cats->v[i]) != 0) {
      if (w->rank == 0)
        log_error("%s", ancd_error());
      rc = ANCD_EXIT_USAGE;
    } else if (w->rank == 0) {
      for (int k = 0; k < n_checks && !rc; k++)
        rc = checks[k] ? checks[k](c, cats->v[i]) : 0;
    }
    rc = agree_rc(rc, MPI_COMM_WORLD);
  }
  free(c);
  return rc;
}

int categories_run(cfg_names *cats, long *n_images, double *seconds, const config_set *cs,
                   const world *w, category_check_fn check, category_run_fn run, const void *ctx) {
  config *c = xmalloc(sizeof *c);
  int rc = categories_check(cats, cs, w, &check, 1);
  double t0 = now_seconds();
  long total = 0;
  int failed = 0;
  for (int i = 0; i < cats->n && !rc; i++) {
    if (i % w->n_groups != w->group)
      continue;
    long n = 0;
    if (config_for_category(c, cs, cats->v[i]) != 0)
      continue; /* checked above */
    int crc = run(ctx, c, cats->v[i], w, &n);
    total += n;
    if (crc == ANCD_EXIT_USAGE)
      rc = crc;
    else if (crc)
      failed++;
  }
  if (!rc && failed)
    rc = ANCD_EXIT_INPUT;
  rc = agree_rc(rc, MPI_COMM_WORLD);
  long mine = w->group_rank == 0 ? total : 0; /* each group's rank 0 counts its categories */
  *n_images = 0;
  CHECK_MPI(MPI_Reduce(&mine, n_images, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD));
  *seconds = now_seconds() - t0;
  free(c);
  return rc;
}
