/* Command-line parsing shared by every job: the common options (-c/--config FILE, repeatable
 * --set key.path=value, -o/--output DIR, -q/--quiet, -v/--verbose, -h/--help) plus a job's own
 * options from a small table. Usage errors print one line and the job returns ANCD_EXIT_USAGE. */
#ifndef ANCD_CLI_H
#define ANCD_CLI_H

#include "config.h"

#define CLI_MAX_CONFIGS 16
#define CLI_MAX_SETS 128
#define CLI_MAX_POSITIONAL 256 /* e.g. the images of `ancd predict` */

typedef enum { CLI_FLAG, CLI_INT, CLI_STRING } cli_opt_kind;

/* A job-specific option: --name (and -s when short_name != 0). */
typedef struct {
  const char *name;
  char short_name;
  cli_opt_kind kind;
  void *value; /* int* for CLI_FLAG/CLI_INT, const char** for CLI_STRING */
  const char *metavar;
  const char *help;
} cli_opt;

typedef struct {
  const char *configs[CLI_MAX_CONFIGS];
  int n_configs;
  const char *sets[CLI_MAX_SETS];
  int n_sets;
  const char *output; /* NULL when not given */
  int quiet, verbose, help;
  const char *positional[CLI_MAX_POSITIONAL];
  int n_positional;
} cli_args;

typedef struct {
  const char *name;    /* job name */
  const char *summary; /* one line */
  const char *usage;   /* argument synopsis after "ancd <job>" */
  const cli_opt *opts; /* job options, terminated by {0} */
  int max_positional;
} cli_job;

/* Parses argv (argv[0] = job name). Returns 0, or ANCD_EXIT_USAGE after printing the error.
 * On --help prints the job's help and sets a->help. Also sets the log level. */
int cli_parse(cli_args *a, const cli_job *job, int argc, char **argv);

/* A job that needs a config: 0 when -c or --set gave one, else ANCD_EXIT_USAGE after
 * "ancd <job>: -c CONFIG is needed (<why>)" on stderr. */
int cli_require_config(const cli_args *a, const char *job, const char *why);
void cli_print_help(const cli_job *job);

/* Loads the configs and --set assignments of a, then -o (as output.dir). Returns 0, or
 * ANCD_EXIT_INPUT / ANCD_EXIT_USAGE after logging the error. */
int cli_load_config(config_set *cs, const cli_args *a);

/* Jobs: each returns an exit code (ANCD_EXIT_*). */
int job_synth(int argc, char **argv);
int job_info(int argc, char **argv);
int job_config(int argc, char **argv);
int job_bench(int argc, char **argv);
int job_detect(int argc, char **argv);
int job_report(int argc, char **argv);
int job_regions(int argc, char **argv);
int job_base(int argc, char **argv);
int job_train(int argc, char **argv);
int job_classify(int argc, char **argv);
int job_run(int argc, char **argv);
int job_sweep(int argc, char **argv);
int job_collect(int argc, char **argv);
int job_predict(int argc, char **argv);

#endif
