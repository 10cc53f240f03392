/* The OK/NG threshold of `ancd predict` (issue 13) from a category's detect scores:
 * predict.threshold auto = the F1-max threshold when the test images have both labels, else median
 * + 3 x 1.4826 x MAD of the scores (a robust "far above the usual score" rule for unlabelled sets).
 * No MPI. */
#ifndef ANCD_PREDICT_DECIDE_H
#define ANCD_PREDICT_DECIDE_H

#include <stdint.h>

/* *threshold from scores [n] (RsCIN scores of maps.h5) and labels [n]; *rule names the rule
 * used ("f1max" or "median+3mad"). An image is NG when its score >= *threshold. */
void predict_auto_threshold(double *threshold, const char **rule, const double *scores,
                            const uint8_t *labels, int n);

#endif
