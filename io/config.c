/* YAML config: defaults, files and --set merged in order, validated against the schema
 * (io/config_schema.c). Values are read from libyaml documents so every error can name
 * file:line:col and the key path. A value is judged by its text, whatever its quoting, except
 * that a plain empty/~/null means "empty" (an empty string or list). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_schema.h"
#include "error.h"

/* ---- growable string ---- */

typedef struct {
  char *s;
  size_t n, cap;
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->s = xrealloc(b->s, b->cap);
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

static void sb_puts(strbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0)
    ANCD_FATAL("vsnprintf failed");
  if ((size_t)n < sizeof tmp) {
    sb_putn(b, tmp, (size_t)n);
    return;
  }
  char *big = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_putn(b, big, (size_t)n);
  free(big);
}

/* ---- schema lookup ---- */

static int find_key(const char *path) {
  for (int i = 0; i < cfg_schema_n; i++)
    if (strcmp(cfg_schema[i].key, path) == 0)
      return i;
  return -1;
}

/* A section is a path prefix of some key ("" is the root). */
static int is_section(const char *path) {
  size_t n = strlen(path);
  if (n == 0)
    return 1;
  for (int i = 0; i < cfg_schema_n; i++)
    if (strncmp(cfg_schema[i].key, path, n) == 0 && cfg_schema[i].key[n] == '.')
      return 1;
  return 0;
}

static const char *leaf_name(const char *path) {
  const char *dot = strrchr(path, '.');
  return dot ? dot + 1 : path;
}

static size_t edit_distance(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na > 127 || nb > 127)
    return (size_t)-1;
  size_t row[128];
  for (size_t j = 0; j <= nb; j++)
    row[j] = j;
  for (size_t i = 1; i <= na; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= nb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[nb];
}

/* The known key or section closest to an unknown path, or NULL when nothing is close. A key
 * whose last component matches exactly (a key put in the wrong section) counts as close. */
static const char *closest_key(const char *path, int in_category) {
  static _Thread_local char best_name[128];
  size_t best = (size_t)-1;
  for (int i = 0; i < cfg_schema_n; i++) {
    const char *k = cfg_schema[i].key;
    size_t d = edit_distance(path, k);
    if (strcmp(leaf_name(path), leaf_name(k)) == 0 && d > 1)
      d = 1;
    if (d < best) {
      best = d;
      snprintf(best_name, sizeof best_name, "%s", k);
    }
    const char *dot = strchr(k, '.');
    if (dot) {
      char section[64];
      snprintf(section, sizeof section, "%.*s", (int)(dot - k), k);
      d = edit_distance(path, section);
      if (d < best) {
        best = d;
        snprintf(best_name, sizeof best_name, "%s", section);
      }
    }
  }
  if (!in_category && edit_distance(path, "categories") < best) {
    best = edit_distance(path, "categories");
    snprintf(best_name, sizeof best_name, "categories");
  }
  size_t limit = strlen(path) / 4 > 2 ? strlen(path) / 4 : 2;
  return best <= limit ? best_name : NULL;
}

/* ---- where a value came from ---- */

typedef struct {
  const char *file;     /* YAML file name, or NULL */
  const char *fixed;    /* origin printed as is ("--set", a stored "file:line:col"), or NULL */
  config_set *cs;       /* where overrides go (NULL while applying one) */
  const char *category; /* inside categories.<name>: overrides are stored, not applied */
  yaml_document_t *doc;
} load_ctx;

static void origin_of(char *out, size_t n, const load_ctx *ctx, const yaml_node_t *node) {
  if (ctx->fixed)
    snprintf(out, n, "%s", ctx->fixed);
  else if (node)
    snprintf(out, n, "%s:%zu:%zu", ctx->file, node->start_mark.line + 1,
             node->start_mark.column + 1);
  else
    snprintf(out, n, "%s", ctx->file);
}

