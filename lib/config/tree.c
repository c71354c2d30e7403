/* The generic configuration tree (see tree.h and docs/internals/config-sources.md). */
#include "lib/config/tree.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"
#include "lib/core/str.h"

wh_node *wh_node_new(wh_node_kind kind, const char *key, const char *value) {
  wh_node *n = calloc(1, sizeof(*n));
  if (!n)
    return NULL;
  n->kind = kind;
  if (key && !(n->key = strdup(key)))
    goto oom;
  if (value && kind == WH_NODE_SCALAR && !(n->value = strdup(value)))
    goto oom;
  return n;
oom:
  free(n->key);
  free(n);
  return NULL;
}

static void node_clear_children(wh_node *n) {
  for (size_t i = 0; i < n->n; i++)
    wh_node_free(n->children[i]);
  free(n->children);
  n->children = NULL;
  n->n = n->cap = 0;
}

void wh_node_free(wh_node *n) {
  if (!n)
    return;
  node_clear_children(n);
  free(n->key);
  free(n->value);
  free(n);
}

wh_node *wh_node_clone(const wh_node *n) {
  if (!n)
    return NULL;
  wh_node *c = wh_node_new(n->kind, n->key, n->value);
  if (!c)
    return NULL;
  c->quoted = n->quoted;
  c->line = n->line;
  c->col = n->col;
  c->source = n->source;
  if (n->n) {
    c->children = calloc(n->n, sizeof(*c->children));
    if (!c->children)
      goto oom;
    c->cap = n->n;
    for (size_t i = 0; i < n->n; i++) {
      if (!(c->children[i] = wh_node_clone(n->children[i])))
        goto oom;
      c->n++;
    }
  }
  return c;
oom:
  wh_node_free(c);
  return NULL;
}

/* On failure the caller keeps ownership of child. */
int wh_node_append(wh_node *parent, wh_node *child) {
  if (!parent || !child || parent->kind == WH_NODE_SCALAR)
    return WH_EINVAL;
  if (parent->n == parent->cap) {
    size_t cap = parent->cap ? parent->cap * 2 : 4;
    wh_node **c = realloc(parent->children, cap * sizeof(*c));
    if (!c)
      return WH_ENOMEM;
    parent->children = c;
    parent->cap = cap;
  }
  parent->children[parent->n++] = child;
  return WH_OK;
}

static bool key_eq(const char *a, size_t alen, const char *b, bool icase) {
  if (!b || strlen(b) != alen)
    return false;
  return icase ? strncasecmp(a, b, alen) == 0 : memcmp(a, b, alen) == 0;
}

static wh_node *map_get_n(const wh_node *map, const char *key, size_t klen, bool icase) {
  if (!map || map->kind != WH_NODE_MAP)
    return NULL;
  for (size_t i = 0; i < map->n; i++)
    if (key_eq(key, klen, map->children[i]->key, icase))
      return map->children[i];
  return NULL;
}

wh_node *wh_node_get(const wh_node *map, const char *key, bool icase) {
  if (!key)
    return NULL;
  return map_get_n(map, key, strlen(key), icase);
}

wh_node *wh_node_at(const wh_node *root, const char *dotted) {
  if (!root || !dotted)
    return NULL;
  const wh_node *cur = root;
  const char *p = dotted;
  while (*p) {
    const char *dot = strchr(p, '.');
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    cur = map_get_n(cur, p, len, true);
    if (!cur)
      return NULL;
    if (!dot)
      break;
    p = dot + 1;
    if (!*p) /* trailing dot: an empty last key never exists */
      return NULL;
  }
  return (wh_node *)cur;
}

/* One key of a path after "[n]" suffixes have been split off. */
typedef struct {
  const char *s;
  size_t len;
} seg_ref;

