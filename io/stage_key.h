/* Stage keys (DESIGN "Files"): a stage's result is determined by the config keys it reads and by
 * the files it consumed. Its output file records the hash of both, the stage key, and a rerun
 * skips the stage when the key of its complete file equals the key the config gives now:
 *   maps.h5     <- dataset, backbone, device, precision, detect (+ seed for random weights)
 *   regions.h5  <- maps.h5's key + regions
 *   model.h5    <- regions.h5's key + train (+ seed)
 *   results     <- model.h5's key + classify
 * So changing a later stage's key never recomputes an earlier stage, and changing an earlier one
 * changes the key of everything after it. base.h5 (`ancd base`) stands outside this chain: it
 * reads the dataset section only (stage_key_base). Keys that cannot change a result (where outputs
 * go, pictures, parallel layout, bad-file tolerance) are outside every hash. */
#ifndef ANCD_STAGE_KEY_H
#define ANCD_STAGE_KEY_H

#include "config.h"

typedef enum { STAGE_DETECT, STAGE_REGIONS, STAGE_TRAIN, STAGE_CLASSIFY, STAGE_COUNT } ancd_stage;

#define STAGE_KEY_LEN 17 /* 16 hex digits and the NUL */

/* The stage's name ("detect", ...). */
const char *stage_name(ancd_stage s);
/* The stage whose hash holds config key `key` in config c, or -1 when the key is outside every
 * hash (`seed` belongs to detect only for backbone.weights: random, else to train). */
int stage_of_key(const char *key, const config *c);
/* out = FNV-1a 64 of the stage's name, the "key: value" lines of its keys in c, and parent (the
 * stage key of the file it consumed; "" for detect), as 16 hex digits. */
void stage_key(char out[STAGE_KEY_LEN], ancd_stage s, const config *c, const char *parent);
/* The key stage s has when every earlier stage ran with config c: detect's key, then each
 * stage's chained on the one before (what `report` expects of a category's files). */
void stage_key_chain(char out[STAGE_KEY_LEN], ancd_stage s, const config *c);
/* base.h5's key: FNV-1a 64 of "base" and the "key: value" lines of every dataset.* key but
 * dataset.name (dataset.categories included: they pick the images of the base set). */
void stage_key_base(char out[STAGE_KEY_LEN], const config *c);

/* The one validity test of every skip and every reader, for a stage's file <dir>/<file>
 * (maps.h5, regions.h5, ...): h5s_verify (complete=1, every dataset reads back whole), then its
 * stage_key attribute into key (when not NULL; a file without one is damaged). 0 valid,
 * H5S_MISSING, or -1 damaged with the reason in ancd_error(). Local: any rank alone. */
int stage_file_check(const char *dir, const char *file, char key[STAGE_KEY_LEN]);

#endif
