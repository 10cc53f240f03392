/* safetensors reader: the file is mmapped, the JSON header validated (offsets in range, sizes
 * matching dtype x shape, no overlaps), tensors of dtype F32/F16/BF16 converted to f32 on request.
 * A truncated or malformed file is an error naming the file.
 *
 * Tensors of the other safetensors dtypes (I64, U8, BOOL, ...) are indexed as ST_OTHER rather
 * than refused at open: real checkpoints carry integer buffers (Hugging Face CLIP's
 * `position_ids`) next to the float weights. st_check_float refuses them where a float is
 * needed, naming the tensor and its dtype. */
#ifndef ANCD_SAFETENSORS_H
#define ANCD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_F16, ST_BF16, ST_OTHER } st_dtype;

typedef struct {
  char name[256];
  st_dtype dtype;
  char dtype_name[8]; /* as in the header: "F32", "I64", ... */
  int rank;
  int64_t shape[8];
  int64_t numel;
  const void *data; /* into the mapping; not necessarily aligned (read it with st_to_f32) */
} st_tensor;

typedef struct {
  char path[1024];
  void *map;
  size_t map_size;
  int n;
  st_tensor *tensors; /* sorted by name */
  int n_meta;
  char (*meta)[2][256]; /* __metadata__ pairs (key, value), in file order */
} st_file;

/* On failure f is left empty (st_close is then a no-op). */
int st_open(st_file *f, const char *path);
void st_close(st_file *f);
/* The tensor of that name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
/* 0 when t is F32/F16/BF16; otherwise -1 with "<file>: tensor '<name>' has dtype I8; ...". */
int st_check_float(const st_file *f, const st_tensor *t);
/* Copies (and converts) a tensor into out (numel floats). t must pass st_check_float. */
void st_to_f32(float *out, const st_tensor *t);
/* The __metadata__ value of key, or NULL. */
const char *st_metadata(const st_file *f, const char *key);
/* "[a, b, c]" for messages; a negative dimension (a wildcard of the caller's) prints as "*". */
void st_format_shape(char *out, size_t n, const int64_t *shape, int rank);

#endif
