/* Resizing on plain buffers that reproduces Pillow's Image.resize (BILINEAR, BICUBIC) and
 * OpenCV's INTER_NEAREST bit for bit: the one implementation behind io's image_resize and the
 * AnomalyNCD transforms (anomalyncd_spec §5.7, §13 "PIL resize"; musc §A.4.1).
 *
 * Pillow resamples in two uint8-rounded passes, so the pass order shows in the pixels: Pillow >= 13
 * runs the vertical pass first when the height shrinks by more than twice as many pixels as the
 * width; Pillow <= 12 always goes horizontal first (pillow12_order = 1). */
#ifndef ANCD_RESIZE_H
#define ANCD_RESIZE_H

#include <stdint.h>

typedef enum {
  RESIZE_FILTER_NEAREST_CV, /* OpenCV INTER_NEAREST: src = floor(dst * (1 / (out/in))) */
  RESIZE_FILTER_BILINEAR,   /* Pillow BILINEAR, antialiased on downscale */
  RESIZE_FILTER_BICUBIC,    /* Pillow BICUBIC (a = -0.5), antialiased on downscale */
} resize_filter;

/* out [out_h, out_w, c] from in [in_h, in_w, c] (interleaved, any c >= 1); all sizes >= 1. */
void resize_u8(uint8_t *out, const uint8_t *in, int in_w, int in_h, int c, int out_w, int out_h,
               resize_filter filter, int pillow12_order);

/* One float channel (Pillow mode "F") by the same kernels, taps and pass order, in Pillow's 32bpc
 * arithmetic: double sums of the normalised weights, float results, no 8-bit rounding between
 * the passes. out [out_h, out_w], in [in_h, in_w]. */
void resize_f32(float *out, const float *in, int in_w, int in_h, int out_w, int out_h,
                resize_filter filter, int pillow12_order);

#endif
