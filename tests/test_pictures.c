/* io/bitmap_font, io/confusion_png, io/gallery_png: the pictures are read back with the PNG
 * decoder and checked against the layout their headers give: size, cell shading, counts, mask
 * outlines, captions, empty inputs and errors. */
#include <stdint.h>
#include <string.h>

#include "bitmap_font.h"
#include "confusion_png.h"
#include "error.h"
#include "gallery_png.h"
#include "image.h"
#include "test_util.h"

static const uint8_t *px(const image_u8 *img, int x, int y) {
  return img->data + ((size_t)y * img->w + x) * 3;
}

static int rgb_sum(const image_u8 *img, int x, int y) {
  const uint8_t *p = px(img, x, y);
  return p[0] + p[1] + p[2];
}

static int is_rgb(const image_u8 *img, int x, int y, int r, int g, int b) {
  const uint8_t *p = px(img, x, y);
  return p[0] == r && p[1] == g && p[2] == b;
}

/* Pixels in [x, x + w) x [y, y + h) that are not (r, g, b). */
static int count_not(const image_u8 *img, int x, int y, int w, int h, int r, int g, int b) {
  int n = 0;
  for (int yy = y; yy < y + h; yy++)
    for (int xx = x; xx < x + w; xx++)
      n += !is_rgb(img, xx, yy, r, g, b);
  return n;
}

static void test_font(void) {
  enum { W = 24, H = 24 };
  uint8_t buf[H * W * 3];
  const uint8_t white[3] = {255, 255, 255};
  image_u8 img = {.w = W, .h = H, .c = 3, .data = buf};

  memset(buf, 0, sizeof buf);
  font_draw(buf, W, H, 2, 3, "A", white, 1);
  int inside = count_not(&img, 2, 3, FONT_GLYPH_W, FONT_GLYPH_H, 0, 0, 0);
  CHECK(inside > 5, "'A' drew %d pixels", inside);
  CHECK(count_not(&img, 0, 0, W, H, 0, 0, 0) == inside, "'A' drew outside its 5x7 box");

  memset(buf, 0, sizeof buf);
  font_draw(buf, W, H, 2, 3, " ", white, 3);
  CHECK(count_not(&img, 0, 0, W, H, 0, 0, 0) == 0, "' ' drew something");

  /* Scale 2 covers 4 times the pixels; turned text stays in its box. */
  memset(buf, 0, sizeof buf);
  font_draw(buf, W, H, 0, 0, "A", white, 2);
  CHECK(count_not(&img, 0, 0, W, H, 0, 0, 0) == 4 * inside, "'A' at scale 2");
  memset(buf, 0, sizeof buf);
  font_draw_up(buf, W, H, 4, 20, "A", white, 1);
  int up = count_not(&img, 4, 20 - FONT_GLYPH_W, FONT_GLYPH_H, FONT_GLYPH_W, 0, 0, 0);
  CHECK(up == inside && count_not(&img, 0, 0, W, H, 0, 0, 0) == up, "turned 'A': %d of %d", up,
        inside);
  /* Clipped at the edges, no crash; bytes outside ASCII draw as '?'. */
  font_draw(buf, W, H, -3, 20, "\xc3\xa9~", white, 2);
  memset(buf, 0, sizeof buf);
  font_draw(buf, W, H, 0, 0, "\x01", white, 1);
  int q = count_not(&img, 0, 0, W, H, 0, 0, 0);
  memset(buf, 0, sizeof buf);
  font_draw(buf, W, H, 0, 0, "?", white, 1);
  CHECK(q > 0 && q == count_not(&img, 0, 0, W, H, 0, 0, 0), "control byte drew %d pixels", q);

  CHECK(
      font_text_width("A", 1) == 5 && font_text_width("AB", 2) == 22 && font_text_width("", 3) == 0,
      "widths %d %d %d", font_text_width("A", 1), font_text_width("AB", 2), font_text_width("", 3));
  char out[16];
  font_fit(out, sizeof out, "abcdefgh", 23, 1); /* 4 characters fit */
  CHECK(!strcmp(out, "abc~"), "fit: '%s'", out);
  font_fit(out, sizeof out, "abcd", 23, 1);
  CHECK(!strcmp(out, "abcd"), "fit, no cut: '%s'", out);
  font_fit(out, sizeof out, "abcd", 4, 1);
  CHECK(!strcmp(out, ""), "fit, nothing fits: '%s'", out);
  font_fit(out, 4, "abcdefgh", 1000, 1); /* cut by the buffer */
  CHECK(!strcmp(out, "ab~"), "fit, small buffer: '%s'", out);
}

