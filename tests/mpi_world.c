/* The world (mpi/world.c) on 2 and 3 ranks: the split into groups, a second split freeing the
 * first one's groups (an attribute's delete callback counts the frees), and the MPI error policy
 * (check_mpi.h) on every communicator. */
#include "error.h"
#include "test_util.h"
#include "world.h"

static int frees = 0;

static int count_free(MPI_Comm comm, int key, void *value, void *extra) {
  (void)comm, (void)key, (void)value, (void)extra;
  frees++;
  return MPI_SUCCESS;
}

static int returns_errors(MPI_Comm comm) {
  MPI_Errhandler h;
  CHECK_MPI(MPI_Comm_get_errhandler(comm, &h));
  int yes = h == MPI_ERRORS_RETURN;
  CHECK_MPI(MPI_Errhandler_free(&h));
  return yes;
}

/* The groups of group_size ranks as world_split must make them, checked on this rank; marks a
 * group communicator with key so that its freeing is counted. */
static void check_split(const world *w, int group_size, int key) {
  int g = group_size <= 0 || group_size >= w->size ? w->size : group_size;
  int group = w->rank / g, first = group * g;
  int members = w->size - first < g ? w->size - first : g;
  CHECK(w->n_groups == (w->size + g - 1) / g, "size %d, groups of %d: %d groups", w->size, g,
        w->n_groups);
  CHECK(w->group == group && w->group_rank == w->rank - first && w->group_size == members,
        "rank %d, groups of %d: group %d rank %d of %d", w->rank, g, w->group, w->group_rank,
        w->group_size);
  CHECK((w->group_comm == MPI_COMM_WORLD) == (w->n_groups == 1), "one group is the world");
  CHECK(returns_errors(w->group_comm), "groups of %d: not MPI_ERRORS_RETURN", g);
  int one = 1, sum = 0;
  CHECK_MPI(MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, w->group_comm));
  CHECK(sum == members, "groups of %d: %d ranks answered, %d expected", g, sum, members);
  if (w->group_comm != MPI_COMM_WORLD)
    CHECK_MPI(MPI_Comm_set_attr(w->group_comm, key, NULL));
}

int main(int argc, char **argv) {
  world w;
  CHECK(world_init(&w, &argc, &argv) == 0, "world_init: %s", ancd_error());
  CHECK(returns_errors(MPI_COMM_WORLD) && returns_errors(MPI_COMM_SELF),
        "world and self: not MPI_ERRORS_RETURN");
  int key;
  CHECK_MPI(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, count_free, &key, NULL));

  /* Re-splitting (run chains stages) frees the previous split's communicator, if any. */
  const int sizes[] = {1, 2, 0, 1, 1, 0};
  int expected = 0, split = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    world_split(&w, sizes[i]);
    expected += split;
    CHECK(frees == expected, "split %zu (groups of %d): %d communicators freed, %d expected", i,
          sizes[i], frees, expected);
    check_split(&w, sizes[i], key);
    split = w.group_comm != MPI_COMM_WORLD;
  }
  world_split(&w, 1);
  check_split(&w, 1, key);
  expected += 1;
  CHECK_MPI(MPI_Comm_free_keyval(&key));
  world_finalize(&w); /* frees the last groups */
  CHECK(frees == expected, "world_finalize: %d communicators freed, %d expected", frees, expected);
  return test_done("mpi_world");
}
