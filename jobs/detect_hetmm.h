/* HETMM in `ancd detect` (musc_hetmm_spec Part B): the category's template sheets (ALL or PTS,
 * read from or written to templates.h5) and the maps and image scores of a rank's test images.
 * job_detect.c calls these in place of MuSc's feature and scoring steps; the rest (masks,
 * metrics, maps.h5) is shared. */
#ifndef ANCD_DETECT_HETMM_H
#define ANCD_DETECT_HETMM_H

#include <mpi.h>
#include <stdint.h>

#include "config.h"
#include "dataset.h"
#include "detect_inputs.h"
#include "hetmm.h"
#include "hetmm_backbone.h"
#include "stage_key.h"

typedef struct {
  const config *cfg;
  const char *category;
  const char *dir; /* the category's output folder (templates.h5 goes there) */
  MPI_Comm comm;
  int rank, size;            /* in the group */
  const detect_backbone *in; /* input size, normalisation, resize mode */
  hetmm_backbone *bb;        /* the feature maps (hook: ViT or any other network) */
} hetmm_job;

/* Usage checks before any work: the per-layer lists have 1 or len(detect.layers) entries, the
 * windows are odd, the post-processing texts parse (mp only for the image score). Exit code. */
int hetmm_check_config(const config *c, const char *category);

/* The key templates.h5 carries: dataset, backbone, device, precision, seed (random weights),
 * detect.image_size, detect.layers, hetmm.templates and (pts) hetmm.tsize. */
void hetmm_templates_key(char out[STAGE_KEY_LEN], const config *c);

/* §B.5 templates of the category, on every rank: read from <dir>/templates.h5 when it is
 * complete with this key; otherwise built from the normal training images (each rank extracts
 * its share; PTS positions are shared out over the ranks) and written by group rank 0. A category
 * without normal training images, or K > N for pts, is an input error naming it. Collective;
 * returns an exit code agreed over the group. */
int hetmm_templates_get(hetmm_templates *t, const hetmm_job *j);

/* §B.6-§B.7 for this rank's test images items[0..n): maps [n, S, S] (hetmm.post_pixel), pro
 * [n, S, S] (hetmm.post_pro; NULL when not wanted), scores [n] (hetmm.post_image), rgb [n, S, S,
 * 3] the resized images or NULL. *macs += the matching's multiply-adds, *match_s += its seconds.
 * Not collective. Exit code. */
int hetmm_score_images(float *maps, float *pro, double *scores, uint8_t *rgb, double *macs,
                       double *match_s, const hetmm_templates *t, const ds_item *items, int n,
                       const hetmm_job *j);

#endif
