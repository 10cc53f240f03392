/* The CPU backend's convolution ops (ops_cpu_conv.c), declared for the table in ops_cpu.c; see
 * ops.h for what each computes. Nothing outside core/ops/ includes this. */
#ifndef ANCD_OPS_CPU_CONV_H
#define ANCD_OPS_CPU_CONV_H

void cpu_im2col(float *cols, const float *x, int B, int H, int W, int C, int k, int stride, int pad,
                int dilation);
void cpu_maxpool2d(float *out, const float *x, int B, int H, int W, int C, int k, int stride,
                   int pad);
void cpu_relu(float *out, const float *inp, long n);
void cpu_transpose(float *out, const float *inp, int B, int R, int C);

#endif
