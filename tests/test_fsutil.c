/* io/fsutil: the stem rule (anomalyncd_spec §1.3, §11.29: up to the first dot), sorted folder
 * listings with their errors, and the atomic publish of a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "test_util.h"

static void check_stem(const char *path, const char *want) {
  char out[64] = "?";
  CHECK(fs_stem(out, sizeof out, path) == 0, "%s: %s", path, ancd_error());
  CHECK(!strcmp(out, want), "stem of '%s' is '%s', want '%s'", path, out, want);
}

static void test_stem(void) {
  check_stem("000.png", "000");
  check_stem("/d/cat/test/crack/000.png", "000");
  check_stem("a.b.png", "a"); /* several dots: up to the first, as the reference */
  check_stem("dir/x.tar.gz", "x");
  check_stem("noext", "noext");
  check_stem("a.b/c.png", "c"); /* dots in folders do not count */
  check_stem("a.b/noext", "noext");
  check_stem(".hidden.png", ""); /* a leading dot: Python's name.split('.')[0] is '' */
  check_stem("dir/.x", "");
  check_stem("..png", "");
  check_stem("trailing.", "trailing");
  check_stem("dir/", "");
  check_stem("", "");
  /* The buffer holds the stem and its NUL, nothing more is needed. */
  char small[4];
  CHECK(fs_stem(small, sizeof small, "abc.png") == 0 && !strcmp(small, "abc"), "exact fit");
  CHECK(fs_stem(small, sizeof small, "abcd.png") == -1 && strstr(ancd_error(), "abcd.png"),
        "too small: %s", ancd_error());
}

static void test_replace_ext(void) {
  char out[32];
  CHECK(fs_replace_ext(out, sizeof out, "a.b.jpg", ".png") == 0 && !strcmp(out, "a.b.png"), "%s",
        out);
  CHECK(fs_replace_ext(out, sizeof out, ".hidden", ".png") == 0 && !strcmp(out, ".hidden.png"),
        "%s", out);
}

static void touch(const char *dir, const char *name) {
  char p[4200];
  PATHF(p, "%s/%s", dir, name);
  CHECK(test_write_file(p, "x", 1) == 0, "cannot write %s", p);
}

static int not_txt(const char *name) {
  const char *dot = strrchr(name, '.');
  return !dot || strcmp(dot, ".txt") != 0;
}

static void test_list_dir(const char *tmp) {
  char dir[4200], sub[4300], link[4300];
  PATHF(dir, "%s/list", tmp);
  touch(dir, "b.png");
  touch(dir, "a.png");
  touch(dir, "B.png"); /* strcmp order: upper case first */
  touch(dir, "notes.txt");
  touch(dir, ".hidden.png");
  PATHF(sub, "%s/zdir", dir);
  CHECK(test_mkdirs(sub) == 0, "mkdir %s", sub);
  PATHF(sub, "%s/adir", dir);
  CHECK(test_mkdirs(sub) == 0, "mkdir %s", sub);
  PATHF(sub, "%s/.git", dir);
  CHECK(test_mkdirs(sub) == 0, "mkdir %s", sub);
  PATHF(link, "%s/dangling.png", dir); /* a link that leads nowhere is left out */
  CHECK(symlink("/nonexistent/ancd", link) == 0, "symlink: %s", strerror(errno));
  PATHF(link, "%s/linked.png", dir); /* links are followed */
  CHECK(symlink("a.png", link) == 0, "symlink: %s", strerror(errno));

  fs_names l;
  CHECK(fs_list_dir(&l, dir, FS_FILES, NULL) == 0, "%s", ancd_error());
  const char *files[] = {"B.png", "a.png", "b.png", "linked.png", "notes.txt"};
  CHECK(l.n == 5, "%d files", l.n);
  for (int i = 0; i < l.n && i < 5; i++)
    CHECK(!strcmp(l.v[i], files[i]), "file %d: %s, want %s", i, l.v[i], files[i]);
  fs_names_free(&l);
  CHECK(l.n == 0 && l.v == NULL, "freed list not empty");

  CHECK(fs_list_dir(&l, dir, FS_FILES, not_txt) == 0 && l.n == 4, "keep: %d", l.n);
  fs_names_free(&l);

  CHECK(fs_list_dir(&l, dir, FS_DIRS, NULL) == 0 && l.n == 2, "%d folders", l.n);
  if (l.n == 2)
    CHECK(!strcmp(l.v[0], "adir") && !strcmp(l.v[1], "zdir"), "folders %s %s", l.v[0], l.v[1]);
  fs_names_free(&l);

  CHECK(fs_list_dir(&l, sub, FS_FILES, NULL) == 0 && l.n == 0 && l.v == NULL, "empty folder");
  fs_names_free(&l);

  char missing[4300];
  PATHF(missing, "%s/missing", dir);
  CHECK(fs_list_dir(&l, missing, FS_DIRS, NULL) == -1 && strstr(ancd_error(), missing) && l.n == 0,
        "missing folder: %s", ancd_error());
  char file[4300];
  PATHF(file, "%s/a.png", dir);
  CHECK(fs_list_dir(&l, file, FS_FILES, NULL) == -1, "a file listed as a folder");

  /* An entry whose path would be too long is an error, not a silently shorter path. */
  char deep[4096];
  size_t len = (size_t)snprintf(deep, sizeof deep, "%s/", tmp);
  while (len + 201 < 4000) {
    memset(deep + len, 'd', 200);
    deep[len + 200] = '/';
    len += 201;
    deep[len] = '\0';
  }
  deep[len - 1] = '\0';
  CHECK(test_mkdirs(deep) == 0, "mkdir deep: %s", strerror(errno));
  char longname[300];
  memset(longname, 'n', 250);
  strcpy(longname + 250, ".png");
  int dfd = open(deep, O_RDONLY | O_DIRECTORY); /* the entry's full path is past PATH_MAX */
  int fd = dfd < 0 ? -1 : openat(dfd, longname, O_WRONLY | O_CREAT, 0644);
  CHECK(fd >= 0, "cannot create the long entry: %s", strerror(errno));
  if (fd >= 0)
    close(fd);
  if (dfd >= 0)
    close(dfd);
  CHECK(fs_list_dir(&l, deep, FS_FILES, NULL) == -1 && strstr(ancd_error(), "path longer") &&
            l.n == 0,
        "long entry: %s", ancd_error());
}

