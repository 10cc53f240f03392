/* Crop geometry, anomalyncd_spec §3.1-§3.4: the reference's crop_sub_image_mask and
 * merge_crop_boxes (AnomalyNCD models/modules/_MEBin.py), replicated with their Python list and
 * float semantics: boxes are compared and removed by value, merged boxes are squared after every
 * union and never clamped, and the final sort is stable. */
#include "crops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mebin.h"

static const double PADDING = 0.1;         /* half-side = max(h, w) * (1 + padding) / 2 */
static const double MIN_CROP_SIZE = 0.1;   /* half-side >= S * min_crop_size */
static const double MAX_MERGE_DIST = 0.01; /* merge boxes closer than S * max_merge_dist */

/* The reference takes max() of the (H, W, 3) image shape. */
static int long_side(int H, int W) {
  int s = H > W ? H : W;
  return s > 3 ? s : 3;
}

static int region_cmp(const void *pa, const void *pb) {
  const crop_region *a = pa, *b = pb;
  long area_a = (long)a->w * a->h, area_b = (long)b->w * b->h;
  if (area_a != area_b)
    return area_a < area_b ? -1 : 1;
  if (a->x != b->x)
    return a->x < b->x ? -1 : 1;
  if (a->y != b->y)
    return a->y < b->y ? -1 : 1;
  if (a->w != b->w)
    return a->w < b->w ? -1 : 1;
  if (a->h != b->h)
    return a->h < b->h ? -1 : 1;
  return 0;
}

/* §3.1. A component is external when the background around it is the outer one: the zero frame
 * findContours pads the image with, plus the background 4-connected to it (the dual of 8-connected
 * foreground). A component touching the image edge touches the frame; any other touches the
 * outer background through a 4-neighbour iff it does not lie in a hole of another component. */
int crop_regions(crop_region **regions, const uint8_t *mask, int H, int W) {
  int hw = H * W;
  *regions = NULL;
  if (hw <= 0)
    return 0;
  int *labels = xmalloc((size_t)hw * sizeof *labels);
  int n = label_components8(labels, mask, H, W);
  if (n == 0) {
    free(labels);
    return 0;
  }
  /* Outer background: flood fill (4-connected) from the background pixels on the image edge. */
  uint8_t *outer = xcalloc((size_t)hw, 1);
  int *queue = xmalloc((size_t)hw * sizeof *queue), head = 0, tail = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int i = y * W + x;
      if ((y == 0 || y == H - 1 || x == 0 || x == W - 1) && !mask[i]) {
        outer[i] = 1;
        queue[tail++] = i;
      }
    }
  while (head < tail) {
    int i = queue[head++], y = i / W, x = i % W;
    int nb[4] = {y > 0 ? i - W : -1, y < H - 1 ? i + W : -1, x > 0 ? i - 1 : -1,
                 x < W - 1 ? i + 1 : -1};
    for (int t = 0; t < 4; t++)
      if (nb[t] >= 0 && !mask[nb[t]] && !outer[nb[t]]) {
        outer[nb[t]] = 1;
        queue[tail++] = nb[t];
      }
  }
  free(queue);
  /* Per component: external flag and inclusive extents. */
  int *box = xmalloc((size_t)n * 5 * sizeof *box); /* x0, y0, x1, y1, external */
  for (int c = 0; c < n; c++) {
    box[5 * c] = W;
    box[5 * c + 1] = H;
    box[5 * c + 2] = -1;
    box[5 * c + 3] = -1;
    box[5 * c + 4] = 0;
  }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int i = y * W + x, c = labels[i];
      if (c < 0)
        continue;
      int *b = box + 5 * c;
      b[0] = x < b[0] ? x : b[0];
      b[1] = y < b[1] ? y : b[1];
      b[2] = x > b[2] ? x : b[2];
      b[3] = y > b[3] ? y : b[3];
      if (!b[4])
        b[4] = y == 0 || y == H - 1 || x == 0 || x == W - 1 || outer[i - W] || outer[i + W] ||
               outer[i - 1] || outer[i + 1];
    }
  free(outer);
  free(labels);
  crop_region *out = xmalloc((size_t)n * sizeof *out);
  int m = 0;
  for (int c = 0; c < n; c++) {
    const int *b = box + 5 * c;
    if (b[4])
      out[m++] = (crop_region){b[0], b[1], b[2] - b[0] + 1, b[3] - b[1] + 1};
  }
  free(box);
  qsort(out, (size_t)m, sizeof *out, region_cmp);
  *regions = out;
  return m;
}

/* §3.2: centre and half-side truncated as the reference's int() of doubles; one shift per axis
 * (left else right, top else bottom), so a box wider than a short side still sticks out. */
