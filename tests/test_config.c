/* Config: schema defaults, file loading, errors with file:line:col and the key, --set, per-category
 * overrides, the resolved YAML and its hash, the shipped configs/, the Markdown reference. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "test_util.h"

static const char *tmp;

/* Writes text to <tmp>/<name> and returns the path (static buffer per call). */
static const char *write_yaml(const char *name, const char *text) {
  static char path[8][1024];
  static int next;
  char *p = path[next++ % 8];
  snprintf(p, 1024, "%s/%s", tmp, name);
  if (test_write_file(p, text, strlen(text)) != 0) {
    fprintf(stderr, "cannot write %s\n", p);
    exit(1);
  }
  return p;
}

/* Loads text as a file over fresh defaults; returns the load's status, message in ancd_error(). */
static int load_text(config_set *cs, const char *name, const char *text) {
  config_defaults(cs);
  return config_load_file(cs, write_yaml(name, text));
}

/* Checks that the last error contains every given piece. */
static void check_error(const char *what, const char *a, const char *b, const char *c) {
  const char *e = ancd_error();
  CHECK(strstr(e, a) != NULL, "%s: error '%s' lacks '%s'", what, e, a);
  if (b)
    CHECK(strstr(e, b) != NULL, "%s: error '%s' lacks '%s'", what, e, b);
  if (c)
    CHECK(strstr(e, c) != NULL, "%s: error '%s' lacks '%s'", what, e, c);
}

static int ints_eq(const cfg_ints *v, int n, const int *want) {
  if (v->n != n)
    return 0;
  for (int i = 0; i < n; i++)
    if (v->v[i] != want[i])
      return 0;
  return 1;
}

static void test_defaults(config_set *cs) {
  config_defaults(cs);
  const config *c = &cs->base;
  CHECK(!strcmp(c->dataset.layout, "mvtec"), "layout %s", c->dataset.layout);
  CHECK(!strcmp(c->dataset.normal_type, "good"), "normal_type %s", c->dataset.normal_type);
  CHECK(!strcmp(c->dataset.mask_suffix, "_mask.png"), "mask_suffix %s", c->dataset.mask_suffix);
  CHECK(c->dataset.categories.n == 0, "categories %d", c->dataset.categories.n);
  CHECK(!strcmp(c->backbone.weights, "random"), "weights %s", c->backbone.weights);
  CHECK(!strcmp(c->backbone.arch, "vit_tiny_patch16"), "arch %s", c->backbone.arch);
  CHECK(c->backbone.mean.n == 0 && c->backbone.std.n == 0, "mean/std not empty");
  CHECK(!strcmp(c->detect.method, "musc"), "method %s", c->detect.method);
  CHECK(c->detect.image_size == 224, "image_size %d", c->detect.image_size);
  CHECK(ints_eq(&c->detect.layers, 4, (int[]){3, 6, 9, 12}), "layers");
  CHECK(ints_eq(&c->detect.r_list, 3, (int[]){1, 3, 5}), "r_list");
  CHECK(ints_eq(&c->detect.rscin_windows, 3, (int[]){1, 2, 3}), "rscin_windows");
  CHECK(c->detect.topmin_min == 0.0 && c->detect.topmin_max == 0.3, "topmin %g %g",
        c->detect.topmin_min, c->detect.topmin_max);
  CHECK(c->detect.divide_num == 1 && c->detect.batch_size == 4, "divide_num/batch_size");
  CHECK(!strcmp(c->detect.vis, "none"), "vis %s", c->detect.vis);
  CHECK(c->regions.sample_rate == 4 && c->regions.min_interval_len == 4 &&
            c->regions.erode_kernel == 6 && c->regions.vis == 0,
        "regions %d %d %d %d", c->regions.sample_rate, c->regions.min_interval_len,
        c->regions.erode_kernel, c->regions.vis);
  CHECK(c->train.epochs == 50 && c->train.batch_size == 32 && c->train.lr == 0.003,
        "train %d %d %g", c->train.epochs, c->train.batch_size, c->train.lr);
  CHECK(c->classify.merge_temperature == 0, "merge_temperature %g", c->classify.merge_temperature);
  CHECK(c->io.max_bad_fraction == 0.0, "max_bad_fraction %g", c->io.max_bad_fraction);
  CHECK(!strcmp(c->output.dir, "out"), "output.dir %s", c->output.dir);
  CHECK(!strcmp(c->device, "auto") && !strcmp(c->precision, "fp32") && c->seed == 42,
        "device %s precision %s seed %d", c->device, c->precision, c->seed);
  CHECK(cs->n_overrides == 0 && cs->sources[0] == 0, "fresh set has overrides or sources");
}

