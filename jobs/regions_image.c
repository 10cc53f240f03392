/* One image of `ancd regions`: MEBin (anomalyncd_spec §2), the mask at the image resolution
 * (§2.5), crops, mask crops and scores (§3). */
#include "regions_image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fsutil.h"
#include "image.h"
#include "mebin.h"

float regions_window_score(const float *smap, int H, int W, int x0, int y0, int x1, int y1) {
  int xa = x0 > 0 ? x0 : 0, xb = x1 < W ? x1 : W;
  int ya = y0 > 0 ? y0 : 0, yb = y1 < H ? y1 : H;
  int outside = xa > x0 || xb < x1 || ya > y0 || yb < y1;
  float m = outside ? 0.0f : -INFINITY;
  for (int y = ya; y < yb; y++)
    for (int x = xa; x < xb; x++)
      m = smap[(size_t)y * W + x] > m ? smap[(size_t)y * W + x] : m;
  if (xa >= xb || ya >= yb)
    m = 0.0f; /* no overlap: all fill */
  /* np.max of the float32 crop / 255.0 is float64 under NumPy 1.x; stored as float32. */
  return (float)((double)m / 255.0);
}

void image_regions_free(image_regions *r) {
  free(r->box);
  free(r->window);
  free(r->mask_area);
  free(r->score);
  free(r->pixels);
  free(r->masks);
  memset(r, 0, sizeof *r);
}

int regions_gt_hit(int *hit, const image_regions *r, const char *mask_path) {
  image_u8 gt = {0}, sized = {0};
  *hit = 0;
  if (image_load(&gt, mask_path, 1) != 0)
    return -1;
  const image_u8 *use = &gt;
  if (gt.w != r->W || gt.h != r->H) {
    if (image_resize(&sized, &gt, r->W, r->H, RESIZE_NEAREST_CV) < 0) {
      image_free(&gt);
      return ancd_error_prefix("%s: ", mask_path);
    }
    use = &sized;
  }
  *hit = crop_windows_hit(r->window, r->n_crops, use->data, r->H, r->W);
  image_free(&gt);
  image_free(&sized);
  return 0;
}

/* 2-px white frame of window [x0, x1) x [y0, y1), clipped to the image. */
static void draw_window(image_u8 *img, const int32_t *win) {
  for (int t = 0; t < 2; t++) {
    int x0 = win[0] + t, y0 = win[1] + t, x1 = win[2] - 1 - t, y1 = win[3] - 1 - t;
    for (int y = y0; y <= y1; y++)
      for (int x = x0; x <= x1; x++) {
        if (x != x0 && x != x1 && y != y0 && y != y1)
          continue;
        if (x < 0 || y < 0 || x >= img->w || y >= img->h)
          continue;
        memset(img->data + ((size_t)y * img->w + x) * 3, 255, 3);
      }
  }
}

/* regions.vis: the jet 8-bit map, resized to the image (Pillow bilinear), blended over it, with
 * the kept windows. */
static int write_vis(const char *vis_path, const image_u8 *img, const uint8_t *map, int mh, int mw,
                     const image_regions *r) {
  image_u8 small = {.w = mw, .h = mh, .c = 1, .data = (uint8_t *)map}, big = {0}, out = {0};
  if (image_resize(&big, &small, img->w, img->h, RESIZE_BILINEAR_PIL12) < 0)
    return -1;
  size_t n = (size_t)img->w * img->h;
  float *f = xmalloc(n * sizeof *f);
  for (size_t k = 0; k < n; k++)
    f[k] = big.data[k];
  image_free(&big);
  int rc = heatmap_jet(&out, f, img->w, img->h, 0.0f, 255.0f, img, 0.5f);
  free(f);
  for (int i = 0; rc == 0 && i < r->n_crops; i++)
    draw_window(&out, r->window + 4 * i);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", vis_path);
  char *slash = strrchr(dir, '/');
  if (rc == 0 && slash) {
    *slash = '\0';
    rc = fs_mkdirs(dir);
  }
  if (rc == 0)
    rc = image_write_png(vis_path, &out);
  image_free(&out);
  return rc;
}

