/* Dataset layouts -> one manifest per category (io/dataset.h). One scanner per layout over a few
 * shared folder helpers. Order (musc §A.3): test types sorted by name with the normal type among
 * them, files sorted within a type (strcmp, like Python's sorted()), then the train images;
 * VisA keeps the split CSV's row order. Dotfiles and files that are not images are ignored.
 * A mask is named after the image's stem, its file name up to the first dot (fs_stem).
 *
 * Layout details that the README documents:
 * - mvtec/btad: the normal type is dataset.normal_type (btad: "ok"; the default "good" means
 *   "ok" there, as BTAD has no "good"); train images are <cat>/train/<normal_type>/ when present.
 *   A btad mask is ground_truth/<type>/<stem> + the first of mask_suffix, .png, .bmp, _mask.png
 *   that exists (the BTAD releases mix these).
 * - mtd: type = the class folder name without MT_, lowercased; MT_Free is the normal type
 *   (dataset.normal_type, "good"), so tables read as for MVTec. Its masks (all zero) are not
 *   listed. split_file (default mtd_train_filenames.txt) names the MT_Free train images.
 * - visa: split_file default split_csv/1cls.csv; types are normal_type ("good") and "anomaly".
 * - folder: <cat>/train/ (or <cat>/train/<normal_type>/) holds train images when present;
 *   every other folder of <cat> except the mask folder is a test type. */
#include "dataset.h"
#include "error.h"
#include "fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef enum { L_MVTEC, L_BTAD, L_VISA, L_MTD, L_FOLDER, L_ANOMALIES } layout_id;

static const char *const layout_names[] = {"mvtec", "btad", "visa", "mtd", "folder", "anomalies"};

static int layout_of(layout_id *out, const cfg_dataset *d) {
  for (int i = 0; i < (int)(sizeof layout_names / sizeof layout_names[0]); i++)
    if (strcmp(d->layout, layout_names[i]) == 0) {
      *out = (layout_id)i;
      return 0;
    }
  return ancd_errorf("dataset.layout '%s' is not one of mvtec, btad, visa, mtd, folder, anomalies",
                     d->layout);
}

/* ---- paths and folder listings ---- */

static int pathf(char out[CFG_PATH_LEN], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int pathf(char out[CFG_PATH_LEN], const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, CFG_PATH_LEN, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= CFG_PATH_LEN)
    return ancd_errorf("%.200s...: path longer than %d bytes", out, CFG_PATH_LEN - 1);
  return 0;
}

/* MTD keeps the mask (.png) next to the image (.jpg): only the non-PNG files are images. */
static int is_mtd_image_name(const char *name) {
  return fs_is_image_name(name) && strcasecmp(fs_extension(name), "png") != 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_has(const fs_names *l, const char *s) { /* l sorted; l->v is NULL when empty */
  return l->n > 0 && bsearch(&s, l->v, (size_t)l->n, sizeof *l->v, cmp_str) != NULL;
}

/* ---- the manifest ---- */

static int add_item(ds_manifest *m, const char *path, const char *type, int split, int label,
                    const char *mask) {
  if (strlen(type) >= CFG_NAME_LEN)
    return ancd_errorf("%s: type name '%s' longer than %d bytes", path, type, CFG_NAME_LEN - 1);
  if (strlen(path) >= CFG_PATH_LEN || strlen(mask) >= CFG_PATH_LEN)
    return ancd_errorf("%.200s...: path longer than %d bytes", path, CFG_PATH_LEN - 1);
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 64;
    m->items = xrealloc(m->items, (size_t)m->cap * sizeof *m->items);
  }
  ds_item *it = &m->items[m->n++];
  memset(it, 0, sizeof *it);
  strcpy(it->path, path);
  strcpy(it->mask, mask);
  strcpy(it->type, type);
  it->split = split;
  it->label = label;
  return 0;
}

