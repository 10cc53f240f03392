/* safetensors reader: values of every supported dtype (F16 subnormals and infinities, BF16),
 * shapes, lookup and metadata on a file written here; then one broken file per failure the
 * reader must catch, each error naming the file and the problem. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "safetensors.h"
#include "test_util.h"

static const char *dir;

/* Writes <dir>/<name>: the 8-byte little-endian length of header (as given, no padding), the
 * header, then data. declared_len < 0 means the true header length. Returns the path. */
static const char *write_raw(const char *name, const char *header, long long declared_len,
                             const void *data, size_t n_data) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t hn = strlen(header);
  uint64_t len = declared_len < 0 ? hn : (uint64_t)declared_len;
  unsigned char *buf = malloc(8 + hn + n_data + 1);
  for (int k = 0; k < 8; k++)
    buf[k] = (unsigned char)(len >> (8 * k));
  memcpy(buf + 8, header, hn);
  if (n_data)
    memcpy(buf + 8 + hn, data, n_data);
  if (test_write_file(path, buf, 8 + hn + n_data) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  free(buf);
  return path;
}

static const char *write_st(const char *name, const char *header, const void *data, size_t n_data) {
  return write_raw(name, header, -1, data, n_data);
}

/* st_open must fail with a message naming the file and containing `what`. */
static void expect_error(const char *path, const char *what) {
  st_file f;
  int rc = st_open(&f, path);
  const char *e = ancd_error();
  CHECK(rc == -1, "%s opened", path);
  CHECK(strstr(e, path) != NULL, "error does not name the file: %s", e);
  CHECK(strstr(e, what) != NULL, "error '%s' does not say '%s'", e, what);
  CHECK(f.map == NULL && f.tensors == NULL && f.n == 0, "st_file not left empty");
  st_close(&f);
}

static uint16_t f32_to_bf16_bits(float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  return (uint16_t)(b >> 16);
}

