/* Labeled base sets (io/base_set.h, anomalyncd_spec §4): an AeBAD_crop-style folder and a
 * base.h5 read back by the one reader (classes sorted, crops sorted by class and name, pixels and
 * the masks' grey values kept), a folder written from a base.h5 reads back the same, and the
 * errors name the file: missing mask, empty class folder, unreadable image, mask of another size,
 * not a base set, truncated base.h5, missing path.
 * Also a helper of tests/test_base.sh:
 *   test_base_set summary PATH   prints the set: "classes C", "class k name crops", "crops N",
 *                                "max_crops_per_image M", "min_foreground F" (fewest >= 128
 *                                mask pixels in a crop), "source h5|folder"
 *   test_base_set blobs MASK N   adds N 6x6 foreground squares in the mask's corners (N = 0
 *                                clears the mask) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base_set.h"
#include "error.h"
#include "h5store.h"
#include "image.h"
#include "test_util.h"

#define PATH_LEN 4096

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

/* A w x h image of c channels whose pixel values follow seed. */
static void write_png(const char *path, int w, int h, int c, int seed) {
  image_u8 img;
  CHECK(image_alloc(&img, w, h, c) == 0, "alloc");
  for (int k = 0; k < w * h * c; k++)
    img.data[k] = (uint8_t)(seed * 37 + k * 11);
  char dir[PATH_LEN];
  PATHF(dir, "%s", path);
  *strrchr(dir, '/') = '\0';
  CHECK(test_mkdirs(dir) == 0 && image_write_png(path, &img) == 0, "write %s: %s", path,
        ancd_error());
  image_free(&img);
}

/* The pixels write_png(…, seed) wrote. */
static int pixels_are(const uint8_t *p, int w, int h, int c, int seed) {
  for (int k = 0; k < w * h * c; k++)
    if (p[k] != (uint8_t)(seed * 37 + k * 11))
      return 0;
  return 1;
}

static void pair(const char *root, const char *cls, const char *name, int w, int h, int seed) {
  char p[PATH_LEN];
  PATHF(p, "%s/images/%s/%s", root, cls, name);
  write_png(p, w, h, 3, seed);
  PATHF(p, "%s/masks/%s/%s", root, cls, name);
  write_png(p, w, h, 1, seed + 100);
}

/* base_set_load fails with a message holding both parts. */
static void check_fails(const char *path, const char *part1, const char *part2) {
  base_set b;
  int rc = base_set_load(&b, path);
  CHECK(rc < 0 && contains(ancd_error(), part1) && contains(ancd_error(), part2),
        "%s: rc %d, message '%s', want '%s' and '%s'", path, rc, ancd_error(), part1, part2);
  CHECK(b.n == 0 && b.crops == NULL && b.class_names == NULL, "a failed load left data");
  printf("rejected: %s\n", ancd_error());
}