static int n_split(const ds_manifest *m, int split) {
  int n = 0;
  for (int i = 0; i < m->n; i++)
    n += m->items[i].split == split;
  return n;
}

/* How the anomalous images of a type folder find their masks: <gt_dir>/<stem><suffix> for the
 * first suffix whose file exists. */
typedef struct {
  const char *gt_dir; /* NULL: no masks */
  const char *suffixes[4];
  int n_suffixes;
} mask_rule;

static int find_mask(char out[CFG_PATH_LEN], const mask_rule *mr, const char *image_path,
                     const char *stem) {
  for (int s = 0; s < mr->n_suffixes; s++) {
    if (pathf(out, "%s/%s%s", mr->gt_dir, stem, mr->suffixes[s]) != 0)
      return -1;
    if (fs_is_file(out))
      return 0;
  }
  char others[128] = "";
  for (int s = 1; s < mr->n_suffixes; s++)
    snprintf(others + strlen(others), sizeof others - strlen(others), "%s%s", s > 1 ? ", " : "",
             mr->suffixes[s]);
  char first[2 * CFG_PATH_LEN];
  snprintf(first, sizeof first, "%s/%s%s", mr->gt_dir, stem, mr->suffixes[0]);
  return ancd_errorf("%s: anomalous image without its mask (expected %s%s%s)", image_path, first,
                     others[0] ? ", or the same stem with " : "", others);
}

/* Appends the images of one type folder, sorted by name; an empty folder is an error. */
static int add_type_folder(ds_manifest *m, const char *type_dir, const char *type, int split,
                           int label, const mask_rule *mr, int (*keep)(const char *)) {
  fs_names files;
  if (fs_list_dir(&files, type_dir, FS_FILES, keep) != 0)
    return -1;
  int rc = 0;
  if (files.n == 0)
    rc = ancd_errorf("%s: empty type folder (no images)", type_dir);
  for (int i = 0; i < files.n && rc == 0; i++) {
    char path[CFG_PATH_LEN], mask[CFG_PATH_LEN] = "", stem[CFG_PATH_LEN];
    rc = fs_stem(stem, sizeof stem, files.v[i]);
    if (rc == 0)
      rc = pathf(path, "%s/%s", type_dir, files.v[i]);
    if (rc == 0 && label && mr && mr->gt_dir)
      rc = find_mask(mask, mr, path, stem);
    if (rc == 0)
      rc = add_item(m, path, type, split, label, mask);
  }
  fs_names_free(&files);
  return rc;
}

/* ---- dataset root and categories ---- */

static int dataset_root(char out[CFG_PATH_LEN], const cfg_dataset *d) {
  if (!d->root[0])
    return ancd_errorf("dataset.root is not set");
  if (pathf(out, "%s", d->root) != 0)
    return -1;
  for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
    out[n - 1] = 0;
  if (!fs_is_dir(out))
    return ancd_errorf("%s: dataset root not found", out);
  return 0;
}

static const char *normal_type(const cfg_dataset *d, layout_id lay) {
  if (lay == L_BTAD && (!d->normal_type[0] || strcmp(d->normal_type, "good") == 0))
    return "ok";
  return d->normal_type[0] ? d->normal_type : "good";
}

static const char *split_file(const cfg_dataset *d, layout_id lay) {
  if (d->split_file[0])
    return d->split_file;
  return lay == L_VISA ? "split_csv/1cls.csv" : "mtd_train_filenames.txt";
}

static int set_name(char out[CFG_NAME_LEN], const char *name, const char *where) {
  if (strlen(name) >= CFG_NAME_LEN)
    return ancd_errorf("%s: category name '%s' longer than %d bytes", where, name,
                       CFG_NAME_LEN - 1);
  strcpy(out, name);
  return 0;
}

/* ---- VisA: the split CSV (columns object, split, label, image, mask; musc §A.3) ---- */

