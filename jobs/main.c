/* ancd: anomaly detection and novel anomaly class discovery. Dispatches to one job. */
#include <stdio.h>
#include <string.h>

#include "blas_select.h"
#include "cli.h"
#include "error.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv); /* NULL: not implemented yet */
  const char *summary;
} job_entry;

static const job_entry jobs[] = {
    {"detect", job_detect, "anomaly maps and scores per image (MuSc, HETMM, or imported maps)"},
    {"regions", job_regions, "MEBin binarization and anomaly-centred crops into regions.h5"},
    {"base", job_base, "a labeled base set (ground-truth crops, one class per defect type)"},
    {"train", job_train, "train the mask-guided ViT (MGViT) on the regions, data-parallel"},
    {"classify", job_classify, "predict anomaly classes, merge regions, clustering metrics"},
    {"predict", job_predict, "map, OK/NG and discovered class of new images of a trained category"},
    {"run", job_run, "every stage over every category of a config, resumable"},
    {"report", job_report, "gather per-category results into tables.md / tables.csv"},
    {"sweep", job_sweep, "expand a sweep file into its points (one Slurm array task each)"},
    {"collect", job_collect, "gather a sweep's points into sweep.md / sweep.csv, best per metric"},
    {"synth", job_synth, "write the built-in synthetic dataset (MVTec layout)"},
    {"bench", job_bench, "kernel and stage benchmarks against this machine's GEMM peak"},
    {"info", job_info, "backends, devices, MPI world, libraries, dataset summary"},
    {"config", job_config, "print the resolved config (or --doc: the key reference)"},
};
static const int n_jobs = sizeof jobs / sizeof jobs[0];

static void usage(FILE *f) {
  fprintf(f, "usage: ancd <job> [-c CONFIG.yaml] [--set key.path=value ...] [-o DIR] [options]\n"
             "       ancd <job> --help\n\njobs:\n");
  for (int i = 0; i < n_jobs; i++)
    fprintf(f, "  %-9s %s%s\n", jobs[i].name, jobs[i].summary,
            jobs[i].run ? "" : " (not implemented yet)");
  fprintf(f, "\nexit codes: 0 ok, 1 input or data error, 2 usage error\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return ANCD_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return ANCD_EXIT_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("ancd %s\n", ANCD_VERSION);
    return ANCD_EXIT_OK;
  }
  /* The BLAS kernel choice touches the environment: do it while this is the only thread, before
   * MPI_Init and any OpenMP team (ops_cpu() would otherwise do it on first use). */
  blas_select();
  for (int i = 0; i < n_jobs; i++) {
    if (strcmp(argv[1], jobs[i].name))
      continue;
    if (!jobs[i].run) {
      fprintf(stderr, "ancd %s: not implemented yet\n", jobs[i].name);
      return ANCD_EXIT_USAGE;
    }
    return jobs[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "ancd: unknown job '%s' (run 'ancd --help' for the list)\n", argv[1]);
  return ANCD_EXIT_USAGE;
}