/* §3.5: pixels, mask crop, mask area and score of each box. */
static int cut_crops(image_regions *r, const image_u8 *img, const image_u8 *mask,
                     const float *smap) {
  r->window = xmalloc((size_t)r->n_crops * 4 * sizeof *r->window);
  r->mask_area = xmalloc((size_t)r->n_crops * sizeof *r->mask_area);
  r->score = xmalloc((size_t)r->n_crops * sizeof *r->score);
  r->pool = 0;
  for (int i = 0; i < r->n_crops; i++) {
    int32_t *w = r->window + 4 * i;
    int x0, y0, x1, y1;
    crop_box_round(&x0, &y0, &x1, &y1, &r->box[i]);
    if (x1 <= x0 || y1 <= y0)
      return ancd_errorf("crop %d: empty window (%d, %d, %d, %d)", i, x0, y0, x1, y1);
    w[0] = x0;
    w[1] = y0;
    w[2] = x1;
    w[3] = y1;
    r->pool += (size_t)(x1 - x0) * (y1 - y0);
  }
  r->pixels = xmalloc(r->pool * 3);
  r->masks = xmalloc(r->pool);
  size_t at = 0;
  for (int i = 0; i < r->n_crops; i++) {
    const int32_t *w = r->window + 4 * i;
    int cw = w[2] - w[0], ch = w[3] - w[1];
    image_u8 pc = {0}, mc = {0};
    if (image_crop(&pc, img, w[0], w[1], cw, ch) < 0 ||
        image_crop(&mc, mask, w[0], w[1], cw, ch) < 0) {
      image_free(&pc);
      return -1;
    }
    size_t px = (size_t)cw * ch;
    memcpy(r->pixels + 3 * at, pc.data, 3 * px);
    memcpy(r->masks + at, mc.data, px);
    int64_t area = 0;
    for (size_t k = 0; k < px; k++)
      area += mc.data[k] != 0;
    r->mask_area[i] = area;
    r->score[i] = regions_window_score(smap, r->H, r->W, w[0], w[1], w[2], w[3]);
    image_free(&pc);
    image_free(&mc);
    at += px;
  }
  return 0;
}

int regions_image(image_regions *out, const char *path, const uint8_t *map, int mh, int mw,
                  const regions_params *p, const char *vis_path) {
  memset(out, 0, sizeof *out);
  const size_t mpx = (size_t)mh * mw;
  uint8_t *mask_m = xmalloc(mpx);
  void *scratch = xmalloc(mebin_scratch_bytes(mh, mw));
  mebin_result res;
  mebin_binarize(mask_m, &res, scratch, map, mh, mw, p->search_min, p->search_max,
                 p->opt->sample_rate, p->opt->min_interval_len, p->opt->erode_kernel);
  free(scratch);
  out->threshold = res.threshold;
  out->est = res.est;
  out->degenerate = res.degenerate;

  image_u8 img = {0}, mask = {0};
  float *nmap = NULL, *smap = NULL;
  int rc = image_load(&img, path, 3); /* its message names the file */
  int loaded = rc == 0;
  if (rc == 0) {
    out->H = img.h;
    out->W = img.w;
    /* §2.5: nearest (OpenCV) to the image size. The reference then writes the mask with
     * matplotlib, which turns an all-255 mask black (§11.6): that image would fall back to the
     * whole-image crop with an empty mask. ancd keeps the mask in memory as it is (the Errata's
     * default), so such an image gets one region covering it. */
    image_u8 small = {.w = mw, .h = mh, .c = 1, .data = mask_m};
    rc = image_resize(&mask, &small, img.w, img.h, RESIZE_NEAREST_CV);
  }
  if (rc == 0) {
    int cap = res.est + 1; /* crop_boxes keeps at most est + 1 (§3.4) */
    out->box = xmalloc((size_t)cap * sizeof *out->box);
    out->n_crops = crop_boxes(out->box, cap, mask.data, img.h, img.w, res.est);
    if (out->n_crops < 1)
      rc = ancd_errorf("no crop box");
  }
  if (rc == 0) {
    /* §3.5 score map: n as float, Pillow bicubic in mode "F" to (W, H); Pillow <= 12's pass
     * order as the rest of the pipeline (upscaling both axes, the order only moves float
     * rounding). */
    nmap = xmalloc(mpx * sizeof *nmap);
    smap = xmalloc((size_t)img.w * img.h * sizeof *smap);
    mebin_normalise_map(nmap, map, mpx, p->search_min, p->search_max);
    rc = image_resize_f32(smap, nmap, mw, mh, img.w, img.h, RESIZE_BICUBIC_PIL12);
  }
  if (rc == 0)
    rc = cut_crops(out, &img, &mask, smap);
  if (rc == 0 && vis_path)
    rc = write_vis(vis_path, &img, map, mh, mw, out);
  free(nmap);
  free(smap);
  free(mask_m);
  image_free(&img);
  image_free(&mask);
  if (rc < 0) {
    image_regions_free(out);
    return loaded ? ancd_error_prefix("%s: ", path) : -1;
  }
  return 0;
}
