/* A line chart of per-epoch values as a standalone SVG (train_curves.svg): what people look at to
 * see whether training went well. */
#ifndef ANCD_CURVES_SVG_H
#define ANCD_CURVES_SVG_H

/* Columns `which` [n_which] of table [rows, cols] (one row per epoch) as lines over the epochs,
 * each labelled with names[which[k]] in the legend; non-finite values are left out. Written
 * atomically. */
int curves_svg_write(const char *path, const char *title, const double *table, int rows, int cols,
                     const int *which, int n_which, const char *const *names);

#endif