enum { V_OBJECT, V_SPLIT, V_LABEL, V_IMAGE, V_MASK, V_NCOL };
static const char *const visa_columns[V_NCOL] = {"object", "split", "label", "image", "mask"};

typedef struct {
  char path[CFG_PATH_LEN];
  char *text; /* the file, split in place into fields */
  int n, cap;
  struct visa_row {
    int line;
    const char *f[V_NCOL];
  } * rows;
} visa_csv;

static void visa_free(visa_csv *v) {
  free(v->text);
  free(v->rows);
  memset(v, 0, sizeof *v);
}

/* Splits one line into fields in place; "quoted" fields may hold commas and "" for a quote. */
static int csv_fields(char **fields, int max, char *line) {
  int n = 0;
  char *p = line;
  for (;;) {
    char *start = p, *w = p;
    if (*p == '"') {
      for (p++; *p; p++) {
        if (*p == '"' && p[1] == '"')
          *w++ = '"', p++;
        else if (*p == '"') {
          p++;
          break;
        } else
          *w++ = *p;
      }
      while (*p && *p != ',')
        p++;
    } else {
      while (*p && *p != ',')
        p++;
      w = p;
    }
    char sep = *p;
    *w = 0;
    if (n < max)
      fields[n] = start;
    n++;
    if (sep != ',')
      return n;
    p++;
  }
}

