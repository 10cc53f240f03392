#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_level g_level = LOG_NORMAL;
static int g_rank = 0;

void log_set_level(log_level level) { g_level = level; }
void log_set_rank(int rank) { g_rank = rank; }
log_level log_get_level(void) { return g_level; }

static void vlog(const char *prefix, const char *fmt, va_list ap) {
  fputs(prefix, stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void log_info(const char *fmt, ...) {
  if (g_rank != 0 || g_level < LOG_NORMAL)
    return;
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

void log_debug(const char *fmt, ...) {
  if (g_rank != 0 || g_level < LOG_VERBOSE)
    return;
  va_list ap;
  va_start(ap, fmt);
  vlog("debug: ", fmt, ap);
  va_end(ap);
}

void log_warn(const char *fmt, ...) {
  if (g_rank != 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vlog("warning: ", fmt, ap);
  va_end(ap);
}

void log_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog("error: ", fmt, ap);
  va_end(ap);
}

double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void format_duration(char *out, size_t n, double s) {
  if (s < 0)
    s = 0;
  if (s >= 3600)
    snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
  else if (s >= 60)
    snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else
    snprintf(out, n, "%.1fs", s);
}

void progress_start(progress *p, const char *label, long total) {
  memset(p, 0, sizeof *p);
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total = total;
  p->t_start = p->t_last_print = now_seconds();
  p->active = g_rank == 0 && g_level >= LOG_NORMAL;
  p->tty = isatty(STDERR_FILENO);
}

/* Plain lines every 10 s keep batch logs short; a terminal redraws at most 10 times a second. */
static void progress_print(progress *p, int final) {
  double t = now_seconds(), elapsed = t - p->t_start;
  double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
  char eta[32] = "?", took[32];
  if (rate > 0 && p->total > 0)
    format_duration(eta, sizeof eta, (double)(p->total - p->done) / rate);
  format_duration(took, sizeof took, elapsed);
  double frac = p->total > 0 ? (double)p->done / (double)p->total : 1.0;
  char speed[32]; /* slow work (minutes per item) reads better as seconds per item */
  if (rate >= 1 || rate <= 0)
    snprintf(speed, sizeof speed, "%.1f/s", rate);
  else
    snprintf(speed, sizeof speed, "%.1f s each", 1 / rate);
  if (p->tty) {
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%s [%s] %ld/%ld %s %s %s%s", p->label, bar, p->done, p->total, speed,
            final ? "in" : "eta", final ? took : eta, final ? "\n" : "");
  } else if (final) {
    fprintf(stderr, "%s: %ld/%ld done in %s (%s)\n", p->label, p->done, p->total, took, speed);
  } else {
    fprintf(stderr, "%s: %ld/%ld (%.0f%%) %s eta %s\n", p->label, p->done, p->total, 100 * frac,
            speed, eta);
  }
  fflush(stderr);
  p->t_last_print = t;
}

void progress_update(progress *p, long done) {
  p->done = done;
  if (!p->active)
    return;
  double interval = p->tty ? 0.1 : 10.0;
  if (now_seconds() - p->t_last_print >= interval)
    progress_print(p, 0);
}

void progress_finish(progress *p) {
  p->done = p->total; /* parallel loops may not have reported their last items */
  if (p->active)
    progress_print(p, 1);
  p->active = 0;
}
