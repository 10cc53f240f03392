/* The synthetic dataset: determinism (also against recorded checksums, so a compiler, machine or
 * sanitizer build that changes one byte fails), exact masks (a defect image equals its good base
 * outside the mask and differs visibly inside), varied good images, defect types that differ in
 * look, and `ancd synth` writing the mvtec tree byte-identically twice. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "error.h"
#include "image.h"
#include "log.h"
#include "synth.h"
#include "test_util.h"

enum { S = SYNTH_SIZE, NPIX = SYNTH_SIZE * SYNTH_SIZE, N_INDEX = 8 };

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static void test_names(void) {
  CHECK(synth_n_surfaces() >= 2, "%d surfaces", synth_n_surfaces());
  CHECK(synth_n_defects() >= 4, "%d defect types", synth_n_defects());
  for (int s = 0; s < synth_n_surfaces(); s++)
    CHECK(synth_surface_name(s) && *synth_surface_name(s), "surface %d has no name", s);
  for (int d = 0; d < synth_n_defects(); d++) {
    CHECK(synth_defect_name(d) && *synth_defect_name(d), "defect %d has no name", d);
    CHECK(strcmp(synth_defect_name(d), "good"), "a defect is named good");
    for (int e = 0; e < d; e++)
      CHECK(strcmp(synth_defect_name(d), synth_defect_name(e)), "defects %d, %d share a name", d,
            e);
  }
  CHECK(synth_surface_name(-1) == NULL && synth_surface_name(synth_n_surfaces()) == NULL, "%s",
        "out-of-range surface names");
  CHECK(synth_defect_name(synth_n_defects()) == NULL, "%s", "out-of-range defect name");
}

static void test_determinism(uint8_t *a, uint8_t *b, uint8_t *ma, uint8_t *mb) {
  for (int s = 0; s < synth_n_surfaces(); s++) {
    for (int d = -1; d < synth_n_defects(); d++) {
      memset(ma, 1, NPIX);
      memset(mb, 2, NPIX);
      synth_render(a, ma, 42, s, d, 3, 5);
      synth_render(b, mb, 42, s, d, 3, 5);
      CHECK(!memcmp(a, b, (size_t)NPIX * 3), "surface %d defect %d: two renders differ", s, d);
      if (d >= 0)
        CHECK(!memcmp(ma, mb, NPIX), "surface %d defect %d: two masks differ", s, d);
      synth_render(b, mb, 43, s, d, 3, 5);
      CHECK(memcmp(a, b, (size_t)NPIX * 3), "surface %d defect %d: seed 43 = seed 42", s, d);
      synth_render(b, mb, 42, s, d, 3, 6);
      CHECK(memcmp(a, b, (size_t)NPIX * 3), "surface %d defect %d: salt 6 = salt 5", s, d);
    }
  }
  /* Checksums recorded from this generator: same bytes on every machine and compiler. A change
   * to core/synth.c that alters the images must update them (and says so in its commit). */
  static const struct {
    int surface, defect, index, salt;
    uint64_t rgb, mask;
  } golden[] = {
      {0, -1, 0, SYNTH_SALT_TRAIN, 0x67cec833d82d92b8ull, 0},
      {1, -1, 7, SYNTH_SALT_TEST_GOOD, 0x582bc4a165a20eb7ull, 0},
      {2, -1, 2, SYNTH_SALT_TRAIN, 0x9cc42848e3bb4571ull, 0},
      {0, 0, 1, SYNTH_SALT_TEST_DEFECT0 + 0, 0x7477993d14149b61ull, 0x32e06ff6eb60edaeull},
      {1, 1, 2, SYNTH_SALT_TEST_DEFECT0 + 1, 0x6bdd7330cb1ecc86ull, 0x059a728e44e36252ull},
      {2, 2, 3, SYNTH_SALT_TEST_DEFECT0 + 2, 0x17c83cae7c0195caull, 0x1f35270e135fdea5ull},
      {0, 3, 4, SYNTH_SALT_TEST_DEFECT0 + 3, 0x19d7cbaa34f695dcull, 0x3576440af2a807d8ull},
      {1, 4, 5, SYNTH_SALT_TEST_DEFECT0 + 4, 0x0b7fe91f5153bc53ull, 0x3d627e250fa74a5full},
  };
  for (size_t g = 0; g < sizeof golden / sizeof golden[0]; g++) {
    synth_render(a, ma, 42, golden[g].surface, golden[g].defect, golden[g].index, golden[g].salt);
    uint64_t h = fnv1a(a, (size_t)NPIX * 3), hm = golden[g].defect >= 0 ? fnv1a(ma, NPIX) : 0;
    CHECK(h == golden[g].rgb && hm == golden[g].mask,
          "golden %zu (surface %d defect %d): rgb 0x%016llxull mask 0x%016llxull", g,
          golden[g].surface, golden[g].defect, (unsigned long long)h, (unsigned long long)hm);
  }
}

