/* Dataset layouts (io/dataset_layouts.c) on small trees written here: manifest order, types,
 * labels, splits and masks exactly; dotfiles and non-image files ignored; errors that name the
 * path. Validation (io/dataset.c): corrupt, truncated and mismatched files reported and removed,
 * the category failing only above max_bad_fraction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#include "dataset.h"
#include "error.h"
#include "image.h"
#include "log.h"
#include "test_util.h"

static char root[512]; /* the tree of the current case */

static const char *at(const char *rel) { /* root/rel (a rotating static buffer) */
  static char buf[8][4096];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
  return buf[k];
}

static void mkdirs_rel(const char *rel) {
  if (test_mkdirs(at(rel)) != 0) {
    fprintf(stderr, "cannot create %s\n", at(rel));
    exit(1);
  }
}

/* A real w x h PNG (c channels, pixel value v) at root/rel. */
static void png(const char *rel, int w, int h, int c, int v) {
  char path[4096];
  snprintf(path, sizeof path, "%s", at(rel));
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  *strrchr(parent, '/') = 0;
  image_u8 img;
  if (test_mkdirs(parent) != 0 || image_alloc(&img, w, h, c) != 0) {
    fprintf(stderr, "cannot create %s\n", path);
    exit(1);
  }
  memset(img.data, v, (size_t)w * h * c);
  if (image_write_png(path, &img) != 0) {
    fprintf(stderr, "%s\n", ancd_error());
    exit(1);
  }
  image_free(&img);
}

static void text(const char *rel, const char *s) {
  if (test_write_file(at(rel), s, strlen(s)) != 0) {
    fprintf(stderr, "cannot write %s\n", at(rel));
    exit(1);
  }
}

static void rm(const char *rel) {
  if (unlink(at(rel)) != 0) {
    fprintf(stderr, "cannot remove %s\n", at(rel));
    exit(1);
  }
}

static cfg_dataset dataset(const char *layout) {
  cfg_dataset d;
  memset(&d, 0, sizeof d);
  snprintf(d.layout, sizeof d.layout, "%s", layout);
  snprintf(d.root, sizeof d.root, "%s", root);
  strcpy(d.normal_type, "good");
  strcpy(d.mask_suffix, "_mask.png");
  return d;
}

static void new_tree(const char *name) { snprintf(root, sizeof root, "%s", test_tmpdir(name)); }

/* One expected manifest row: path and mask relative to root ("" = no mask). */
typedef struct {
  const char *path, *type;
  int split, label;
  const char *mask;
} row;

static void check_manifest(const ds_manifest *m, const row *want, int n, const char *what) {
  CHECK(m->n == n, "%s: %d items, expected %d", what, m->n, n);
  for (int i = 0; i < n && i < m->n; i++) {
    const ds_item *it = &m->items[i];
    CHECK(strcmp(it->path, at(want[i].path)) == 0, "%s item %d: path %s, expected %s", what, i,
          it->path, at(want[i].path));
    CHECK(strcmp(it->type, want[i].type) == 0, "%s item %d: type %s, expected %s", what, i,
          it->type, want[i].type);
    CHECK(it->split == want[i].split, "%s item %d (%s): split %d", what, i, it->path, it->split);
    CHECK(it->label == want[i].label, "%s item %d (%s): label %d", what, i, it->path, it->label);
    const char *mask = want[i].mask[0] ? at(want[i].mask) : "";
    CHECK(strcmp(it->mask, mask) == 0, "%s item %d: mask '%s', expected '%s'", what, i, it->mask,
          mask);
  }
}

static int has(const char *haystack, const char *needle) { return strstr(haystack, needle) != 0; }

/* Scanning must fail with a message holding each of the given strings. */
static void check_scan_error(const cfg_dataset *d, const char *cat, const char *what,
                             const char *s1, const char *s2) {
  ds_manifest m;
  int rc = ds_scan(&m, d, cat);
  const char *e = ancd_error();
  CHECK(rc == -1, "%s: scan succeeded", what);
  CHECK(has(e, s1), "%s: message '%s' lacks '%s'", what, e, s1);
  if (s2)
    CHECK(has(e, s2), "%s: message '%s' lacks '%s'", what, e, s2);
  CHECK(m.n == 0 && m.items == NULL, "%s: manifest not emptied", what);
  ds_free(&m);
}