static void test_valid_file(config_set *cs) {
  int rc = load_text(cs, "valid.yaml",
                     "# a comment\n"
                     "dataset:\n"
                     "  layout: visa\n"
                     "  root: \"/data/my visa\"   # quoted, with a space\n"
                     "  categories:\n"
                     "    - candle\n"
                     "    - pcb1\n"
                     "  split_file: split_csv/1cls.csv\n"
                     "detect:\n"
                     "  image_size: 518\n"
                     "  layers: [6, 12, 18, 24]\n"
                     "  topmin_max: 0.25\n"
                     "  rscin_windows: [1, 8, 9]\n"
                     "backbone: {weights: w.safetensors, mean: [0.5, 0.5, 0.5]}\n"
                     "regions:\n"
                     "  vis: yes\n"
                     "seed: 3407\n"
                     "device: cpu\n");
  CHECK(rc == 0, "valid file: %s", ancd_error());
  const config *c = &cs->base;
  CHECK(!strcmp(c->dataset.layout, "visa"), "layout %s", c->dataset.layout);
  CHECK(!strcmp(c->dataset.root, "/data/my visa"), "root %s", c->dataset.root);
  CHECK(c->dataset.categories.n == 2 && !strcmp(c->dataset.categories.v[0], "candle") &&
            !strcmp(c->dataset.categories.v[1], "pcb1"),
        "categories");
  CHECK(!strcmp(c->dataset.split_file, "split_csv/1cls.csv"), "split %s", c->dataset.split_file);
  CHECK(c->detect.image_size == 518, "image_size %d", c->detect.image_size);
  CHECK(ints_eq(&c->detect.layers, 4, (int[]){6, 12, 18, 24}), "layers");
  CHECK(ints_eq(&c->detect.rscin_windows, 3, (int[]){1, 8, 9}), "rscin_windows");
  CHECK(c->detect.topmin_max == 0.25, "topmin_max %g", c->detect.topmin_max);
  CHECK(!strcmp(c->backbone.weights, "w.safetensors"), "weights %s", c->backbone.weights);
  CHECK(c->backbone.mean.n == 3 && c->backbone.mean.v[2] == 0.5, "mean");
  CHECK(c->regions.vis == 1, "regions.vis %d", c->regions.vis);
  CHECK(c->seed == 3407 && !strcmp(c->device, "cpu"), "seed %d device %s", c->seed, c->device);
  /* untouched keys keep their defaults */
  CHECK(ints_eq(&c->detect.r_list, 3, (int[]){1, 3, 5}), "r_list changed");
  CHECK(strstr(cs->sources, "valid.yaml") != NULL, "sources '%s'", cs->sources);

  /* A second file merges over the first. */
  CHECK(config_load_file(cs, write_yaml("second.yaml", "detect:\n  image_size: 336\n")) == 0,
        "second file: %s", ancd_error());
  CHECK(cs->base.detect.image_size == 336 && cs->base.seed == 3407, "merge %d %d",
        cs->base.detect.image_size, cs->base.seed);

  /* An empty file and a file of comments change nothing. */
  CHECK(load_text(cs, "empty.yaml", "") == 0, "empty file: %s", ancd_error());
  CHECK(load_text(cs, "comments.yaml", "# nothing\n---\n") == 0, "comment file: %s", ancd_error());
  CHECK(cs->base.detect.image_size == 224, "empty file changed a value");
}