/* Good images of one surface differ from each other (offset, texture, noise), but not wildly:
 * they are the same material. */
static void test_good_variety(uint8_t *a, uint8_t *b) {
  for (int s = 0; s < synth_n_surfaces(); s++) {
    for (int i = 0; i < 4; i++) {
      synth_render(a, NULL, 42, s, -1, i, SYNTH_SALT_TRAIN);
      for (int j = i + 1; j < 4; j++) {
        synth_render(b, NULL, 42, s, -1, j, SYNTH_SALT_TRAIN);
        double mad = 0;
        for (int k = 0; k < NPIX * 3; k++)
          mad += abs(a[k] - b[k]);
        mad /= NPIX * 3;
        CHECK(mad > 3 && mad < 60, "surface %d: images %d, %d differ by %.2f grey levels", s, i, j,
              mad);
      }
    }
  }
}

/* Per-image features of a defect inside its mask. */
typedef struct {
  double area;       /* mask fraction of the image */
  double brightened; /* fraction of mask pixels whose luminance went up */
  double lum_delta;  /* mean luminance change */
  double chroma;     /* mean change of (R - B): > 0 for a warm discolouration */
  double interior;   /* fraction of mask pixels whose 4 neighbours are in the mask */
  double min_lum;    /* darkest mask pixel */
  int components;    /* 4-connected mask components */
} defect_stats;

static int count_components(const uint8_t *mask, int *stack, uint8_t *seen) {
  memset(seen, 0, NPIX);
  int n = 0;
  for (int i = 0; i < NPIX; i++) {
    if (!mask[i] || seen[i])
      continue;
    n++;
    int sp = 0;
    stack[sp++] = i;
    seen[i] = 1;
    while (sp) {
      int j = stack[--sp], x = j % S, y = j / S;
      int nb[4] = {x > 0 ? j - 1 : -1, x < S - 1 ? j + 1 : -1, y > 0 ? j - S : -1,
                   y < S - 1 ? j + S : -1};
      for (int k = 0; k < 4; k++)
        if (nb[k] >= 0 && mask[nb[k]] && !seen[nb[k]]) {
          seen[nb[k]] = 1;
          stack[sp++] = nb[k];
        }
    }
  }
  return n;
}

/* Checks the mask against the base image exactly and returns the defect's features. */
static defect_stats check_exact_mask(const uint8_t *base, const uint8_t *img, const uint8_t *mask,
                                     int s, int d, int i, int *stack, uint8_t *seen) {
  defect_stats st = {.min_lum = 255};
  long area = 0, brighter = 0, interior = 0, bad_value = 0, changed_outside = 0, faint_inside = 0;
  for (int p = 0; p < NPIX; p++) {
    if (mask[p] != 0 && mask[p] != 255)
      bad_value++;
    int delta = 0;
    for (int c = 0; c < 3; c++)
      delta = abs(img[3 * p + c] - base[3 * p + c]) > delta ? abs(img[3 * p + c] - base[3 * p + c])
                                                            : delta;
    if (!mask[p]) {
      changed_outside += delta != 0;
      continue;
    }
    faint_inside += delta < SYNTH_VISIBLE_DELTA;
    area++;
    double lum0 = (base[3 * p] + base[3 * p + 1] + base[3 * p + 2]) / 3.0;
    double lum1 = (img[3 * p] + img[3 * p + 1] + img[3 * p + 2]) / 3.0;
    brighter += lum1 > lum0;
    st.lum_delta += lum1 - lum0;
    st.chroma += (img[3 * p] - img[3 * p + 2]) - (base[3 * p] - base[3 * p + 2]);
    st.min_lum = lum1 < st.min_lum ? lum1 : st.min_lum;
    int x = p % S, y = p / S;
    interior += x > 0 && x < S - 1 && y > 0 && y < S - 1 && mask[p - 1] && mask[p + 1] &&
                mask[p - S] && mask[p + S];
  }
  CHECK(bad_value == 0, "surface %d defect %d #%d: %ld mask values not 0/255", s, d, i, bad_value);
  CHECK(changed_outside == 0, "surface %d defect %d #%d: %ld pixels changed outside the mask", s, d,
        i, changed_outside);
  CHECK(faint_inside == 0, "surface %d defect %d #%d: %ld mask pixels changed < %d levels", s, d, i,
        faint_inside, SYNTH_VISIBLE_DELTA);
  st.area = (double)area / NPIX;
  CHECK(st.area >= 0.001 && st.area <= 0.25, "surface %d defect %d #%d: mask area %.4f", s, d, i,
        st.area);
  if (area) {
    st.brightened = (double)brighter / area;
    st.lum_delta /= area;
    st.chroma /= area;
    st.interior = (double)interior / area;
  }
  st.components = count_components(mask, stack, seen);
  return st;
}

