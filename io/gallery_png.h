/* A gallery of anomaly crops per discovered class as a PNG picture: what people look at to see
 * what each class gathered. */
#ifndef ANCD_GALLERY_PNG_H
#define ANCD_GALLERY_PNG_H

#include <stdint.h>

typedef struct {
  const uint8_t *rgb;  /* [h, w, 3] */
  const uint8_t *mask; /* [h, w], 0 / non-zero; NULL: no outline */
  int w, h;
  float confidence;    /* shown as "0.93" */
  const char *caption; /* may be NULL */
} gallery_item;

typedef struct {
  const char *label; /* may be NULL: "class <i>" */
  const gallery_item *items;
  int n_items;
} gallery_row;

/* The mask outline's colour. */
extern const uint8_t gallery_outline_rgb[3];

/* Layout, in pixels (bitmap_font.h sizes): the title at scale 3 (h3 = 3 * FONT_GLYPH_H high), then
 * one row per class: its label (scale 2, cut to GALLERY_NAME_PX with "~") on the left, then its
 * items as GALLERY_THUMB squares GALLERY_GAP apart, each with the confidence and under it the
 * caption (both scale 2, the caption cut to GALLERY_THUMB); a row without items says
 * "(no crops)".
 *   label_w = max font_text_width(label, 2)
 *   items_w = the most items of a row * (THUMB + GAP) - GAP (width of "(no crops)" at scale 2
 *             when no row has items)
 *   width   = max(2 * MARGIN + label_w + GAP + items_w, 2 * MARGIN + width of the title)
 *   height  = 2 * MARGIN + h3 + GAP + n_rows * (ROW_H + GAP) - GAP   (n_rows 0: as one row that
 *             says "(no classes)")
 * Row r's item k has its thumbnail's top-left corner at
 *   (MARGIN + label_w + GAP + k * (THUMB + GAP), MARGIN + h3 + GAP + r * (ROW_H + GAP)).
 * A crop is resized into the thumbnail keeping its aspect (bilinear; the mask nearest) and
 * centred on a dark grey box; mask pixels with a 4-neighbour outside the mask (or the crop) are
 * painted gallery_outline_rgb. */
enum {
  GALLERY_THUMB = 96,
  GALLERY_ROW_H = GALLERY_THUMB + 38, /* 4, confidence (16), 2, caption (16) */
  GALLERY_MARGIN = 16,
  GALLERY_GAP = 10,
  GALLERY_NAME_PX = 166, /* 14 characters at scale 2 */
};

/* Written atomically (<path>.tmp, then renamed). Returns 0, or -1 with ancd_error() naming path
 * (and the row and item at fault). */
int gallery_png_write(const char *path, const char *title, const gallery_row *rows, int n_rows);

#endif
