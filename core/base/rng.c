#include "rng.h"

#include <math.h>

/* The splitmix64 finaliser (Steele, Lea, Flood 2014). */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* The seed is mixed first so that nearby seeds give unrelated streams. */
uint64_t rng_u64_at(uint64_t seed, uint64_t i) {
  return mix64(mix64(seed) + (i + 1) * 0x9e3779b97f4a7c15ULL);
}

double rng_uniform_at(uint64_t seed, uint64_t i) {
  return (double)(rng_u64_at(seed, i) >> 11) * 0x1.0p-53;
}

static double box_muller(double u1, double u2) {
  return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2); /* 1 - u1 in (0, 1]: finite log */
}

double rng_trunc_normal_at(uint64_t seed, uint64_t i, double std) {
  /* Attempt k of element i uses counters 256 i + 2k, 256 i + 2k + 1. One attempt fails with
   * probability 0.0455, so 128 failures never happen in practice; 0 is then returned. */
  for (uint64_t k = 0; k < 128; k++) {
    double z = box_muller(rng_uniform_at(seed, 256 * i + 2 * k),
                          rng_uniform_at(seed, 256 * i + 2 * k + 1));
    if (fabs(z) <= 2.0)
      return z * std;
  }
  return 0.0;
}

void rng_init(rng *r, uint64_t seed) {
  r->seed = seed;
  r->counter = 0;
}

uint64_t rng_u64(rng *r) { return rng_u64_at(r->seed, r->counter++); }
