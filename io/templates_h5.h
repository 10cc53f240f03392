/* templates.h5: a category's HETMM template sheets (musc_hetmm_spec §B.5, §B.9; DESIGN "Files").
 * /layer<l> [h, w, K, C] f32 per layer (position-major: the matching's layout); root attributes
 * stage_key (hash of what the sheets depend on: dataset, backbone, image size, layers, template
 * mode and K), backbone, mode (all | pts), K, n_normal. Written by one rank, read by every rank
 * of the group alone. */
#ifndef ANCD_TEMPLATES_H5_H
#define ANCD_TEMPLATES_H5_H

#include "hetmm.h"
#include "stage_key.h"

#define TEMPLATES_STALE 2

/* Writes <dir>/templates.h5 atomically (MPI_COMM_SELF). Returns 0 or -1 with ancd_error(). */
int templates_h5_write(const char *dir, const hetmm_templates *t, const char *key,
                       const char *backbone, const char *mode, int n_normal);
/* Reads <dir>/templates.h5 when it is complete and carries key: 0; H5S_MISSING when absent;
 * TEMPLATES_STALE when made with another key (another backbone or template setting); -1 when
 * damaged (reason in ancd_error()). */
int templates_h5_read(hetmm_templates *t, const char *dir, const char *key);

#endif