static int visa_load(visa_csv *v, const char *root, const cfg_dataset *d) {
  memset(v, 0, sizeof *v);
  if (pathf(v->path, "%s/%s", root, split_file(d, L_VISA)) != 0)
    return -1;
  FILE *f = fopen(v->path, "rb");
  if (!f)
    return ancd_errorf("%s: cannot open the VisA split CSV (%s)", v->path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  v->text = xmalloc(cap);
  for (size_t got; (got = fread(v->text + len, 1, cap - len - 1, f)) > 0;) {
    len += got;
    if (cap - len - 1 == 0)
      v->text = xrealloc(v->text, cap *= 2);
  }
  int read_err = ferror(f);
  fclose(f);
  if (read_err) {
    visa_free(v);
    return ancd_errorf("%s: read error", v->path);
  }
  v->text[len] = 0;
  int col[V_NCOL], line_no = 0, have_header = 0;
  char *p = v->text;
  if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
    p += 3; /* UTF-8 byte-order mark */
  while (*p) {
    char *line = p, *nl = strchr(p, '\n');
    p = nl ? nl + 1 : p + strlen(p);
    if (nl)
      *nl = 0;
    line_no++;
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r')
      line[--n] = 0;
    if (n == 0)
      continue;
    char *fields[32];
    int nf = csv_fields(fields, 32, line);
    if (nf > 32)
      nf = 32;
    if (!have_header) {
      for (int c = 0; c < V_NCOL; c++) {
        col[c] = -1;
        for (int j = 0; j < nf; j++)
          if (strcmp(fields[j], visa_columns[c]) == 0)
            col[c] = j;
        if (col[c] < 0) {
          int rc = ancd_errorf("%s:%d: header has no column '%s' (need object, split, label, "
                               "image, mask)",
                               v->path, line_no, visa_columns[c]);
          visa_free(v);
          return rc;
        }
      }
      have_header = 1;
      continue;
    }
    if (v->n == v->cap) {
      v->cap = v->cap ? 2 * v->cap : 1024;
      v->rows = xrealloc(v->rows, (size_t)v->cap * sizeof *v->rows);
    }
    struct visa_row *r = &v->rows[v->n++];
    r->line = line_no;
    for (int c = 0; c < V_NCOL; c++)
      r->f[c] = col[c] < nf ? fields[col[c]] : "";
  }
  if (!have_header) {
    visa_free(v);
    return ancd_errorf("%s: empty CSV (no header)", v->path);
  }
  return 0;
}

static int visa_categories(cfg_names *out, const char *root, const cfg_dataset *d) {
  visa_csv v;
  if (visa_load(&v, root, d) != 0)
    return -1;
  fs_names all = {0};
  for (int i = 0; i < v.n; i++)
    fs_names_push(&all, v.rows[i].f[V_OBJECT]);
  if (all.n > 1)
    qsort(all.v, (size_t)all.n, sizeof *all.v, cmp_str);
  int rc = 0;
  if (d->categories.n > 0) {
    for (int i = 0; i < d->categories.n && rc == 0; i++)
      if (!names_has(&all, d->categories.v[i]))
        rc = ancd_errorf("%s: no rows for category '%s'", v.path, d->categories.v[i]);
    *out = d->categories;
  } else {
    for (int i = 0; i < all.n && rc == 0; i++) {
      if (!all.v[i][0])
        rc = ancd_errorf("%s: a row has an empty 'object'", v.path);
      else if (i > 0 && strcmp(all.v[i], all.v[i - 1]) == 0)
        continue;
      else if (out->n == CFG_MAX_NAMES)
        rc = ancd_errorf("%s: more than %d categories", v.path, CFG_MAX_NAMES);
      else
        rc = set_name(out->v[out->n++], all.v[i], v.path);
    }
    if (rc == 0 && out->n == 0)
      rc = ancd_errorf("%s: no rows", v.path);
  }
  fs_names_free(&all);
  visa_free(&v);
  return rc;
}

/* Test rows then train rows of the category, each in CSV order (musc §A.3: meta.json keeps the
 * CSV row order). */
static int scan_visa(ds_manifest *m, const cfg_dataset *d, const char *root, const char *cat) {
  visa_csv v;
  if (visa_load(&v, root, d) != 0)
    return -1;
  int rc = 0, found = 0;
  for (int pass = DS_TEST; pass >= DS_TRAIN && rc == 0; pass--) {
    for (int i = 0; i < v.n && rc == 0; i++) {
      const struct visa_row *r = &v.rows[i];
      if (strcmp(r->f[V_OBJECT], cat) != 0)
        continue;
      found = 1;
      int split, label;
      if (strcmp(r->f[V_SPLIT], "train") == 0)
        split = DS_TRAIN;
      else if (strcmp(r->f[V_SPLIT], "test") == 0)
        split = DS_TEST;
      else {
        rc = ancd_errorf("%s:%d: split '%s' is not train or test", v.path, r->line, r->f[V_SPLIT]);
        break;
      }
      if (strcmp(r->f[V_LABEL], "normal") == 0)
        label = 0;
      else if (strcmp(r->f[V_LABEL], "anomaly") == 0)
        label = 1;
      else {
        rc = ancd_errorf("%s:%d: label '%s' is not normal or anomaly", v.path, r->line,
                         r->f[V_LABEL]);
        break;
      }
      if (split != pass)
        continue;
      char path[CFG_PATH_LEN], mask[CFG_PATH_LEN] = "";
      if (!r->f[V_IMAGE][0])
        rc = ancd_errorf("%s:%d: empty image path", v.path, r->line);
      else
        rc = pathf(path, "%s/%s", root, r->f[V_IMAGE]);
      if (rc == 0 && label) {
        if (!r->f[V_MASK][0])
          rc = ancd_errorf("%s: anomalous image without its mask (%s:%d has an empty mask)", path,
                           v.path, r->line);
        else if ((rc = pathf(mask, "%s/%s", root, r->f[V_MASK])) == 0 && !fs_is_file(mask))
          rc = ancd_errorf("%s: anomalous image without its mask (expected %s)", path, mask);
      }
      if (rc == 0)
        rc = add_item(m, path, label ? "anomaly" : normal_type(d, L_VISA), split, label, mask);
    }
  }
  if (rc == 0 && !found)
    rc = ancd_errorf("%s: no rows for category '%s'", v.path, cat);
  if (rc == 0 && n_split(m, DS_TEST) == 0)
    rc = ancd_errorf("%s: category '%s' has no test images", v.path, cat);
  m->has_masks = 1;
  visa_free(&v);
  return rc;
}

/* ---- MTD: MT_<Class>/Imgs/<name>.jpg + <name>.png, one category "MTD" ---- */

typedef struct {
  char folder[CFG_NAME_LEN]; /* MT_Blowhole */
  char type[CFG_NAME_LEN];   /* blowhole; MT_Free -> the normal type */
  int normal;
} mtd_class;

static int cmp_mtd_class(const void *a, const void *b) {
  return strcmp(((const mtd_class *)a)->type, ((const mtd_class *)b)->type);
}

/* The train list: one file name per line (a path keeps only its last component). */
static int mtd_read_train_list(fs_names *out, const char *list_path, const char *free_dir,
                               const fs_names *free_images) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(list_path, "r");
  if (!f)
    return ancd_errorf("%s: cannot open the MTD train list (%s)", list_path, strerror(errno));
  char line[CFG_PATH_LEN];
  int rc = 0;
  for (int line_no = 1; rc == 0 && fgets(line, sizeof line, f); line_no++) {
    char *s = line, *e = line + strlen(line);
    while (e > s && isspace((unsigned char)e[-1]))
      *--e = 0;
    while (isspace((unsigned char)*s))
      s++;
    if (!*s)
      continue;
    const char *name = strrchr(s, '/') ? strrchr(s, '/') + 1 : s;
    if (!names_has(free_images, name))
      rc = ancd_errorf("%s:%d: %s/%s not found", list_path, line_no, free_dir, name);
    else
      fs_names_push(out, name);
  }
  if (rc == 0 && ferror(f))
    rc = ancd_errorf("%s: read error", list_path);
  fclose(f);
  if (rc == 0 && out->n > 1)
    qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
  if (rc != 0)
    fs_names_free(out);
  return rc;
}

