/* Schema-driven decoding of a wh_node tree into typed C structs, the reverse
 * (typed struct -> cJSON with Traefik's JSON field names), defaults and
 * freeing. One descriptor table per struct; the same tables serve every
 * source (file, flags, env, labels) and the admin API, so names can never
 * drift between input and output.
 *
 * Decoding rules (Traefik's, see TRAEFIK-COMPAT.md §2 and §5):
 * - field names match case-insensitively; map keys (router names, header
 *   names) keep their spelling;
 * - an unknown field is an error naming the full key path and suggesting the
 *   closest known field: `entryPoints.web.adress: unknown key (did you mean "address"?)`;
 * - a scalar given for a string list is split on commas; a map whose keys are
 *   all integers ("0","1",... from flags/env/labels "[0]" or "_0_") is
 *   accepted where a list is expected, ordered by integer value;
 * - touching any sub-key of a struct (or a pointer-to-struct) creates it with
 *   its defaults; an ALLOW_EMPTY pointer-struct given the scalar "true" (any
 *   case) or an empty value/map is created with defaults; any other scalar
 *   ("false") leaves it absent, and its sub-keys are ignored;
 * - a bare flag (scalar with value NULL) on a bool means true.
 * Errors are appended to errs as "<path>: <message>" (with " (line N)" when
 * the node has a line). Decoding continues past errors so that every problem
 * is reported at once; the return value is 0 when no error was added.
 */
#ifndef WH_CONFIG_SCHEMA_H
#define WH_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config/tree.h"
#include "lib/core/duration.h"
#include "lib/core/err.h"

struct cJSON;

typedef enum {
  WH_F_STRING = 0, /* char *                                                */
  WH_F_BOOL,       /* bool                                                  */
  WH_F_INT,        /* int64_t                                               */
  WH_F_FLOAT,      /* double                                                */
  WH_F_DURATION,   /* wh_duration (ns); JSON output as Go string ("10s")    */
  WH_F_STRLIST,    /* wh_strlist                                            */
  WH_F_STRMAP,     /* wh_strmap: map of string -> string (header maps)      */
  WH_F_STRUCT,     /* embedded struct of schema `sub`                       */
  WH_F_STRUCT_PTR, /* pointer to struct of schema `sub`, NULL when absent   */
  WH_F_LIST,       /* wh_list of structs of schema `sub`                    */
  WH_F_MAP,        /* wh_map of name -> pointer to struct of schema `sub`   */
  WH_F_INTLIST,    /* wh_intlist (status codes)                             */
  WH_F_FLOATLIST,  /* wh_floatlist (histogram buckets)                      */
  WH_F_RAW,        /* wh_node * kept as is (e.g. DNS provider options); owned */
} wh_ftype;

enum {
  WH_FF_ALLOW_EMPTY = 1u << 0, /* STRUCT_PTR: "true" / empty creates it with defaults */
  WH_FF_ALWAYS = 1u << 1,      /* encode even when zero/empty (e.g. passHostHeader) */
  WH_FF_SECRET = 1u << 2,      /* never encoded in API output (hashes, keys, tokens) */
  WH_FF_DEPRECATED = 1u << 3,  /* accepted; decoding appends a warning */
  WH_FF_NO_ENCODE = 1u << 4,   /* accepted on input, never emitted */
  /* STRMAP of header name → value: credentials (Authorization, Cookie, ...)
   * are emitted as REDACTED in API output */
  WH_FF_HEADER_VALUES = 1u << 5,
};

typedef struct wh_strlist {
  char **v;
  size_t n;
} wh_strlist;

typedef struct wh_strmap {
  char **keys; /* spelling preserved, in source order */
  char **vals; /* may be "" (meaning delete for header maps) */
  size_t n;
} wh_strmap;

typedef struct wh_intlist {
  int64_t *v;
  size_t n;
} wh_intlist;

typedef struct wh_floatlist {
  double *v;
  size_t n;
} wh_floatlist;

/* A list of structs stored contiguously: items is n * schema->size bytes. */
typedef struct wh_list {
  void *items;
  size_t n;
} wh_list;

/* A map of name -> struct pointer, kept sorted by key (strcmp) so that
 * iteration order is deterministic. */
