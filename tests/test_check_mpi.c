/* CHECK_MPI (mpi/check/check_mpi.h) under the error policy world_init sets: an invalid MPI call,
 * ours or io/'s, ends the process with a nonzero status and a message naming the call and its
 * file:line. A failure ends the process, so each case runs as a child (this program with the
 * case's name); the parent never starts MPI. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "h5store.h"
#include "test_util.h"
#include "world.h"

/* Count -1: MPI_ERR_COUNT from the argument checks. */
static void bad_bcast(MPI_Comm comm) {
  int x = 0;
  CHECK_MPI(MPI_Bcast(&x, -1, MPI_INT, 0, comm));
}
static const int bad_bcast_line = __LINE__ - 2; /* the CHECK_MPI line */

static int run_child(const char *which) {
  world w;
  int argc = 0;
  char **argv = NULL;
  if (world_init(&w, &argc, &argv) != 0)
    return 3;
  if (!strcmp(which, "self"))
    bad_bcast(MPI_COMM_SELF);
  else if (!strcmp(which, "world"))
    bad_bcast(MPI_COMM_WORLD);
  else if (!strcmp(which, "io"))
    h5s_agree(MPI_COMM_NULL, 0); /* io/'s calls are checked too */
  world_finalize(&w);
  return 0; /* not reached when CHECK_MPI fires: the parent sees status 0 and fails */
}

/* Runs this program as `self which`; stdout+stderr into out, the exit status as returned. */
static int run(char *out, size_t n, const char *self, const char *which) {
  char cmd[4200];
  PATHF(cmd, "'%s' %s 2>&1", self, which);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  size_t len = fread(out, 1, n - 1, p);
  out[len] = '\0';
  int status = pclose(p);
  return status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void check_case(const char *self, const char *which, const char *call, const char *where) {
  char out[16384];
  int status = run(out, sizeof out, self, which);
  CHECK(status > 0, "%s: exit status %d, expected a failure", which, status);
  CHECK(strstr(out, "ancd: fatal: MPI call ") != NULL, "%s: no fatal message in:\n%s", which, out);
  CHECK(strstr(out, call) != NULL, "%s: the call '%s' not named in:\n%s", which, call, out);
  CHECK(strstr(out, where) != NULL, "%s: '%s' not named in:\n%s", which, where, out);
}

int main(int argc, char **argv) {
  if (argc == 2)
    return run_child(argv[1]);
  const char *file = strrchr(__FILE__, '/'); /* __FILE__ may carry a directory */
  char where[256];
  PATHF(where, "%s:%d)", file ? file + 1 : __FILE__, bad_bcast_line);
  check_case(argv[0], "self", "MPI_Bcast(&x, -1, MPI_INT, 0, comm)", where);
  check_case(argv[0], "world", "MPI_Bcast(&x, -1, MPI_INT, 0, comm)", where);
  check_case(argv[0], "io", "MPI_Comm_rank(comm, &rank)", "h5store.c:");
  return test_done("test_check_mpi");
}
