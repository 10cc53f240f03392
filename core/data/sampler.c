/* Weighted sampling with replacement (sampler.h). */
#include "sampler.h"

#include "error.h"
#include "rng.h"

static const uint64_t SAMPLER_DOMAIN = 0x73616d706c657201ULL; /* "sampler", version 1 */

int sampler_draw(int n_base, int n_novel, uint64_t seed, uint64_t epoch, uint64_t i) {
  uint64_t s = rng_u64_at(rng_u64_at(SAMPLER_DOMAIN, seed), epoch);
  /* Total weight 2 n_base: t < n_base falls on base item floor(t), the rest on the novel items,
   * each n_base / n_novel wide. Exact in double for any int sizes. */
  double t = rng_uniform_at(s, i) * 2.0 * n_base;
  if (t < n_base || n_novel == 0) {
    int k = (int)(t < n_base ? t : t - n_base);
    return k < n_base ? k : n_base - 1;
  }
  int k = (int)((t - n_base) * n_novel / n_base);
  return n_base + (k < n_novel ? k : n_novel - 1);
}

int sampler_epoch(int *out, int n_base, int n_novel, uint64_t seed, uint64_t epoch) {
  if (n_base < 1 || n_novel < 0)
    return ancd_errorf("sampler: %d base and %d novel items (need at least one base item)", n_base,
                       n_novel);
  for (int i = 0; i < n_base + n_novel; i++)
    out[i] = sampler_draw(n_base, n_novel, seed, epoch, (uint64_t)i);
  return 0;
}
