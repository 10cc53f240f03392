/* File-system helpers: mkdir -p, atomic writes, path pieces. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define FS_PATH_LEN 4096

int fs_mkdirs(const char *path) {
  char buf[FS_PATH_LEN];
  if (!path[0])
    return ancd_errorf("empty directory path");
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return ancd_errorf("%s: path too long", path);
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != 0)
      continue;
    char saved = *p;
    *p = 0;
    if (mkdir(buf, 0755) != 0) {
      int err = errno;
      struct stat st;
      if (err != EEXIST)
        return ancd_errorf("%s: cannot create directory (%s)", buf, strerror(err));
      if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return ancd_errorf("%s: exists and is not a directory", buf);
    }
    *p = saved;
    if (saved == 0)
      return 0;
  }
}

/* The folder of path, for its fsync ("." when none). */
static void parent_dir(char *out, size_t n, const char *path) {
  snprintf(out, n, "%s", path);
  char *slash = strrchr(out, '/');
  if (!slash)
    snprintf(out, n, ".");
  else if (slash == out)
    out[1] = '\0';
  else
    *slash = '\0';
}

int fs_write_atomic(const char *path, const void *data, size_t n) {
  char tmp[FS_PATH_LEN], dir[FS_PATH_LEN];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return ancd_errorf("%s: path too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return ancd_errorf("%s: cannot create: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = n;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int err = w < 0 ? errno : EIO;
      close(fd);
      unlink(tmp);
      return ancd_errorf("%s: write failed: %s", tmp, strerror(err));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0) {
    int err = errno;
    close(fd);
    unlink(tmp);
    return ancd_errorf("%s: fsync failed: %s", tmp, strerror(err));
  }
  if (close(fd) != 0) {
    unlink(tmp);
    return ancd_errorf("%s: close failed: %s", tmp, strerror(errno));
  }
  if (rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return ancd_errorf("%s: cannot rename to %s: %s", tmp, path, strerror(err));
  }
  /* The rename is durable only once the folder is synced; some file systems refuse (EINVAL). */
  parent_dir(dir, sizeof dir, path);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

const char *fs_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

int fs_replace_ext(char *out, size_t n, const char *name, const char *ext) {
  const char *dot = strrchr(name, '.');
  size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
  if (stem + strlen(ext) + 1 > n)
    return ancd_errorf("%s: file name too long", name);
  memcpy(out, name, stem);
  strcpy(out + stem, ext);
  return 0;
}

int fs_stem(char *out, size_t n, const char *path) {
  const char *name = fs_basename(path), *dot = strchr(name, '.');
  size_t len = dot ? (size_t)(dot - name) : strlen(name);
  if (len + 1 > n)
    return ancd_errorf("%s: file name too long", path);
  memcpy(out, name, len);
  out[len] = '\0';
  return 0;
}
