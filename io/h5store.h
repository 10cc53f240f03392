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
/* Collective: writes complete=1, closes, fsyncs, renames <path>.tmp -> <path>. On failure the
 * file is closed and the .tmp removed (h5s_close is then a no-op). */
int h5s_publish(h5s_file *f);
/* Collective: closes without publishing (the .tmp is removed). */
void h5s_abort(h5s_file *f);
/* Opens a published file for reading (collective over comm; MPI-IO when comm has >1 rank).
 * Fails when missing, not HDF5, truncated, or without complete=1. */
int h5s_open(h5s_file *f, const char *path, MPI_Comm comm);
/* The one validity test of every skip and every reader (not collective; any rank alone): the file
 * opens as h5s_open opens it (HDF5, complete=1, a known format) and every dataset reads back
 * whole. 0 when valid, H5S_MISSING when path does not exist, -1 when it exists but is damaged,
 * truncated or incomplete (the reason in ancd_error()). */
#define H5S_MISSING 1
int h5s_verify(const char *path);
/* A root string attribute of the complete file at path, opened alone (MPI_COMM_SELF). */
int h5s_read_root_str(const char *path, const char *name, char *out, size_t n);
/* 1 when h5s_verify(path) is 0, else 0 (never an error). */
int h5s_is_complete(const char *path);
/* Collective. Closing a writable file that was not published aborts it. No-op when closed. */
void h5s_close(h5s_file *f);
/* Shares a local status over comm (collective): -1 on every rank when any rank failed, with the
 * lowest failing rank's message in ancd_error(), else 0; so no rank enters a collective call that
 * another rank skipped. Also a synchronisation point. */
int h5s_agree(MPI_Comm comm, int rc);
/* Every collective function returns the same status on every rank. Reads of attributes, dims
 * and existence are local (any rank may call them alone). */

/* Collective. chunk may be NULL (contiguous); it is clamped to dims and ignored when a dim is 0.
 * rank <= 4. Missing groups in the name ("a/b/c") are created. */
int h5s_dataset_create(h5s_file *f, const char *name, h5s_type type, int rank, const uint64_t *dims,
                       const uint64_t *chunk);
/* Collective hyperslab write/read; a rank with nothing to write passes count with a 0. */
int h5s_write_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                   const uint64_t *count, const void *buf);
int h5s_read_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                  const uint64_t *count, void *buf);
/* The shape of a dataset; returns its rank or -1. */
int h5s_dataset_dims(h5s_file *f, const char *name, uint64_t *dims, int max_rank);
/* 1 when a dataset or group of that path exists, else 0 (never an error). */
int h5s_exists(h5s_file *f, const char *name);

/* A whole 1-D (cols 0) or 2-D [rows, cols] array written as a new dataset by a file with one
 * writer (comm MPI_COMM_SELF), with a "description" attribute. */
int h5s_write_array(h5s_file *f, const char *name, h5s_type t, const void *data, uint64_t rows,
                    uint64_t cols, const char *description);

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
/* 1 when obj exists and carries the attribute, else 0 (never an error). */
int h5s_attr_exists(h5s_file *f, const char *obj, const char *name);

#endif
