/* HDF5 store (DESIGN.md "Files"): atomic publish, collective hyperslabs, attributes.
 *
 * Choices, in one place:
 * - Writing: MPI-IO with collective transfers when the communicator has more than one rank, the
 *   sec2 driver otherwise. Reading: the same (MPI-IO for >1 rank), so a read is collective too.
 * - Deflate (level 1, with shuffle) is applied only to chunked datasets of single-rank files:
 *   parallel HDF5 1.10 writes filtered datasets only collectively and is fragile when some ranks
 *   select nothing, so multi-rank files stay unfiltered.
 * - Every collective function returns the same status on every rank: a local failure is shared
 *   (MPI_Allreduce) and its message sent to all ranks, so no rank waits in a collective call that
 *   another rank skipped.
 * - HDF5's automatic error printing is off; the innermost message of its error stack goes into
 *   the ancd error message with the file, the object and the call. */
#include "h5store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_mpi.h"
#include "error.h"
#include "fsutil.h"

#define H5S_FORMAT "ancd"
#define H5S_FORMAT_VERSION 1

/* ---- errors ---------------------------------------------------------------------------------- */

/* Innermost description of HDF5's error stack (where the failure happened). */
static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
  char *out = data;
  if (n == 0 && e->desc && e->desc[0])
    snprintf(out, 512, "%s", e->desc);
  else if (n == 0 && e->func_name)
    snprintf(out, 512, "in %s", e->func_name);
  return 0;
}

static void hdf5_message(char out[512]) {
  out[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, out);
  H5Eclear2(H5E_DEFAULT);
  if (!out[0])
    snprintf(out, 512, "no HDF5 detail");
}

/* The function name in a stringified call: "d = H5Dopen2(f->file, ...)" -> "H5Dopen2". */
static void call_name(char out[64], const char *call) {
  const char *paren = strchr(call, '(');
  const char *end = paren ? paren : call + strlen(call);
  const char *begin = end;
  while (begin > call &&
         (begin[-1] == '_' || (begin[-1] >= '0' && begin[-1] <= '9') ||
          (begin[-1] >= 'a' && begin[-1] <= 'z') || (begin[-1] >= 'A' && begin[-1] <= 'Z')))
    begin--;
  snprintf(out, 64, "%.*s", (int)(end - begin), begin);
}

static const char *file_name(const h5s_file *f) { return f->writable ? f->tmp_path : f->path; }

/* Records "<file>: <obj>: <call> failed (HDF5: <innermost>)" and returns -1. */
static int h5_fail(const h5s_file *f, const char *obj, const char *call) {
  char msg[512], name[64];
  hdf5_message(msg);
  call_name(name, call);
  if (obj)
    return ancd_errorf("%s: %s: %s failed (HDF5: %s)", file_name(f), obj, name, msg);
  return ancd_errorf("%s: %s failed (HDF5: %s)", file_name(f), name, msg);
}

/* Every HDF5 call is checked: a negative result records the error and jumps to `done`. */
#define CHECK_H5(call, obj)                                                                        \
  do {                                                                                             \
    if ((call) < 0) {                                                                              \
      rc = h5_fail(f, (obj), #call);                                                               \
      goto done;                                                                                   \
    }                                                                                              \
  } while (0)

static void close_id(hid_t *id, herr_t (*close)(hid_t)) {
  if (*id >= 0)
    close(*id);
  *id = H5I_INVALID_HID;
}

/* An MPI failure itself is not shared: CHECK_MPI aborts every rank (check_mpi.h). */
int h5s_agree(MPI_Comm comm, int rc) {
  int rank, size;
  CHECK_MPI(MPI_Comm_rank(comm, &rank));
  CHECK_MPI(MPI_Comm_size(comm, &size));
  if (size == 1)
    return rc;
  int mine = rc < 0 ? rank : size, first = size;
  CHECK_MPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
  if (first == size)
    return 0;
  char msg[2048];
  snprintf(msg, sizeof msg, "%s", ancd_error());
  CHECK_MPI(MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, comm));
  if (rank != first)
    ancd_errorf("%s", msg);
  return -1;
}

/* ---- types ----------------------------------------------------------------------------------- */

static const struct {
  const char *name;
  H5T_class_t cls;
  size_t size;
  H5T_sign_t sign;
} type_info[] = {
    [H5S_F32] = {"f32", H5T_FLOAT, 4, H5T_SGN_ERROR},
    [H5S_F64] = {"f64", H5T_FLOAT, 8, H5T_SGN_ERROR},
    [H5S_U8] = {"u8", H5T_INTEGER, 1, H5T_SGN_NONE},
    [H5S_I32] = {"i32", H5T_INTEGER, 4, H5T_SGN_2},
    [H5S_I64] = {"i64", H5T_INTEGER, 8, H5T_SGN_2},
};

