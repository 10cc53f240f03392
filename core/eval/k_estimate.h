/* The number of anomaly classes K from feature vectors, before training (train.n_novel: 0): the
 * eigengap of a self-tuning spectral affinity or the best k-means silhouette over k_min..k_max.
 * Plain C loops in double precision; n up to a few thousand (the eigengap's dense
 * eigendecomposition is O(n^3), the silhouette's k-means O(n d k) per Lloyd step). */
#ifndef ANCD_K_ESTIMATE_H
#define ANCD_K_ESTIMATE_H

#include <stdint.h>

/* On ViT-Ti features of the real MVTec / MTD defect images (tests/bench/bench_k_estimate.c) both
 * err by about 2 on average, mostly towards k = 2; the eigengap is the default: as good, seed-free
 * and 10-100 times faster up to n of several hundred (at n = 2000: 3.3 s against 1.5 s). */
typedef enum { K_EST_EIGENGAP = 0, K_EST_SILHOUETTE = 1 } k_est_method;

/* features [n, d] row-major. *k_out in [k_min, k_max], with both clamped to n - 1 (k classes
 * need k + 1 eigenvalues and a silhouette needs k <= n - 1).
 * K_EST_EIGENGAP: rows L2-normalised, cosine distances d_ij = |x_i - x_j|, the self-tuning
 * Gaussian affinity W_ij = exp(-d_ij^2 / (s_i s_j)) with s_i the distance to the 7th neighbour
 * (Zelnik-Manor & Perona 2004), W_ii = 0, L = I - D^-1/2 W D^-1/2 with eigenvalues
 * l_1 <= .. <= l_n; K = argmax over k of l_{k+1} - l_k (the smallest k on ties). seed unused.
 * K_EST_SILHOUETTE: rows L2-normalised, kmeans_fit for each k (K_EST_N_INIT restarts, seeded by
 * seed and k), K = argmax silhouette_score (the smallest k on ties).
 * Returns 0, or -1 with ancd_errorf() on bad input (NULL, n < 3, d < 1, k_min < 2,
 * k_max < k_min, a non-finite feature) or when the eigenvalues do not converge. */
int k_estimate(int *k_out, const float *features, int n, int d, int k_min, int k_max,
               k_est_method method, uint64_t seed);

/* Restarts of kmeans_fit in k_estimate. */
#define K_EST_N_INIT 10

/* k-means of x [n, d]: n_init restarts, each greedy k-means++ seeding (scikit-learn's, 2 +
 * floor(ln k) candidates per centre) from one stream of core/base/rng seeded by seed, then Lloyd
 * steps until no label changes (at most 300); an emptied cluster takes the point farthest from
 * its centre. Keeps the restart with the least inertia (sum of squared distances to the centres).
 * labels [n] in 0..k-1; centers [k, d] and inertia may be NULL. Returns 0, or -1 (ancd_errorf)
 * when k < 1, k > n, d < 1 or n_init < 1. */
int kmeans_fit(int *labels, double *centers, double *inertia, const double *x, int n, int d, int k,
               int n_init, uint64_t seed);

/* Mean silhouette coefficient of labels [n] (non-negative) on x [n, d] with euclidean distances,
 * as scikit-learn's silhouette_score: s_i = (b_i - a_i) / max(a_i, b_i), a_i the mean distance to
 * the other members of i's cluster, b_i the least mean distance to another cluster; 0 for a
 * member of a singleton cluster. Returns 0, or -1 (ancd_errorf) unless 2 <= number of non-empty
 * clusters <= n - 1. */
int silhouette_score(double *score, const double *x, const int *labels, int n, int d);

/* Eigenvalues w [n] of the symmetric a [n, n] (row-major; only the lower triangle is read),
 * ascending: Householder tridiagonalisation, then implicit QL with Wilkinson shifts. Accurate to
 * a few ulps of the largest |eigenvalue|. Returns 0, or -1 (ancd_errorf) when n < 1 or QL does
 * not converge. */
int sym_eigenvalues(double *w, const double *a, int n);

#endif
