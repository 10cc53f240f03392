/* The built-in synthetic industrial dataset: procedural textured surfaces with defects of
 * several visually distinct types and their exact masks. Pure functions of (seed, category,
 * type, index): the same arguments give the same pixels on every machine (integer / fixed
 * arithmetic and a counter-based RNG; no libm calls whose results may differ by platform). */
#ifndef ANCD_SYNTH_H
#define ANCD_SYNTH_H

#include <stdint.h>

#define SYNTH_SIZE 256

/* Names, in output order. */
int synth_n_surfaces(void);
const char *synth_surface_name(int surface);
int synth_n_defects(void); /* defect types, "good" excluded */
const char *synth_defect_name(int defect);

/* Writes one RGB image (SYNTH_SIZE^2 * 3 bytes, HWC) and, for a defect (defect >= 0), its mask
 * (SYNTH_SIZE^2 bytes, 0 or 255). defect = -1 gives a good image (mask untouched, may be NULL).
 * split_salt separates train and test draws. */
void synth_render(uint8_t *rgb, uint8_t *mask, uint64_t seed, int surface, int defect, int index,
                  int split_salt);

#endif