static int scan_mtd(ds_manifest *m, const cfg_dataset *d, const char *root) {
  fs_names folders;
  if (fs_list_dir(&folders, root, FS_DIRS, NULL) != 0)
    return -1;
  mtd_class *cls = xcalloc((size_t)folders.n + 1, sizeof *cls);
  int n_cls = 0, free_idx = -1, rc = 0;
  for (int i = 0; i < folders.n && rc == 0; i++) {
    if (strncmp(folders.v[i], "MT_", 3) != 0 || !folders.v[i][3])
      continue;
    mtd_class *c = &cls[n_cls];
    if (strlen(folders.v[i]) >= CFG_NAME_LEN) {
      rc = ancd_errorf("%s/%s: class folder name too long", root, folders.v[i]);
      break;
    }
    strcpy(c->folder, folders.v[i]);
    c->normal = strcmp(c->folder, "MT_Free") == 0;
    if (c->normal)
      snprintf(c->type, sizeof c->type, "%s", normal_type(d, L_MTD));
    else
      for (int k = 0; c->folder[3 + k]; k++)
        c->type[k] = (char)tolower((unsigned char)c->folder[3 + k]);
    n_cls++;
  }
  fs_names_free(&folders);
  if (rc == 0 && n_cls == 0)
    rc = ancd_errorf("%s: no MT_<Class> folders (layout mtd)", root);
  if (rc == 0)
    qsort(cls, (size_t)n_cls, sizeof *cls, cmp_mtd_class);
  for (int i = 0; i < n_cls; i++)
    if (cls[i].normal)
      free_idx = i;

  /* Which MT_Free images are train images. */
  fs_names train = {0}, free_images = {0};
  char free_dir[CFG_PATH_LEN], list_path[CFG_PATH_LEN];
  if (rc == 0)
    rc = pathf(list_path, "%s/%s", root, split_file(d, L_MTD));
  if (rc == 0 && free_idx < 0)
    rc = ancd_errorf("%s/MT_Free: folder not found (layout mtd needs the normal images)", root);
  if (rc == 0)
    rc = pathf(free_dir, "%s/MT_Free/Imgs", root);
  if (rc == 0 && !fs_is_dir(free_dir))
    rc = ancd_errorf("%s: folder not found", free_dir);
  if (rc == 0)
    rc = fs_list_dir(&free_images, free_dir, FS_FILES, is_mtd_image_name);
  if (rc == 0)
    rc = mtd_read_train_list(&train, list_path, free_dir, &free_images);

  for (int pass = DS_TEST; pass >= DS_TRAIN && rc == 0; pass--) {
    for (int i = 0; i < n_cls && rc == 0; i++) {
      if (pass == DS_TRAIN && !cls[i].normal)
        continue;
      char dir[CFG_PATH_LEN];
      fs_names files = {0};
      rc = pathf(dir, "%s/%s/Imgs", root, cls[i].folder);
      if (rc == 0 && !fs_is_dir(dir))
        rc = ancd_errorf("%s: folder not found (layout mtd: MT_<Class>/Imgs/)", dir);
      if (rc == 0)
        rc = fs_list_dir(&files, dir, FS_FILES, is_mtd_image_name);
      if (rc == 0 && files.n == 0)
        rc = ancd_errorf("%s: empty type folder (no images)", dir);
      for (int k = 0; k < files.n && rc == 0; k++) {
        int split = cls[i].normal && names_has(&train, files.v[k]) ? DS_TRAIN : DS_TEST;
        if (split != pass)
          continue;
        char path[CFG_PATH_LEN], mask[CFG_PATH_LEN] = "", stem[CFG_PATH_LEN];
        rc = fs_stem(stem, sizeof stem, files.v[k]);
        if (rc == 0)
          rc = pathf(path, "%s/%s", dir, files.v[k]);
        if (rc == 0 && !cls[i].normal && (rc = pathf(mask, "%s/%s.png", dir, stem)) == 0 &&
            !fs_is_file(mask))
          rc = ancd_errorf("%s: anomalous image without its mask (expected %s)", path, mask);
        if (rc == 0)
          rc = add_item(m, path, cls[i].type, split, !cls[i].normal, mask);
      }
      fs_names_free(&files);
    }
  }
  if (rc == 0 && n_split(m, DS_TEST) == 0)
    rc = ancd_errorf("%s: category MTD has no test images", root);
  m->has_masks = 1;
  fs_names_free(&train);
  fs_names_free(&free_images);
  free(cls);
  return rc;
}

