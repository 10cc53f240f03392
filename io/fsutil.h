/* Small file-system helpers shared by the writers of outputs: mkdir -p, atomic whole-file writes
 * (DESIGN "Files": temp file, fsync, rename) and path pieces. */
#ifndef ANCD_FSUTIL_H
#define ANCD_FSUTIL_H

#include <stddef.h>

/* mkdir -p: every missing component is created; an existing non-directory is an error. */
int fs_mkdirs(const char *path);
/* Writes data to <path>.tmp, fsyncs it, renames it to path and fsyncs the folder. The folder must
 * exist. On failure the .tmp is removed and path is untouched. */
int fs_write_atomic(const char *path, const void *data, size_t n);
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
