/* The real ImageNet ViT-Ti/16 (timm augreg, ../shared/data/weights) classifies the 17 photos of
 * ../shared/data/imagenet_samples with its own evaluation preprocessing, which is timm's
 * transforms_imagenet_eval for this checkpoint (crop_pct 0.9): RGB; torchvision Resize(248)
 * (shorter side to 248, longer side int(248 * long / short)) with Pillow bicubic; CenterCrop(224)
 * (offset int(round((size - 224) / 2.0)), Python's round: half to even); ToTensor (/255);
 * Normalize(mean = std = 0.5). An independent NumPy forward gets 17/17; at least 16 must pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "image.h"
#include "ops.h"
#include "test_util.h"
#include "vit.h"
#include "vit_load.h"

#define N_IMAGES 17
#define RESIZE_SHORT 248
#define CROP 224

/* Fills chw [3, CROP, CROP] from the file, or returns -1. */
static int preprocess(float *chw, const char *path, const float mean[3], const float std[3]) {
  image_u8 img = {0}, resized = {0}, crop = {0};
  if (image_load(&img, path, 3) != 0)
    return -1;
  int w = img.w, h = img.h;
  int short_side = w <= h ? w : h, long_side = w <= h ? h : w;
  int new_long = (int)((long)RESIZE_SHORT * long_side / short_side); /* int() of a positive */
  int out_w = w <= h ? RESIZE_SHORT : new_long, out_h = w <= h ? new_long : RESIZE_SHORT;
  int rc = image_resize(&resized, &img, out_w, out_h, RESIZE_BICUBIC_PIL);
  if (rc == 0) {
    int top = (int)rint((out_h - CROP) / 2.0), left = (int)rint((out_w - CROP) / 2.0);
    rc = image_crop(&crop, &resized, left, top, CROP, CROP);
  }
  if (rc == 0)
    vit_normalize_image(chw, crop.data, CROP, CROP, mean, std);
  image_free(&img);
  image_free(&resized);
  image_free(&crop);
  return rc;
}

int main(void) {
  const char *shared = test_shared_dir();
  char weights[1024], labels_path[1024];
  if (!shared)
    test_skip("../shared is absent");
  snprintf(weights, sizeof weights, "%s/data/weights/vit_tiny_patch16_224.safetensors", shared);
  snprintf(labels_path, sizeof labels_path, "%s/data/imagenet_samples/labels.csv", shared);
  FILE *lf = fopen(labels_path, "r");
  FILE *wf = fopen(weights, "rb");
  if (!lf || !wf)
    test_skip("the ViT-Ti/16 weights or imagenet_samples are absent");
  fclose(wf);

  char files[N_IMAGES][256];
  int label[N_IMAGES], n = 0;
  char line[512];
  CHECK(fgets(line, sizeof line, lf) && !strncmp(line, "file,class_index", 16), "csv header");
  while (n < N_IMAGES && fgets(line, sizeof line, lf))
    if (sscanf(line, "%255[^,],%d", files[n], &label[n]) == 2)
      n++;
  fclose(lf);
  CHECK(n == N_IMAGES, "%d labelled images in %s", n, labels_path);

  vit_checkpoint ck;
  if (vit_load(&ck, weights, "auto", "auto") != 0) {
    CHECK(0, "%s", ancd_error());
    return test_done("real_vit_imagenet");
  }
  CHECK(ck.desc.family == VIT_TIMM && ck.desc.dim == 192 && ck.desc.depth == 12 &&
            ck.desc.heads == 3 && ck.desc.patch == 16 && ck.desc.n_classes == 1000,
        "ViT-Ti/16: family %d dim %d depth %d heads %d patch %d classes %d", ck.desc.family,
        ck.desc.dim, ck.desc.depth, ck.desc.heads, ck.desc.patch, ck.desc.n_classes);

  /* This checkpoint wants mean = std = 0.5, set the way a user sets it: backbone.mean/std. */
  config_set *cs = malloc(sizeof *cs);
  float mean[3], std[3];
  config_defaults(cs);
  CHECK(config_set_kv(cs, "backbone.mean=[0.5, 0.5, 0.5]") == 0 &&
            config_set_kv(cs, "backbone.std=[0.5]") == 0 &&
            vit_norm_from_config(mean, std, &cs->base.backbone, ck.desc.family) == 0,
        "%s", ancd_error());
  free(cs);
  float *images = malloc(sizeof(float) * n * 3 * CROP * CROP);
  float *logits = malloc(sizeof(float) * n * 1000);
  for (int i = 0; i < n; i++) {
    char path[4608];
    snprintf(path, sizeof path, "%s/data/imagenet_samples/%s", shared, files[i]);
    CHECK(preprocess(images + (size_t)i * 3 * CROP * CROP, path, mean, std) == 0, "%s",
          ancd_error());
  }
  vit_model *m = NULL;
  CHECK(vit_create(&m, &ck.desc, &ck.w, ops_cpu(), n, CROP, CROP) == 0, "%s", ancd_error());
  if (m && vit_forward(m, images, n, NULL, 0, NULL, NULL, logits) == 0) {
    int correct = 0;
    for (int i = 0; i < n; i++) {
      const float *l = logits + (size_t)i * 1000;
      int best = 0;
      for (int k = 1; k < 1000; k++)
        best = l[k] > l[best] ? k : best;
      correct += best == label[i];
      if (best != label[i])
        printf("%s: predicted class %d, labelled %d\n", files[i], best, label[i]);
    }
    printf("imagenet top1: %d/%d\n", correct, n);
    CHECK(correct >= 16, "top-1 %d of %d", correct, n);
  } else {
    CHECK(0, "forward: %s", ancd_error());
  }
  vit_free(m);
  vit_checkpoint_free(&ck);
  free(images);
  free(logits);
  return test_done("real_vit_imagenet");
}
