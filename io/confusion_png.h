/* The class-discovery confusion matrix as a PNG picture: what people look at to see which true
 * anomaly types each discovered class gathered. */
#ifndef ANCD_CONFUSION_PNG_H
#define ANCD_CONFUSION_PNG_H

/* Layout, in pixels (bitmap_font.h sizes): the title at scale 3, then the caption
 * "discovered class" and the column names (turned, reading upwards) above a grid of
 * CONFUSION_CELL_W x CONFUSION_CELL_H cells; the caption "true type" (turned) and the row names
 * (right-aligned) on its left. Names are cut to CONFUSION_NAME_PX at scale 2 ("~" marks a cut).
 *   label_w = max font_text_width(row name, 2),  label_h = max font_text_width(column name, 2)
 *   grid_w, grid_h = n_cols * CELL_W, n_rows * CELL_H (an empty matrix: the text "(empty)" at
 *                    scale 2 in a box of its width x CELL_H)
 *   h2, h3 = the text heights at scale 2 and 3 (2 and 3 * FONT_GLYPH_H)
 *   width  = max(2 * MARGIN + h2 + GAP + label_w + GAP + grid_w,
 *                2 * MARGIN + width of the title (scale 3), of "discovered class" (scale 2))
 *   height = 2 * MARGIN + h3 + GAP + h2 + GAP + label_h + GAP + grid_h
 * The grid's top-left corner is at (MARGIN + h2 + GAP + label_w + GAP,
 * MARGIN + h3 + GAP + h2 + GAP + label_h + GAP). */
enum {
  CONFUSION_CELL_W = 64,
  CONFUSION_CELL_H = 40,
  CONFUSION_MARGIN = 16,
  CONFUSION_GAP = 10,
  CONFUSION_NAME_PX = 214, /* 18 characters at scale 2 */
};

/* counts [n_rows, n_cols] row-major: rows the true anomaly types, columns the discovered classes
 * after the Hungarian matching (column i is the class matched to row i where it exists). Each
 * cell is shaded from white (0) to dark blue (1) by its share of the row's total and shows its
 * count (white on dark cells). row_names / col_names, or any name in them, may be NULL
 * ("type <i>" / "class <j>"). n_rows or n_cols 0 gives a picture that says "(empty)". Written
 * atomically (<path>.tmp, then renamed). Returns 0, or -1 with ancd_error() naming path. */
int confusion_png_write(const char *path, const char *title, const long *counts, int n_rows,
                        int n_cols, const char *const *row_names, const char *const *col_names);

#endif
