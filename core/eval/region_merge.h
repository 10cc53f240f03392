/* AnomalyNCD's predictions from the classifier logits (anomalyncd_spec §6): the sub-image
 * (region-level) class of each crop and the image-level class by region merging. Host code on
 * small buffers, in double; the columns 0..n_base-1 are the base classes, the rest the novel ones,
 * and every test crop is novel, so the base columns are always masked.
 *
 * Layouts (row-major): logits [R, C] one head's cosines per crop, crops grouped by image in
 * regions.h5 order (first_crop [N + 1] gives image i's crops [first_crop[i], first_crop[i+1])). */
#ifndef ANCD_REGION_MERGE_H
#define ANCD_REGION_MERGE_H

#include <stdint.h>

#define MERGE_SHARPEN 0.1 /* §6 step 1: softmax(l / 0.1) before merging */

/* §6 sub-image prediction: probs [R, C] = softmax(l) with the base columns set to 0 and the rest
 * renormalised; pred [R] = its argmax (the first of equal maxima, as torch.argmax), a column
 * index >= n_base. */
void ncd_subimage_predict(float *probs, int *pred, const float *logits, int R, int C, int n_base);

/* §6 region merging: per image, p_j = softmax(l_j / 0.1) with the base columns masked and
 * renormalised; one crop: P = p_1; else P = sum_j w_j p_j with w = softmax_j(sqrt(a_j) / T),
 * a_j = mask_area[j] (foreground pixels of crop j's mask). probs [N, C] = P, pred [N] = argmax P.
 * Every image needs at least one crop (§3.4 guarantees it): returns -1 (ancd_error names the
 * image) otherwise. */
int ncd_merge_predict(float *probs, int *pred, const float *logits, const int64_t *mask_area,
                      const long *first_crop, int N, int C, int n_base, double temperature);

#endif