static void test_mvtec(void) {
  new_tree("dataset_mvtec");
  png("bottle/train/good/001.png", 8, 6, 3, 100);
  png("bottle/train/good/000.png", 8, 6, 3, 100);
  png("bottle/test/good/001.png", 8, 6, 3, 100);
  png("bottle/test/good/000.png", 8, 6, 3, 100);
  png("bottle/test/broken/b.png", 8, 6, 3, 100);
  png("bottle/test/broken/a.png", 8, 6, 3, 100);
  png("bottle/test/crack/x.png", 8, 6, 3, 100);
  png("bottle/test/crack/C.PNG", 8, 6, 3, 100); /* upper-case extension; 'C' < 'x' */
  png("bottle/test/hole/h.png", 8, 6, 3, 100);  /* after good: good sorts among the types */
  png("bottle/test/broken/.hidden.png", 8, 6, 3, 100);
  text("bottle/test/broken/readme.txt", "not an image");
  text("bottle/test/good/Thumbs.db", "x");
  png("bottle/ground_truth/broken/a_mask.png", 8, 6, 1, 255);
  png("bottle/ground_truth/broken/b_mask.png", 8, 6, 1, 255);
  png("bottle/ground_truth/crack/x_mask.png", 8, 6, 1, 255);
  png("bottle/ground_truth/crack/C_mask.png", 8, 6, 1, 255);
  png("bottle/ground_truth/hole/h_mask.png", 8, 6, 1, 255);
  png("cable/test/good/0.png", 8, 6, 3, 100);
  mkdirs_rel("notes");        /* no test/: not a category */
  mkdirs_rel(".git/test");    /* dotfolder */
  text("license.txt", "x");   /* a file */
  png("aaa.png", 4, 4, 1, 0); /* an image file at the root is not a category */

  cfg_dataset d = dataset("mvtec");
  cfg_names cats;
  CHECK(ds_list_categories(&cats, &d) == 0, "list: %s", ancd_error());
  CHECK(cats.n == 2 && !strcmp(cats.v[0], "bottle") && !strcmp(cats.v[1], "cable"),
        "categories: %d found, expected bottle, cable", cats.n);

  const row want[] = {
      {"bottle/test/broken/a.png", "broken", DS_TEST, 1, "bottle/ground_truth/broken/a_mask.png"},
      {"bottle/test/broken/b.png", "broken", DS_TEST, 1, "bottle/ground_truth/broken/b_mask.png"},
      {"bottle/test/crack/C.PNG", "crack", DS_TEST, 1, "bottle/ground_truth/crack/C_mask.png"},
      {"bottle/test/crack/x.png", "crack", DS_TEST, 1, "bottle/ground_truth/crack/x_mask.png"},
      {"bottle/test/good/000.png", "good", DS_TEST, 0, ""},
      {"bottle/test/good/001.png", "good", DS_TEST, 0, ""},
      {"bottle/test/hole/h.png", "hole", DS_TEST, 1, "bottle/ground_truth/hole/h_mask.png"},
      {"bottle/train/good/000.png", "good", DS_TRAIN, 0, ""},
      {"bottle/train/good/001.png", "good", DS_TRAIN, 0, ""},
  };
  ds_manifest m;
  CHECK(ds_scan(&m, &d, "bottle") == 0, "scan bottle: %s", ancd_error());
  CHECK(!strcmp(m.category, "bottle") && m.has_masks == 1, "category name / has_masks");
  check_manifest(&m, want, 9, "mvtec bottle");

  /* The summary `ancd info` prints. */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ds_report r = {.n_checked = 9, .n_bad = 1, .bad = &(ds_bad_file){"x/y.png", "truncated"}};
  ds_print_summary(f, &m, &r);
  fclose(f);
  CHECK(has(buf, "category bottle: 7 test (2 normal, 5 anomalous), 2 train, 5 masks"),
        "summary header:\n%s", buf);
  CHECK(has(buf, "crack") && has(buf, "validated 9 files: 1 bad") && has(buf, "x/y.png: truncated"),
        "summary body:\n%s", buf);
  char line[256];
  snprintf(line, sizeof line, "  %-24s %6d %6d %6d", "good", 2, 2, 0);
  CHECK(has(buf, line), "summary lacks the good row '%s':\n%s", line, buf);
  free(buf);
  ds_free(&m);

  CHECK(ds_scan(&m, &d, "cable") == 0 && m.n == 1 && m.items[0].label == 0,
        "cable: one good test image (%s)", ancd_error());
  ds_free(&m);

  /* dataset.categories: only those, in the given order; a missing one is named. */
  d.categories.n = 1;
  strcpy(d.categories.v[0], "cable");
  CHECK(ds_list_categories(&cats, &d) == 0 && cats.n == 1 && !strcmp(cats.v[0], "cable"),
        "given categories");
  d.categories.n = 2;
  strcpy(d.categories.v[1], "nope");
  CHECK(ds_list_categories(&cats, &d) == -1 && has(ancd_error(), at("nope")) &&
            has(ancd_error(), "not found"),
        "missing category: '%s'", ancd_error());
  d.categories.n = 0;
  check_scan_error(&d, "nope", "scan of a missing category", at("nope"), "not found");

  /* Missing mask: names the image and the expected mask. */
  rm("bottle/ground_truth/crack/x_mask.png");
  check_scan_error(&d, "bottle", "missing mask", at("bottle/test/crack/x.png"),
                   at("bottle/ground_truth/crack/x_mask.png"));
  png("bottle/ground_truth/crack/x_mask.png", 8, 6, 1, 255);

  /* A type folder without images (only a dotfile and a text file). */
  text("bottle/test/scratch/.keep", "");
  text("bottle/test/scratch/notes.txt", "x");
  check_scan_error(&d, "bottle", "empty type", at("bottle/test/scratch"), "empty type folder");
  rm("bottle/test/scratch/.keep");
  rm("bottle/test/scratch/notes.txt");
  CHECK(rmdir(at("bottle/test/scratch")) == 0, "rmdir");

  /* A category with no test images, and one without test/. */
  mkdirs_rel("empty/test");
  check_scan_error(&d, "empty", "empty category", at("empty/test"), "no test images");
  check_scan_error(&d, "notes", "category without test/", at("notes/test"), "not found");

  /* The root itself. */
  cfg_dataset bad_root = d;
  strcat(bad_root.root, "/missing");
  CHECK(ds_list_categories(&cats, &bad_root) == -1 && has(ancd_error(), bad_root.root),
        "missing root: '%s'", ancd_error());
  check_scan_error(&bad_root, "bottle", "missing root", bad_root.root, "not found");
  cfg_dataset bad_layout = d;
  strcpy(bad_layout.layout, "coco");
  CHECK(ds_list_categories(&cats, &bad_layout) == -1 && has(ancd_error(), "coco"),
        "unknown layout: '%s'", ancd_error());
}