static void test_errors(config_set *cs) {
  char want[1200];
  const char *path;

  /* unknown key: line 4, column 3, the key path and a suggestion; cs is left as it was */
  config_defaults(cs);
  path = write_yaml("unknown.yaml", "seed: 5\n"
                                    "detect:\n"
                                    "  image_size: 256\n"
                                    "  r_lst: [1, 3]\n");
  CHECK(config_load_file(cs, path) == -1, "unknown key accepted");
  snprintf(want, sizeof want, "%s:4:3:", path);
  check_error("unknown key", want, "detect.r_lst", "did you mean 'detect.r_list'");
  CHECK(cs->base.seed == 42 && cs->base.detect.image_size == 224,
        "failed load changed the config (seed %d)", cs->base.seed);

  /* unknown section, unknown top-level key put in the wrong place */
  CHECK(load_text(cs, "unknown2.yaml", "dataset:\n  layout: mvtec\nimage_size: 5\n") == -1,
        "top-level image_size accepted");
  check_error("misplaced key", "unknown2.yaml:3:1:", "image_size", "detect.image_size");
  CHECK(load_text(cs, "unknown3.yaml", "detec:\n  image_size: 5\n") == -1, "detec accepted");
  check_error("unknown section", "unknown3.yaml:1:1:", "detec: unknown key", "'detect'");

  /* wrong types */
  CHECK(load_text(cs, "type.yaml", "detect:\n  image_size: abc\n") == -1, "abc accepted");
  check_error("wrong type", "type.yaml:2:15:", "detect.image_size: expected an integer, got 'abc'",
              NULL);
  CHECK(load_text(cs, "type2.yaml", "detect:\n  image_size: 22.5\n") == -1, "22.5 accepted");
  check_error("float for int", "type2.yaml:2:15:", "expected an integer, got '22.5'", NULL);
  CHECK(load_text(cs, "type3.yaml", "seed:\n  a: 1\n") == -1, "mapping accepted");
  check_error("mapping for int", "type3.yaml:2:3:", "seed: expected an integer, got a mapping",
              NULL);
  CHECK(load_text(cs, "type4.yaml", "detect:\n  topmin_max: lots\n") == -1, "lots accepted");
  check_error("float", "type4.yaml:2:15:", "detect.topmin_max: expected a number", NULL);
  CHECK(load_text(cs, "type4b.yaml", "detect:\n  topmin_max: 0x0.1p1\n") == -1, "hex float");
  check_error("hex float", "type4b.yaml:2:15:", "expected a number, got '0x0.1p1'", NULL);
  CHECK(load_text(cs, "type5.yaml", "dataset:\n  root: [a, b]\n") == -1, "list for string");
  check_error("list for string", "type5.yaml:2:9:", "dataset.root: expected a string", NULL);
  CHECK(load_text(cs, "type6.yaml", "detect:\n  r_list: [1, x]\n") == -1, "x in int list");
  check_error("list element", "type6.yaml:2:15:", "detect.r_list: element 2: expected an integer",
              NULL);
  CHECK(load_text(cs, "type7.yaml", "regions:\n  vis: maybe\n") == -1, "bool maybe");
  check_error("bool", "type7.yaml:2:8:", "regions.vis: expected true or false", NULL);
  CHECK(load_text(cs, "type8.yaml", "detect: 5\n") == -1, "scalar for a section");
  check_error("section as scalar", "type8.yaml:1:9:", "detect: expected a mapping", NULL);

  /* out of range */
  CHECK(load_text(cs, "range.yaml", "detect:\n  image_size: 5\n") == -1, "5 accepted");
  check_error("range", "range.yaml:2:15:", "detect.image_size: 5 is out of range [16, 4096]", NULL);
  CHECK(load_text(cs, "range2.yaml", "io:\n  max_bad_fraction: 1.5\n") == -1, "1.5 accepted");
  check_error("range float", "range2.yaml:2:21:", "io.max_bad_fraction", "out of range [0, 1]");
  CHECK(load_text(cs, "range3.yaml", "detect:\n  r_list: [1, 0]\n") == -1, "r 0 accepted");
  check_error("range element", "range3.yaml:2:15:", "detect.r_list: element 2 (0) is out of range",
              NULL);
  CHECK(load_text(cs, "range4.yaml", "seed: -1\n") == -1, "seed -1 accepted");
  check_error("negative seed", "range4.yaml:1:7:", "seed: -1 is out of range", NULL);
  CHECK(load_text(cs, "range5.yaml", "seed: 99999999999\n") == -1, "int overflow accepted");
  check_error("int overflow", "range5.yaml:1:7:", "expected an integer", NULL);

  /* enum: not among the allowed values, which are listed */
  CHECK(load_text(cs, "enum.yaml", "\ndevice: gpu\n") == -1, "gpu accepted");
  check_error("enum", "enum.yaml:2:9:", "device: 'gpu' is not one of: auto, cpu, cuda", NULL);
  CHECK(load_text(cs, "enum2.yaml", "dataset: {layout: coco}\n") == -1, "coco accepted");
  check_error("enum layout", "enum2.yaml:1:19:", "dataset.layout", "mvtec, btad, visa");

  /* list too long, too short, string too long */
  char text[4096];
  int n = snprintf(text, sizeof text, "detect:\n  layers: [");
  for (int i = 0; i < CFG_MAX_LIST + 1; i++)
    n += snprintf(text + n, sizeof text - (size_t)n, "%s1", i ? ", " : "");
  snprintf(text + n, sizeof text - (size_t)n, "]\n");
  CHECK(load_text(cs, "long.yaml", text) == -1, "33 layers accepted");
  check_error("list too long", "long.yaml:2:11:", "detect.layers: list too long (33 elements",
              NULL);
  CHECK(load_text(cs, "long2.yaml", "backbone:\n  std: [1, 1, 1, 1]\n") == -1, "4 stds accepted");
  check_error("std too long", "long2.yaml:2:8:", "backbone.std: list too long", "at most 3");
  CHECK(load_text(cs, "short.yaml", "detect:\n  r_list: []\n") == -1, "empty r_list accepted");
  check_error("list too short", "short.yaml:2:11:", "detect.r_list: list too short", NULL);
  char longname[CFG_NAME_LEN + 10];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  snprintf(text, sizeof text, "dataset:\n  categories: [a, %s]\n", longname);
  CHECK(load_text(cs, "longname.yaml", text) == -1, "long category name accepted");
  check_error("string too long", "longname.yaml:2:19:", "dataset.categories: element 2",
              "string too long");

  /* YAML syntax error: libyaml's problem and its position */
  CHECK(load_text(cs, "syntax.yaml", "detect:\n  r_list: [1, 3\nseed: 4\n") == -1,
        "syntax error accepted");
  check_error("syntax", "syntax.yaml:", "YAML syntax error", NULL);
  CHECK(load_text(cs, "syntax2.yaml", "a: b\n  c: d\n") == -1, "bad indentation accepted");
  check_error("syntax2", "syntax2.yaml:2:4:", "YAML syntax error", NULL);
  CHECK(load_text(cs, "toplist.yaml", "- a\n- b\n") == -1, "top-level list accepted");
  check_error("top-level list", "toplist.yaml:1:1:", "must be a mapping", NULL);

  /* unreadable file */
  snprintf(want, sizeof want, "%s/does_not_exist.yaml", tmp);
  config_defaults(cs);
  CHECK(config_load_file(cs, want) == -1, "missing file accepted");
  check_error("missing file", want, "No such file or directory", NULL);
}

