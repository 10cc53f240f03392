/* The confusion matrix picture (confusion_png.h), drawn with the built-in font. */
#include "confusion_png.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap_font.h"
#include "error.h"
#include "image.h"

#define NAME_LEN 64

enum { H2 = 2 * FONT_GLYPH_H, H3 = 3 * FONT_GLYPH_H }; /* text heights at scale 2 and 3 */

static const uint8_t BLACK[3] = {0, 0, 0}, WHITE[3] = {255, 255, 255}, INK[3] = {40, 40, 40},
                     FAINT[3] = {170, 170, 170}, RULE[3] = {205, 205, 205};

static void text(image_u8 *img, int x, int y, const char *s, const uint8_t c[3], int scale) {
  font_draw(img->data, img->w, img->h, x, y, s, c, scale);
}

/* The shown name: the given one or "<kind> <i>", cut to CONFUSION_NAME_PX at scale 2. */
static void name_of(char out[NAME_LEN], const char *const *names, int i, const char *kind) {
  char dflt[NAME_LEN];
  const char *s = names ? names[i] : NULL;
  if (!s) {
    snprintf(dflt, sizeof dflt, "%s %d", kind, i);
    s = dflt;
  }
  font_fit(out, NAME_LEN, s, CONFUSION_NAME_PX, 2);
}

/* White -> dark blue (matplotlib's Blues end, 8 48 107) by f in [0, 1]. */
static void shade(uint8_t c[3], double f) {
  static const double dark[3] = {8, 48, 107};
  for (int k = 0; k < 3; k++)
    c[k] = (uint8_t)(255.0 + (dark[k] - 255.0) * f + 0.5);
}

/* The count centred in the cell: scale 2 when it fits, else scale 1, else in %.0e form. */
static void cell_count(image_u8 *img, int x, int y, long v, const uint8_t c[3]) {
  char s[32];
  snprintf(s, sizeof s, "%ld", v);
  int scale = 2;
  if (font_text_width(s, 2) > CONFUSION_CELL_W - 6)
    scale = 1;
  if (font_text_width(s, 1) > CONFUSION_CELL_W - 6)
    snprintf(s, sizeof s, "%.0e", (double)v);
  int tw = font_text_width(s, scale), th = FONT_GLYPH_H * scale;
  text(img, x + (CONFUSION_CELL_W - tw) / 2, y + (CONFUSION_CELL_H - th) / 2, s, c, scale);
}

int confusion_png_write(const char *path, const char *title, const long *counts, int n_rows,
                        int n_cols, const char *const *row_names, const char *const *col_names) {
  if (n_rows < 0 || n_cols < 0 || (n_rows > 0 && n_cols > 0 && !counts))
    return ancd_errorf("%s: confusion matrix of %dx%d%s", path, n_rows, n_cols,
                       counts ? "" : " without counts");
  if (n_rows > 4096 || n_cols > 4096)
    return ancd_errorf("%s: confusion matrix of %dx%d is too large to draw", path, n_rows, n_cols);
  for (long k = 0; k < (long)n_rows * n_cols; k++)
    if (counts[k] < 0)
      return ancd_errorf("%s: confusion count [%ld, %ld] is %ld", path, k / n_cols, k % n_cols,
                         counts[k]);
  if (!title)
    title = "";
  const char *x_caption = "discovered class", *y_caption = "true type", *none = "(empty)";
  const int empty = n_rows == 0 || n_cols == 0, M = CONFUSION_MARGIN, G = CONFUSION_GAP;
  char name[NAME_LEN];
  int label_w = 0, label_h = 0;
  for (int i = 0; i < n_rows; i++) {
    name_of(name, row_names, i, "type");
    int tw = font_text_width(name, 2);
    label_w = tw > label_w ? tw : label_w;
  }
  for (int j = 0; j < n_cols; j++) {
    name_of(name, col_names, j, "class");
    int tw = font_text_width(name, 2);
    label_h = tw > label_h ? tw : label_h;
  }
  int grid_w = empty ? font_text_width(none, 2) : n_cols * CONFUSION_CELL_W;
  int grid_h = empty ? CONFUSION_CELL_H : n_rows * CONFUSION_CELL_H;
  int gx = M + H2 + G + label_w + G, gy = M + H3 + G + H2 + G + label_h + G;
  int width = gx + grid_w + M, height = gy + grid_h + M;
  int tw = font_text_width(title, 3) + 2 * M;
  width = tw > width ? tw : width;
  tw = font_text_width(x_caption, 2) + 2 * M;
  width = tw > width ? tw : width;

  image_u8 img;
  if (image_alloc(&img, width, height, 3) < 0)
    return ancd_error_prefix("%s: ", path);
  memset(img.data, 255, (size_t)width * height * 3);
  text(&img, M, M, title, BLACK, 3);
  /* The caption centred over the grid, kept inside the picture. */
  int cx = gx + (grid_w - font_text_width(x_caption, 2)) / 2;
  if (cx + font_text_width(x_caption, 2) > width - M)
    cx = width - M - font_text_width(x_caption, 2);
  text(&img, cx < M ? M : cx, M + H3 + G, x_caption, INK, 2);
  int cy = gy + (grid_h + font_text_width(y_caption, 2)) / 2;
  font_draw_up(img.data, width, height, M, cy > height - M ? height - M : cy, y_caption, INK, 2);
  if (empty)
    text(&img, gx, gy + (CONFUSION_CELL_H - H2) / 2, none, FAINT, 2);
  for (int j = 0; j < n_cols && !empty; j++) {
    name_of(name, col_names, j, "class");
    font_draw_up(img.data, width, height, gx + j * CONFUSION_CELL_W + (CONFUSION_CELL_W - H2) / 2,
                 gy - G, name, INK, 2);
  }
  for (int i = 0; i < n_rows && !empty; i++) {
    const long *row = counts + (size_t)i * n_cols;
    double total = 0;
    for (int j = 0; j < n_cols; j++)
      total += (double)row[j];
    int y = gy + i * CONFUSION_CELL_H;
    name_of(name, row_names, i, "type");
    text(&img, gx - G - font_text_width(name, 2), y + (CONFUSION_CELL_H - H2) / 2, name, INK, 2);
    for (int j = 0; j < n_cols; j++) {
      double f = total > 0 ? (double)row[j] / total : 0;
      uint8_t c[3];
      shade(c, f);
      int x = gx + j * CONFUSION_CELL_W;
      image_fill_rect(&img, x, y, CONFUSION_CELL_W, CONFUSION_CELL_H, c);
      cell_count(&img, x, y, row[j], f >= 0.5 ? WHITE : row[j] ? INK : FAINT);
    }
  }
  /* Rules between the cells, over the fills. */
  for (int i = 0; i <= n_rows && !empty; i++)
    image_fill_rect(&img, gx, gy + i * CONFUSION_CELL_H - (i == n_rows), grid_w, 1, RULE);
  for (int j = 0; j <= n_cols && !empty; j++)
    image_fill_rect(&img, gx + j * CONFUSION_CELL_W - (j == n_cols), gy, 1, grid_h, RULE);
  int rc = image_write_png_atomic(path, &img);
  image_free(&img);
  return rc;
}
