/* The built-in synthetic industrial dataset: procedural textured surfaces with defects of
 * several visually distinct types and their exact masks. Pure functions of (seed, category,
 * type, index): the same arguments give the same pixels on every machine (integer arithmetic
 * and a counter-based RNG; no floating point, no libm). */
#ifndef ANCD_SYNTH_H
#define ANCD_SYNTH_H

#include <stdint.h>

#define SYNTH_SIZE 256

/* A pixel belongs to a defect's mask when the defect changed one of its channels by at least
 * this many grey levels; every other pixel keeps the base image's value exactly. */
#define SYNTH_VISIBLE_DELTA 12

/* split_salt values used by `ancd synth`: each split and each defect type draws its own base
 * images, so no two written images share one. */
enum { SYNTH_SALT_TRAIN = 0, SYNTH_SALT_TEST_GOOD = 1, SYNTH_SALT_TEST_DEFECT0 = 2 };

/* Names, in output order. */
int synth_n_surfaces(void);
const char *synth_surface_name(int surface);
int synth_n_defects(void); /* defect types, "good" excluded */
const char *synth_defect_name(int defect);

/* Writes one RGB image (SYNTH_SIZE^2 * 3 bytes, HWC) and, for a defect (defect >= 0), its mask
 * (SYNTH_SIZE^2 bytes, 0 or 255). defect = -1 gives a good image (mask untouched, may be NULL).
 * The base of a defect image is the good image of the same (seed, surface, index, split_salt):
 * the two are equal exactly where the mask is 0, and differ by >= SYNTH_VISIBLE_DELTA in some
 * channel where it is 255. */
void synth_render(uint8_t *rgb, uint8_t *mask, uint64_t seed, int surface, int defect, int index,
                  int split_salt);

#endif
