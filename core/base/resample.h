/* Pillow's separable resampling filter (libImaging/Resample.c, re-derived, not copied), shared by
 * the image resize (io/image_resize.c) and timm's antialiased positional-embedding resample
 * (vit_posembed_aa.c: PyTorch's antialiased bicubic is this filter on floats). */
#ifndef ANCD_RESAMPLE_H
#define ANCD_RESAMPLE_H

/* Keys cubic convolution with a = -0.5 (PyTorch's tensor bicubic without antialias uses -0.75);
 * support 2. */
double resample_cubic(double x);

/* The most taps one output sample of an axis in_size -> out_size reads: 2 ceil(support) + 1, the
 * support being kernel_support stretched by in_size / out_size when shrinking. */
int resample_max_taps(int in_size, int out_size, double kernel_support);

/* The taps of output i along an axis in_size -> out_size: it samples around (i + 0.5) *
 * in_size / out_size, the kernel stretched by that factor when shrinking (antialiasing); taps
 * outside [0, in_size) are dropped (no edge clamping) and the rest normalised to sum 1. Writes the
 * weights of in[*first, *first + count) to w (room for resample_max_taps) and returns count. */
int resample_taps(double *w, int *first, int i, int in_size, int out_size, double (*kernel)(double),
                  double kernel_support);

#endif
