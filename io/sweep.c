/* Sweep files (sweep.h): libyaml documents, as io/config.c reads configs, so every error names
 * file:line:col. Keys are checked against the schema's key list, values by applying them to the
 * defaults with config_set_kv. */
#include "sweep.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "error.h"
#include "fsutil.h"

typedef struct {
  sweep *s;
  yaml_document_t *doc;
  config_set *defaults; /* values are checked against these */
} parse_ctx;

static int fail_at(const sweep *s, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(const sweep *s, const yaml_node_t *n, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ancd_errorf("%s:%zu:%zu: %s", s->file, n->start_mark.line + 1, n->start_mark.column + 1,
                     msg);
}

/* config_set_kv's message without its "--set: " (the sweep file's place replaces it). */
static const char *kv_error(void) {
  const char *e = ancd_error();
  return strncmp(e, "--set: ", 7) ? e : e + 7;
}

static const char *scalar(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* ---- YAML flow text of a value, as --set takes it ---- */

typedef struct {
  char *s;
  size_t n, cap; /* cap: the buffer's size; n == cap - 1 after an overflow */
  int overflow;
} textbuf;

static void put(textbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->overflow = 1;
    return;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}
static void puts_(textbuf *b, const char *s) { put(b, s, strlen(s)); }

/* A plain scalar that reads back the same inside a flow list and in a shell word list. */
static int plain_ok(const char *s) {
  if (!*s || s[0] == ' ' || s[strlen(s) - 1] == ' ')
    return 0;
  for (const char *p = s; *p; p++)
    if (strchr(",[]{}#:\"'\n\t\\", *p))
      return 0;
  return 1;
}

static int flow_text(textbuf *b, const parse_ctx *c, const yaml_node_t *n, int depth) {
  if (depth > 8)
    return fail_at(c->s, n, "a value nested more than 8 deep");
  if (n->type == YAML_MAPPING_NODE)
    return fail_at(c->s, n, "a swept value is a scalar or a list, not a mapping");
  if (n->type == YAML_SEQUENCE_NODE) {
    puts_(b, "[");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
      if (it != n->data.sequence.items.start)
        puts_(b, ",");
      if (flow_text(b, c, yaml_document_get_node(c->doc, *it), depth + 1) != 0)
        return -1;
    }
    puts_(b, "]");
    return 0;
  }
  const char *s = scalar(n);
  if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !*s) {
    puts_(b, "~");
  } else if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && plain_ok(s)) {
    puts_(b, s);
  } else { /* double-quoted, so a quoted "0.1" stays a string and "a, b" one item */
    puts_(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
      char esc[8];
      if (*p == '"' || *p == '\\')
        snprintf(esc, sizeof esc, "\\%c", *p);
      else if (*p < 0x20 || *p == 0x7f)
        snprintf(esc, sizeof esc, "\\x%02x", *p);
      else
        snprintf(esc, sizeof esc, "%c", *p);
      puts_(b, esc);
    }
    puts_(b, "\"");
  }
  return 0;
}

/* ---- keys and values ---- */

/* The index of key in s->keys, added when new; -1 after an error (unknown key, too many). */
static int key_index(const parse_ctx *c, const yaml_node_t *key_node) {
  sweep *s = c->s;
  const char *k = scalar(key_node);
  if (!k || !*k)
    return fail_at(s, key_node, "a sweep key is a config key path such as train.lr");
  int known = 0;
  for (int i = 0; i < config_key_count() && !known; i++)
    known = !strcmp(config_key_name(i), k);
  if (!known) { /* config_set_kv's message has the nearest key */
    char probe[SWEEP_KEY_LEN + 4];
    snprintf(probe, sizeof probe, "%.*s=~", SWEEP_KEY_LEN - 1, k);
    if (strchr(k, '=') || config_set_kv(c->defaults, probe) == 0)
      return fail_at(s, key_node, "%s: unknown key; `ancd config --doc` lists every key", k);
    return fail_at(s, key_node, "%s", kv_error());
  }
  for (int i = 0; i < s->n_keys; i++)
    if (!strcmp(s->keys[i], k))
      return i;
  if (s->n_keys >= SWEEP_MAX_KEYS)
    return fail_at(s, key_node, "%s: more than %d swept keys", k, SWEEP_MAX_KEYS);
  snprintf(s->keys[s->n_keys], SWEEP_KEY_LEN, "%s", k); /* schema keys are short */
  return s->n_keys++;
}

