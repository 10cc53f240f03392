/* image_resize / image_resize_f32 (image.h): the checks and allocation around core's Pillow- and
 * OpenCV-exact resizing (core/data/resize.c, one implementation shared with the transforms of
 * anomalyncd_spec §5.7). */
#include "image.h"

#include "error.h"
#include "resize.h"

/* io's modes as core's filter and pass order. */
static resize_filter mode_filter(resize_mode mode) {
  if (mode == RESIZE_NEAREST_CV)
    return RESIZE_FILTER_NEAREST_CV;
  return mode == RESIZE_BILINEAR_PIL || mode == RESIZE_BILINEAR_PIL12 ? RESIZE_FILTER_BILINEAR
                                                                      : RESIZE_FILTER_BICUBIC;
}

static int mode_pillow12(resize_mode mode) {
  return mode == RESIZE_BILINEAR_PIL12 || mode == RESIZE_BICUBIC_PIL12;
}

int image_resize(image_u8 *out, const image_u8 *in, int out_w, int out_h, resize_mode mode) {
  if (!in->data || in->w < 1 || in->h < 1)
    return ancd_errorf("image_resize: empty input image");
  if (mode < RESIZE_NEAREST_CV || mode > RESIZE_BICUBIC_PIL12)
    return ancd_errorf("image_resize: unknown mode %d", (int)mode);
  if (image_alloc(out, out_w, out_h, in->c) != 0)
    return ancd_error_prefix("image_resize %dx%d -> %dx%d: ", in->w, in->h, out_w, out_h);
  resize_u8(out->data, in->data, in->w, in->h, in->c, out_w, out_h, mode_filter(mode),
            mode_pillow12(mode));
  return 0;
}

int image_resize_f32(float *out, const float *in, int in_w, int in_h, int out_w, int out_h,
                     resize_mode mode) {
  if (!in || in_w < 1 || in_h < 1 || out_w < 1 || out_h < 1)
    return ancd_errorf("image_resize_f32: %dx%d -> %dx%d: empty image", in_w, in_h, out_w, out_h);
  if (mode < RESIZE_NEAREST_CV || mode > RESIZE_BICUBIC_PIL12)
    return ancd_errorf("image_resize_f32: unknown mode %d", (int)mode);
  resize_f32(out, in, in_w, in_h, out_w, out_h, mode_filter(mode), mode_pillow12(mode));
  return 0;
}