static bool all_digits(const char *s, size_t len) {
  if (!len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

/* Splits "name[3][4]" into "name", "3", "4". Appends to *out (capacity
 * managed by the caller-provided growable array). */
static int expand_segment(const char *seg, seg_ref **out, size_t *n, size_t *cap) {
  size_t seglen = strlen(seg);
  const char *br = memchr(seg, '[', seglen);
  size_t namelen = br ? (size_t)(br - seg) : seglen;
  if (!namelen || memchr(seg, ']', namelen))
    return WH_EINVAL;
  size_t need = *n + 1;
  for (const char *q = br; q && *q; q++)
    if (*q == '[')
      need++;
  if (need > *cap) {
    seg_ref *r = realloc(*out, need * sizeof(*r));
    if (!r)
      return WH_ENOMEM;
    *out = r;
    *cap = need;
  }
  (*out)[(*n)++] = (seg_ref){seg, namelen};
  const char *q = br;
  while (q && *q) {
    if (*q != '[')
      return WH_EINVAL; /* text after "]" */
    const char *close = strchr(q, ']');
    if (!close || !all_digits(q + 1, (size_t)(close - q - 1)))
      return WH_EINVAL;
    (*out)[(*n)++] = (seg_ref){q + 1, (size_t)(close - q - 1)};
    q = close + 1;
  }
  return WH_OK;
}

static bool is_true_word(const char *v) {
  return v && strcasecmp(v, "true") == 0;
}
static bool is_false_word(const char *v) {
  return v && strcasecmp(v, "false") == 0;
}

static void node_touch(wh_node *n, const char *source, int line) {
  n->source = source;
  n->line = line;
  n->col = 0;
}

static wh_node *child_new(wh_node *parent, wh_node_kind kind, const seg_ref *k, const char *value,
                          const char *source, int line) {
  char *key = wh_strndup(k->s, k->len);
  if (!key)
    return NULL;
  wh_node *c = wh_node_new(kind, NULL, value);
  if (!c) {
    free(key);
    return NULL;
  }
  c->key = key;
  node_touch(c, source, line);
  if (wh_node_append(parent, c) != WH_OK) {
    wh_node_free(c);
    return NULL;
  }
  return c;
}

/* A list in the tree (from YAML) can be walked into by a numeric key. */
static wh_node *list_item(const wh_node *list, const seg_ref *k) {
  if (!all_digits(k->s, k->len) || k->len > 9)
    return NULL;
  size_t idx = (size_t)strtoul(k->s, NULL, 10);
  return idx < list->n ? list->children[idx] : NULL;
}

/* Traefik gives a node both a value and children when a flag is set bare or
 * to "true" and also has sub-keys (`--providers.docker=true
 * --providers.docker.exposedByDefault=false`); "true"/bare means "present",
 * so the map alone carries the same meaning. "false" disables the element and
 * its sub-keys are ignored, so the scalar "false" alone carries that. Both
 * orders of arrival therefore give the same tree. */
static int set_walk(wh_node *root, const seg_ref *keys, size_t nkeys, const char *value,
                    const char *source, int line) {
  wh_node *cur = root;
  for (size_t i = 0; i + 1 < nkeys; i++) {
    wh_node *next;
    if (cur->kind == WH_NODE_LIST) {
      if (!(next = list_item(cur, &keys[i])))
        return WH_EINVAL;
    } else if (!(next = map_get_n(cur, keys[i].s, keys[i].len, true))) {
      if (!(next = child_new(cur, WH_NODE_MAP, &keys[i], NULL, source, line)))
        return WH_ENOMEM;
    } else if (next->kind == WH_NODE_SCALAR) {
      if (is_false_word(next->value))
        return WH_OK;
      if (next->value && !is_true_word(next->value))
        return WH_EINVAL;
      free(next->value);
      next->value = NULL;
      next->quoted = false;
      next->kind = WH_NODE_MAP;
    }
    cur = next;
  }
  const seg_ref *last = &keys[nkeys - 1];
  wh_node *leaf;
  if (cur->kind == WH_NODE_LIST) {
    if (!(leaf = list_item(cur, last)))
      return WH_EINVAL;
  } else if (!(leaf = map_get_n(cur, last->s, last->len, true))) {
    return child_new(cur, WH_NODE_SCALAR, last, value, source, line) ? WH_OK : WH_ENOMEM;
  }
  if (leaf->kind == WH_NODE_MAP && leaf->n > 0) {
    if (!value || is_true_word(value))
      return WH_OK;
    if (!is_false_word(value))
      return WH_EINVAL;
  }
  char *v = NULL;
  if (value && !(v = strdup(value)))
    return WH_ENOMEM;
  node_clear_children(leaf);
  free(leaf->value);
  leaf->kind = WH_NODE_SCALAR;
  leaf->value = v;
  leaf->quoted = false;
  node_touch(leaf, source, line);
  return WH_OK;
}

int wh_node_set_path(wh_node *root, char *const *segs, size_t nsegs, const char *value,
                     const char *source, int line) {
  if (!root || root->kind != WH_NODE_MAP || !segs || !nsegs)
    return WH_EINVAL;
  seg_ref *keys = NULL;
  size_t n = 0, cap = 0;
  int rc = WH_OK;
  for (size_t i = 0; i < nsegs && rc == WH_OK; i++)
    rc = segs[i] ? expand_segment(segs[i], &keys, &n, &cap) : WH_EINVAL;
  if (rc == WH_OK)
    rc = set_walk(root, keys, n, value, source, line);
  free(keys);
  return rc;
}

int wh_node_set_dotted(wh_node *root, const char *dotted, const char *value, const char *source,
                       int line) {
  if (!dotted || !*dotted)
    return WH_EINVAL;
  char *copy = strdup(dotted);
  if (!copy)
    return WH_ENOMEM;
  size_t nsegs = 1;
  for (const char *p = copy; *p; p++)
    nsegs += *p == '.';
  char **segs = malloc(nsegs * sizeof(*segs));
  if (!segs) {
    free(copy);
    return WH_ENOMEM;
  }
  size_t i = 0;
  segs[i++] = copy;
  for (char *p = copy; *p; p++)
    if (*p == '.') {
      *p = '\0';
      segs[i++] = p + 1;
    }
  int rc = wh_node_set_path(root, segs, nsegs, value, source, line);
  free(segs);
  free(copy);
  return rc;
}

/* Replaces everything but the key of dst with a deep copy of src. */
static int replace_contents(wh_node *dst, const wh_node *src) {
  wh_node *c = wh_node_clone(src);
  if (!c)
    return WH_ENOMEM;
  node_clear_children(dst);
  free(dst->value);
  dst->kind = c->kind;
  dst->value = c->value;
  dst->quoted = c->quoted;
  dst->children = c->children;
  dst->n = c->n;
  dst->cap = c->cap;
  dst->line = c->line;
  dst->col = c->col;
  dst->source = c->source;
  free(c->key);
  free(c);
  return WH_OK;
}

int wh_node_merge(wh_node *dst, const wh_node *src) {
  if (!dst || !src)
    return WH_EINVAL;
  if (dst->kind != WH_NODE_MAP || src->kind != WH_NODE_MAP)
    return replace_contents(dst, src);
  for (size_t i = 0; i < src->n; i++) {
    const wh_node *s = src->children[i];
    wh_node *d = s->key ? wh_node_get(dst, s->key, true) : NULL;
    int rc;
    if (d) {
      rc = wh_node_merge(d, s);
    } else {
      wh_node *c = wh_node_clone(s);
      if (!c)
        return WH_ENOMEM;
      if ((rc = wh_node_append(dst, c)) != WH_OK)
        wh_node_free(c);
    }
    if (rc != WH_OK)
      return rc;
  }
  return WH_OK;
}

static void dump_scalar(wh_strbuf *b, const wh_node *n) {
  if (!n->value) {
    wh_strbuf_puts(b, "~");
  } else if (n->quoted) {
    wh_strbuf_putc(b, '"');
    for (const char *p = n->value; *p; p++) {
      if (*p == '"' || *p == '\\')
        wh_strbuf_putc(b, '\\');
      if (*p == '\n')
        wh_strbuf_puts(b, "\\n");
      else
        wh_strbuf_putc(b, *p);
    }
    wh_strbuf_putc(b, '"');
  } else {
    wh_strbuf_puts(b, n->value);
  }
}

static void dump_indent(wh_strbuf *b, int indent) {
  for (int i = 0; i < indent; i++)
    wh_strbuf_putc(b, ' ');
}

/* Writes the children of a container, one per line, at indent. */
static void dump_children(wh_strbuf *b, const wh_node *n, int indent) {
  for (size_t i = 0; i < n->n; i++) {
    const wh_node *c = n->children[i];
    dump_indent(b, indent);
    if (n->kind == WH_NODE_LIST)
      wh_strbuf_puts(b, "-");
    else
      wh_strbuf_printf(b, "%s:", c->key ? c->key : "");
    if (c->kind == WH_NODE_SCALAR) {
      wh_strbuf_putc(b, ' ');
      dump_scalar(b, c);
      wh_strbuf_putc(b, '\n');
    } else if (c->n == 0) {
      wh_strbuf_puts(b, c->kind == WH_NODE_MAP ? " {}\n" : " []\n");
    } else {
      wh_strbuf_putc(b, '\n');
      dump_children(b, c, indent + 2);
    }
  }
}

char *wh_node_dump(const wh_node *n) {
  wh_strbuf b = {0};
  if (!n)
    return wh_strdup("");
  if (n->kind == WH_NODE_SCALAR) {
    dump_scalar(&b, n);
    wh_strbuf_putc(&b, '\n');
  } else if (n->n == 0) {
    wh_strbuf_puts(&b, n->kind == WH_NODE_MAP ? "{}\n" : "[]\n");
  } else {
    dump_children(&b, n, 0);
  }
  return wh_strbuf_take(&b);
}