/* Appends the value node of key k to s->values, checked against the defaults. Returns its index,
 * or -1 after an error. */
static int add_value(const parse_ctx *c, int k, const yaml_node_t *n) {
  sweep *s = c->s;
  char text[SWEEP_VALUE_LEN];
  textbuf b = {text, 0, sizeof text, 0};
  text[0] = 0;
  if (flow_text(&b, c, n, 0) != 0)
    return -1;
  if (b.overflow)
    return fail_at(s, n, "%s: value longer than %d characters", s->keys[k], SWEEP_VALUE_LEN - 1);
  char assignment[SWEEP_KEY_LEN + SWEEP_VALUE_LEN + 2];
  snprintf(assignment, sizeof assignment, "%s=%s", s->keys[k], text);
  if (config_set_kv(c->defaults, assignment) != 0)
    return fail_at(s, n, "%s", kv_error());
  if (s->n_values % 64 == 0)
    s->values = xrealloc(s->values, (size_t)(s->n_values + 64) * sizeof *s->values);
  sweep_value *v = &s->values[s->n_values];
  v->key = k;
  memcpy(v->text, text, sizeof text);
  v->line = (int)n->start_mark.line + 1;
  v->col = (int)n->start_mark.column + 1;
  return s->n_values++;
}

/* grid: {key: [v, ...] or v, ...}: the product, the last key fastest. */
static int parse_grid(const parse_ctx *c, const yaml_node_t *n) {
  sweep *s = c->s;
  if (n->type != YAML_MAPPING_NODE || n->data.mapping.pairs.start == n->data.mapping.pairs.top)
    return fail_at(s, n, "grid: a mapping of config keys to their lists of values");
  int first[SWEEP_MAX_KEYS], count[SWEEP_MAX_KEYS];
  long total = 1;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
    int before = s->n_keys;
    int k = key_index(c, kn);
    if (k < 0)
      return -1;
    if (k < before)
      return fail_at(s, kn, "%s: given twice in grid", s->keys[k]);
    first[k] = s->n_values;
    if (vn->type == YAML_SEQUENCE_NODE) {
      count[k] = (int)(vn->data.sequence.items.top - vn->data.sequence.items.start);
      if (count[k] == 0)
        return fail_at(s, vn, "%s: an empty list of values", s->keys[k]);
      for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
           it++)
        if (add_value(c, k, yaml_document_get_node(c->doc, *it)) < 0)
          return -1;
    } else { /* a scalar: one value for every point */
      count[k] = 1;
      if (add_value(c, k, vn) < 0)
        return -1;
    }
    total *= count[k];
    if (total > SWEEP_MAX_POINTS)
      return fail_at(s, n, "grid: more than %d points", SWEEP_MAX_POINTS);
  }
  s->grid = 1;
  s->n_points = (int)total;
  s->point_values = xmalloc((size_t)s->n_points * (size_t)s->n_keys * sizeof(int));
  for (int i = 0; i < s->n_points; i++) {
    int rest = i;
    for (int k = s->n_keys - 1; k >= 0; k--) {
      s->point_values[i * s->n_keys + k] = first[k] + rest % count[k];
      rest /= count[k];
    }
  }
  return 0;
}