static void test_folder(const char *tmp) {
  char root[PATH_LEN];
  PATHF(root, "%s/crop", tmp);
  pair(root, "scratch", "b_crop0.png", 5, 4, 1);
  pair(root, "scratch", "a_crop0.png", 3, 3, 2);
  pair(root, "dent", "x_crop1.png", 2, 6, 3);
  char extra[PATH_LEN];
  PATHF(extra, "%s/images/dent/notes.txt", root); /* not an image: ignored */
  CHECK(test_write_file(extra, "x", 1) == 0, "write %s", extra);
  base_set b;
  CHECK(base_set_load(&b, root) == 0, "%s", ancd_error());
  CHECK(b.n_classes == 2 && b.n == 3 && !b.from_h5 && !b.stage_key[0], "%d classes, %d crops",
        b.n_classes, b.n);
  if (b.n_classes == 2 && b.n == 3) {
    CHECK(!strcmp(b.class_names[0], "dent") && !strcmp(b.class_names[1], "scratch"), "'%s' '%s'",
          b.class_names[0], b.class_names[1]);
    const char *names[3] = {"dent/x_crop1.png", "scratch/a_crop0.png", "scratch/b_crop0.png"};
    const int cls[3] = {0, 1, 1}, w[3] = {2, 3, 5}, h[3] = {6, 3, 4}, seed[3] = {3, 2, 1};
    for (int i = 0; i < 3; i++) {
      const base_crop *c = &b.crops[i];
      CHECK(!strcmp(c->name, names[i]) && c->cls == cls[i] && c->w == w[i] && c->h == h[i],
            "crop %d: %s class %d %dx%d", i, c->name, c->cls, c->w, c->h);
      CHECK(pixels_are(c->rgb, c->w, c->h, 3, seed[i]), "crop %d: RGB pixels differ", i);
      CHECK(pixels_are(c->mask, c->w, c->h, 1, seed[i] + 100), "crop %d: mask grey values", i);
      CHECK(contains(c->source, root) && contains(c->source, names[i]), "source %s", c->source);
    }
  }
  base_set_free(&b);
  CHECK(b.n == 0 && b.crops == NULL, "base_set_free");

  /* Errors, each naming the file. */
  char p[PATH_LEN], bad[PATH_LEN];
  PATHF(bad, "%s/missing_mask", tmp);
  pair(bad, "dent", "x.png", 4, 4, 1);
  pair(bad, "dent", "y.png", 4, 4, 2);
  PATHF(p, "%s/masks/dent/y.png", bad);
  CHECK(remove(p) == 0, "remove %s", p);
  check_fails(bad, "missing mask", p);

  PATHF(bad, "%s/empty_class", tmp);
  pair(bad, "dent", "x.png", 4, 4, 1);
  PATHF(p, "%s/images/hole", bad);
  CHECK(test_mkdirs(p) == 0, "mkdir");
  PATHF(p, "%s/masks/hole", bad);
  CHECK(test_mkdirs(p) == 0, "mkdir");
  check_fails(bad, "class 'hole' has no crops", "images/hole");

  PATHF(bad, "%s/unreadable", tmp);
  pair(bad, "dent", "x.png", 4, 4, 1);
  PATHF(p, "%s/images/dent/x.png", bad);
  CHECK(test_write_file(p, "not a png", 9) == 0, "write");
  check_fails(bad, p, "");

  PATHF(bad, "%s/mask_size", tmp);
  pair(bad, "dent", "x.png", 4, 4, 1);
  PATHF(p, "%s/masks/dent/x.png", bad);
  write_png(p, 5, 4, 1, 7);
  check_fails(bad, p, "mask is 5x4");

  PATHF(bad, "%s/no_masks", tmp);
  PATHF(p, "%s/images/dent/x.png", bad);
  write_png(p, 4, 4, 3, 1);
  check_fails(bad, bad, "not a base set");

  PATHF(bad, "%s/no_classes", tmp);
  PATHF(p, "%s/images", bad);
  CHECK(test_mkdirs(p) == 0, "mkdir");
  PATHF(p, "%s/masks", bad);
  CHECK(test_mkdirs(p) == 0, "mkdir");
  check_fails(bad, "no class folders", "empty");

  PATHF(bad, "%s/nowhere", tmp);
  check_fails(bad, bad, "not found");
}