/* Every type on every surface: exact masks, and a look that tells the types apart (bright thin
 * curve, dark pit with bright rim, dark thin branching path, warm soft blotch, bright specks). */
static void test_defects(uint8_t *base, uint8_t *img, uint8_t *mask) {
  int *stack = xmalloc(NPIX * sizeof(int));
  uint8_t *seen = xmalloc(NPIX);
  for (int s = 0; s < synth_n_surfaces(); s++) {
    for (int d = 0; d < synth_n_defects(); d++) {
      const char *name = synth_defect_name(d);
      defect_stats mean = {0};
      double max_components = 0;
      uint64_t first_mask = 0;
      int all_masks_same = 1;
      for (int i = 0; i < N_INDEX; i++) {
        int salt = SYNTH_SALT_TEST_DEFECT0 + d;
        synth_render(base, NULL, 42, s, -1, i, salt);
        synth_render(img, mask, 42, s, d, i, salt);
        defect_stats st = check_exact_mask(base, img, mask, s, d, i, stack, seen);
        mean.area += st.area / N_INDEX;
        mean.brightened += st.brightened / N_INDEX;
        mean.lum_delta += st.lum_delta / N_INDEX;
        mean.chroma += st.chroma / N_INDEX;
        mean.interior += st.interior / N_INDEX;
        mean.min_lum += st.min_lum / N_INDEX;
        mean.components += st.components;
        max_components = st.components > max_components ? st.components : max_components;
        uint64_t h = fnv1a(mask, NPIX);
        if (i == 0)
          first_mask = h;
        else if (h != first_mask)
          all_masks_same = 0;
      }
      CHECK(!all_masks_same, "surface %d %s: every instance has the same mask", s, name);
      double comps = (double)mean.components / N_INDEX;
      fprintf(stderr,
              "%-7s %-14s area %.4f brightened %.2f lum %+6.1f chroma %+6.1f interior %.2f "
              "min %5.1f components %.1f\n",
              synth_surface_name(s), name, mean.area, mean.brightened, mean.lum_delta, mean.chroma,
              mean.interior, mean.min_lum, comps);
      if (!strcmp(name, "scratch")) {
        CHECK(mean.brightened > 0.5 && mean.lum_delta > 20, "%s on %d: not a bright line", name, s);
        CHECK(mean.interior < 0.7 && comps <= 3, "%s on %d: not a thin curve", name, s);
      } else if (!strcmp(name, "hole")) {
        CHECK(mean.min_lum < 40, "%s on %d: no dark pit (min %.1f)", name, s, mean.min_lum);
        CHECK(mean.brightened > 0.1 && mean.brightened < 0.7, "%s on %d: no bright rim", name, s);
        CHECK(mean.interior > 0.75 && max_components == 1, "%s on %d: not one blob", name, s);
      } else if (!strcmp(name, "crack")) {
        CHECK(mean.brightened < 0.05 && mean.lum_delta < -30, "%s on %d: not dark", name, s);
        CHECK(mean.interior < 0.3 && comps <= 2, "%s on %d: not a thin path", name, s);
      } else if (!strcmp(name, "stain")) {
        CHECK(mean.brightened < 0.05 && mean.chroma > 10, "%s on %d: not a warm discolouration",
              name, s);
        CHECK(mean.lum_delta > -45, "%s on %d: too dark for a stain", name, s);
        CHECK(mean.interior > 0.75, "%s on %d: not a blotch", name, s);
      } else if (!strcmp(name, "contamination")) {
        CHECK(mean.brightened > 0.9 && mean.lum_delta > 40, "%s on %d: not bright", name, s);
        CHECK(comps >= 4 && mean.area < 0.005, "%s on %d: not a cluster of specks", name, s);
      } else {
        CHECK(0, "defect type %s has no look check", name);
      }
    }
  }
  free(stack);
  free(seen);
}

