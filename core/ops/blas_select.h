/* Which OpenBLAS kernel set ("core type") runs the GEMMs (issue 8). A DYNAMIC_ARCH OpenBLAS
 * picks one from the CPU model before main; a release older than the CPU can fall back to generic
 * SSE kernels (Debian 12's 0.3.21 ran Prescott on an AVX-512 Xeon: GEMMs 4-8x slower).
 * blas_select() checks that pick against what CPUID and XGETBV say the CPU and OS can run and
 * replaces a generic one; a core type set in OPENBLAS_CORETYPE is always left as it is. */
#ifndef ANCD_BLAS_SELECT_H
#define ANCD_BLAS_SELECT_H

#include <stddef.h>

/* What the CPU can run, counting only instruction sets whose registers the OS saves. */
typedef struct {
  int avx2;   /* AVX2 and FMA, with YMM state enabled (XCR0 bits 1-2) */
  int avx512; /* AVX-512 F, DQ, BW and VL, with opmask and ZMM state enabled (XCR0 bits 5-7) */
} blas_cpu;

typedef enum {
  BLAS_CORE_AUTODETECTED, /* OpenBLAS's own pick, kept */
  BLAS_CORE_ENV,          /* OPENBLAS_CORETYPE was set: never overridden */
  BLAS_CORE_CHOSEN,       /* OpenBLAS's pick was generic; ancd chose one from CPUID */
  BLAS_CORE_BUILT_IN,     /* not a DYNAMIC_ARCH OpenBLAS: one kernel set, nothing to choose */
} blas_core_source;

typedef struct {
  blas_cpu cpu;
  blas_core_source source;
  int failed;        /* a switch was needed but OpenBLAS did not take it */
  char core[32];     /* the core type in use */
  char detected[32]; /* OpenBLAS's own pick (differs from core only when ancd chose) */
  char env[32];      /* OPENBLAS_CORETYPE as set (BLAS_CORE_ENV) */
} blas_selection;

/* CPUID and XGETBV of this CPU (all zero off x86-64). */
void blas_cpu_detect(blas_cpu *cpu);
/* blas_cpu_detect's avx512, computed once: the hand-written AVX-512 kernels (msm_fused.c,
 * attention_avx512.c) ask it on their hot paths. */
int blas_cpu_avx512(void);
/* 1 for a core type whose GEMM kernels predate AVX2 and FMA (Prescott, Nehalem, Sandybridge, ...,
 * a generic build); 0 for the tuned ones and for names this list does not know. */
int blas_core_generic(const char *core);
/* The core type to switch to, or NULL to keep current: only a generic one is replaced, only on a
 * CPU with AVX2, and never when env (OPENBLAS_CORETYPE, NULL when unset) is set. */
const char *blas_core_choose(const blas_cpu *cpu, const char *current, const char *env);
/* Makes OpenBLAS re-pick its core type with OPENBLAS_CORETYPE=target for that moment only (the
 * variable is restored); -1 when this OpenBLAS cannot (not DYNAMIC_ARCH) or setenv failed. Only
 * before or between BLAS calls, never during one. blas_select() uses it; tests check it. */
int blas_switch_core(const char *target);
/* Runs the choice once (thread-safe; call before any BLAS call) and returns what it did. */
const blas_selection *blas_select(void);
/* One line for ancd info: "SkylakeX, chosen by ancd from CPUID (OpenBLAS autodetected ...)". */
void blas_describe(char *text, size_t n, const blas_selection *s);
/* "AVX-512", "AVX2" or "no AVX2". */
const char *blas_cpu_level(const blas_cpu *cpu);

#endif