static int valid_type(h5s_type t) { return t >= H5S_F32 && t <= H5S_I64; }

/* H5T_NATIVE_* are not constants (they initialise the library), hence a function. */
static hid_t memory_type(h5s_type t) {
  switch (t) {
  case H5S_F32:
    return H5T_NATIVE_FLOAT;
  case H5S_F64:
    return H5T_NATIVE_DOUBLE;
  case H5S_U8:
    return H5T_NATIVE_UINT8;
  case H5S_I32:
    return H5T_NATIVE_INT32;
  case H5S_I64:
    return H5T_NATIVE_INT64;
  }
  return H5I_INVALID_HID;
}

/* Files are little-endian whatever the machine. */
static hid_t file_type(h5s_type t) {
  switch (t) {
  case H5S_F32:
    return H5T_IEEE_F32LE;
  case H5S_F64:
    return H5T_IEEE_F64LE;
  case H5S_U8:
    return H5T_STD_U8LE;
  case H5S_I32:
    return H5T_STD_I32LE;
  case H5S_I64:
    return H5T_STD_I64LE;
  }
  return H5I_INVALID_HID;
}

/* 1 when the stored type is exactly t (class, size, signedness). */
static int type_matches(hid_t stored, h5s_type t) {
  H5T_class_t cls = H5Tget_class(stored);
  if (cls != type_info[t].cls || H5Tget_size(stored) != type_info[t].size)
    return 0;
  return cls != H5T_INTEGER || H5Tget_sign(stored) == type_info[t].sign;
}

static void describe_type(char out[32], hid_t stored) {
  H5T_class_t cls = H5Tget_class(stored);
  size_t bits = H5Tget_size(stored) * 8;
  if (cls == H5T_FLOAT)
    snprintf(out, 32, "f%zu", bits);
  else if (cls == H5T_INTEGER)
    snprintf(out, 32, "%c%zu", H5Tget_sign(stored) == H5T_SGN_NONE ? 'u' : 'i', bits);
  else if (cls == H5T_STRING)
    snprintf(out, 32, "string");
  else
    snprintf(out, 32, "HDF5 class %d", (int)cls);
}

/* ---- files ----------------------------------------------------------------------------------- */

static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* File access: MPI-IO for more than one rank; new-style object headers so that attributes larger
 * than 64 KiB (a resolved config) are stored densely; an object left open fails the close. */
static hid_t make_fapl(const h5s_file *f) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0)
    return fapl;
  herr_t s = 0;
  if (f->size > 1) {
    s |= H5Pset_fapl_mpio(fapl, f->comm, MPI_INFO_NULL);
    if (f->writable)
      s |= H5Pset_coll_metadata_write(fapl, 1);
  }
  s |= H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  s |= H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI);
#if H5_VERSION_GE(1, 10, 7)
  /* Locks are useless here (each writer has its own .tmp) and unsupported on some cluster FS. */
  s |= H5Pset_file_locking(fapl, 0, 1);
#endif
  if (s < 0) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  return fapl;
}

static void init_file(h5s_file *f, const char *path, MPI_Comm comm, int writable) {
  memset(f, 0, sizeof *f);
  f->file = H5I_INVALID_HID;
  f->comm = comm;
  CHECK_MPI(MPI_Comm_rank(comm, &f->rank));
  CHECK_MPI(MPI_Comm_size(comm, &f->size));
  f->writable = writable;
  snprintf(f->path, sizeof f->path, "%s", path);
  snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp", path);
}

/* Closes objects a caller left open (H5F_CLOSE_SEMI refuses to close otherwise), then the file.
 * Collective with MPI-IO. */
static herr_t close_file(h5s_file *f) {
  if (f->file < 0)
    return 0;
  ssize_t n = H5Fget_obj_count(f->file, H5F_OBJ_ALL & ~H5F_OBJ_FILE);
  if (n > 0) {
    hid_t *ids = xmalloc((size_t)n * sizeof *ids);
    n = H5Fget_obj_ids(f->file, H5F_OBJ_ALL & ~H5F_OBJ_FILE, (size_t)n, ids);
    for (ssize_t i = 0; i < n; i++) {
      H5I_type_t kind = H5Iget_type(ids[i]);
      if (kind == H5I_ATTR)
        H5Aclose(ids[i]);
      else if (kind == H5I_DATATYPE)
        H5Tclose(ids[i]);
      else
        H5Oclose(ids[i]);
    }
    free(ids);
  }
  herr_t s = H5Fclose(f->file);
  f->file = H5I_INVALID_HID;
  return s;
}

static int write_format_attrs(h5s_file *f) {
  if (h5s_attr_set_str(f, "/", "format", H5S_FORMAT) < 0)
    return -1;
  return h5s_attr_set_i64(f, "/", "format_version", H5S_FORMAT_VERSION);
}

