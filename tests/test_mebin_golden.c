/* MEBin and crop boxes (anomalyncd_spec §2-§3) against an independent Python reference
 * (tests/golden/mebin_ref.py, NumPy + OpenCV; gen_mebin_golden.py) on synthetic 8-bit maps with
 * known regions: per category the search range; per map the threshold, est, the 64 sweep counts,
 * the mask area at map and image resolution (cv2 INTER_NEAREST upsampling), the number of
 * external regions and the kept boxes, all exactly. Each mismatching map is listed with what
 * differs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crops.h"
#include "error.h"
#include "image.h"
#include "mebin.h"
#include "test_util.h"

#define LINE_MAX_CHARS 65536
#define MAX_MAPS 128
#define MAX_BOXES 64

typedef struct {
  char rel[256];
  int h, w, H, W;
  int threshold, est, degenerate, mask_area, mask_area_image, n_regions;
  int n_steps, counts[MEBIN_MAX_STEPS];
  int n_boxes;
  crop_box boxes[MAX_BOXES];
} golden_map;

typedef struct {
  char name[64];
  int n, min, max;
  golden_map *maps;
} golden_category;

/* Whitespace tokens of one line; strtol/strtod with full-token checks. */
typedef struct {
  char *save;
  int bad;
} tokens;

static char *next_tok(tokens *t, char *line) {
  char *s = strtok_r(line, " \t\r\n", &t->save);
  if (!s)
    t->bad = 1;
  return s ? s : "";
}

static int tok_int(tokens *t) {
  char *s = next_tok(t, NULL), *end;
  long v = strtol(s, &end, 10);
  if (*end || end == s)
    t->bad = 1;
  return (int)v;
}

static double tok_double(tokens *t) {
  char *s = next_tok(t, NULL), *end;
  double v = strtod(s, &end);
  if (*end || end == s)
    t->bad = 1;
  return v;
}

static int parse_map(golden_map *m, char *line) {
  tokens t = {0};
  next_tok(&t, line); /* "map" */
  snprintf(m->rel, sizeof m->rel, "%s", next_tok(&t, NULL));
  m->h = tok_int(&t);
  m->w = tok_int(&t);
  m->H = tok_int(&t);
  m->W = tok_int(&t);
  m->threshold = tok_int(&t);
  m->est = tok_int(&t);
  m->degenerate = tok_int(&t);
  m->mask_area = tok_int(&t);
  m->mask_area_image = tok_int(&t);
  m->n_regions = tok_int(&t);
  m->n_steps = tok_int(&t);
  if (m->n_steps < 0 || m->n_steps > MEBIN_MAX_STEPS)
    return -1;
  for (int k = 0; k < m->n_steps; k++)
    m->counts[k] = tok_int(&t);
  m->n_boxes = tok_int(&t);
  if (m->n_boxes < 1 || m->n_boxes > MAX_BOXES)
    return -1;
  for (int i = 0; i < m->n_boxes; i++) {
    m->boxes[i].l = tok_double(&t);
    m->boxes[i].u = tok_double(&t);
    m->boxes[i].r = tok_double(&t);
    m->boxes[i].d = tok_double(&t);
  }
  return t.bad ? -1 : 0;
}

/* Reads expected.txt into categories (at most max_cat); returns the count or -1. */
static int read_golden(golden_category *cats, int max_cat, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "%s: cannot open\n", path);
    return -1;
  }
  char *line = malloc(LINE_MAX_CHARS);
  int n_cat = 0, rc = 0;
  golden_category *cur = NULL;
  while (rc == 0 && fgets(line, LINE_MAX_CHARS, f)) {
    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (!strncmp(line, "category ", 9)) {
      if (n_cat == max_cat) {
        rc = -1;
        break;
      }
      cur = &cats[n_cat++];
      if (sscanf(line, "category %63s %d %d %d", cur->name, &cur->n, &cur->min, &cur->max) != 4 ||
          cur->n < 1 || cur->n > MAX_MAPS) {
        rc = -1;
        break;
      }
      cur->maps = calloc((size_t)cur->n, sizeof *cur->maps);
      cur->n = 0;
    } else if (!strncmp(line, "map ", 4) && cur && cur->n < MAX_MAPS) {
      rc = parse_map(&cur->maps[cur->n++], line);
    } else {
      rc = -1;
    }
    if (rc)
      fprintf(stderr, "%s: malformed line: %.80s\n", path, line);
  }
  free(line);
  fclose(f);
  return rc ? -1 : n_cat;
}

