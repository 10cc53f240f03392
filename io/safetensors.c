/* safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value", ...}}, then the data section; offsets are relative to it.
 * jansson parses the JSON (duplicate keys refused: they would make a tensor ambiguous); every
 * value's type, every offset and every size is checked here before any data is touched. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"

/* ---------------------------------------------------------------------------------------- */
/* The header */

/* The reference implementation's cap: a larger header is refused before jansson builds its tree. */
#define ST_MAX_HEADER 100000000u

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

/* What a JSON value is, worded for the error messages. */
static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a fraction or exponent";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    break;
  }
  return "null";
}

void st_format_shape(char *out, size_t n, const int64_t *shape, int rank) {
  size_t len = (size_t)snprintf(out, n, "[");
  for (int k = 0; k < rank && len < n; k++) {
    if (shape[k] < 0)
      len += (size_t)snprintf(out + len, n - len, "%s*", k ? ", " : "");
    else
      len += (size_t)snprintf(out + len, n - len, "%s%lld", k ? ", " : "", (long long)shape[k]);
  }
  if (len < n)
    snprintf(out + len, n - len, "]");
}

/* The array `key` of tensor t as non-negative integers into v[0..*count) (at most max; the
 * caller words the error for more). */
static int read_counts(const st_file *f, const st_tensor *t, const char *key, const json_t *a,
                       int64_t *v, int max, int *count) {
  if (!json_is_array(a))
    return ancd_errorf("%s: tensor '%s': %s is %s, expected an array of non-negative integers",
                       f->path, t->name, key, type_name(a));
  *count = json_array_size(a) > (size_t)max ? max + 1 : (int)json_array_size(a);
  for (int k = 0; k < *count && k < max; k++) {
    const json_t *x = json_array_get(a, (size_t)k);
    if (!json_is_integer(x))
      return ancd_errorf("%s: tensor '%s': %s[%d] is %s, expected a non-negative integer", f->path,
                         t->name, key, k, type_name(x));
    if (json_integer_value(x) < 0)
      return ancd_errorf("%s: tensor '%s': %s[%d] is %lld, expected a non-negative integer",
                         f->path, t->name, key, k, (long long)json_integer_value(x));
    v[k] = json_integer_value(x);
  }
  return 0;
}

/* {"dtype": .., "shape": [..], "data_offsets": [b, e]} for the tensor named t->name; other keys
 * are ignored. */
static int read_tensor(const st_file *f, const json_t *o, st_tensor *t, st_extent *x) {
  if (!json_is_object(o))
    return ancd_errorf("%s: tensor '%s' is %s, expected an object with dtype, shape and "
                       "data_offsets",
                       f->path, t->name, type_name(o));
  const json_t *dtype = json_object_get(o, "dtype"), *shape = json_object_get(o, "shape"),
               *offsets = json_object_get(o, "data_offsets");
  if (!dtype || !shape || !offsets)
    return ancd_errorf("%s: tensor '%s': missing %s", f->path, t->name,
                       !dtype   ? "dtype"
                       : !shape ? "shape"
                                : "data_offsets");
  if (!json_is_string(dtype))
    return ancd_errorf("%s: tensor '%s': dtype is %s, expected a string such as \"F32\"", f->path,
                       t->name, type_name(dtype));
  int k = 0, n_dtypes = (int)(sizeof dtypes / sizeof dtypes[0]);
  while (k < n_dtypes && strcmp(dtypes[k].name, json_string_value(dtype)) != 0)
    k++;
  if (k == n_dtypes)
    return ancd_errorf("%s: tensor '%s': unknown dtype '%.32s'", f->path, t->name,
                       json_string_value(dtype));
  t->dtype = dtypes[k].dtype;
  snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtypes[k].name);
  x->size = dtypes[k].size;

  if (read_counts(f, t, "shape", shape, t->shape, 8, &t->rank))
    return -1;
  if (t->rank > 8)
    return ancd_errorf("%s: tensor '%s': shape (rank at most 8) has %zu dimensions", f->path,
                       t->name, json_array_size(shape));
  int64_t off[2];
  int n_off;
  if (read_counts(f, t, "data_offsets", offsets, off, 2, &n_off))
    return -1;
  if (n_off != 2)
    return ancd_errorf("%s: tensor '%s': data_offsets has %zu elements, expected 2", f->path,
                       t->name, json_array_size(offsets));
  x->begin = off[0];
  x->end = off[1];

  /* The data must fit in the file, so a product larger than INT64_MAX / 8 is already wrong. */
  t->numel = 1;
  for (int d = 0; d < t->rank; d++) {
    if (t->shape[d] != 0 && t->numel > INT64_MAX / 8 / t->shape[d])
      return ancd_errorf("%s: tensor '%s': shape too large", f->path, t->name);
    t->numel *= t->shape[d];
  }
  return 0;
}