static void test_set(config_set *cs) {
  config_defaults(cs);
  CHECK(config_set_kv(cs, "detect.r_list=[1,3]") == 0, "%s", ancd_error());
  CHECK(ints_eq(&cs->base.detect.r_list, 2, (int[]){1, 3}), "r_list n=%d",
        cs->base.detect.r_list.n);
  CHECK(config_set_kv(cs, "dataset.categories=[a,b]") == 0, "%s", ancd_error());
  CHECK(cs->base.dataset.categories.n == 2 && !strcmp(cs->base.dataset.categories.v[1], "b"),
        "categories");
  CHECK(config_set_kv(cs, "dataset.categories=screw") == 0, "%s", ancd_error());
  CHECK(cs->base.dataset.categories.n == 1 && !strcmp(cs->base.dataset.categories.v[0], "screw"),
        "a scalar is a list of one");
  CHECK(config_set_kv(cs, "seed=7") == 0 && cs->base.seed == 7, "seed %d", cs->base.seed);
  CHECK(config_set_kv(cs, "detect.topmin_max=0.1") == 0 && cs->base.detect.topmin_max == 0.1,
        "topmin_max");
  CHECK(config_set_kv(cs, "dataset.root=") == 0 && cs->base.dataset.root[0] == 0, "empty root");
  CHECK(config_set_kv(cs, "output.dir=my out/x") == 0 && !strcmp(cs->base.output.dir, "my out/x"),
        "dir '%s'", cs->base.output.dir);
  CHECK(config_set_kv(cs, "detect={image_size: 320, vis: whole_norm}") == 0, "%s", ancd_error());
  CHECK(cs->base.detect.image_size == 320 && !strcmp(cs->base.detect.vis, "whole_norm"),
        "section mapping");
  CHECK(strstr(cs->sources, "--set seed=7") != NULL, "sources '%s'", cs->sources);

  CHECK(config_set_kv(cs, "detect.image_size=abc") == -1, "abc accepted");
  check_error("--set type", "--set", "detect.image_size: expected an integer, got 'abc'", NULL);
  CHECK(cs->base.detect.image_size == 320, "failed --set changed the value");
  CHECK(config_set_kv(cs, "detect.r_lst=[1]") == -1, "unknown --set key accepted");
  check_error("--set unknown", "--set", "detect.r_lst: unknown key", "detect.r_list");
  CHECK(config_set_kv(cs, "precision=fp64") == -1, "fp64 accepted");
  check_error("--set enum", "--set", "fp32, tf32, bf16", NULL);
  CHECK(config_set_kv(cs, "seed=") == -1, "empty seed accepted");
  check_error("--set empty", "--set", "seed: expected an integer, got an empty value", NULL);
  CHECK(config_set_kv(cs, "seed") == -1, "no '=' accepted");
  check_error("--set syntax", "key.path=value", NULL, NULL);
  CHECK(config_set_kv(cs, "detect.r_list=[1,") == -1, "bad YAML accepted");
  check_error("--set YAML", "--set", "YAML syntax error", NULL);
}