static void test_values(void) {
  /* F32 "w" [2,3]: 24 bytes at 0; F16 "h" [3,3]: 18 bytes at 24; BF16 "b" [4]: 8 bytes at 42;
   * I8 "i" [3]: 3 bytes at 50; F32 "empty" [0, 5]: nothing at 53; F32 "escA/" []: 4 bytes at 56
   * (one element). */
  unsigned char data[60] = {0};
  const float w[6] = {1.5f, -2.25f, 0.0f, 3.0e-38f, 1e30f, -7.0f};
  memcpy(data, w, sizeof w);
  const uint16_t h[9] = {0x3c00, 0x0001, 0x03ff, 0xc100, 0x7c00, 0xfc00, 0x7bff, 0x8000, 0x7e00};
  const float h_want[9] = {1.0f,      0x1p-24f, 1023 * 0x1p-24f, -2.5f, INFINITY,
                           -INFINITY, 65504.0f, -0.0f,           NAN};
  for (int k = 0; k < 9; k++) {
    data[24 + 2 * k] = (unsigned char)(h[k] & 0xff);
    data[24 + 2 * k + 1] = (unsigned char)(h[k] >> 8);
  }
  const float b_want[4] = {1.0f, 3.140625f, -0.0078125f, 0x1p-133f}; /* last: BF16 subnormal */
  for (int k = 0; k < 4; k++) {
    uint16_t bits = k == 3 ? 0x0001 : f32_to_bf16_bits(b_want[k]);
    data[42 + 2 * k] = (unsigned char)(bits & 0xff);
    data[42 + 2 * k + 1] = (unsigned char)(bits >> 8);
  }
  data[50] = 1, data[51] = 2, data[52] = 3;
  const float scalar = 42.5f;
  memcpy(data + 56, &scalar, 4);
  const char *header =
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
      " \"h\" : { \"shape\" : [3, 3], \"dtype\" : \"F16\", \"data_offsets\" : [24, 42] } ,\n"
      "\"__metadata__\":{\"format\":\"pt\",\"heads\":\"2\",\"quote\":\"a\\\"b\\u00e9\\n\"},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[42,50],\"extra\":[1,{\"x\":null}]}"
      ","
      "\"i\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[50,53]},"
      "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[53,53]},"
      "\"esc\\u0041\\/\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[56,60]}}      ";
  const char *path = write_st("values.safetensors", header, data, sizeof data);
  st_file f;
  if (st_open(&f, path) != 0) {
    CHECK(0, "st_open: %s", ancd_error());
    return;
  }
  CHECK(f.n == 6, "n = %d", f.n);
  const char *sorted[6] = {"b", "empty", "escA/", "h", "i", "w"};
  for (int k = 0; k < 6 && k < f.n; k++)
    CHECK(strcmp(f.tensors[k].name, sorted[k]) == 0, "tensor %d is '%s'", k, f.tensors[k].name);
  CHECK(st_find(&f, "nope") == NULL, "found a missing tensor");
  CHECK(st_find(&f, "escA/") != NULL, "escaped name not decoded");

  const st_tensor *t = st_find(&f, "w");
  float out[16];
  CHECK(t && t->dtype == ST_F32 && t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
            t->numel == 6,
        "w metadata");
  if (t) {
    st_to_f32(out, t);
    for (int k = 0; k < 6; k++)
      CHECK(out[k] == w[k], "w[%d] = %g, want %g", k, out[k], w[k]);
  }
  t = st_find(&f, "h");
  CHECK(t && t->dtype == ST_F16 && t->rank == 2 && t->numel == 9 && st_check_float(&f, t) == 0,
        "h metadata");
  if (t) {
    st_to_f32(out, t);
    for (int k = 0; k < 8; k++)
      CHECK(out[k] == h_want[k] && signbit(out[k]) == signbit(h_want[k]), "h[%d] = %g, want %g", k,
            out[k], h_want[k]);
    CHECK(isnan(out[8]), "h[8] = %g, want NaN", out[8]);
  }
  t = st_find(&f, "b");
  CHECK(t && t->dtype == ST_BF16 && t->rank == 1 && t->numel == 4, "b metadata");
  if (t) {
    st_to_f32(out, t);
    for (int k = 0; k < 4; k++)
      CHECK(out[k] == b_want[k], "b[%d] = %g, want %g", k, out[k], b_want[k]);
  }
  t = st_find(&f, "empty");
  CHECK(t && t->numel == 0 && t->rank == 2 && t->shape[1] == 5, "empty tensor");
  t = st_find(&f, "escA/");
  CHECK(t && t->rank == 0 && t->numel == 1, "rank-0 tensor has one element");
  if (t) {
    st_to_f32(out, t);
    CHECK(out[0] == scalar, "scalar = %g", out[0]);
  }

  /* An integer tensor is indexed but refused where a float is needed. */
  t = st_find(&f, "i");
  CHECK(t && t->dtype == ST_OTHER && strcmp(t->dtype_name, "I8") == 0, "i dtype");
  if (t) {
    CHECK(st_check_float(&f, t) == -1, "I8 accepted as float");
    const char *e = ancd_error();
    CHECK(strstr(e, path) && strstr(e, "'i'") && strstr(e, "I8"), "I8 error: %s", e);
  }

  const char *heads = st_metadata(&f, "heads"), *quote = st_metadata(&f, "quote");
  CHECK(heads && strcmp(heads, "2") == 0, "metadata heads = %s", heads ? heads : "(null)");
  CHECK(quote && strcmp(quote, "a\"b\xc3\xa9\n") == 0, "metadata escapes: %s",
        quote ? quote : "(null)");
  CHECK(st_metadata(&f, "absent") == NULL, "absent metadata found");
  st_close(&f);
  CHECK(f.map == NULL && f.n == 0, "st_close leaves an empty file");
}