static int fail(const load_ctx *ctx, const yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(const load_ctx *ctx, const yaml_node_t *node, const char *key, const char *fmt,
                ...) {
  char origin[CFG_PATH_LEN + 64], msg[1024];
  origin_of(origin, sizeof origin, ctx, node);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (ctx->category)
    return ancd_errorf("%s: categories.%s%s%s: %s", origin, ctx->category, *key ? "." : "", key,
                       msg);
  return ancd_errorf("%s: %s: %s", origin, key, msg);
}

/* ---- scalars ---- */

static const char *node_kind(const yaml_node_t *n) {
  return n->type == YAML_MAPPING_NODE    ? "a mapping"
         : n->type == YAML_SEQUENCE_NODE ? "a list"
                                         : "a scalar";
}

static int is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return 0;
  const char *s = (const char *)n->data.scalar.value;
  return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* A scalar as quoted in messages: an empty value is shown as such. */
static const char *shown(const yaml_node_t *n, char *buf, size_t cap) {
  if (is_null(n))
    snprintf(buf, cap, "an empty value");
  else
    snprintf(buf, cap, "'%s'", (const char *)n->data.scalar.value);
  return buf;
}

static int parse_int(const char *s, int *out) {
  if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
    return -1;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || errno || v < -2147483647L - 1 || v > 2147483647L)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_float(const char *s, double *out) {
  /* strtod would also take hex, inf and nan, which are not YAML floats here */
  if (!*s || !(*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9')) ||
      strpbrk(s, "xXnN"))
    return -1;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (*end || errno || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, int *out) {
  static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (!strcmp(s, yes[i]))
      return *out = 1, 0;
    if (!strcmp(s, no[i]))
      return *out = 0, 0;
  }
  return -1;
}

/* "16" for integral values, %g otherwise: ranges in messages and in the doc. */
static void fmt_bound(char *out, size_t n, double v) {
  if (v == floor(v) && fabs(v) < 1e15)
    snprintf(out, n, "%.0f", v);
  else
    snprintf(out, n, "%g", v);
}

static int check_range(const load_ctx *ctx, const yaml_node_t *node, const cfg_key *k, double v,
                       int element) {
  if (!k->ranged || (v >= k->min && v <= k->max))
    return 0;
  char lo[32], hi[32];
  fmt_bound(lo, sizeof lo, k->min);
  fmt_bound(hi, sizeof hi, k->max);
  if (element)
    return fail(ctx, node, k->key, "element %d (%s) is out of range [%s, %s]", element,
                (const char *)node->data.scalar.value, lo, hi);
  return fail(ctx, node, k->key, "%s is out of range [%s, %s]",
              (const char *)node->data.scalar.value, lo, hi);
}

/* One number of an int/float key or list: type and range checked. */
static int parse_number(const load_ctx *ctx, const yaml_node_t *node, const cfg_key *k, int is_int,
                        int element, int *iv, double *fv) {
  char where[32] = "";
  if (element)
    snprintf(where, sizeof where, "element %d: ", element);
  if (node->type != YAML_SCALAR_NODE)
    return fail(ctx, node, k->key, "%sexpected %s, got %s", where,
                is_int ? "an integer" : "a number", node_kind(node));
  const char *s = (const char *)node->data.scalar.value;
  char got[160];
  if (is_int ? parse_int(s, iv) != 0 : parse_float(s, fv) != 0)
    return fail(ctx, node, k->key, "%sexpected %s, got %s", where,
                is_int ? "an integer" : "a number", shown(node, got, sizeof got));
  return check_range(ctx, node, k, is_int ? (double)*iv : *fv, element);
}

static int copy_string(const load_ctx *ctx, const yaml_node_t *node, const cfg_key *k, char *dst,
                       size_t cap, int element) {
  char where[32] = "";
  if (element)
    snprintf(where, sizeof where, "element %d: ", element);
  if (node->type != YAML_SCALAR_NODE)
    return fail(ctx, node, k->key, "%sexpected a string, got %s", where, node_kind(node));
  const char *s = is_null(node) ? "" : (const char *)node->data.scalar.value;
  size_t n = strlen(s);
  if (n != node->data.scalar.length && !is_null(node))
    return fail(ctx, node, k->key, "%sstring contains a NUL character", where);
  if (n >= cap)
    return fail(ctx, node, k->key, "%sstring too long (%zu characters, at most %zu)", where, n,
                cap - 1);
  memcpy(dst, s, n + 1);
  return 0;
}

static int list_capacity(const cfg_key *k) {
  int cap = k->type == CFG_NAMES ? CFG_MAX_NAMES : CFG_MAX_LIST;
  return k->max_n > 0 && k->max_n < cap ? k->max_n : cap;
}

/* The elements of a list value: a sequence, a single scalar (a list of one), or null (empty). */
static int list_items(const load_ctx *ctx, const yaml_node_t *node, const cfg_key *k,
                      yaml_node_t **items, int *n) {
  *n = 0;
  if (node->type == YAML_MAPPING_NODE)
    return fail(ctx, node, k->key, "expected a list, got a mapping");
  if (node->type == YAML_SCALAR_NODE) {
    if (!is_null(node))
      items[(*n)++] = (yaml_node_t *)node;
  } else {
    int count = (int)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (count > list_capacity(k))
      return fail(ctx, node, k->key, "list too long (%d elements, at most %d)", count,
                  list_capacity(k));
    for (int i = 0; i < count; i++)
      items[(*n)++] = yaml_document_get_node(ctx->doc, node->data.sequence.items.start[i]);
  }
  if (*n < k->min_n)
    return fail(ctx, node, k->key, "list too short (%d elements, at least %d)", *n, k->min_n);
  return 0;
}

/* Parses node as the value of key k into the field of c. c is unchanged on error. */
static int set_value(config *c, const load_ctx *ctx, const cfg_key *k, const yaml_node_t *node) {
  char *field = (char *)c + k->offset;
  switch (k->type) {
  case CFG_BOOL: {
    int v;
    if (node->type != YAML_SCALAR_NODE)
      return fail(ctx, node, k->key, "expected true or false, got %s", node_kind(node));
    char got[160];
    if (parse_bool((const char *)node->data.scalar.value, &v) != 0)
      return fail(ctx, node, k->key, "expected true or false, got %s",
                  shown(node, got, sizeof got));
    memcpy(field, &v, sizeof v);
    return 0;
  }
  case CFG_INT: {
    int v;
    if (parse_number(ctx, node, k, 1, 0, &v, NULL) != 0)
      return -1;
    memcpy(field, &v, sizeof v);
    return 0;
  }
  case CFG_FLOAT: {
    double v;
    if (parse_number(ctx, node, k, 0, 0, NULL, &v) != 0)
      return -1;
    memcpy(field, &v, sizeof v);
    return 0;
  }
  case CFG_STRING: {
    char tmp[CFG_PATH_LEN];
    if (copy_string(ctx, node, k, tmp, k->size, 0) != 0)
      return -1;
    memcpy(field, tmp, strlen(tmp) + 1);
    return 0;
  }
  case CFG_ENUM: {
    if (node->type != YAML_SCALAR_NODE)
      return fail(ctx, node, k->key, "expected one of %s, got %s", k->allowed, node_kind(node));
    const char *s = (const char *)node->data.scalar.value;
    size_t n = strlen(s);
    for (const char *a = k->allowed; n && *a;) {
      const char *bar = strchr(a, '|');
      size_t len = bar ? (size_t)(bar - a) : strlen(a);
      if (len == n && strncmp(a, s, n) == 0 && n < k->size) {
        memcpy(field, s, n + 1);
        return 0;
      }
      a += len + (bar != NULL);
    }
    strbuf list = {0};
    for (const char *a = k->allowed; *a; a++)
      sb_putn(&list, *a == '|' ? ", " : a, *a == '|' ? 2 : 1);
    char got[160];
    fail(ctx, node, k->key, "%s is not one of: %s", shown(node, got, sizeof got), list.s);
    free(list.s);
    return -1;
  }
  case CFG_INTS:
  case CFG_FLOATS:
  case CFG_NAMES: {
    yaml_node_t *items[CFG_MAX_NAMES > CFG_MAX_LIST ? CFG_MAX_NAMES : CFG_MAX_LIST];
    int n;
    if (list_items(ctx, node, k, items, &n) != 0)
      return -1;
    if (k->type == CFG_INTS) {
      cfg_ints v = {.n = n};
      for (int i = 0; i < n; i++)
        if (parse_number(ctx, items[i], k, 1, i + 1, &v.v[i], NULL) != 0)
          return -1;
      memcpy(field, &v, sizeof v);
    } else if (k->type == CFG_FLOATS) {
      cfg_floats v = {.n = n};
      for (int i = 0; i < n; i++)
        if (parse_number(ctx, items[i], k, 0, i + 1, NULL, &v.v[i]) != 0)
          return -1;
      memcpy(field, &v, sizeof v);
    } else {
      cfg_names *v = xcalloc(1, sizeof *v);
      v->n = n;
      for (int i = 0; i < n; i++) {
        if (copy_string(ctx, items[i], k, v->v[i], CFG_NAME_LEN, i + 1) != 0) {
          free(v);
          return -1;
        }
      }
      memcpy(field, v, sizeof *v);
      free(v);
    }
    return 0;
  }
  }
  ANCD_FATAL("config key %s has an unknown type %d", k->key, (int)k->type);
}

/* ---- YAML flow text of a node (override values are stored as text) ---- */

static int plain_safe(const char *s) {
  if (!*s)
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          strchr("_./+-", *p)))
      return 0;
  return *s != '-' || (s[1] >= '0' && s[1] <= '9') || s[1] == '.';
}