static void test_overrides(config_set *cs) {
  const char *path;
  int rc = load_text(cs, "over.yaml",
                     "detect:\n"
                     "  image_size: 256\n"
                     "categories:\n"
                     "  screw:\n"
                     "    detect: {r_list: [1, 3]}\n"
                     "    regions:\n"
                     "      erode_kernel: 0\n"
                     "  pill: {seed: 9}\n");
  CHECK(rc == 0, "overrides: %s", ancd_error());
  CHECK(cs->n_overrides == 3, "n_overrides %d", cs->n_overrides);
  config screw, bottle, pill;
  CHECK(config_for_category(&screw, cs, "screw") == 0, "%s", ancd_error());
  CHECK(config_for_category(&bottle, cs, "bottle") == 0, "%s", ancd_error());
  CHECK(config_for_category(&pill, cs, "pill") == 0, "%s", ancd_error());
  CHECK(ints_eq(&screw.detect.r_list, 2, (int[]){1, 3}), "screw r_list n=%d",
        screw.detect.r_list.n);
  CHECK(screw.regions.erode_kernel == 0 && screw.detect.image_size == 256, "screw others");
  CHECK(screw.seed == 42, "screw got pill's seed");
  CHECK(ints_eq(&bottle.detect.r_list, 3, (int[]){1, 3, 5}) && bottle.regions.erode_kernel == 6,
        "bottle got screw's override");
  CHECK(pill.seed == 9 && ints_eq(&pill.detect.r_list, 3, (int[]){1, 3, 5}), "pill");
  CHECK(ints_eq(&cs->base.detect.r_list, 3, (int[]){1, 3, 5}), "base changed by override");
  CHECK(config_hash(&screw) != config_hash(&bottle), "override does not change the hash");

  /* a later --set of the same key for the same category wins; --set adds overrides too */
  CHECK(config_set_kv(cs, "categories.screw.detect.r_list=[5]") == 0, "%s", ancd_error());
  CHECK(config_set_kv(cs, "categories.bottle.detect.image_size=512") == 0, "%s", ancd_error());
  CHECK(config_for_category(&screw, cs, "screw") == 0 &&
            config_for_category(&bottle, cs, "bottle") == 0,
        "%s", ancd_error());
  CHECK(ints_eq(&screw.detect.r_list, 1, (int[]){5}), "screw r_list after --set");
  CHECK(bottle.detect.image_size == 512 && screw.detect.image_size == 256, "bottle image_size");
  CHECK(cs->n_overrides == 4, "n_overrides %d", cs->n_overrides);

  /* string values with spaces survive being stored as YAML text */
  CHECK(config_set_kv(cs, "categories.pill.dataset.mask_dir=\"gt masks: x\"") == 0, "%s",
        ancd_error());
  CHECK(config_for_category(&pill, cs, "pill") == 0 &&
            !strcmp(pill.dataset.mask_dir, "gt masks: x"),
        "mask_dir '%s'", pill.dataset.mask_dir);

  /* errors inside overrides are found at load time, with the line */
  CHECK(load_text(cs, "over_bad.yaml",
                  "categories:\n"
                  "  screw:\n"
                  "    detect:\n"
                  "      r_lst: [1, 3]\n") == -1,
        "unknown override key accepted");
  check_error("override unknown", "over_bad.yaml:4:7:", "categories.screw.detect.r_lst",
              "unknown key");
  CHECK(load_text(cs, "over_bad2.yaml", "categories:\n  screw:\n    seed: x\n") == -1,
        "bad override value accepted");
  check_error("override type", "over_bad2.yaml:3:11:", "categories.screw.seed",
              "expected an integer");
  CHECK(load_text(cs, "over_bad3.yaml", "categories: [screw]\n") == -1, "list of categories");
  check_error("override shape", "over_bad3.yaml:1:13:", "categories: expected a mapping", NULL);
  CHECK(load_text(cs, "over_bad4.yaml",
                  "categories:\n  screw:\n    dataset:\n"
                  "      categories: [a]\n") == -1,
        "dataset.categories per category accepted");
  check_error("override categories", "over_bad4.yaml:4:19:", "cannot be set per category", NULL);
  CHECK(load_text(cs, "over_bad5.yaml", "categories:\n  screw: 3\n") == -1, "scalar override");
  check_error("override scalar", "over_bad5.yaml:2:10:", "categories.screw: expected a mapping",
              NULL);
  path = "categories.screw.detect.image_size=2";
  config_defaults(cs);
  CHECK(config_set_kv(cs, path) == -1, "--set override out of range accepted");
  check_error("--set override", "--set", "categories.screw.detect.image_size", "out of range");
}