/* snprintf into a 4096-byte path buffer; a truncated path is a test failure. */
static char *pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *pathf(char *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, 4096, fmt, ap);
  va_end(ap);
  CHECK(n >= 0 && n < 4096, "path too long: %s", buf);
  return buf;
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, len = 0;
  uint8_t *buf = xmalloc(cap);
  size_t got;
  while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap)
      buf = xrealloc(buf, cap *= 2);
  }
  fclose(f);
  *n = len;
  return buf;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static int run_synth(const char *out, const char *seed, const char *categories) {
  char *argv[] = {
      "synth", "-q",          "-o", (char *)out,  "--seed", (char *)seed,   "--train",
      "2",     "--test-good", "2",  "--per-type", "2",      "--categories", (char *)categories,
      NULL};
  return job_synth(14, argv);
}

/* Same bytes in both trees for every file of category s (and the PNG holds the render). */
static void compare_trees(const char *d1, const char *d2, int s, uint8_t *rgb, uint8_t *mask) {
  const char *cat = synth_surface_name(s);
  char p1[4096], p2[4096];
  for (int d = -1; d < synth_n_defects(); d++) {
    for (int split = 0; split < (d < 0 ? 2 : 1); split++) {
      for (int i = 0; i < 2; i++) {
        for (int is_mask = 0; is_mask < (d < 0 ? 1 : 2); is_mask++) {
          const char *rel = d >= 0 ? (is_mask ? "ground_truth" : "test") : split ? "test" : "train";
          const char *type = d >= 0 ? synth_defect_name(d) : "good";
          pathf(p1, "%s/%s/%s/%s/%03d%s.png", d1, cat, rel, type, i, is_mask ? "_mask" : "");
          pathf(p2, "%s/%s/%s/%s/%03d%s.png", d2, cat, rel, type, i, is_mask ? "_mask" : "");
          size_t n1 = 0, n2 = 0;
          uint8_t *b1 = read_all(p1, &n1), *b2 = read_all(p2, &n2);
          CHECK(b1 && b2 && n1 == n2 && n1 > 0 && !memcmp(b1, b2, n1),
                "%s and %s are not byte-identical", p1, p2);
          free(b1);
          free(b2);
          /* The PNG decodes to exactly what synth_render gives. */
          image_u8 img = {0};
          int salt = d >= 0  ? SYNTH_SALT_TEST_DEFECT0 + d
                     : split ? SYNTH_SALT_TEST_GOOD
                             : SYNTH_SALT_TRAIN;
          synth_render(rgb, mask, 7, s, d, i, salt);
          if (image_load(&img, p1, 0) == 0) {
            CHECK(img.w == S && img.h == S && img.c == (is_mask ? 1 : 3), "%s: %dx%dx%d", p1, img.w,
                  img.h, img.c);
            if (img.w == S && img.h == S && img.c == (is_mask ? 1 : 3))
              CHECK(!memcmp(img.data, is_mask ? mask : rgb, (size_t)NPIX * img.c),
                    "%s: pixels differ from synth_render", p1);
            image_free(&img);
          } else {
            CHECK(0, "%s: %s", p1, ancd_error());
          }
        }
      }
    }
  }
}