static void put_quoted(strbuf *b, const char *s) {
  sb_puts(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      sb_printf(b, "\\%c", *p);
    else if (*p == '\n')
      sb_puts(b, "\\n");
    else if (*p == '\t')
      sb_puts(b, "\\t");
    else if (*p < 0x20 || *p == 0x7f)
      sb_printf(b, "\\x%02x", *p);
    else
      sb_putn(b, (const char *)p, 1);
  }
  sb_puts(b, "\"");
}

static void emit_flow(strbuf *b, yaml_document_t *doc, const yaml_node_t *n) {
  if (n->type == YAML_SCALAR_NODE) {
    const char *s = (const char *)n->data.scalar.value;
    if (is_null(n))
      sb_puts(b, "~");
    else if (plain_safe(s))
      sb_puts(b, s);
    else
      put_quoted(b, s);
  } else if (n->type == YAML_SEQUENCE_NODE) {
    sb_puts(b, "[");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
      if (it != n->data.sequence.items.start)
        sb_puts(b, ", ");
      emit_flow(b, doc, yaml_document_get_node(doc, *it));
    }
    sb_puts(b, "]");
  } else {
    sb_puts(b, "{");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      if (p != n->data.mapping.pairs.start)
        sb_puts(b, ", ");
      emit_flow(b, doc, yaml_document_get_node(doc, p->key));
      sb_puts(b, ": ");
      emit_flow(b, doc, yaml_document_get_node(doc, p->value));
    }
    sb_puts(b, "}");
  }
}

