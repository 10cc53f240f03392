/* Anomaly-detection metrics exactly as musc_hetmm_spec §A.8 computes them. A metric that is
 * undefined (one class only) is NaN, never 0: the caller records the reason. */
#ifndef ANCD_METRICS_H
#define ANCD_METRICS_H

#include <stdint.h>

/* Exact ROC area with tied scores grouped (Mann-Whitney, ties count 1/2). labels 0/1. */
double metric_auroc(const float *scores, const uint8_t *labels, long n);
/* Average precision: step sum  sum_n (R_n - R_{n-1}) P_n over distinct thresholds (sklearn). */
double metric_ap(const float *scores, const uint8_t *labels, long n);
/* max F1 = 2PR/(P+R) over the precision-recall curve (sklearn's thresholds), non-finite dropped. */
double metric_f1max(const float *scores, const uint8_t *labels, long n);
/* AUPRO: thresholds np.arange(min, max, (max-min)/200) over all pixels; regions = 8-connected
 * components of each image's mask; PRO = mean per-region overlap of (score > th); FPR over all
 * negative pixels; points with FPR < 0.3; FPR rescaled by its own min/max; trapezoid area.
 * maps [n, h, w], masks [n, h, w] 0/1. NaN when there is no positive pixel. */
double metric_aupro(const float *maps, const uint8_t *masks, int n, int h, int w);
/* HETMM's own PRO (musc_hetmm_spec §B.8), not the standard AUPRO: thresholds np.linspace(min, max,
 * 300), per-region overlap / (area + 1e-5), points with FPR <= 0.3, FPR and PRO each rescaled by
 * (x - min) / (max - min + 1e-5), trapezoid area. Reported as pro_hetmm, labelled as such. */
double metric_pro_hetmm(const float *maps, const uint8_t *masks, int n, int h, int w);

typedef struct {
  double auroc_cls, f1max_cls, ap_cls;     /* image level */
  double auroc_px, f1max_px, ap_px, aupro; /* pixel level; NaN without masks */
} ad_metrics;

/* All seven: image scores + labels [n]; maps/masks [n, h, w] or NULL (pixel metrics NaN). */
void ad_metrics_compute(ad_metrics *m, const float *scores, const uint8_t *labels,
                        const float *maps, const uint8_t *masks, int n, int h, int w);

#endif
