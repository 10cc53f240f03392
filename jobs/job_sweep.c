/* ancd sweep: expands a sweep file (io/sweep.h) into its points, one Slurm array task each.
 *   ancd sweep S.yaml            the points: count, then each index with its --set overrides
 *   ancd sweep S.yaml --index I  point I's overrides, one `--set=key=value` word a line, for
 *                                  mapfile -t SETS < <(ancd sweep S.yaml --index
 * $SLURM_ARRAY_TASK_ID)
 *                                  ancd run -c "$(ancd sweep S.yaml --base)" "${SETS[@]}" \
 *                                      -o OUT/point_$SLURM_ARRAY_TASK_ID
 *   ancd sweep S.yaml --base     the base config's path (resolved against the sweep's folder)
 *   --json                       the same as JSON
 * The base config is loaded and every point applied to it (with the --set given here, the way
 * `ancd run` will), so a bad value fails here, before any array task starts. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "sweep.h"

static void jset(json_t *o, const char *key, json_t *v) {
  if (!v || json_object_set_new(o, key, v) != 0)
    ANCD_FATAL("jansson: cannot set %s", key);
}
static void jpush(json_t *a, json_t *v) {
  if (!v || json_array_append_new(a, v) != 0)
    ANCD_FATAL("jansson: cannot append");
}

/* A word a POSIX shell reads back as itself: as is when safe, else in single quotes. */
static void print_shell_word(const char *w) {
  int safe = *w != 0;
  for (const char *p = w; *p && safe; p++)
    safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           strchr("_./+-=,:@%", *p);
  if (safe) {
    fputs(w, stdout);
    return;
  }
  putchar('\'');
  for (const char *p = w; *p; p++) {
    if (*p == '\'')
      fputs("'\\''", stdout);
    else
      putchar(*p);
  }
  putchar('\'');
}

static json_t *point_json(const sweep *s, int i) {
  json_t *o = json_object(), *set = json_object(), *args = json_array();
  if (!o || !set || !args)
    ANCD_FATAL("jansson: out of memory");
  jset(o, "index", json_integer(i));
  for (int k = 0; k < s->n_keys; k++) {
    char a[SWEEP_KEY_LEN + SWEEP_VALUE_LEN + 8];
    const sweep_value *v = sweep_value_at(s, i, k);
    if (!v)
      continue;
    jset(set, s->keys[k], json_string(v->text));
    snprintf(a, sizeof a, "--set=%s=%s", s->keys[k], v->text);
    jpush(args, json_string(a));
  }
  jset(o, "set", set);
  jset(o, "args", args);
  return o;
}

static int print_json(const sweep *s, int index) {
  json_t *root;
  if (index >= 0) {
    root = point_json(s, index);
  } else {
    json_t *keys = json_array(), *points = json_array();
    root = json_object();
    if (!root || !keys || !points)
      ANCD_FATAL("jansson: out of memory");
    jset(root, "name", json_string(s->name));
    jset(root, "file", json_string(s->file));
    jset(root, "config", json_string(s->config));
    jset(root, "kind", json_string(s->grid ? "grid" : "points"));
    for (int k = 0; k < s->n_keys; k++)
      jpush(keys, json_string(s->keys[k]));
    jset(root, "keys", keys);
    jset(root, "n_points", json_integer(s->n_points));
    for (int i = 0; i < s->n_points; i++)
      jpush(points, point_json(s, i));
    jset(root, "points", points);
  }
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text)
    ANCD_FATAL("jansson: json_dumps failed");
  puts(text);
  free(text);
  return ANCD_EXIT_OK;
}

