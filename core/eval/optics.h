/* OPTICS with scikit-learn's semantics (musc_hetmm_spec §B.5.2): brute-force distances given as
 * a matrix, max_eps = inf, cluster_method = 'xi' (xi = 0.05), predecessor correction,
 * min_cluster_size = min_samples. HETMM runs it per pixel position on the training sheets. */
#ifndef ANCD_OPTICS_H
#define ANCD_OPTICS_H

/* §B.5.2 min_samples = N // K with the sklearn 0.24 edge case the reference ran under: N // K == 1
 * is an int <= 1 and becomes max(2, int(1 * N)) = N. Returns -1 when N // K == 0 (K > N: sklearn
 * rejects it; the caller names the category). */
int optics_min_samples(int N, int K);

/* The OPTICS graph and xi labels of N points from their distance matrix dist [N, N] (row-major,
 * dist[i,i] the self-distance, counted in the core distance as sklearn does). labels [N]: 0, 1,
 * ... per cluster, -1 noise. ordering, reach, core, pred [N] may be NULL (sklearn's ordering_,
 * reachability_, core_distances_, predecessor_). 2 <= min_samples <= N. Returns the number of
 * clusters. Single-threaded; callers run positions in parallel. */
int optics_xi(int *labels, int *ordering, double *reach, double *core, int *pred,
              const double *dist, int N, int min_samples, double xi);

#endif
