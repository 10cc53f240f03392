/* Image decoding: PNG (libpng), JPEG (libjpeg) and uncompressed BMP (by hand), chosen by the
 * first bytes of the file. The pixels match Pillow's Image.open(path).convert("RGB" / "L"),
 * which is how the reference implementations read images (musc §A.4.1).
 *
 * libpng and libjpeg report errors by longjmp. Each decoder catches them with setjmp in its own
 * frame and turns them into an ancd error; every piece of state that changes after setjmp lives
 * in a heap context reached through a pointer that does not change, so nothing is indeterminate
 * after the jump. */
#include "image.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "error.h"

typedef enum { FORMAT_UNKNOWN, FORMAT_PNG, FORMAT_JPEG, FORMAT_BMP } image_format;

static image_format detect_format(const uint8_t *b, size_t n) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && memcmp(b, png_sig, 8) == 0)
    return FORMAT_PNG;
  if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
    return FORMAT_JPEG;
  if (n >= 2 && b[0] == 'B' && b[1] == 'M')
    return FORMAT_BMP;
  return FORMAT_UNKNOWN;
}

/* Opens path and reads up to n leading bytes (the file position is then rewound). */
static FILE *open_and_peek(const char *path, uint8_t *buf, size_t n, size_t *got) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    ancd_errorf("%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  *got = fread(buf, 1, n, f);
  if (ferror(f) || fseek(f, 0, SEEK_SET) != 0) {
    ancd_errorf("%s: read error: %s", path, strerror(errno));
    fclose(f);
    return NULL;
  }
  if (*got == 0) {
    ancd_errorf("%s: empty file", path);
    fclose(f);
    return NULL;
  }
  return f;
}