static void test_btad(void) {
  new_tree("dataset_btad");
  png("01/test/ok/0000.bmp", 8, 6, 3, 100); /* PNG bytes with a .bmp name: decoding is by content */
  png("01/test/ko/0002.png", 8, 6, 3, 100);
  png("01/test/ko/0000.bmp", 8, 6, 3, 100);
  png("01/test/ko/0001.png", 8, 6, 3, 100);
  png("01/train/ok/0005.bmp", 8, 6, 3, 100);
  png("01/ground_truth/ko/0000.png", 8, 6, 1, 255);
  png("01/ground_truth/ko/0001.bmp", 8, 6, 1, 255);
  png("01/ground_truth/ko/0002_mask.png", 8, 6, 1, 255);
  png("02/test/ok/0000.png", 8, 6, 3, 100);
  cfg_dataset d = dataset("btad");
  strcpy(d.normal_type, "ok");
  strcpy(d.mask_suffix, "");
  cfg_names cats;
  CHECK(ds_list_categories(&cats, &d) == 0 && cats.n == 2 && !strcmp(cats.v[0], "01") &&
            !strcmp(cats.v[1], "02"),
        "btad categories");
  const row want[] = {
      {"01/test/ko/0000.bmp", "ko", DS_TEST, 1, "01/ground_truth/ko/0000.png"},
      {"01/test/ko/0001.png", "ko", DS_TEST, 1, "01/ground_truth/ko/0001.bmp"},
      {"01/test/ko/0002.png", "ko", DS_TEST, 1, "01/ground_truth/ko/0002_mask.png"},
      {"01/test/ok/0000.bmp", "ok", DS_TEST, 0, ""},
      {"01/train/ok/0005.bmp", "ok", DS_TRAIN, 0, ""},
  };
  ds_manifest m;
  CHECK(ds_scan(&m, &d, "01") == 0, "scan btad: %s", ancd_error());
  check_manifest(&m, want, 5, "btad 01");
  ds_free(&m);
  /* The schema's default normal type "good" means "ok" for btad. */
  strcpy(d.normal_type, "good");
  CHECK(ds_scan(&m, &d, "01") == 0, "scan btad: %s", ancd_error());
  check_manifest(&m, want, 5, "btad 01 with normal_type good");
  ds_free(&m);
  rm("01/ground_truth/ko/0001.bmp");
  check_scan_error(&d, "01", "btad missing mask", at("01/test/ko/0001.png"),
                   at("01/ground_truth/ko/0001.png"));
}