/* points: [{key: v, ...}, ...]; an empty {} is the base config itself. */
static int parse_points(const parse_ctx *c, const yaml_node_t *n) {
  sweep *s = c->s;
  if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.start == n->data.sequence.items.top)
    return fail_at(s, n, "points: a list of mappings of config keys to values");
  int np = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (np > SWEEP_MAX_POINTS)
    return fail_at(s, n, "points: more than %d points", SWEEP_MAX_POINTS);
  /* Keys first (their count sizes the table), then the values. */
  int *which = xmalloc((size_t)np * SWEEP_MAX_KEYS * sizeof(int));
  for (int i = 0; i < np * SWEEP_MAX_KEYS; i++)
    which[i] = -1;
  int rc = 0;
  for (int i = 0; i < np && rc == 0; i++) {
    yaml_node_t *pn = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
    if (pn->type != YAML_MAPPING_NODE && !(pn->type == YAML_SCALAR_NODE && !*scalar(pn) &&
                                           pn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)) {
      rc = fail_at(s, pn, "point %d: a mapping of config keys to values", i);
      break;
    }
    if (pn->type != YAML_MAPPING_NODE)
      continue;
    for (yaml_node_pair_t *p = pn->data.mapping.pairs.start;
         p < pn->data.mapping.pairs.top && rc == 0; p++) {
      yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
      int k = key_index(c, kn);
      if (k < 0)
        rc = -1;
      else if (which[i * SWEEP_MAX_KEYS + k] >= 0)
        rc = fail_at(s, kn, "point %d: %s given twice", i, s->keys[k]);
      else if ((which[i * SWEEP_MAX_KEYS + k] =
                    add_value(c, k, yaml_document_get_node(c->doc, p->value))) < 0)
        rc = -1;
    }
  }
  if (rc == 0) {
    s->n_points = np;
    s->point_values = xmalloc((size_t)np * (size_t)(s->n_keys ? s->n_keys : 1) * sizeof(int));
    for (int i = 0; i < np; i++)
      for (int k = 0; k < s->n_keys; k++)
        s->point_values[i * s->n_keys + k] = which[i * SWEEP_MAX_KEYS + k];
  }
  free(which);
  return rc;
}

static int parse_root(const parse_ctx *c, const yaml_node_t *root) {
  sweep *s = c->s;
  if (!root)
    return ancd_errorf("%s: an empty sweep file", s->file);
  if (root->type != YAML_MAPPING_NODE)
    return fail_at(s, root, "a sweep file is a mapping (config:, grid: or points:, name:)");
  const yaml_node_t *grid = NULL, *points = NULL, *cfg = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
    const char *k = scalar(kn);
    for (yaml_node_pair_t *q = root->data.mapping.pairs.start; k && q < p; q++) {
      const char *earlier = scalar(yaml_document_get_node(c->doc, q->key));
      if (earlier && !strcmp(earlier, k)) /* libyaml keeps both; the last would win silently */
        return fail_at(s, kn, "%s: given twice", k);
    }
    if (k && !strcmp(k, "name")) {
      const char *v = scalar(vn);
      if (!v || !*v || strlen(v) >= sizeof s->name || strchr(v, '/'))
        return fail_at(s, vn, "name: a short name without '/'");
      snprintf(s->name, sizeof s->name, "%s", v);
    } else if (k && !strcmp(k, "config")) {
      cfg = vn;
    } else if (k && !strcmp(k, "grid")) {
      grid = vn;
    } else if (k && !strcmp(k, "points")) {
      points = vn;
    } else {
      return fail_at(s, kn, "%s: unknown sweep key (config, grid, points, name)", k ? k : "?");
    }
  }
  if (!cfg)
    return fail_at(s, root, "config: the base config is missing");
  const char *path = scalar(cfg);
  if (!path || !*path)
    return fail_at(s, cfg, "config: a path, relative to the sweep file's folder");
  const char *slash = strrchr(s->file, '/');
  int n = path[0] == '/' || !slash ? snprintf(s->config, sizeof s->config, "%s", path)
                                   : snprintf(s->config, sizeof s->config, "%.*s/%s",
                                              (int)(slash - s->file), s->file, path);
  if (n < 0 || (size_t)n >= sizeof s->config)
    return fail_at(s, cfg, "config: path too long");
  if (!grid == !points)
    return fail_at(s, root, "a sweep has either grid: or points: (%s)",
                   grid ? "both are given" : "neither is given");
  return grid ? parse_grid(c, grid) : parse_points(c, points);
}

