/* The op table: model code is written once against it; each backend implements every op.
 * cpu (ops_cpu.c) is the reference and is always built: OpenBLAS sgemm + OpenMP loops.
 * cuda (ops_cuda.cu) mirrors it with cuBLAS + kernels and is checked against it.
 * All tensors are fp32, row-major, contiguous unless a stride says otherwise, and live in the
 * backend's memory (ops->alloc). Signatures: outputs first, then inputs, then sizes. */
#ifndef ANCD_OPS_H
#define ANCD_OPS_H

#include <stddef.h>

typedef enum { PRECISION_FP32 = 0, PRECISION_TF32, PRECISION_BF16 } ops_precision;

typedef struct ops ops;
struct ops {
  const char *name; /* "cpu" | "cuda" */

  /* Memory of the backend (host memory for cpu). */
  void *(*alloc)(size_t bytes);
  void (*free)(void *p);
  void (*to_device)(void *dst, const void *host_src, size_t bytes);
  void (*to_host)(void *host_dst, const void *src, size_t bytes);
  void (*memset0)(void *p, size_t bytes);
  void (*synchronize)(void);
  void (*set_precision)(ops_precision p); /* GEMM precision; cpu: fp32 always */

  /* out[M,N] = inp[M,K] . weight[N,K]^T (+ bias[N] when not NULL): nn.Linear. */
  void (*matmul)(float *out, const float *inp, const float *weight, const float *bias, int M, int K,
                 int N);
  /* For b in [0, batch): C_b = alpha * op(A_b) . op(B_b) + beta * C_b, row-major, where
   * op(X) = X^T when trans_x; A_b = A + b * stride_a etc.; lda/ldb/ldc are row strides. */
  void (*gemm_batched)(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                       int trans_a, int trans_b, int lda, int ldb, int ldc, long stride_a,
                       long stride_b, long stride_c, float alpha, float beta);

  /* Per row of C values: (x - mean) / sqrt(var + eps) * weight + bias (biased variance).
   * weight and bias may be NULL (no affine: LNAMD); out may alias inp. */
  void (*layernorm)(float *out, const float *inp, const float *weight, const float *bias, long rows,
                    int C, float eps);
  void (*gelu)(float *out, const float *inp, long n);       /* exact: x * Phi(x), erf form */
  void (*quick_gelu)(float *out, const float *inp, long n); /* x * sigmoid(1.702 x) */
  void (*softmax)(float *out, const float *inp, long rows, int cols); /* row-wise, stable */
  void (*add)(float *out, const float *a, const float *b, long n);    /* may alias a or b */
  /* out[r,c] = a[r,c] + gamma[c] * b[r,c]: a residual with LayerScale (gamma NULL: 1); may
   * alias a. */
  void (*add_scaled)(float *out, const float *a, const float *b, const float *gamma, long rows,
                     int C);
  void (*l2_normalize)(float *out, const float *inp, long rows, int C,
                       float eps); /* x/max(|x|,eps) */

  /* Multi-head self-attention: qkv [B,T,3C] = (q | k | v), each C = NH heads of C/NH
   * contiguous; out [B,T,C] heads concatenated. scale = 1/sqrt(C/NH). cls_bias [B,T] or NULL:
   * added to the scores of query row 0 only (MGViT's mask on the CLS query). scratch holds at
   * least attention_scratch(B,T,NH) floats. */
  void (*attention)(float *out, float *scratch, const float *qkv, const float *cls_bias, int B,
                    int T, int C, int NH);
  /* Floats of scratch the attention op of this backend needs: cuda the B*NH*T*T scores of one
   * batched softmax, cpu one T*T tile per thread (for the OpenMP team size at the time of the
   * query, which the caller must not raise before the op runs). */
  size_t (*attention_scratch)(int B, int T, int NH);

  /* Patch embedding as GEMM, step 1: img [B,3,H,W] -> cols [B, (H/P)*(W/P), 3*P*P], in the
   * order of a conv weight [D,3,P,P] flattened (channel, row, col). */
  void (*im2col_patches)(float *cols, const float *img, int B, int H, int W, int P);
  /* Tokens: out[b,0,:] = cls + pos[0] (when has_cls), out[b,1+i,:] = patches[b,i,:] + pos[1+i]
   * (pos without the CLS row when !has_cls). patches [B,L,D], pos [(has_cls+L),D]. */
  void (*assemble_tokens)(float *out, const float *patches, const float *cls, const float *pos,
                          int B, int L, int D, int has_cls);

  /* ---- convolution as GEMM, channels-last (NHWC) images: the WideResNet backbone
   * (musc_hetmm_spec §B.4). A conv is im2col then matmul with the weight [Cout, k, k, C] (the
   * PyTorch weight [Cout, C, k, k] permuted) and the BatchNorm-folded bias. ---- */