int h5s_create(h5s_file *f, const char *path, MPI_Comm comm) {
  quiet_hdf5();
  init_file(f, path, comm, 1);
  int rc = 0;
  hid_t fapl = H5I_INVALID_HID;
  if (strlen(path) + 1 > sizeof f->path)
    rc = ancd_errorf("%s: path too long", path);
  else if (f->rank == 0 && unlink(f->tmp_path) != 0 && errno != ENOENT)
    rc = ancd_errorf("%s: cannot remove stale file: %s", f->tmp_path, strerror(errno));
  if (h5s_agree(comm, rc) < 0)
    return -1;
  CHECK_H5(fapl = make_fapl(f), NULL);
  CHECK_H5(f->file = H5Fcreate(f->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), NULL);
done:
  close_id(&fapl, H5Pclose);
  if (h5s_agree(comm, rc) < 0) {
    h5s_abort(f);
    return -1;
  }
  if (write_format_attrs(f) < 0) {
    h5s_abort(f);
    return -1;
  }
  return 0;
}

int h5s_publish(h5s_file *f) {
  int rc = 0;
  if (!f->writable || f->file < 0)
    return ancd_errorf("%s: not open for writing", f->path);
  if (h5s_attr_set_i64(f, "/", "complete", 1) < 0) {
    h5s_abort(f);
    return -1;
  }
  CHECK_H5(H5Fflush(f->file, H5F_SCOPE_GLOBAL), NULL);
done:
  if (close_file(f) < 0 && rc == 0)
    rc = h5_fail(f, NULL, "H5Fclose");
  if (h5s_agree(f->comm, rc) < 0) {
    if (f->rank == 0)
      unlink(f->tmp_path);
    return -1;
  }
  /* MPI_File_close (inside H5Fclose) has synced every rank's data; rank 0 makes it durable. */
  if (f->rank == 0)
    rc = fs_publish(f->tmp_path, f->path);
  if (h5s_agree(f->comm, rc) < 0) {
    if (f->rank == 0)
      unlink(f->tmp_path);
    return -1;
  }
  return 0;
}

void h5s_abort(h5s_file *f) {
  if (f->file < 0)
    return;
  close_file(f);
  H5Eclear2(H5E_DEFAULT);
  if (f->rank == 0)
    unlink(f->tmp_path);
  if (f->size > 1)
    CHECK_MPI(MPI_Barrier(f->comm));
}

void h5s_close(h5s_file *f) {
  if (f->file < 0)
    return;
  if (f->writable) {
    h5s_abort(f);
    return;
  }
  close_file(f);
  H5Eclear2(H5E_DEFAULT);
}

