/* A small deterministic counter-based RNG: draw i of stream `seed` is a hash of (seed, i)
 * (splitmix64), so it is the same on every machine, thread count and rank, and any element can be
 * drawn without drawing those before it (parallel fills give the same numbers as serial ones). */
#ifndef ANCD_RNG_H
#define ANCD_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t seed;
  uint64_t counter; /* index of the next draw */
} rng;

/* Stateless: the i-th value of stream seed. */
uint64_t rng_u64_at(uint64_t seed, uint64_t i);
double rng_uniform_at(uint64_t seed, uint64_t i); /* [0, 1), 53 bits */
/* Normal(0, std) truncated to [-2 std, 2 std] (timm's trunc_normal_(std) with std <= 1), the
 * i-th value of stream seed: Box-Muller on draws of counters derived from i, redrawn when
 * outside the interval. */
double rng_trunc_normal_at(uint64_t seed, uint64_t i, double std);

/* Stateful: successive draws of one stream. */
void rng_init(rng *r, uint64_t seed);
uint64_t rng_u64(rng *r);

#endif
