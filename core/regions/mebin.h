/* MEBin, main element binarization (anomalyncd_spec §2): per category, the search range of the
 * per-image map maxima; per image, a 64-threshold sweep of the normalised map, 6x6 erosion with
 * OpenCV's anchor and border, 8-connected component counts, and the longest stable run of equal
 * non-zero counts. Maps are the 8-bit maps MEBin sees (joint min-max over the category, x255,
 * truncated). */
#ifndef ANCD_MEBIN_H
#define ANCD_MEBIN_H

#include <stddef.h>
#include <stdint.h>

#define MEBIN_MAX_STEPS 256

/* §2.1: MIN and MAX of the per-image maxima (both 0 when n <= 0). */
void mebin_search_range(int *min, int *max, const uint8_t *maxima, int n);
/* §2.2: the normalised value of the 8-bit map value v: 0 below MIN, else
 * ((v - MIN) / (MAX - MIN)) * 255 in double (divide first). MAX == MIN, where the reference
 * divides by zero: 255 from MIN up, as anomalib's port. */
double mebin_normalise(int v, int min, int max);
/* §2.2 over map u8 [n] as float (PIL mode "F", for the §3.5 crop score). */
void mebin_normalise_map(float *out, const uint8_t *map, size_t n, int min, int max);

/* cv2.erode with a k x k ones kernel and the default anchor (k/2, k/2): output (x, y) is the
 * minimum over columns x - k/2 .. x - k/2 + k - 1 and rows likewise (k = 6: x-3 .. x+2, an
 * asymmetric window). Out-of-image samples are ignored (border +inf), so the image edge never
 * erodes anything. k <= 1 copies. out may alias in. */
void erode_ocv(uint8_t *out, const uint8_t *in, int h, int w, int k);
/* Number of 8-connected foreground (non-zero) components. labels: h*w ints of scratch. */
int count_components8(int *labels, const uint8_t *mask, int h, int w);
/* The same, also labelling: labels[i] = component index 0..n-1 numbered in raster order of each
 * component's first pixel, -1 for background. Returns n. */
int label_components8(int *labels, const uint8_t *mask, int h, int w);

/* §2.4 on a count sequence c[0..n-1] (high threshold first): returns k* (end of the chosen run)
 * and *est, or -1 and est 0 when no run of >= min_len equal non-zero counts exists. */
int mebin_select_run(int *est, const int *counts, int n, int min_len);

typedef struct {
  int threshold; /* t_raw on the 8-bit map, mask = erode(map > threshold); 255 when no region;
                    MIN - 1 in the degenerate case (-1 when MIN = 0) */
  int est;       /* estimated number of main elements */
  int n_steps, counts[MEBIN_MAX_STEPS];
  int degenerate; /* MAX == MIN: every pixel >= MIN is foreground (the reference divides by 0);
                     the caller warns, once per category */
} mebin_result;

/* §2.2-§2.4 for one map u8 [h, w]: mask u8 [h, w] 0/255 = erode(map > t_raw). sample_rate 4
 * gives the sweep 255, 251, ..., 3. scratch: mebin_scratch_bytes(h, w). Degenerate MAX == MIN:
 * v >= MIN normalises to 255 (mebin_normalise), so counts are 0 at k = 0 and the components of
 * erode(map >= MIN) after; the run selection is as usual, and when it finds a run the threshold
 * is MIN - 1: mask = erode(map >= MIN), every pixel >= MIN is foreground (ancd's fix). */
void mebin_binarize(uint8_t *mask, mebin_result *res, void *scratch, const uint8_t *map, int h,
                    int w, int min, int max, int sample_rate, int min_interval_len,
                    int erode_kernel);
size_t mebin_scratch_bytes(int h, int w);

#endif