/* A record of 3 images (2 classes), 4 crops: image 1 has 2 crops. */
static int write_h5(const char *path) {
  static const char *const classes[] = {"blowhole", "crack"};
  static const char *const paths[] = {"/d/blowhole/1.png", "/d/crack/2.png", "/d/crack/3.png"};
  static const int32_t icls[] = {0, 1, 1}, ih[] = {20, 20, 20}, iw[] = {30, 30, 30};
  static const int32_t nc[] = {1, 2, 1}, img[] = {0, 1, 1, 2}, ccls[] = {0, 1, 1, 1};
  static const char *const names[] = {"blowhole/1_crop0.png", "crack/2_crop0.png",
                                      "crack/2_crop1.png", "crack/3_crop0.png"};
  static const int32_t ch[] = {4, 3, 2, 5}, cw[] = {4, 3, 2, 5};
  static const int32_t win[] = {0, 0, 4, 4, 1, 1, 4, 4, 5, 5, 7, 7, 10, 2, 15, 7};
  static const double box[] = {0, 0, 4, 4, 1, 1, 4, 4, 5, 5, 7, 7, 10, 2, 15, 7};
  static const int64_t area[] = {3, 2, 1, 5};
  enum { POOL = 16 + 9 + 4 + 25 };
  uint8_t px[3 * POOL], mk[POOL];
  for (int k = 0; k < 3 * POOL; k++)
    px[k] = (uint8_t)(k * 7 + 1);
  for (int k = 0; k < POOL; k++)
    mk[k] = (uint8_t)(k % 3 == 0 ? 255 : k % 3 == 1 ? 0 : 77);
  config_set *cs = xcalloc(1, sizeof *cs);
  config_defaults(cs);
  char key[STAGE_KEY_LEN];
  stage_key_base(key, &cs->base);
  base_record r = {.n_classes = 2,
                   .class_names = classes,
                   .n_images = 3,
                   .paths = paths,
                   .image_class = icls,
                   .image_height = ih,
                   .image_width = iw,
                   .n_crops = nc,
                   .n_crops_total = 4,
                   .image_index = img,
                   .class_index = ccls,
                   .names = names,
                   .box = box,
                   .box_int = win,
                   .crop_height = ch,
                   .crop_width = cw,
                   .mask_area = area,
                   .crop_pixels = px,
                   .mask_pixels = mk,
                   .cfg = &cs->base,
                   .stage_key = key,
                   .categories = "MTD",
                   .foreground_min = 128};
  int rc = base_h5_write(path, &r);
  base_record none = r;
  none.n_crops_total = 0;
  CHECK(base_h5_write(path, &none) < 0 && contains(ancd_error(), "nothing to write"), "%s",
        ancd_error());
  free(cs);
  return rc;
}

static void same_sets(const base_set *a, const base_set *b, const char *what) {
  CHECK(a->n_classes == b->n_classes && a->n == b->n, "%s: %d/%d classes, %d/%d crops", what,
        a->n_classes, b->n_classes, a->n, b->n);
  for (int k = 0; k < a->n_classes && k < b->n_classes; k++)
    CHECK(!strcmp(a->class_names[k], b->class_names[k]), "%s: class %d", what, k);
  for (int i = 0; i < a->n && i < b->n; i++) {
    const base_crop *x = &a->crops[i], *y = &b->crops[i];
    int same = x->cls == y->cls && x->w == y->w && x->h == y->h && !strcmp(x->name, y->name);
    same = same && !memcmp(x->rgb, y->rgb, (size_t)x->w * x->h * 3) &&
           !memcmp(x->mask, y->mask, (size_t)x->w * x->h);
    CHECK(same, "%s: crop %d (%s, %s) differs", what, i, x->name, y->name);
  }
}

static void test_h5(const char *tmp) {
  char path[PATH_LEN];
  PATHF(path, "%s/out/base.h5", tmp);
  CHECK(write_h5(path) == 0, "%s", ancd_error());
  base_set b;
  CHECK(base_set_load(&b, path) == 0, "%s", ancd_error());
  CHECK(b.from_h5 && strlen(b.stage_key) == 16, "from_h5 %d, key '%s'", b.from_h5, b.stage_key);
  CHECK(b.n_classes == 2 && b.n == 4, "%d classes, %d crops", b.n_classes, b.n);
  if (b.n == 4) {
    CHECK(!strcmp(b.crops[1].name, "crack/2_crop0.png") && b.crops[1].cls == 1 &&
              b.crops[1].w == 3 && b.crops[1].h == 3 &&
              !strcmp(b.crops[1].source, "/d/crack/2.png"),
          "crop 1: %s class %d %dx%d from %s", b.crops[1].name, b.crops[1].cls, b.crops[1].w,
          b.crops[1].h, b.crops[1].source);
    /* crop 1 starts at mask element 16, RGB element 48 */
    CHECK(b.crops[1].rgb[0] == (uint8_t)(48 * 7 + 1) && b.crops[1].mask[0] == 0 &&
              b.crops[1].mask[1] == 77 && b.crops[1].mask[2] == 255,
          "crop 1 pixels %d, mask %d %d %d", b.crops[1].rgb[0], b.crops[1].mask[0],
          b.crops[1].mask[1], b.crops[1].mask[2]);
  }
  /* As a folder, and back: the same set. */
  char dir[PATH_LEN];
  PATHF(dir, "%s/exported", tmp);
  CHECK(base_set_write_folder(&b, dir) == 0, "%s", ancd_error());
  base_set f;
  CHECK(base_set_load(&f, dir) == 0, "%s", ancd_error());
  same_sets(&b, &f, "base.h5 vs its folder");
  base_set_free(&f);
  base_set_free(&b);

  /* A truncated base.h5, a foreign HDF5 file: rejected, naming the file. */
  char cut[PATH_LEN], cmd[3 * PATH_LEN];
  PATHF(cut, "%s/truncated.h5", tmp);
  PATHF(cmd, "head -c $(( $(stat -c %%s '%s') / 2 )) '%s' > '%s'", path, path, cut);
  CHECK(system(cmd) == 0, "%s", cmd);
  check_fails(cut, cut, "truncated");
  char other[PATH_LEN];
  PATHF(other, "%s/other.h5", tmp);
  h5s_file h;
  CHECK(h5s_create(&h, other, MPI_COMM_SELF) == 0, "%s", ancd_error());
  const uint64_t dims[1] = {2};
  const uint8_t v[2] = {1, 2};
  const uint64_t z[1] = {0};
  CHECK(h5s_dataset_create(&h, "x", H5S_U8, 1, dims, NULL) == 0 &&
            h5s_write_slab(&h, "x", H5S_U8, z, dims, v) == 0 &&
            h5s_attr_set_str(&h, "/", "stage_key", "0123456789abcdef") == 0 && h5s_publish(&h) == 0,
        "%s", ancd_error());
  check_fails(other, other, "not a base set");
}

