#include "error.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char last_error[2048];

int ancd_errorf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return -1;
}

const char *ancd_error(void) { return last_error; }

int ancd_error_prefix(const char *fmt, ...) {
  char prefix[1024], old[sizeof last_error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, last_error, sizeof old);
  /* Concatenate by hand: the result is cut at the buffer size on purpose. */
  size_t np = strlen(prefix), no = strlen(old);
  if (np > sizeof last_error - 1)
    np = sizeof last_error - 1;
  if (no > sizeof last_error - 1 - np)
    no = sizeof last_error - 1 - np;
  memcpy(last_error, prefix, np);
  memcpy(last_error + np, old, no);
  last_error[np + no] = 0;
  return -1;
}

void ancd_fatal_at(const char *file, int line, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "ancd: fatal: %s (%s:%d)\n", msg, file, line);
  exit(1);
}

void *xmalloc_at(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (!p)
    ancd_fatal_at(file, line, "out of memory allocating %zu bytes", n);
  return p;
}

void *xcalloc_at(size_t count, size_t size, const char *file, int line) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p)
    ancd_fatal_at(file, line, "out of memory allocating %zu x %zu bytes", count, size);
  return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line) {
  void *q = realloc(p, n ? n : 1);
  if (!q)
    ancd_fatal_at(file, line, "out of memory reallocating %zu bytes", n);
  return q;
}