static int count_nonzero(const uint8_t *p, size_t n) {
  int c = 0;
  for (size_t i = 0; i < n; i++)
    c += p[i] != 0;
  return c;
}

static void print_box(const crop_box *b) {
  fprintf(stderr, " (%.17g, %.17g, %.17g, %.17g)", b->l, b->u, b->r, b->d);
}

/* Runs ancd on one map of a category with range [lo, hi]; returns 1 when everything matches,
 * 0 otherwise (each difference printed with its reason). */
static int check_map(const golden_map *g, const image_u8 *map, int lo, int hi) {
  int ok = 1;
  uint8_t *mask = malloc((size_t)g->h * g->w);
  void *scratch = malloc(mebin_scratch_bytes(g->h, g->w));
  mebin_result res;
  mebin_binarize(mask, &res, scratch, map->data, g->h, g->w, lo, hi, 4, 4, 6);

  if (res.threshold != g->threshold || res.est != g->est || res.degenerate != g->degenerate) {
    fprintf(stderr, "MISMATCH %s: threshold %d est %d degenerate %d, golden %d %d %d\n", g->rel,
            res.threshold, res.est, res.degenerate, g->threshold, g->est, g->degenerate);
    ok = 0;
  }
  int same_counts = res.n_steps == g->n_steps;
  for (int k = 0; same_counts && k < g->n_steps; k++)
    if (res.counts[k] != g->counts[k]) {
      fprintf(stderr, "MISMATCH %s: sweep count %d at k = %d, golden %d (reason: counting)\n",
              g->rel, res.counts[k], k, g->counts[k]);
      same_counts = 0;
    }
  if (res.n_steps != g->n_steps)
    fprintf(stderr, "MISMATCH %s: %d sweep steps, golden %d\n", g->rel, res.n_steps, g->n_steps);
  ok &= same_counts;
  int area = count_nonzero(mask, (size_t)g->h * g->w);
  if (area != g->mask_area) {
    fprintf(stderr, "MISMATCH %s: mask area %d, golden %d (reason: final mask)\n", g->rel, area,
            g->mask_area);
    ok = 0;
  }

  image_u8 small = {.w = g->w, .h = g->h, .c = 1, .data = mask}, big = {0};
  if (image_resize(&big, &small, g->W, g->H, RESIZE_NEAREST_CV) != 0) {
    fprintf(stderr, "%s: %s\n", g->rel, ancd_error());
    ok = 0;
  } else {
    int area_image = count_nonzero(big.data, (size_t)g->H * g->W);
    if (area_image != g->mask_area_image) {
      fprintf(stderr, "MISMATCH %s: image-size mask area %d, golden %d (reason: upsampling)\n",
              g->rel, area_image, g->mask_area_image);
      ok = 0;
    }
    crop_region *regions = NULL;
    int n_regions = crop_regions(&regions, big.data, g->H, g->W);
    free(regions);
    if (n_regions != g->n_regions) {
      fprintf(stderr, "MISMATCH %s: %d external regions, golden %d (reason: regions)\n", g->rel,
              n_regions, g->n_regions);
      ok = 0;
    }
    crop_box boxes[MAX_BOXES];
    int n = crop_boxes(boxes, MAX_BOXES, big.data, g->H, g->W, g->est);
    int same = n == g->n_boxes;
    for (int i = 0; same && i < n; i++)
      same = boxes[i].l == g->boxes[i].l && boxes[i].u == g->boxes[i].u &&
             boxes[i].r == g->boxes[i].r && boxes[i].d == g->boxes[i].d;
    if (!same) {
      fprintf(stderr, "MISMATCH %s: %d boxes", g->rel, n);
      for (int i = 0; i < n && i < MAX_BOXES; i++)
        print_box(&boxes[i]);
      fprintf(stderr, "\n  golden %d boxes", g->n_boxes);
      for (int i = 0; i < g->n_boxes; i++)
        print_box(&g->boxes[i]);
      fprintf(stderr, " (reason: %s)\n",
              n_regions != g->n_regions ? "different regions" : "squaring / merging / est + 1");
      ok = 0;
    }
  }
  image_free(&big);
  free(scratch);
  free(mask);
  return ok;
}

