/* core/pyrandom against CPython: the expected values were printed by
 * tests/golden/gen_pyrandom_golden.py (CPython 3.11) and are hardcoded here. */
#include <stdint.h>
#include <string.h>

#include "pyrandom.h"
#include "test_util.h"

static int same_ints(const int *a, const int *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i] != b[i])
      return 0;
  return 1;
}

static void print_ints(const char *what, const int *a, int n) {
  fprintf(stderr, "%s:", what);
  for (int i = 0; i < n; i++)
    fprintf(stderr, " %d", a[i]);
  fputc('\n', stderr);
}

/* random.seed(42), then shuffles of range(5), range(17), range(100) in turn. */
static void test_shuffles(void) {
  static const int want5[5] = {3, 1, 2, 4, 0};
  static const int want17[17] = {3, 5, 14, 4, 9, 13, 15, 0, 6, 12, 8, 10, 1, 11, 2, 16, 7};
  static const int want100[100] = {
      9,  88, 98, 74, 66, 16, 72, 76, 3,  79, 90, 21, 30, 96, 32, 47, 67, 31, 92, 59,
      97, 2,  64, 77, 36, 82, 7,  1,  84, 50, 26, 87, 56, 81, 93, 51, 39, 70, 34, 94,
      38, 4,  41, 52, 62, 80, 22, 60, 99, 23, 40, 29, 17, 65, 6,  55, 61, 86, 63, 18,
      49, 14, 42, 73, 8,  24, 46, 37, 10, 78, 15, 68, 58, 5,  33, 44, 45, 12, 48, 11,
      13, 85, 27, 19, 95, 43, 54, 20, 0,  35, 75, 57, 28, 53, 69, 89, 83, 91, 25, 71};
  const int *want[3] = {want5, want17, want100};
  const int sizes[3] = {5, 17, 100};
  pyrandom r;
  pyrandom_seed(&r, 42);
  for (int t = 0; t < 3; t++) {
    int x[100];
    for (int i = 0; i < sizes[t]; i++)
      x[i] = i;
    pyrandom_shuffle(&r, x, sizes[t]);
    int ok = same_ints(x, want[t], sizes[t]);
    CHECK(ok, "shuffle of range(%d) differs from CPython", sizes[t]);
    if (!ok)
      print_ints("got", x, sizes[t]);
  }
}

/* getrandbits for one-word seeds (42, 0) and a two-word seed (2^32 + 5). */
static void test_getrandbits(void) {
  pyrandom r;
  pyrandom_seed(&r, 42);
  const uint32_t want42[3] = {2746317213u, 478163327u, 107420369u};
  for (int i = 0; i < 3; i++) {
    uint32_t got = pyrandom_getrandbits(&r, 32);
    CHECK(got == want42[i], "seed 42 draw %d: %u, want %u", i, got, want42[i]);
  }
  uint32_t got7 = pyrandom_getrandbits(&r, 7);
  CHECK(got7 == 94, "seed 42 getrandbits(7): %u, want 94", got7);

  pyrandom_seed(&r, (1ull << 32) + 5);
  const uint32_t want_big[2] = {675479763u, 2085189291u};
  for (int i = 0; i < 2; i++) {
    uint32_t got = pyrandom_getrandbits(&r, 32);
    CHECK(got == want_big[i], "seed 2^32+5 draw %d: %u, want %u", i, got, want_big[i]);
  }
  pyrandom_seed(&r, 0);
  const uint32_t want0[2] = {3626764237u, 1654615998u};
  for (int i = 0; i < 2; i++) {
    uint32_t got = pyrandom_getrandbits(&r, 32);
    CHECK(got == want0[i], "seed 0 draw %d: %u, want %u", i, got, want0[i]);
  }
  /* randbelow stays below n, also for n = 1 and a power of two */
  pyrandom_seed(&r, 7);
  int bad = 0;
  for (int i = 0; i < 1000; i++)
    bad += pyrandom_randbelow(&r, 1) != 0 || pyrandom_randbelow(&r, 64) >= 64 ||
           pyrandom_randbelow(&r, 1000) >= 1000;
  CHECK(bad == 0, "%d draws of randbelow out of range", bad);
}

/* MuSc's sub_datasets: the members of each subset (sorted) as CPython gives them. */
static void check_divide(const char *name, const int *group, int n, int divide_num,
                         const int *const *want, const int *want_n) {
  int subset[64];
  pyrandom_divide(subset, group, n, divide_num, 42);
  for (int s = 0; s < divide_num; s++) {
    int got[64], m = 0;
    for (int i = 0; i < n; i++)
      if (subset[i] == s)
        got[m++] = i;
    int ok = m == want_n[s] && same_ints(got, want[s], m);
    CHECK(ok, "%s: subset %d differs from the reference", name, s);
    if (!ok)
      print_ints("got", got, m);
  }
}

static void test_divide(void) {
  /* 7 crack, 10 good, 5 hole: contiguous groups, divide_num 3 */
  int g1[22];
  for (int i = 0; i < 22; i++)
    g1[i] = i < 7 ? 0 : i < 17 ? 1 : 2;
  static const int s0[] = {1, 2, 5, 9, 11, 13, 14, 17, 21}, s1[] = {3, 6, 7, 15, 16, 18, 20},
                   s2[] = {0, 4, 8, 10, 12, 19};
  const int *want1[3] = {s0, s1, s2};
  const int n1[3] = {9, 7, 6};
  check_divide("3 types, divide 3", g1, 22, 3, want1, n1);

  /* "babbacabcab": interleaved groups numbered in first-appearance order b=0, a=1, c=2 */
  const char *types = "babbacabcab";
  int g2[11];
  for (int i = 0; i < 11; i++)
    g2[i] = types[i] == 'b' ? 0 : types[i] == 'a' ? 1 : 2;
  static const int t0[] = {0, 1, 3, 7, 8, 9}, t1[] = {2, 4, 5, 6, 10};
  const int *want2[2] = {t0, t1};
  const int n2[2] = {6, 5};
  check_divide("interleaved, divide 2", g2, 11, 2, want2, n2);

  /* divide_num 1: one subset of everything */
  int subset[11];
  memset(subset, 0xff, sizeof subset);
  pyrandom_divide(subset, g2, 11, 1, 42);
  int all_zero = 1;
  for (int i = 0; i < 11; i++)
    all_zero &= subset[i] == 0;
  CHECK(all_zero, "divide_num 1 must give one subset of every item");
}

int main(void) {
  test_shuffles();
  test_getrandbits();
  test_divide();
  return test_done("test_pyrandom");
}
