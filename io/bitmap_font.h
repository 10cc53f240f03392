/* A built-in bitmap font (printable ASCII, 32..126) for the PNG pictures (confusion matrix, crop
 * gallery): ancd has no text library. Glyphs are 5x7 with descenders in an eighth row, in a box
 * of FONT_GLYPH_W x FONT_GLYPH_H advancing FONT_ADVANCE (one column of spacing), all sizes times
 * an integer scale. Text is drawn into interleaved RGB8 buffers [h, w, 3] and clipped at their
 * edges; a byte outside 32..126 draws as '?'. */
#ifndef ANCD_BITMAP_FONT_H
#define ANCD_BITMAP_FONT_H

#include <stddef.h>
#include <stdint.h>

enum { FONT_GLYPH_W = 5, FONT_GLYPH_H = 8, FONT_ADVANCE = 6 };

/* The pixel width of s at scale: strlen(s) * FONT_ADVANCE * scale less the last spacing column
 * (0 for ""). Its height is FONT_GLYPH_H * scale. */
int font_text_width(const char *s, int scale);
/* Draws s with its top-left corner at (x, y), reading left to right. */
void font_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, const uint8_t colour[3],
               int scale);
/* Draws s turned 90 degrees counter-clockwise (reading bottom to top, letter tops to the left):
 * it fills [x, x + FONT_GLYPH_H * scale) x [y - font_text_width(s, scale), y). */
void font_draw_up(uint8_t *rgb, int w, int h, int x, int y, const char *s, const uint8_t colour[3],
                  int scale);
/* out = s when it is at most max_px wide at scale, else its longest prefix that fits with a '~'
 * after it ("" when not even "~" fits). out has n bytes (n >= 1); s is also cut to fit n. */
void font_fit(char *out, size_t n, const char *s, int max_px, int scale);

#endif