/* Rank 0's checks before opening: a regular file with an HDF5 signature. */
static int check_readable(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return ancd_errorf("%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return ancd_errorf("%s: not a regular file", path);
  if (H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return ancd_errorf("%s: not an HDF5 file or truncated", path);
  }
  return 0;
}

/* The `complete` attribute is 1 and the format is one this code understands. */
static int check_complete(h5s_file *f) {
  int64_t complete = 0, version = 0;
  htri_t has = H5Aexists(f->file, "complete");
  if (has > 0 && h5s_attr_get_i64(f, "/", "complete", &complete) < 0)
    return -1;
  if (has < 0 || complete != 1) {
    H5Eclear2(H5E_DEFAULT);
    return ancd_errorf("%s: incomplete (the job that wrote it did not finish; rerun to resume)",
                       f->path);
  }
  if (H5Aexists(f->file, "format_version") > 0) {
    if (h5s_attr_get_i64(f, "/", "format_version", &version) < 0)
      return -1;
    if (version > H5S_FORMAT_VERSION)
      return ancd_errorf("%s: format version %lld is newer than this ancd (%d)", f->path,
                         (long long)version, H5S_FORMAT_VERSION);
  }
  return 0;
}

int h5s_open(h5s_file *f, const char *path, MPI_Comm comm) {
  quiet_hdf5();
  init_file(f, path, comm, 0);
  int rc = 0;
  hid_t fapl = H5I_INVALID_HID;
  if (f->rank == 0)
    rc = check_readable(path);
  if (h5s_agree(comm, rc) < 0)
    return -1;
  CHECK_H5(fapl = make_fapl(f), NULL);
  f->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (f->file < 0) {
    char msg[512];
    hdf5_message(msg);
    rc = ancd_errorf("%s: not an HDF5 file or truncated (HDF5: %s)", path, msg);
    goto done;
  }
  rc = check_complete(f);
done:
  close_id(&fapl, H5Pclose);
  if (h5s_agree(comm, rc) < 0) {
    h5s_close(f);
    return -1;
  }
  return 0;
}

/* Reads dataset `name` of root back in slabs along its first dimension (at most ~64 MB each):
 * a truncated or damaged file fails here even when its header and attributes read. */
static int read_back_dataset(hid_t root, const char *name, const char *path) {
  int rc = 0;
  hid_t dset = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  void *buf = NULL;
  hsize_t dims[H5S_MAX_RANK];
  int rank = -1;
  if ((dset = H5Dopen2(root, name, H5P_DEFAULT)) < 0 || (ftype = H5Dget_type(dset)) < 0 ||
      (mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND)) < 0 ||
      (fspace = H5Dget_space(dset)) < 0 ||
      (rank = H5Sget_simple_extent_dims(fspace, dims, NULL)) < 0 ||
      H5Tis_variable_str(ftype) != 0 || H5Tget_class(ftype) == H5T_VLEN) {
    char msg[512];
    hdf5_message(msg);
    rc = ancd_errorf("%s: dataset /%s cannot be read (HDF5: %s)", path, name, msg);
    goto done;
  }
  size_t row = H5Tget_size(mtype);
  for (int d = 1; d < rank; d++)
    row *= dims[d];
  hsize_t n0 = rank > 0 ? dims[0] : 1, step = row ? (64u << 20) / row : n0;
  if (step < 1)
    step = 1;
  if (step > n0)
    step = n0;
  buf = malloc(row * step + 1);
  if (!buf) {
    rc = ancd_errorf("%s: out of memory reading /%s back", path, name);
    goto done;
  }
  for (hsize_t at = 0; at < n0 && rc == 0; at += step) {
    hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    for (int d = 0; d < rank; d++)
      count[d] = dims[d];
    herr_t st;
    if (rank > 0) {
      start[0] = at;
      count[0] = at + step <= n0 ? step : n0 - at;
      if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
          (mspace = H5Screate_simple(rank, count, NULL)) < 0)
        st = -1;
      else
        st = H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, buf);
      close_id(&mspace, H5Sclose);
    } else {
      st = H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }
    if (st < 0) {
      char msg[512];
      hdf5_message(msg);
      rc = ancd_errorf("%s: dataset /%s does not read back whole (truncated or damaged; HDF5: %s)",
                       path, name, msg);
    }
  }
done:
  free(buf);
  close_id(&fspace, H5Sclose);
  close_id(&mtype, H5Tclose);
  close_id(&ftype, H5Tclose);
  close_id(&dset, H5Dclose);
  return rc < 0 ? -1 : 0;
}

typedef struct {
  const char *path;
  int rc;
} verify_ctx;

/* H5Lvisit callback: every dataset reads back; stops at the first that does not. */
static herr_t verify_link(hid_t root, const char *name, const H5L_info_t *info, void *data) {
  verify_ctx *v = data;
  if (info->type != H5L_TYPE_HARD)
    return 0;
  hid_t obj = H5Oopen(root, name, H5P_DEFAULT);
  if (obj < 0) {
    char msg[512];
    hdf5_message(msg);
    v->rc = ancd_errorf("%s: object /%s cannot be opened (HDF5: %s)", v->path, name, msg);
    return 1;
  }
  H5I_type_t kind = H5Iget_type(obj);
  H5Oclose(obj);
  if (kind == H5I_DATASET && read_back_dataset(root, name, v->path) < 0) {
    v->rc = -1;
    return 1;
  }
  return 0;
}

int h5s_verify(const char *path) {
  quiet_hdf5();
  struct stat st;
  if (stat(path, &st) != 0 && errno == ENOENT)
    return H5S_MISSING;
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  verify_ctx v = {path, 0};
  if (H5Lvisit(f.file, H5_INDEX_NAME, H5_ITER_NATIVE, verify_link, &v) < 0 && v.rc == 0) {
    char msg[512];
    hdf5_message(msg);
    v.rc = ancd_errorf("%s: its objects cannot be listed (HDF5: %s)", path, msg);
  }
  h5s_close(&f);
  return v.rc < 0 ? -1 : 0;
}

int h5s_is_complete(const char *path) { return h5s_verify(path) == 0; }

int h5s_read_root_str(const char *path, const char *name, char *out, size_t n) {
  h5s_file f;
  if (h5s_open(&f, path, MPI_COMM_SELF) < 0)
    return -1;
  int rc = h5s_attr_get_str(&f, "/", name, out, n);
  h5s_close(&f);
  return rc;
}

/* ---- datasets -------------------------------------------------------------------------------- */

