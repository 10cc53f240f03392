/* PNG encoding with libpng's simplified API (8-bit grey or RGB, no colour conversion). */
#include "image.h"

#include <stdio.h>
#include <string.h>

#include <png.h>

#include "error.h"
#include "fsutil.h"

int image_write_png(const char *path, const image_u8 *img) {
  if (!img->data || img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3))
    return ancd_errorf("%s: cannot write PNG: invalid image %dx%dx%d", path, img->w, img->h,
                       img->c);
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = (png_uint_32)img->w;
  pi.height = (png_uint_32)img->h;
  pi.format = img->c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  /* On failure libpng removes the partial file and leaves the reason in pi.message. */
  if (!png_image_write_to_file(&pi, path, 0, img->data, 0, NULL)) {
    int r = ancd_errorf("%s: cannot write PNG (libpng: %s)", path, pi.message);
    png_image_free(&pi);
    return r;
  }
  return 0;
}

int image_write_png_atomic(const char *path, const image_u8 *img) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return ancd_errorf("%s: path too long", path);
  if (image_write_png(tmp, img) < 0)
    return -1;
  return fs_publish(tmp, path);
}

void image_fill_rect(image_u8 *img, int x, int y, int w, int h, const uint8_t c[3]) {
  for (int yy = y < 0 ? 0 : y; yy < y + h && yy < img->h; yy++)
    for (int xx = x < 0 ? 0 : x; xx < x + w && xx < img->w; xx++)
      memcpy(img->data + ((size_t)yy * img->w + xx) * 3, c, 3);
}