static void test_visa(void) {
  new_tree("dataset_visa");
  /* CRLF line ends and a quoted field, as spreadsheet tools write them. */
  text(
      "split_csv/1cls.csv",
      "object,split,label,image,mask\r\n"
      "capsules,train,normal,capsules/Data/Images/Normal/0001.JPG,\r\n"
      "candle,test,anomaly,candle/Data/Images/Anomaly/005.JPG,candle/Data/Masks/Anomaly/005.png\r\n"
      "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\r\n"
      "candle,test,normal,\"candle/Data/Images/Normal/0100.JPG\",\r\n"
      "candle,test,anomaly,candle/Data/Images/Anomaly/001.JPG,candle/Data/Masks/Anomaly/001.png\r\n"
      "capsules,test,normal,capsules/Data/Images/Normal/0002.JPG,\r\n");
  png("candle/Data/Masks/Anomaly/005.png", 8, 6, 1, 255);
  png("candle/Data/Masks/Anomaly/001.png", 8, 6, 1, 255);
  cfg_dataset d = dataset("visa");
  cfg_names cats;
  CHECK(ds_list_categories(&cats, &d) == 0, "visa list: %s", ancd_error());
  CHECK(cats.n == 2 && !strcmp(cats.v[0], "candle") && !strcmp(cats.v[1], "capsules"),
        "visa categories sorted");
  const row want[] = {
      {"candle/Data/Images/Anomaly/005.JPG", "anomaly", DS_TEST, 1,
       "candle/Data/Masks/Anomaly/005.png"},
      {"candle/Data/Images/Normal/0100.JPG", "good", DS_TEST, 0, ""},
      {"candle/Data/Images/Anomaly/001.JPG", "anomaly", DS_TEST, 1,
       "candle/Data/Masks/Anomaly/001.png"},
      {"candle/Data/Images/Normal/0000.JPG", "good", DS_TRAIN, 0, ""},
  };
  ds_manifest m;
  CHECK(ds_scan(&m, &d, "candle") == 0, "scan visa: %s", ancd_error());
  check_manifest(&m, want, 4, "visa candle (CSV order)");
  ds_free(&m);
  d.categories.n = 1;
  strcpy(d.categories.v[0], "pcb1");
  CHECK(ds_list_categories(&cats, &d) == -1 && has(ancd_error(), "pcb1") &&
            has(ancd_error(), at("split_csv/1cls.csv")),
        "visa missing category: '%s'", ancd_error());
  d.categories.n = 0;
  rm("candle/Data/Masks/Anomaly/001.png");
  check_scan_error(&d, "candle", "visa missing mask", at("candle/Data/Images/Anomaly/001.JPG"),
                   at("candle/Data/Masks/Anomaly/001.png"));
  strcpy(d.split_file, "other.csv");
  check_scan_error(&d, "candle", "visa missing CSV", at("other.csv"), NULL);
}

