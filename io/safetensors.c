/* safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value", ...}}, then the data section; offsets are relative to it.
 * The JSON is read by the small parser below (objects, arrays, strings with escapes, integers),
 * which is all the format uses; every offset and size is checked before any data is touched. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* ---------------------------------------------------------------------------------------- */
/* JSON */

typedef struct {
  const char *path;
  const char *s; /* the header text */
  size_t n, i;   /* its length and the cursor */
} json;

static int json_error(const json *j, const char *what) {
  return ancd_errorf("%s: malformed JSON header at byte %zu of %zu: %s", j->path, j->i, j->n, what);
}

static void skip_space(json *j) {
  while (j->i < j->n &&
         (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
    j->i++;
}

/* Skips white space; the next character, or 0 at the end. */
static char peek(json *j) {
  skip_space(j);
  return j->i < j->n ? j->s[j->i] : 0;
}

static int expect(json *j, char c) {
  if (peek(j) != c) {
    char what[32];
    snprintf(what, sizeof what, "expected '%c'", c);
    return json_error(j, what);
  }
  j->i++;
  return 0;
}

static int hex4(json *j, unsigned *v) {
  if (j->n - j->i < 4)
    return json_error(j, "truncated \\u escape");
  *v = 0;
  for (int k = 0; k < 4; k++) {
    char c = j->s[j->i++];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return json_error(j, "bad hex digit in \\u escape");
    *v = *v << 4 | (unsigned)d;
  }
  return 0;
}

/* A string into out (UTF-8, NUL-terminated, at most cap - 1 bytes). */
static int parse_string(json *j, char *out, size_t cap) {
  if (expect(j, '"'))
    return -1;
  size_t len = 0;
  for (;;) {
    if (j->i >= j->n)
      return json_error(j, "unterminated string");
    unsigned char c = (unsigned char)j->s[j->i++];
    if (c == '"')
      break;
    if (c < 0x20)
      return json_error(j, "control character in string");
    unsigned cp = c;
    char utf8[4];
    int nb = 1;
    utf8[0] = (char)c;
    if (c == '\\') {
      if (j->i >= j->n)
        return json_error(j, "unterminated string");
      char e = j->s[j->i++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        utf8[0] = e;
        break;
      case 'b':
        utf8[0] = '\b';
        break;
      case 'f':
        utf8[0] = '\f';
        break;
      case 'n':
        utf8[0] = '\n';
        break;
      case 'r':
        utf8[0] = '\r';
        break;
      case 't':
        utf8[0] = '\t';
        break;
      case 'u':
        if (hex4(j, &cp))
          return -1;
        if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
          unsigned lo;
          if (j->n - j->i < 2 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u')
            return json_error(j, "unpaired surrogate in \\u escape");
          j->i += 2;
          if (hex4(j, &lo))
            return -1;
          if (lo < 0xdc00 || lo >= 0xe000)
            return json_error(j, "unpaired surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          return json_error(j, "unpaired surrogate in \\u escape");
        }
        if (cp == 0)
          return json_error(j, "\\u0000 in string");
        if (cp < 0x80) {
          utf8[0] = (char)cp;
        } else if (cp < 0x800) {
          utf8[0] = (char)(0xc0 | cp >> 6);
          utf8[1] = (char)(0x80 | (cp & 0x3f));
          nb = 2;
        } else if (cp < 0x10000) {
          utf8[0] = (char)(0xe0 | cp >> 12);
          utf8[1] = (char)(0x80 | (cp >> 6 & 0x3f));
          utf8[2] = (char)(0x80 | (cp & 0x3f));
          nb = 3;
        } else {
          utf8[0] = (char)(0xf0 | cp >> 18);
          utf8[1] = (char)(0x80 | (cp >> 12 & 0x3f));
          utf8[2] = (char)(0x80 | (cp >> 6 & 0x3f));
          utf8[3] = (char)(0x80 | (cp & 0x3f));
          nb = 4;
        }
        break;
      default:
        j->i--;
        return json_error(j, "bad escape in string");
      }
    }
    if (len + (size_t)nb >= cap)
      return json_error(j, "string too long");
    memcpy(out + len, utf8, (size_t)nb);
    len += (size_t)nb;
  }
  out[len] = 0;
  return 0;
}

/* A non-negative integer (every number in a safetensors header is a size or an offset). */
static int parse_count(json *j, int64_t *v) {
  skip_space(j);
  if (j->i >= j->n || j->s[j->i] < '0' || j->s[j->i] > '9')
    return json_error(j, "expected a non-negative integer");
  int64_t x = 0;
  while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
    int d = j->s[j->i] - '0';
    if (x > (INT64_MAX - d) / 10)
      return json_error(j, "integer too large");
    x = x * 10 + d;
    j->i++;
  }
  if (j->i < j->n && (j->s[j->i] == '.' || j->s[j->i] == 'e' || j->s[j->i] == 'E'))
    return json_error(j, "expected an integer, found a fraction or exponent");
  *v = x;
  return 0;
}

/* An array of non-negative integers into v[0..*count) (at most max). */
static int parse_count_array(json *j, int64_t *v, int max, int *count) {
  if (expect(j, '['))
    return -1;
  *count = 0;
  if (peek(j) == ']') {
    j->i++;
    return 0;
  }
  for (;;) {
    int64_t x = 0;
    if (parse_count(j, &x))
      return -1;
    if (*count == max)
      return json_error(j, "too many array elements");
    v[(*count)++] = x;
    char c = peek(j);
    j->i++;
    if (c == ']')
      return 0;
    if (c != ',') {
      j->i--;
      return json_error(j, "expected ',' or ']' in array");
    }
  }
}

/* Skips any JSON value (used for keys this reader does not need). */
static int skip_value(json *j, int depth) {
  if (depth > 64)
    return json_error(j, "nesting too deep");
  char c = peek(j);
  if (c == '"') {
    char buf[4096];
    return parse_string(j, buf, sizeof buf);
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    j->i++;
    if (peek(j) == close) {
      j->i++;
      return 0;
    }
    for (;;) {
      if (c == '{') {
        char key[4096];
        if (parse_string(j, key, sizeof key) || expect(j, ':'))
          return -1;
      }
      if (skip_value(j, depth + 1))
        return -1;
      char d = peek(j);
      j->i++;
      if (d == close)
        return 0;
      if (d != ',') {
        j->i--;
        return json_error(j, "expected ',' or a closing bracket");
      }
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    size_t start = j->i;
    while (j->i < j->n && strchr("+-0123456789.eE", j->s[j->i]))
      j->i++;
    return j->i > start ? 0 : json_error(j, "bad number");
  }
  static const char *const words[] = {"true", "false", "null"};
  for (int k = 0; k < 3; k++) {
    size_t len = strlen(words[k]);
    if (j->n - j->i >= len && memcmp(j->s + j->i, words[k], len) == 0) {
      j->i += len;
      return 0;
    }
  }
  return json_error(j, "expected a value");
}

/* ---------------------------------------------------------------------------------------- */
/* The header */

static const struct {
  const char *name;
  int size;
  st_dtype dtype;
} dtypes[] = {
    {"F32", 4, ST_F32},    {"F16", 2, ST_F16},       {"BF16", 2, ST_BF16},     {"F64", 8, ST_OTHER},
    {"I64", 8, ST_OTHER},  {"U64", 8, ST_OTHER},     {"I32", 4, ST_OTHER},     {"U32", 4, ST_OTHER},
    {"I16", 2, ST_OTHER},  {"U16", 2, ST_OTHER},     {"I8", 1, ST_OTHER},      {"U8", 1, ST_OTHER},
    {"BOOL", 1, ST_OTHER}, {"F8_E4M3", 1, ST_OTHER}, {"F8_E5M2", 1, ST_OTHER},
};

typedef struct {
  int64_t begin, end;
  int size; /* bytes per element */
} st_extent;

static void format_shape(char *out, size_t n, const int64_t *shape, int rank) {
  size_t len = (size_t)snprintf(out, n, "[");
  for (int k = 0; k < rank && len < n; k++)
    len += (size_t)snprintf(out + len, n - len, "%s%lld", k ? ", " : "", (long long)shape[k]);
  if (len < n)
    snprintf(out + len, n - len, "]");
}

/* {"dtype": .., "shape": [..], "data_offsets": [b, e]} for the tensor named t->name. */
static int parse_tensor(json *j, st_tensor *t, st_extent *x) {
  char key[64], dtype[32] = "";
  int have_shape = 0, have_offsets = 0;
  if (expect(j, '{'))
    return -1;
  if (peek(j) != '}') {
    for (;;) {
      if (parse_string(j, key, sizeof key) || expect(j, ':'))
        return -1;
      if (strcmp(key, "dtype") == 0) {
        if (parse_string(j, dtype, sizeof dtype))
          return -1;
      } else if (strcmp(key, "shape") == 0) {
        if (parse_count_array(j, t->shape, 8, &t->rank))
          return ancd_error_prefix("tensor '%s': shape (rank at most 8): ", t->name);
        have_shape = 1;
      } else if (strcmp(key, "data_offsets") == 0) {
        int64_t off[3] = {0};
        int n_off;
        if (parse_count_array(j, off, 3, &n_off))
          return -1;
        if (n_off != 2)
          return ancd_errorf("%s: tensor '%s': data_offsets has %d elements, expected 2", j->path,
                             t->name, n_off);
        x->begin = off[0];
        x->end = off[1];
        have_offsets = 1;
      } else if (skip_value(j, 1)) {
        return -1;
      }
      if (peek(j) == ',') {
        j->i++;
        continue;
      }
      break;
    }
  }
  if (expect(j, '}'))
    return -1;
  if (!dtype[0] || !have_shape || !have_offsets)
    return ancd_errorf("%s: tensor '%s': missing %s", j->path, t->name,
                       !dtype[0]     ? "dtype"
                       : !have_shape ? "shape"
                                     : "data_offsets");
  int k = 0, n_dtypes = (int)(sizeof dtypes / sizeof dtypes[0]);
  while (k < n_dtypes && strcmp(dtypes[k].name, dtype) != 0)
    k++;
  if (k == n_dtypes)
    return ancd_errorf("%s: tensor '%s': unknown dtype '%s'", j->path, t->name, dtype);
  t->dtype = dtypes[k].dtype;
  snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtypes[k].name);
  x->size = dtypes[k].size;
  /* The data must fit in the file, so a product larger than INT64_MAX / 8 is already wrong. */
  t->numel = 1;
  for (int d = 0; d < t->rank; d++) {
    if (t->shape[d] != 0 && t->numel > INT64_MAX / 8 / t->shape[d])
      return ancd_errorf("%s: tensor '%s': shape too large", j->path, t->name);
    t->numel *= t->shape[d];
  }
  return 0;
}

static void add_metadata(st_file *f, const char *key, const char *value) {
  f->meta = xrealloc(f->meta, (size_t)(f->n_meta + 1) * sizeof *f->meta);
  snprintf(f->meta[f->n_meta][0], sizeof f->meta[0][0], "%s", key);
  snprintf(f->meta[f->n_meta][1], sizeof f->meta[0][1], "%s", value);
  f->n_meta++;
}

/* "__metadata__": {"key": "value", ...} */
static int parse_metadata(json *j, st_file *f) {
  char key[256], value[256];
  if (expect(j, '{'))
    return -1;
  if (peek(j) == '}') {
    j->i++;
    return 0;
  }
  for (;;) {
    if (parse_string(j, key, sizeof key) || expect(j, ':'))
      return -1;
    if (peek(j) != '"')
      return json_error(j, "__metadata__ values must be strings");
    if (parse_string(j, value, sizeof value))
      return -1;
    add_metadata(f, key, value);
    char c = peek(j);
    j->i++;
    if (c == '}')
      return 0;
    if (c != ',') {
      j->i--;
      return json_error(j, "expected ',' or '}' in __metadata__");
    }
  }
}

static int compare_names(const void *a, const void *b) {
  return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

typedef struct {
  const st_tensor *t;
  st_extent x;
} placed;

static int compare_begins(const void *a, const void *b) {
  int64_t x = ((const placed *)a)->x.begin, y = ((const placed *)b)->x.begin;
  return x < y ? -1 : x > y;
}

/* Offsets in range, sizes equal to dtype x shape, no two tensors sharing bytes. */
static int check_extents(const st_file *f, placed *p, int n, size_t data_size) {
  char shape[160];
  for (int k = 0; k < n; k++) {
    const st_tensor *t = p[k].t;
    const st_extent *x = &p[k].x;
    if (x->end < x->begin)
      return ancd_errorf("%s: tensor '%s': data_offsets [%lld, %lld) end before they begin",
                         f->path, t->name, (long long)x->begin, (long long)x->end);
    if ((uint64_t)x->end > data_size)
      return ancd_errorf("%s: tensor '%s': data_offsets [%lld, %lld) past the end of the file "
                         "(the data section has %zu bytes; truncated?)",
                         f->path, t->name, (long long)x->begin, (long long)x->end, data_size);
    if (x->end - x->begin != t->numel * x->size) {
      format_shape(shape, sizeof shape, t->shape, t->rank);
      return ancd_errorf("%s: tensor '%s': data_offsets [%lld, %lld) hold %lld bytes, but %s %s "
                         "needs %lld",
                         f->path, t->name, (long long)x->begin, (long long)x->end,
                         (long long)(x->end - x->begin), t->dtype_name, shape,
                         (long long)(t->numel * x->size));
    }
  }
  qsort(p, (size_t)n, sizeof *p, compare_begins);
  int last = -1; /* the tensor reaching furthest so far (empty tensors occupy nothing) */
  for (int k = 0; k < n; k++) {
    if (p[k].x.begin == p[k].x.end)
      continue;
    if (last >= 0 && p[k].x.begin < p[last].x.end)
      return ancd_errorf("%s: tensors '%s' [%lld, %lld) and '%s' [%lld, %lld) overlap", f->path,
                         p[last].t->name, (long long)p[last].x.begin, (long long)p[last].x.end,
                         p[k].t->name, (long long)p[k].x.begin, (long long)p[k].x.end);
    if (last < 0 || p[k].x.end > p[last].x.end)
      last = k;
  }
  return 0;
}

/* Parses the header, fills f->tensors (data pointers set) and validates every extent. */
static int parse_header(st_file *f, const char *text, size_t n, const char *data,
                        size_t data_size) {
  json j = {f->path, text, n, 0};
  int cap = 0;
  st_extent *ext = NULL;
  int rc = -1;
  char name[1024];
  if (expect(&j, '{'))
    goto done;
  if (peek(&j) != '}') {
    for (;;) {
      if (parse_string(&j, name, sizeof name) || expect(&j, ':'))
        goto done;
      if (strcmp(name, "__metadata__") == 0) {
        if (parse_metadata(&j, f))
          goto done;
      } else {
        if (strlen(name) >= sizeof f->tensors[0].name) {
          ancd_errorf("%s: tensor name longer than %zu bytes: '%.64s...'", f->path,
                      sizeof f->tensors[0].name - 1, name);
          goto done;
        }
        if (f->n == cap) {
          cap = cap ? 2 * cap : 64;
          f->tensors = xrealloc(f->tensors, (size_t)cap * sizeof *f->tensors);
          ext = xrealloc(ext, (size_t)cap * sizeof *ext);
        }
        st_tensor *t = &f->tensors[f->n];
        memset(t, 0, sizeof *t);
        memcpy(t->name, name, strlen(name) + 1); /* length checked above */
        if (parse_tensor(&j, t, &ext[f->n]))
          goto done;
        f->n++;
      }
      char c = peek(&j);
      j.i++;
      if (c == '}')
        break;
      if (c != ',') {
        j.i--;
        json_error(&j, "expected ',' or '}' after a tensor");
        goto done;
      }
    }
  } else {
    j.i++;
  }
  if (peek(&j) != 0) { /* only space padding may follow */
    json_error(&j, "trailing characters after the header object");
    goto done;
  }

  placed *p = xmalloc((size_t)(f->n ? f->n : 1) * sizeof *p);
  for (int k = 0; k < f->n; k++) {
    p[k].t = &f->tensors[k];
    p[k].x = ext[k];
  }
  rc = check_extents(f, p, f->n, data_size);
  free(p);
  if (rc)
    goto done;
  for (int k = 0; k < f->n; k++)
    f->tensors[k].data = data + ext[k].begin;
  qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, compare_names);
  for (int k = 1; k < f->n; k++)
    if (strcmp(f->tensors[k].name, f->tensors[k - 1].name) == 0) {
      rc = ancd_errorf("%s: tensor '%s' appears twice in the header", f->path, f->tensors[k].name);
      goto done;
    }
  rc = 0;
done:
  free(ext);
  return rc;
}

int st_open(st_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  snprintf(f->path, sizeof f->path, "%s", path);
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return ancd_errorf("%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ancd_errorf("%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return ancd_errorf("%s: not a regular file", path);
  }
  size_t size = (size_t)st.st_size;
  if (size < 8) {
    close(fd);
    return ancd_errorf("%s: truncated: %zu bytes, a safetensors file starts with an 8-byte "
                       "header length",
                       path, size);
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd); /* the mapping keeps the file */
  if (map == MAP_FAILED)
    return ancd_errorf("%s: cannot mmap %zu bytes: %s", path, size, strerror(e));
  f->map = map;
  f->map_size = size;

  const unsigned char *b = map;
  uint64_t n = 0;
  for (int k = 7; k >= 0; k--)
    n = n << 8 | b[k];
  if (n > size - 8) {
    if (size > 8 && b[8] != '{') /* not even the start of a JSON object: some other format */
      ancd_errorf("%s: not a safetensors file (header length %llu exceeds the file's %zu bytes "
                  "and no JSON object follows it)",
                  path, (unsigned long long)n, size);
    else
      ancd_errorf("%s: truncated: header says %llu bytes, file has %zu after the 8-byte length",
                  path, (unsigned long long)n, size - 8);
    st_close(f);
    return -1;
  }
  if (parse_header(f, (const char *)b + 8, (size_t)n, (const char *)b + 8 + n,
                   size - 8 - (size_t)n)) {
    st_close(f);
    return -1;
  }
  return 0;
}

void st_close(st_file *f) {
  if (f->map)
    munmap(f->map, f->map_size);
  free(f->tensors);
  free(f->meta);
  memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
  int lo = 0, hi = f->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(f->tensors[mid].name, name);
    if (c == 0)
      return &f->tensors[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return NULL;
}

const char *st_metadata(const st_file *f, const char *key) {
  for (int k = 0; k < f->n_meta; k++)
    if (strcmp(f->meta[k][0], key) == 0)
      return f->meta[k][1];
  return NULL;
}

int st_check_float(const st_file *f, const st_tensor *t) {
  if (t->dtype != ST_OTHER)
    return 0;
  return ancd_errorf("%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported", f->path,
                     t->name, t->dtype_name);
}

/* IEEE binary16 -> binary32, exact for every value (subnormals, infinities, NaN payloads). */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    float v = (float)mant * 0x1p-24f; /* zero or subnormal: mant x 2^-24, exact in f32 */
    return sign ? -v : v;
  }
  if (exp == 31)
    bits = sign | 0x7f800000u | mant << 13;
  else
    bits = sign | (exp + 112) << 23 | mant << 13;
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

void st_to_f32(float *out, const st_tensor *t) {
  const unsigned char *p = t->data;
  switch (t->dtype) {
  case ST_F32:
    memcpy(out, p, (size_t)t->numel * 4); /* safetensors is little-endian, as are our hosts */
    break;
  case ST_F16:
    for (int64_t k = 0; k < t->numel; k++)
      out[k] = half_to_float((uint16_t)(p[2 * k] | p[2 * k + 1] << 8));
    break;
  case ST_BF16:
    for (int64_t k = 0; k < t->numel; k++) {
      uint32_t bits = (uint32_t)(p[2 * k] | p[2 * k + 1] << 8) << 16;
      memcpy(&out[k], &bits, 4);
    }
    break;
  case ST_OTHER:
    ANCD_FATAL("st_to_f32 on tensor '%s' of dtype %s", t->name, t->dtype_name);
  }
}
