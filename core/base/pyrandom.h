/* Python's `random` module, as far as MuSc uses it: random.seed(int) (MT19937 seeded with
 * init_by_array over the integer's 32-bit words), getrandbits(k <= 32), _randbelow (rejection
 * sampling on getrandbits(n.bit_length())) and shuffle (Fisher-Yates from the end). The same
 * seed gives the same permutations as CPython 3 on every machine. */
#ifndef ANCD_PYRANDOM_H
#define ANCD_PYRANDOM_H

#include <stdint.h>

#define PYRANDOM_N 624

typedef struct {
  uint32_t mt[PYRANDOM_N];
  int index; /* next word of mt to temper; PYRANDOM_N: regenerate first */
} pyrandom;

/* random.seed(seed) for a non-negative integer. */
void pyrandom_seed(pyrandom *r, uint64_t seed);
/* random.getrandbits(k), 1 <= k <= 32. */
uint32_t pyrandom_getrandbits(pyrandom *r, int k);
/* random._randbelow(n): uniform in [0, n), n >= 1. */
uint32_t pyrandom_randbelow(pyrandom *r, uint32_t n);
/* random.shuffle(x) on n ints. */
void pyrandom_shuffle(pyrandom *r, int *x, int n);

/* musc §A.6.5 `sub_datasets`: random.seed(seed); items grouped by group[i] (ids 0..n_groups-1,
 * numbered in first-appearance order); each group's index list shuffled in group order; each
 * shuffled list cut into chunks of divide_num; subset s takes element s of every chunk long
 * enough. subset[i] = the subset of item i (every item gets one). divide_num >= 1. */
void pyrandom_divide(int *subset, const int *group, int n, int divide_num, uint64_t seed);

#endif