static void test_errors(void) {
  float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}";
  const char *path = write_st("good.safetensors", ok, data, 32);
  st_file f;
  CHECK(st_open(&f, path) == 0, "good file: %s", ancd_error());
  st_close(&f);

  /* Cut in the data: the last tensor runs past the end. */
  path = write_st("cut_data.safetensors", ok, data, 30);
  expect_error(path, "'b': data_offsets [24, 32) past the end of the file");
  /* Cut in the header: the declared length runs past the end. */
  char cut[64];
  snprintf(cut, sizeof cut, "%.40s", ok);
  path = write_raw("cut_header.safetensors", cut, (long long)strlen(ok), NULL, 0);
  char want[128];
  snprintf(want, sizeof want, "truncated: header says %zu bytes, file has 40", strlen(ok));
  expect_error(path, want);
  /* A header length far beyond the file. */
  path = write_raw("long_header.safetensors", ok, 1234, data, 8);
  snprintf(want, sizeof want, "truncated: header says 1234 bytes, file has %zu", strlen(ok) + 8);
  expect_error(path, want);
  /* Shorter than the length field. */
  snprintf(want, sizeof want, "%s/tiny.safetensors", dir);
  test_write_file(want, "\x10\0\0\0\0", 5);
  expect_error(want, "truncated: 5 bytes");
  /* Not a safetensors file at all. */
  snprintf(want, sizeof want, "%s/text.safetensors", dir);
  test_write_file(want, "hello, this is a text file\n", 27);
  expect_error(want, "not a safetensors file");

  /* Malformed JSON (jansson's message), with the byte offset just past the offending token. */
  const char *bad = "{\"a\":{\"dtype\":\"F32\" \"shape\":[2,3],\"data_offsets\":[0,24]}}";
  path = write_st("json_comma.safetensors", bad, data, 24);
  snprintf(want, sizeof want,
           "malformed JSON header at byte %d of %zu: '}' expected near '\"shape\"'",
           (int)(strstr(bad, "\"shape\"") - bad + 7), strlen(bad));
  expect_error(path, want);
  path = write_st("json_unterminated.safetensors", "{\"a\":{\"dtype\":\"F32", data, 24);
  expect_error(path, "premature end of input");
  path = write_st("json_trailing.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", data, 4);
  expect_error(path, "end of file expected near 'x'");
  path = write_st("json_escape.safetensors",
                  "{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
  expect_error(path, "invalid escape");
  path = write_st("json_utf8.safetensors",
                  "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
  expect_error(path, "unable to decode byte 0xff");
  path =
      write_st("json_nul.safetensors",
               "{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
  expect_error(path, "NUL byte in object key not supported");
  path =
      write_st("json_nul_value.safetensors", "{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", data, 0);
  expect_error(path, "\\u0000 is not allowed");
  path = write_st("json_bigint.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
                  "\"data_offsets\":[0,4]}}",
                  data, 4);
  expect_error(path, "too big integer");
  path = write_st("json_empty.safetensors", "", data, 0);
  expect_error(path, "malformed JSON header at byte 0 of 0");
  path = write_st("json_array.safetensors", "[1, 2]", data, 0);
  expect_error(path, "the JSON header is an array, expected an object");

  /* Values of the wrong type, each naming the tensor and the key. */
  path = write_st("json_negative.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data, 4);
  expect_error(path, "tensor 'a': shape[0] is -1, expected a non-negative integer");
  path = write_st("json_float.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", data, 4);
  expect_error(path, "shape[0] is a fraction or exponent, expected a non-negative integer");
  path = write_st("json_offset_string.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", data, 4);
  expect_error(path, "tensor 'a': data_offsets[1] is a string, expected a non-negative integer");
  path = write_st("json_shape_object.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", data, 4);
  expect_error(path, "tensor 'a': shape is an object, expected an array");
  path = write_st("json_dtype_type.safetensors",
                  "{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
  expect_error(path, "tensor 'a': dtype is an integer, expected a string");
  path = write_st("json_tensor_type.safetensors", "{\"a\":[0,4]}", data, 4);
  expect_error(path, "tensor 'a' is an array, expected an object with dtype, shape and");
  path = write_st("json_offsets3.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", data, 8);
  expect_error(path, "tensor 'a': data_offsets has 3 elements, expected 2");
  path = write_st("json_offsets1.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", data, 8);
  expect_error(path, "tensor 'a': data_offsets has 1 elements, expected 2");
  path = write_st("json_metadata.safetensors", "{\"__metadata__\":{\"k\":1}}", data, 0);
  expect_error(path, "__metadata__ values must be strings; 'k' is an integer");
  path = write_st("json_metadata_type.safetensors", "{\"__metadata__\":\"pt\"}", data, 0);
  expect_error(path, "__metadata__ is a string, expected an object of strings");

  /* Header content. */
  path = write_st("range.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", data, 32);
  expect_error(path, "'a': data_offsets [0, 400) past the end of the file (the data section has "
                     "32 bytes");
  path = write_st("reversed.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", data, 32);
  expect_error(path, "end before they begin");
  path = write_st("overlap.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                  "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}}",
                  data, 32);
  expect_error(path, "tensors 'a' [0, 16) and 'b' [12, 28) overlap");
  path = write_st("size.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", data, 32);
  expect_error(path, "'a': data_offsets [0, 20) hold 20 bytes, but F32 [2, 3] needs 24");
  path = write_st("size_f16.safetensors",
                  "{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,12]}}", data, 32);
  expect_error(path, "hold 12 bytes, but F16 [3] needs 6");
  path = write_st("dtype.safetensors",
                  "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}", data, 32);
  expect_error(path, "tensor 'a': unknown dtype 'Q4'");
  path = write_st(
      "rank.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", data, 32);
  expect_error(path, "tensor 'a': shape (rank at most 8)");
  path = write_st("missing.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", data, 32);
  expect_error(path, "tensor 'a': missing data_offsets");
  path = write_st("missing_dtype.safetensors", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
                  data, 32);
  expect_error(path, "tensor 'a': missing dtype");
  char name[400];
  memset(name, 'n', 300);
  snprintf(name + 300, sizeof name - 300,
           "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
  char header[512];
  snprintf(header, sizeof header, "{\"%s", name);
  path = write_st("long_name.safetensors", header, data, 32);
  expect_error(path, "tensor name longer than 255 bytes");

  /* Duplicate keys anywhere would make the header ambiguous: refused, with the key. */
  path = write_st("twice.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  data, 32);
  expect_error(path, "duplicate object key near '\"a\"'");
  path =
      write_st("twice_dtype.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"dtype\":\"F16\",\"data_offsets\":[0,4]}}",
               data, 32);
  expect_error(path, "duplicate object key near '\"dtype\"'");
  path = write_st("twice_metadata.safetensors",
                  "{\"__metadata__\":{\"heads\":\"2\",\"heads\":\"3\"}}", data, 0);
  expect_error(path, "duplicate object key near '\"heads\"'");

  /* A header over the reference implementation's 100 MB cap, in a sparse file. */
  snprintf(want, sizeof want, "%s/huge_header.safetensors", dir);
  FILE *fp = fopen(want, "wb");
  const unsigned char huge[9] = {0x01, 0xe1, 0xf5, 0x05, 0, 0, 0, 0, '{'}; /* 100000001 */
  CHECK(fp && fwrite(huge, 1, 9, fp) == 9 && fseek(fp, 100000010L, SEEK_SET) == 0 &&
            fputc(' ', fp) == ' ' && fclose(fp) == 0,
        "cannot write %s", want);
  expect_error(want, "header of 100000001 bytes exceeds the safetensors limit of 100000000");
  remove(want);
  snprintf(want, sizeof want, "%s/absent.safetensors", dir);
  expect_error(want, "cannot open");
}

int main(void) {
  dir = test_tmpdir("safetensors");
  test_values();
  test_errors();
  return test_done("test_safetensors");
}