crop_box crop_square_box(const crop_region *region, int H, int W) {
  int S = long_side(H, W);
  int cx = (int)((double)(2 * region->x + region->w) * 0.5);
  int cy = (int)((double)(2 * region->y + region->h) * 0.5);
  int m = region->h > region->w ? region->h : region->w;
  int r = (int)((double)m * (1.0 + PADDING) * 0.5);
  int r_min = (int)((double)S * MIN_CROP_SIZE), r_max = (int)((double)S * 0.5);
  r = r > r_min ? r : r_min;
  r = r < r_max ? r : r_max;
  int l = cx - r, u = cy - r, rr = cx + r, d = cy + r;
  if (l < 0) {
    l = 0;
    rr = 2 * r;
  } else if (rr > W) {
    l = W - 2 * r;
    rr = W;
  }
  if (u < 0) {
    u = 0;
    d = 2 * r;
  } else if (d > H) {
    u = H - 2 * r;
    d = H;
  }
  return (crop_box){l, u, rr, d};
}

static int box_eq(const crop_box *a, const crop_box *b) {
  return a->l == b->l && a->u == b->u && a->r == b->r && a->d == b->d;
}

/* Python tuple order. */
static int box_cmp(const crop_box *a, const crop_box *b) {
  if (a->l != b->l)
    return a->l < b->l ? -1 : 1;
  if (a->u != b->u)
    return a->u < b->u ? -1 : 1;
  if (a->r != b->r)
    return a->r < b->r ? -1 : 1;
  if (a->d != b->d)
    return a->d < b->d ? -1 : 1;
  return 0;
}

/* The reference's min_distance_of_rectangles on rect(x, y, width, height): -1 when the boxes
 * overlap on both axes (strict), the gap on the one axis where they do not overlap, or the
 * Euclidean norm of both gaps. Same operations in the same order as the Python. */
static double box_distance(const crop_box *a, const crop_box *b) {
  double wa = a->r - a->l, ha = a->d - a->u, wb = b->r - b->l, hb = b->d - b->u;
  double dx = fabs((a->l + wa / 2) - (b->l + wb / 2));
  double dy = fabs((a->u + ha / 2) - (b->u + hb / 2));
  double half_w = (wa + wb) / 2, half_h = (ha + hb) / 2;
  if (dx < half_w && dy >= half_h)
    return dy - half_h;
  if (dx >= half_w && dy < half_h)
    return dx - half_w;
  if (dx >= half_w && dy >= half_h) {
    double gx = dx - half_w, gy = dy - half_h;
    return sqrt(gx * gx + gy * gy);
  }
  return -1.0;
}

/* Python list.remove: the first equal element; returns 0 when absent. */
static int list_remove(crop_box *list, int *n, const crop_box *b) {
  for (int i = 0; i < *n; i++)
    if (box_eq(&list[i], b)) {
      memmove(list + i, list + i + 1, (size_t)(*n - i - 1) * sizeof *list);
      (*n)--;
      return 1;
    }
  return 0;
}

/* A group: its members (boxes, with the multiplicity they have in the list) sorted. */
typedef struct {
  crop_box *box;
  int n;
} box_group;

static int group_eq(const box_group *a, const box_group *b) {
  if (a->n != b->n)
    return 0;
  for (int i = 0; i < a->n; i++)
    if (!box_eq(&a->box[i], &b->box[i]))
      return 0;
  return 1;
}

/* set(a) <= set(b). */
static int group_subset(const box_group *a, const box_group *b) {
  for (int i = 0; i < a->n; i++) {
    int found = 0;
    for (int j = 0; j < b->n && !found; j++)
      found = box_eq(&a->box[i], &b->box[j]);
    if (!found)
      return 0;
  }
  return 1;
}

static int box_qsort_cmp(const void *a, const void *b) { return box_cmp(a, b); }

static double box_area(const crop_box *b) { return (b->r - b->l) * (b->d - b->u); }