/* ---- folder trees: mvtec, btad, folder, anomalies ---- */

static int scan_mvtec(ds_manifest *m, const cfg_dataset *d, const char *catdir, layout_id lay) {
  const char *normal = normal_type(d, lay);
  char test_dir[CFG_PATH_LEN], gt_root[CFG_PATH_LEN];
  if (pathf(test_dir, "%s/test", catdir) != 0 || pathf(gt_root, "%s/ground_truth", catdir) != 0)
    return -1;
  if (!fs_is_dir(test_dir))
    return ancd_errorf("%s: folder not found (layout %s: <category>/test/<type>/)", test_dir,
                       layout_names[lay]);
  /* BTAD's releases name masks <stem>.png, <stem>.bmp or <stem>_mask.png; a mask_suffix other
   * than these is tried first. */
  mask_rule mr = {0};
  const char *suffix = d->mask_suffix[0] ? d->mask_suffix : "_mask.png";
  if (lay == L_BTAD) {
    const char *btad[] = {".png", ".bmp", "_mask.png"};
    if (strcmp(suffix, ".png") && strcmp(suffix, ".bmp") && strcmp(suffix, "_mask.png"))
      mr.suffixes[mr.n_suffixes++] = suffix;
    for (int s = 0; s < 3; s++)
      mr.suffixes[mr.n_suffixes++] = btad[s];
  } else {
    mr.suffixes[mr.n_suffixes++] = suffix;
  }
  fs_names types;
  if (fs_list_dir(&types, test_dir, FS_DIRS, NULL) != 0)
    return -1;
  int rc = 0;
  if (types.n == 0)
    rc = ancd_errorf("%s: no test images (no type folders)", test_dir);
  for (int t = 0; t < types.n && rc == 0; t++) {
    char type_dir[CFG_PATH_LEN], gt_dir[CFG_PATH_LEN];
    rc = pathf(type_dir, "%s/%s", test_dir, types.v[t]);
    if (rc == 0)
      rc = pathf(gt_dir, "%s/%s", gt_root, types.v[t]);
    mr.gt_dir = gt_dir;
    if (rc == 0)
      rc = add_type_folder(m, type_dir, types.v[t], DS_TEST, strcmp(types.v[t], normal) != 0, &mr,
                           fs_is_image_name);
  }
  fs_names_free(&types);
  char train_dir[CFG_PATH_LEN];
  if (rc == 0)
    rc = pathf(train_dir, "%s/train/%s", catdir, normal);
  if (rc == 0 && fs_is_dir(train_dir))
    rc = add_type_folder(m, train_dir, normal, DS_TRAIN, 0, NULL, fs_is_image_name);
  m->has_masks = 1;
  return rc;
}