int sweep_load(sweep *s, const char *path) {
  memset(s, 0, sizeof *s);
  if (strlen(path) >= sizeof s->file)
    return ancd_errorf("%s: sweep file path too long", path);
  snprintf(s->file, sizeof s->file, "%s", path);
  if (fs_stem(s->name, sizeof s->name, fs_basename(path)) != 0 || !s->name[0])
    snprintf(s->name, sizeof s->name, "sweep");
  FILE *f = fopen(path, "rb");
  if (!f)
    return ancd_errorf("%s: cannot open sweep file: %s", path, strerror(errno));
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    ANCD_FATAL("yaml_parser_initialize failed");
  yaml_parser_set_input_file(&parser, f);
  yaml_document_t doc;
  int rc;
  if (!yaml_parser_load(&parser, &doc)) {
    rc = ancd_errorf("%s:%zu:%zu: YAML syntax error: %s", path, parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "unknown problem");
  } else {
    config_set *defaults = xmalloc(sizeof *defaults);
    config_defaults(defaults);
    parse_ctx c = {s, &doc, defaults};
    rc = parse_root(&c, yaml_document_get_root_node(&doc));
    free(defaults);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  if (rc == 0 && ferror(f))
    rc = ancd_errorf("%s: read error: %s", path, strerror(errno));
  fclose(f);
  return rc;
}

void sweep_free(sweep *s) {
  free(s->values);
  free(s->point_values);
  s->values = NULL;
  s->point_values = NULL;
  s->n_values = s->n_points = 0;
}

const sweep_value *sweep_value_at(const sweep *s, int i, int k) {
  if (i < 0 || i >= s->n_points || k < 0 || k >= s->n_keys)
    return NULL;
  int v = s->point_values[i * s->n_keys + k];
  return v < 0 ? NULL : &s->values[v];
}

int sweep_assignment(char *out, size_t n, const sweep *s, int i, int k) {
  const sweep_value *v = sweep_value_at(s, i, k);
  if (!v)
    return -1;
  int len = snprintf(out, n, "%s=%s", s->keys[k], v->text);
  return len < 0 || (size_t)len >= n ? -1 : 0;
}

int sweep_base_config(config_set *cs, const sweep *s, const char *const *sets, int n_sets) {
  config_defaults(cs);
  if (config_load_file(cs, s->config) != 0)
    return ancd_error_prefix("%s: config: ", s->file);
  for (int j = 0; j < n_sets; j++)
    if (config_set_kv(cs, sets[j]) != 0)
      return -1;
  return 0;
}

int sweep_apply_point(config_set *cs, const sweep *s, int i) {
  for (int k = 0; k < s->n_keys; k++) {
    char assignment[SWEEP_KEY_LEN + SWEEP_VALUE_LEN + 2];
    const sweep_value *v = sweep_value_at(s, i, k);
    if (!v)
      continue;
    if (sweep_assignment(assignment, sizeof assignment, s, i, k) != 0)
      return ancd_errorf("%s:%d:%d: point %d: %s: value too long", s->file, v->line, v->col, i,
                         s->keys[k]);
    if (config_set_kv(cs, assignment) != 0) {
      char msg[1024]; /* a copy: ancd_errorf writes where ancd_error() points */
      snprintf(msg, sizeof msg, "%s", kv_error());
      return ancd_errorf("%s:%d:%d: point %d: %s", s->file, v->line, v->col, i, msg);
    }
  }
  return 0;
}
