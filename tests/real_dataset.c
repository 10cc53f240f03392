/* Dataset layouts on the real files in ../shared/data: MTD (standard split; every image and
 * mask decodes with matching sizes) and the MVTec anomalies. Skipped when the data is absent. */
#include <stdio.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "log.h"
#include "test_util.h"

static int count(const ds_manifest *m, const char *type, int split) {
  int n = 0;
  for (int i = 0; i < m->n; i++)
    n += !strcmp(m->items[i].type, type) && m->items[i].split == split;
  return n;
}

static void test_mtd(const char *shared) {
  cfg_dataset d;
  memset(&d, 0, sizeof d);
  strcpy(d.layout, "mtd");
  snprintf(d.root, sizeof d.root, "%s/data/mtd", shared);
  strcpy(d.split_file, "mtd_train_filenames.txt");
  strcpy(d.normal_type, "good");
  ds_manifest m;
  if (ds_scan(&m, &d, "MTD") != 0) {
    CHECK(0, "scan MTD: %s", ancd_error());
    return;
  }
  const char *types[] = {"blowhole", "break", "crack", "fray", "good", "uneven"};
  const int n_test[] = {115, 85, 57, 32, 191, 103};
  int n_anom = 0, n_masks = 0, order_ok = 1;
  for (int t = 0; t < 6; t++)
    CHECK(count(&m, types[t], DS_TEST) == n_test[t], "MTD test %s: %d, expected %d", types[t],
          count(&m, types[t], DS_TEST), n_test[t]);
  CHECK(count(&m, "good", DS_TRAIN) == 761, "MTD train: %d, expected 761",
        count(&m, "good", DS_TRAIN));
  CHECK(m.n == 583 + 761, "MTD items: %d", m.n);
  for (int i = 0; i < m.n; i++) {
    const ds_item *it = &m.items[i];
    n_anom += it->split == DS_TEST && it->label;
    n_masks += it->mask[0] != 0;
    CHECK(it->label == (strcmp(it->type, "good") != 0), "label of %s", it->path);
    if (i > 0 && it->split == m.items[i - 1].split) {
      int c = strcmp(m.items[i - 1].type, it->type);
      order_ok &= c < 0 || (c == 0 && strcmp(m.items[i - 1].path, it->path) < 0);
    }
    if (i > 0)
      order_ok &= it->split <= m.items[i - 1].split; /* test (1) first, then train (0) */
  }
  CHECK(n_anom == 392 && n_masks == 392, "MTD anomalous %d, masks %d, expected 392", n_anom,
        n_masks);
  CHECK(order_ok, "MTD manifest not sorted by (split, type, name)");

  /* Every file decodes; MT_Free's all-zero masks are checked too by giving the good items
   * theirs for this run (the manifest leaves them out). */
  for (int i = 0; i < m.n; i++)
    if (!m.items[i].label) {
      ds_item *it = &m.items[i];
      snprintf(it->mask, sizeof it->mask, "%s", it->path);
      strcpy(strrchr(it->mask, '.'), ".png");
    }
  ds_report r;
  CHECK(ds_validate(&m, &r, 0.0) == 0, "validate MTD: %s", ancd_error());
  CHECK(r.n_checked == 1344 && r.n_bad == 0, "MTD validation: %d checked, %d bad", r.n_checked,
        r.n_bad);
  for (int i = 0; i < r.n_bad && i < 5; i++)
    fprintf(stderr, "  bad: %s: %s\n", r.bad[i].path, r.bad[i].reason);
  ds_print_summary(stderr, &m, &r);
  ds_report_free(&r);
  ds_free(&m);
}

static void test_anomalies(const char *shared) {
  cfg_dataset d;
  memset(&d, 0, sizeof d);
  strcpy(d.layout, "anomalies");
  snprintf(d.root, sizeof d.root, "%s/data/mvtec_anomalies", shared);
  strcpy(d.normal_type, "good");
  cfg_names cats;
  if (ds_list_categories(&cats, &d) != 0) {
    CHECK(0, "list mvtec_anomalies: %s", ancd_error());
    return;
  }
  const char *want_cats[] = {"bottle", "carpet", "metal_nut", "screw"};
  const char *want_types[] = {
      "broken_large broken_small contamination",
      "color cut hole metal_contamination thread",
      "bent color flip scratch",
      "manipulated_front scratch_head scratch_neck thread_side thread_top",
  };
  CHECK(cats.n == 4, "%d categories, expected 4", cats.n);
  for (int c = 0; c < 4 && c < cats.n; c++) {
    CHECK(!strcmp(cats.v[c], want_cats[c]), "category %d: %s, expected %s", c, cats.v[c],
          want_cats[c]);
    ds_manifest m;
    if (ds_scan(&m, &d, cats.v[c]) != 0) {
      CHECK(0, "scan %s: %s", cats.v[c], ancd_error());
      continue;
    }
    char types[512] = "";
    int all_anomalous_test = 1;
    for (int i = 0; i < m.n; i++) {
      all_anomalous_test &=
          m.items[i].label == 1 && m.items[i].split == DS_TEST && m.items[i].mask[0] == 0;
      if (i == 0 || strcmp(m.items[i].type, m.items[i - 1].type) != 0)
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", i ? " " : "",
                 m.items[i].type);
    }
    CHECK(!strcmp(types, want_types[c]), "%s types '%s', expected '%s'", cats.v[c], types,
          want_types[c]);
    CHECK(all_anomalous_test && m.n > 0 && m.has_masks == 0,
          "%s: every item anomalous, test, without mask", cats.v[c]);
    ds_free(&m);
  }
}

int main(void) {
  const char *shared = test_shared_dir();
  char probe[4096];
  snprintf(probe, sizeof probe, "%s/data/mtd/mtd_train_filenames.txt", shared ? shared : "");
  FILE *f = shared ? fopen(probe, "r") : NULL;
  if (!f)
    test_skip("../shared/data/mtd not present");
  fclose(f);
  log_set_level(LOG_QUIET);
  test_mtd(shared);
  test_anomalies(shared);
  return test_done("real_dataset");
}
