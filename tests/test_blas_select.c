/* The OpenBLAS core-type choice (issue 8): the rule on fabricated CPUs and core names; the issue's
 * case replayed on this CPU (OpenBLAS starting on Prescott); the switch itself (to a generic core
 * and back, results checked against a plain loop); and with AVX2 the kernels in use after
 * ops_cpu() are not generic. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blas_select.h"
#include "ops.h"
#include "test_util.h"

static const char *str(const char *s) { return s ? s : "(keep)"; }
static int same(const char *a, const char *b) { return a && b ? strcmp(a, b) == 0 : a == b; }

#define CHOOSE(cpu, current, env, want)                                                            \
  do {                                                                                             \
    const char *got_ = blas_core_choose(&(cpu), (current), (env)), *want_ = (want);                \
    CHECK(same(got_, want_), "%s on %s, env %s: got %s, want %s", str(current),                    \
          blas_cpu_level(&(cpu)), str(env), str(got_), str(want_));                                \
  } while (0)

static void test_rule(void) {
  const blas_cpu sse = {0, 0}, avx2 = {1, 0}, avx512 = {1, 1};
  const char *keep = NULL;
  /* The case, any spelling OpenBLAS accepts. */
  CHOOSE(avx512, "Prescott", keep, "SkylakeX");
  CHOOSE(avx512, "PRESCOTT", keep, "SkylakeX");
  CHOOSE(avx512, "Nehalem", keep, "SkylakeX");
  CHOOSE(avx512, "Sandybridge", keep, "SkylakeX");
  CHOOSE(avx2, "Prescott", keep, "Haswell");
  CHOOSE(avx2, "Core2", keep, "Haswell");
  CHOOSE(avx2, "Generic", keep, "Haswell");
  CHOOSE(avx2, NULL, keep, "Haswell");
  /* Tuned picks stay, including ones below the CPU and names the list does not know. */
  CHOOSE(avx2, "Haswell", keep, keep);
  CHOOSE(avx2, "Zen", keep, keep);
  CHOOSE(avx2, "Excavator", keep, keep);
  CHOOSE(avx512, "Haswell", keep, keep);
  CHOOSE(avx512, "SkylakeX", keep, keep);
  CHOOSE(avx512, "Cooperlake", keep, keep);
  CHOOSE(avx512, "SapphireRapids", keep, keep);
  /* Whatever OPENBLAS_CORETYPE says is respected, even empty or generic. */
  CHOOSE(avx512, "Prescott", "Prescott", keep);
  CHOOSE(avx512, "Prescott", "", keep);
  CHOOSE(avx2, "Nehalem", "nehalem", keep);
  /* Without AVX2 nothing is replaced: OpenBLAS's fallbacks are right there. */
  CHOOSE(sse, "Prescott", keep, keep);
  CHOOSE(sse, "Nehalem", keep, keep);

  CHECK(blas_core_generic("Prescott") && blas_core_generic("atom") && blas_core_generic(NULL),
        "generic");
  CHECK(!blas_core_generic("Haswell") && !blas_core_generic("skylakex") &&
            !blas_core_generic("Zen") && !blas_core_generic("Piledriver"),
        "tuned");
  CHECK(strcmp(blas_cpu_level(&avx512), "AVX-512") == 0 &&
            strcmp(blas_cpu_level(&avx2), "AVX2") == 0,
        "levels");
}

static void test_describe(void) {
  blas_selection s = {.cpu = {1, 1}, .source = BLAS_CORE_CHOSEN};
  snprintf(s.core, sizeof s.core, "SkylakeX");
  snprintf(s.detected, sizeof s.detected, "Prescott");
  char text[256];
  blas_describe(text, sizeof text, &s);
  CHECK(strcmp(text, "SkylakeX, chosen by ancd from CPUID (OpenBLAS autodetected Prescott; CPU: "
                     "AVX-512)") == 0,
        "%s", text);
  s.source = BLAS_CORE_ENV;
  snprintf(s.env, sizeof s.env, "skylakex");
  blas_describe(text, sizeof text, &s);
  CHECK(strstr(text, "set by OPENBLAS_CORETYPE=skylakex") != NULL, "%s", text);
  s.source = BLAS_CORE_AUTODETECTED;
  blas_describe(text, sizeof text, &s);
  CHECK(strstr(text, "autodetected by OpenBLAS") != NULL, "%s", text);
}

/* blas_cpu_detect agrees with the compiler's own CPU test (which also reads XCR0). */
static void test_detect(void) {
  blas_cpu cpu;
  blas_cpu_detect(&cpu);
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const int avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512vl");
  CHECK(cpu.avx2 == avx2, "avx2 %d, compiler says %d", cpu.avx2, avx2);
  CHECK(cpu.avx512 == avx512, "avx512 %d, compiler says %d", cpu.avx512, avx512);
#endif
  printf("this CPU: %s\n", blas_cpu_level(&cpu));
}