static void read_back(const char *path, const char *want) {
  char buf[64] = "";
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f)
    return;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  CHECK(!strcmp(buf, want), "%s holds '%s', want '%s'", path, buf, want);
}

static void test_publish(const char *tmp) {
  char dir[4200], path[4300], tmpf[4300];
  PATHF(dir, "%s/publish", tmp);
  CHECK(fs_mkdirs(dir) == 0, "%s", ancd_error());
  PATHF(path, "%s/out.json", dir);
  PATHF(tmpf, "%s/out.json.tmp", dir);
  CHECK(fs_write_atomic(path, "first", 5) == 0, "%s", ancd_error());
  read_back(path, "first");
  CHECK(!test_file_exists(tmpf), "the .tmp stayed");
  CHECK(fs_write_atomic(path, "second", 6) == 0, "%s", ancd_error());
  read_back(path, "second");

  /* fs_publish of a finished temp file, as h5s_publish uses it. */
  char other[4300];
  PATHF(other, "%s/other.h5.tmp", dir);
  CHECK(test_write_file(other, "h5", 2) == 0, "write %s", other);
  PATHF(path, "%s/other.h5", dir);
  CHECK(fs_publish(other, path) == 0, "%s", ancd_error());
  read_back(path, "h5");
  CHECK(!test_file_exists(other), "the temp file stayed");

  /* A missing temp file fails before anything is renamed. */
  CHECK(fs_publish(other, path) == -1 && strstr(ancd_error(), "fsync"), "missing tmp: %s",
        ancd_error());
  read_back(path, "h5");
  /* A rename into a missing folder fails and removes the temp file. */
  char nowhere[4400];
  PATHF(nowhere, "%s/missing/x.h5", dir);
  CHECK(test_write_file(other, "h5", 2) == 0, "write %s", other);
  CHECK(fs_publish(other, nowhere) == -1 && strstr(ancd_error(), "cannot rename"), "rename: %s",
        ancd_error());
  CHECK(!test_file_exists(other), "a failed publish left its temp file");
  CHECK(fs_write_atomic(nowhere, "x", 1) == -1, "atomic write into a missing folder");
}

/* fs_is_dir / fs_is_file / fs_extension / fs_is_image_name. */
static void test_kinds(const char *tmp) {
  char file[4200];
  snprintf(file, sizeof file, "%s/kind.txt", tmp);
  CHECK(test_write_file(file, "x", 1) == 0, "write %s", file);
  CHECK(fs_is_dir(tmp) && !fs_is_file(tmp), "%s is a directory", tmp);
  CHECK(fs_is_file(file) && !fs_is_dir(file), "%s is a file", file);
  CHECK(!fs_is_file("/nonexistent/x") && !fs_is_dir("/nonexistent/x"), "missing path");
  CHECK(!strcmp(fs_extension("a.b.PNG"), "PNG") && !strcmp(fs_extension(".hidden"), "") &&
            !strcmp(fs_extension("noext"), ""),
        "extensions");
  CHECK(fs_is_image_name("x.JPG") && fs_is_image_name("x.jpeg") && fs_is_image_name("a.b.bmp") &&
            fs_is_image_name("m.png") && !fs_is_image_name("x.txt") && !fs_is_image_name(".png"),
        "image names");
}

int main(void) {
  const char *tmp = test_tmpdir("test_fsutil");
  test_kinds(tmp);
  test_stem();
  test_replace_ext();
  test_list_dir(tmp);
  test_publish(tmp);
  return test_done("test_fsutil");
}
