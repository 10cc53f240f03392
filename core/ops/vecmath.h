/* expf and erff in plain C that the compiler vectorises (no libm call, no branch: selects, which
 * become blends), for the CPU backend's hot loops and its labs (tests/lab/). No fmaf: without FMA
 * hardware it is a libm call, and a*b+c rounds the same in every function clone, so every x86-64
 * gives the same bits. */
#ifndef ANCD_VECMATH_H
#define ANCD_VECMATH_H

#include <stdint.h>

static inline float vm_bits_to_float(int32_t i) {
  union {
    int32_t i;
    float f;
  } u = {.i = i};
  return u.f;
}

/* e^x within 2 ulp (Cephes expf's polynomial on [-ln2/2, ln2/2]; 4 ulp above 88.3) on
 * [-87.3, 88.7]: 0 below (and for -inf), inf above, NaN for NaN. k comes from x clamped so that NaN
 * lands in range too (the float-to-int conversion and the shift must stay defined); r from x
 * itself, so NaN and large x carry through the polynomial. */
static inline float vm_expf(float x) {
  float xc = x < 88.3f ? x : 88.3f;
  xc = xc > -87.3f ? xc : -87.3f;
  /* k = round(x / ln2) by the 1.5 * 2^23 trick, r = x - k ln2 in two parts (Cody-Waite). */
  float k = xc * 1.44269504088896341f + 12582912.0f;
  k = k - 12582912.0f;
  float r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  float y = p * vm_bits_to_float(((int32_t)k + 127) << 23); /* k in [-126, 127] */
  return x < -87.3f ? 0.0f : y;
}

/* erf(x) as a rational function, x P(x^2) / Q(x^2), on x clamped to [-4, 4] (beyond, erf rounds
 * to +-1 in float): the coefficients of Eigen's and XLA's fast erff. In float arithmetic without
 * FMA the error is at most 4.5e-7 (7.5 ulp of 1), so GELU is within 1.3e-6 of x Phi(x); the
 * polynomial-plus-exp erff of tests/lab/lab_rowwise.c ("juffa") is within 1.6 ulp but 2.6 times
 * slower, and GELU is 7% of the ViT forward with it. */
static inline float vm_erff(float x) {
  float z = x > 4.0f ? 4.0f : x;
  z = z < -4.0f ? -4.0f : z;
  float z2 = z * z;
  float p = z2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = p * z2 - 2.10102402082508e-06f;
  p = p * z2 - 5.69250639462346e-05f;
  p = p * z2 - 7.34990630326855e-04f;
  p = p * z2 - 2.95459980854025e-03f;
  p = p * z2 - 1.60960333262415e-02f;
  float q = z2 * -1.45660718464996e-05f - 2.13374055278905e-04f;
  q = q * z2 - 1.68282697438203e-03f;
  q = q * z2 - 7.37332916720468e-03f;
  q = q * z2 - 1.42647390514189e-02f;
  return z * p / q;
}

#endif
