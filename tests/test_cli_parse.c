/* Command-line parsing (jobs/cli.c) and progress formatting (core/log.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "test_util.h"

static int parse(cli_args *a, const cli_job *job, int argc, const char **argv) {
  return cli_parse(a, job, argc, (char **)argv);
}

int main(void) {
  int flag = 0, n = 0;
  const char *name = NULL;
  const cli_opt opts[] = {
      {"flag", 'f', CLI_FLAG, &flag, NULL, "a flag"},
      {"count", 0, CLI_INT, &n, "N", "a number"},
      {"name", 0, CLI_STRING, &name, "S", "a string"},
      {0},
  };
  const cli_job job = {"demo", "Demo job.", "[options]", opts, 1};
  cli_args a;

  const char *argv1[] = {"demo",         "-c",
                         "a.yaml",       "--config=b.yaml",
                         "--set",        "detect.r_list=[1,3]",
                         "--set=seed=7", "-o",
                         "out",          "-f",
                         "--count",      "12",
                         "--name=x",     "pos"};
  CHECK(parse(&a, &job, 14, argv1) == 0, "valid command line rejected");
  CHECK(a.n_configs == 2 && !strcmp(a.configs[0], "a.yaml") && !strcmp(a.configs[1], "b.yaml"),
        "configs in order");
  CHECK(a.n_sets == 2 && !strcmp(a.sets[0], "detect.r_list=[1,3]") && !strcmp(a.sets[1], "seed=7"),
        "sets in order, '=' inside the value kept");
  CHECK(a.output && !strcmp(a.output, "out"), "output");
  CHECK(flag == 1 && n == 12 && name && !strcmp(name, "x"), "job options");
  CHECK(a.n_positional == 1 && !strcmp(a.positional[0], "pos"), "positional");
  CHECK(log_get_level() == LOG_NORMAL, "default log level");

  /* Usage errors: exit code 2, nothing else. */
  const char *bad_opt[] = {"demo", "--nope"};
  CHECK(parse(&a, &job, 2, bad_opt) == ANCD_EXIT_USAGE, "unknown option");
  const char *no_value[] = {"demo", "--set"};
  CHECK(parse(&a, &job, 2, no_value) == ANCD_EXIT_USAGE, "missing value");
  const char *not_int[] = {"demo", "--count", "12x"};
  CHECK(parse(&a, &job, 3, not_int) == ANCD_EXIT_USAGE, "non-integer");
  const char *set_no_eq[] = {"demo", "--set", "seed"};
  CHECK(parse(&a, &job, 3, set_no_eq) == ANCD_EXIT_USAGE, "--set without =");
  const char *two_pos[] = {"demo", "a", "b"};
  CHECK(parse(&a, &job, 3, two_pos) == ANCD_EXIT_USAGE, "too many positional");
  const char *flag_value[] = {"demo", "--flag=1"};
  CHECK(parse(&a, &job, 2, flag_value) == ANCD_EXIT_USAGE, "flag with a value");
  const char *both[] = {"demo", "-q", "-v"};
  CHECK(parse(&a, &job, 3, both) == ANCD_EXIT_USAGE, "quiet and verbose");
  const char *quiet[] = {"demo", "--quiet"};
  CHECK(parse(&a, &job, 2, quiet) == 0 && log_get_level() == LOG_QUIET, "quiet level");
  log_set_level(LOG_NORMAL);

  /* A bad --set surfaces as a usage error; a missing config file as an input error. */
  config_set *cs = malloc(sizeof *cs);
  const char *bad_set[] = {"demo", "--set", "detect.nope=1"};
  CHECK(parse(&a, &job, 3, bad_set) == 0, "parse");
  CHECK(cli_load_config(cs, &a) == ANCD_EXIT_USAGE, "unknown key in --set");
  const char *missing[] = {"demo", "-c", "/nonexistent/x.yaml"};
  CHECK(parse(&a, &job, 3, missing) == 0, "parse");
  CHECK(cli_load_config(cs, &a) == ANCD_EXIT_INPUT, "missing config file");
  CHECK(strstr(ancd_error(), "/nonexistent/x.yaml") != NULL, "error names the file: %s",
        ancd_error());
  const char *good[] = {"demo", "--set", "seed=7", "-o", "there"};
  CHECK(parse(&a, &job, 5, good) == 0 && cli_load_config(cs, &a) == 0, "valid config");
  CHECK(cs->base.seed == 7 && !strcmp(cs->base.output.dir, "there"), "set and -o applied");
  free(cs);

  char buf[32];
  format_duration(buf, sizeof buf, 12.34);
  CHECK(!strcmp(buf, "12.3s"), "%s", buf);
  format_duration(buf, sizeof buf, 185);
  CHECK(!strcmp(buf, "3m05s"), "%s", buf);
  format_duration(buf, sizeof buf, 3725);
  CHECK(!strcmp(buf, "1h02m"), "%s", buf);
  return test_done("test_cli_parse");
}
