/* The training loader's sampler (anomalyncd_spec §11 item 35, SimGCD's WeightedRandomSampler):
 * each epoch is n_base + n_novel draws with replacement over the merged set (base items first,
 * indices 0..n_base-1, then novel ones), base items with weight 1 and novel ones with weight
 * n_base / n_novel, so a draw is base with probability 1/2.
 *
 * Draw i of an epoch is a pure function of (seed, epoch, i): any rank can compute any part of the
 * epoch, and the list does not depend on the number of ranks. It cannot equal PyTorch's
 * torch.multinomial stream (another generator) but has the same distribution. */
#ifndef ANCD_SAMPLER_H
#define ANCD_SAMPLER_H

#include <stdint.h>

/* Draw i of epoch `epoch`: an index in 0..n_base+n_novel-1, by inverse CDF of one uniform. */
int sampler_draw(int n_base, int n_novel, uint64_t seed, uint64_t epoch, uint64_t i);

/* out[0 .. n_base+n_novel-1] = the epoch's draws. Returns 0, or -1 (ancd_error) when n_base < 1
 * or n_novel < 0: with no base item every weight is 0, where torch.multinomial fails too. */
int sampler_epoch(int *out, int n_base, int n_novel, uint64_t seed, uint64_t epoch);

#endif
