/* The config schema: one row per key (io/config_schema.c). Private to io/config*.c; the rest of
 * the program reads the typed struct of config.h. */
#ifndef ANCD_CONFIG_SCHEMA_H
#define ANCD_CONFIG_SCHEMA_H

#include <stddef.h>

typedef enum {
  CFG_BOOL,   /* int 0/1 */
  CFG_INT,    /* int */
  CFG_FLOAT,  /* double */
  CFG_STRING, /* char[size] */
  CFG_ENUM,   /* char[size], one of allowed */
  CFG_INTS,   /* cfg_ints */
  CFG_FLOATS, /* cfg_floats */
  CFG_NAMES,  /* cfg_names */
} cfg_type;

typedef struct {
  const char *key; /* "section.name", or "name" at the top level */
  cfg_type type;
  size_t offset; /* offsetof(config, field) */
  size_t size;   /* sizeof the field */
  int max_n;     /* lists: most elements (0: the type's capacity) */
  int min_n;     /* lists: fewest elements */
  int ranged;    /* numbers (and list elements) must lie in [min, max] */
  double min, max;
  const char *allowed; /* enum: values separated by '|' */
  const char *def;     /* default as YAML text */
  const char *help;    /* one line */
} cfg_key;

extern const cfg_key cfg_schema[];
extern const int cfg_schema_n;

#endif