int h5s_dataset_create(h5s_file *f, const char *name, h5s_type type, int rank, const uint64_t *dims,
                       const uint64_t *chunk) {
  int rc = 0;
  hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
  hid_t dset = H5I_INVALID_HID;
  if (!f->writable)
    return h5s_agree(f->comm, ancd_errorf("%s: %s: file is open read-only", f->path, name));
  if (!valid_type(type) || rank < 1 || rank > 4)
    return h5s_agree(f->comm, ancd_errorf("%s: %s: bad dataset type %d or rank %d", f->tmp_path,
                                          name, (int)type, rank));
  hsize_t hdims[4], hchunk[4];
  int empty = 0;
  for (int i = 0; i < rank; i++) {
    hdims[i] = dims[i];
    empty |= dims[i] == 0;
  }
  CHECK_H5(space = H5Screate_simple(rank, hdims, NULL), name);
  CHECK_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE), name);
  /* Chunks are clamped to the shape; an empty dataset stays contiguous (chunks must be > 0). */
  if (chunk && !empty) {
    for (int i = 0; i < rank; i++)
      hchunk[i] = chunk[i] < 1 ? 1 : chunk[i] > dims[i] ? dims[i] : chunk[i];
    CHECK_H5(H5Pset_chunk(dcpl, rank, hchunk), name);
    if (f->size == 1 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
      CHECK_H5(H5Pset_shuffle(dcpl), name);
      CHECK_H5(H5Pset_deflate(dcpl, 1), name);
    }
  }
  CHECK_H5(lcpl = H5Pcreate(H5P_LINK_CREATE), name);
  CHECK_H5(H5Pset_create_intermediate_group(lcpl, 1), name);
  CHECK_H5(dset = H5Dcreate2(f->file, name, file_type(type), space, lcpl, dcpl, H5P_DEFAULT), name);
done:
  close_id(&dset, H5Dclose);
  close_id(&lcpl, H5Pclose);
  close_id(&dcpl, H5Pclose);
  close_id(&space, H5Sclose);
  return h5s_agree(f->comm, rc);
}

/* Opens a dataset of the given type and selects [start, start+count) in its file space (nothing
 * when a count is 0). Local: no collective call. */
static int open_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                     const uint64_t *count, hid_t *dset, hid_t *fspace, hid_t *mspace) {
  int rc = 0;
  hid_t stored = H5I_INVALID_HID;
  hsize_t dims[4], hstart[4], hcount[4];
  if (!valid_type(type))
    return ancd_errorf("%s: %s: bad type %d", file_name(f), name, (int)type);
  CHECK_H5(*dset = H5Dopen2(f->file, name, H5P_DEFAULT), name);
  CHECK_H5(stored = H5Dget_type(*dset), name);
  if (!type_matches(stored, type)) {
    char what[32];
    describe_type(what, stored);
    rc = ancd_errorf("%s: %s: dataset is %s, not %s", file_name(f), name, what,
                     type_info[type].name);
    goto done;
  }
  CHECK_H5(*fspace = H5Dget_space(*dset), name);
  int rank;
  CHECK_H5(rank = H5Sget_simple_extent_dims(*fspace, dims, NULL), name);
  if (rank < 1 || rank > 4) {
    rc = ancd_errorf("%s: %s: unsupported rank %d", file_name(f), name, rank);
    goto done;
  }
  int empty = 0;
  for (int i = 0; i < rank; i++) {
    if (start[i] + count[i] > dims[i]) {
      rc = ancd_errorf("%s: %s: slab [%llu, %llu) of dimension %d exceeds its size %llu",
                       file_name(f), name, (unsigned long long)start[i],
                       (unsigned long long)(start[i] + count[i]), i, (unsigned long long)dims[i]);
      goto done;
    }
    hstart[i] = start[i];
    hcount[i] = count[i];
    empty |= count[i] == 0;
  }
  CHECK_H5(*mspace = H5Screate_simple(rank, hcount, NULL), name);
  if (empty) {
    CHECK_H5(H5Sselect_none(*fspace), name);
    CHECK_H5(H5Sselect_none(*mspace), name);
  } else {
    CHECK_H5(H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, hstart, NULL, hcount, NULL), name);
  }
done:
  close_id(&stored, H5Tclose);
  return rc;
}

/* Collective transfers when the file is shared by more than one rank. */
static hid_t make_dxpl(const h5s_file *f) {
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  if (dxpl >= 0 && f->size > 1 && H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0) {
    H5Pclose(dxpl);
    return H5I_INVALID_HID;
  }
  return dxpl;
}