static void test_yaml_and_hash(config_set *cs) {
  char h1[17], h2[17];
  config_defaults(cs);
  config a = cs->base;
  config_defaults(cs);
  config b = cs->base;
  CHECK(config_hash(&a) == config_hash(&b), "same config, different hash");
  config_hash_hex(&a, h1);
  config_hash_hex(&b, h2);
  CHECK(strlen(h1) == 16 && !strcmp(h1, h2), "hex %s %s", h1, h2);
  char expect[17];
  snprintf(expect, sizeof expect, "%016llx", (unsigned long long)config_hash(&a));
  CHECK(!strcmp(h1, expect), "hex %s != %s", h1, expect);

  b.detect.r_list.v[2] = 7;
  CHECK(config_hash(&a) != config_hash(&b), "changed r_list, same hash");
  b = a;
  b.detect.topmin_max = 0.30000000000000004;
  CHECK(config_hash(&a) != config_hash(&b), "changed topmin_max by 1 ulp, same hash");

  /* The resolved YAML: sections in schema order, defaults printed plainly. */
  char *y = config_to_yaml(&a);
  CHECK(strstr(y, "dataset:\n  name: \"\"\n  layout: mvtec\n") == y, "starts with:\n%.80s", y);
  CHECK(strstr(y, "  r_list: [1, 3, 5]\n") != NULL, "r_list line missing");
  CHECK(strstr(y, "  topmin_max: 0.3\n") != NULL, "topmin_max line missing");
  CHECK(strstr(y, "  topmin_min: 0.0\n") != NULL, "topmin_min line missing");
  CHECK(strstr(y, "  categories: []\n") != NULL, "categories line missing");
  CHECK(strstr(y, "\nseed: 42\n") != NULL, "seed line missing");
  const char *d = strstr(y, "\ndetect:\n"), *r = strstr(y, "\nregions:\n");
  CHECK(d && r && d < r, "detect must come before regions");
  free(y);

  /* to_yaml -> load back -> the same config, byte for byte in YAML and hash */
  config_defaults(cs);
  const char *sets[] = {"detect.topmin_max=0.1",
                        "train.lr=1e-7",
                        "io.max_bad_fraction=0.3333333333333333",
                        "backbone.mean=[0.485, 0.456, 0.406]",
                        "backbone.std=[0.229, 0.224, 0.225]",
                        "dataset.root=\"/data/with space/and: colon\"",
                        "dataset.categories=[\"true\", \"12\", a-b, \"x y\", \"q\\\"uote\"]",
                        "dataset.name=\"-dash\"",
                        "dataset.mask_suffix=.png",
                        "regions.vis=true",
                        "seed=0"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    CHECK(config_set_kv(cs, sets[i]) == 0, "%s: %s", sets[i], ancd_error());
  CHECK(!strcmp(cs->base.dataset.categories.v[4], "q\"uote"), "escape '%s'",
        cs->base.dataset.categories.v[4]);
  config orig = cs->base;
  char *text = config_to_yaml(&orig);
  const char *path = write_yaml("resolved.yaml", text);
  config_defaults(cs);
  CHECK(config_load_file(cs, path) == 0, "resolved YAML does not load: %s\n%s", ancd_error(), text);
  char *text2 = config_to_yaml(&cs->base);
  CHECK(!strcmp(text, text2), "round trip differs:\n%s\n---\n%s", text, text2);
  CHECK(config_hash(&orig) == config_hash(&cs->base), "round trip changes the hash");
  CHECK(cs->base.train.lr == 1e-7 && cs->base.io.max_bad_fraction == 0.3333333333333333 &&
            cs->base.backbone.std.v[1] == 0.224,
        "floats not exact");
  CHECK(!strcmp(cs->base.dataset.categories.v[0], "true") &&
            !strcmp(cs->base.dataset.name, "-dash") &&
            !strcmp(cs->base.dataset.root, "/data/with space/and: colon"),
        "strings not exact");
  CHECK(strstr(text, "  topmin_max: 0.1\n") && strstr(text, "  lr: 1e-07\n"),
        "floats not printed shortest:\n%s", text);
  free(text);
  free(text2);
}

static void test_shipped_configs(config_set *cs) {
  char dir[1024], path[2048];
  snprintf(dir, sizeof dir, "%s/configs", test_source_dir());
  DIR *dp = opendir(dir);
  CHECK(dp != NULL, "cannot open %s", dir);
  if (!dp)
    return;
  int n = 0;
  for (struct dirent *e; (e = readdir(dp));) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    config_defaults(cs);
    CHECK(config_load_file(cs, path) == 0, "%s", ancd_error());
    n++;
  }
  closedir(dp);
  CHECK(n >= 5, "only %d configs", n);

  struct {
    const char *file, *layout, *normal;
    int rscin1;
  } want[] = {{"demo.yaml", "mvtec", "good", 2},
              {"mvtec_ad.yaml", "mvtec", "good", 2},
              {"mtd.yaml", "mtd", "good", 2},
              {"visa.yaml", "visa", "good", 8},
              {"btad.yaml", "btad", "ok", 2}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, want[i].file);
    config_defaults(cs);
    CHECK(config_load_file(cs, path) == 0, "%s", ancd_error());
    const config *c = &cs->base;
    CHECK(!strcmp(c->dataset.layout, want[i].layout), "%s: layout %s", want[i].file,
          c->dataset.layout);
    CHECK(!strcmp(c->dataset.normal_type, want[i].normal), "%s: normal_type %s", want[i].file,
          c->dataset.normal_type);
    CHECK(c->detect.rscin_windows.n == 3 && c->detect.rscin_windows.v[1] == want[i].rscin1,
          "%s: rscin_windows", want[i].file);
    CHECK(c->dataset.root[0] != 0, "%s: no dataset.root", want[i].file);
  }
  snprintf(path, sizeof path, "%s/mtd.yaml", dir);
  config_defaults(cs);
  if (config_load_file(cs, path) == 0)
    CHECK(!strcmp(cs->base.dataset.split_file, "mtd_train_filenames.txt") &&
              !strcmp(cs->base.dataset.name, "mtd"),
          "mtd split_file '%s' name '%s'", cs->base.dataset.split_file, cs->base.dataset.name);
}

