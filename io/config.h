/* The configuration: one schema table (io/config_schema.c) declares every key with its type,
 * default, allowed values and help; it drives parsing (libyaml), validation, `ancd config`
 * (resolved YAML) and `ancd config --doc` (Markdown reference). Everything else reads the typed
 * struct below. Errors name file:line:col and the key path. */
#ifndef ANCD_CONFIG_H
#define ANCD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_LIST 32   /* elements of a number list */
#define CFG_MAX_NAMES 64  /* elements of a string list */
#define CFG_NAME_LEN 64   /* a category / type name */
#define CFG_PATH_LEN 1024 /* a path */
#define CFG_MAX_OVERRIDES 256
#define CFG_MAX_KEYS 80 /* rows of the schema */

typedef struct {
  int n;
  int v[CFG_MAX_LIST];
} cfg_ints;
typedef struct {
  int n;
  double v[CFG_MAX_LIST];
} cfg_floats;
typedef struct {
  int n;
  char v[CFG_MAX_NAMES][CFG_NAME_LEN];
} cfg_names;

typedef struct {
  char name[CFG_NAME_LEN];        /* output folder <output>/<name>/; default: the layout */
  char layout[16];                /* mvtec | btad | visa | mtd | folder | anomalies */
  char root[CFG_PATH_LEN];        /* dataset root */
  cfg_names categories;           /* empty: every category found under root */
  char split_file[CFG_PATH_LEN];  /* visa: split CSV; mtd: train-list file; relative to root */
  char normal_type[CFG_NAME_LEN]; /* name of the normal type: good (mvtec/folder), ok (btad) */
  char mask_dir[CFG_PATH_LEN];    /* folder layout: optional mask folder, relative to category */
  char mask_suffix[CFG_NAME_LEN]; /* mask file = <stem><suffix>, e.g. _mask.png */
} cfg_dataset;

typedef struct {
  char weights[CFG_PATH_LEN]; /* safetensors path, or "random" */
  char family[16];            /* auto | clip | dino | dinov2 | timm */
  char arch[CFG_NAME_LEN];    /* for weights: random, e.g. vit_tiny_patch16 */
  char activation[16];        /* auto | gelu | quick_gelu */
  cfg_floats mean, std;       /* empty: the family's default */
} cfg_backbone;

typedef struct {
  char method[16]; /* musc | hetmm | import */
  int image_size;
  cfg_ints layers; /* 1-based block numbers */
  cfg_ints r_list;
  double topmin_min, topmin_max;
  char reference[16];       /* none | train: normal train images join the scoring pool */
  char reference_score[16]; /* nearest | pool | mean: how a test patch uses the references */
  int keep_features;        /* store the pool's LNAMD features in features.h5 (ancd predict) */
  char rscin[8];            /* auto | on | off: RsCIN re-scoring (auto: on when zero-shot) */
  int divide_num;
  cfg_ints rscin_windows;
  int batch_size;
  char vis[16]; /* none | single_norm | whole_norm */
  char maps_root[CFG_PATH_LEN];
} cfg_detect;

typedef struct {            /* HETMM, musc_hetmm_spec Part B (read when detect.method: hetmm) */
  char templates[8];        /* all | pts (the reference's --ttype) */
  int tsize;                /* PTS: K sheets per position (--tsize) */
  cfg_ints fwd_windows;     /* per detect.layers entry, or one for all: forward window f */
  cfg_ints bwd_windows;     /* backward window b */
  cfg_floats alpha, lambda; /* per layer, or one for all: S = sum lambda (alpha F + (1-alpha) B) */
  char post_image[64];      /* §B.7 per metric: clean | blur_s=<s>_k=<k> | mp_k=<k> */
  char post_pixel[64];
  char post_pro[64];
  int pro_variant; /* metrics.json also carries HETMM's own PRO (§B.8) */
} cfg_hetmm;

typedef struct {
  int sample_rate;
  int min_interval_len;
  int erode_kernel;
  int search_min; /* MEBin's MIN; -1: the least of the maps' peaks (§2.1) */
  int vis;
} cfg_regions;

