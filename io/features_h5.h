/* features.h5 (issue 13, detect.keep_features): the scoring pool of a category, which `ancd
 * predict` scores new images against. It stores the ViT taps of the pool (the test images, then
 * the references), from which every (layer, r) LNAMD feature follows exactly (LNAMD is per image:
 * musc §A.5), at a third of the size of the 3 degrees' features, and the test images' embeddings
 * for RsCIN. fp32, so that predicting a pool image reproduces its map (fp16 would not). */
#ifndef ANCD_FEATURES_H5_H
#define ANCD_FEATURES_H5_H

#include <mpi.h>

#define FEATURES_FILE "features.h5"

/* What features.h5 holds. Rows: the n test images (maps.h5 order), then the n_ref references. */
typedef struct {
  int n, n_ref;           /* test images, references */
  int n_layers, T, C, E;  /* taps per image, tokens per tap, width, embedding width */
  const int *layers;      /* [n_layers] 1-based blocks */
  float *const *taps;     /* [n_layers][n_own, T, C] this rank's test rows */
  float *const *ref_taps; /* [n_layers][r_own, T, C] this rank's reference rows */
  const float *embed;     /* [n_own, E] */
  int first, n_own, r_first, r_own;
  const char *const *ref_paths; /* [n_ref] on every rank */
  const char *stage_key;        /* detect's (maps.h5's) */
  const char *backbone;         /* the backbone's one-line description */
} features_record;

/* Writes <dir>/features.h5 collectively over comm (each rank its rows), atomically. Datasets:
 * /taps/block<b> [n + n_ref, T, C] f32, /embed [n, E] f32, /ref_paths strings; root attributes
 * stage_key, backbone, n_images, n_references, layers (text). */
int features_h5_write(const char *dir, const features_record *r, MPI_Comm comm);

/* The whole pool read by one process: taps[l] [n + n_ref, T, C] and embed [n, E] (xmalloc'ed).
 * The file must be complete, hold stage_key and the backbone given (else an error saying it was
 * made with other settings or another backbone) and the layers asked for. */
typedef struct {
  int n, n_ref, n_layers, T, C, E;
  float **taps;
  float *embed;
  char **ref_paths;
} features_pool;
int features_h5_read(features_pool *p, const char *dir, const char *stage_key, const char *backbone,
                     const int *layers, int n_layers);
void features_pool_free(features_pool *p);

#endif
