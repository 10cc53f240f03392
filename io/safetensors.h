/* safetensors reader: the file is mmapped, the JSON header validated (offsets in range, sizes
 * matching dtype x shape, no overlaps), tensors of dtype F32/F16/BF16 converted to f32 on request.
 * A truncated or malformed file is an error naming the file. */
#ifndef ANCD_SAFETENSORS_H
#define ANCD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_F16, ST_BF16 } st_dtype;

typedef struct {
  char name[256];
  st_dtype dtype;
  int rank;
  int64_t shape[8];
  int64_t numel;
  const void *data; /* into the mapping */
} st_tensor;

typedef struct {
  char path[1024];
  void *map;
  size_t map_size;
  int n;
  st_tensor *tensors; /* sorted by name */
} st_file;

int st_open(st_file *f, const char *path);
void st_close(st_file *f);
/* The tensor of that name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Copies (and converts) a tensor into out (numel floats). */
void st_to_f32(float *out, const st_tensor *t);

#endif
