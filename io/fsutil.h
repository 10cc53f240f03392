/* Small file-system helpers shared by the readers and writers of files: mkdir -p, atomic
 * whole-file writes (DESIGN "Files": temp file, fsync, rename), sorted folder listings and path
 * pieces. */
#ifndef ANCD_FSUTIL_H
#define ANCD_FSUTIL_H

#include <stddef.h>

/* mkdir -p: every missing component is created; an existing non-directory is an error. */
int fs_mkdirs(const char *path);
/* Writes data to <path>.tmp, then fs_publish()es it. The folder must exist. A failure up to the
 * rename removes the .tmp and leaves path as it was. */
int fs_write_atomic(const char *path, const void *data, size_t n);
/* Makes a finished, closed temp file the file path, durably (DESIGN "Files"): fsyncs tmp, renames
 * it to path, fsyncs path's folder. Every failure is an error, except a folder fsync that the file
 * system refuses (EINVAL, ENOTSUP: it has nothing to sync). A failure up to the rename removes tmp
 * and leaves path as it was; after the rename only the folder's fsync can fail (path is then the
 * new file, maybe not yet durably). */
int fs_publish(const char *tmp, const char *path);

/* A list of strings that the caller frees with fs_names_free. */
typedef struct {
  int n, cap;
  char **v;
} fs_names;
void fs_names_push(fs_names *l, const char *s); /* a copy of s */
void fs_names_free(fs_names *l);                /* and empties it */

typedef enum { FS_FILES, FS_DIRS } fs_kind;
/* *out = the names of the entries of dir that are regular files (FS_FILES) or folders (FS_DIRS),
 * links followed, whose name passes keep (NULL: every name), sorted by strcmp (Python's
 * sorted()). Dotfiles are skipped, so are links that lead nowhere. Failing to open or read dir,
 * or an entry path longer than the limit, is an error (out then empty). */
int fs_list_dir(fs_names *out, const char *dir, fs_kind kind, int (*keep)(const char *name));

/* 1 when path is a directory / a regular file (following links), else 0 (never an error). */
int fs_is_dir(const char *path);
int fs_is_file(const char *path);
/* The extension of a file name, without the dot ("" when none; a leading dot is not one). */
const char *fs_extension(const char *name);
/* 1 for the image files ancd decodes: .png .jpg .jpeg .bmp, any case. */
int fs_is_image_name(const char *name);
/* The last component of a path ("a/b/c.png" -> "c.png"; "c.png" -> itself). */
const char *fs_basename(const char *path);
/* out = the file name of path up to its first '.': AnomalyNCD's {stem} (anomalyncd_spec §1.3,
 * kept as §11.29 says the reference has it), the one meaning of "stem" in ancd: crop and
 * picture names, image-map pairing, mask names. "a/000.png" -> "000", "a.b.png" -> "a",
 * "noext" -> "noext", ".x.png" -> "" (Python's name.split('.')[0]). -1 when out is too small. */
int fs_stem(char *out, size_t n, const char *path);
/* out = name with its last extension (from the last '.', not a leading one) replaced by ext
 * ("000.JPG", ".png" -> "000.png"; "a.b.jpg" -> "a.b.png"; "noext" -> "noext.png"). -1 when out
 * is too small. */
int fs_replace_ext(char *out, size_t n, const char *name, const char *ext);

#endif
