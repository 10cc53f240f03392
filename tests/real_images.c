/* Every real image in ../shared/data decodes: all MTD images (JPEG) with their masks (PNG, same
 * size, grey) and the ImageNet sample photos. Skipped when the data is absent. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "test_util.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* dir/name into out (4096 bytes); a path that does not fit fails the test. */
static int join(char *out, const char *dir, const char *name) {
  int n = snprintf(out, 4096, "%s/%s", dir, name);
  CHECK(n > 0 && n < 4096, "path too long: %s/%s", dir, name);
  return n > 0 && n < 4096 ? 0 : -1;
}

/* Loads one image; checks size against probe. Returns 0 on success. */
static int load_checked(image_u8 *img, const char *path, int want_c) {
  int w, h, c;
  int r = image_probe(path, &w, &h, &c);
  CHECK(r == 0, "%s", ancd_error());
  if (r != 0)
    return -1;
  r = image_load(img, path, want_c);
  CHECK(r == 0, "%s", ancd_error());
  if (r != 0)
    return -1;
  CHECK(img->w == w && img->h == h, "%s: probe %dx%d, load %dx%d", path, w, h, img->w, img->h);
  return 0;
}

/* One MTD class folder: each <name>.jpg has a <name>.png mask of the same size. */
static void check_mtd_class(const char *imgs_dir, int *n_images, int *n_masks) {
  DIR *d = opendir(imgs_dir);
  CHECK(d != NULL, "cannot open %s", imgs_dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!ends_with(e->d_name, ".jpg"))
      continue;
    char img_path[4096], mask_path[4096];
    if (join(img_path, imgs_dir, e->d_name) != 0)
      continue;
    memcpy(mask_path, img_path, sizeof img_path);
    memcpy(mask_path + strlen(mask_path) - 3, "png", 3);
    image_u8 img, mask;
    if (load_checked(&img, img_path, 3) != 0)
      continue;
    (*n_images)++;
    if (load_checked(&mask, mask_path, 0) == 0) {
      (*n_masks)++;
      CHECK(mask.w == img.w && mask.h == img.h && mask.c == 1, "%s: mask %dx%dx%d, image %dx%d",
            mask_path, mask.w, mask.h, mask.c, img.w, img.h);
      image_free(&mask);
    }
    image_free(&img);
  }
  closedir(d);
}

int main(void) {
  const char *shared = test_shared_dir();
  char dir[4096];
  if (shared)
    snprintf(dir, sizeof dir, "%s/data/mtd", shared);
  DIR *d = shared ? opendir(dir) : NULL;
  if (!d)
    test_skip("../shared/data/mtd not found");

  int n_images = 0, n_masks = 0, n_classes = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "MT_", 3) != 0)
      continue;
    char imgs[4096];
    char cls[4096];
    if (join(cls, dir, e->d_name) != 0 || join(imgs, cls, "Imgs") != 0)
      continue;
    check_mtd_class(imgs, &n_images, &n_masks);
    n_classes++;
  }
  closedir(d);
  fprintf(stderr, "MTD: %d classes, %d images, %d masks decoded\n", n_classes, n_images, n_masks);
  /* data/README.md: 952 + 115 + 85 + 57 + 32 + 103 images, one mask each. */
  CHECK(n_classes == 6 && n_images == 1344 && n_masks == 1344, "MTD counts");

  snprintf(dir, sizeof dir, "%s/data/imagenet_samples", shared);
  d = opendir(dir);
  CHECK(d != NULL, "cannot open %s", dir);
  int n_photos = 0;
  while (d && (e = readdir(d)) != NULL) {
    if (!ends_with(e->d_name, ".JPEG"))
      continue;
    char path[4096];
    image_u8 img;
    if (join(path, dir, e->d_name) != 0)
      continue;
    if (load_checked(&img, path, 0) == 0) {
      CHECK(img.c == 3, "%s: %d channels", path, img.c);
      n_photos++;
      image_free(&img);
    }
  }
  if (d)
    closedir(d);
  fprintf(stderr, "ImageNet samples: %d photos decoded\n", n_photos);
  CHECK(n_photos == 17, "ImageNet samples: %d of 17", n_photos);
  return test_done("real_images");
}
