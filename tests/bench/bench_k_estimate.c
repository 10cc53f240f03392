/* K estimated from real features against the true number of defect types (not a test; issue
 * "train.n_novel: 0 estimates K"). Reads the features tests/bench/vit_features.py wrote:
 *   python3 tests/bench/vit_features.py --out build/k_features
 *   ./build/tests/bench_k_estimate build/k_features [k_min k_max seed]
 * Prints, per set and feature (CLS token, mean patch token), K by the eigengap and by the
 * silhouette over k_min..k_max (default 2..10) next to the true K, the seconds each took, and
 * mean |K_est - K| per method and feature. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "k_estimate.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *read_f32(const char *path, size_t count) {
  FILE *f = fopen(path, "rb");
  if (!f)
    ANCD_FATAL("cannot open %s", path);
  float *x = xmalloc(count * sizeof *x);
  if (fread(x, sizeof *x, count, f) != count)
    ANCD_FATAL("%s: fewer than %zu floats", path, count);
  fclose(f);
  return x;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 5) {
    fprintf(stderr, "usage: bench_k_estimate FEATURE_DIR [k_min k_max seed]\n");
    return ANCD_EXIT_USAGE;
  }
  const char *dir = argv[1];
  const int k_min = argc == 5 ? atoi(argv[2]) : 2, k_max = argc == 5 ? atoi(argv[3]) : 10;
  const uint64_t seed = argc == 5 ? strtoull(argv[4], NULL, 10) : 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.txt", dir);
  FILE *m = fopen(path, "r");
  if (!m)
    ANCD_FATAL("cannot open %s (run tests/bench/vit_features.py)", path);
  const char *methods[2] = {"eigengap", "silhouette"};
  const char *feats[2] = {"cls", "mean"};
  double err[2][2] = {{0}}; /* [feature][method] */
  int sets[2] = {0};
  char set[256], feat[16], file[256];
  int n, d, k_true;
  printf("k in [%d, %d], seed %llu\n", k_min, k_max, (unsigned long long)seed);
  printf("%-10s %-5s %5s %4s %7s %9s %10s %9s\n", "set", "feat", "n", "K", "eigengap", "(s)",
         "silhouette", "(s)");
  while (fscanf(m, "%255s %15s %d %d %d %255s", set, feat, &n, &d, &k_true, file) == 6) {
    snprintf(path, sizeof path, "%s/%s", dir, file);
    float *x = read_f32(path, (size_t)n * d);
    int k[2];
    double sec[2];
    for (int meth = 0; meth < 2; meth++) {
      const double t0 = now();
      if (k_estimate(&k[meth], x, n, d, k_min, k_max, (k_est_method)meth, seed))
        ANCD_FATAL("%s %s: %s", set, feat, ancd_error());
      sec[meth] = now() - t0;
    }
    printf("%-10s %-5s %5d %4d %7d %9.3f %10d %9.3f\n", set, feat, n, k_true, k[0], sec[0], k[1],
           sec[1]);
    const int fi = feat[0] == 'm';
    for (int meth = 0; meth < 2; meth++)
      err[fi][meth] += abs(k[meth] - k_true);
    sets[fi]++;
    free(x);
  }
  fclose(m);
  for (int fi = 0; fi < 2; fi++)
    for (int meth = 0; meth < 2; meth++)
      if (sets[fi])
        printf("mean |K_est - K|  %-4s %-10s %.3f over %d sets\n", feats[fi], methods[meth],
               err[fi][meth] / sets[fi], sets[fi]);
  return 0;
}
