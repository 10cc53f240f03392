/* File-system helpers: mkdir -p, atomic writes, folder listings, path pieces. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
static int parent_dir(char *out, size_t n, const char *path) {
  if (snprintf(out, n, "%s", path) >= (int)n)
    return ancd_errorf("%s: path too long", path);
  char *slash = strrchr(out, '/');
  if (!slash)
    snprintf(out, n, ".");
  else if (slash == out)
    out[1] = '\0';
  else
    *slash = '\0';
  return 0;
}

/* fsync of a file or a folder; a folder whose file system refuses (EINVAL, ENOTSUP) is synced. */
static int fsync_path(const char *path, int is_dir) {
  int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0)
    return ancd_errorf("%s: cannot open to fsync: %s", path, strerror(errno));
  int s = fsync(fd), err = errno;
  if (close(fd) != 0 && s == 0) {
    s = -1;
    err = errno;
  }
  if (s != 0 && !(is_dir && (err == EINVAL || err == ENOTSUP)))
    return ancd_errorf("%s: fsync failed: %s", path, strerror(err));
  return 0;
}

int fs_publish(const char *tmp, const char *path) {
  if (fsync_path(tmp, 0) != 0) {
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return ancd_errorf("%s: cannot rename to %s: %s", tmp, path, strerror(err));
  }
  /* The rename is durable only once the folder is synced. */
  char dir[FS_PATH_LEN];
  if (parent_dir(dir, sizeof dir, path) != 0)
    return -1;
  return fsync_path(dir, 1);
}

int fs_write_atomic(const char *path, const void *data, size_t n) {
  char tmp[FS_PATH_LEN];
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
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp);
    return ancd_errorf("%s: close failed: %s", tmp, strerror(err));
  }
  return fs_publish(tmp, path);
}

void fs_names_push(fs_names *l, const char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
  }
  size_t len = strlen(s) + 1;
  l->v[l->n] = xmalloc(len);
  memcpy(l->v[l->n++], s, len);
}

void fs_names_free(fs_names *l) {
  for (int i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int fs_list_dir(fs_names *out, const char *dir, fs_kind kind, int (*keep)(const char *name)) {
  memset(out, 0, sizeof *out);
  DIR *dp = opendir(dir);
  if (!dp)
    return ancd_errorf("%s: cannot open folder (%s)", dir, strerror(errno));
  int rc = 0;
  struct dirent *e;
  errno = 0;
  while (rc == 0 && (e = readdir(dp)) != NULL) {
    if (e->d_name[0] == '.' || (keep && !keep(e->d_name))) {
      errno = 0;
      continue;
    }
    char p[FS_PATH_LEN];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
      rc = ancd_errorf("%.200s.../%.100s: path longer than %d bytes", dir, e->d_name,
                       FS_PATH_LEN - 1);
    else if (stat(p, &st) == 0 && (kind == FS_DIRS ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
      fs_names_push(out, e->d_name);
    /* readdir leaves errno alone at the end: a failed stat must not look like its error */
    errno = 0;
  }
  if (rc == 0 && errno != 0)
    rc = ancd_errorf("%s: cannot list folder (%s)", dir, strerror(errno));
  if (closedir(dp) != 0 && rc == 0)
    rc = ancd_errorf("%s: cannot close folder (%s)", dir, strerror(errno));
  if (rc != 0) {
    fs_names_free(out);
    return -1;
  }
  if (out->n > 1)
    qsort(out->v, (size_t)out->n, sizeof *out->v, by_name);
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

int fs_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *fs_extension(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && dot != name ? dot + 1 : "";
}

int fs_is_image_name(const char *name) {
  const char *e = fs_extension(name);
  return !strcasecmp(e, "png") || !strcasecmp(e, "jpg") || !strcasecmp(e, "jpeg") ||
         !strcasecmp(e, "bmp");
}
