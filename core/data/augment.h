/* The AnomalyNCD training and test transforms (anomalyncd_spec §5.7, datasets/transform.py) on
 * 8-bit buffers: each op reproduces what torchvision 0.29 does on a PIL image with Pillow 13 (the
 * resize, crop, flips, transposes, ImageEnhance blends and filters, posterize bit for bit; the
 * Gaussian blur to within the float rounding of torch's conv2d, see aug_gaussian_blur), and the
 * whole train transform is a pure function of a counter key.
 *
 * Buffers are interleaved rows, top to bottom: RGB [h, w, 3] and masks [h, w] (0..255, 255 =
 * foreground). Unless an op says "in place allowed", out and in must not overlap. */
#ifndef ANCD_AUGMENT_H
#define ANCD_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

enum {
  AUGMENT_SIZE = 224,   /* §5.7: the network input side */
  AUGMENT_RESIZE = 256, /* int(224 / crop_pct 0.875): the shorter side before cropping */
  AUGMENT_CROP_RANGE = AUGMENT_RESIZE - AUGMENT_SIZE, /* train crop offsets int(u * 32): 0..31 */
  AUGMENT_TEST_OFFSET = AUGMENT_CROP_RANGE / 2,       /* test crop at top = left = 16 */
};

/* ---- the transforms (§5.7) ---- */

/* Identifies one view of one drawn sample. Every random choice of augment_train is a pure
 * function of the key, so a sample's augmentation does not depend on which rank or thread draws
 * it, nor on what was drawn before. draw is the position in the epoch's draw list
 * (sampler_epoch), so a sample drawn twice in an epoch is augmented differently each time. */
typedef struct {
  uint64_t seed, epoch, draw, view;
} augment_key;

/* Every random choice of one train view, in the reference's order (§5.7 steps 2-8). */
typedef struct {
  int top, left;       /* crop offsets, 0..AUGMENT_CROP_RANGE - 1 */
  int hflip, vflip;    /* 0 or 1 */
  int jitter_order[3]; /* permutation of 0 brightness, 1 contrast, 2 saturation */
  float brightness;    /* U[0.6, 1.4] */
  float contrast;      /* U[0.6, 1.4] */
  float saturation;    /* U[0.6, 1.8] */
  int quarter_turns;   /* counter-clockwise: 0 none, 1 90°, 2 180°, 3 270° */
  float sharpness;     /* 0.2 + 1.8 u: [0.2, 2.0] */
  int blur_ksize;      /* 9, 13, ..., 33 */
  float blur_sigma;    /* U[0.1, 2.0] */
  int posterize_bits;  /* 5..8 */
} augment_params;

/* The choices of one key. Draw scheme: stream = h(h(h(h(D, seed), epoch), draw), view) with
 * h = rng_u64_at and D a constant of this module; choice k uses u_k = rng_uniform_at(stream, k),
 * one fixed slot per choice whether or not it is used:
 *   0 top = floor(32 u)            1 left = floor(32 u)
 *   2 hflip = u < 0.5              3 vflip = u < 0.5
 *   4 jitter_order = the floor(6 u)-th permutation of (0, 1, 2) in lexicographic order
 *   5 brightness = 0.6 + 0.8 u     6 contrast = 0.6 + 0.8 u     7 saturation = 0.6 + 1.2 u
 *   8 quarter_turns: u < 0.25 -> 1, < 0.5 -> 2, < 0.75 -> 3, else 0
 *   9 sharpness = 0.2 + 1.8 u      10 blur_ksize = 9 + 4 floor(7 u)
 *   11 blur_sigma = 0.1 + 1.9 u    12 posterize_bits = 5 + floor(4 u)
 * The distributions are the reference's; its streams (torch.rand, torch.randperm, python random)
 * cannot be reproduced (§13 tier 4). The factors are floats, as torchvision hands them to PIL. */
void augment_draw(augment_params *p, const augment_key *key);

/* §5.7 train, one view with given choices: resize the shorter side to 256 (+mask), crop 224 at
 * (top, left) (+mask), hflip, vflip (+mask), ColorJitter in jitter_order, rotate (+mask),
 * sharpness, Gaussian blur, posterize, then img_out [3, 224, 224] = (x / 255 - mean) / std in
 * float32 (ToTensor + Normalize) and mask_out [224, 224] = mask / 255 (ToTensor, not
 * thresholded). rgb [h, w, 3], mask [h, w]; mask and mask_out may both be NULL. */