static void test_confusion(const char *tmp) {
  const long counts[] = {8, 2, 0, /* */ 1, 9, 0, /* */ 0, 0, 0};
  const char *rows[] = {"crack", "scratch", "a_very_long_anomaly_type_name"};
  const char *cols[] = {"class 0", NULL, "c2"};
  char path[4200];
  PATHF(path, "%s/confusion.png", tmp);
  int rc = confusion_png_write(path, "test confusion", counts, 3, 3, rows, cols);
  CHECK(rc == 0, "%s", ancd_error());
  char tmpfile[4300];
  PATHF(tmpfile, "%s.tmp", path);
  CHECK(!test_file_exists(tmpfile), "%s left behind", tmpfile);
  image_u8 img = {0};
  CHECK(image_load(&img, path, 3) == 0, "%s", ancd_error());
  if (!img.data)
    return;
  /* The layout formula of confusion_png.h: the long row name is cut to 18 characters (214 px),
   * the widest column name is "class 0" or the NULL one's "class 1" (82 px). */
  const int M = CONFUSION_MARGIN, G = CONFUSION_GAP, label_w = 214, label_h = 82;
  const int h2 = 2 * FONT_GLYPH_H, h3 = 3 * FONT_GLYPH_H;
  const int gx = M + h2 + G + label_w + G, gy = M + h3 + G + h2 + G + label_h + G;
  CHECK(img.w == gx + 3 * CONFUSION_CELL_W + M && img.h == gy + 3 * CONFUSION_CELL_H + M,
        "size %dx%d, want %dx%d", img.w, img.h, gx + 3 * CONFUSION_CELL_W + M,
        gy + 3 * CONFUSION_CELL_H + M);
  if (img.w == gx + 3 * CONFUSION_CELL_W + M && img.h == gy + 3 * CONFUSION_CELL_H + M) {
    /* A cell's background near its corner, away from the centred count. */
#define CELL(i, j) gx + (j)*CONFUSION_CELL_W + 4, gy + (i)*CONFUSION_CELL_H + 4
    CHECK(rgb_sum(&img, CELL(0, 0)) < rgb_sum(&img, CELL(0, 1)), "0.8 of its row: %d, 0.2: %d",
          rgb_sum(&img, CELL(0, 0)), rgb_sum(&img, CELL(0, 1)));
    CHECK(rgb_sum(&img, CELL(1, 1)) < rgb_sum(&img, CELL(0, 0)), "0.9 of its row: %d, 0.8: %d",
          rgb_sum(&img, CELL(1, 1)), rgb_sum(&img, CELL(0, 0)));
    CHECK(rgb_sum(&img, CELL(0, 1)) < rgb_sum(&img, CELL(1, 0)), "0.2 of its row: %d, 0.1: %d",
          rgb_sum(&img, CELL(0, 1)), rgb_sum(&img, CELL(1, 0)));
    CHECK(is_rgb(&img, CELL(0, 2), 255, 255, 255) && is_rgb(&img, CELL(2, 2), 255, 255, 255),
          "empty cells are white");
    const uint8_t *dark = px(&img, CELL(1, 1));
    CHECK(dark[2] > dark[0] + 40, "the dark cell is blue: %d %d %d", dark[0], dark[1], dark[2]);
#undef CELL
    /* The counts: white text on the dark cell (1, 1), dark text on the light cell (0, 1). */
    int x11 = gx + CONFUSION_CELL_W, y11 = gy + CONFUSION_CELL_H;
    int white = 0, ink = 0;
    for (int y = y11 + 1; y < y11 + CONFUSION_CELL_H - 1; y++)
      for (int x = x11 + 1; x < x11 + CONFUSION_CELL_W - 1; x++)
        white += is_rgb(&img, x, y, 255, 255, 255);
    for (int y = gy + 1; y < gy + CONFUSION_CELL_H - 1; y++)
      for (int x = x11 + 1; x < x11 + CONFUSION_CELL_W - 1; x++)
        ink += rgb_sum(&img, x, y) < 200;
    CHECK(white > 10 && ink > 10, "count pixels: %d white on dark, %d dark on light", white, ink);
    /* Row names end GAP left of the grid; the title starts at the margin. */
    CHECK(count_not(&img, gx - G - label_w, gy, label_w, CONFUSION_CELL_H, 255, 255, 255) > 0,
          "no row name");
    CHECK(count_not(&img, M, M, 100, h3, 255, 255, 255) > 0, "no title");
  }
  image_free(&img);

  /* Nothing to show, and no names: still a picture. */
  PATHF(path, "%s/confusion_empty.png", tmp);
  CHECK(confusion_png_write(path, NULL, NULL, 0, 4, NULL, NULL) == 0, "%s", ancd_error());
  CHECK(image_load(&img, path, 3) == 0, "%s", ancd_error());
  image_free(&img);
  PATHF(path, "%s/confusion_nonames.png", tmp);
  CHECK(confusion_png_write(path, "", counts, 2, 3, NULL, NULL) == 0, "%s", ancd_error());
  CHECK(image_load(&img, path, 3) == 0, "%s", ancd_error());
  image_free(&img);

  /* Errors name the path and leave no file. */
  PATHF(path, "%s/missing/confusion.png", tmp);
  rc = confusion_png_write(path, "t", counts, 3, 3, rows, cols);
  CHECK(rc != 0 && strstr(ancd_error(), path), "missing folder: %d %s", rc, ancd_error());
  CHECK(!test_file_exists(path), "%s exists", path);
  PATHF(path, "%s/negative.png", tmp);
  const long bad[] = {1, -2};
  rc = confusion_png_write(path, "t", bad, 1, 2, NULL, NULL);
  CHECK(rc != 0 && strstr(ancd_error(), path), "negative count: %d %s", rc, ancd_error());
  CHECK(confusion_png_write(path, "t", NULL, 2, 2, NULL, NULL) != 0, "NULL counts");
  CHECK(!test_file_exists(path), "%s exists", path);
}

