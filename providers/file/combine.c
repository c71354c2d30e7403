#include "providers/file/combine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "lib/core/str.h"

static const char *src_name(const wh_node *n) {
  return n && n->source ? n->source : "?";
}

static bool is_null(const wh_node *n) {
  return n->kind == WH_NODE_SCALAR && n->value == NULL;
}

/* Appends a clone of n to dst. */
static int add_clone(wh_node *dst, const wh_node *n) {
  wh_node *c = wh_node_clone(n);
  if (!c)
    return WH_ENOMEM;
  if (wh_node_append(dst, c) != WH_OK) {
    wh_node_free(c);
    return WH_ENOMEM;
  }
  return WH_OK;
}

/* Names are case-sensitive (they are map keys in Traefik); "x" and "X" are
 * two routers. */
static int combine_named(wh_node *dst, const wh_node *src, const char *section,
                         wh_errlist *warnings) {
  for (size_t i = 0; i < src->n; i++) {
    const wh_node *el = src->children[i];
    const wh_node *prev = wh_node_get(dst, el->key, false);
    if (prev) {
      wh_errlist_add(warnings,
                     "%s \"%s\" in %s:%d is skipped: already defined in %s:%d (the first "
                     "file wins)",
                     section, el->key, src_name(el), el->line, src_name(prev), prev->line);
      continue;
    }
    if (add_clone(dst, el) != WH_OK)
      return WH_ENOMEM;
  }
  return WH_OK;
}

static int combine_list(wh_node *dst, const wh_node *src) {
  for (size_t i = 0; i < src->n; i++)
    if (add_clone(dst, src->children[i]) != WH_OK)
      return WH_ENOMEM;
  return WH_OK;
}

/* One top-level section such as "http": dst_sec and src_sec are maps. */
static int combine_section(wh_node *dst_sec, const wh_node *src_sec, wh_errlist *warnings) {
  bool is_tls = wh_strcaseeq(src_sec->key, "tls");
  for (size_t i = 0; i < src_sec->n; i++) {
    const wh_node *sub = src_sec->children[i];
    if (is_null(sub))
      continue; /* "routers:" with nothing under it defines nothing */
    wh_node *have = wh_node_get(dst_sec, sub->key, true);
    if (!have) {
      if (add_clone(dst_sec, sub) != WH_OK)
        return WH_ENOMEM;
      continue;
    }
    if (is_tls && wh_strcaseeq(sub->key, "certificates") && sub->kind == WH_NODE_LIST &&
        have->kind == WH_NODE_LIST) {
      if (combine_list(have, sub) != WH_OK)
        return WH_ENOMEM;
      continue;
    }
    if (sub->kind == WH_NODE_MAP && have->kind == WH_NODE_MAP) {
      char *label = wh_asprintf("%s.%s", dst_sec->key ? dst_sec->key : "?", have->key);
      if (!label)
        return WH_ENOMEM;
      int rc = combine_named(have, sub, label, warnings);
      free(label);
      if (rc != WH_OK)
        return rc;
      continue;
    }
    /* Shapes that cannot combine (a scalar where a map belongs): the first
     * one stays and the decoder reports it. */
    wh_errlist_add(warnings, "%s.%s in %s:%d is skipped: already given in %s:%d", src_sec->key,
                   sub->key, src_name(sub), sub->line, src_name(have), have->line);
  }
  return WH_OK;
}

int wh_file_combine(wh_node *dst, const wh_node *src, wh_errlist *warnings) {
  if (!dst || dst->kind != WH_NODE_MAP || !src || src->kind != WH_NODE_MAP)
    return WH_EINVAL;
  for (size_t i = 0; i < src->n; i++) {
    const wh_node *sec = src->children[i];
    if (is_null(sec))
      continue;
    wh_node *have = wh_node_get(dst, sec->key, true);
    if (!have) {
      if (add_clone(dst, sec) != WH_OK)
        return WH_ENOMEM;
      continue;
    }
    if (sec->kind == WH_NODE_MAP && have->kind == WH_NODE_MAP) {
      if (combine_section(have, sec, warnings) != WH_OK)
        return WH_ENOMEM;
      continue;
    }
    wh_errlist_add(warnings, "%s in %s:%d is skipped: already given in %s:%d", sec->key,
                   src_name(sec), sec->line, src_name(have), have->line);
  }
  return WH_OK;
}
