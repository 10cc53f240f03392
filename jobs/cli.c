#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"

void cli_print_help(const cli_job *job) {
  printf("usage: ancd %s %s\n\n%s\n\noptions:\n", job->name, job->usage, job->summary);
  for (const cli_opt *o = job->opts; o && o->name; o++) {
    char left[64];
    if (o->short_name)
      snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->metavar ? " " : "",
               o->metavar ? o->metavar : "");
    else
      snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
               o->metavar ? o->metavar : "");
    printf("  %-28s %s\n", left, o->help);
  }
  printf("  -c, --config FILE            YAML config (repeatable; later files override)\n"
         "      --set KEY=VALUE          override one key, YAML value (e.g. detect.r_list=[1,3])\n"
         "  -o, --output DIR             output folder (output.dir)\n"
         "  -q, --quiet                  only warnings and errors\n"
         "  -v, --verbose                debug messages\n"
         "  -h, --help                   this help\n");
}

static int usage_error(const cli_job *job, const char *fmt, const char *arg) {
  fprintf(stderr, "ancd %s: ", job->name);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see 'ancd %s --help')\n", job->name);
  return ANCD_EXIT_USAGE;
}

/* Finds a job option by long name or short letter. */
static const cli_opt *find_opt(const cli_job *job, const char *name, char short_name) {
  for (const cli_opt *o = job->opts; o && o->name; o++)
    if ((name && !strcmp(o->name, name)) || (short_name && o->short_name == short_name))
      return o;
  return NULL;
}

static int set_opt(const cli_job *job, const cli_opt *o, const char *value) {
  if (o->kind == CLI_FLAG) {
    *(int *)o->value = 1;
  } else if (o->kind == CLI_INT) {
    char *end = NULL;
    long v = strtol(value, &end, 10);
    if (!*value || *end)
      return usage_error(job, "--%s needs an integer", o->name);
    *(int *)o->value = (int)v;
  } else {
    *(const char **)o->value = value;
  }
  return 0;
}

int cli_parse(cli_args *a, const cli_job *job, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    /* --name=value is accepted for every option taking a value. */
    char name[64] = "";
    const char *inline_value = NULL;
    if (!strncmp(arg, "--", 2)) {
      const char *eq = strchr(arg, '=');
      size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
      if (len >= sizeof name)
        return usage_error(job, "unknown option '%s'", arg);
      memcpy(name, arg + 2, len);
      name[len] = 0;
      inline_value = eq ? eq + 1 : NULL;
    } else if (arg[0] == '-' && arg[1] && !arg[2]) {
      name[0] = 0;
    } else {
      if (a->n_positional >= job->max_positional || a->n_positional >= CLI_MAX_POSITIONAL)
        return usage_error(job, "unexpected argument '%s'", arg);
      a->positional[a->n_positional++] = arg;
      continue;
    }
    char short_name = name[0] ? 0 : arg[1];
#define IS(long_, short_) ((name[0] && !strcmp(name, long_)) || (short_ && short_name == short_))
    const cli_opt *o = find_opt(job, name[0] ? name : NULL, short_name);
    int takes_value =
        o ? o->kind != CLI_FLAG : IS("config", 'c') || IS("set", 0) || IS("output", 'o');
    const char *value = inline_value;
    if (takes_value && !value) {
      if (i + 1 >= argc)
        return usage_error(job, "option '%s' needs a value", arg);
      value = argv[++i];
    } else if (!takes_value && value) {
      return usage_error(job, "option '%s' takes no value", arg);
    }
    if (o) {
      int rc = set_opt(job, o, value);
      if (rc)
        return rc;
    } else if (IS("config", 'c')) {
      if (a->n_configs >= CLI_MAX_CONFIGS)
        return usage_error(job, "too many --config files (max %s)", "16");
      a->configs[a->n_configs++] = value;
    } else if (IS("set", 0)) {
      if (a->n_sets >= CLI_MAX_SETS)
        return usage_error(job, "too many --set options (max %s)", "128");
      if (!strchr(value, '='))
        return usage_error(job, "--set needs key.path=value, got '%s'", value);
      a->sets[a->n_sets++] = value;
    } else if (IS("output", 'o')) {
      a->output = value;
    } else if (IS("quiet", 'q')) {
      a->quiet = 1;
    } else if (IS("verbose", 'v')) {
      a->verbose = 1;
    } else if (IS("help", 'h')) {
      a->help = 1;
    } else {
      return usage_error(job, "unknown option '%s'", arg);
    }
#undef IS
  }
  if (a->quiet && a->verbose)
    return usage_error(job, "%s", "--quiet and --verbose exclude each other");
  log_set_level(a->quiet ? LOG_QUIET : a->verbose ? LOG_VERBOSE : LOG_NORMAL);
  if (a->help)
    cli_print_help(job);
  return 0;
}

int cli_load_config(config_set *cs, const cli_args *a) {
  config_defaults(cs);
  for (int i = 0; i < a->n_configs; i++) {
    if (config_load_file(cs, a->configs[i]) != 0) {
      log_error("%s", ancd_error());
      return ANCD_EXIT_INPUT;
    }
  }
  for (int i = 0; i < a->n_sets; i++) {
    if (config_set_kv(cs, a->sets[i]) != 0) {
      log_error("%s", ancd_error());
      return ANCD_EXIT_USAGE;
    }
  }
  if (a->output) {
    if (strlen(a->output) >= sizeof cs->base.output.dir) {
      log_error("--output path too long: %s", a->output);
      return ANCD_EXIT_USAGE;
    }
    snprintf(cs->base.output.dir, sizeof cs->base.output.dir, "%s", a->output);
  }
  return 0;
}

int cli_require_config(const cli_args *a, const char *job, const char *why) {
  if (a->n_configs > 0 || a->n_sets > 0)
    return 0;
  fprintf(stderr, "ancd %s: -c CONFIG is needed (%s)\n", job, why);
  return ANCD_EXIT_USAGE;
}
