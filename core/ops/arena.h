/* One allocation per run, handed out by bumping a pointer: no allocation per token or per op in
 * hot loops. The high-water mark is the peak memory that benchmarks report. */
#ifndef ANCD_ARENA_H
#define ANCD_ARENA_H

#include <stddef.h>

#include "ops.h"

typedef struct {
  const ops *o;
  char *base;
  size_t size, used, peak;
} arena;

/* Allocates size bytes on the backend. */
void arena_init(arena *a, const ops *o, size_t size);
/* Bytes one arena_floats(a, n) takes (n floats rounded up to 256): an arena of the sum of these
 * over a run's blocks is exactly large enough. */
size_t arena_float_bytes(size_t n);
/* 256-byte aligned block of n floats; fatal (with the sizes) when the arena is too small,
 * which is a sizing bug in the caller, never an input error. */
float *arena_floats(arena *a, size_t n);
/* Marks and releases: everything allocated after the mark is freed at once. */
size_t arena_mark(const arena *a);
void arena_reset(arena *a, size_t mark);
void arena_free(arena *a);

#endif
