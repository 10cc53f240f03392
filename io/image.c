/* image_u8 allocation and cropping. */
#include "image.h"

#include <string.h>

#include "error.h"

/* Large enough for any dataset image; small enough that a corrupt header claiming a huge size
 * fails here instead of exhausting memory. */
enum { IMAGE_MAX_DIM = 1 << 17 };
#define IMAGE_MAX_PIXELS ((size_t)1 << 28)

int image_alloc(image_u8 *img, int w, int h, int c) {
  img->w = img->h = img->c = 0;
  img->data = NULL;
  if (w < 1 || h < 1 || w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM ||
      (size_t)w * (size_t)h > IMAGE_MAX_PIXELS)
    return ancd_errorf("image size %dx%d out of range (1..%d per side, %zu pixels)", w, h,
                       IMAGE_MAX_DIM, IMAGE_MAX_PIXELS);
  if (c != 1 && c != 3)
    return ancd_errorf("image channel count %d (expected 1 or 3)", c);
  img->data = xcalloc((size_t)w * h * c, 1);
  img->w = w;
  img->h = h;
  img->c = c;
  return 0;
}

void image_free(image_u8 *img) {
  if (!img)
    return;
  free(img->data);
  img->data = NULL;
  img->w = img->h = img->c = 0;
}

int image_crop(image_u8 *out, const image_u8 *in, int x0, int y0, int w, int h) {
  if (image_alloc(out, w, h, in->c) != 0)
    return ancd_error_prefix("image_crop: ");
  /* Clip the window to the image in 64-bit so extreme offsets cannot overflow. */
  long long xa = x0 > 0 ? x0 : 0, xb = (long long)x0 + w < in->w ? (long long)x0 + w : in->w;
  long long ya = y0 > 0 ? y0 : 0, yb = (long long)y0 + h < in->h ? (long long)y0 + h : in->h;
  if (xa >= xb || ya >= yb)
    return 0; /* no overlap: all zero */
  size_t c = (size_t)in->c, n = (size_t)(xb - xa) * c;
  for (long long y = ya; y < yb; y++) {
    uint8_t *dst = out->data + ((size_t)(y - y0) * w + (size_t)(xa - x0)) * c;
    const uint8_t *src = in->data + ((size_t)y * in->w + (size_t)xa) * c;
    memcpy(dst, src, n);
  }
  return 0;
}