/* §3.3 */
int crop_merge_boxes(crop_box *out, const crop_box *boxes, int n, int H, int W) {
  if (n <= 0)
    return 0;
  int thr = (int)((double)long_side(H, W) * MAX_MERGE_DIST);
  /* Groups, one per distinct box in order of first appearance (the dict's keys): every box of the
   * list, copies included, closer than thr; sorted; a group equal to an earlier one is skipped. */
  box_group *groups = xmalloc((size_t)n * sizeof *groups);
  int n_groups = 0;
  for (int i = 0; i < n; i++) {
    int first = 1;
    for (int j = 0; j < i && first; j++)
      first = !box_eq(&boxes[j], &boxes[i]);
    if (!first)
      continue;
    box_group g = {xmalloc((size_t)n * sizeof *g.box), 0};
    for (int j = 0; j < n; j++)
      if (box_distance(&boxes[i], &boxes[j]) < thr)
        g.box[g.n++] = boxes[j];
    qsort(g.box, (size_t)g.n, sizeof *g.box, box_qsort_cmp);
    int dup = 0;
    for (int k = 0; k < n_groups && !dup; k++)
      dup = group_eq(&groups[k], &g);
    if (dup || g.n == 0)
      free(g.box);
    else
      groups[n_groups++] = g;
  }
  /* Drop every group that is a proper subset of another (judged on the full list first). */
  int *drop = xcalloc((size_t)n_groups, sizeof *drop);
  for (int a = 0; a < n_groups; a++)
    for (int b = 0; b < n_groups && !drop[a]; b++)
      drop[a] = a != b && group_subset(&groups[a], &groups[b]);
  /* Merge each surviving group: remove its members from the list by value (a box already taken
   * by an earlier group is skipped, or an equal merged box is taken instead, as in Python), union
   * from the first member, squaring after every union, and append. */
  crop_box *list = xmalloc((size_t)2 * n * sizeof *list);
  memcpy(list, boxes, (size_t)n * sizeof *list);
  int len = n;
  for (int k = 0; k < n_groups; k++) {
    if (drop[k])
      continue;
    const box_group *g = &groups[k];
    for (int i = 0; i < g->n; i++)
      list_remove(list, &len, &g->box[i]);
    crop_box m = g->box[0];
    for (int i = 1; i < g->n; i++) {
      const crop_box *o = &g->box[i];
      m.l = o->l < m.l ? o->l : m.l;
      m.u = o->u < m.u ? o->u : m.u;
      m.r = o->r > m.r ? o->r : m.r;
      m.d = o->d > m.d ? o->d : m.d;
      double width = m.r - m.l, height = m.d - m.u;
      if (width > height) {
        double diff = (width - height) / 2;
        m.u -= diff;
        m.d += diff;
      } else if (width < height) {
        double diff = (height - width) / 2;
        m.l -= diff;
        m.r += diff;
      }
    }
    list[len++] = m;
  }
  for (int k = 0; k < n_groups; k++)
    free(groups[k].box);
  free(groups);
  free(drop);
  /* §3.3.5: stable sort by area, descending (insertion sort; the lists are short). */
  for (int i = 1; i < len; i++) {
    crop_box b = list[i];
    double area = box_area(&b);
    int j = i;
    for (; j > 0 && box_area(&list[j - 1]) < area; j--)
      list[j] = list[j - 1];
    list[j] = b;
  }
  if (len > n)
    ANCD_FATAL("crop_merge_boxes: %d boxes out of %d", len, n);
  memcpy(out, list, (size_t)len * sizeof *out);
  free(list);
  return len;
}

/* §3.2-§3.4 */
int crop_boxes(crop_box *out, int max_boxes, const uint8_t *mask, int H, int W, int est) {
  crop_region *regions;
  int n = crop_regions(&regions, mask, H, W);
  crop_box *boxes = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *boxes);
  if (n == 0) {
    boxes[0] = (crop_box){0, 0, W, H}; /* the whole image, not necessarily square */
    n = 1;
  } else {
    for (int i = 0; i < n; i++)
      boxes[i] = crop_square_box(&regions[i], H, W);
  }
  free(regions);
  crop_box *merged = xmalloc((size_t)n * sizeof *merged);
  int m = crop_merge_boxes(merged, boxes, n, H, W);
  free(boxes);
  /* §3.4: the reference keeps est + 1 boxes when there are more than est (its comment says est). */
  if (m > est)
    m = est + 1;
  if (m > max_boxes)
    m = max_boxes;
  memcpy(out, merged, (size_t)m * sizeof *out);
  free(merged);
  return m;
}

/* PIL crop: map(int, map(round, box)), Python's round being half to even; rint in the default
 * rounding mode is exactly that. */
void crop_box_round(int *x0, int *y0, int *x1, int *y1, const crop_box *b) {
  *x0 = (int)rint(b->l);
  *y0 = (int)rint(b->u);
  *x1 = (int)rint(b->r);
  *y1 = (int)rint(b->d);
}

int crop_windows_hit(const int32_t *windows, int n, const uint8_t *gt, int H, int W) {
  for (int i = 0; i < n; i++) {
    const int32_t *w = windows + 4 * i;
    int x0 = w[0] > 0 ? w[0] : 0, x1 = w[2] < W ? w[2] : W; /* the part inside the image */
    int y0 = w[1] > 0 ? w[1] : 0, y1 = w[3] < H ? w[3] : H;
    for (int y = y0; y < y1; y++)
      for (int x = x0; x < x1; x++)
        if (gt[(size_t)y * W + x] >= 128)
          return 1;
  }
  return 0;
}