typedef struct wh_map {
  char **keys;
  void **vals;
  size_t n;
} wh_map;

struct wh_schema;

typedef struct wh_field {
  const char *name; /* canonical spelling, as Traefik's JSON/YAML writes it */
  wh_ftype type;
  size_t offset;               /* offsetof(struct, member) */
  const struct wh_schema *sub; /* STRUCT, STRUCT_PTR, LIST, MAP */
  const char *dflt; /* default as text, applied when the struct is created; NULL = zero */
  unsigned flags;   /* WH_FF_* */
  /* optional: offset of a bool set to true when the field was given
   * explicitly (to tell "false" from "absent"); 0 means none. */
  size_t set_offset;
} wh_field;

typedef struct wh_schema {
  const char *name; /* for messages, e.g. "router" */
  size_t size;      /* sizeof the struct */
  const wh_field *fields;
  size_t nfields;
  /* Optional semantic validation after decoding (required fields, ranges,
   * mutually exclusive options). path is the element's key path. Append
   * errors to errs; return 0 if none was added. */
  int (*validate)(void *obj, const char *path, wh_errlist *errs);
} wh_schema;

#define WH_FIELD_SET 1 /* marker for readability in tables */

/* Table-writing helpers shared by every schema table. */
#define WH_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define WH_F(S, m, name, type, sub, dflt, flags)                                                   \
  { (name), (type), offsetof(S, m), (sub), (dflt), (flags), 0 }
#define WH_FSET(S, m, name, type, dflt, flags, setm)                                               \
  { (name), (type), offsetof(S, m), NULL, (dflt), (flags), offsetof(S, setm) }
#define WH_SCHEMA(label, S, fields, validate)                                                      \
  { (label), sizeof(S), (fields), WH_NELEM(fields), (validate) }

/* Fills obj (schema->size bytes, caller-allocated) with zeroes and defaults. */
int wh_schema_init(const wh_schema *s, void *obj);
/* Decodes node into obj, which must have been initialised with wh_schema_init
 * (decoding onto an initialised object overlays: fields not in node keep
 * their values). path is the key path of node for messages ("" for root).
 * Runs the validate hooks of every struct decoded. Returns 0 if no error was
 * added to errs, WH_EINVAL otherwise (obj is still valid and freeable). */
int wh_schema_decode(const wh_schema *s, const wh_node *node, void *obj, const char *path,
                     wh_errlist *errs);
/* Frees everything obj owns (not obj itself). */
void wh_schema_free(const wh_schema *s, void *obj);
/* Allocates and initialises a struct; NULL on OOM. Free with wh_schema_destroy. */
void *wh_schema_new(const wh_schema *s);
void wh_schema_destroy(const wh_schema *s, void *obj);
/* Deep copy of src into dst (dst uninitialised). */
int wh_schema_copy(const wh_schema *s, void *dst, const void *src);
/* Deep equality (used to merge identical elements across providers/containers). */
bool wh_schema_equal(const wh_schema *s, const void *a, const void *b);
/* JSON object with Traefik's field names; zero/empty fields omitted unless
 * WH_FF_ALWAYS; SECRET and NO_ENCODE fields never emitted. Caller owns it. */
struct cJSON *wh_schema_encode(const wh_schema *s, const void *obj);

/* Helpers for the containers above (all NULL-safe). */
void wh_strlist_free(wh_strlist *l);
int wh_strlist_push(wh_strlist *l, const char *s); /* copies s */
bool wh_strlist_contains(const wh_strlist *l, const char *s);
const char *wh_strmap_get(const wh_strmap *m, const char *key, bool icase);
void *wh_map_get(const wh_map *m, const char *key);
/* Inserts keeping the order; takes ownership of val; key copied. Replaces
 * (and returns the old value through *old, may be NULL) on duplicate. */
int wh_map_put(wh_map *m, const char *key, void *val, void **old);

/* Parses a scalar the way the decoder does (exposed for flags like
 * --providers.docker and for labels). */
int wh_parse_bool(const char *s,
                  bool *out); /* true/false/1/0/yes/no... as Go's strconv.ParseBool */
int wh_parse_int(const char *s, int64_t *out);

#endif