static void test_gallery(const char *tmp) {
  /* A flat grey 32x32 crop with the mask [8, 24)^2: thumbnail scale 3, mask [24, 72)^2. */
  uint8_t flat[32 * 32 * 3], mask[32 * 32], wide[32 * 64 * 3];
  memset(flat, 128, sizeof flat);
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 32; x++)
      mask[y * 32 + x] = x >= 8 && x < 24 && y >= 8 && y < 24 ? 7 : 0;
  for (int k = 0; k < 32 * 64 * 3; k++)
    wide[k] = (uint8_t)(k % 192 + 30);
  const gallery_item items[] = {
      {.rgb = flat, .mask = mask, .w = 32, .h = 32, .confidence = 0.93f, .caption = "img 001"},
      {.rgb = wide, .mask = NULL, .w = 64, .h = 32, .confidence = 0.5f, .caption = NULL},
  };
  const gallery_row rows[] = {
      {.label = "scratch", .items = items, .n_items = 2},
      {.label = NULL, .items = NULL, .n_items = 0},
      {.label = "a_very_long_class_label", .items = items + 1, .n_items = 1},
  };
  char path[4200];
  PATHF(path, "%s/gallery.png", tmp);
  CHECK(gallery_png_write(path, "test gallery", rows, 3) == 0, "%s", ancd_error());
  char tmpfile[4300];
  PATHF(tmpfile, "%s.tmp", path);
  CHECK(!test_file_exists(tmpfile), "%s left behind", tmpfile);
  image_u8 img = {0};
  CHECK(image_load(&img, path, 3) == 0, "%s", ancd_error());
  if (!img.data)
    return;
  /* gallery_png.h: the long label is cut to 14 characters (166 px); 2 items at most. */
  const int M = GALLERY_MARGIN, G = GALLERY_GAP, T = GALLERY_THUMB, label_w = 166;
  const int x0 = M + label_w + G, y0 = M + 3 * FONT_GLYPH_H + G, h2 = 2 * FONT_GLYPH_H;
  const int want_w = x0 + 2 * (T + G) - G + M, want_h = y0 + 3 * (GALLERY_ROW_H + G) - G + M;
  CHECK(img.w == want_w && img.h == want_h, "size %dx%d, want %dx%d", img.w, img.h, want_w, want_h);
  if (img.w == want_w && img.h == want_h) {
    const uint8_t *o = gallery_outline_rgb;
    CHECK(is_rgb(&img, x0 + 24, y0 + 48, o[0], o[1], o[2]) &&
              is_rgb(&img, x0 + 71, y0 + 30, o[0], o[1], o[2]) &&
              is_rgb(&img, x0 + 50, y0 + 24, o[0], o[1], o[2]),
          "mask boundary not outlined");
    CHECK(is_rgb(&img, x0 + 23, y0 + 48, 128, 128, 128) &&
              is_rgb(&img, x0 + 48, y0 + 48, 128, 128, 128) &&
              is_rgb(&img, x0 + 72, y0 + 48, 128, 128, 128) &&
              is_rgb(&img, x0 + 2, y0 + 2, 128, 128, 128),
          "crop pixels beside and inside the outline");
    /* The 64x32 crop: 96x48 centred, grey bands above and below it, no outline. */
    int x1 = x0 + T + G;
    const uint8_t *band = px(&img, x1 + 48, y0 + 5);
    CHECK(is_rgb(&img, x1 + 48, y0 + T - 5, band[0], band[1], band[2]) &&
              !is_rgb(&img, x1 + 48, y0 + 5, 255, 255, 255) &&
              !is_rgb(&img, x1 + 48, y0 + 48, band[0], band[1], band[2]),
          "letterbox of the wide crop");
    int red = 0;
    for (int y = y0; y < y0 + T; y++)
      for (int x = x1; x < x1 + T; x++)
        red += is_rgb(&img, x, y, o[0], o[1], o[2]);
    CHECK(red == 0, "%d outline pixels on a crop without a mask", red);
    /* The confidence and caption under the first thumbnail; "(no crops)" in row 1. */
    CHECK(count_not(&img, x0, y0 + T + 4, T, h2, 255, 255, 255) > 10, "no confidence");
    CHECK(count_not(&img, x0, y0 + T + 4 + h2 + 2, T, h2, 255, 255, 255) > 10, "no caption");
    CHECK(count_not(&img, x1, y0 + T + 4 + h2 + 2, T, h2, 255, 255, 255) == 0,
          "a caption from NULL");
    int y_row1 = y0 + GALLERY_ROW_H + G;
    CHECK(count_not(&img, x0, y_row1, T, T, 255, 255, 255) > 10, "no '(no crops)'");
    CHECK(count_not(&img, M, y_row1, label_w, T, 255, 255, 255) > 10, "no default label");
  }
  image_free(&img);

  PATHF(path, "%s/gallery_empty.png", tmp);
  CHECK(gallery_png_write(path, NULL, NULL, 0) == 0, "%s", ancd_error());
  CHECK(image_load(&img, path, 3) == 0, "%s", ancd_error());
  image_free(&img);

  PATHF(path, "%s/missing/gallery.png", tmp);
  int rc = gallery_png_write(path, "t", rows, 3);
  CHECK(rc != 0 && strstr(ancd_error(), path), "missing folder: %d %s", rc, ancd_error());
  CHECK(!test_file_exists(path), "%s exists", path);
  PATHF(path, "%s/bad_item.png", tmp);
  const gallery_item none = {.rgb = NULL, .w = 4, .h = 4};
  const gallery_row bad = {.label = "x", .items = &none, .n_items = 1};
  rc = gallery_png_write(path, "t", &bad, 1);
  CHECK(rc != 0 && strstr(ancd_error(), path), "item without pixels: %d %s", rc, ancd_error());
  CHECK(!test_file_exists(path), "%s exists", path);
}

int main(void) {
  const char *tmp = test_tmpdir("test_pictures");
  test_font();
  test_confusion(tmp);
  test_gallery(tmp);
  return test_done("test_pictures");
}
