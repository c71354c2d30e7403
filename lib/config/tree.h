/* A generic configuration tree: what every source (YAML/JSON file, CLI flags,
 * environment variables, Docker labels) is parsed into before it is decoded
 * into a typed model by lib/config/schema.h. Sources stay dumb: they only
 * build maps, lists and scalars; the schema decides what the keys mean
 * (case-insensitive field names, comma-separated lists, "[0]" indices, ...).
 *
 * Ownership: a node owns its key, value and children. */
#ifndef WH_CONFIG_TREE_H
#define WH_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  WH_NODE_SCALAR = 0,
  WH_NODE_MAP,
  WH_NODE_LIST,
} wh_node_kind;

typedef struct wh_node {
  wh_node_kind kind;
  char *key;   /* key in the parent map; NULL for list items and the root */
  char *value; /* scalar text; NULL for maps, lists and YAML null / "~" */
  bool quoted; /* scalar was quoted in the source (YAML "..." or '...') */
  struct wh_node **children;
  size_t n, cap;
  int line, col;      /* 1-based position in the source, 0 when unknown */
  const char *source; /* borrowed: file name, "flags", "env", "labels"; may be NULL */
} wh_node;

/* Allocations return NULL on OOM. key and value are copied. */
wh_node *wh_node_new(wh_node_kind kind, const char *key, const char *value);
void wh_node_free(wh_node *n);
wh_node *wh_node_clone(const wh_node *n);
/* Appends child (ownership moves to parent). Returns 0 or WH_ENOMEM. */
int wh_node_append(wh_node *parent, wh_node *child);

/* First child of a map whose key equals key (ASCII case-insensitive when icase). */
wh_node *wh_node_get(const wh_node *map, const char *key, bool icase);
/* Follows a dotted path of case-insensitive keys ("entryPoints.web.address").
 * Returns NULL if any step is missing or not a map. */
wh_node *wh_node_at(const wh_node *root, const char *dotted);

/* Sets a scalar at a path of segments, creating intermediate maps. Keys are
 * matched case-insensitively against existing keys, created with the spelling
 * given. A segment written "name[3]" creates/uses map "name" with key "3"
 * (the schema turns index-keyed maps into lists). An existing scalar at an
 * intermediate position is an error (WH_EINVAL). value NULL means "present
 * with no value" (a bare flag). line may be 0. */
int wh_node_set_path(wh_node *root, char *const *segs, size_t nsegs, const char *value,
                     const char *source, int line);
/* Same with a '.'-separated path. */
int wh_node_set_dotted(wh_node *root, const char *dotted, const char *value, const char *source,
                       int line);

/* Deep-merges src into dst (maps merge key by key, case-insensitively; for
 * scalars and lists src replaces dst). src is left untouched. */
int wh_node_merge(wh_node *dst, const wh_node *src);

/* Debug helper: a YAML-like dump into a malloc'd string. Caller frees. */
char *wh_node_dump(const wh_node *n);

#endif
