/* CPython's Mersenne Twister (Modules/_randommodule.c: init_genrand, init_by_array,
 * genrand_uint32) and the pure-Python parts of Lib/random.py that MuSc calls. */
#include "pyrandom.h"

#include <stdlib.h>

#include "error.h"

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfU
#define MT_UPPER 0x80000000U
#define MT_LOWER 0x7fffffffU

static void init_genrand(pyrandom *r, uint32_t s) {
  r->mt[0] = s;
  for (int i = 1; i < PYRANDOM_N; i++)
    r->mt[i] = 1812433253U * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
  r->index = PYRANDOM_N;
}

static void init_by_array(pyrandom *r, const uint32_t *key, int key_length) {
  init_genrand(r, 19650218U);
  int i = 1, j = 0;
  for (int k = PYRANDOM_N > key_length ? PYRANDOM_N : key_length; k; k--) {
    r->mt[i] =
        (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525U)) + key[j] + (uint32_t)j;
    i++;
    j++;
    if (i >= PYRANDOM_N) {
      r->mt[0] = r->mt[PYRANDOM_N - 1];
      i = 1;
    }
    if (j >= key_length)
      j = 0;
  }
  for (int k = PYRANDOM_N - 1; k; k--) {
    r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941U)) - (uint32_t)i;
    i++;
    if (i >= PYRANDOM_N) {
      r->mt[0] = r->mt[PYRANDOM_N - 1];
      i = 1;
    }
  }
  r->mt[0] = 0x80000000U; /* non-zero initial state */
}

/* random.seed(n): the key is |n| as little-endian 32-bit words, at least one. */
void pyrandom_seed(pyrandom *r, uint64_t seed) {
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  init_by_array(r, key, key[1] ? 2 : 1);
}

static uint32_t genrand_uint32(pyrandom *r) {
  if (r->index >= PYRANDOM_N) {
    int k;
    uint32_t y;
    for (k = 0; k < PYRANDOM_N - MT_M; k++) {
      y = (r->mt[k] & MT_UPPER) | (r->mt[k + 1] & MT_LOWER);
      r->mt[k] = r->mt[k + MT_M] ^ (y >> 1) ^ ((y & 1U) ? MT_MATRIX_A : 0U);
    }
    for (; k < PYRANDOM_N - 1; k++) {
      y = (r->mt[k] & MT_UPPER) | (r->mt[k + 1] & MT_LOWER);
      r->mt[k] = r->mt[k + (MT_M - PYRANDOM_N)] ^ (y >> 1) ^ ((y & 1U) ? MT_MATRIX_A : 0U);
    }
    y = (r->mt[PYRANDOM_N - 1] & MT_UPPER) | (r->mt[0] & MT_LOWER);
    r->mt[PYRANDOM_N - 1] = r->mt[MT_M - 1] ^ (y >> 1) ^ ((y & 1U) ? MT_MATRIX_A : 0U);
    r->index = 0;
  }
  uint32_t y = r->mt[r->index++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= (y >> 18);
  return y;
}

/* For k <= 32 CPython takes the top k bits of one word. */
uint32_t pyrandom_getrandbits(pyrandom *r, int k) {
  if (k < 1 || k > 32)
    ANCD_FATAL("pyrandom_getrandbits: k = %d outside 1..32", k);
  return genrand_uint32(r) >> (32 - k);
}

/* _randbelow_with_getrandbits: k = n.bit_length(), redraw while r >= n. */
uint32_t pyrandom_randbelow(pyrandom *r, uint32_t n) {
  if (n == 0)
    ANCD_FATAL("pyrandom_randbelow: n = 0");
  int k = 0;
  for (uint32_t v = n; v; v >>= 1)
    k++;
  uint32_t x = pyrandom_getrandbits(r, k);
  while (x >= n)
    x = pyrandom_getrandbits(r, k);
  return x;
}

/* for i in reversed(range(1, len(x))): j = _randbelow(i + 1); swap x[i], x[j]. */
void pyrandom_shuffle(pyrandom *r, int *x, int n) {
  for (int i = n - 1; i >= 1; i--) {
    int j = (int)pyrandom_randbelow(r, (uint32_t)i + 1);
    int t = x[i];
    x[i] = x[j];
    x[j] = t;
  }
}

void pyrandom_divide(int *subset, const int *group, int n, int divide_num, uint64_t seed) {
  pyrandom r;
  pyrandom_seed(&r, seed);
  int n_groups = 0;
  for (int i = 0; i < n; i++)
    if (group[i] + 1 > n_groups)
      n_groups = group[i] + 1;
  int *ids = xmalloc(((size_t)n + 1) * sizeof *ids);
  for (int g = 0; g < n_groups; g++) {
    int m = 0;
    for (int i = 0; i < n; i++) /* the group's indices in item order, as the reference appends */
      if (group[i] == g)
        ids[m++] = i;
    pyrandom_shuffle(&r, ids, m);
    for (int k = 0; k < m; k++) /* element k sits at position k % divide_num of its chunk */
      subset[ids[k]] = k % divide_num;
  }
  free(ids);
}
