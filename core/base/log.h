/* Logging and progress. Only rank 0 prints (log_set_rank); messages go to stderr.
 * A progress bar with rate and ETA is drawn in place on a terminal; when stderr is not a
 * terminal, plain lines are printed at most every few seconds. */
#ifndef ANCD_LOG_H
#define ANCD_LOG_H

#include <stdio.h>

typedef enum { LOG_QUIET = 0, LOG_NORMAL = 1, LOG_VERBOSE = 2 } log_level;

void log_set_level(log_level level);
void log_set_rank(int rank);
log_level log_get_level(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* normal+ */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* verbose */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* always, rank 0 */
/* Errors print on every rank (the failing rank may not be 0). */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct {
  char label[64];
  long total, done;
  double t_start, t_last_print;
  int active; /* 0 when this rank does not print */
  int tty;
} progress;

void progress_start(progress *p, const char *label, long total);
void progress_update(progress *p, long done);
/* Call when the work is complete: prints the total time and rate. */
void progress_finish(progress *p);
/* Formats seconds as "1h02m", "3m05s" or "12.3s". */
void format_duration(char *out, size_t n, double seconds);
double now_seconds(void);

#endif