static void test_doc(config_set *cs) {
  char *md = config_doc_markdown();
  config_defaults(cs);
  char *y = config_to_yaml(&cs->base);
  /* every key of the resolved YAML appears in the reference as `section.key` */
  const char *section = "";
  char sec[64] = "";
  int keys = 0;
  for (char *line = strtok(y, "\n"); line; line = strtok(NULL, "\n")) {
    char *colon = strchr(line, ':');
    if (!colon)
      continue;
    *colon = 0;
    if (colon[1] == 0 && line[0] != ' ') { /* a section heading */
      snprintf(sec, sizeof sec, "%s", line);
      section = sec;
      continue;
    }
    char key[160];
    if (line[0] == ' ')
      snprintf(key, sizeof key, "`%s.%s`", section, line + 2);
    else
      snprintf(key, sizeof key, "`%s`", line);
    CHECK(strstr(md, key) != NULL, "doc lacks %s", key);
    keys++;
  }
  CHECK(keys >= 40, "only %d keys", keys);
  CHECK(strstr(md, "### `detect`") && strstr(md, "| key | type | default | allowed |"),
        "doc headings");
  CHECK(strstr(md, "| `detect.r_list` | int list | `[1, 3, 5]` |"), "r_list row");
  CHECK(strstr(md, "`auto`, `cpu`, `cuda`"), "device allowed values");
  free(y);
  free(md);
}