/* ---- walking a document ---- */

static int store_override(const load_ctx *ctx, const cfg_key *k, const yaml_node_t *node) {
  if (!strcmp(k->key, "dataset.categories"))
    return fail(ctx, node, k->key, "cannot be set per category");
  config *scratch = xcalloc(1, sizeof *scratch);
  int rc = set_value(scratch, ctx, k, node); /* validates now, with the file's line */
  free(scratch);
  if (rc != 0)
    return -1;
  strbuf text = {0};
  emit_flow(&text, ctx->doc, node);
  config_set *cs = ctx->cs;
  cfg_override ov = {0};
  if (text.n >= sizeof ov.value) {
    free(text.s);
    return fail(ctx, node, k->key,
                "value too long for a per-category override (at most %zu "
                "characters of YAML)",
                sizeof ov.value - 1);
  }
  snprintf(ov.category, sizeof ov.category, "%s", ctx->category);
  snprintf(ov.key, sizeof ov.key, "%s", k->key);
  memcpy(ov.value, text.s, text.n + 1);
  free(text.s);
  origin_of(ov.origin, sizeof ov.origin, ctx, node);
  for (int i = 0; i < cs->n_overrides; i++) {
    if (!strcmp(cs->overrides[i].category, ov.category) && !strcmp(cs->overrides[i].key, ov.key)) {
      cs->overrides[i] = ov; /* a later setting of the same key wins */
      return 0;
    }
  }
  if (cs->n_overrides >= CFG_MAX_OVERRIDES)
    return fail(ctx, node, k->key, "too many per-category overrides (at most %d)",
                CFG_MAX_OVERRIDES);
  cs->overrides[cs->n_overrides++] = ov;
  return 0;
}

static int apply_node(const load_ctx *ctx, const char *path, const yaml_node_t *key_node,
                      const yaml_node_t *node);

/* `categories: {<name>: {<section>: {<key>: value}}}` or the path categories.<name>[.rest]. */
static int apply_category(const load_ctx *ctx, const char *name, const char *rest,
                          const yaml_node_t *key_node, const yaml_node_t *node) {
  if (!*name)
    return fail(ctx, key_node, "categories", "empty category name");
  if (strlen(name) >= CFG_NAME_LEN)
    return fail(ctx, key_node, "categories", "category name too long (at most %d characters)",
                CFG_NAME_LEN - 1);
  load_ctx sub = *ctx;
  sub.category = name;
  return apply_node(&sub, rest, key_node, node);
}

