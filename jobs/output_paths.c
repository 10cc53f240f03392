/* Output folders of a dataset and a category. */
#include "output_paths.h"

#include <stdio.h>

void output_dataset_dir(char *out, size_t n, const config *c) {
  const char *root = c->output.dir[0] ? c->output.dir : ".";
  const char *name = c->dataset.name[0] ? c->dataset.name : c->dataset.layout;
  snprintf(out, n, "%s/%s", root, name);
}

void output_category_dir(char *out, size_t n, const config *c, const char *category) {
  char dataset[OUTPUT_PATH_LEN];
  output_dataset_dir(dataset, sizeof dataset, c);
  snprintf(out, n, "%s/%s", dataset, category);
}