/* One hyperslab transfer; `out` selects read (non-NULL) or write. */
static int transfer_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                         const uint64_t *count, const void *in, void *out) {
  int rc = 0;
  hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  hid_t dxpl = H5I_INVALID_HID;
  char dummy = 0; /* HDF5 wants a buffer even for an empty selection */
  rc = open_slab(f, name, type, start, count, &dset, &fspace, &mspace);
  if (rc == 0 && (dxpl = make_dxpl(f)) < 0)
    rc = h5_fail(f, name, "H5Pset_dxpl_mpio");
  /* Every rank must reach the collective H5Dread/H5Dwrite or none. */
  if (h5s_agree(f->comm, rc) < 0) {
    rc = -1;
    goto done;
  }
  if (out)
    CHECK_H5(H5Dread(dset, memory_type(type), mspace, fspace, dxpl, out), name);
  else
    CHECK_H5(H5Dwrite(dset, memory_type(type), mspace, fspace, dxpl, in ? in : &dummy), name);
done:
  close_id(&dxpl, H5Pclose);
  close_id(&mspace, H5Sclose);
  close_id(&fspace, H5Sclose);
  close_id(&dset, H5Dclose);
  return h5s_agree(f->comm, rc);
}

int h5s_write_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                   const uint64_t *count, const void *buf) {
  if (!f->writable)
    return h5s_agree(f->comm, ancd_errorf("%s: %s: file is open read-only", f->path, name));
  return transfer_slab(f, name, type, start, count, buf, NULL);
}

int h5s_read_slab(h5s_file *f, const char *name, h5s_type type, const uint64_t *start,
                  const uint64_t *count, void *buf) {
  static char empty; /* a read of nothing still needs a non-NULL `out` to mean "read" */
  return transfer_slab(f, name, type, start, count, NULL, buf ? buf : &empty);
}

int h5s_dataset_dims(h5s_file *f, const char *name, uint64_t *dims, int max_rank) {
  int rc = 0, rank = -1;
  hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID;
  hsize_t h[H5S_MAX_RANK];
  CHECK_H5(dset = H5Dopen2(f->file, name, H5P_DEFAULT), name);
  CHECK_H5(space = H5Dget_space(dset), name);
  CHECK_H5(rank = H5Sget_simple_extent_dims(space, h, NULL), name);
  if (rank > max_rank) {
    rc = ancd_errorf("%s: %s: rank %d exceeds %d", file_name(f), name, rank, max_rank);
    goto done;
  }
  for (int i = 0; i < rank; i++)
    dims[i] = h[i];
done:
  close_id(&space, H5Sclose);
  close_id(&dset, H5Dclose);
  return rc < 0 ? -1 : rank;
}

int h5s_exists(h5s_file *f, const char *name) {
  if (strcmp(name, "/") == 0)
    return 1;
  /* H5Lexists needs every intermediate group to exist: check each prefix. */
  char prefix[1024];
  size_t n = strlen(name);
  if (n >= sizeof prefix)
    return 0;
  for (size_t i = 1; i <= n; i++) {
    if (i < n && name[i] != '/')
      continue;
    memcpy(prefix, name, i);
    prefix[i] = '\0';
    if (H5Lexists(f->file, prefix, H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return 0;
    }
  }
  return 1;
}

/* ---- strings --------------------------------------------------------------------------------- */

/* A fixed-length UTF-8 string type of `width` bytes, padded with NULs. */
static hid_t string_type(size_t width) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0)
    return t;
  if (H5Tset_size(t, width) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return H5I_INVALID_HID;
  }
  return t;
}

int h5s_write_strings(h5s_file *f, const char *name, const char *const *s, int n) {
  int rc = 0;
  hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
  hid_t dset = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  char *packed = NULL;
  if (!f->writable)
    return h5s_agree(f->comm, ancd_errorf("%s: %s: file is open read-only", f->path, name));
  /* Rank 0's count and width define the dataset on every rank. */
  long shape[2] = {n, 1};
  if (f->rank == 0)
    for (int i = 0; i < n; i++)
      if ((long)strlen(s[i]) > shape[1])
        shape[1] = (long)strlen(s[i]);
  if (f->size > 1)
    CHECK_MPI(MPI_Bcast(shape, 2, MPI_LONG, 0, f->comm));
  n = (int)shape[0];
  size_t width = (size_t)shape[1];
  hsize_t dims[1] = {(hsize_t)n};
  CHECK_H5(type = string_type(width), name);
  CHECK_H5(space = H5Screate_simple(1, dims, NULL), name);
  CHECK_H5(lcpl = H5Pcreate(H5P_LINK_CREATE), name);
  CHECK_H5(H5Pset_create_intermediate_group(lcpl, 1), name);
  CHECK_H5(dset = H5Dcreate2(f->file, name, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT), name);
  if (n > 0) {
    packed = xcalloc((size_t)n, width);
    if (f->rank == 0)
      for (int i = 0; i < n; i++)
        memcpy(packed + (size_t)i * width, s[i], strlen(s[i]));
    else
      CHECK_H5(H5Sselect_none(space), name);
    CHECK_H5(dxpl = make_dxpl(f), name);
    CHECK_H5(H5Dwrite(dset, type, space, space, dxpl, packed), name);
  }
done:
  free(packed);
  close_id(&dxpl, H5Pclose);
  close_id(&dset, H5Dclose);
  close_id(&lcpl, H5Pclose);
  close_id(&space, H5Sclose);
  close_id(&type, H5Tclose);
  return h5s_agree(f->comm, rc);
}