/* The first component of dataset.mask_dir: the folder of <cat> that holds masks, not a type. */
static void mask_dir_head(char *out, size_t n, const char *mask_dir) {
  while (*mask_dir == '/' || (mask_dir[0] == '.' && mask_dir[1] == '/'))
    mask_dir += *mask_dir == '/' ? 1 : 2;
  snprintf(out, n, "%s", mask_dir);
  char *slash = strchr(out, '/');
  if (slash)
    *slash = 0;
}

static int scan_folder(ds_manifest *m, const cfg_dataset *d, const char *catdir, layout_id lay) {
  const char *normal = normal_type(d, lay);
  char mask_head[CFG_PATH_LEN] = "";
  int with_masks = lay == L_FOLDER && d->mask_dir[0];
  if (with_masks)
    mask_dir_head(mask_head, sizeof mask_head, d->mask_dir);
  mask_rule mr = {0};
  mr.suffixes[mr.n_suffixes++] = d->mask_suffix[0] ? d->mask_suffix : "_mask.png";
  fs_names types;
  if (fs_list_dir(&types, catdir, FS_DIRS, NULL) != 0)
    return -1;
  int rc = 0;
  for (int t = 0; t < types.n && rc == 0; t++) {
    if (lay == L_FOLDER && (strcmp(types.v[t], "train") == 0 || strcmp(types.v[t], mask_head) == 0))
      continue;
    char type_dir[CFG_PATH_LEN], gt_dir[CFG_PATH_LEN];
    rc = pathf(type_dir, "%s/%s", catdir, types.v[t]);
    if (rc == 0 && with_masks)
      rc = pathf(gt_dir, "%s/%s/%s", catdir, d->mask_dir, types.v[t]);
    mr.gt_dir = with_masks ? gt_dir : NULL;
    int label = lay == L_ANOMALIES || strcmp(types.v[t], normal) != 0;
    if (rc == 0)
      rc = add_type_folder(m, type_dir, types.v[t], DS_TEST, label, &mr, fs_is_image_name);
  }
  fs_names_free(&types);
  if (rc == 0 && n_split(m, DS_TEST) == 0)
    rc = ancd_errorf("%s: category has no test images", catdir);
  char train_dir[CFG_PATH_LEN];
  if (lay == L_FOLDER && rc == 0 && (rc = pathf(train_dir, "%s/train/%s", catdir, normal)) == 0 &&
      !fs_is_dir(train_dir))
    rc = pathf(train_dir, "%s/train", catdir);
  if (lay == L_FOLDER && rc == 0 && fs_is_dir(train_dir))
    rc = add_type_folder(m, train_dir, normal, DS_TRAIN, 0, NULL, fs_is_image_name);
  m->has_masks = with_masks;
  return rc;
}

