/* Stage keys (io/stage_key.h): every config key belongs to one stage or to none, a key changes
 * only its own stage's key (and, through the parent, the keys after it), and keys outside every
 * hash change none; base.h5's key follows the dataset section alone. */
#include <string.h>

#include "config.h"
#include "stage_key.h"
#include "test_util.h"

/* The four keys of config c, each stage chained to the one before. */
static void chain(char k[STAGE_COUNT][STAGE_KEY_LEN], const config *c) {
  for (int s = 0; s < STAGE_COUNT; s++)
    stage_key(k[s], (ancd_stage)s, c, s ? k[s - 1] : "");
}

/* Applies assignment to a copy of the defaults and reports which stage keys changed as a bit
 * mask (bit s = stage s). */
static int changed(const char *assignment) {
  config_set *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
  config_defaults(a);
  config_defaults(b);
  CHECK(config_set_kv(b, assignment) == 0, "--set %s", assignment);
  char ka[STAGE_COUNT][STAGE_KEY_LEN], kb[STAGE_COUNT][STAGE_KEY_LEN];
  chain(ka, &a->base);
  chain(kb, &b->base);
  int mask = 0;
  for (int s = 0; s < STAGE_COUNT; s++)
    mask |= strcmp(ka[s], kb[s]) ? 1 << s : 0;
  free(a);
  free(b);
  return mask;
}

/* 1 when assignment changes stage_key_base. */
static int base_changed(const char *assignment) {
  config_set *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
  config_defaults(a);
  config_defaults(b);
  CHECK(config_set_kv(b, assignment) == 0, "--set %s", assignment);
  char ka[STAGE_KEY_LEN], kb[STAGE_KEY_LEN];
  stage_key_base(ka, &a->base);
  stage_key_base(kb, &b->base);
  free(a);
  free(b);
  return strcmp(ka, kb) != 0;
}

enum {
  D = 1 << STAGE_DETECT,
  R = 1 << STAGE_REGIONS,
  T = 1 << STAGE_TRAIN,
  C = 1 << STAGE_CLASSIFY
};