int h5s_read_strings(h5s_file *f, const char *name, char ***s, int *n) {
  int rc = 0;
  hid_t dset = H5I_INVALID_HID, stored = H5I_INVALID_HID, type = H5I_INVALID_HID;
  hid_t space = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  char *packed = NULL;
  hsize_t dims[1] = {0};
  size_t width = 0;
  *s = NULL;
  *n = 0;
  CHECK_H5(dset = H5Dopen2(f->file, name, H5P_DEFAULT), name);
  CHECK_H5(stored = H5Dget_type(dset), name);
  CHECK_H5(space = H5Dget_space(dset), name);
  if (H5Tget_class(stored) != H5T_STRING || H5Tis_variable_str(stored) != 0 ||
      H5Sget_simple_extent_ndims(space) != 1) {
    rc = ancd_errorf("%s: %s: not a 1-D fixed-length string dataset", file_name(f), name);
    goto done;
  }
  CHECK_H5(H5Sget_simple_extent_dims(space, dims, NULL), name);
  width = H5Tget_size(stored);
  CHECK_H5(type = H5Tcopy(stored), name); /* its bytes as stored: HDF5 won't convert charsets */
  CHECK_H5(dxpl = make_dxpl(f), name);
  packed = xcalloc(dims[0] ? dims[0] : 1, width);
  if (dims[0] > 0)
    CHECK_H5(H5Dread(dset, type, H5S_ALL, H5S_ALL, dxpl, packed), name);
  *n = (int)dims[0];
  *s = xmalloc((dims[0] ? dims[0] : 1) * sizeof **s);
  for (hsize_t i = 0; i < dims[0]; i++) {
    (*s)[i] = xcalloc(width + 1, 1);
    memcpy((*s)[i], packed + i * width, width);
  }
done:
  free(packed);
  close_id(&dxpl, H5Pclose);
  close_id(&type, H5Tclose);
  close_id(&space, H5Sclose);
  close_id(&stored, H5Tclose);
  close_id(&dset, H5Dclose);
  if (h5s_agree(f->comm, rc) < 0) {
    h5s_free_strings(*s, *n);
    *s = NULL;
    *n = 0;
    return -1;
  }
  return 0;
}

void h5s_free_strings(char **s, int n) {
  if (!s)
    return;
  for (int i = 0; i < n; i++)
    free(s[i]);
  free(s);
}

/* ---- attributes ------------------------------------------------------------------------------ */

/* Writes a scalar attribute, replacing an existing one. Collective (same value on every rank). */
static int attr_write(h5s_file *f, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                      const void *value) {
  int rc = 0;
  hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  htri_t exists;
  char what[1100];
  snprintf(what, sizeof what, "%s attribute %s", obj, name);
  if (!f->writable)
    return h5s_agree(f->comm, ancd_errorf("%s: %s: file is open read-only", f->path, what));
  CHECK_H5(exists = H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT), what);
  if (exists)
    CHECK_H5(H5Adelete_by_name(f->file, obj, name, H5P_DEFAULT), what);
  CHECK_H5(space = H5Screate(H5S_SCALAR), what);
  CHECK_H5(attr = H5Acreate_by_name(f->file, obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT),
           what);
  CHECK_H5(H5Awrite(attr, mtype, value), what);
done:
  close_id(&attr, H5Aclose);
  close_id(&space, H5Sclose);
  return h5s_agree(f->comm, rc);
}

int h5s_attr_set_str(h5s_file *f, const char *obj, const char *name, const char *value) {
  size_t len = strlen(value);
  hid_t type = string_type(len ? len : 1);
  if (type < 0)
    return h5s_agree(f->comm, h5_fail(f, name, "H5Tcopy"));
  int rc = attr_write(f, obj, name, type, type, len ? value : "");
  H5Tclose(type);
  return rc;
}

