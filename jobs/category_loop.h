/* The skeleton the MPI jobs share: the world and the config set up on every rank, exit codes
 * agreed over a communicator, and the dataset's categories going round-robin to the groups of
 * parallel.group_size ranks (detect, regions). */
#ifndef ANCD_CATEGORY_LOOP_H
#define ANCD_CATEGORY_LOOP_H

#include <mpi.h>

#include "cli.h"
#include "config.h"
#include "world.h"

/* The largest exit code over the ranks of comm, on every rank (collective): a failing rank never
 * leaves the others waiting in the next collective. */
int agree_rc(int rc, MPI_Comm comm);

/* A job's work once the world is up and every rank has the config. */
typedef int (*world_job_fn)(const config_set *cs, world *w, const void *ctx);

/* world_init (a failure is a usage error), the configs of a on every rank (every rank parses the
 * same files: the same verdict), body, world_finalize. Returns the first failure's exit code, or
 * body's. */
int job_on_world(const cli_args *a, int *argc, char ***argv, world_job_fn body, const void *ctx);

/* Usage checks on a category's config, on world rank 0 before any work (NULL: none): 0, or
 * ANCD_EXIT_USAGE after logging why. */
typedef int (*category_check_fn)(const config *c, const char *category);
/* One category on the ranks of its group (w->group_comm): an exit code the group agrees on, and
 * *n_images, the images it processed (0 when skipped). */
typedef int (*category_run_fn)(const void *ctx, const config *c, const char *category,
                               const world *w, long *n_images);

/* Lists the categories on world rank 0 into cats (broadcast) and runs the checks (NULL entries
 * skipped) on every category's config. Collective over MPI_COMM_WORLD; 0, ANCD_EXIT_INPUT when
 * the listing failed, or ANCD_EXIT_USAGE from a check, on every rank. */
int categories_check(cfg_names *cats, const config_set *cs, const world *w,
                     const category_check_fn *checks, int n_checks);

/* Lists the categories on world rank 0 into cats (broadcast), checks every category's config
 * (usage errors stop the job before any work), then runs the categories round-robin over the
 * groups. Collective over MPI_COMM_WORLD. *n_images: the images of every group (on world rank 0);
 * *seconds: the time the runs took. Returns the exit code agreed over the world: ANCD_EXIT_USAGE
 * from a check or a run, else ANCD_EXIT_INPUT when the listing or any category failed. */
int categories_run(cfg_names *cats, long *n_images, double *seconds, const config_set *cs,
                   const world *w, category_check_fn check, category_run_fn run, const void *ctx);

#endif