static void test_mtd(void) {
  new_tree("dataset_mtd");
  const char *files[] = {"MT_Blowhole/Imgs/b1", "MT_Blowhole/Imgs/b0", "MT_Free/Imgs/f0",
                         "MT_Free/Imgs/f1",     "MT_Free/Imgs/f2",     "MT_Uneven/Imgs/u0"};
  for (int i = 0; i < 6; i++) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s.jpg", files[i]);
    png(rel, 8, 6, 1, 100);
    snprintf(rel, sizeof rel, "%s.png", files[i]);
    png(rel, 8, 6, 1, 0);
  }
  text("MT_Free/Imgs/Thumbs.db", "x");
  mkdirs_rel("other/Imgs");
  text("train.txt", "f2.jpg\nf0.jpg\n\n");
  cfg_dataset d = dataset("mtd");
  strcpy(d.split_file, "train.txt");
  cfg_names cats;
  CHECK(ds_list_categories(&cats, &d) == 0 && cats.n == 1 && !strcmp(cats.v[0], "MTD"),
        "mtd has one category MTD");
  const row want[] = {
      {"MT_Blowhole/Imgs/b0.jpg", "blowhole", DS_TEST, 1, "MT_Blowhole/Imgs/b0.png"},
      {"MT_Blowhole/Imgs/b1.jpg", "blowhole", DS_TEST, 1, "MT_Blowhole/Imgs/b1.png"},
      {"MT_Free/Imgs/f1.jpg", "good", DS_TEST, 0, ""},
      {"MT_Uneven/Imgs/u0.jpg", "uneven", DS_TEST, 1, "MT_Uneven/Imgs/u0.png"},
      {"MT_Free/Imgs/f0.jpg", "good", DS_TRAIN, 0, ""},
      {"MT_Free/Imgs/f2.jpg", "good", DS_TRAIN, 0, ""},
  };
  ds_manifest m;
  CHECK(ds_scan(&m, &d, "MTD") == 0, "scan mtd: %s", ancd_error());
  CHECK(!strcmp(m.category, "MTD") && m.has_masks, "mtd category");
  check_manifest(&m, want, 6, "mtd");
  ds_free(&m);
  check_scan_error(&d, "Free", "mtd other category", "Free", "MTD");

  text("train.txt", "f2.jpg\nmissing.jpg\n");
  check_scan_error(&d, "MTD", "mtd train list entry missing", at("train.txt:2"),
                   at("MT_Free/Imgs/missing.jpg"));
  text("train.txt", "f2.jpg\n");
  rm("MT_Uneven/Imgs/u0.png");
  check_scan_error(&d, "MTD", "mtd missing mask", at("MT_Uneven/Imgs/u0.jpg"),
                   at("MT_Uneven/Imgs/u0.png"));
  strcpy(d.split_file, "nope.txt");
  check_scan_error(&d, "MTD", "mtd missing train list", at("nope.txt"), NULL);
}

static void test_folder(void) {
  new_tree("dataset_folder");
  png("widget/good/g0.png", 8, 6, 3, 100);
  png("widget/scratch/s0.png", 8, 6, 3, 100);
  png("widget/dent/d1.jpg", 8, 6, 3, 100);
  png("widget/dent/d0.png", 8, 6, 3, 100);
  png("widget/masks/scratch/s0_mask.png", 8, 6, 1, 255);
  png("widget/masks/dent/d0_mask.png", 8, 6, 1, 255);
  png("widget/masks/dent/d1_mask.png", 8, 6, 1, 255);
  png("widget/train/t1.png", 8, 6, 3, 100);
  png("widget/train/t0.png", 8, 6, 3, 100);
  png("gadget/hole/h.png", 8, 6, 3, 100);
  cfg_dataset d = dataset("folder");
  strcpy(d.mask_dir, "masks");
  cfg_names cats;
  CHECK(ds_list_categories(&cats, &d) == 0 && cats.n == 2 && !strcmp(cats.v[0], "gadget") &&
            !strcmp(cats.v[1], "widget"),
        "folder categories");
  const row want[] = {
      {"widget/dent/d0.png", "dent", DS_TEST, 1, "widget/masks/dent/d0_mask.png"},
      {"widget/dent/d1.jpg", "dent", DS_TEST, 1, "widget/masks/dent/d1_mask.png"},
      {"widget/good/g0.png", "good", DS_TEST, 0, ""},
      {"widget/scratch/s0.png", "scratch", DS_TEST, 1, "widget/masks/scratch/s0_mask.png"},
      {"widget/train/t0.png", "good", DS_TRAIN, 0, ""},
      {"widget/train/t1.png", "good", DS_TRAIN, 0, ""},
  };
  ds_manifest m;
  CHECK(ds_scan(&m, &d, "widget") == 0, "scan folder: %s", ancd_error());
  CHECK(m.has_masks == 1, "folder with mask_dir has masks");
  check_manifest(&m, want, 6, "folder widget");
  ds_free(&m);
  rm("widget/masks/dent/d1_mask.png");
  check_scan_error(&d, "widget", "folder missing mask", at("widget/dent/d1.jpg"),
                   at("widget/masks/dent/d1_mask.png"));
  /* No mask folder, no normal folder: a category of anomalies only, without masks. */
  strcpy(d.mask_dir, "");
  const row want_g[] = {{"gadget/hole/h.png", "hole", DS_TEST, 1, ""}};
  CHECK(ds_scan(&m, &d, "gadget") == 0, "scan gadget: %s", ancd_error());
  CHECK(m.has_masks == 0, "folder without mask_dir has no masks");
  check_manifest(&m, want_g, 1, "folder gadget");
  ds_free(&m);
  mkdirs_rel("nothing/good");
  check_scan_error(&d, "nothing", "folder empty normal folder", at("nothing/good"), "empty");
}