/* Max |C - A.B^T| of one sgemm against a double loop, relative to the largest |C|. */
static double sgemm_error(int M, int N, int K) {
  float *A = malloc((size_t)M * K * sizeof *A), *B = malloc((size_t)N * K * sizeof *B);
  float *C = malloc((size_t)M * N * sizeof *C);
  if (!A || !B || !C) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (int i = 0; i < M * K; i++)
    A[i] = (float)((i * 7 % 13) - 6) / 8.0f;
  for (int i = 0; i < N * K; i++)
    B[i] = (float)((i * 5 % 11) - 5) / 4.0f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
  double err = 0, big = 1e-30;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double ref = 0;
      for (int k = 0; k < K; k++)
        ref += (double)A[(size_t)i * K + k] * B[(size_t)j * K + k];
      err = fmax(err, fabs(C[(size_t)i * N + j] - ref));
      big = fmax(big, fabs(ref));
    }
  free(A);
  free(B);
  free(C);
  return err / big;
}

/* The path a CPU that OpenBLAS does not know takes: to a generic core, a GEMM, back again. */
static void test_switch(const blas_selection *sel) {
  char in_use[32];
  snprintf(in_use, sizeof in_use, "%s", openblas_get_corename());
  const char *env_before = getenv("OPENBLAS_CORETYPE");
  if (blas_switch_core("Prescott") != 0) {
    printf("switch: this OpenBLAS cannot switch core types (not DYNAMIC_ARCH)\n");
    return;
  }
  CHECK(strcasecmp(openblas_get_corename(), "Prescott") == 0, "now %s", openblas_get_corename());
  CHECK(getenv("OPENBLAS_CORETYPE") == env_before, "the environment is restored");
  double err = sgemm_error(67, 45, 300);
  CHECK(err < 1e-5, "sgemm on Prescott: relative error %.3g", err);
  CHECK(blas_switch_core(in_use) == 0, "back to %s", in_use);
  CHECK(strcasecmp(openblas_get_corename(), in_use) == 0, "now %s, want %s",
        openblas_get_corename(), in_use);
  CHECK(strcmp(sel->core, openblas_get_corename()) == 0, "selection %s, in use %s", sel->core,
        openblas_get_corename());
}

/* The machine: OpenBLAS autodetected a generic core (simulated by switching to it before
 * the backend starts); ops_cpu() must replace it. Runs in a child: the choice is made once. */
static void test_unknown_cpu(void) {
  blas_cpu cpu;
  blas_cpu_detect(&cpu);
  if (!cpu.avx2 || getenv("OPENBLAS_CORETYPE")) {
    printf("unknown-CPU case: needs AVX2 and OPENBLAS_CORETYPE unset\n");
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    if (blas_switch_core("Prescott") != 0) {
      printf("unknown-CPU case: this OpenBLAS cannot switch core types\n");
      _exit(0);
    }
    (void)ops_cpu();
    const blas_selection *sel = blas_select();
    char text[256];
    blas_describe(text, sizeof text, sel);
    printf("unknown-CPU case: core type %s\n", text);
    const char *want = cpu.avx512 ? "SkylakeX" : "Haswell";
    CHECK(sel->source == BLAS_CORE_CHOSEN && !sel->failed, "%s", text);
    CHECK(strcmp(sel->detected, "Prescott") == 0, "detected %s", sel->detected);
    CHECK(strcasecmp(openblas_get_corename(), want) == 0, "in use %s, want %s",
          openblas_get_corename(), want);
    double err = sgemm_error(67, 45, 300);
    CHECK(err < 1e-5, "sgemm on %s: relative error %.3g", sel->core, err);
    fflush(stdout);
    _exit(test_failures ? 1 : 0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the unknown-CPU case failed (status %d)",
        status);
}

int main(void) {
  test_rule();
  test_describe();
  test_detect();
  test_unknown_cpu();

  (void)ops_cpu(); /* the CPU backend makes the choice before its first GEMM */
  const blas_selection *sel = blas_select();
  char text[256];
  blas_describe(text, sizeof text, sel);
  printf("core type %s\n", text);
  CHECK(strcmp(sel->core, openblas_get_corename()) == 0, "recorded %s, in use %s", sel->core,
        openblas_get_corename());
  CHECK(!sel->failed, "the switch failed: %s", text);
  if (sel->source == BLAS_CORE_ENV)
    printf("OPENBLAS_CORETYPE is set: the kernel check below is the user's choice, not ancd's\n");
  else if (sel->cpu.avx2)
    CHECK(!blas_core_generic(openblas_get_corename()), "generic kernels %s on a CPU with %s (%s)",
          openblas_get_corename(), blas_cpu_level(&sel->cpu), text);
  double err = sgemm_error(67, 45, 300);
  CHECK(err < 1e-5, "sgemm on %s: relative error %.3g", sel->core, err);
  test_switch(sel);
  return test_done("test_blas_select");
}