typedef struct {
  int epochs;
  int batch_size;
  double lr;
  int grad_from_block; /* 1-based; 0: the last block */
  int mask_layers;
  int n_novel;         /* K; -1: the types of the regions' images (oracle); 0: estimated */
  int k_max;           /* the largest K an estimate considers */
  char k_method[16];   /* eigengap | silhouette */
  char proto_init[16]; /* random | kmeans */
  int checkpoint_every;
  char base[CFG_PATH_LEN]; /* labeled base set: none | a base.h5 file | an AeBAD_crop folder */
} cfg_train;

typedef struct {
  double merge_temperature; /* 0: by layout (§6) */
  int gallery_size;
} cfg_classify;

typedef struct {
  int group_size; /* ranks per category group; 0 = the whole world */
} cfg_parallel;

typedef struct {
  double max_bad_fraction;
} cfg_io;

typedef struct {
  char dir[CFG_PATH_LEN];
} cfg_output;

typedef struct {
  cfg_dataset dataset;
  cfg_backbone backbone;
  cfg_detect detect;
  cfg_hetmm hetmm;
  cfg_regions regions;
  cfg_train train;
  cfg_classify classify;
  cfg_parallel parallel;
  cfg_io io;
  cfg_output output;
  char device[16];    /* auto | cpu | cuda */
  char precision[16]; /* fp32 | tf32 | bf16 */
  int seed;
} config;

/* A per-category override (`categories: {screw: {detect: {r_list: [1, 3]}}}`), kept as the
 * key path and its YAML value so it is applied (and validated) like any other setting. */
typedef struct {
  char category[CFG_NAME_LEN];
  char key[128];
  char value[512];                /* YAML flow text of the value */
  char origin[CFG_PATH_LEN + 32]; /* "file:line:col" for errors */
} cfg_override;

typedef struct {
  config base;
  char origins[CFG_MAX_KEYS][CFG_PATH_LEN + 32]; /* per schema key: where base's value came from */
  int n_overrides;
  cfg_override overrides[CFG_MAX_OVERRIDES];
  char sources[CFG_PATH_LEN * 2]; /* files and --set given, for the record */
} config_set;

/* Defaults from the schema. */
void config_defaults(config_set *cs);
/* Merges a YAML file over cs. Unknown keys, wrong types and out-of-range values are errors
 * naming file:line:col and the key path. */
int config_load_file(config_set *cs, const char *path);
/* Applies `key.path=value` (value in YAML syntax, e.g. detect.r_list=[1,3]). */
int config_set_kv(config_set *cs, const char *assignment);
/* The config of one category: base plus that category's overrides. */
int config_for_category(config *out, const config_set *cs, const char *category);
/* Where the value of key for category (NULL: the base) came from: "file:line:col", "--set", or
 * "schema default of <key>"; for errors found after loading (e.g. a block number beyond the
 * backbone's depth). NULL for an unknown key. */
const char *config_origin(const config_set *cs, const char *category, const char *key);

/* Resolved YAML of every key (with defaults); *out is malloc'ed. */
char *config_to_yaml(const config *c);
/* Markdown reference of every key: path, type, default, allowed, help; malloc'ed. */
char *config_doc_markdown(void);
/* "key: value" lines (values as config_to_yaml writes them) of the keys, in schema order, for
 * which select(key, ctx) is 1; malloc'ed. Stage keys hash these (io/stage_key.h). */
char *config_keys_text(const config *c, int (*select)(const char *key, const void *ctx),
                       const void *ctx);
/* The schema's keys by index ("detect.r_list", "seed"); NULL past the end. */
int config_key_count(void);
const char *config_key_name(int i);

/* FNV-1a 64 over text, continuing from h (FNV1A64_INIT to start). */
#define FNV1A64_INIT 0xcbf29ce484222325ULL
uint64_t fnv1a64(uint64_t h, const char *text);
/* Stable 64-bit hash (FNV-1a over config_to_yaml) and its 16-hex-digit form: the whole config,
 * for the record (`ancd config`); what decides a rerun is the stage key (io/stage_key.h). */
uint64_t config_hash(const config *c);
void config_hash_hex(const config *c, char out[17]);

#endif