static int apply_mapping(const load_ctx *ctx, const char *path, const yaml_node_t *node) {
  if (node->type != YAML_MAPPING_NODE) {
    if (!*path && ctx->category)
      return fail(ctx, node, "", "expected a mapping of keys, got %s", node_kind(node));
    if (!*path)
      return ancd_errorf("%s:%zu:%zu: the top level must be a mapping of keys, got %s",
                         ctx->file ? ctx->file : ctx->fixed, node->start_mark.line + 1,
                         node->start_mark.column + 1, node_kind(node));
    return fail(ctx, node, path, "expected a mapping of keys (a section), got %s", node_kind(node));
  }
  for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
       p++) {
    yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
    yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
    if (k->type != YAML_SCALAR_NODE)
      return fail(ctx, k, *path ? path : "(top level)", "a key must be a plain name, got %s",
                  node_kind(k));
    char child[256];
    int n = snprintf(child, sizeof child, "%s%s%s", path, *path ? "." : "",
                     (const char *)k->data.scalar.value);
    if (n < 0 || (size_t)n >= sizeof child)
      return fail(ctx, k, path, "key too long");
    if (apply_node(ctx, child, k, v) != 0)
      return -1;
  }
  return 0;
}

static int apply_node(const load_ctx *ctx, const char *path, const yaml_node_t *key_node,
                      const yaml_node_t *node) {
  if (!ctx->category && !strcmp(path, "categories")) {
    if (is_null(node))
      return 0;
    if (node->type != YAML_MAPPING_NODE)
      return fail(ctx, node, path, "expected a mapping of category names, got %s", node_kind(node));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
      yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
      yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
      if (k->type != YAML_SCALAR_NODE)
        return fail(ctx, k, path, "a category name must be a scalar, got %s", node_kind(k));
      if (apply_category(ctx, (const char *)k->data.scalar.value, "", k, v) != 0)
        return -1;
    }
    return 0;
  }
  if (!ctx->category && !strncmp(path, "categories.", 11)) {
    char name[256];
    const char *dot = strchr(path + 11, '.');
    size_t len = dot ? (size_t)(dot - (path + 11)) : strlen(path + 11);
    snprintf(name, sizeof name, "%.*s", (int)len, path + 11);
    return apply_category(ctx, name, dot ? dot + 1 : "", key_node, node);
  }
  int i = find_key(path);
  if (i >= 0) {
    if (ctx->category)
      return store_override(ctx, &cfg_schema[i], node);
    if (set_value(&ctx->cs->base, ctx, &cfg_schema[i], node) != 0)
      return -1;
    origin_of(ctx->cs->origins[i], sizeof ctx->cs->origins[i], ctx, node);
    return 0;
  }
  if (is_section(path))
    return apply_mapping(ctx, path, node);
  const char *near = closest_key(path, ctx->category != NULL);
  char hint[160] = "";
  if (near)
    snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
  return fail(ctx, key_node, path, "unknown key%s; `ancd config --doc` lists every key", hint);
}

/* ---- loading ---- */

static int yaml_problem(const yaml_parser_t *p, const char *origin) {
  const char *problem = p->problem ? p->problem : "unknown problem";
  if (p->error == YAML_READER_ERROR)
    return ancd_errorf("%s: YAML read error: %s (at byte %zu)", origin, problem, p->problem_offset);
  if (p->error == YAML_MEMORY_ERROR)
    return ancd_errorf("%s: YAML parser out of memory", origin);
  if (p->context)
    return ancd_errorf("%s:%zu:%zu: YAML syntax error: %s (%s, at line %zu)", origin,
                       p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                       p->context_mark.line + 1);
  return ancd_errorf("%s:%zu:%zu: YAML syntax error: %s", origin, p->problem_mark.line + 1,
                     p->problem_mark.column + 1, problem);
}

/* Applies every document of the parser's input to cs. */
static int apply_stream(config_set *cs, yaml_parser_t *parser, const char *file, const char *fixed,
                        const char *path_prefix) {
  for (;;) {
    yaml_document_t doc;
    if (!yaml_parser_load(parser, &doc))
      return yaml_problem(parser, file ? file : fixed);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
      yaml_document_delete(&doc);
      return 0;
    }
    load_ctx ctx = {.file = file, .fixed = fixed, .cs = cs, .doc = &doc};
    int rc = *path_prefix ? apply_node(&ctx, path_prefix, root, root)
                          : (is_null(root) ? 0 : apply_mapping(&ctx, "", root));
    yaml_document_delete(&doc);
    if (rc != 0)
      return -1;
  }
}

static void add_source(config_set *cs, const char *what) {
  size_t n = strlen(cs->sources);
  snprintf(cs->sources + n, sizeof cs->sources - n, "%s%s", n ? "; " : "", what);
}

/* Parses the YAML text `value` as the value of path into cs (the default of a schema row, a
 * --set value, or a stored override). */
static int apply_text(config_set *cs, const char *path, const char *value, const char *fixed) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    ANCD_FATAL("yaml_parser_initialize failed");
  /* An empty value is a null (empty string or list), not an empty stream. */
  const char *text = *value ? value : "~";
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
  int rc = apply_stream(cs, &parser, NULL, fixed, path);
  yaml_parser_delete(&parser);
  return rc;
}