/* ---- the API ---- */

/* A folder under root is a category of the mvtec/btad layouts when it has test/. */
static int is_category_dir(const char *root, const char *name, layout_id lay) {
  char p[CFG_PATH_LEN];
  if (lay == L_MVTEC || lay == L_BTAD)
    return pathf(p, "%s/%s/test", root, name) == 0 && fs_is_dir(p);
  return 1;
}

int ds_list_categories(cfg_names *out, const cfg_dataset *d) {
  memset(out, 0, sizeof *out);
  layout_id lay = L_MVTEC;
  char root[CFG_PATH_LEN];
  if (layout_of(&lay, d) != 0 || dataset_root(root, d) != 0)
    return -1;
  if (lay == L_VISA)
    return visa_categories(out, root, d);
  if (lay == L_MTD) {
    for (int i = 0; i < d->categories.n; i++)
      if (strcmp(d->categories.v[i], "MTD") != 0)
        return ancd_errorf("dataset.categories: '%s' is not a category of layout mtd (its one "
                           "category is MTD)",
                           d->categories.v[i]);
    out->n = 1;
    strcpy(out->v[0], "MTD");
    return 0;
  }
  if (d->categories.n > 0) {
    for (int i = 0; i < d->categories.n; i++) {
      char p[CFG_PATH_LEN];
      if (pathf(p, "%s/%s", root, d->categories.v[i]) != 0)
        return -1;
      if (!fs_is_dir(p))
        return ancd_errorf("%s: category folder not found", p);
    }
    *out = d->categories;
    return 0;
  }
  fs_names dirs;
  if (fs_list_dir(&dirs, root, FS_DIRS, NULL) != 0)
    return -1;
  int rc = 0;
  for (int i = 0; i < dirs.n && rc == 0; i++) {
    if (!is_category_dir(root, dirs.v[i], lay))
      continue;
    if (out->n == CFG_MAX_NAMES)
      rc = ancd_errorf("%s: more than %d categories", root, CFG_MAX_NAMES);
    else
      rc = set_name(out->v[out->n++], dirs.v[i], root);
  }
  fs_names_free(&dirs);
  if (rc == 0 && out->n == 0)
    rc = ancd_errorf("%s: no categories found (layout %s%s)", root, d->layout,
                     lay == L_MVTEC || lay == L_BTAD ? ": folders with test/" : "");
  return rc;
}

int ds_scan(ds_manifest *m, const cfg_dataset *d, const char *category) {
  memset(m, 0, sizeof *m);
  layout_id lay = L_MVTEC;
  char root[CFG_PATH_LEN], catdir[CFG_PATH_LEN];
  if (layout_of(&lay, d) != 0 || dataset_root(root, d) != 0 ||
      set_name(m->category, category, "dataset.categories") != 0)
    return -1;
  int rc;
  if (lay == L_VISA) {
    rc = scan_visa(m, d, root, category);
  } else if (lay == L_MTD) {
    rc = strcmp(category, "MTD") == 0
             ? scan_mtd(m, d, root)
             : ancd_errorf("'%s' is not a category of layout mtd (its one category is MTD)",
                           category);
  } else if ((rc = pathf(catdir, "%s/%s", root, category)) != 0) {
  } else if (!fs_is_dir(catdir)) {
    rc = ancd_errorf("%s: category folder not found", catdir);
  } else if (lay == L_MVTEC || lay == L_BTAD) {
    rc = scan_mvtec(m, d, catdir, lay);
  } else {
    rc = scan_folder(m, d, catdir, lay);
  }
  if (rc != 0)
    ds_free(m);
  return rc;
}
