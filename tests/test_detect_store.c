/* Outputs of `ancd detect` (DESIGN "Files", musc §A.9, AnomalyNCD README "Get Anomaly Maps"):
 * maps.h5 read back dataset by dataset and attribute by attribute, its completion marker,
 * metrics.json round trips (NaN <-> null), the AD tables' exact text, 8-bit PNG maps with one
 * joint min-max, jet heat maps, and `ancd report`. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "detect_store.h"
#include "error.h"
#include "h5store.h"
#include "image.h"
#include "output_paths.h"
#include "stage_key.h"
#include "test_util.h"

static char tmp[4096];

static int contains(const char *s, const char *part) { return s && strstr(s, part) != NULL; }
static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* The whole file as a string (malloc'ed), NULL when unreadable. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *s = calloc(1, 1 << 16);
  size_t n = fread(s, 1, (1 << 16) - 1, f);
  s[n] = '\0';
  fclose(f);
  return s;
}

/* ---- maps.h5 --------------------------------------------------------------------------------- */

enum { N = 5, S = 6 };

static float map_value(int i, int k) { return (float)(i * 1000 + k) * 0.25f - 7.0f; }

typedef struct {
  float maps[N * S * S];
  uint8_t masks[N * S * S], labels[N];
  double scores[N], rscin[N];
  const char *paths[N], *types[N];
  config cfg;
} record_data;

static void make_record(record_data *d, maps_record *r) {
  static const char *paths[N] = {"/d/cat/test/crack/000.png", "/d/cat/test/crack/001.png",
                                 "/d/cat/test/good/000.png", "/d/cat/test/good/001.png",
                                 "/d/cat/test/hole/000.png"};
  static const char *types[N] = {"crack", "crack", "good", "good", "hole"};
  config_set *cs = malloc(sizeof *cs);
  config_defaults(cs);
  d->cfg = cs->base;
  d->cfg.seed = 1234; /* not the default, so the stored YAML is this config's */
  free(cs);
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < S * S; k++) {
      d->maps[i * S * S + k] = map_value(i, k);
      d->masks[i * S * S + k] = (uint8_t)((i + k) % 3 == 0);
    }
    d->labels[i] = strcmp(types[i], "good") != 0;
    d->scores[i] = 0.1 * i + 1e-12;
    d->rscin[i] = 1.0 / (i + 3);
    d->paths[i] = paths[i];
    d->types[i] = types[i];
  }
  *r = (maps_record){.n = N,
                     .size = S,
                     .maps = d->maps,
                     .first = 0,
                     .n_own = N,
                     .scores = d->scores,
                     .scores_rscin = d->rscin,
                     .labels = d->labels,
                     .paths = d->paths,
                     .types = d->types,
                     .masks = d->masks,
                     .cfg = &d->cfg,
                     .stage_key = "00112233445566ff",
                     .backbone = "timm ViT: dim 192, depth 12",
                     .category = "cat"};
}

static void check_attr_str(h5s_file *f, const char *obj, const char *name, const char *want) {
  char got[65536] = "";
  CHECK(h5s_attr_get_str(f, obj, name, got, sizeof got) == 0, "%s", ancd_error());
  CHECK(!strcmp(got, want), "%s attribute %s = '%.200s', want '%.200s'", obj, name, got, want);
}

static void check_attr_i64(h5s_file *f, const char *name, int64_t want) {
  int64_t got = -1;
  CHECK(h5s_attr_get_i64(f, "/", name, &got) == 0, "%s", ancd_error());
  CHECK(got == want, "attribute %s = %lld, want %lld", name, (long long)got, (long long)want);
}