void augment_train_params(float *img_out, float *mask_out, const uint8_t *rgb, const uint8_t *mask,
                          int w, int h, const augment_params *p, const float mean[3],
                          const float std[3]);
/* The same with the choices of key (augment_draw). */
void augment_train(float *img_out, float *mask_out, const uint8_t *rgb, const uint8_t *mask, int w,
                   int h, const augment_key *key, const float mean[3], const float std[3]);
/* §5.7 test: resize the shorter side to 256, crop 224 at top = left = 16 (not centred along the
 * long side of a non-square input, as the reference: §11 item 2), ToTensor, Normalize. */
void augment_test(float *img_out, float *mask_out, const uint8_t *rgb, const uint8_t *mask, int w,
                  int h, const float mean[3], const float std[3]);

/* ---- the ops, each on fixed parameters ---- */

/* torchvision's Resize(256) size rule: the shorter side becomes `shorter`, the longer
 * int(shorter * long / short). */
void aug_resize_shorter_size(int *out_w, int *out_h, int w, int h, int shorter);
/* Pillow 13 BILINEAR (antialiased when shrinking) of [h, w, c] to [out_h, out_w, c]. */
void aug_resize(uint8_t *out, const uint8_t *in, int w, int h, int c, int out_w, int out_h);
/* The window [left, left + cw) x [top, top + ch), which must lie inside the image. */
void aug_crop(uint8_t *out, const uint8_t *in, int w, int h, int c, int left, int top, int cw,
              int ch);
void aug_hflip(uint8_t *out, const uint8_t *in, int w, int h, int c);
void aug_vflip(uint8_t *out, const uint8_t *in, int w, int h, int c);
/* PIL's transposes ROTATE_90 / 180 / 270 (counter-clockwise), i.e. Image.rotate(90 q) of a square
 * image; out is [w, h, c] for odd q. */
void aug_rotate(uint8_t *out, const uint8_t *in, int w, int h, int c, int quarter_turns);

/* ImageEnhance (PIL Image.blend(degenerate, image, factor) in float32, truncated and clipped to
 * 0..255) on RGB [n or h*w, 3]; in place allowed. Brightness blends with black, Contrast with the
 * grey of the rounded mean of the L image (ITU-R 601-2 luma, 16-bit fixed point as Pillow),
 * Color (saturation) with the L image. */
void aug_brightness(uint8_t *out, const uint8_t *in, int n, float factor);
void aug_contrast(uint8_t *out, const uint8_t *in, int n, float factor);
void aug_saturation(uint8_t *out, const uint8_t *in, int n, float factor);
/* ImageEnhance.Sharpness: blend with the image filtered by PIL's SMOOTH kernel (3x3, 1 1 1 / 1 5 1
 * / 1 1 1, / 13) in float32; the border rows and columns of the filtered image are the input's,
 * as Pillow's filter leaves them. Any c. */
void aug_sharpness(uint8_t *out, const uint8_t *in, int w, int h, int c, float factor);
/* torchvision gaussian_blur of a PIL image: a ksize x ksize Gaussian (sigma, normalised) with
 * reflect padding (torch "reflect": no edge repeat), rounded half to even back to u8. Computed
 * separably in double; torch convolves in float32 with the 2-D outer-product kernel, so a result
 * within float rounding (~1e-4) of a half integer can round the other way (then off by 1).
 * ksize odd; any c. Reflection is repeated where ksize / 2 >= w or h (torch refuses those). */
void aug_gaussian_blur(uint8_t *out, const uint8_t *in, int w, int h, int c, int ksize,
                       float sigma);
/* ImageOps.posterize: keep the `bits` (1..8) high bits of every byte of n; in place allowed. */
void aug_posterize(uint8_t *out, const uint8_t *in, size_t n, int bits);
/* ToTensor + Normalize: in [n, c] -> out planes [c, n], ((float)x / 255 - mean_c) / std_c in
 * float32 (torch's div, sub, div); mean and std NULL: ToTensor only (the mask). */
void aug_to_tensor(float *out, const uint8_t *in, int n, int c, const float *mean,
                   const float *std);

#endif