/* Length of the section part of a key ("detect" of "detect.r_list"; 0 at the top level). */
static size_t section_len(const char *key) {
  const char *dot = strchr(key, '.');
  return dot ? (size_t)(dot - key) : 0;
}

static int same_section(const char *a, const char *b) {
  return section_len(a) == section_len(b) && !strncmp(a, b, section_len(a));
}

/* The table is code: a mistake in it is a programming error, caught on first use. */
static void check_schema(void) {
  static int checked;
  if (checked)
    return;
  for (int i = 0; i < cfg_schema_n; i++) {
    const cfg_key *k = &cfg_schema[i];
    size_t want = k->type == CFG_BOOL || k->type == CFG_INT ? sizeof(int)
                  : k->type == CFG_FLOAT                    ? sizeof(double)
                  : k->type == CFG_INTS                     ? sizeof(cfg_ints)
                  : k->type == CFG_FLOATS                   ? sizeof(cfg_floats)
                  : k->type == CFG_NAMES                    ? sizeof(cfg_names)
                                                            : k->size;
    if (k->size != want || k->size > sizeof(cfg_names) || k->offset + k->size > sizeof(config) ||
        ((k->type == CFG_STRING || k->type == CFG_ENUM) && k->size > CFG_PATH_LEN))
      ANCD_FATAL("config schema: %s has the wrong type or size", k->key);
    if ((k->type == CFG_ENUM) != (k->allowed != NULL) || !k->def || !k->help)
      ANCD_FATAL("config schema: %s lacks allowed values, default or help", k->key);
    /* Sections must be contiguous: config_to_yaml prints each heading once. */
    for (int j = 0; j < i; j++) {
      if (!strcmp(cfg_schema[j].key, k->key))
        ANCD_FATAL("config schema: %s appears twice", k->key);
      if (section_len(k->key) && j < i - 1 && same_section(cfg_schema[j].key, k->key) &&
          !same_section(cfg_schema[i - 1].key, k->key))
        ANCD_FATAL("config schema: the section of %s is split", k->key);
    }
  }
  checked = 1;
}

void config_defaults(config_set *cs) {
  check_schema();
  memset(cs, 0, sizeof *cs);
  if (cfg_schema_n > CFG_MAX_KEYS)
    ANCD_FATAL("the config schema has %d keys; raise CFG_MAX_KEYS", cfg_schema_n);
  for (int i = 0; i < cfg_schema_n; i++) {
    char origin[160];
    snprintf(origin, sizeof origin, "schema default of %s", cfg_schema[i].key);
    if (apply_text(cs, cfg_schema[i].key, cfg_schema[i].def, origin) != 0)
      ANCD_FATAL("bad config schema default: %s", ancd_error());
  }
}

int config_load_file(config_set *cs, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return ancd_errorf("%s: cannot open config: %s", path, strerror(errno));
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    ANCD_FATAL("yaml_parser_initialize failed");
  yaml_parser_set_input_file(&parser, f);
  /* Work on a copy so a failed load leaves cs as it was. */
  config_set *tmp = xmalloc(sizeof *tmp);
  memcpy(tmp, cs, sizeof *tmp);
  int rc = apply_stream(tmp, &parser, path, NULL, "");
  yaml_parser_delete(&parser);
  if (rc == 0 && ferror(f))
    rc = ancd_errorf("%s: read error: %s", path, strerror(errno));
  fclose(f);
  if (rc == 0) {
    add_source(tmp, path);
    memcpy(cs, tmp, sizeof *tmp);
  }
  free(tmp);
  return rc;
}

int config_set_kv(config_set *cs, const char *assignment) {
  const char *eq = strchr(assignment, '=');
  if (!eq || eq == assignment)
    return ancd_errorf("--set: expected key.path=value, got '%s'", assignment);
  char key[256];
  size_t klen = (size_t)(eq - assignment);
  while (klen > 0 && (assignment[klen - 1] == ' ' || assignment[klen - 1] == '\t'))
    klen--;
  if (klen >= sizeof key)
    return ancd_errorf("--set: key too long in '%s'", assignment);
  memcpy(key, assignment, klen);
  key[klen] = 0;
  config_set *tmp = xmalloc(sizeof *tmp);
  memcpy(tmp, cs, sizeof *tmp);
  int rc = apply_text(tmp, key, eq + 1, "--set");
  if (rc == 0) {
    char what[CFG_PATH_LEN];
    snprintf(what, sizeof what, "--set %s", assignment);
    add_source(tmp, what);
    memcpy(cs, tmp, sizeof *tmp);
  }
  free(tmp);
  return rc;
}