/* A mask is named after the image's stem, the name up to its first dot (fs_stem, as AnomalyNCD's
 * crop names; anomalyncd_spec §11.29): a.b.png has the mask a_mask.png, not a.b_mask.png. */
static void test_mask_stem(void) {
  new_tree("dataset_mask_stem");
  png("part/test/good/g.png", 8, 6, 3, 100);
  png("part/test/crack/a.b.png", 8, 6, 3, 100);
  png("part/ground_truth/crack/a_mask.png", 8, 6, 1, 255);
  png("part/ground_truth/crack/a.b_mask.png", 8, 6, 1, 255); /* not this one */
  cfg_dataset d = dataset("mvtec");
  const row want[] = {
      {"part/test/crack/a.b.png", "crack", DS_TEST, 1, "part/ground_truth/crack/a_mask.png"},
      {"part/test/good/g.png", "good", DS_TEST, 0, ""},
  };
  ds_manifest m;
  CHECK(ds_scan(&m, &d, "part") == 0, "scan: %s", ancd_error());
  check_manifest(&m, want, 2, "mask of a dotted name");
  ds_free(&m);
}

static void test_anomalies(void) {
  new_tree("dataset_anomalies");
  png("bottle/broken_large/001.png", 8, 8, 3, 1);
  png("bottle/broken_large/000.png", 8, 8, 3, 1);
  png("bottle/contamination/000.png", 8, 8, 3, 1);
  text("bottle/contamination/.DS_Store", "x");
  png("screw/scratch_head/000.png", 8, 8, 3, 1);
  text("README.md", "x");
  cfg_dataset d = dataset("anomalies");
  cfg_names cats;
  CHECK(ds_list_categories(&cats, &d) == 0 && cats.n == 2 && !strcmp(cats.v[0], "bottle") &&
            !strcmp(cats.v[1], "screw"),
        "anomalies categories");
  const row want[] = {
      {"bottle/broken_large/000.png", "broken_large", DS_TEST, 1, ""},
      {"bottle/broken_large/001.png", "broken_large", DS_TEST, 1, ""},
      {"bottle/contamination/000.png", "contamination", DS_TEST, 1, ""},
  };
  ds_manifest m;
  CHECK(ds_scan(&m, &d, "bottle") == 0, "scan anomalies: %s", ancd_error());
  CHECK(m.has_masks == 0, "anomalies have no masks");
  check_manifest(&m, want, 3, "anomalies bottle");
  ds_free(&m);
  mkdirs_rel("screw/empty_type");
  check_scan_error(&d, "screw", "anomalies empty type", at("screw/empty_type"), "empty");
}

/* A real 16x16 baseline JPEG, written with libjpeg. */
static void jpeg(const char *rel, size_t keep_bytes) {
  unsigned char *buf = NULL;
  unsigned long len = 0;
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buf, &len);
  cinfo.image_width = 16;
  cinfo.image_height = 16;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  unsigned char rowbuf[16 * 3];
  for (int y = 0; y < 16; y++) {
    for (int x = 0; x < 48; x++)
      rowbuf[x] = (unsigned char)(x * 5 + y * 7);
    JSAMPROW r = rowbuf;
    jpeg_write_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  if (test_write_file(at(rel), buf, keep_bytes && keep_bytes < len ? keep_bytes : len) != 0)
    exit(1);
  free(buf);
}

