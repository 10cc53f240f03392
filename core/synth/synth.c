/* Procedural synthetic industrial images (issue 2, "Synthetic data: the embedded default"):
 * three surfaces and five defect types. Everything is integer arithmetic on a counter-based
 * hash, so the bytes depend on nothing but the arguments (no float, no libm, no global state).
 * Fixed point: a "q8" value carries 8 fraction bits (256 = 1.0); coordinates are q8 pixels with
 * pixel (x, y) centred at (256x + 128, 256y + 128). C division truncates toward zero, so signed
 * arithmetic below uses / and never >> on values that may be negative. */
#include "synth.h"

#include <string.h>

#include "error.h"

enum { S = SYNTH_SIZE, NPIX = SYNTH_SIZE * SYNTH_SIZE, ONE = 256 };

/* ---- counter-based random numbers ---- */

/* splitmix64's finalizer: a bijective 64-bit mix. */
static uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t hash_key(uint64_t key, uint64_t a) { return mix64(key ^ mix64(a)); }

/* 32 random bits for the lattice point (a, b) of the stream key. */
static uint32_t hash_at(uint64_t key, int32_t a, int32_t b) {
  return (uint32_t)(mix64(key ^ ((uint64_t)(uint32_t)a << 32 | (uint32_t)b)) >> 32);
}

/* A stream: the n-th draw is hash(key, n), so draws do not depend on the platform. */
typedef struct {
  uint64_t key, counter;
} rng;

static uint32_t rng_u32(rng *r) { return (uint32_t)(hash_key(r->key, r->counter++) >> 32); }

/* Uniform in [lo, hi] (modulo bias is below 1e-6 for the small ranges used here). */
static int rng_int(rng *r, int lo, int hi) {
  return lo + (int)(rng_u32(r) % (uint32_t)(hi - lo + 1));
}

/* ---- integer helpers ---- */

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }
static int iabs(int a) { return a < 0 ? -a : a; }