static void print_points(const sweep *s) {
  printf("sweep %s: %d point%s (%s), base config %s\n", s->name, s->n_points,
         s->n_points == 1 ? "" : "s", s->grid ? "grid" : "points", s->config);
  printf("keys:");
  for (int k = 0; k < s->n_keys; k++)
    printf(" %s", s->keys[k]);
  printf("\n");
  for (int i = 0; i < s->n_points; i++) {
    printf("%4d ", i);
    int any = 0;
    for (int k = 0; k < s->n_keys; k++) {
      char a[SWEEP_KEY_LEN + SWEEP_VALUE_LEN + 2];
      if (sweep_assignment(a, sizeof a, s, i, k) != 0)
        continue;
      printf(" --set ");
      print_shell_word(a);
      any = 1;
    }
    printf("%s\n", any ? "" : "  (the base config)");
  }
}

int job_sweep(int argc, char **argv) {
  int index = INT_MIN, json = 0, base = 0;
  const cli_opt opts[] = {
      {"index", 'i', CLI_INT, &index, "I",
       "print point I's overrides only, one --set=KEY=VALUE a line (0-based)"},
      {"base", 0, CLI_FLAG, &base, NULL, "print the base config's path only"},
      {"json", 0, CLI_FLAG, &json, NULL, "print as JSON"},
      {0},
  };
  const cli_job job = {
      "sweep",
      "Expands a sweep file (a grid: of config keys to value lists, the last key varying "
      "fastest, or a list of points:, over the base config: relative to the sweep file's "
      "folder) into its points and prints them; --index I prints one point's overrides for "
      "a Slurm array task (`ancd run -c BASE --set ... -o OUT/point_I`, then `ancd collect`). "
      "Every point is checked against the base config and the --set given here.",
      "SWEEP.yaml [--index I] [--base] [--json] [--set KEY=VALUE ...]", opts, 1};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if (a.n_positional != 1) {
    fprintf(stderr, "ancd sweep: the sweep file is needed (see 'ancd sweep --help')\n");
    return ANCD_EXIT_USAGE;
  }
  if (a.n_configs > 0) {
    fprintf(stderr, "ancd sweep: -c is not taken: the sweep file names its config\n");
    return ANCD_EXIT_USAGE;
  }
  sweep s;
  if (sweep_load(&s, a.positional[0]) != 0) {
    log_error("%s", ancd_error());
    sweep_free(&s);
    return ANCD_EXIT_INPUT;
  }
  if (index != INT_MIN && (index < 0 || index >= s.n_points)) {
    log_error("%s: --index %d is out of range: the sweep has %d point%s (0 to %d)", s.file, index,
              s.n_points, s.n_points == 1 ? "" : "s", s.n_points - 1);
    sweep_free(&s);
    return ANCD_EXIT_USAGE;
  }
  /* Check the points against the base config (one for --index, every one otherwise). */
  config_set *cs0 = xmalloc(sizeof *cs0), *cs = xmalloc(sizeof *cs);
  rc = sweep_base_config(cs0, &s, a.sets, a.n_sets) != 0 ? ANCD_EXIT_INPUT : ANCD_EXIT_OK;
  for (int i = index != INT_MIN ? index : 0; rc == 0 && i < s.n_points; i++) {
    memcpy(cs, cs0, sizeof *cs);
    if (sweep_apply_point(cs, &s, i) != 0)
      rc = ANCD_EXIT_INPUT;
    if (index != INT_MIN)
      break;
  }
  if (rc != 0)
    log_error("%s", ancd_error());
  free(cs);
  free(cs0);
  if (rc == 0) {
    if (base) {
      printf("%s\n", s.config);
    } else if (json) {
      rc = print_json(&s, index != INT_MIN ? index : -1);
    } else if (index != INT_MIN) {
      for (int k = 0; k < s.n_keys; k++) {
        char w[SWEEP_KEY_LEN + SWEEP_VALUE_LEN + 2];
        if (sweep_assignment(w, sizeof w, &s, index, k) == 0)
          printf("--set=%s\n", w);
      }
    } else {
      print_points(&s);
    }
  }
  sweep_free(&s);
  if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
    log_error("ancd sweep: cannot write the output");
    rc = ANCD_EXIT_INPUT;
  }
  return rc;
}