/* "__metadata__": {"key": "value", ...}, kept in file order (keys and values cut at 255 bytes). */
static int read_metadata(st_file *f, const json_t *o) {
  if (!json_is_object(o))
    return ancd_errorf("%s: __metadata__ is %s, expected an object of strings", f->path,
                       type_name(o));
  f->meta = xmalloc((json_object_size(o) ? json_object_size(o) : 1) * sizeof *f->meta);
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)o, key, value) {
    if (!json_is_string(value))
      return ancd_errorf("%s: __metadata__ values must be strings; '%.64s' is %s", f->path, key,
                         type_name(value));
    snprintf(f->meta[f->n_meta][0], sizeof f->meta[0][0], "%s", key);
    snprintf(f->meta[f->n_meta][1], sizeof f->meta[0][1], "%s", json_string_value(value));
    f->n_meta++;
  }
  return 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

typedef struct {
  st_tensor *t;
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
      st_format_shape(shape, sizeof shape, t->shape, t->rank);
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

/* Reads the parsed header into f->tensors (data pointers set) and validates every extent. */
static int read_header(st_file *f, const json_t *root, const char *data, size_t data_size) {
  if (!json_is_object(root))
    return ancd_errorf("%s: the JSON header is %s, expected an object", f->path, type_name(root));
  size_t n_keys = json_object_size(root);
  f->tensors = xmalloc((n_keys ? n_keys : 1) * sizeof *f->tensors);
  placed *p = xmalloc((n_keys ? n_keys : 1) * sizeof *p);
  int rc = 0;
  const char *name;
  const json_t *value;
  json_object_foreach((json_t *)root, name, value) {
    if (strcmp(name, "__metadata__") == 0) {
      rc = read_metadata(f, value);
    } else if (strlen(name) >= sizeof f->tensors[0].name) {
      rc = ancd_errorf("%s: tensor name longer than %zu bytes: '%.64s...'", f->path,
                       sizeof f->tensors[0].name - 1, name);
    } else {
      st_tensor *t = &f->tensors[f->n];
      memset(t, 0, sizeof *t);
      memcpy(t->name, name, strlen(name) + 1); /* length checked above */
      rc = read_tensor(f, value, t, &p[f->n].x);
      f->n++;
    }
    if (rc)
      break;
  }
  for (int k = 0; k < f->n && rc == 0; k++)
    p[k].t = &f->tensors[k];
  if (rc == 0)
    rc = check_extents(f, p, f->n, data_size);
  if (rc == 0) { /* p is sorted by begin now; names are unique (duplicate keys were refused) */
    for (int k = 0; k < f->n; k++)
      p[k].t->data = data + p[k].x.begin;
    qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, compare_names);
  }
  free(p);
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
  if (n > ST_MAX_HEADER) {
    ancd_errorf("%s: header of %llu bytes exceeds the safetensors limit of %u", path,
                (unsigned long long)n, ST_MAX_HEADER);
    st_close(f);
    return -1;
  }
  json_error_t je;
  json_t *root = json_loadb((const char *)b + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
  int rc = root ? read_header(f, root, (const char *)b + 8 + n, size - 8 - (size_t)n)
                : ancd_errorf("%s: malformed JSON header at byte %d of %llu: %s", path, je.position,
                              (unsigned long long)n, je.text);
  json_decref(root);
  if (rc)
    st_close(f);
  return rc;
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
