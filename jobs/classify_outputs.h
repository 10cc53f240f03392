/* What `ancd classify` writes beside results.h5 (rank 0): the §7 metrics of every head at image
 * and sub-image level (ncd_metrics.json), the confusion matrix of the reported head (true type x
 * discovered class after the Hungarian matching, confusion.png) and a gallery of each discovered
 * class's most confident crops (gallery.png); and the rows of the dataset's class-discovery
 * table. */
#ifndef ANCD_CLASSIFY_OUTPUTS_H
#define ANCD_CLASSIFY_OUTPUTS_H

#include "config.h"
#include "ncd_store.h"
#include "results_h5.h"

/* dir: the category's output folder (its regions.h5 gives the gallery's pixels). k_est: the
 * estimated K recorded by train (0: none). Logs the reported head's image-level scores. */
int classify_outputs_write(const char *dir, const results_record *r, int gallery_size, int k_est);

/* The class-discovery rows of the categories with an ncd_metrics.json (check_keys: only those
 * whose stage key is what the config gives, stage_key_chain), with the AUPRO of their
 * metrics.json when it reads. rows [cats->n]; returns how many were filled. */
int ncd_rows_gather(ncd_table_row *rows, const config_set *cs, const cfg_names *cats,
                    int check_keys);

#endif