int h5s_attr_set_i64(h5s_file *f, const char *obj, const char *name, int64_t value) {
  return attr_write(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

int h5s_attr_set_f64(h5s_file *f, const char *obj, const char *name, double value) {
  return attr_write(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

/* Opens a one-element attribute; its stored type goes to *stored. Local. */
static int attr_open(h5s_file *f, const char *obj, const char *name, const char *what, hid_t *attr,
                     hid_t *stored) {
  int rc = 0;
  hid_t space = H5I_INVALID_HID;
  htri_t exists;
  CHECK_H5(exists = H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT), what);
  if (!exists) {
    rc = ancd_errorf("%s: %s: missing", file_name(f), what);
    goto done;
  }
  CHECK_H5(*attr = H5Aopen_by_name(f->file, obj, name, H5P_DEFAULT, H5P_DEFAULT), what);
  CHECK_H5(*stored = H5Aget_type(*attr), what);
  CHECK_H5(space = H5Aget_space(*attr), what);
  if (H5Sget_simple_extent_npoints(space) != 1)
    rc = ancd_errorf("%s: %s: not a single value", file_name(f), what);
done:
  close_id(&space, H5Sclose);
  return rc;
}

/* Reads a numeric attribute of class int or float into mtype (HDF5 converts). */
static int attr_read_number(h5s_file *f, const char *obj, const char *name, hid_t mtype,
                            int allow_float, void *value) {
  int rc = 0;
  hid_t attr = H5I_INVALID_HID, stored = H5I_INVALID_HID;
  char what[1100];
  snprintf(what, sizeof what, "%s attribute %s", obj, name);
  if ((rc = attr_open(f, obj, name, what, &attr, &stored)) < 0)
    goto done;
  H5T_class_t cls = H5Tget_class(stored);
  if (!(cls == H5T_INTEGER || (allow_float && cls == H5T_FLOAT))) {
    char type[32];
    describe_type(type, stored);
    rc = ancd_errorf("%s: %s: is %s, not a number", file_name(f), what, type);
    goto done;
  }
  CHECK_H5(H5Aread(attr, mtype, value), what);
done:
  close_id(&stored, H5Tclose);
  close_id(&attr, H5Aclose);
  return rc;
}

int h5s_attr_get_i64(h5s_file *f, const char *obj, const char *name, int64_t *value) {
  return attr_read_number(f, obj, name, H5T_NATIVE_INT64, 0, value);
}

int h5s_attr_get_f64(h5s_file *f, const char *obj, const char *name, double *value) {
  return attr_read_number(f, obj, name, H5T_NATIVE_DOUBLE, 1, value);
}

/* Fixed-length (ours) or variable-length (h5py's default) string attributes. */
int h5s_attr_get_str(h5s_file *f, const char *obj, const char *name, char *out, size_t n) {
  int rc = 0;
  hid_t attr = H5I_INVALID_HID, stored = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
  char *buf = NULL, *vlen = NULL;
  char what[1100];
  snprintf(what, sizeof what, "%s attribute %s", obj, name);
  if ((rc = attr_open(f, obj, name, what, &attr, &stored)) < 0)
    goto done;
  if (H5Tget_class(stored) != H5T_STRING) {
    char type[32];
    describe_type(type, stored);
    rc = ancd_errorf("%s: %s: is %s, not a string", file_name(f), what, type);
    goto done;
  }
  const char *value;
  size_t len;
  if (H5Tis_variable_str(stored) > 0) {
    CHECK_H5(mtype = H5Tcopy(H5T_C_S1), what);
    CHECK_H5(H5Tset_size(mtype, H5T_VARIABLE), what);
    CHECK_H5(H5Tset_cset(mtype, H5Tget_cset(stored)), what); /* HDF5 won't convert charsets */
    CHECK_H5(H5Aread(attr, mtype, &vlen), what);
    value = vlen ? vlen : "";
    len = strlen(value);
  } else {
    size_t width = H5Tget_size(stored);
    CHECK_H5(mtype = H5Tcopy(stored), what);
    buf = xcalloc(width + 1, 1);
    CHECK_H5(H5Aread(attr, mtype, buf), what);
    value = buf;
    len = strlen(buf);
  }
  if (len + 1 > n) {
    rc = ancd_errorf("%s: %s: value of %zu bytes does not fit in %zu", file_name(f), what, len, n);
    goto done;
  }
  memcpy(out, value, len + 1);
done:
  if (vlen)
    H5free_memory(vlen); /* a scalar variable-length string is one HDF5 allocation */
  free(buf);
  close_id(&mtype, H5Tclose);
  close_id(&stored, H5Tclose);
  close_id(&attr, H5Aclose);
  return rc;
}

int h5s_attr_exists(h5s_file *f, const char *obj, const char *name) {
  if (!h5s_exists(f, obj))
    return 0;
  htri_t exists = H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return exists > 0;
}

int h5s_write_array(h5s_file *f, const char *name, h5s_type t, const void *data, uint64_t rows,
                    uint64_t cols, const char *description) {
  const uint64_t dims[2] = {rows, cols}, start[2] = {0, 0};
  const int rank = cols > 0 ? 2 : 1;
  if (h5s_dataset_create(f, name, t, rank, dims, NULL) < 0 ||
      h5s_write_slab(f, name, t, start, dims, rows ? data : NULL) < 0)
    return -1;
  return h5s_attr_set_str(f, name, "description", description);
}
