/* Where a dataset's and a category's outputs go: <output.dir>/<dataset.name or the layout>/ and
 * .../<category>/ (DESIGN "Files"). Every job that writes or reads outputs names them here. */
#ifndef ANCD_OUTPUT_PATHS_H
#define ANCD_OUTPUT_PATHS_H

#include <stddef.h>

#include "config.h"

/* A buffer of this size always holds either path whole. */
#define OUTPUT_PATH_LEN (CFG_PATH_LEN + 2 * CFG_NAME_LEN + 8)

/* <output.dir>/<dataset.name>, the layout name when dataset.name is empty; output.dir "" is ".". */
void output_dataset_dir(char *out, size_t n, const config *c);
/* <output_dataset_dir>/<category>. */
void output_category_dir(char *out, size_t n, const config *c, const char *category);

#endif
