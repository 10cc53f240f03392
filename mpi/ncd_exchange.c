/* Data-parallel exchanges of a training step (ncd_exchange.h). */
#include "ncd_exchange.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "world.h"

void ncd_exchange_init(ncd_exchange *x, MPI_Comm comm, const ops *o) {
  memset(x, 0, sizeof *x);
  x->comm = comm;
  x->o = o;
  CHECK_MPI(MPI_Comm_rank(comm, &x->rank));
  CHECK_MPI(MPI_Comm_size(comm, &x->size));
  x->first = xcalloc((size_t)x->size, sizeof *x->first);
  x->count = xcalloc((size_t)x->size, sizeof *x->count);
  x->rcounts = xcalloc((size_t)x->size, sizeof *x->rcounts);
  x->rdispls = xcalloc((size_t)x->size, sizeof *x->rdispls);
}

void ncd_exchange_free(ncd_exchange *x) {
  free(x->first);
  free(x->count);
  free(x->rcounts);
  free(x->rdispls);
  free(x->rows);
  free(x->host);
  memset(x, 0, sizeof *x);
}

static float *grow(float **buf, size_t *cap, size_t n) {
  if (n > *cap) {
    *buf = xrealloc(*buf, n * sizeof **buf);
    *cap = n;
  }
  return *buf;
}

/* Every rank's own rows (its view-1 block, then its view-2 block) gathered in rank order, then
 * placed at the global rows of their samples. */
static int gather_rows(float *global, const float *own, int width, int B, void *ctx) {
  ncd_exchange *x = ctx;
  long total = 0;
  for (int r = 0; r < x->size; r++) {
    long n = 2L * x->count[r] * width;
    if (total + n > INT_MAX)
      return ancd_errorf("all-gather of %ld floats exceeds MPI's int counts", total + n);
    x->rcounts[r] = (int)n;
    x->rdispls[r] = (int)total;
    total += n;
  }
  float *rows = grow(&x->rows, &x->rows_n, (size_t)total + 1);
  static float none;
  CHECK_MPI(MPI_Allgatherv(x->rcounts[x->rank] ? own : &none, x->rcounts[x->rank], MPI_FLOAT, rows,
                           x->rcounts, x->rdispls, MPI_FLOAT, x->comm));
  const size_t row = (size_t)width * sizeof(float);
  for (int r = 0; r < x->size; r++) {
    const float *src = rows + x->rdispls[r];
    const int c = x->count[r], f = x->first[r];
    memcpy(global + (size_t)f * width, src, (size_t)c * row);
    memcpy(global + (size_t)(B + f) * width, src + (size_t)c * width, (size_t)c * row);
  }
  return 0;
}

/* One MPI_Allreduce (per INT_MAX floats) over the contiguous gradient buffer: every rank gets the
 * same sums (tests/mpi_train compares a hash of the parameters across ranks after every step). */
static int sum_grads(float *grads, size_t n, void *ctx) {
  ncd_exchange *x = ctx;
  const int on_host = !strcmp(x->o->name, "cpu");
  float *buf = on_host ? grads : grow(&x->host, &x->host_n, n);
  if (!on_host)
    x->o->to_host(buf, grads, n * sizeof(float));
  for (size_t at = 0; at < n; at += INT_MAX) {
    int len = n - at > INT_MAX ? INT_MAX : (int)(n - at);
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, buf + at, len, MPI_FLOAT, MPI_SUM, x->comm));
  }
  if (!on_host)
    x->o->to_device(grads, buf, n * sizeof(float));
  return 0;
}

void ncd_exchange_shard(ncd_shard *s, ncd_exchange *x, int B) {
  for (int r = 0; r < x->size; r++) {
    long b, e;
    partition_range(B, x->size, r, &b, &e);
    x->first[r] = (int)b;
    x->count[r] = (int)(e - b);
  }
  *s = (ncd_shard){.first = x->first[x->rank],
                   .count = x->count[x->rank],
                   .gather_rows = gather_rows,
                   .sum_grads = sum_grads,
                   .ctx = x};
}
