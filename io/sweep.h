/* A sweep file: the points of a parameter sweep over one base config, each point a few config
 * keys with their values (`ancd sweep`, `ancd collect`, slurm/sweep.sbatch). YAML:
 *
 *   name: lr               # optional; default: the sweep file's stem
 *   config: ../demo.yaml   # the base config, relative to the sweep file's folder (or absolute)
 *   grid:                  # the cartesian product, the last key varying fastest
 *     train.lr: [0.001, 0.003]
 *     train.epochs: [5, 10]  # a scalar is one value; a list key's values are lists: [[1], [1, 3]]
 *   points:                # or: the points listed one by one (grid and points exclude each other)
 *     - {train.lr: 0.001}
 *     - {train.lr: 0.003, train.epochs: 10}
 *
 * Every key is a schema key (`ancd config --doc`); an unknown key, a key given twice, a value of
 * the wrong type (checked by applying it to the defaults) are errors naming file:line:col. */
#ifndef ANCD_SWEEP_H
#define ANCD_SWEEP_H

#include "config.h"

#define SWEEP_MAX_KEYS 16
#define SWEEP_MAX_POINTS 10000 /* Slurm's MaxArraySize is 1001 by default */
#define SWEEP_KEY_LEN 128
#define SWEEP_VALUE_LEN 512

typedef struct {
  int key;                    /* index into sweep.keys */
  char text[SWEEP_VALUE_LEN]; /* YAML flow text, as --set takes it: 0.001, [1,3], "a b" */
  int line, col;              /* 1-based, in the sweep file */
} sweep_value;

typedef struct {
  char file[CFG_PATH_LEN];   /* the sweep file as given */
  char name[CFG_NAME_LEN];   /* name:, or the file's stem */
  char config[CFG_PATH_LEN]; /* the base config, resolved against the sweep file's folder */
  int grid;                  /* 1: grid:, 0: points: */
  int n_keys;                /* the swept keys, in order of first appearance */
  char keys[SWEEP_MAX_KEYS][SWEEP_KEY_LEN];
  int n_values;
  sweep_value *values;
  int n_points;
  int *point_values; /* [n_points][n_keys]: index into values, -1 where a point leaves a key */
} sweep;

/* Reads and checks a sweep file; s is freed with sweep_free (also after an error). */
int sweep_load(sweep *s, const char *path);
void sweep_free(sweep *s);
/* The value of key k at point i, or NULL when the point leaves the key to the base config. */
const sweep_value *sweep_value_at(const sweep *s, int i, int k);
/* out = "key=value" of key k at point i (what --set takes); -1 when the point leaves the key or
 * out is too small. */
int sweep_assignment(char *out, size_t n, const sweep *s, int i, int k);
/* cs = the defaults, the base config, then the extra --set assignments (every point alike). */
int sweep_base_config(config_set *cs, const sweep *s, const char *const *sets, int n_sets);
/* Applies point i's values to cs (a copy of sweep_base_config's); an error names the value's
 * file:line:col. */
int sweep_apply_point(config_set *cs, const sweep *s, int i);

#endif