/* A copy of the first n bytes of a file. */
static void truncated_copy(const char *dst_rel, const char *src_rel, long n) {
  FILE *f = fopen(at(src_rel), "rb");
  char buf[1 << 16];
  size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f)
    fclose(f);
  if (len == 0 || test_write_file(at(dst_rel), buf, (size_t)n < len ? (size_t)n : len) != 0)
    exit(1);
}

static const ds_bad_file *find_bad(const ds_report *r, const char *path) {
  for (int i = 0; i < r->n_bad; i++)
    if (!strcmp(r->bad[i].path, path))
      return &r->bad[i];
  return NULL;
}

static void test_validate(void) {
  new_tree("dataset_validate");
  png("val/test/good/0.png", 40, 30, 3, 100);
  png("val/test/good/3.png", 40, 30, 3, 100);
  png("val/test/good/4.png", 40, 30, 1, 100);
  jpeg("val/test/good/5.jpg", 0);
  text("val/test/good/1.png", "\x89PNG\r\n\x1a\n this is not a PNG stream at all.....");
  truncated_copy("val/test/good/2.png", "val/test/good/0.png", 60);
  jpeg("val/test/good/6.jpg", 300);
  png("val/test/bad/a.png", 40, 30, 3, 100);
  png("val/test/bad/b.png", 40, 30, 3, 100);
  png("val/ground_truth/bad/a_mask.png", 40, 30, 1, 255);
  png("val/ground_truth/bad/b_mask.png", 5, 5, 1, 255);
  png("val/train/good/t.png", 40, 30, 3, 100);
  cfg_dataset d = dataset("mvtec");
  const char *bad[] = {"val/test/good/1.png", "val/test/good/2.png", "val/test/good/6.jpg",
                       "val/ground_truth/bad/b_mask.png"};
  const char *kept[] = {"val/test/bad/a.png",  "val/test/good/0.png", "val/test/good/3.png",
                        "val/test/good/4.png", "val/test/good/5.jpg", "val/train/good/t.png"};
  for (int pass = 0; pass < 2; pass++) {
    double max_bad = pass == 0 ? 0.0 : 0.5;
    ds_manifest m;
    ds_report r;
    CHECK(ds_scan(&m, &d, "val") == 0, "scan val: %s", ancd_error());
    CHECK(m.n == 10, "val has %d items, expected 10", m.n);
    int rc = ds_validate(&m, &r, max_bad);
    CHECK(r.n_checked == 10 && r.n_bad == 4, "max_bad %g: %d checked, %d bad", max_bad, r.n_checked,
          r.n_bad);
    if (pass == 0)
      CHECK(rc == -1 && !strcmp(ancd_error(), "category val: 4 of 10 files bad "
                                              "(> io.max_bad_fraction=0)"),
            "failure message: '%s'", ancd_error());
    else
      CHECK(rc == 0, "4 of 10 bad passes max_bad_fraction 0.5: %s", ancd_error());
    for (int i = 0; i < 4; i++) {
      const ds_bad_file *b = find_bad(&r, at(bad[i]));
      CHECK(b != NULL, "bad file %s not reported", at(bad[i]));
      if (b)
        CHECK(b->reason[0] && strncmp(b->reason, b->path, strlen(b->path)) != 0,
              "reason of %s: '%s'", b->path, b->reason);
    }
    const ds_bad_file *mm = find_bad(&r, at("val/ground_truth/bad/b_mask.png"));
    if (mm)
      CHECK(has(mm->reason, "5x5") && has(mm->reason, "40x30"), "mask size reason: '%s'",
            mm->reason);
    CHECK(m.n == 6, "%d items kept, expected 6", m.n);
    for (int i = 0; i < 6 && i < m.n; i++)
      CHECK(!strcmp(m.items[i].path, at(kept[i])), "kept item %d: %s, expected %s", i,
            m.items[i].path, at(kept[i]));
    ds_report_free(&r);
    ds_free(&m);
  }
}

int main(void) {
  log_set_level(LOG_QUIET);
  test_mvtec();
  test_btad();
  test_visa();
  test_mtd();
  test_folder();
  test_mask_stem();
  test_anomalies();
  test_validate();
  return test_done("test_dataset");
}