static void test_maps_h5(void) {
  record_data *d = calloc(1, sizeof *d);
  maps_record r;
  make_record(d, &r);
  char dir[4200], path[4300];
  snprintf(dir, sizeof dir, "%s/out/cat", tmp);
  snprintf(path, sizeof path, "%s/maps.h5", dir);

  /* Not valid: no file, then a file still being written (.tmp), then a file that is not HDF5. */
  CHECK(stage_file_check(dir, MAPS_FILE, NULL) == H5S_MISSING, "valid before anything was written");
  CHECK(test_mkdirs(dir) == 0, "mkdir %s", dir);
  h5s_file f;
  CHECK(h5s_create(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(stage_file_check(dir, MAPS_FILE, NULL) == H5S_MISSING, "valid while only the .tmp exists");
  h5s_abort(&f);
  CHECK(test_write_file(path, "not hdf5", 8) == 0, "write %s", path);
  CHECK(stage_file_check(dir, MAPS_FILE, NULL) == -1 && contains(ancd_error(), "not an HDF5 file"),
        "a foreign file: %s", ancd_error());
  remove(path);

  CHECK(maps_h5_write(dir, &r, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(stage_file_check(dir, MAPS_FILE, NULL) == 0, "not valid after the write: %s", ancd_error());
  const char *want_hash = "00112233445566ff";
  char hash[STAGE_KEY_LEN] = "";
  CHECK(stage_file_check(dir, MAPS_FILE, hash) == 0 && !strcmp(hash, want_hash),
        "stage key '%s', want '%s' (%s)", hash, want_hash, ancd_error());

  CHECK(h5s_open(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  uint64_t dims[3] = {0}, zero[3] = {0}, full[3] = {N, S, S};
  CHECK(h5s_dataset_dims(&f, "maps", dims, 3) == 3 && dims[0] == N && dims[1] == S && dims[2] == S,
        "maps dims %llu %llu %llu", (unsigned long long)dims[0], (unsigned long long)dims[1],
        (unsigned long long)dims[2]);
  float maps[N * S * S];
  uint8_t masks[N * S * S], labels[N];
  double scores[N], rscin[N];
  CHECK(h5s_read_slab(&f, "maps", H5S_F32, zero, full, maps) == 0, "%s", ancd_error());
  CHECK(!memcmp(maps, d->maps, sizeof maps), "maps differ");
  CHECK(h5s_read_slab(&f, "masks", H5S_U8, zero, full, masks) == 0, "%s", ancd_error());
  CHECK(!memcmp(masks, d->masks, sizeof masks), "masks differ");
  CHECK(h5s_read_slab(&f, "scores", H5S_F64, zero, full, scores) == 0, "%s", ancd_error());
  CHECK(!memcmp(scores, d->scores, sizeof scores), "scores differ");
  CHECK(h5s_read_slab(&f, "scores_rscin", H5S_F64, zero, full, rscin) == 0, "%s", ancd_error());
  CHECK(!memcmp(rscin, d->rscin, sizeof rscin), "scores_rscin differ");
  CHECK(h5s_read_slab(&f, "labels", H5S_U8, zero, full, labels) == 0, "%s", ancd_error());
  CHECK(!memcmp(labels, d->labels, sizeof labels), "labels differ");
  CHECK(labels[0] == 1 && labels[2] == 0 && labels[4] == 1, "labels %d %d %d", labels[0], labels[2],
        labels[4]);
  char **s = NULL;
  int n = 0;
  CHECK(h5s_read_strings(&f, "paths", &s, &n) == 0 && n == N, "%s", ancd_error());
  for (int i = 0; i < n; i++)
    CHECK(!strcmp(s[i], d->paths[i]), "path %d = %s", i, s[i]);
  h5s_free_strings(s, n);
  CHECK(h5s_read_strings(&f, "types", &s, &n) == 0 && n == N, "%s", ancd_error());
  for (int i = 0; i < n; i++)
    CHECK(!strcmp(s[i], d->types[i]), "type %d = %s", i, s[i]);
  h5s_free_strings(s, n);

  char *yaml = config_to_yaml(&d->cfg);
  CHECK(contains(yaml, "seed: 1234"), "the YAML does not hold the seed");
  check_attr_str(&f, "/", "config", yaml);
  free(yaml);
  check_attr_str(&f, "/", "stage_key", want_hash);
  check_attr_str(&f, "/", "ancd_version", ANCD_VERSION);
  check_attr_str(&f, "/", "backbone", "timm ViT: dim 192, depth 12");
  check_attr_str(&f, "/", "method", "musc");
  check_attr_str(&f, "/", "category", "cat");
  check_attr_i64(&f, "image_size", d->cfg.detect.image_size);
  check_attr_i64(&f, "map_size", S);
  check_attr_i64(&f, "n_images", N);
  check_attr_i64(&f, "complete", 1);
  const char *datasets[] = {"maps", "scores", "scores_rscin", "labels", "paths", "types", "masks"};
  for (int i = 0; i < 7; i++)
    CHECK(h5s_attr_exists(&f, datasets[i], "description"), "%s has no description", datasets[i]);
  h5s_close(&f);

  /* Without masks there is no /masks. */
  r.masks = NULL;
  snprintf(dir, sizeof dir, "%s/out/nomask", tmp);
  snprintf(path, sizeof path, "%s/maps.h5", dir);
  CHECK(maps_h5_write(dir, &r, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(h5s_open(&f, path, MPI_COMM_WORLD) == 0, "%s", ancd_error());
  CHECK(!h5s_exists(&f, "masks") && h5s_exists(&f, "maps"), "masks written without masks");
  h5s_close(&f);

  /* A NaN names the image; nothing is left behind. */
  snprintf(dir, sizeof dir, "%s/out/nan", tmp);
  d->maps[3 * S * S + 7] = NAN;
  CHECK(maps_h5_write(dir, &r, MPI_COMM_WORLD) < 0, "NaN map accepted");
  CHECK(contains(ancd_error(), "/d/cat/test/good/001.png") && contains(ancd_error(), "NaN"), "%s",
        ancd_error());
  CHECK(stage_file_check(dir, MAPS_FILE, NULL) == H5S_MISSING, "a failed write left a maps.h5");
  d->maps[3 * S * S + 7] = 0;
  /* Rows that do not cover the images. */
  r.n_own = N - 1;
  CHECK(maps_h5_write(dir, &r, MPI_COMM_WORLD) < 0, "missing rows accepted");
  CHECK(contains(ancd_error(), "hold 4 rows in all but N = 5"), "%s", ancd_error());
  snprintf(path, sizeof path, "%s/maps.h5.tmp", dir);
  CHECK(!exists(path), "a failed write left %s", path);
  free(d);
}

/* ---- metrics.json ---------------------------------------------------------------------------- */

static int same_metric(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static void test_metrics_json(void) {
  char dir[4200], path[4300];
  snprintf(dir, sizeof dir, "%s/out/bottle", tmp);
  snprintf(path, sizeof path, "%s/metrics.json", dir);
  CHECK(test_mkdirs(dir) == 0, "mkdir %s", dir);
  const ad_metrics m = {0.1 + 0.2, 2.0 / 3.0, 1.0, 0.98765432109876543, NAN, 1e-300, NAN};
  CHECK(metrics_json_write(dir, &m, 83, "0123456789abcdef", "only \"one\" class\nof pixels") == 0,
        "%s", ancd_error());
  char *text = slurp(path);
  CHECK(contains(text, "\"category\": \"bottle\""), "%s", text);
  CHECK(contains(text, "\"n_images\": 83"), "%s", text);
  CHECK(contains(text, "\"stage_key\": \"0123456789abcdef\""), "%s", text);
  CHECK(contains(text, "\"f1max_px\": null") && contains(text, "\"aupro\": null"), "%s", text);
  /* 0.1 + 0.2 needs 17 digits, so the whole file has 17 (one precision per document). */
  CHECK(contains(text, "\"auroc_cls\": 0.30000000000000004"), "%s", text);
  CHECK(contains(text, "\"f1max_cls\": 0.66666666666666663,") && contains(text, "\"ap_cls\": 1.0,"),
        "%s", text);
  CHECK(contains(text, "\"reason\": \"only \\\"one\\\" class\\nof pixels\""), "%s", text);
  free(text);
  ad_metrics back;
  memset(&back, 0x55, sizeof back);
  CHECK(metrics_json_read(dir, &back) == 0, "%s", ancd_error());
  const double *a = &m.auroc_cls, *b = &back.auroc_cls;
  for (int k = 0; k < 7; k++)
    CHECK(same_metric(a[k], b[k]), "metric %d: wrote %.17g, read %.17g", k, a[k], b[k]);

  /* Values exact at 15 digits are written with 15. */
  const ad_metrics short_m = {0.95, 0.5, 1.0, 0.875, 0.1, NAN, 0.3};
  CHECK(metrics_json_write(dir, &short_m, 5, NULL, NULL) == 0, "%s", ancd_error());
  text = slurp(path);
  CHECK(contains(text, "\"auroc_cls\": 0.95,") && contains(text, "\"auroc_px\": 0.875,") &&
            contains(text, "\"f1max_px\": 0.1,") && contains(text, "\"aupro\": 0.3,") &&
            contains(text, "\"reason\": \"\"\n}\n"),
        "%s", text);
  free(text);

  /* A file as the hand-written writer made it (integers, 16 digits) reads back the same. */
  const char *legacy =
      "{\n  \"category\": \"bottle\",\n  \"n_images\": 83,\n  \"config_hash\": \"x\",\n"
      "  \"auroc_cls\": 0.30000000000000004,\n  \"f1max_cls\": 0.6666666666666666,\n"
      "  \"ap_cls\": 1,\n  \"auroc_px\": 0.9876543210987654,\n  \"f1max_px\": null,\n"
      "  \"ap_px\": 1e-300,\n  \"aupro\": null,\n  \"reason\": \"r\\u00e9\"\n}\n";
  CHECK(test_write_file(path, legacy, strlen(legacy)) == 0, "write");
  memset(&back, 0x55, sizeof back);
  CHECK(metrics_json_read(dir, &back) == 0, "%s", ancd_error());
  for (int k = 0; k < 7; k++)
    CHECK(same_metric(a[k], b[k]), "legacy metric %d: wrote %.17g, read %.17g", k, a[k], b[k]);

  /* Broken and incomplete files name the file and what is wrong. */
  const char *broken = "{\"auroc_cls\": 0.5, \"f1max_cls\" 0.5}";
  CHECK(test_write_file(path, broken, strlen(broken)) == 0, "write");
  CHECK(metrics_json_read(dir, &back) < 0, "broken file accepted");
  CHECK(contains(ancd_error(), path) && contains(ancd_error(), "':'"), "%s", ancd_error());
  const char *partial = "{\"auroc_cls\": 0.5, \"ap_cls\": null}";
  CHECK(test_write_file(path, partial, strlen(partial)) == 0, "write");
  CHECK(metrics_json_read(dir, &back) < 0, "incomplete file accepted");
  CHECK(contains(ancd_error(), path) && contains(ancd_error(), "f1max_cls"), "%s", ancd_error());
  const char *wrong_type = "{\"auroc_cls\": \"0.5\"}";
  CHECK(test_write_file(path, wrong_type, strlen(wrong_type)) == 0, "write");
  CHECK(metrics_json_read(dir, &back) < 0, "a string metric accepted");
  CHECK(contains(ancd_error(), "\"auroc_cls\" is not a number or null"), "%s", ancd_error());
  const char *twice = "{\"auroc_cls\": 0.5, \"auroc_cls\": 0.7}";
  CHECK(test_write_file(path, twice, strlen(twice)) == 0, "write");
  CHECK(metrics_json_read(dir, &back) < 0, "a duplicate key accepted");
  CHECK(contains(ancd_error(), "duplicate object key"), "%s", ancd_error());
  CHECK(test_write_file(path, "[0.5]", 5) == 0, "write");
  CHECK(metrics_json_read(dir, &back) < 0 && contains(ancd_error(), "not a JSON object"), "%s",
        ancd_error());

  /* JSON text is UTF-8: a category folder name that is not is refused, naming the file. */
  snprintf(dir, sizeof dir, "%s/out/bad\xff", tmp);
  CHECK(test_mkdirs(dir) == 0, "mkdir %s", dir);
  CHECK(metrics_json_write(dir, &m, 1, "h", NULL) < 0, "a non-UTF-8 category written");
  CHECK(contains(ancd_error(), "bad\xff/metrics.json: cannot encode as JSON"), "%s", ancd_error());
  snprintf(dir, sizeof dir, "%s/out/absent", tmp);
  CHECK(metrics_json_read(dir, &back) < 0 && contains(ancd_error(), "absent/metrics.json"), "%s",
        ancd_error());
}

/* ---- tables ---------------------------------------------------------------------------------- */

static void test_tables(void) {
  char root[4200], path[4300];
  snprintf(root, sizeof root, "%s/tables", tmp);
  const char *cats[] = {"bottle", "cable"};
  const ad_metrics m[2] = {{0.99123, 0.95, 0.987, 0.97, 0.6, 0.55, 0.9},
                           {0.8, 0.85, 0.91, NAN, NAN, NAN, NAN}};
  CHECK(tables_write(root, "mvtec", cats, m, 2, NULL, 0) == 0, "%s", ancd_error());
  snprintf(path, sizeof path, "%s/tables.md", root);
  char *md = slurp(path);
  CHECK(contains(md, "| Category | AUROC-cls | F1-max-cls | AP-cls | AUROC-segm | F1-max-segm | "
                     "AP-segm | PRO-segm |\n"),
        "%s", md);
  CHECK(contains(md, "\n| bottle | 99.12 | 95.00 | 98.70 | 97.00 | 60.00 | 55.00 | 90.00 |\n"),
        "%s", md);
  CHECK(contains(md, "\n| cable | 80.00 | 85.00 | 91.00 |  |  |  |  |\n"), "%s", md);
  /* Means over the categories that have the value: pixel means are bottle's alone. */
  CHECK(contains(md, "\n| **Mean** | 89.56 | 90.00 | 94.85 | 97.00 | 60.00 | 55.00 | 90.00 |\n"),
        "%s", md);
  free(md);
  snprintf(path, sizeof path, "%s/tables.csv", root);
  char *csv = slurp(path);
  CHECK(csv && !strcmp(csv, "Category,AUROC-cls,F1-max-cls,AP-cls,AUROC-segm,F1-max-segm,AP-segm,"
                            "PRO-segm\n"
                            "bottle,99.12,95.00,98.70,97.00,60.00,55.00,90.00\n"
                            "cable,80.00,85.00,91.00,,,,\n"
                            "Mean,89.56,90.00,94.85,97.00,60.00,55.00,90.00\n"),
        "tables.csv:\n%s", csv);
  free(csv);
  snprintf(path, sizeof path, "%s/tables.csv.tmp", root);
  CHECK(!exists(path), "temp file left behind");
}

/* ---- PNG maps -------------------------------------------------------------------------------- */

enum { PN = 4, PS = 8 };

/* Values -1 + q/256 with q in [0, 1024]: every step of the scaling is exact in float, so the
 * expected byte floor(255 q / 1024) is computed independently in integers. */
static int q_of(int i, int k) {
  if (i == 1 && k == 3 * PS + 5)
    return 1024; /* the global maximum */
  if (i == 2 && k == 0)
    return 0;                           /* the global minimum */
  return 5 + (i * 131 + k * 17) % 1000; /* byte >= 1 and <= 249 */
}
static float q_value(int q) { return -1.0f + (float)q / 256.0f; }

static void make_maps(float *maps) {
  for (int i = 0; i < PN; i++)
    for (int k = 0; k < PS * PS; k++)
      maps[i * PS * PS + k] = q_value(q_of(i, k));
}

static const char *png_paths[PN] = {"/d/cat/test/crack/000.JPG", "/d/cat/test/crack/001.JPG",
                                    "/d/cat/test/good/000.jpg", "/d/cat/test/good/a.b.png"};
static const char *png_types[PN] = {"crack", "crack", "good", "good"};
static const char *png_files[PN] = {"crack/000.png", "crack/001.png", "good/000.png",
                                    "good/a.b.png"};

static void test_export_maps(void) {
  float maps[PN * PS * PS];
  make_maps(maps);
  char dir[4200], path[4400];
  snprintf(dir, sizeof dir, "%s/anomaly_maps", tmp);
  CHECK(export_maps_png(dir, "cat", maps, PN, PS, png_paths, png_types) == 0, "%s", ancd_error());
  int n255 = 0, n0 = 0;
  for (int i = 0; i < PN; i++) {
    snprintf(path, sizeof path, "%s/cat/%s", dir, png_files[i]);
    image_u8 img = {0};
    CHECK(image_load(&img, path, 0) == 0, "%s", ancd_error());
    if (!img.data)
      continue;
    CHECK(img.w == PS && img.h == PS && img.c == 1, "%s is %dx%dx%d, want gray %dx%d", path, img.w,
          img.h, img.c, PS, PS);
    int bad = 0, own_max = 0;
    for (int k = 0; k < PS * PS && img.c == 1; k++) {
      int want = 255 * q_of(i, k) / 1024;
      bad += img.data[k] != want;
      n255 += img.data[k] == 255;
      n0 += img.data[k] == 0;
      own_max = img.data[k] > own_max ? img.data[k] : own_max;
    }
    CHECK(bad == 0, "%s: %d pixels differ from floor(255 q / 1024)", path, bad);
    if (i != 1) /* per-map scaling would give 255 here; the joint one does not */
      CHECK(own_max < 250, "%s: max %d", path, own_max);
    image_free(&img);
  }
  CHECK(n255 == 1 && n0 == 1, "%d pixels at 255 and %d at 0, want 1 each (joint min-max)", n255,
        n0);

  /* Two images that would write one file; a NaN names its image. */
  const char *clash[2] = {"/d/x/good/7.jpg", "/d/x/good/7.png"};
  const char *good2[2] = {"good", "good"};
  CHECK(export_maps_png(dir, "clash", maps, 2, PS, clash, good2) < 0, "clash accepted");
  CHECK(contains(ancd_error(), "7.jpg") && contains(ancd_error(), "7.png"), "%s", ancd_error());
  maps[PS * PS + 9] = NAN;
  CHECK(export_maps_png(dir, "cat", maps, PN, PS, png_paths, png_types) < 0, "NaN accepted");
  CHECK(contains(ancd_error(), "crack/001.JPG") && contains(ancd_error(), "NaN"), "%s",
        ancd_error());
}

/* ---- heat maps ------------------------------------------------------------------------------- */

static int pixel_is(const image_u8 *img, int k, const uint8_t *rgb) {
  return !memcmp(img->data + 3 * k, rgb, 3);
}

static void test_heatmaps(void) {
  float maps[PN * PS * PS];
  make_maps(maps);
  const uint8_t labels[PN] = {1, 1, 0, 0}; /* crack anomalous, good normal */
  char path[4400], lut_path[4200], single[4200], whole[4200], blend[4200], none[4200];
  snprintf(lut_path, sizeof lut_path, "%s/tests/golden/resize/jet_lut.png", test_source_dir());
  image_u8 lut = {0};
  CHECK(image_load(&lut, lut_path, 3) == 0 && lut.w == 256, "%s", ancd_error());
  if (!lut.data)
    return;
  const uint8_t dark_blue[3] = {0, 0, 128}, dark_red[3] = {128, 0, 0}; /* cv2 JET at 0 and 255 */
  CHECK(!memcmp(lut.data, dark_blue, 3) && !memcmp(lut.data + 765, dark_red, 3), "jet LUT ends");

  /* single_norm: only anomalous images, each scaled by its own min and max. */
  snprintf(single, sizeof single, "%s/heat_single", tmp);
  CHECK(heatmaps_write(single, "single_norm", maps, NULL, labels, PN, PS, png_paths, png_types) ==
            0,
        "%s", ancd_error());
  for (int i = 0; i < PN; i++) {
    snprintf(path, sizeof path, "%s/%s", single, png_files[i]);
    CHECK(exists(path) == labels[i], "%s: exists %d, label %d", path, exists(path), labels[i]);
    if (!labels[i])
      continue;
    image_u8 img = {0};
    CHECK(image_load(&img, path, 0) == 0 && img.c == 3 && img.w == PS && img.h == PS,
          "%s: %s %dx%dx%d", path, ancd_error(), img.w, img.h, img.c);
    int lo = 1025, hi = -1, bad = 0;
    for (int k = 0; k < PS * PS; k++) {
      lo = q_of(i, k) < lo ? q_of(i, k) : lo;
      hi = q_of(i, k) > hi ? q_of(i, k) : hi;
    }
    for (int k = 0; k < PS * PS && img.c == 3; k++) {
      /* (v - lo) / (hi - lo) * 255 with v, lo, hi on the 1/256 grid: compare in double and
       * accept the neighbour index only where float rounding could reach it. */
      double t = 255.0 * (q_of(i, k) - lo) / (hi - lo);
      int want = (int)t, r = (int)round(t), close = fabs(t - r) < 1e-4;
      int ok = pixel_is(&img, k, lut.data + 3 * want);
      if (close) /* float rounding may land on either side of an integer */
        ok |= pixel_is(&img, k, lut.data + 3 * r) ||
              (r > 0 && pixel_is(&img, k, lut.data + 3 * (r - 1)));
      bad += !ok;
      if (q_of(i, k) == hi)
        CHECK(pixel_is(&img, k, dark_red), "%s: own max is not dark red", path);
      if (q_of(i, k) == lo)
        CHECK(pixel_is(&img, k, dark_blue), "%s: own min is not dark blue", path);
    }
    CHECK(bad == 0, "%s: %d pixels with the wrong jet colour", path, bad);
    image_free(&img);
  }

  /* whole_norm: every image, one min-max over all; the exact LUT index of every pixel. */
  snprintf(whole, sizeof whole, "%s/heat_whole", tmp);
  CHECK(heatmaps_write(whole, "whole_norm", maps, NULL, labels, PN, PS, png_paths, png_types) == 0,
        "%s", ancd_error());
  for (int i = 0; i < PN; i++) {
    snprintf(path, sizeof path, "%s/%s", whole, png_files[i]);
    image_u8 img = {0};
    CHECK(image_load(&img, path, 0) == 0 && img.c == 3 && img.w == PS, "%s: %s", path,
          ancd_error());
    int bad = 0, n_red = 0;
    for (int k = 0; k < PS * PS && img.c == 3; k++) {
      bad += !pixel_is(&img, k, lut.data + 3 * (255 * q_of(i, k) / 1024));
      n_red += pixel_is(&img, k, dark_red);
    }
    CHECK(bad == 0, "%s: %d pixels with the wrong jet colour", path, bad);
    CHECK(n_red == (i == 1), "%s: %d pixels at the top colour", path, n_red);
    image_free(&img);
  }

  /* Blended 0.5 over the image: round(0.5 jet + 0.5 * 100). */
  uint8_t *rgb = malloc(PN * PS * PS * 3);
  memset(rgb, 100, PN * PS * PS * 3);
  snprintf(blend, sizeof blend, "%s/heat_blend", tmp);
  CHECK(heatmaps_write(blend, "whole_norm", maps, rgb, labels, PN, PS, png_paths, png_types) == 0,
        "%s", ancd_error());
  free(rgb);
  const uint8_t red_over_gray[3] = {114, 50, 50}, blue_over_gray[3] = {50, 50, 114};
  image_u8 img = {0};
  snprintf(path, sizeof path, "%s/crack/001.png", blend);
  CHECK(image_load(&img, path, 3) == 0 && pixel_is(&img, 3 * PS + 5, red_over_gray),
        "%s: blended max pixel", path);
  image_free(&img);
  snprintf(path, sizeof path, "%s/good/000.png", blend);
  CHECK(image_load(&img, path, 3) == 0 && pixel_is(&img, 0, blue_over_gray),
        "%s: blended min pixel", path);
  image_free(&img);

  /* none writes nothing; an unknown mode is an error. */
  snprintf(none, sizeof none, "%s/heat_none", tmp);
  CHECK(heatmaps_write(none, "none", maps, NULL, labels, PN, PS, png_paths, png_types) == 0, "%s",
        ancd_error());
  CHECK(!exists(none), "none created %s", none);
  CHECK(heatmaps_write(none, "jet", maps, NULL, labels, PN, PS, png_paths, png_types) < 0 &&
            contains(ancd_error(), "'jet'"),
        "%s", ancd_error());
  image_free(&lut);
}

/* ---- ancd report ----------------------------------------------------------------------------- */

static void test_report(void) {
  char data[4200], out[4200], dir[4400], path[4500], set_root[4300], set_out[4300];
  snprintf(data, sizeof data, "%s/report_data", tmp);
  snprintf(out, sizeof out, "%s/report_out", tmp);
  const char *cats[] = {"bottle", "cable", "zipper"};
  for (int i = 0; i < 3; i++) {
    snprintf(dir, sizeof dir, "%s/%s/test/good", data, cats[i]);
    CHECK(test_mkdirs(dir) == 0, "mkdir %s", dir);
  }

  /* The output folders: dataset.name, or the layout when it is empty. */
  config_set *cs = malloc(sizeof *cs);
  config_defaults(cs);
  CHECK(strlen(out) < sizeof cs->base.output.dir, "%s too long", out);
  memcpy(cs->base.output.dir, out, strlen(out) + 1);
  output_category_dir(dir, sizeof dir, &cs->base, "cable");
  snprintf(path, sizeof path, "%s/mvtec/cable", out);
  CHECK(!strcmp(dir, path), "category dir %s, want %s", dir, path);
  snprintf(cs->base.dataset.name, sizeof cs->base.dataset.name, "mine");
  output_dataset_dir(dir, sizeof dir, &cs->base);
  snprintf(path, sizeof path, "%s/mine", out);
  CHECK(!strcmp(dir, path), "dataset dir %s, want %s", dir, path);
  free(cs);

  snprintf(set_root, sizeof set_root, "dataset.root=%s", data);
  snprintf(set_out, sizeof set_out, "%s", out);
  char *argv[] = {"report", "-q",    "--set",
                  set_root, "--set", "dataset.categories=[bottle, cable, zipper]",
                  "-o",     set_out, NULL};
  int argc = 8;
  CHECK(job_report(argc, argv) == ANCD_EXIT_INPUT, "no metrics at all is not an error");

  const ad_metrics m[2] = {{0.99123, 0.95, 0.987, 0.97, 0.6, 0.55, 0.9},
                           {0.8, 0.85, 0.91, NAN, NAN, NAN, NAN}};
  for (int i = 0; i < 2; i++) {
    snprintf(dir, sizeof dir, "%s/mvtec/%s", out, cats[i]);
    CHECK(test_mkdirs(dir) == 0 && metrics_json_write(dir, &m[i], 10, "h", "") == 0, "%s",
          ancd_error());
  }
  CHECK(job_report(argc, argv) == ANCD_EXIT_OK, "report failed with zipper missing");
  snprintf(path, sizeof path, "%s/mvtec/tables.csv", out);
  char *csv = slurp(path);
  CHECK(contains(csv, "\nbottle,99.12,95.00,98.70,97.00,60.00,55.00,90.00\n"
                      "cable,80.00,85.00,91.00,,,,\n"
                      "Mean,89.56,90.00,94.85,97.00,60.00,55.00,90.00\n"),
        "%s", csv);
  CHECK(!contains(csv, "zipper"), "the missing category has a row");
  free(csv);

  /* Without the dataset, the categories are the output folders holding a metrics.json. */
  snprintf(path, sizeof path, "%s/mvtec/tables.md", out);
  remove(path);
  snprintf(set_root, sizeof set_root, "dataset.root=%s/absent", data);
  char *argv2[] = {"report", "-q", "--set", set_root, "-o", set_out, NULL};
  CHECK(job_report(6, argv2) == ANCD_EXIT_OK, "report without the dataset failed");
  char *md = slurp(path);
  CHECK(contains(md, "\n| bottle | 99.12 |") && contains(md, "\n| cable | 80.00 |"), "%s", md);
  free(md);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  snprintf(tmp, sizeof tmp, "%s", test_tmpdir("detect_store"));
  test_maps_h5();
  test_metrics_json();
  test_tables();
  test_export_maps();
  test_heatmaps();
  test_report();
  MPI_Finalize();
  return test_done("detect_store");
}
