/* Replacing a generic OpenBLAS core type (see blas_select.h). How OpenBLAS 0.3.21 gets there,
 * driver/others/dynamic.c: get_coretype() knows Intel family 6 models by their extended model
 * 0-10; any other (Raptor Lake 0xB7, Emerald Rapids 0xCF, ...) falls out of that switch into the
 * family 0xF (Pentium 4) case and returns Prescott, SSE3 kernels, whatever the CPU can run.
 *
 * The switch uses OpenBLAS's own entry points: gotoblas_dynamic_quit() sets the `gotoblas`
 * table pointer to NULL and gotoblas_dynamic_init() picks the table again, reading
 * OPENBLAS_CORETYPE first, and runs its init() (block sizes). Every BLAS call reads that pointer
 * when it starts and the work buffers are sized for the largest core of the build (BUFFER_SIZE
 * is one constant), so this is safe while no BLAS call runs. Both are weak: a BLAS without them
 * (not DYNAMIC_ARCH) still links, and then nothing is switched. The variable is set for that one
 * call and restored, so child processes see the environment the user gave. */
#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blas_select.h"
#include "log.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));

static const char *const ENV = "OPENBLAS_CORETYPE";

void blas_cpu_detect(blas_cpu *cpu) {
  memset(cpu, 0, sizeof *cpu);
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, NULL) < 7 || !__get_cpuid(1, &a, &b, &c, &d))
    return;
  const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx)
    return; /* XGETBV would fault without OSXSAVE; no AVX state means no AVX2 either */
  uint32_t xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const uint64_t xcr0 = ((uint64_t)xcr0_hi << 32) | xcr0_lo;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return;
  const int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
  cpu->avx2 = ymm && fma && ((b >> 5) & 1);
  const unsigned f_dq_bw_vl = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
  cpu->avx512 = cpu->avx2 && zmm && (b & f_dq_bw_vl) == f_dq_bw_vl;
#endif
}

int blas_cpu_avx512(void) {
  static int known = -1; /* a benign race: every thread computes the same value */
  if (known < 0) {
    blas_cpu cpu;
    blas_cpu_detect(&cpu);
    known = cpu.avx512;
  }
  return known;
}

/* Core types whose SGEMM kernels lack AVX2 + FMA (driver/others/dynamic.c corename[], plus the
 * name of a TARGET=GENERIC build). The AMD Bulldozer family is left out: tuned for its own CPUs. */
static const char *const GENERIC[] = {
    "Unknown",   "Katmai", "Coppermine", "Northwood",   "Prescott", "Banias",  "Atom",
    "Core2",     "Penryn", "Dunnington", "Nehalem",     "Athlon",   "Opteron", "Opteron_SSE3",
    "Barcelona", "Nano",   "Bobcat",     "Sandybridge", "Generic",
};

int blas_core_generic(const char *core) {
  if (!core)
    return 1;
  for (size_t i = 0; i < sizeof GENERIC / sizeof *GENERIC; i++)
    if (strcasecmp(core, GENERIC[i]) == 0)
      return 1;
  return 0;
}

const char *blas_core_choose(const blas_cpu *cpu, const char *current, const char *env) {
  if (env || !cpu->avx2 || !blas_core_generic(current))
    return NULL;
  /* SkylakeX, not Cooperlake: the same SGEMM kernels (Cooperlake adds bf16 ones), and 0.3.21's
   * OPENBLAS_CORETYPE parser stops one entry short of Cooperlake. */
  return cpu->avx512 ? "SkylakeX" : "Haswell";
}

static blas_selection selection;

static void copy_name(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src ? src : "Unknown");
}

int blas_switch_core(const char *target) {
  if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit)
    return -1;
  const char *old = getenv(ENV);
  char saved[64];
  if (old && snprintf(saved, sizeof saved, "%s", old) >= (int)sizeof saved)
    return -1;
  if (setenv(ENV, target, 1) != 0)
    return -1;
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if ((old ? setenv(ENV, saved, 1) : unsetenv(ENV)) != 0)
    log_warn("could not restore %s after choosing the BLAS core type", ENV);
  return 0;
}

static void select_once(void) {
  blas_selection *s = &selection;
  blas_cpu_detect(&s->cpu);
  copy_name(s->detected, sizeof s->detected, openblas_get_corename());
  const char *env = getenv(ENV);
  const int dynamic = gotoblas_dynamic_init && gotoblas_dynamic_quit;
  if (env)
    copy_name(s->env, sizeof s->env, env);
  s->source = env ? BLAS_CORE_ENV : dynamic ? BLAS_CORE_AUTODETECTED : BLAS_CORE_BUILT_IN;
  const char *target = dynamic ? blas_core_choose(&s->cpu, s->detected, env) : NULL;
  if (target) {
    s->source = BLAS_CORE_CHOSEN;
    s->failed = blas_switch_core(target) != 0 || blas_core_generic(openblas_get_corename());
    if (s->failed)
      log_warn("OpenBLAS did not switch from core type %s to %s: GEMMs run on generic kernels",
               s->detected, target);
    else
      log_debug("OpenBLAS core type %s chosen from CPUID (OpenBLAS autodetected %s)",
                openblas_get_corename(), s->detected);
  }
  copy_name(s->core, sizeof s->core, openblas_get_corename());
}

const blas_selection *blas_select(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  if (pthread_once(&once, select_once) != 0)
    log_warn("pthread_once failed: OpenBLAS keeps core type %s", openblas_get_corename());
  return &selection;
}

const char *blas_cpu_level(const blas_cpu *cpu) {
  return cpu->avx512 ? "AVX-512" : cpu->avx2 ? "AVX2" : "no AVX2";
}

void blas_describe(char *text, size_t n, const blas_selection *s) {
  const char *level = blas_cpu_level(&s->cpu);
  switch (s->source) {
  case BLAS_CORE_CHOSEN:
    if (s->failed)
      snprintf(text, n, "%s: ancd's switch from OpenBLAS's pick %s failed (CPU: %s)", s->core,
               s->detected, level);
    else
      snprintf(text, n, "%s, chosen by ancd from CPUID (OpenBLAS autodetected %s; CPU: %s)",
               s->core, s->detected, level);
    break;
  case BLAS_CORE_ENV:
    snprintf(text, n, "%s, set by OPENBLAS_CORETYPE=%s (CPU: %s)", s->core, s->env, level);
    break;
  case BLAS_CORE_BUILT_IN:
    snprintf(text, n, "%s, built in (not a DYNAMIC_ARCH OpenBLAS; CPU: %s)", s->core, level);
    break;
  default:
    snprintf(text, n, "%s, autodetected by OpenBLAS (CPU: %s)", s->core, level);
  }
}
