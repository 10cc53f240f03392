/* ancd info: what this build and machine offer (backends, devices, MPI world, libraries) and,
 * with a config, the dataset summary after validating every file; with --weights, the ViT
 * (or WideResNet) architecture inferred from a safetensors checkpoint. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_select.h"
#include "category_loop.h"
#include "cli.h"
#include "dataset.h"
#include "device.h"
#include "error.h"
#include "log.h"
#include "versions.h"
#include "vit_load.h"
#include "world.h"
#include "wrn_load.h"

static void print_machine(const world *w) {
  char libs[512], gpu[256], blas[256], mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  io_library_versions(libs, sizeof libs);
  MPI_Get_library_version(mpi_version, &len);
  char *nl = strchr(mpi_version, ',');
  if (nl)
    *nl = 0; /* the first clause names the implementation and version */
  int n_gpu = device_cuda_count(gpu, sizeof gpu);
  const blas_selection *sel = blas_select(); /* what every CPU GEMM will run on */
  blas_describe(blas, sizeof blas, sel);
  printf("ancd %s\n", ANCD_VERSION);
  printf("backends:  cpu (%s, %d threads)%s\n", openblas_get_config(), openblas_get_num_threads(),
         device_cuda_built() ? ", cuda" : "");
  printf("blas:      core type %s\n", blas);
  if (sel->cpu.avx2 && blas_core_generic(sel->core)) {
    fflush(stdout); /* the warning goes to stderr: keep it under the line it is about */
    log_warn("OpenBLAS runs generic %s kernels on a CPU with %s: GEMMs are several times slower "
             "than they could be (%s)",
             sel->core, blas_cpu_level(&sel->cpu),
             sel->source == BLAS_CORE_ENV ? "unset OPENBLAS_CORETYPE to let ancd choose"
                                          : "install an OpenBLAS that knows this CPU");
  }
  if (n_gpu > 0)
    printf("cuda:      %s\n", gpu);
  else
    printf("cuda:      %s; the CPU backend is used\n", device_cuda_built() ? gpu : "not built");
  if (n_gpu > 1)
    printf("           %d GPUs\n", n_gpu);
  printf("mpi:       %d rank%s (%s)\n", w->size, w->size == 1 ? "" : "s", mpi_version);
  printf("libraries: %s\n", libs);
}

/* A torchvision ResNet file (HETMM's WideResNet, issue 14): its architecture. 1 when it is one. */
static int print_wrn_weights(const char *path, int *rc) {
  if (wrn_probe(path) != 1)
    return 0; /* a ViT, or unreadable: vit_load says why */
  wrn_checkpoint ck;
  *rc = wrn_load(&ck, path);
  if (*rc == 0) {
    char text[512];
    wrn_describe(text, sizeof text, &ck);
    printf("\nweights:   %s\n           %s (HETMM's backbone: detect.method hetmm)\n", path, text);
    wrn_checkpoint_free(&ck);
  } else {
    log_error("%s", ancd_error());
  }
  return 1;
}

/* Loads a checkpoint with the config's family and activation and prints its architecture. */
static int print_weights(const char *path, const cfg_backbone *b) {
  int rc = 0;
  if (print_wrn_weights(path, &rc))
    return rc;
  vit_checkpoint *ck = xmalloc(sizeof *ck);
  rc = vit_load(ck, path, b->family, b->activation);
  if (rc == 0) {
    char text[1024];
    vit_describe(text, sizeof text, ck);
    printf("\nweights:   %s\n           %s\n", path, text);
  } else {
    log_error("%s", ancd_error());
  }
  vit_checkpoint_free(ck);
  free(ck);
  return rc;
}

/* Scans and validates every category; returns the number of categories that failed. */
static int print_datasets(const config_set *cs) {
  cfg_names cats;
  if (ds_list_categories(&cats, &cs->base.dataset) != 0) {
    log_error("%s", ancd_error());
    return -1;
  }
  printf("\ndataset: %s (layout %s, root %s), %d categor%s\n", cs->base.dataset.name,
         cs->base.dataset.layout, cs->base.dataset.root, cats.n, cats.n == 1 ? "y" : "ies");
  int failed = 0;
  config *c = xmalloc(sizeof *c);
  for (int i = 0; i < cats.n; i++) {
    ds_manifest m = {0};
    ds_report r = {0};
    if (config_for_category(c, cs, cats.v[i]) != 0 || ds_scan(&m, &c->dataset, cats.v[i]) != 0) {
      log_error("%s", ancd_error());
      failed++;
      continue;
    }
    /* As the stages validate: a mask of another size is resized, not bad. */
    if (ds_validate_ex(&m, &r, c->io.max_bad_fraction, 1) != 0) {
      log_error("%s", ancd_error());
      failed++;
    }
    ds_print_summary(stdout, &m, &r);
    ds_report_free(&r);
    ds_free(&m);
  }
  free(c);
  return failed;
}

typedef struct {
  const cli_args *args;
  const char *weights; /* --weights, or NULL */
} info_request;

/* Everything on world rank 0; the exit code is broadcast. */
static int print_info(const config_set *cs, world *w, const void *ctx) {
  const info_request *req = ctx;
  int rc = 0;
  if (w->rank == 0) {
    print_machine(w);
    if (req->weights && print_weights(req->weights, &cs->base.backbone) != 0)
      rc = ANCD_EXIT_INPUT;
    if (req->args->n_configs > 0 || req->args->n_sets > 0) {
      int failed = print_datasets(cs);
      if (failed)
        rc = ANCD_EXIT_INPUT;
    }
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return rc;
}

int job_info(int argc, char **argv) {
  const char *weights = NULL;
  const cli_opt opts[] = {{"weights", 0, CLI_STRING, &weights, "FILE",
                           "a safetensors ViT checkpoint whose architecture to print"},
                          {0}};
  const cli_job job = {"info",
                       "Prints the backends, devices, MPI world and library versions; with -c, "
                       "also scans and validates the dataset and prints its summary (categories, "
                       "images per type, masks, bad files); with --weights, the ViT architecture "
                       "inferred from a safetensors checkpoint.",
                       "[-c FILE ...] [--set KEY=VALUE ...] [--weights FILE]", opts, 0};
  cli_args a;
  int rc = cli_parse(&a, &job, argc, argv);
  if (rc || a.help)
    return rc;
  const info_request req = {&a, weights};
  return job_on_world(&a, &argc, &argv, print_info, &req);
}
