/* ancd config: the resolved configuration (defaults + files + --set), or the key reference. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "error.h"
#include "log.h"

int job_config(int argc, char **argv) {
  int doc = 0;
  const char *category = NULL;
  const cli_opt opts[] = {
      {"doc", 0, CLI_FLAG, &doc, NULL, "print the Markdown reference of every key instead"},
      {"category", 0, CLI_STRING, &category, "NAME",
       "resolve for one category (applies its categories: overrides)"},
      {0},
  };
  const cli_job job = {"config",
                       "Prints the resolved config as YAML: defaults, then each -c file, "
                       "then each --set, in order.",
                       "[-c FILE ...] [--set KEY=VALUE ...] [--category NAME] [--doc]", opts, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  if (doc) {
    char *md = config_doc_markdown();
    fputs(md, stdout);
    free(md);
    return ANCD_EXIT_OK;
  }
  config_set *cs = xmalloc(sizeof *cs);
  rc = cli_load_config(cs, &a);
  config *c = xmalloc(sizeof *c);
  if (!rc && config_for_category(c, cs, category ? category : "") != 0) {
    log_error("%s", ancd_error());
    rc = ANCD_EXIT_INPUT;
  }
  if (!rc) {
    char hash[17];
    config_hash_hex(c, hash);
    char *yaml = config_to_yaml(c);
    printf("# ancd %s resolved config%s%s, hash %s\n", ANCD_VERSION, category ? " for " : "",
           category ? category : "", hash);
    fputs(yaml, stdout);
    free(yaml);
  }
  free(c);
  free(cs);
  return rc;
}