int main(void) {
  config_set *cs = calloc(1, sizeof *cs);
  config_defaults(cs);
  /* Every schema key is classified, and only the listed ones are outside every hash. */
  const char *outside[] = {"dataset.name",         "dataset.categories", "detect.vis",
                           "detect.keep_features", "regions.vis",        "parallel.group_size",
                           "io.max_bad_fraction",  "output.dir",         "classify.gallery_size"};
  for (int i = 0; i < config_key_count(); i++) {
    const char *key = config_key_name(i);
    int s = stage_of_key(key, &cs->base), is_outside = 0;
    for (size_t j = 0; j < sizeof outside / sizeof *outside; j++)
      is_outside |= !strcmp(key, outside[j]);
    is_outside |= !strncmp(key, "hetmm.", 6); /* the default method is musc */
    CHECK(is_outside ? s == -1 : s >= 0 && s < STAGE_COUNT, "%s: stage %d", key, s);
  }
  CHECK(config_key_name(config_key_count()) == NULL, "past the end");
  CHECK(stage_of_key("detect.r_list", &cs->base) == STAGE_DETECT, "detect.r_list");
  {
    char musc[STAGE_KEY_LEN], hetmm[STAGE_KEY_LEN], hetmm2[STAGE_KEY_LEN];
    config c = cs->base;
    stage_key(musc, STAGE_DETECT, &c, "");
    c.hetmm.tsize = 7; /* HETMM's keys do not touch MuSc's maps */
    stage_key(hetmm, STAGE_DETECT, &c, "");
    CHECK(!strcmp(musc, hetmm), "hetmm.tsize changed MuSc's detect key");
    snprintf(c.detect.method, sizeof c.detect.method, "hetmm");
    CHECK(stage_of_key("hetmm.alpha", &c) == STAGE_DETECT, "hetmm.alpha under hetmm");
    stage_key(hetmm, STAGE_DETECT, &c, "");
    c.hetmm.tsize = 8;
    stage_key(hetmm2, STAGE_DETECT, &c, "");
    CHECK(strcmp(hetmm, hetmm2) != 0, "hetmm.tsize did not change HETMM's detect key");
  }
  CHECK(stage_of_key("backbone.weights", &cs->base) == STAGE_DETECT, "backbone.weights");
  CHECK(stage_of_key("device", &cs->base) == STAGE_DETECT, "device");
  CHECK(stage_of_key("regions.erode_kernel", &cs->base) == STAGE_REGIONS, "erode_kernel");
  CHECK(stage_of_key("train.lr", &cs->base) == STAGE_TRAIN, "train.lr");
  CHECK(stage_of_key("classify.merge_temperature", &cs->base) == STAGE_CLASSIFY,
        "merge_temperature");
  /* The seed draws random weights; with real weights it only matters to training. */
  CHECK(stage_of_key("seed", &cs->base) == STAGE_DETECT, "seed with random weights");
  CHECK(config_set_kv(cs, "backbone.weights=w.safetensors") == 0, "set weights");
  CHECK(stage_of_key("seed", &cs->base) == STAGE_TRAIN, "seed with real weights");

  /* A key changes its own stage and everything after it, never a stage before it. */
  CHECK(changed("detect.r_list=[1,3]") == (D | R | T | C), "detect.r_list: %x",
        changed("detect.r_list=[1,3]"));
  CHECK(changed("dataset.root=elsewhere") == (D | R | T | C), "dataset.root");
  CHECK(changed("precision=bf16") == (D | R | T | C), "precision");
  CHECK(changed("seed=7") == (D | R | T | C), "seed (random weights)");
  CHECK(changed("regions.erode_kernel=4") == (R | T | C), "regions.erode_kernel: %x",
        changed("regions.erode_kernel=4"));
  CHECK(changed("train.lr=0.01") == (T | C), "train.lr: %x", changed("train.lr=0.01"));
  CHECK(changed("train.epochs=3") == (T | C), "train.epochs");
  CHECK(changed("classify.merge_temperature=5") == C, "classify.merge_temperature");
  /* Outside every hash. */
  const char *none[] = {"detect.vis=whole_norm",  "regions.vis=true",        "output.dir=other",
                        "parallel.group_size=2",  "io.max_bad_fraction=0.5", "dataset.name=x",
                        "dataset.categories=[a]", "classify.gallery_size=3"};
  for (size_t i = 0; i < sizeof none / sizeof *none; i++)
    CHECK(changed(none[i]) == 0, "%s changed a stage key: %x", none[i], changed(none[i]));
  /* base.h5's key: the dataset section but its name, categories included; nothing else. */
  const char *base_in[] = {"dataset.root=elsewhere", "dataset.categories=[a]",
                           "dataset.normal_type=ok", "dataset.layout=mtd"};
  const char *base_out[] = {"dataset.name=x",  "detect.r_list=[1,3]", "train.lr=0.01",
                            "train.base=b.h5", "output.dir=other",    "seed=7"};
  for (size_t i = 0; i < sizeof base_in / sizeof *base_in; i++)
    CHECK(base_changed(base_in[i]), "%s left base.h5's key", base_in[i]);
  for (size_t i = 0; i < sizeof base_out / sizeof *base_out; i++)
    CHECK(!base_changed(base_out[i]), "%s changed base.h5's key", base_out[i]);
  CHECK(changed("train.base=b.h5") == (T | C), "train.base");
  /* The key is 16 hex digits and depends on the parent. */
  char k1[STAGE_KEY_LEN], k2[STAGE_KEY_LEN];
  stage_key(k1, STAGE_REGIONS, &cs->base, "0000000000000001");
  stage_key(k2, STAGE_REGIONS, &cs->base, "0000000000000002");
  CHECK(strlen(k1) == 16 && strspn(k1, "0123456789abcdef") == 16, "key '%s'", k1);
  CHECK(strcmp(k1, k2), "the parent does not change the key");
  free(cs);
  return test_done("test_stage_key");
}
