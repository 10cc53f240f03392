/* Stage keys (stage_key.h): which config keys each stage reads, and their hash. */
#include "stage_key.h"

#include "error.h"
#include "h5store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys or whole sections ("detect" = every detect.* key) that cannot change any stage's result:
 * output names and places, pictures, the parallel layout (results are identical for any rank
 * count), and the bad-file tolerance (it decides whether a category fails, not its numbers). */
static const char *const OUTSIDE[] = {"dataset.name", "dataset.categories",
                                      "detect.vis",   "detect.keep_features",
                                      "regions.vis",  "classify.gallery_size",
                                      "parallel",     "io",
                                      "output",       NULL};

/* What each stage reads, as keys or sections; the first match of a key decides. `seed` is
 * handled in stage_of_key. */
static const struct {
  const char *name;
  const char *reads[6];
} STAGES[STAGE_COUNT] = {
    [STAGE_DETECT] = {"detect", {"dataset", "backbone", "detect", "device", "precision", NULL}},
    [STAGE_REGIONS] = {"regions", {"regions", NULL}},
    [STAGE_TRAIN] = {"train", {"train", NULL}},
    [STAGE_CLASSIFY] = {"classify", {"classify", NULL}},
};

/* key is prefix itself or lies in the section prefix. */
static int key_in(const char *key, const char *prefix) {
  size_t n = strlen(prefix);
  return !strncmp(key, prefix, n) && (key[n] == '\0' || key[n] == '.');
}

const char *stage_name(ancd_stage s) { return s >= 0 && s < STAGE_COUNT ? STAGES[s].name : "?"; }

int stage_of_key(const char *key, const config *c) {
  for (int i = 0; OUTSIDE[i]; i++)
    if (key_in(key, OUTSIDE[i]))
      return -1;
  /* The seed draws random backbone weights (model/vit_random.c) and everything of training. */
  if (!strcmp(key, "seed"))
    return !strcmp(c->backbone.weights, "random") ? STAGE_DETECT : STAGE_TRAIN;
  /* HETMM's keys change the maps only when HETMM makes them (MuSc's keys stay as they were). */
  if (key_in(key, "hetmm"))
    return !strcmp(c->detect.method, "hetmm") ? STAGE_DETECT : -1;
  for (int s = 0; s < STAGE_COUNT; s++)
    for (int i = 0; STAGES[s].reads[i]; i++)
      if (key_in(key, STAGES[s].reads[i]))
        return s;
  return -1;
}

typedef struct {
  ancd_stage stage;
  const config *c;
} select_ctx;

static int selected(const char *key, const void *ctx) {
  const select_ctx *sc = ctx;
  return stage_of_key(key, sc->c) == (int)sc->stage;
}

/* FNV-1a 64 of name, the keys' text and parent, as 16 hex digits; frees text. */
static void key_hex(char out[STAGE_KEY_LEN], const char *name, char *text, const char *parent) {
  uint64_t h = fnv1a64(FNV1A64_INIT, name);
  h = fnv1a64(h, "\n");
  h = fnv1a64(h, text);
  h = fnv1a64(h, "parent: ");
  h = fnv1a64(h, parent ? parent : "");
  free(text);
  snprintf(out, STAGE_KEY_LEN, "%016llx", (unsigned long long)h);
}

void stage_key(char out[STAGE_KEY_LEN], ancd_stage s, const config *c, const char *parent) {
  select_ctx sc = {s, c};
  key_hex(out, stage_name(s), config_keys_text(c, selected, &sc), parent);
}

void stage_key_chain(char out[STAGE_KEY_LEN], ancd_stage s, const config *c) {
  char parent[STAGE_KEY_LEN] = "";
  for (int k = STAGE_DETECT; k <= (int)s; k++) {
    stage_key(out, (ancd_stage)k, c, parent);
    memcpy(parent, out, STAGE_KEY_LEN);
  }
}

static int base_selected(const char *key, const void *ctx) {
  (void)ctx;
  return key_in(key, "dataset") && strcmp(key, "dataset.name") != 0;
}

void stage_key_base(char out[STAGE_KEY_LEN], const config *c) {
  key_hex(out, "base", config_keys_text(c, base_selected, NULL), "");
}

int stage_file_check(const char *dir, const char *file, char key[STAGE_KEY_LEN]) {
  char path[CFG_PATH_LEN + 64];
  if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
    return ancd_errorf("%s: path too long", dir);
  int st = h5s_verify(path);
  if (st == 0 && key && h5s_read_root_str(path, "stage_key", key, STAGE_KEY_LEN) != 0)
    return ancd_error_prefix("%s: no stage key (written by an older ancd?): ", path);
  return st;
}