static void test_job(uint8_t *rgb, uint8_t *mask) {
  char d1[4096], d2[4096], d3[4096], path[4096];
  const char *tmp = test_tmpdir("synth");
  pathf(d1, "%s/run1", tmp);
  pathf(d2, "%s/run2/nested", tmp);
  pathf(d3, "%s/one", tmp);

  int n_cat = synth_n_surfaces();
  char all[16];
  snprintf(all, sizeof all, "%d", n_cat);
  CHECK(run_synth(d1, "7", all) == ANCD_EXIT_OK, "synth into %s failed", d1);
  CHECK(run_synth(d2, "7", all) == ANCD_EXIT_OK, "synth into %s failed", d2);
  CHECK(count_entries(d1) == n_cat, "%s has %d entries, want %d", d1, count_entries(d1), n_cat);
  for (int s = 0; s < n_cat; s++) {
    const char *cat = synth_surface_name(s);
    pathf(path, "%s/%s", d1, cat);
    CHECK(count_entries(path) == 3, "%s: %d entries, want train test ground_truth", path,
          count_entries(path));
    pathf(path, "%s/%s/train/good", d1, cat);
    CHECK(count_entries(path) == 2, "%s: %d files", path, count_entries(path));
    pathf(path, "%s/%s/test", d1, cat);
    CHECK(count_entries(path) == 1 + synth_n_defects(), "%s: %d types", path, count_entries(path));
    pathf(path, "%s/%s/ground_truth", d1, cat);
    CHECK(count_entries(path) == synth_n_defects(), "%s: %d types", path, count_entries(path));
    for (int d = -1; d < synth_n_defects(); d++) {
      pathf(path, "%s/%s/test/%s", d1, cat, d < 0 ? "good" : synth_defect_name(d));
      CHECK(count_entries(path) == 2, "%s: %d files", path, count_entries(path));
      if (d >= 0) {
        pathf(path, "%s/%s/ground_truth/%s", d1, cat, synth_defect_name(d));
        CHECK(count_entries(path) == 2, "%s: %d files", path, count_entries(path));
      }
    }
    compare_trees(d1, d2, s, rgb, mask);
  }

  /* --categories 1 writes only the first surface; another seed gives other bytes. */
  CHECK(run_synth(d3, "8", "1") == ANCD_EXIT_OK, "synth into %s failed", d3);
  CHECK(count_entries(d3) == 1, "%s: %d categories, want 1", d3, count_entries(d3));
  pathf(path, "%s/%s/train/good/000.png", d1, synth_surface_name(0));
  size_t n1 = 0, n3 = 0;
  uint8_t *b1 = read_all(path, &n1);
  pathf(path, "%s/%s/train/good/000.png", d3, synth_surface_name(0));
  uint8_t *b3 = read_all(path, &n3);
  CHECK(b1 && b3 && (n1 != n3 || memcmp(b1, b3, n1)), "%s: seed 8 wrote the bytes of seed 7", path);
  free(b1);
  free(b3);

  /* Usage errors exit 2 and write nothing. */
  pathf(path, "%s/bad", tmp);
  CHECK(run_synth(path, "7", "0") == ANCD_EXIT_USAGE, "%s", "--categories 0 accepted");
  snprintf(all, sizeof all, "%d", n_cat + 1);
  CHECK(run_synth(path, "7", all) == ANCD_EXIT_USAGE, "--categories %s accepted", all);
  CHECK(run_synth(path, "7", "two") == ANCD_EXIT_USAGE, "%s", "--categories two accepted");
  char *per_type_zero[] = {"synth", "-q", "-o", path, "--per-type", "0", NULL};
  CHECK(job_synth(6, per_type_zero) == ANCD_EXIT_USAGE, "%s", "--per-type 0 accepted");
  char *with_config[] = {"synth", "-q", "-o", path, "-c", "x.yaml", NULL};
  CHECK(job_synth(6, with_config) == ANCD_EXIT_USAGE, "%s", "-c accepted");
  struct stat st;
  CHECK(stat(path, &st) != 0, "%s was created by a rejected command", path);

  /* An output below a regular file cannot be created: exit 1, the message names the path. */
  pathf(path, "%s/blocker", tmp);
  CHECK(test_write_file(path, "x", 1) == 0, "cannot write %s", path);
  pathf(path, "%s/blocker/out", tmp);
  CHECK(run_synth(path, "7", "1") == ANCD_EXIT_INPUT, "synth into %s did not fail", path);
  CHECK(strstr(ancd_error(), "blocker") != NULL, "error '%s' does not name the path", ancd_error());

  /* A file that cannot be written (a folder stands in its place): exit 1, naming the file. */
  pathf(path, "%s/taken/%s/train/good/001.png", tmp, synth_surface_name(0));
  CHECK(test_mkdirs(path) == 0, "cannot create %s", path);
  pathf(path, "%s/taken", tmp);
  CHECK(run_synth(path, "7", "1") == ANCD_EXIT_INPUT, "synth into %s did not fail", path);
  CHECK(strstr(ancd_error(), "train/good/001.png") != NULL, "error '%s' does not name the file",
        ancd_error());
}

int main(void) {
  log_set_level(LOG_QUIET);
  uint8_t *a = xmalloc((size_t)NPIX * 3), *b = xmalloc((size_t)NPIX * 3);
  uint8_t *ma = xmalloc(NPIX), *mb = xmalloc(NPIX);
  test_names();
  test_determinism(a, b, ma, mb);
  test_good_variety(a, b);
  test_defects(a, b, ma);
  test_job(a, ma);
  free(a);
  free(b);
  free(ma);
  free(mb);
  return test_done("test_synth");
}