  /* cols [B*Ho*Wo, k*k*C] from x [B,H,W,C]: row (b,oy,ox) holds, in (ky,kx,c) order,
   * x[b, oy*stride - pad + ky*dilation, ox*stride - pad + kx*dilation, c], 0 outside the image;
   * Ho = (H + 2 pad - dilation (k-1) - 1) / stride + 1 (floor), Wo likewise. */
  void (*im2col)(float *cols, const float *x, int B, int H, int W, int C, int k, int stride,
                 int pad, int dilation);
  /* nn.MaxPool2d(k, stride, pad) (padding never wins: -inf) on x [B,H,W,C] -> out [B,Ho,Wo,C],
   * Ho as im2col with dilation 1. */
  void (*maxpool2d)(float *out, const float *x, int B, int H, int W, int C, int k, int stride,
                    int pad);
  void (*relu)(float *out, const float *inp, long n); /* max(x, 0); may alias */
  /* out [B,C,R] = inp [B,R,C] with the last two axes swapped: NHWC <-> NCHW (R = H*W). */
  void (*transpose)(float *out, const float *inp, int B, int R, int C);

  /* ---- training: forward variants that keep what the backward needs, the backward passes,
   * SGD (anomalyncd_spec §5). As in llm.c every d-output ACCUMULATES (+=) into its buffer, so
   * the caller zeroes gradients once per step and residual branches simply add; a NULL
   * d-output is not computed (frozen parameters, inputs that need no gradient). ---- */

  /* layernorm that also writes mean[rows] and rstd[rows] = 1/sqrt(var + eps). */
  void (*layernorm_train)(float *out, float *mean, float *rstd, const float *inp,
                          const float *weight, const float *bias, long rows, int C, float eps);
  /* dinp[rows,C] += d/dinp, dweight[C] += sum_rows dout * xhat, dbias[C] += sum_rows dout.
   * weight NULL: no affine (weight 1). */
  void (*layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight, const float *mean,
                             const float *rstd, long rows, int C);
  /* Of matmul: dinp[M,K] += dout[M,N] . weight[N,K]; dweight[N,K] += dout^T . inp[M,K];
   * dbias[N] += sum over the M rows of dout. */
  void (*matmul_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight, int M, int K, int N);
  /* dinp[i] += act'(inp[i]) * dout[i]; inp is the pre-activation the forward kept. */
  void (*gelu_backward)(float *dinp, const float *inp, const float *dout, long n);
  void (*quick_gelu_backward)(float *dinp, const float *inp, const float *dout, long n);
  /* Of add_scaled (out = a + gamma * b): da[r,c] += dout, db[r,c] += gamma[c] * dout (gamma
   * NULL: 1), dgamma[c] += sum_r b[r,c] * dout[r,c]. */
  void (*add_scaled_backward)(float *da, float *db, float *dgamma, const float *dout,
                              const float *b, const float *gamma, long rows, int C);
  /* Of attention (same qkv, cls_bias and layout): dqkv [B,T,3C] += the gradient of out
   * [B,T,C] given dout. The probabilities are recomputed from qkv (nothing T x T is kept between
   * forward and backward); scratch holds attention_backward_scratch(B,T,C,NH) floats. */
  void (*attention_backward)(float *dqkv, float *scratch, const float *dout, const float *qkv,
                             const float *cls_bias, int B, int T, int C, int NH);
  size_t (*attention_backward_scratch)(int B, int T, int C, int NH);
  /* PyTorch SGD (momentum, dampening 0, L2 weight decay added to the gradient) on n values:
   * g = grad + weight_decay * param; buf = first_step ? g : momentum * buf + g;
   * param -= lr * buf. */
  void (*sgd_update)(float *param, float *momentum_buf, const float *grad, long n, float lr,
                     float momentum, float weight_decay, int first_step);
  /* bytes from src to dst, both in the backend's memory (they must not overlap). */
  void (*copy)(void *dst, const void *src, size_t bytes);
};

const ops *ops_cpu(void);
/* The CPU attention's products at head size 64: 1 (the default) runs the AVX-512 pair kernel where
 * the CPU has it (attention_avx512.c), 0 OpenBLAS's sgemm, the reference. Returns the previous
 * setting; tests run both. Not to be changed while an attention runs. */
int ops_cpu_attention_kernel(int use);
/* The CUDA backend, or NULL when not built or when no GPU is present. */
const ops *ops_cuda(void);
/* device: "auto" (cuda when present, else cpu) | "cpu" | "cuda" (NULL + ancd_error when absent). */
const ops *ops_select(const char *device);
/* *out = the precision named by the config's `precision` (fp32 | tf32 | bf16). -1 for another
 * name. */
int ops_precision_parse(ops_precision *out, const char *name);

#endif