int config_for_category(config *out, const config_set *cs, const char *category) {
  config_set *tmp = xmalloc(sizeof *tmp);
  memset(tmp, 0, sizeof *tmp);
  tmp->base = cs->base;
  int rc = 0;
  for (int i = 0; category && rc == 0 && i < cs->n_overrides; i++) {
    const cfg_override *ov = &cs->overrides[i];
    if (strcmp(ov->category, category) == 0)
      rc = apply_text(tmp, ov->key, ov->value, ov->origin);
  }
  if (rc == 0)
    *out = tmp->base;
  free(tmp);
  return rc;
}

const char *config_origin(const config_set *cs, const char *category, const char *key) {
  int i = find_key(key);
  if (i < 0)
    return NULL;
  const char *origin = cs->origins[i];
  for (int k = 0; category && k < cs->n_overrides; k++) /* the last override wins */
    if (!strcmp(cs->overrides[k].category, category) && !strcmp(cs->overrides[k].key, key))
      origin = cs->overrides[k].origin;
  return origin;
}

/* ---- output ---- */

/* Shortest text that parses back to exactly v, always with a '.' or an exponent. */
static void fmt_float(char *out, size_t n, double v) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      break;
  }
  if (!strpbrk(out, ".eE") && strlen(out) + 3 <= n)
    strcat(out, ".0");
}

static void put_string_value(strbuf *b, const char *s) {
  int dummy_i;
  double dummy_f;
  if (plain_safe(s) && parse_bool(s, &dummy_i) != 0 && parse_float(s, &dummy_f) != 0 &&
      strcmp(s, "null") && strcmp(s, "Null") && strcmp(s, "NULL"))
    sb_puts(b, s);
  else
    put_quoted(b, s);
}

/* The value of key k in c, as YAML flow text. */
static void put_value(strbuf *b, const config *c, const cfg_key *k) {
  const char *field = (const char *)c + k->offset;
  char num[64];
  switch (k->type) {
  case CFG_BOOL: {
    int v;
    memcpy(&v, field, sizeof v);
    sb_puts(b, v ? "true" : "false");
    return;
  }
  case CFG_INT: {
    int v;
    memcpy(&v, field, sizeof v);
    sb_printf(b, "%d", v);
    return;
  }
  case CFG_FLOAT: {
    double v;
    memcpy(&v, field, sizeof v);
    fmt_float(num, sizeof num, v);
    sb_puts(b, num);
    return;
  }
  case CFG_STRING:
  case CFG_ENUM:
    put_string_value(b, field);
    return;
  case CFG_INTS: {
    const cfg_ints *v = (const cfg_ints *)field;
    sb_puts(b, "[");
    for (int i = 0; i < v->n; i++)
      sb_printf(b, "%s%d", i ? ", " : "", v->v[i]);
    sb_puts(b, "]");
    return;
  }
  case CFG_FLOATS: {
    const cfg_floats *v = (const cfg_floats *)field;
    sb_puts(b, "[");
    for (int i = 0; i < v->n; i++) {
      fmt_float(num, sizeof num, v->v[i]);
      sb_printf(b, "%s%s", i ? ", " : "", num);
    }
    sb_puts(b, "]");
    return;
  }
  case CFG_NAMES: {
    const cfg_names *v = (const cfg_names *)field;
    sb_puts(b, "[");
    for (int i = 0; i < v->n; i++) {
      sb_puts(b, i ? ", " : "");
      put_string_value(b, v->v[i]);
    }
    sb_puts(b, "]");
    return;
  }
  }
}

char *config_to_yaml(const config *c) {
  strbuf b = {0};
  sb_puts(&b, "");
  for (int i = 0; i < cfg_schema_n; i++) {
    const cfg_key *k = &cfg_schema[i];
    size_t sl = section_len(k->key);
    if (sl && (i == 0 || !same_section(k->key, cfg_schema[i - 1].key)))
      sb_printf(&b, "%.*s:\n", (int)sl, k->key);
    sb_printf(&b, "%s%s: ", sl ? "  " : "", sl ? k->key + sl + 1 : k->key);
    put_value(&b, c, k);
    sb_puts(&b, "\n");
  }
  return b.s;
}

