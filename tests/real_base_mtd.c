/* `ancd base` on the real MTD (issue 10 "Inputs"; anomalyncd_spec §4): configs/mtd.yaml with
 * dataset.root = ../shared/data/mtd. base.h5 holds MTD's 5 defect types as classes (blowhole,
 * break, crack, fray, uneven; MT_Free is the normal type, dataset.normal_type "good", and no
 * class), at most 2 crops per image, and every crop's mask has foreground (>= 128, the
 * binarisation of ancd base). Prints crops and images per class. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base_set.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "test_util.h"

#define PATH_LEN 1024

static const char *const MTD_TYPES[5] = {"blowhole", "break", "crack", "fray", "uneven"};

static int run(const char *cmd, const char *log) {
  int status = system(cmd);
  int ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) {
    char tail[PATH_LEN + 32];
    PATHF(tail, "tail -n 20 '%s' >&2", log);
    if (system(tail) != 0)
      fprintf(stderr, "cannot show %s\n", log);
  }
  return ok;
}

int main(int argc, char **argv) {
  const char *shared = test_shared_dir();
  if (!shared)
    test_skip("../shared is absent");
  char mtd[PATH_LEN], src[PATH_LEN], tmp[PATH_LEN], log[PATH_LEN + 32], cmd[4 * PATH_LEN];
  PATHF(mtd, "%s/data/mtd", shared);
  if (!test_file_exists(mtd))
    test_skip("../shared/data/mtd is absent");
  PATHF(src, "%s", test_source_dir());
  PATHF(tmp, "%s", test_tmpdir("real_base_mtd"));
  PATHF(log, "%s/run.log", tmp);
  const char *bin = getenv("ANCD_BIN");
  if (!bin) {
    CHECK(0, "ANCD_BIN is not set");
    return test_done("real_base_mtd");
  }
  /* The config's normal type is what MT_Free becomes: it must not be a class. */
  config_set *cs = xcalloc(1, sizeof *cs);
  config_defaults(cs);
  char cfg[PATH_LEN + 32];
  PATHF(cfg, "%s/configs/mtd.yaml", src);
  CHECK(config_load_file(cs, cfg) == 0, "%s", ancd_error());
  char normal[CFG_NAME_LEN];
  snprintf(normal, sizeof normal, "%s", cs->base.dataset.normal_type);
  free(cs);

  /* ancd runs before this process initialises MPI: a singleton must not fork another. */
  PATHF(cmd, "'%s' base -c '%s' --set 'dataset.root=%s' -o '%s/out' > '%s' 2>&1", bin, cfg, mtd,
        tmp, log);
  double t0 = now_seconds();
  int ok = run(cmd, log);
  double dt = now_seconds() - t0;
  CHECK(ok, "ancd base failed, see %s", log);
  if (!ok)
    return test_done("real_base_mtd");
  printf("ancd base on MTD: %.2f s (process start included)\n", dt);

  MPI_Init(&argc, &argv);
  char path[PATH_LEN + 32];
  PATHF(path, "%s/out/mtd/base.h5", tmp);
  base_set b;
  if (base_set_load(&b, path) != 0) {
    CHECK(0, "%s", ancd_error());
    MPI_Finalize();
    return test_done("real_base_mtd");
  }
  CHECK(b.n_classes == 5, "%d classes, want MTD's 5 defect types", b.n_classes);
  for (int k = 0; k < b.n_classes && k < 5; k++)
    CHECK(!strcmp(b.class_names[k], MTD_TYPES[k]), "class %d is '%s', want '%s'", k,
          b.class_names[k], MTD_TYPES[k]);
  for (int k = 0; k < b.n_classes; k++)
    CHECK(strcmp(b.class_names[k], normal) && strcmp(b.class_names[k], "MT_Free"),
          "the normal type '%s' is a class", b.class_names[k]);
  int empty = 0, third = 0;
  long px = 0;
  for (int i = 0; i < b.n; i++) {
    const base_crop *c = &b.crops[i];
    long fg = 0;
    for (long k = 0; k < (long)c->w * c->h; k++)
      fg += c->mask[k] >= 128;
    if (fg == 0 && empty++ < 5)
      CHECK(0, "%s (from %s): its mask has no foreground", c->name, c->source);
    const char *at = strstr(c->name, "_crop");
    if ((!at || atoi(at + 5) > 1) && third++ < 5)
      CHECK(0, "%s: more than 2 crops of one image", c->name);
    px += (long)c->w * c->h;
  }
  CHECK(empty == 0, "%d crops without foreground", empty);
  printf("%s: %d classes, %d crops, %.1f MB of pixels\n", path, b.n_classes, b.n, px * 4 / 1e6);
  for (int k = 0; k < b.n_classes; k++) {
    int crops = 0, images = 0;
    for (int i = 0; i < b.n; i++)
      if (b.crops[i].cls == k) {
        crops++;
        images += strstr(b.crops[i].name, "_crop0.") != NULL;
      }
    printf("  class %d %-10s %4d images %4d crops\n", k, b.class_names[k], images, crops);
    CHECK(crops > 0, "class %s has no crops", b.class_names[k]);
  }
  base_set_free(&b);
  MPI_Finalize();
  return test_done("real_base_mtd");
}
