/* The crop gallery picture (gallery_png.h), drawn with the built-in font. */
#include "gallery_png.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap_font.h"
#include "error.h"
#include "image.h"

#define NAME_LEN 64

enum { H2 = 2 * FONT_GLYPH_H, H3 = 3 * FONT_GLYPH_H }; /* text heights at scale 2 and 3 */

const uint8_t gallery_outline_rgb[3] = {255, 0, 0};

static const uint8_t BLACK[3] = {0, 0, 0}, INK[3] = {40, 40, 40}, FAINT[3] = {150, 150, 150},
                     RULE[3] = {215, 215, 215}, BOX[3] = {60, 60, 60};

static void text(image_u8 *img, int x, int y, const char *s, const uint8_t c[3], int scale) {
  font_draw(img->data, img->w, img->h, x, y, s, c, scale);
}

static void label_of(char out[NAME_LEN], const char *label, int r) {
  char dflt[NAME_LEN];
  if (!label) {
    snprintf(dflt, sizeof dflt, "class %d", r);
    label = dflt;
  }
  font_fit(out, NAME_LEN, label, GALLERY_NAME_PX, 2);
}

/* The crop at (x, y): resized to fit GALLERY_THUMB with its aspect, centred on the box, its mask
 * boundary outlined. */
static int draw_thumb(image_u8 *img, int x, int y, const gallery_item *it) {
  const int T = GALLERY_THUMB;
  int tw = T, th = T;
  if (it->w >= it->h)
    th = (int)(((long)it->h * T + it->w / 2) / it->w);
  else
    tw = (int)(((long)it->w * T + it->h / 2) / it->h);
  tw = tw < 1 ? 1 : tw;
  th = th < 1 ? 1 : th;
  image_u8 src = {.w = it->w, .h = it->h, .c = 3, .data = (uint8_t *)it->rgb}, small = {0};
  if (image_resize(&small, &src, tw, th, RESIZE_BILINEAR_PIL) < 0)
    return -1;
  image_fill_rect(img, x, y, T, T, BOX);
  int ox = x + (T - tw) / 2, oy = y + (T - th) / 2;
  for (int r = 0; r < th; r++)
    memcpy(img->data + ((size_t)(oy + r) * img->w + ox) * 3, small.data + (size_t)r * tw * 3,
           (size_t)tw * 3);
  image_free(&small);
  if (!it->mask)
    return 0;
  /* The mask at thumbnail size (nearest, pixel centres), then its inner boundary. */
  uint8_t *m = xmalloc((size_t)tw * th);
  for (int r = 0; r < th; r++) {
    int sy = (int)((2L * r + 1) * it->h / (2L * th));
    for (int c = 0; c < tw; c++) {
      int sx = (int)((2L * c + 1) * it->w / (2L * tw));
      m[(size_t)r * tw + c] = it->mask[(size_t)sy * it->w + sx] != 0;
    }
  }
  for (int r = 0; r < th; r++)
    for (int c = 0; c < tw; c++) {
      if (!m[(size_t)r * tw + c])
        continue;
      int edge = r == 0 || c == 0 || r == th - 1 || c == tw - 1 || !m[(size_t)(r - 1) * tw + c] ||
                 !m[(size_t)(r + 1) * tw + c] || !m[(size_t)r * tw + c - 1] ||
                 !m[(size_t)r * tw + c + 1];
      if (edge)
        memcpy(img->data + ((size_t)(oy + r) * img->w + ox + c) * 3, gallery_outline_rgb, 3);
    }
  free(m);
  return 0;
}

int gallery_png_write(const char *path, const char *title, const gallery_row *rows, int n_rows) {
  if (n_rows < 0 || (n_rows > 0 && !rows))
    return ancd_errorf("%s: gallery of %d rows%s", path, n_rows, rows ? "" : " without rows");
  if (n_rows > 4096)
    return ancd_errorf("%s: gallery of %d rows is too large to draw", path, n_rows);
  int most = 0;
  for (int r = 0; r < n_rows; r++) {
    const gallery_row *row = &rows[r];
    if (row->n_items < 0 || row->n_items > 4096 || (row->n_items > 0 && !row->items))
      return ancd_errorf("%s: gallery row %d has %d items%s", path, r, row->n_items,
                         row->items ? "" : " and no item array");
    for (int k = 0; k < row->n_items; k++) {
      const gallery_item *it = &row->items[k];
      if (!it->rgb || it->w < 1 || it->h < 1)
        return ancd_errorf("%s: gallery row %d item %d: no pixels (%dx%d%s)", path, r, k, it->w,
                           it->h, it->rgb ? "" : ", NULL");
    }
    most = row->n_items > most ? row->n_items : most;
  }
  if (!title)
    title = "";
  const int M = GALLERY_MARGIN, G = GALLERY_GAP, T = GALLERY_THUMB;
  const char *no_crops = "(no crops)", *no_rows = "(no classes)";
  char name[NAME_LEN];
  int label_w = 0;
  for (int r = 0; r < n_rows; r++) {
    label_of(name, rows[r].label, r);
    int tw = font_text_width(name, 2);
    label_w = tw > label_w ? tw : label_w;
  }
  int items_w = most > 0 ? most * (T + G) - G : font_text_width(n_rows ? no_crops : no_rows, 2);
  int x0 = M + label_w + G, y0 = M + H3 + G, shown_rows = n_rows > 0 ? n_rows : 1;
  int width = x0 + items_w + M, height = y0 + shown_rows * (GALLERY_ROW_H + G) - G + M;
  int tw = font_text_width(title, 3) + 2 * M;
  width = tw > width ? tw : width;

  image_u8 img;
  if (image_alloc(&img, width, height, 3) < 0)
    return ancd_error_prefix("%s: ", path);
  memset(img.data, 255, (size_t)width * height * 3);
  text(&img, M, M, title, BLACK, 3);
  if (n_rows == 0)
    text(&img, x0, y0 + (T - H2) / 2, no_rows, FAINT, 2);
  int rc = 0;
  for (int r = 0; r < n_rows && rc == 0; r++) {
    const gallery_row *row = &rows[r];
    int y = y0 + r * (GALLERY_ROW_H + G);
    if (r > 0)
      image_fill_rect(&img, M, y - G / 2 - 1, width - 2 * M, 1, RULE);
    label_of(name, row->label, r);
    text(&img, M, y + (T - H2) / 2, name, INK, 2);
    if (row->n_items == 0)
      text(&img, x0, y + (T - H2) / 2, no_crops, FAINT, 2);
    for (int k = 0; k < row->n_items && rc == 0; k++) {
      const gallery_item *it = &row->items[k];
      int x = x0 + k * (T + G);
      rc = draw_thumb(&img, x, y, it);
      if (rc < 0) {
        ancd_error_prefix("%s: gallery row %d item %d: ", path, r, k);
        break;
      }
      char s[32];
      snprintf(s, sizeof s, "%.2f", (double)it->confidence);
      text(&img, x, y + T + 4, s, INK, 2);
      if (it->caption) {
        font_fit(name, sizeof name, it->caption, T, 2);
        text(&img, x, y + T + 4 + H2 + 2, name, INK, 2);
      }
    }
  }
  if (rc == 0)
    rc = image_write_png_atomic(path, &img);
  image_free(&img);
  return rc;
}