/* ---- helper modes of tests/test_base.sh ---- */

static int summary(const char *path) {
  base_set b;
  if (base_set_load(&b, path) != 0) {
    fprintf(stderr, "%s\n", ancd_error());
    return 1;
  }
  printf("classes %d\n", b.n_classes);
  int max_index = 0;
  long min_fg = -1;
  for (int k = 0; k < b.n_classes; k++) {
    int n = 0;
    for (int i = 0; i < b.n; i++)
      n += b.crops[i].cls == k;
    printf("class %d %s %d\n", k, b.class_names[k], n);
  }
  for (int i = 0; i < b.n; i++) {
    const char *at = strstr(b.crops[i].name, "_crop");
    int idx = at ? atoi(at + 5) : 0;
    max_index = idx > max_index ? idx : max_index;
    long fg = 0;
    for (long k = 0; k < (long)b.crops[i].w * b.crops[i].h; k++)
      fg += b.crops[i].mask[k] >= 128;
    min_fg = min_fg < 0 || fg < min_fg ? fg : min_fg;
  }
  printf("crops %d\nmax_crops_per_image %d\nmin_foreground %ld\nsource %s\n", b.n, max_index + 1,
         min_fg, b.from_h5 ? "h5" : "folder");
  base_set_free(&b);
  return 0;
}

static int blobs(const char *mask_path, int n) {
  image_u8 m = {0};
  if (image_load(&m, mask_path, 1) != 0) {
    fprintf(stderr, "%s\n", ancd_error());
    return 1;
  }
  if (n == 0)
    memset(m.data, 0, (size_t)m.w * m.h);
  for (int b = 0; b < n && b < 4; b++) { /* corners: top-left, bottom-right, top-right, ... */
    int x0 = (b == 1 || b == 2) ? m.w - 8 : 2, y0 = (b == 1 || b == 3) ? m.h - 8 : 2;
    for (int y = y0; y < y0 + 6; y++)
      for (int x = x0; x < x0 + 6; x++)
        m.data[(size_t)y * m.w + x] = 255;
  }
  int rc = image_write_png(mask_path, &m);
  image_free(&m);
  if (rc != 0)
    fprintf(stderr, "%s\n", ancd_error());
  return rc != 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "summary")) {
    MPI_Init(&argc, &argv);
    int rc = summary(argv[2]);
    MPI_Finalize();
    return rc;
  }
  if (argc == 4 && !strcmp(argv[1], "blobs"))
    return blobs(argv[2], atoi(argv[3]));
  MPI_Init(&argc, &argv);
  const char *tmp = test_tmpdir("test_base_set");
  CHECK(base_set_is_none("none") && base_set_is_none("") && !base_set_is_none("base.h5"),
        "base_set_is_none");
  test_folder(tmp);
  test_h5(tmp);
  MPI_Finalize();
  return test_done("test_base_set");
}