char *config_keys_text(const config *c, int (*select)(const char *key, const void *ctx),
                       const void *ctx) {
  strbuf b = {0};
  sb_puts(&b, "");
  for (int i = 0; i < cfg_schema_n; i++) {
    if (!select(cfg_schema[i].key, ctx))
      continue;
    sb_printf(&b, "%s: ", cfg_schema[i].key);
    put_value(&b, c, &cfg_schema[i]);
    sb_puts(&b, "\n");
  }
  return b.s;
}

int config_key_count(void) { return cfg_schema_n; }
const char *config_key_name(int i) { return i >= 0 && i < cfg_schema_n ? cfg_schema[i].key : NULL; }

static const char *type_name(cfg_type t) {
  switch (t) {
  case CFG_BOOL:
    return "bool";
  case CFG_INT:
    return "int";
  case CFG_FLOAT:
    return "float";
  case CFG_STRING:
    return "string";
  case CFG_ENUM:
    return "enum";
  case CFG_INTS:
    return "int list";
  case CFG_FLOATS:
    return "float list";
  case CFG_NAMES:
    return "string list";
  }
  return "?";
}

/* Markdown table cell text: '|' would end the cell, '<' start an HTML tag (outside a code
 * span, where entities are not decoded). */
static void put_cell(strbuf *b, const char *s, int code) {
  for (; *s; s++) {
    if (*s == '|')
      sb_puts(b, "\\|");
    else if (*s == '<' && !code)
      sb_puts(b, "&lt;");
    else if (*s == '>' && !code)
      sb_puts(b, "&gt;");
    else
      sb_putn(b, s, 1);
  }
}

char *config_doc_markdown(void) {
  config_set *cs = xmalloc(sizeof *cs);
  config_defaults(cs);
  strbuf b = {0};
  sb_puts(&b, "Every key, by section. Later sources override earlier ones: defaults, each `-c` "
              "file in order, each `--set key.path=value` (the value in YAML syntax, e.g. "
              "`--set detect.r_list=[1,3]`). Per-category overrides go under a top-level "
              "`categories:` mapping, e.g. `categories: {screw: {detect: {r_list: [1, 3]}}}` "
              "(or `--set categories.screw.detect.r_list=[1,3]`).\n");
  for (int i = 0; i < cfg_schema_n; i++) {
    const cfg_key *k = &cfg_schema[i];
    size_t sl = section_len(k->key);
    if (i == 0 || !same_section(k->key, cfg_schema[i - 1].key)) {
      if (sl)
        sb_printf(&b, "\n### `%.*s`\n\n", (int)sl, k->key);
      else
        sb_puts(&b, "\n### top level\n\n");
      sb_puts(&b, "| key | type | default | allowed | description |\n|---|---|---|---|---|\n");
    }
    sb_printf(&b, "| `%s` | %s | `", k->key, type_name(k->type));
    strbuf v = {0};
    put_value(&v, &cs->base, k);
    put_cell(&b, v.s, 1);
    free(v.s);
    sb_puts(&b, "` | ");
    if (k->type == CFG_ENUM) {
      for (const char *a = k->allowed; *a;) {
        const char *bar = strchr(a, '|');
        size_t len = bar ? (size_t)(bar - a) : strlen(a);
        sb_printf(&b, "%s`%.*s`", a == k->allowed ? "" : ", ", (int)len, a);
        a += len + (bar != NULL);
      }
    } else if (k->type == CFG_BOOL) {
      sb_puts(&b, "`true`, `false`");
    }
    if (k->type == CFG_INTS || k->type == CFG_FLOATS || k->type == CFG_NAMES) {
      int lo = k->min_n, hi = list_capacity(k);
      if (lo > 0)
        sb_printf(&b, "%d to %d items", lo, hi);
      else
        sb_printf(&b, "up to %d items", hi);
      if (k->ranged)
        sb_puts(&b, ", each ");
    }
    if (k->ranged) {
      char lo[32], hi[32];
      fmt_bound(lo, sizeof lo, k->min);
      fmt_bound(hi, sizeof hi, k->max);
      sb_printf(&b, "%s to %s", lo, hi);
    }
    sb_puts(&b, " | ");
    put_cell(&b, k->help, 0);
    sb_puts(&b, " |\n");
  }
  free(cs);
  return b.s;
}

uint64_t fnv1a64(uint64_t h, const char *text) {
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t config_hash(const config *c) {
  char *text = config_to_yaml(c);
  uint64_t h = fnv1a64(FNV1A64_INIT, text);
  free(text);
  return h;
}

void config_hash_hex(const config *c, char out[17]) {
  snprintf(out, 17, "%016llx", (unsigned long long)config_hash(c));
}
