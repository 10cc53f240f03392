/* The shard sizes of a v-collective (MPI_Gatherv, MPI_Allgatherv): partition_range's contiguous
 * blocks (world.h), for every rank at once. */
#ifndef ANCD_PARTITION_H
#define ANCD_PARTITION_H

/* counts[k] and displs[k] for k in [0, p): n items in p blocks in rank order, the blocks being
 * partition_range's of the ceil(n / unit) units of unit items (the last unit may be short).
 * unit 1: partition_range(n, p, k) itself; unit B: shards of whole batches of B. unit >= 1. */
void partition_counts(int *counts, int *displs, long n, int p, long unit);

#endif