int main(void) {
  char dir[4096], path[4096 + 300];
  snprintf(dir, sizeof dir, "%s/tests/golden/mebin", test_source_dir());
  snprintf(path, sizeof path, "%s/expected.txt", dir);
  golden_category cats[8];
  int n_cat = read_golden(cats, 8, path);
  CHECK(n_cat >= 3, "%s: %d categories read", path, n_cat);

  int n_maps = 0, n_ok = 0, n_boxes = 0, n_degenerate = 0, n_half = 0;
  for (int c = 0; c < n_cat; c++) {
    golden_category *cat = &cats[c];
    image_u8 *maps = calloc((size_t)cat->n, sizeof *maps);
    uint8_t *maxima = calloc((size_t)cat->n, 1);
    int loaded = 1;
    for (int i = 0; i < cat->n; i++) {
      const golden_map *g = &cat->maps[i];
      snprintf(path, sizeof path, "%s/%s", dir, g->rel);
      int rc = image_load(&maps[i], path, 1);
      CHECK(rc == 0, "%s", rc ? ancd_error() : "");
      if (rc) {
        loaded = 0;
        continue;
      }
      CHECK(maps[i].w == g->w && maps[i].h == g->h && maps[i].c == 1, "%s: %dx%dx%d", g->rel,
            maps[i].w, maps[i].h, maps[i].c);
      uint8_t m = 0;
      for (int k = 0; k < g->w * g->h; k++)
        m = maps[i].data[k] > m ? maps[i].data[k] : m;
      maxima[i] = m;
    }
    if (loaded) {
      int lo, hi;
      mebin_search_range(&lo, &hi, maxima, cat->n);
      CHECK(lo == cat->min && hi == cat->max, "category %s: range [%d, %d], golden [%d, %d]",
            cat->name, lo, hi, cat->min, cat->max);
      for (int i = 0; i < cat->n; i++) {
        const golden_map *g = &cat->maps[i];
        int ok = check_map(g, &maps[i], cat->min, cat->max);
        CHECK(ok, "%s differs from the Python reference (see above)", g->rel);
        n_ok += ok;
        n_maps++;
        n_boxes += g->n_boxes;
        n_degenerate += g->degenerate;
        for (int b = 0; b < g->n_boxes; b++)
          n_half += g->boxes[b].u != (double)(long)g->boxes[b].u ||
                    g->boxes[b].l != (double)(long)g->boxes[b].l;
      }
    }
    for (int i = 0; i < cat->n; i++)
      image_free(&maps[i]);
    free(maps);
    free(maxima);
    free(cat->maps);
  }
  printf("mebin golden: %d / %d maps agree (%d boxes, %d with .5 coordinates, %d degenerate "
         "maps)\n",
         n_ok, n_maps, n_boxes, n_half, n_degenerate);
  /* The set must exercise what it claims to: merged .5 boxes and the MAX == MIN range. */
  CHECK(n_maps >= 40 && n_half >= 2 && n_degenerate >= 2, "%d maps, %d half boxes, %d degenerate",
        n_maps, n_half, n_degenerate);
  return test_done("test_mebin_golden");
}