/* Where each value came from, for errors found after loading (a block beyond the depth). */
static void test_origins(config_set *cs) {
  CHECK(load_text(cs, "origins.yaml",
                  "train:\n  epochs: 3\n  mask_layers: 14\ncategories:\n  screw:\n"
                  "    train: {mask_layers: 2}\n") == 0,
        "%s", ancd_error());
  const char *o = config_origin(cs, NULL, "train.mask_layers");
  CHECK(o && strstr(o, "origins.yaml:3:16"), "origin '%s'", o ? o : "(null)");
  o = config_origin(cs, "screw", "train.mask_layers");
  CHECK(o && strstr(o, "origins.yaml:6:"), "category origin '%s'", o ? o : "(null)");
  o = config_origin(cs, "bottle", "train.mask_layers");
  CHECK(o && strstr(o, "origins.yaml:3:16"), "other category's origin '%s'", o ? o : "(null)");
  o = config_origin(cs, NULL, "train.lr");
  CHECK(o && !strcmp(o, "schema default of train.lr"), "default origin '%s'", o ? o : "(null)");
  CHECK(config_set_kv(cs, "train.lr=0.1") == 0, "%s", ancd_error());
  o = config_origin(cs, NULL, "train.lr");
  CHECK(o && !strcmp(o, "--set"), "--set origin '%s'", o ? o : "(null)");
  CHECK(config_origin(cs, NULL, "train.nope") == NULL, "unknown key has an origin");
}

int main(void) {
  tmp = test_tmpdir("test_config");
  config_set *cs = malloc(sizeof *cs);
  if (!cs)
    return 1;
  test_defaults(cs);
  test_valid_file(cs);
  test_errors(cs);
  test_set(cs);
  test_overrides(cs);
  test_yaml_and_hash(cs);
  test_shipped_configs(cs);
  test_doc(cs);
  test_origins(cs);
  free(cs);
  return test_done("test_config");
}