static int unknown_format(const char *path, const uint8_t *b, size_t n) {
  char hex[3 * 8 + 1] = "";
  for (size_t i = 0; i < n && i < 8; i++)
    snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", b[i]);
  return ancd_errorf("%s: not a PNG, JPEG or BMP file (first bytes %s)", path, hex);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---------------------------------------------------------------------------------------- */
/* PNG. The classic libpng API is used rather than the simplified one (png_image_*) because the
 * simplified API is colour-managed: it treats 16-bit data as linear and converts it with a
 * gamma curve when asked for 8 bits, honours gAMA chunks, and composites alpha. Pillow does
 * none of that: it drops the low byte of 16-bit samples, ignores gAMA and drops alpha. The
 * transforms below do exactly that and nothing else. */

typedef struct {
  jmp_buf jmp;
  char msg[256];
  png_structp png;
  png_infop info;
  png_bytep *rows;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_ctx *ctx = png_get_error_ptr(png);
  snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
  longjmp(ctx->jmp, 1);
}

/* Warnings (unknown chunks, odd ICC profiles) do not affect the pixels Pillow reads. */
static void png_on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static int load_png(image_u8 *out, const char *path, FILE *f) {
  png_ctx *ctx = xcalloc(1, sizeof *ctx);
  ctx->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, png_on_error, png_on_warning);
  if (ctx->png)
    ctx->info = png_create_info_struct(ctx->png);
  if (!ctx->png || !ctx->info) {
    png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
    free(ctx);
    return ancd_errorf("%s: libpng could not allocate its state", path);
  }
  if (setjmp(ctx->jmp)) {
    png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
    free(ctx->rows);
    image_free(out);
    int r =
        ancd_errorf("%s: %s PNG (libpng: %s)", path, feof(f) ? "truncated" : "corrupt", ctx->msg);
    free(ctx);
    return r;
  }
  png_init_io(ctx->png, f);
  png_read_info(ctx->png, ctx->info);
  png_uint_32 w, h;
  int depth, color;
  png_get_IHDR(ctx->png, ctx->info, &w, &h, &depth, &color, NULL, NULL, NULL);
  if (depth == 16)
    png_set_strip_16(ctx->png); /* v >> 8, as Pillow's "RGB;16B" unpacker */
  if (color == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(ctx->png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
    png_set_expand_gray_1_2_4_to_8(ctx->png); /* 1-bit -> 0/255, 2-bit -> v*85, 4-bit -> v*17 */
  /* convert("RGB"/"L") drops alpha, including the alpha a palette's tRNS expands to. */
  png_set_strip_alpha(ctx->png);
  png_set_interlace_handling(ctx->png);
  png_read_update_info(ctx->png, ctx->info);
  int c = png_get_channels(ctx->png, ctx->info);
  if ((c != 1 && c != 3) || png_get_rowbytes(ctx->png, ctx->info) != (size_t)w * c)
    png_error(ctx->png, "unexpected layout after transforms");
  if (w > INT32_MAX || h > INT32_MAX || image_alloc(out, (int)w, (int)h, c) != 0) {
    png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
    free(ctx);
    return ancd_errorf("%s: PNG size %ux%u not supported", path, (unsigned)w, (unsigned)h);
  }
  ctx->rows = xmalloc(h * sizeof *ctx->rows);
  for (png_uint_32 y = 0; y < h; y++)
    ctx->rows[y] = out->data + (size_t)y * w * c;
  png_read_image(ctx->png, ctx->rows);
  /* No png_read_end: like Pillow, accept a file whose chunks after the image data are cut. */
  png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
  free(ctx->rows);
  free(ctx);
  return 0;
}

/* The IHDR chunk sits at a fixed place: signature, length, "IHDR", width, height, depth, type. */
static int probe_png(const char *path, const uint8_t *b, size_t n, int *w, int *h, int *c) {
  if (n < 26)
    return ancd_errorf("%s: truncated PNG (%zu bytes, header cut)", path, n);
  if (memcmp(b + 12, "IHDR", 4) != 0)
    return ancd_errorf("%s: corrupt PNG (no IHDR chunk at the start)", path);
  uint32_t pw = be32(b + 16), ph = be32(b + 20);
  if (pw == 0 || ph == 0 || pw > INT32_MAX || ph > INT32_MAX)
    return ancd_errorf("%s: corrupt PNG (size %ux%u)", path, pw, ph);
  *w = (int)pw;
  *h = (int)ph;
  *c = (b[25] & PNG_COLOR_MASK_COLOR) ? 3 : 1; /* grey and grey+alpha load as 1 channel */
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* JPEG. Defaults match Pillow's decoder: islow IDCT, fancy upsampling. */

typedef struct {
  struct jpeg_error_mgr err; /* first, so cinfo.err can be cast back to the context */
  jmp_buf jmp;
  char msg[JMSG_LENGTH_MAX];
  struct jpeg_decompress_struct cinfo;
  uint8_t *row;
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_ctx *ctx = (jpeg_ctx *)cinfo->err;
  cinfo->err->format_message(cinfo, ctx->msg);
  longjmp(ctx->jmp, 1);
}

/* libjpeg only warns at end of file and pads with grey; a cut file must fail instead (Pillow:
 * "image file is truncated"). Other warnings are ignored, as Pillow does. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
    jpeg_on_error(cinfo);
}

static jpeg_ctx *jpeg_ctx_new(void) {
  jpeg_ctx *ctx = xcalloc(1, sizeof *ctx);
  ctx->cinfo.err = jpeg_std_error(&ctx->err);
  ctx->err.error_exit = jpeg_on_error;
  ctx->err.emit_message = jpeg_on_message;
  return ctx;
}

static void jpeg_ctx_free(jpeg_ctx *ctx) {
  jpeg_destroy_decompress(&ctx->cinfo); /* safe on a zeroed or half-built struct */
  free(ctx->row);
  free(ctx);
}

/* Pillow reads 4-component JPEGs as Adobe-style inverted CMYK ("CMYK;I") and converts with
 * r = nk - nk*c/255 (rounded), nk = 255 - k. In libjpeg's raw (inverted) values that is
 * r = K - (255 - C) * K / 255. */
static uint8_t pillow_cmyk_channel(int raw_c, int raw_k) {
  int t = (255 - raw_c) * raw_k + 128;
  int v = raw_k - (((t >> 8) + t) >> 8);
  return (uint8_t)(v < 0 ? 0 : v);
}

static int load_jpeg(image_u8 *out, const char *path, FILE *f) {
  jpeg_ctx *ctx = jpeg_ctx_new();
  if (setjmp(ctx->jmp)) {
    int cut = ctx->err.msg_code == JWRN_JPEG_EOF;
    int r = ancd_errorf("%s: %s JPEG (libjpeg: %s)", path, cut ? "truncated" : "corrupt", ctx->msg);
    jpeg_ctx_free(ctx);
    image_free(out);
    return r;
  }
  jpeg_create_decompress(&ctx->cinfo);
  jpeg_stdio_src(&ctx->cinfo, f);
  jpeg_read_header(&ctx->cinfo, TRUE);
  J_COLOR_SPACE cs = ctx->cinfo.jpeg_color_space;
  int cmyk = cs == JCS_CMYK || cs == JCS_YCCK;
  ctx->cinfo.out_color_space = cs == JCS_GRAYSCALE ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  /* Allocate before jpeg_start_decompress, which for progressive files allocates coefficient
   * buffers for the whole image: a corrupt header claiming a huge size stops here. */
  int w = (int)ctx->cinfo.image_width, h = (int)ctx->cinfo.image_height;
  int c = cs == JCS_GRAYSCALE ? 1 : 3;
  if (image_alloc(out, w, h, c) != 0) {
    jpeg_ctx_free(ctx);
    return ancd_error_prefix("%s: ", path);
  }
  jpeg_start_decompress(&ctx->cinfo);
  if ((int)ctx->cinfo.output_width != w || (int)ctx->cinfo.output_height != h ||
      ctx->cinfo.output_components != (c == 1 ? 1
                                       : cmyk ? 4
                                              : 3))
    ERREXIT(&ctx->cinfo, JERR_CONVERSION_NOTIMPL);
  if (cmyk)
    ctx->row = xmalloc((size_t)w * 4);
  while (ctx->cinfo.output_scanline < ctx->cinfo.output_height) {
    int y = (int)ctx->cinfo.output_scanline;
    uint8_t *dst = out->data + (size_t)y * w * c;
    JSAMPROW row = cmyk ? ctx->row : dst;
    if (jpeg_read_scanlines(&ctx->cinfo, &row, 1) != 1)
      ERREXIT(&ctx->cinfo, JERR_INPUT_EMPTY);
    for (int x = 0; cmyk && x < w; x++)
      for (int k = 0; k < 3; k++)
        dst[3 * x + k] = pillow_cmyk_channel(ctx->row[4 * x + k], ctx->row[4 * x + 3]);
  }
  /* No jpeg_finish_decompress: all pixels are in; a missing EOI marker is not an error. */
  jpeg_ctx_free(ctx);
  return 0;
}

static int probe_jpeg(const char *path, FILE *f, int *w, int *h, int *c) {
  jpeg_ctx *ctx = jpeg_ctx_new();
  if (setjmp(ctx->jmp)) {
    int cut = ctx->err.msg_code == JWRN_JPEG_EOF;
    int r = ancd_errorf("%s: %s JPEG (libjpeg: %s)", path, cut ? "truncated" : "corrupt", ctx->msg);
    jpeg_ctx_free(ctx);
    return r;
  }
  jpeg_create_decompress(&ctx->cinfo);
  jpeg_stdio_src(&ctx->cinfo, f);
  jpeg_read_header(&ctx->cinfo, TRUE);
  *w = (int)ctx->cinfo.image_width;
  *h = (int)ctx->cinfo.image_height;
  *c = ctx->cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
  jpeg_ctx_free(ctx);
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* BMP: uncompressed 8-bit palette, 24-bit BGR and 32-bit BGRX, bottom-up or top-down, parsed
 * with every offset checked against the file size. */

enum {
  BMP_FILE_HEADER = 14,
  BMP_MAX_PEEK = BMP_FILE_HEADER + 124 + 4 * 256,
  BMP_MAX_DIM = 1 << 20
};

typedef struct {
  int w, h, top_down, bpp;
  uint32_t offset;         /* of the pixel rows */
  int gray;                /* 8-bit file whose palette is a grey ramp: Pillow opens it as "L" */
  uint8_t palette[256][3]; /* RGB; entries past the file's colour count stay black */
} bmp_header;

static int parse_bmp_header(bmp_header *bh, const char *path, const uint8_t *b, size_t n) {
  memset(bh, 0, sizeof *bh);
  if (n < BMP_FILE_HEADER + 40)
    return ancd_errorf("%s: truncated BMP header (%zu bytes)", path, n);
  uint32_t hsize = le32(b + 14);
  if (hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
    return ancd_errorf("%s: unsupported BMP header size %u (only BITMAPINFOHEADER or later)", path,
                       hsize);
  int64_t w = (int32_t)le32(b + 18), h = (int32_t)le32(b + 22);
  bh->top_down = h < 0;
  h = h < 0 ? -h : h;
  if (w < 1 || h < 1 || w > BMP_MAX_DIM || h > BMP_MAX_DIM)
    return ancd_errorf("%s: corrupt BMP (size %lldx%lld)", path, (long long)w, (long long)h);
  bh->w = (int)w;
  bh->h = (int)h;
  bh->bpp = le16(b + 28);
  uint32_t compression = le32(b + 30);
  bh->offset = le32(b + 10);
  int ok = (bh->bpp == 8 || bh->bpp == 24 || bh->bpp == 32) && compression == 0;
  if (bh->bpp == 32 && compression == 3) { /* BI_BITFIELDS: accept only the plain BGRX masks */
    if (n < BMP_FILE_HEADER + 40 + 12)
      return ancd_errorf("%s: truncated BMP header (no colour masks)", path);
    ok = le32(b + 54) == 0xff0000u && le32(b + 58) == 0xff00u && le32(b + 62) == 0xffu;
  }
  if (!ok)
    return ancd_errorf("%s: unsupported BMP (%d bits per pixel, compression %u; only "
                       "uncompressed 8-, 24- and 32-bit)",
                       path, bh->bpp, compression);
  if (bh->bpp != 8)
    return 0;
  uint32_t colors = le32(b + 46);
  if (colors == 0)
    colors = 256;
  if (colors > 256)
    return ancd_errorf("%s: corrupt BMP (%u palette colours)", path, colors);
  size_t pal = BMP_FILE_HEADER + hsize;
  if (pal + 4 * (size_t)colors > n)
    return ancd_errorf("%s: truncated BMP (palette of %u colours cut)", path, colors);
  bh->gray = 1;
  for (uint32_t i = 0; i < colors; i++) {
    const uint8_t *e = b + pal + 4 * i; /* B, G, R, reserved */
    bh->palette[i][0] = e[2];
    bh->palette[i][1] = e[1];
    bh->palette[i][2] = e[0];
    /* Pillow's grey test: entry i is (i,i,i), or black and white for a 2-colour palette. */
    uint8_t want = colors == 2 ? (uint8_t)(i * 255) : (uint8_t)i;
    if (e[0] != want || e[1] != want || e[2] != want)
      bh->gray = 0;
  }
  return 0;
}

static int load_bmp(image_u8 *out, const char *path, FILE *f) {
  if (fseek(f, 0, SEEK_END) != 0)
    return ancd_errorf("%s: cannot seek: %s", path, strerror(errno));
  long size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
    return ancd_errorf("%s: cannot seek: %s", path, strerror(errno));
  size_t n = (size_t)size;
  uint8_t *b = xmalloc(n);
  if (fread(b, 1, n, f) != n) {
    free(b);
    return ancd_errorf("%s: read error", path);
  }
  bmp_header bh;
  if (parse_bmp_header(&bh, path, b, n) != 0) {
    free(b);
    return -1;
  }
  size_t stride = ((size_t)bh.w * bh.bpp + 31) / 32 * 4, rowbytes = (size_t)bh.w * bh.bpp / 8;
  size_t need = (size_t)bh.offset + stride * (size_t)(bh.h - 1) + rowbytes;
  if (bh.offset < BMP_FILE_HEADER + 40 || need > n) {
    free(b);
    return ancd_errorf("%s: truncated BMP (pixel data needs %zu bytes, file has %zu)", path, need,
                       n);
  }
  if (image_alloc(out, bh.w, bh.h, bh.gray ? 1 : 3) != 0) {
    free(b);
    return ancd_error_prefix("%s: ", path);
  }
  int step = bh.bpp / 8;
  for (int y = 0; y < bh.h; y++) {
    const uint8_t *src = b + bh.offset + stride * (size_t)(bh.top_down ? y : bh.h - 1 - y);
    uint8_t *dst = out->data + (size_t)y * bh.w * out->c;
    for (int x = 0; x < bh.w; x++, src += step) {
      if (bh.bpp == 8 && bh.gray) {
        dst[x] = bh.palette[src[0]][0];
      } else if (bh.bpp == 8) {
        memcpy(dst + 3 * x, bh.palette[src[0]], 3);
      } else { /* BGR or BGRX */
        dst[3 * x + 0] = src[2];
        dst[3 * x + 1] = src[1];
        dst[3 * x + 2] = src[0];
      }
    }
  }
  free(b);
  return 0;
}

/* ---------------------------------------------------------------------------------------- */

/* Pillow's convert("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded. */
static uint8_t luma(const uint8_t *rgb) {
  return (uint8_t)((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

static void convert_channels(image_u8 *img, int want_c) {
  if (want_c == 0 || want_c == img->c)
    return;
  size_t n = (size_t)img->w * img->h;
  uint8_t *data = xmalloc(n * want_c);
  for (size_t i = 0; i < n; i++) {
    if (want_c == 1)
      data[i] = luma(img->data + 3 * i);
    else
      data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = img->data[i];
  }
  free(img->data);
  img->data = data;
  img->c = want_c;
}

int image_load(image_u8 *out, const char *path, int want_c) {
  memset(out, 0, sizeof *out);
  if (want_c != 0 && want_c != 1 && want_c != 3)
    return ancd_errorf("%s: image_load: want_c %d (expected 0, 1 or 3)", path, want_c);
  uint8_t head[8];
  size_t n;
  FILE *f = open_and_peek(path, head, sizeof head, &n);
  if (!f)
    return -1;
  int r;
  switch (detect_format(head, n)) {
  case FORMAT_PNG:
    r = load_png(out, path, f);
    break;
  case FORMAT_JPEG:
    r = load_jpeg(out, path, f);
    break;
  case FORMAT_BMP:
    r = load_bmp(out, path, f);
    break;
  default:
    r = unknown_format(path, head, n);
  }
  fclose(f);
  if (r != 0) {
    image_free(out);
    return r;
  }
  convert_channels(out, want_c);
  return 0;
}

int image_probe(const char *path, int *w, int *h, int *c) {
  uint8_t head[BMP_MAX_PEEK];
  size_t n;
  FILE *f = open_and_peek(path, head, sizeof head, &n);
  if (!f)
    return -1;
  int r;
  bmp_header bh;
  switch (detect_format(head, n)) {
  case FORMAT_PNG:
    r = probe_png(path, head, n, w, h, c);
    break;
  case FORMAT_JPEG:
    r = probe_jpeg(path, f, w, h, c);
    break;
  case FORMAT_BMP:
    r = parse_bmp_header(&bh, path, head, n);
    if (r == 0) {
      *w = bh.w;
      *h = bh.h;
      *c = bh.bpp == 8 && bh.gray ? 1 : 3;
    }
    break;
  default:
    r = unknown_format(path, head, n);
  }
  fclose(f);
  return r;
}
