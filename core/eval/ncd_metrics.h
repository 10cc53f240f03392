/* AnomalyNCD's clustering metrics (anomalyncd_spec §7.1, utils/cluster_and_log_utils.py):
 * NMI (scikit-learn's normalized_mutual_info_score, arithmetic normalisation), ARI
 * (adjusted_rand_score) and F1 (f1_score micro after the Hungarian matching of predicted clusters
 * to true classes, i.e. the Hungarian accuracy). Labels are non-negative ints; their values only
 * name groups (the reference's novel indices start at 4). n == 0: every metric NaN. */
#ifndef ANCD_NCD_METRICS_H
#define ANCD_NCD_METRICS_H

typedef struct {
  double nmi, ari, f1;
  int n;      /* items */
  int D;      /* max(max y, max p) + 1: the side of the count matrix */
  int *match; /* [D] predicted cluster -> true class, a bijection of 0..D-1 (ncd_eval_free) */
} ncd_eval;

/* y [n] true classes, p [n] predicted clusters. */
void ncd_evaluate(ncd_eval *e, const int *y, const int *p, int n);
void ncd_eval_free(ncd_eval *e);

/* An assignment of the rows of cost [n, n] (row-major) to columns with the least total cost:
 * col_of_row [n]. The Hungarian method with potentials, O(n^3); exact for integer costs. */
void ncd_hungarian(int *col_of_row, const double *cost, int n);

#endif