static uint32_t isqrt64(uint64_t v) {
  uint64_t r = 0, bit = 1ull << 62;
  while (bit > v)
    bit >>= 2;
  while (bit) {
    if (v >= r + bit) {
      v -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return (uint32_t)r;
}

/* Scales (x, y) to length ONE (q8 unit vector). */
static void normalize_q8(int *x, int *y) {
  int len = (int)isqrt64((uint64_t)((int64_t)*x * *x + (int64_t)*y * *y));
  if (len == 0) {
    *x = ONE;
    *y = 0;
    return;
  }
  *x = *x * ONE / len;
  *y = *y * ONE / len;
}

/* A random q8 unit vector: rejection-sampled in the annulus so every direction is as likely. */
static void random_direction(rng *r, int *ux, int *uy) {
  for (;;) {
    int vx = rng_int(r, -ONE, ONE), vy = rng_int(r, -ONE, ONE);
    int l2 = vx * vx + vy * vy;
    if (l2 >= 64 * 64 && l2 <= ONE * ONE) {
      *ux = vx;
      *uy = vy;
      normalize_q8(ux, uy);
      return;
    }
  }
}

/* 3t^2 - 2t^3 for t in [0, ONE]. */
static int smoothstep_q8(int t) { return (t * t * (3 * ONE - 2 * t)) >> 16; }

/* Value noise: random values 0..255 at the corners of (cw x ch)-pixel cells, interpolated with
 * smoothstep; x, y are q8 pixels >= 0. Returns -256..256 (q8 of [-1, 1]). */
static int value_noise(uint64_t key, int x_q8, int y_q8, int cw, int ch) {
  int gx = x_q8 / (cw * ONE), gy = y_q8 / (ch * ONE);
  int sx = smoothstep_q8((x_q8 - gx * cw * ONE) / cw);
  int sy = smoothstep_q8((y_q8 - gy * ch * ONE) / ch);
  int v00 = (int)(hash_at(key, gx, gy) & 255), v10 = (int)(hash_at(key, gx + 1, gy) & 255);
  int v01 = (int)(hash_at(key, gx, gy + 1) & 255), v11 = (int)(hash_at(key, gx + 1, gy + 1) & 255);
  int top = v00 * (ONE - sx) + v10 * sx, bottom = v01 * (ONE - sx) + v11 * sx;
  int v = (top * (ONE - sy) + bottom * sy) / ONE; /* 0 .. 255*256 */
  return (v - 255 * 128) / 127;
}

/* Noise at pixel (x, y) with the image's offset (ox, oy) in pixels. */
static int noise_px(uint64_t key, int x, int y, int ox, int oy, int cw, int ch) {
  return value_noise(key, (x + ox) * ONE + ONE / 2, (y + oy) * ONE + ONE / 2, cw, ch);
}

/* Linear lighting ramp over the image: -g..g grey levels (q8 result). */
static int ramp_q8(int x, int y, int gx, int gy) {
  return (gx * (2 * x + 1 - S) + gy * (2 * y + 1 - S)) * ONE / S;
}

static void put_rgb(uint8_t *px, int lum_q8, const int tint[3], int chroma_noise) {
  for (int c = 0; c < 3; c++) {
    int v = (lum_q8 / ONE) * tint[c] / ONE + (int)((chroma_noise >> (4 * c)) & 3) - 1;
    px[c] = (uint8_t)clamp_int(v, 0, 255);
  }
}

/* ---- surfaces: each good image draws its own offset, texture and noise ---- */

/* The overall brightness is the same in every image, and lighting ramps and broad bands are faint
 * (a level or two): zero-shot detection scores a patch by its distance to the patches of the other
 * images, and with a random-initialised ViT (the demo's backbone) a patch a few grey levels darker
 * than its kind elsewhere scores as high as a defect, so image-to-image lighting would outshine
 * the defects. Texture scales stay below the ViT's 16-px patch for the same reason. */

/* Brushed metal: streaks along a slightly tilted axis (noise cells one pixel high, long along
 * the brushing direction), a faint broad reflection band and lighting ramp. */
static void render_metal(uint8_t *rgb, uint64_t key) {
  rng r = {key, 0};
  int ox = rng_int(&r, 4096, 8191), oy = rng_int(&r, 4096, 8191);
  int tilt = rng_int(&r, -16, 16); /* streak slope in 1/256 */
  const int level = 138;
  int band = rng_int(&r, 2, 5);
  int gx = rng_int(&r, -2, 2), gy = rng_int(&r, -2, 2);
  static const int tint[3] = {246, 251, 262};
  uint64_t k_coarse = hash_key(key, 1), k_mid = hash_key(key, 2), k_fine = hash_key(key, 3);
  uint64_t k_band = hash_key(key, 4), k_px = hash_key(key, 5);
  for (int y = 0; y < S; y++) {
    for (int x = 0; x < S; x++) {
      int xq = (x + ox) * ONE + ONE / 2;
      int yq = (y + oy) * ONE + ONE / 2 + (2 * x - S) * tilt / 2; /* tilt: y shifts with x */
      int lum = level * ONE + ramp_q8(x, y, gx, gy);
      lum += value_noise(k_coarse, xq, yq, 150, 1) * 15;
      lum += value_noise(k_mid, xq, yq, 37, 1) * 10;
      lum += value_noise(k_fine, xq, yq, 9, 1) * 5;
      lum += value_noise(k_band, xq, yq, 600, 70) * band;
      uint32_t h = hash_at(k_px, x, y);
      lum += ((int)(h & 15) - 8) * 96; /* sensor noise, about +-3 levels */
      put_rgb(rgb + 3 * (y * S + x), lum, tint, (int)(h >> 8));
    }
  }
}

/* Plain-weave fabric: threads of pitch 8 px alternate over and under; the thread on top shows a
 * rounded cross-section, dips where it goes under, and carries its own brightness and slubs. The
 * weave starts at the same phase in every image, so the patches along the border (which the
 * detector compares with border patches) find their like in other images. */
static void render_fabric(uint8_t *rgb, uint64_t key) {
  enum { PITCH = 8 };
  rng r = {key, 0};
  int ox = 2 * PITCH * rng_int(&r, 0, 50), oy = 2 * PITCH * rng_int(&r, 0, 50); /* whole repeats */
  int gx = rng_int(&r, -2, 2), gy = rng_int(&r, -2, 2);
  static const int warp_rgb[3] = {118, 132, 150}, weft_rgb[3] = {150, 160, 172};
  uint64_t k_thread = hash_key(key, 1), k_slub = hash_key(key, 2), k_px = hash_key(key, 3);
  /* Thread brightness depends on its absolute index, so shifted images show the same cloth. */
  for (int y = 0; y < S; y++) {
    for (int x = 0; x < S; x++) {
      int X = x + ox, Y = y + oy, cx = X / PITCH, cy = Y / PITCH;
      int warp_on_top = ((cx + cy) & 1) == 0;
      int across = warp_on_top ? X % PITCH : Y % PITCH;
      int along = warp_on_top ? Y % PITCH : X % PITCH;
      int thread = warp_on_top ? cx : cy, pos = warp_on_top ? Y : X;
      int t = (2 * across + 1 - PITCH) * ONE / PITCH; /* -1..1 across the thread */
      int s = (2 * along + 1 - PITCH) * ONE / PITCH;  /* -1..1 along, between crossings */
      int profile = ONE - t * t / ONE;                /* rounded cross-section */
      int dip = ONE - s * s / (4 * ONE);              /* darker where it dives under */
      int shade = (90 + 166 * profile / ONE) * dip / ONE;
      int jitter = (int)(hash_at(k_thread, warp_on_top, thread) & 31) - 16;
      int slub = value_noise(k_slub + (uint64_t)warp_on_top, pos * ONE, thread * ONE, 23, 1);
      const int *base = warp_on_top ? warp_rgb : weft_rgb;
      uint32_t h = hash_at(k_px, x, y);
      int light = ramp_q8(x, y, gx, gy) + ((int)(h & 15) - 8) * 80;
      for (int c = 0; c < 3; c++) {
        int v = ((base[c] + jitter) * ONE + slub * 10) * shade / ONE + light;
        rgb[3 * (y * S + x) + c] = (uint8_t)clamp_int(v / ONE, 0, 255);
      }
    }
  }
}

/* Matte cast tile: fine mottling, sandy grain, and sparse pits and specks. */
static void render_tile(uint8_t *rgb, uint64_t key) {
  rng r = {key, 0};
  int ox = rng_int(&r, 4096, 8191), oy = rng_int(&r, 4096, 8191);
  const int level = 123;
  int gx = rng_int(&r, -1, 1), gy = rng_int(&r, -1, 1);
  static const int tint[3] = {266, 248, 222};
  uint64_t k2 = hash_key(key, 2), k3 = hash_key(key, 3);
  uint64_t k4 = hash_key(key, 4), k_px = hash_key(key, 5);
  for (int y = 0; y < S; y++) {
    for (int x = 0; x < S; x++) {
      int lum = level * ONE + ramp_q8(x, y, gx, gy);
      lum += noise_px(k2, x, y, ox, oy, 23, 23); /* +-1 level: coarser mottling would glow */
      lum += noise_px(k3, x, y, ox, oy, 7, 7) * 8;
      lum += noise_px(k4, x, y, ox, oy, 2, 2) * 8;
      uint32_t h = hash_at(k_px, x, y);
      lum += ((int)(h & 31) - 16) * 80; /* grain */
      int speck = (int)((h >> 5) % 600);
      if (speck < 3)
        lum -= 28 * ONE; /* pit */
      else if (speck < 5)
        lum += 20 * ONE; /* bright speck */
      put_rgb(rgb + 3 * (y * S + x), lum, tint, (int)(h >> 16));
    }
  }
}

/* ---- defects: each paints an opacity (0..256) and a target colour per pixel ---- */

typedef struct {
  int32_t *alpha; /* 0..ONE */
  uint8_t *target;
  int32_t *dist; /* strokes: min normalised squared distance, q16 (65536 = stroke edge) */
  const uint8_t *base;
} canvas;

/* Keeps the more opaque of two paints, so overlapping strokes do not pile up. */
static void paint(canvas *cv, int i, int a, int r, int g, int b) {
  if (a <= cv->alpha[i])
    return;
  cv->alpha[i] = a;
  cv->target[3 * i] = (uint8_t)clamp_int(r, 0, 255);
  cv->target[3 * i + 1] = (uint8_t)clamp_int(g, 0, 255);
  cv->target[3 * i + 2] = (uint8_t)clamp_int(b, 0, 255);
}

static void dist_clear(canvas *cv) {
  for (int i = 0; i < NPIX; i++)
    cv->dist[i] = INT32_MAX;
}

/* A disc of radius w (q8 px) at (cx, cy) (q8 px) into the distance field. */
static void dist_disc(canvas *cv, int cx, int cy, int w) {
  int x0 = imax(0, (cx - w) / ONE - 1), x1 = (cx + w) / ONE + 1;
  int y0 = imax(0, (cy - w) / ONE - 1), y1 = (cy + w) / ONE + 1;
  int64_t w2 = (int64_t)w * w;
  for (int y = y0; y <= y1 && y < S; y++) {
    for (int x = x0; x <= x1 && x < S; x++) {
      int64_t dx = x * ONE + ONE / 2 - cx, dy = y * ONE + ONE / 2 - cy;
      int64_t n = (dx * dx + dy * dy) * 65536 / w2;
      if (n < 65536 && n < cv->dist[y * S + x])
        cv->dist[y * S + x] = (int32_t)n;
    }
  }
}

/* A segment with width going from wa to wb, sampled every quarter pixel. */
static void dist_segment(canvas *cv, int ax, int ay, int bx, int by, int wa, int wb) {
  int n = imax(iabs(bx - ax), iabs(by - ay)) / (ONE / 4) + 1;
  for (int k = 0; k <= n; k++)
    dist_disc(cv, ax + (bx - ax) * k / n, ay + (by - ay) * k / n, wa + (wb - wa) * k / n);
}

/* Paints the distance field: opacity amax * (1 - d^2) inside the stroke. */
static void paint_strokes(canvas *cv, int amax, int r, int g, int b) {
  for (int i = 0; i < NPIX; i++)
    if (cv->dist[i] < 65536)
      paint(cv, i, (int)((int64_t)amax * (65536 - cv->dist[i]) / 65536), r, g, b);
}

/* Scratch: a long thin bright curve (quadratic Bezier) with a faint groove shadow beside it,
 * tapered at both ends. */
static void defect_scratch(canvas *cv, rng *r) {
  enum { N = 96 };
  int ux, uy;
  random_direction(r, &ux, &uy);
  int nx = -uy, ny = ux;
  int cx = rng_int(r, 64, 192) * ONE, cy = rng_int(r, 64, 192) * ONE;
  int half = rng_int(r, 40, 95), bend = rng_int(r, -30, 30);
  int w_max = rng_int(r, 360, 520);
  int p0x = cx - ux * half, p0y = cy - uy * half, p2x = cx + ux * half, p2y = cy + uy * half;
  int p1x = cx + 2 * nx * bend, p1y = cy + 2 * ny * bend; /* the curve's middle is bend px off */
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: the groove's shadow, offset to one side; pass 1: the bright scratch */
    int shift = pass == 0 ? 300 : 0, wscale = pass == 0 ? 330 : 256;
    dist_clear(cv);
    int prev_x = 0, prev_y = 0, prev_w = 0;
    for (int k = 0; k <= N; k++) {
      int64_t a = (int64_t)(N - k) * (N - k), b = 2 * (int64_t)(N - k) * k, c = (int64_t)k * k;
      int x = (int)((a * p0x + b * p1x + c * p2x) / (N * N)) + nx * shift / ONE;
      int y = (int)((a * p0y + b * p1y + c * p2y) / (N * N)) + ny * shift / ONE;
      int f = clamp_int(6 * k * (N - k) * ONE / (N * N), 0, ONE); /* 0 at the ends */
      int w = w_max * (90 + 166 * f / ONE) / ONE * wscale / ONE;
      if (k > 0)
        dist_segment(cv, prev_x, prev_y, x, y, prev_w, w);
      prev_x = x, prev_y = y, prev_w = w;
    }
    if (pass == 0)
      paint_strokes(cv, 120, 40, 42, 48);
    else
      paint_strokes(cv, 240, 240, 242, 246);
  }
}

/* One jagged branch of a crack: steps of 4-6 px whose direction wanders; the first level
 * spawns side branches at sharp angles. */
static void crack_walk(canvas *cv, rng *r, int x, int y, int ux, int uy, int steps, int w0,
                       int depth) {
  int branch_at[3] = {-1, -1, -1};
  if (depth == 0)
    for (int i = 0; i < 3; i++)
      branch_at[i] = i < rng_int(r, 1, 3) ? rng_int(r, 3, steps - 3) : -1;
  for (int k = 0; k < steps; k++) {
    int jitter = rng_int(r, -120, 120);
    int vx = ux + (-uy) * jitter / ONE, vy = uy + ux * jitter / ONE;
    normalize_q8(&vx, &vy);
    int len = rng_int(r, 4, 6);
    int nx = x + vx * len, ny = y + vy * len;
    if (nx < 2 * ONE || ny < 2 * ONE || nx > (S - 3) * ONE || ny > (S - 3) * ONE)
      return;
    /* Tapers to 0.8 px: thinner strokes would fall apart between pixel centres. */
    int wa = 205 + (w0 - 205) * (steps - k) / steps,
        wb = 205 + (w0 - 205) * (steps - k - 1) / steps;
    dist_segment(cv, x, y, nx, ny, wa, wb);
    /* Directions keep a memory of the main heading so the crack does not curl up. */
    ux = (ux * 3 + vx) / 4, uy = (uy * 3 + vy) / 4;
    normalize_q8(&ux, &uy);
    x = nx, y = ny;
    for (int i = 0; i < 3; i++) {
      if (branch_at[i] != k)
        continue;
      int side = rng_int(r, 0, 1) ? 1 : -1;
      int bx = ux + side * (-uy) * 230 / ONE, by = uy + side * ux * 230 / ONE;
      normalize_q8(&bx, &by);
      crack_walk(cv, r, x, y, bx, by, rng_int(r, 5, 11), imax(205, wa * 3 / 4), depth + 1);
    }
  }
}

/* Crack: a thin dark jagged path with side branches. */
static void defect_crack(canvas *cv, rng *r) {
  int ux, uy;
  random_direction(r, &ux, &uy);
  int x = rng_int(r, 72, 184) * ONE, y = rng_int(r, 72, 184) * ONE;
  int steps = rng_int(r, 10, 18), w0 = rng_int(r, 290, 400);
  dist_clear(cv);
  /* Grows both ways from the start point. */
  crack_walk(cv, r, x, y, ux, uy, steps, w0, 0);
  crack_walk(cv, r, x, y, -ux, -uy, steps, w0, 0);
  paint_strokes(cv, 250, 26, 22, 20);
}

/* Distance from (cx, cy) in the frame of an ellipse with axis u and minor/major ratio e (q8),
 * relative to radius rad_q8 (q8 result: ONE on the ellipse). */
static int ellipse_radius(int x, int y, int cx, int cy, int ux, int uy, int e, int rad_q8) {
  int dx = x * ONE + ONE / 2 - cx, dy = y * ONE + ONE / 2 - cy;
  int a = (dx * ux + dy * uy) / ONE, b = (-dx * uy + dy * ux) / ONE * ONE / e;
  int d = (int)isqrt64((uint64_t)((int64_t)a * a + (int64_t)b * b));
  return (int)((int64_t)d * ONE / rad_q8);
}

/* Hole: a dark, roughly round pit with a wobbly edge and a bright raised rim. */
static void defect_hole(canvas *cv, rng *r) {
  int ux, uy;
  random_direction(r, &ux, &uy);
  int rad = rng_int(r, 8, 17), e = rng_int(r, 200, 256);
  int cx = rng_int(r, 40, 216) * ONE, cy = rng_int(r, 40, 216) * ONE;
  uint64_t k_edge = hash_key(r->key, 0xED6E);
  int reach = rad * 2 + 3;
  for (int y = imax(0, cy / ONE - reach); y < S && y <= cy / ONE + reach; y++) {
    for (int x = imax(0, cx / ONE - reach); x < S && x <= cx / ONE + reach; x++) {
      int wobble = noise_px(k_edge, x, y, 512, 512, 9, 9); /* -256..256 */
      int rad_q8 = rad * (ONE + wobble * 45 / ONE);
      int q = ellipse_radius(x, y, cx, cy, ux, uy, e, rad_q8);
      if (q < ONE) {
        int v = 10 + 34 * q / ONE * q / ONE; /* darkest in the middle */
        paint(cv, y * S + x, ONE, v + 4, v + 2, v);
      } else if (q < 3 * ONE / 2) {
        int t = (q - ONE) * 2; /* 0..1 from the pit's edge outwards */
        int hump = ONE - t * t / ONE;
        paint(cv, y * S + x, 170 * hump / ONE, 236, 232, 224);
      }
    }
  }
}

/* Stain: a large soft-edged brownish discolouration (oil/rust) with a lobed outline. */
static void defect_stain(canvas *cv, rng *r) {
  static const int tint[3] = {196, 140, 80}; /* multiplies the base colour */
  int ux, uy;
  random_direction(r, &ux, &uy);
  int rad = rng_int(r, 20, 42), e = rng_int(r, 150, 256);
  int cx = rng_int(r, 48, 208) * ONE, cy = rng_int(r, 48, 208) * ONE;
  uint64_t k1 = hash_key(r->key, 0x57A1), k2 = hash_key(r->key, 0x57A2);
  int reach = rad * 3 / 2 + 2;
  for (int y = imax(0, cy / ONE - reach); y < S && y <= cy / ONE + reach; y++) {
    for (int x = imax(0, cx / ONE - reach); x < S && x <= cx / ONE + reach; x++) {
      int wobble = noise_px(k1, x, y, 512, 512, 15, 15) * 70 / ONE +
                   noise_px(k2, x, y, 512, 512, 5, 5) * 20 / ONE;
      int q = ellipse_radius(x, y, cx, cy, ux, uy, e, rad * (ONE + wobble));
      if (q >= ONE)
        continue;
      int f = ONE - q * q / ONE; /* 1 - q^2 */
      int a = 245 * f / ONE * f / ONE;
      const uint8_t *px = cv->base + 3 * (y * S + x);
      paint(cv, y * S + x, a, px[0] * tint[0] / ONE, px[1] * tint[1] / ONE, px[2] * tint[2] / ONE);
    }
  }
}

/* Contamination: a cluster of small bright particles. */
static void defect_contamination(canvas *cv, rng *r) {
  int cx = rng_int(r, 48, 208) * ONE, cy = rng_int(r, 48, 208) * ONE;
  int spread = rng_int(r, 10, 22), n = rng_int(r, 9, 18);
  for (int p = 0; p < n; p++) {
    int dx, dy;
    do {
      dx = rng_int(r, -spread * ONE, spread * ONE);
      dy = rng_int(r, -spread * ONE, spread * ONE);
    } while ((int64_t)dx * dx + (int64_t)dy * dy > (int64_t)spread * spread * ONE * ONE);
    int w = rng_int(r, 280, 660), shade = rng_int(r, -12, 8);
    dist_clear(cv);
    dist_disc(cv, cx + dx, cy + dy, w);
    /* Opaque core, soft edge: opacity 2 * (1 - d^2), capped. */
    for (int y = imax(0, (cy + dy - w) / ONE - 1); y < S && y <= (cy + dy + w) / ONE + 1; y++)
      for (int x = imax(0, (cx + dx - w) / ONE - 1); x < S && x <= (cx + dx + w) / ONE + 1; x++)
        if (cv->dist[y * S + x] < 65536)
          paint(cv, y * S + x, imin(ONE, (65536 - cv->dist[y * S + x]) / 128), 246 + shade,
                240 + shade, 214 + shade);
  }
}

/* ---- tables and the public entry ---- */

typedef struct {
  const char *name;
  void (*render)(uint8_t *rgb, uint64_t key);
} surface_def;

typedef struct {
  const char *name;
  void (*paint)(canvas *cv, rng *r);
} defect_def;

static const surface_def surfaces[] = {
    {"metal", render_metal}, {"fabric", render_fabric}, {"tile", render_tile}};
static const defect_def defects[] = {{"scratch", defect_scratch},
                                     {"hole", defect_hole},
                                     {"crack", defect_crack},
                                     {"stain", defect_stain},
                                     {"contamination", defect_contamination}};
enum {
  N_SURFACES = sizeof surfaces / sizeof surfaces[0],
  N_DEFECTS = sizeof defects / sizeof defects[0]
};

int synth_n_surfaces(void) { return N_SURFACES; }
const char *synth_surface_name(int surface) {
  return surface >= 0 && surface < N_SURFACES ? surfaces[surface].name : NULL;
}
int synth_n_defects(void) { return N_DEFECTS; }
const char *synth_defect_name(int defect) {
  return defect >= 0 && defect < N_DEFECTS ? defects[defect].name : NULL;
}

/* Blends the paint over the base; a pixel changed by less than SYNTH_VISIBLE_DELTA keeps the
 * base value exactly, so the mask is exactly the set of visibly changed pixels. */
static void composite(uint8_t *rgb, uint8_t *mask, const canvas *cv) {
  for (int i = 0; i < NPIX; i++) {
    mask[i] = 0;
    int a = cv->alpha[i];
    if (a == 0)
      continue;
    int out[3], delta = 0;
    for (int c = 0; c < 3; c++) {
      int base = rgb[3 * i + c];
      out[c] = base + (cv->target[3 * i + c] - base) * a / ONE;
      delta = imax(delta, iabs(out[c] - base));
    }
    if (delta < SYNTH_VISIBLE_DELTA)
      continue;
    mask[i] = 255;
    for (int c = 0; c < 3; c++)
      rgb[3 * i + c] = (uint8_t)out[c];
  }
}

void synth_render(uint8_t *rgb, uint8_t *mask, uint64_t seed, int surface, int defect, int index,
                  int split_salt) {
  if (surface < 0 || surface >= N_SURFACES || defect < -1 || defect >= N_DEFECTS ||
      (defect >= 0 && !mask))
    ANCD_FATAL("synth_render: bad surface %d / defect %d", surface, defect);
  uint64_t key = hash_key(hash_key(hash_key(hash_key(0x616E6364u, seed), (uint64_t)surface),
                                   (uint64_t)(uint32_t)split_salt),
                          (uint64_t)(uint32_t)index);
  surfaces[surface].render(rgb, key);
  if (defect < 0)
    return;
  canvas cv = {.alpha = xcalloc(NPIX, sizeof(int32_t)),
               .target = xcalloc(NPIX * 3, 1),
               .dist = xmalloc(NPIX * sizeof(int32_t)),
               .base = rgb};
  rng r = {hash_key(key, 0xDEF0u + (uint64_t)defect), 0};
  defects[defect].paint(&cv, &r);
  composite(rgb, mask, &cv);
  free(cv.alpha);
  free(cv.target);
  free(cv.dist);
}
