/* A bump allocator over one backend allocation. Offsets are rounded up to 256 bytes (the
 * alignment of ops->alloc on every backend), so the same requests give the same layout on cpu and
 * cuda and arena_float_bytes() sizes an arena exactly. */
#include "arena.h"

#include <stdint.h>

#include "error.h"

#define ARENA_ALIGN 256

size_t arena_float_bytes(size_t n) {
  return (n * sizeof(float) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

void arena_init(arena *a, const ops *o, size_t size) {
  a->o = o;
  a->base = o->alloc(size);
  if ((uintptr_t)a->base % ARENA_ALIGN != 0)
    ANCD_FATAL("arena: backend %s returned memory not aligned to %d bytes", o->name, ARENA_ALIGN);
  a->size = size;
  a->used = 0;
  a->peak = 0;
}

float *arena_floats(arena *a, size_t n) {
  size_t bytes = arena_float_bytes(n);
  if (bytes > a->size - a->used)
    ANCD_FATAL("arena: %zu floats (%zu bytes) requested with %zu of %zu bytes used", n, bytes,
               a->used, a->size);
  float *p = (float *)(a->base + a->used);
  a->used += bytes;
  if (a->used > a->peak)
    a->peak = a->used;
  return p;
}

size_t arena_mark(const arena *a) { return a->used; }

void arena_reset(arena *a, size_t mark) {
  if (mark > a->used)
    ANCD_FATAL("arena: reset to %zu bytes but only %zu are used", mark, a->used);
  a->used = mark;
}

void arena_free(arena *a) {
  if (a->base)
    a->o->free(a->base);
  a->base = NULL;
  a->size = a->used = a->peak = 0;
}
