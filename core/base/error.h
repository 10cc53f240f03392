/* Error values and checked library calls.
 * Library code returns 0 on success and -1 on error after recording a message with ancd_errorf();
 * the caller prints ancd_error(). CHECK_* macros are for calls that must never fail in a correct
 * program (MPI, HDF5 internals): they print file:line and exit. */
#ifndef ANCD_ERROR_H
#define ANCD_ERROR_H

#include <stdio.h>
#include <stdlib.h>

/* Exit codes of every job. */
enum { ANCD_EXIT_OK = 0, ANCD_EXIT_INPUT = 1, ANCD_EXIT_USAGE = 2 };

/* Records a printf-style message (thread-local) and returns -1, so `return ancd_errorf(...)`. */
int ancd_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message ("" when none). */
const char *ancd_error(void);
/* Prefixes the recorded message with more context ("file.png: " + old). Returns -1. */
int ancd_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fatal: prints "ancd: fatal: <msg> (file:line)" and exits with status 1. */
void ancd_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define ANCD_FATAL(...) ancd_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* Allocation that never returns NULL. */
void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t count, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(c, s) xcalloc_at((c), (s), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)

#endif
