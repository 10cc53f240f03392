/* Thin helpers over (parallel) HDF5. A file is created as <path>.tmp (MPI-IO when the
 * communicator has more than one rank), written, then published: attribute complete=1, close,
 * fsync, rename to <path>. Readers reject files without complete=1, truncated or not HDF5, with
 * a message naming the file. Dataset writes are collective hyperslabs. */
#ifndef ANCD_H5STORE_H
#define ANCD_H5STORE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

typedef enum { H5S_F32, H5S_F64, H5S_U8, H5S_I32, H5S_I64 } h5s_type;

typedef struct {
  hid_t file;
  MPI_Comm comm;
  int rank, size;
  int writable;
  char path[1024];     /* final path */
  char tmp_path[1040]; /* path + ".tmp" while writing */
} h5s_file;

/* Collective over comm. Removes a stale <path>.tmp. */
int h5s_create(h5s_file *f, const char *path, MPI_Comm comm);
/* Collective: writes complete=1, closes, fsyncs, renames <path>.tmp -> <path>. */
int h5s_publish(h5s_file *f);
/* Collective: closes without publishing (the .tmp is removed). */
void h5s_abort(h5s_file *f);
/* Opens a published file for reading (collective over comm). */
int h5s_open(h5s_file *f, const char *path, MPI_Comm comm);
/* 1 when path exists and is a complete ancd HDF5 file, else 0 (never an error). */
int h5s_is_complete(const char *path);
void h5s_close(h5s_file *f);

/* Collective. chunk may be NULL (contiguous). rank <= 4. */
int h5s_dataset_create(h5s_file *f, const char *name, h5s_type type, int rank,
                       const uint64_t *dims, const uint64_t *chunk);
/* Collective hyperslab write/read; a rank with nothing to write passes count with a 0. */
int h5s_write_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                   const uint64_t *count, const void *buf);
int h5s_read_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                  const uint64_t *count, void *buf);
/* The shape of a dataset; returns its rank or -1. */
int h5s_dataset_dims(h5s_file *f, const char *name, uint64_t *dims, int max_rank);

/* Fixed-length string datasets (n strings, each padded to the longest). Collective; every rank
 * passes the same strings (rank 0's are written). Reading returns malloc'ed strings. */
int h5s_write_strings(h5s_file *f, const char *name, const char *const *s, int n);
int h5s_read_strings(h5s_file *f, const char *name, char ***s, int *n);
void h5s_free_strings(char **s, int n);

/* Attributes on the root group ("/") or on a dataset (obj = its name). Collective writes. */
int h5s_attr_set_str(h5s_file *f, const char *obj, const char *name, const char *value);
int h5s_attr_set_i64(h5s_file *f, const char *obj, const char *name, int64_t value);
int h5s_attr_set_f64(h5s_file *f, const char *obj, const char *name, double value);
int h5s_attr_get_str(h5s_file *f, const char *obj, const char *name, char *out, size_t n);
int h5s_attr_get_i64(h5s_file *f, const char *obj, const char *name, int64_t *value);
int h5s_attr_get_f64(h5s_file *f, const char *obj, const char *name, double *value);

#endif
