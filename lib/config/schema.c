/* Schema engine: wh_node tree -> typed struct, defaults, deep copy/equal/free
 * and typed struct -> cJSON. See docs/internals/schema.md for the invariants. */
#include "lib/config/schema.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/core/str.h"

/* Decoding state shared by one wh_schema_decode call. nerr counts errors
 * ourselves because wh_errlist_add silently drops messages on OOM. */
typedef struct dec {
  wh_errlist *errs;
  size_t nerr;
  bool oom;
} dec;

#define FIELD_PTR(obj, f) ((void *)((char *)(obj) + (f)->offset))
#define FIELD_CPTR(obj, f) ((const void *)((const char *)(obj) + (f)->offset))

static void decode_struct(dec *d, const wh_schema *s, const wh_node *node, void *obj,
                          const char *path);
static void decode_fields(dec *d, const wh_schema *s, const wh_node *node, void *obj,
                          const char *path);
static void run_validate(dec *d, const wh_schema *s, void *obj, const char *path,
                         size_t nerr_before);

/* strcasecmp follows the C locale's tolower; names here are ASCII-only rules
 * whatever locale the process runs in. */
static int ascii_casecmp(const char *a, const char *b) {
  for (;; a++, b++) {
    int x = (unsigned char)*a, y = (unsigned char)*b;
    if (x >= 'A' && x <= 'Z')
      x += 'a' - 'A';
    if (y >= 'A' && y <= 'Z')
      y += 'a' - 'A';
    if (x != y || !x)
      return x - y;
  }
}

/* ---------------------------------------------------------------------------
 * Errors and paths */

__attribute__((format(printf, 4, 5))) static void dec_err(dec *d, const char *path,
                                                          const wh_node *n, const char *fmt, ...) {
  d->nerr++;
  if (!d->errs)
    return;
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  if (!msg) {
    d->oom = true;
    return;
  }
  const char *p = (path && *path) ? path : "(root)";
  if (n && n->line > 0) {
    if (n->source && *n->source)
      wh_errlist_add(d->errs, "%s: %s (%s line %d)", p, msg, n->source, n->line);
    else
      wh_errlist_add(d->errs, "%s: %s (line %d)", p, msg, n->line);
  } else {
    wh_errlist_add(d->errs, "%s: %s", p, msg);
  }
  free(msg);
}

static void dec_oom(dec *d, const char *path) {
  d->oom = true;
  dec_err(d, path, NULL, "out of memory");
}

/* "<path>.<key>", or just key at the root. Caller frees; NULL on OOM. */
static char *path_key(const char *path, const char *key) {
  if (!path || !*path)
    return wh_strdup(key ? key : "");
  return wh_asprintf("%s.%s", path, key ? key : "");
}

static char *path_index(const char *path, const char *idx) {
  return wh_asprintf("%s[%s]", path ? path : "", idx);
}

static char *path_pos(const char *path, size_t i) {
  return wh_asprintf("%s[%zu]", path ? path : "", i);
}

/* ---------------------------------------------------------------------------
 * Scalar parsing */

int wh_parse_bool(const char *s, bool *out) {
  static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
  if (!s)
    return WH_EINVAL;
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (strcmp(s, t[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcmp(s, f[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return WH_EINVAL;
}

int wh_parse_int(const char *s, int64_t *out) {
  if (!s || !*s)
    return WH_EINVAL;
  const char *p = s;
  bool neg = false;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  if (!*p)
    return WH_EINVAL;
  /* Accumulate as a negative number so that INT64_MIN is representable. */
  int64_t v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return WH_EINVAL;
    int dgt = *p - '0';
    if (v < (INT64_MIN + dgt) / 10)
      return WH_EINVAL;
    v = v * 10 - dgt;
  }
  if (!neg) {
    if (v == INT64_MIN)
      return WH_EINVAL;
    v = -v;
  }
  *out = v;
  return 0;
}

static int parse_float(const char *s, double *out) {
  if (!s || !*s || *s == ' ' || *s == '\t' || *s == '\n')
    return WH_EINVAL;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)))
    return WH_EINVAL;
  *out = v;
  return 0;
}

/* ---------------------------------------------------------------------------
 * Containers */

void wh_strlist_free(wh_strlist *l) {
  if (!l)
    return;
  wh_strv_free(l->v, l->n);
  l->v = NULL;
  l->n = 0;
}

int wh_strlist_push(wh_strlist *l, const char *s) {
  if (!l)
    return WH_EINVAL;
  char *c = wh_strdup(s ? s : "");
  if (!c)
    return WH_ENOMEM;
  char **v = realloc(l->v, (l->n + 1) * sizeof *v);
  if (!v) {
    free(c);
    return WH_ENOMEM;
  }
  v[l->n++] = c;
  l->v = v;
  return 0;
}

bool wh_strlist_contains(const wh_strlist *l, const char *s) {
  if (!l || !s)
    return false;
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0)
      return true;
  return false;
}

static void strmap_free(wh_strmap *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->keys[i]);
    free(m->vals[i]);
  }
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

const char *wh_strmap_get(const wh_strmap *m, const char *key, bool icase) {
  if (!m || !key)
    return NULL;
  for (size_t i = 0; i < m->n; i++)
    if (icase ? ascii_casecmp(m->keys[i], key) == 0 : strcmp(m->keys[i], key) == 0)
      return m->vals[i];
  return NULL;
}

/* Index of key, or -(insertion point) - 1 when absent. */
static ptrdiff_t map_find(const wh_map *m, const char *key) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(m->keys[mid], key);
    if (c == 0)
      return (ptrdiff_t)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(ptrdiff_t)lo - 1;
}

void *wh_map_get(const wh_map *m, const char *key) {
  if (!m || !key || m->n == 0)
    return NULL;
  ptrdiff_t i = map_find(m, key);
  return i >= 0 ? m->vals[i] : NULL;
}

/* On failure (WH_ENOMEM/WH_EINVAL) val stays owned by the caller. */
int wh_map_put(wh_map *m, const char *key, void *val, void **old) {
  if (old)
    *old = NULL;
  if (!m || !key)
    return WH_EINVAL;
  ptrdiff_t i = m->n ? map_find(m, key) : -1;
  if (i >= 0) {
    if (old)
      *old = m->vals[i];
    m->vals[i] = val;
    return 0;
  }
  size_t at = (size_t)(-i - 1);
  char *k = wh_strdup(key);
  if (!k)
    return WH_ENOMEM;
  char **keys = realloc(m->keys, (m->n + 1) * sizeof *keys);
  if (!keys) {
    free(k);
    return WH_ENOMEM;
  }
  m->keys = keys;
  void **vals = realloc(m->vals, (m->n + 1) * sizeof *vals);
  if (!vals) {
    free(k);
    return WH_ENOMEM;
  }
  m->vals = vals;
  memmove(keys + at + 1, keys + at, (m->n - at) * sizeof *keys);
  memmove(vals + at + 1, vals + at, (m->n - at) * sizeof *vals);
  keys[at] = k;
  vals[at] = val;
  m->n++;
  return 0;
}

static void map_free(const wh_schema *sub, wh_map *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->keys[i]);
    wh_schema_destroy(sub, m->vals[i]);
  }
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

static void list_free(const wh_schema *sub, wh_list *l) {
  for (size_t i = 0; i < l->n; i++)
    wh_schema_free(sub, (char *)l->items + i * sub->size);
  free(l->items);
  memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------------------
 * Init / free / new / destroy */

static int init_strlist(wh_strlist *l, const char *text) {
  char **v = NULL;
  size_t n = 0;
  int rc = wh_str_split(text, ',', &v, &n);
  if (rc)
    return rc;
  l->v = v;
  l->n = n;
  return 0;
}

static int init_intlist(wh_intlist *l, const char *text) {
  char **v = NULL;
  size_t n = 0;
  int rc = wh_str_split(text, ',', &v, &n);
  if (rc)
    return rc;
  if (n) {
    l->v = calloc(n, sizeof *l->v);
    if (!l->v)
      rc = WH_ENOMEM;
  }
  for (size_t i = 0; !rc && i < n; i++, l->n++)
    rc = wh_parse_int(v[i], &l->v[i]);
  wh_strv_free(v, n);
  return rc;
}

static int init_floatlist(wh_floatlist *l, const char *text) {
  char **v = NULL;
  size_t n = 0;
  int rc = wh_str_split(text, ',', &v, &n);
  if (rc)
    return rc;
  if (n) {
    l->v = calloc(n, sizeof *l->v);
    if (!l->v)
      rc = WH_ENOMEM;
  }
  for (size_t i = 0; !rc && i < n; i++, l->n++)
    rc = parse_float(v[i], &l->v[i]);
  wh_strv_free(v, n);
  return rc;
}

static int init_field(const wh_field *f, void *obj) {
  void *p = FIELD_PTR(obj, f);
  if (f->type == WH_F_STRUCT)
    return wh_schema_init(f->sub, p);
  if (!f->dflt)
    return 0;
  switch (f->type) {
  case WH_F_STRING:
    *(char **)p = wh_strdup(f->dflt);
    return *(char **)p ? 0 : WH_ENOMEM;
  case WH_F_BOOL:
    return wh_parse_bool(f->dflt, p);
  case WH_F_INT:
    return wh_parse_int(f->dflt, p);
  case WH_F_FLOAT:
    return parse_float(f->dflt, p);
  case WH_F_DURATION:
    return wh_duration_parse(f->dflt, p);
  case WH_F_STRLIST:
    return init_strlist(p, f->dflt);
  case WH_F_INTLIST:
    return init_intlist(p, f->dflt);
  case WH_F_FLOATLIST:
    return init_floatlist(p, f->dflt);
  default:
    /* STRMAP, STRUCT_PTR, LIST, MAP and RAW have no textual default. */
    return 0;
  }
}

/* On failure obj is left freeable with wh_schema_free. */
int wh_schema_init(const wh_schema *s, void *obj) {
  if (!s || !obj)
    return WH_EINVAL;
  memset(obj, 0, s->size);
  int rc = 0;
  for (size_t i = 0; i < s->nfields; i++) {
    int r = init_field(&s->fields[i], obj);
    if (r && !rc)
      rc = r;
  }
  return rc;
}

static void free_field(const wh_field *f, void *obj) {
  void *p = FIELD_PTR(obj, f);
  switch (f->type) {
  case WH_F_STRING:
    free(*(char **)p);
    *(char **)p = NULL;
    break;
  case WH_F_STRLIST:
    wh_strlist_free(p);
    break;
  case WH_F_STRMAP:
    strmap_free(p);
    break;
  case WH_F_INTLIST: {
    wh_intlist *l = p;
    free(l->v);
    l->v = NULL;
    l->n = 0;
    break;
  }
  case WH_F_FLOATLIST: {
    wh_floatlist *l = p;
    free(l->v);
    l->v = NULL;
    l->n = 0;
    break;
  }
  case WH_F_STRUCT:
    wh_schema_free(f->sub, p);
    break;
  case WH_F_STRUCT_PTR:
    wh_schema_destroy(f->sub, *(void **)p);
    *(void **)p = NULL;
    break;
  case WH_F_LIST:
    list_free(f->sub, p);
    break;
  case WH_F_MAP:
    map_free(f->sub, p);
    break;
  case WH_F_RAW:
    wh_node_free(*(wh_node **)p);
    *(wh_node **)p = NULL;
    break;
  default:
    break;
  }
}

void wh_schema_free(const wh_schema *s, void *obj) {
  if (!s || !obj)
    return;
  for (size_t i = 0; i < s->nfields; i++)
    free_field(&s->fields[i], obj);
  memset(obj, 0, s->size);
}

void *wh_schema_new(const wh_schema *s) {
  if (!s)
    return NULL;
  void *obj = malloc(s->size ? s->size : 1);
  if (!obj)
    return NULL;
  if (wh_schema_init(s, obj)) {
    wh_schema_free(s, obj);
    free(obj);
    return NULL;
  }
  return obj;
}

void wh_schema_destroy(const wh_schema *s, void *obj) {
  if (!obj)
    return;
  wh_schema_free(s, obj);
  free(obj);
}

/* ---------------------------------------------------------------------------
 * Decoding helpers */

static const char *kind_name(wh_node_kind k) {
  switch (k) {
  case WH_NODE_MAP:
    return "mapping";
  case WH_NODE_LIST:
    return "list";
  default:
    return "scalar";
  }
}

static bool scalar_empty(const wh_node *n) {
  return n->kind == WH_NODE_SCALAR && (!n->value || !*n->value);
}

/* Keys "0", "1", ... as produced by flags/env/labels for list indices. */
static bool index_key(const char *k, uint64_t *out) {
  if (!k || !*k || strlen(k) > 18)
    return false;
  uint64_t v = 0;
  for (const char *p = k; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *out = v;
  return true;
}

typedef struct idx_item {
  uint64_t idx;
  size_t pos; /* source position, for a stable sort */
  const wh_node *n;
} idx_item;

static int idx_cmp(const void *a, const void *b) {
  const idx_item *x = a, *y = b;
  if (x->idx != y->idx)
    return x->idx < y->idx ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The elements of a list-shaped node in order: a YAML list, or a map whose
 * keys are all decimal integers (sorted numerically, gaps compacted).
 * Returns 0 and sets *out (caller frees, may be NULL when n is 0), 1 when
 * the node is a map with a non-index key, WH_ENOMEM on OOM. */
static int list_items(const wh_node *node, idx_item **out, size_t *n) {
  *out = NULL;
  *n = node->n;
  if (node->n == 0)
    return 0;
  idx_item *it = calloc(node->n, sizeof *it);
  if (!it)
    return WH_ENOMEM;
  for (size_t i = 0; i < node->n; i++) {
    it[i].pos = i;
    it[i].n = node->children[i];
    if (node->kind == WH_NODE_MAP && !index_key(node->children[i]->key, &it[i].idx)) {
      free(it);
      return 1;
    }
  }
  if (node->kind == WH_NODE_MAP)
    qsort(it, node->n, sizeof *it, idx_cmp);
  *out = it;
  return 0;
}

/* Path of the i-th element: the user's index for index maps, else i. */
static char *item_path(const char *path, const wh_node *node, const idx_item *it) {
  if (node->kind == WH_NODE_MAP)
    return path_index(path, it->n->key);
  return path_pos(path, it->pos);
}

/* ---------------------------------------------------------------------------
 * Scalar list decoding */

typedef int (*scalar_push_fn)(dec *d, void *list, const char *text, const char *path,
                              const wh_node *n);

static int push_str(dec *d, void *list, const char *text, const char *path, const wh_node *n) {
  (void)path;
  (void)n;
  if (wh_strlist_push(list, text)) {
    dec_oom(d, path);
    return WH_ENOMEM;
  }
  return 0;
}

static int push_int(dec *d, void *list, const char *text, const char *path, const wh_node *n) {
  wh_intlist *l = list;
  int64_t v;
  if (wh_parse_int(text, &v)) {
    dec_err(d, path, n, "invalid integer \"%s\"", text ? text : "");
    return WH_EINVAL;
  }
  int64_t *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
  if (!nv) {
    dec_oom(d, path);
    return WH_ENOMEM;
  }
  nv[l->n++] = v;
  l->v = nv;
  return 0;
}

static int push_float(dec *d, void *list, const char *text, const char *path, const wh_node *n) {
  wh_floatlist *l = list;
  double v;
  if (parse_float(text, &v)) {
    dec_err(d, path, n, "invalid number \"%s\"", text ? text : "");
    return WH_EINVAL;
  }
  double *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
  if (!nv) {
    dec_oom(d, path);
    return WH_ENOMEM;
  }
  nv[l->n++] = v;
  l->v = nv;
  return 0;
}

/* Decodes into a fresh zeroed list `tmp`; the caller swaps it in. */
static void decode_scalar_list(dec *d, const wh_node *node, void *tmp, const char *path,
                               scalar_push_fn push) {
  if (node->kind == WH_NODE_SCALAR) {
    if (!node->value)
      return;
    char **v = NULL;
    size_t n = 0;
    if (wh_str_split(node->value, ',', &v, &n)) {
      dec_oom(d, path);
      return;
    }
    for (size_t i = 0; i < n; i++)
      if (push(d, tmp, v[i], path, node) == WH_ENOMEM)
        break;
    wh_strv_free(v, n);
    return;
  }
  idx_item *it = NULL;
  size_t n = 0;
  int rc = list_items(node, &it, &n);
  if (rc == 1) {
    dec_err(d, path, node, "expected a list");
    return;
  }
  if (rc) {
    dec_oom(d, path);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const wh_node *c = it[i].n;
    char *ipath = item_path(path, node, &it[i]);
    if (!ipath) {
      dec_oom(d, path);
      break;
    }
    if (c->kind != WH_NODE_SCALAR)
      dec_err(d, ipath, c, "expected a scalar, got a %s", kind_name(c->kind));
    else
      rc = push(d, tmp, c->value ? c->value : "", ipath, c);
    free(ipath);
    if (rc == WH_ENOMEM)
      break;
  }
  free(it);
}

/* ---------------------------------------------------------------------------
 * Composite decoding */

static bool decode_strmap(dec *d, const wh_node *node, wh_strmap *out, const char *path) {
  wh_strmap m = {0};
  if (node->kind == WH_NODE_LIST || (node->kind == WH_NODE_SCALAR && !scalar_empty(node))) {
    dec_err(d, path, node, "expected a mapping");
    return false;
  }
  if (node->n) {
    m.keys = calloc(node->n, sizeof *m.keys);
    m.vals = calloc(node->n, sizeof *m.vals);
    if (!m.keys || !m.vals) {
      strmap_free(&m);
      dec_oom(d, path);
      return false;
    }
  }
  for (size_t i = 0; i < node->n; i++) {
    const wh_node *c = node->children[i];
    if (c->kind != WH_NODE_SCALAR) {
      char *kp = path_key(path, c->key);
      dec_err(d, kp ? kp : path, c, "expected a string, got a %s", kind_name(c->kind));
      free(kp);
      continue;
    }
    char *k = wh_strdup(c->key ? c->key : "");
    char *v = wh_strdup(c->value ? c->value : "");
    if (!k || !v) {
      free(k);
      free(v);
      dec_oom(d, path);
      break;
    }
    /* Header names are case-insensitive: the later spelling wins, in place. */
    size_t j = 0;
    while (j < m.n && ascii_casecmp(m.keys[j], k) != 0)
      j++;
    if (j < m.n) {
      free(m.keys[j]);
      free(m.vals[j]);
    } else {
      m.n++;
    }
    m.keys[j] = k;
    m.vals[j] = v;
  }
  strmap_free(out);
  *out = m;
  return true;
}

static bool decode_list(dec *d, const wh_field *f, const wh_node *node, wh_list *out,
                        const char *path) {
  const wh_schema *sub = f->sub;
  wh_list l = {0};
  if (node->kind == WH_NODE_SCALAR) {
    if (node->value && *node->value) {
      dec_err(d, path, node, "expected a list");
      return false;
    }
    list_free(sub, out);
    return true;
  }
  idx_item *it = NULL;
  size_t n = 0;
  int rc = list_items(node, &it, &n);
  if (rc == 1) {
    dec_err(d, path, node, "expected a list");
    return false;
  }
  if (rc) {
    dec_oom(d, path);
    return false;
  }
  if (n) {
    l.items = calloc(n, sub->size ? sub->size : 1);
    if (!l.items) {
      free(it);
      dec_oom(d, path);
      return false;
    }
  }
  for (size_t i = 0; i < n; i++) {
    void *elem = (char *)l.items + l.n * sub->size;
    char *ipath = item_path(path, node, &it[i]);
    if (!ipath) {
      dec_oom(d, path);
      break;
    }
    l.n++;
    const wh_node *c = it[i].n;
    if (wh_schema_init(sub, elem))
      dec_oom(d, ipath);
    else if (c->kind == WH_NODE_LIST || (c->kind == WH_NODE_SCALAR && !scalar_empty(c)))
      dec_err(d, ipath, c, "expected a mapping");
    else
      decode_struct(d, sub, c, elem, ipath);
    free(ipath);
  }
  free(it);
  list_free(sub, out);
  *out = l;
  return true;
}

typedef struct map_item {
  const wh_node *n;
  size_t pos;
} map_item;

static int map_item_cmp(const void *a, const void *b) {
  const map_item *x = a, *y = b;
  int c = ascii_casecmp(x->n->key, y->n->key);
  if (!c)
    c = strcmp(x->n->key, y->n->key);
  if (!c)
    c = x->pos < y->pos ? -1 : x->pos > y->pos;
  return c;
}

static int str_casecmp_p(const void *a, const void *b) {
  return ascii_casecmp(*(char *const *)a, *(char *const *)b);
}

/* Traefik label behaviour: names differing only in case are one element,
 * named after the first spelling in sorted (strcmp) order. Sorting the
 * children case-insensitively makes such names adjacent, so merging costs
 * O(n log n) even for thousands of routers. */
static bool decode_map(dec *d, const wh_field *f, const wh_node *node, wh_map *m,
                       const char *path) {
  const wh_schema *sub = f->sub;
  if (node->kind == WH_NODE_LIST || (node->kind == WH_NODE_SCALAR && !scalar_empty(node))) {
    dec_err(d, path, node, "expected a mapping");
    return false;
  }
  if (node->n == 0)
    return true;
  map_item *it = calloc(node->n, sizeof *it);
  /* Names already present (decoding overlays), for case-insensitive lookup. */
  char **existing = m->n ? malloc(m->n * sizeof *existing) : NULL;
  if (!it || (m->n && !existing)) {
    free(it);
    free(existing);
    dec_oom(d, path);
    return false;
  }
  size_t nexist = m->n;
  if (nexist) {
    memcpy(existing, m->keys, nexist * sizeof *existing);
    qsort(existing, nexist, sizeof *existing, str_casecmp_p);
  }
  size_t nit = 0;
  for (size_t i = 0; i < node->n; i++) {
    const wh_node *c = node->children[i];
    const char *k = c->key ? c->key : "";
    if (strchr(k, '@')) {
      char *kp = path_key(path, k);
      dec_err(d, kp ? kp : path, c, "\"@\" is not allowed in names");
      free(kp);
      continue;
    }
    if (!*k) {
      dec_err(d, path, c, "empty name");
      continue;
    }
    it[nit].n = c;
    it[nit].pos = i;
    nit++;
  }
  qsort(it, nit, sizeof *it, map_item_cmp);
  for (size_t i = 0, j; i < nit; i = j) {
    const wh_node *first = it[i].n;
    for (j = i + 1; j < nit && ascii_casecmp(it[j].n->key, first->key) == 0; j++)
      ;
    const char *name = first->key; /* first spelling in sorted order */
    const char *k = first->key;
    char **hit = nexist ? bsearch(&k, existing, nexist, sizeof *existing, str_casecmp_p) : NULL;
    void *elem;
    if (hit) {
      name = *hit;
      elem = wh_map_get(m, name);
    } else {
      elem = wh_schema_new(sub);
      if (!elem || wh_map_put(m, name, elem, NULL)) {
        wh_schema_destroy(sub, elem);
        dec_oom(d, path);
        break;
      }
    }
    char *epath = path_key(path, name);
    if (!epath) {
      dec_oom(d, path);
      break;
    }
    size_t before = d->nerr;
    for (size_t g = i; g < j; g++) {
      const wh_node *c = it[g].n;
      char *ep = path_key(path, c->key);
      if (!ep) {
        dec_oom(d, path);
        break;
      }
      if (c->kind == WH_NODE_LIST || (c->kind == WH_NODE_SCALAR && !scalar_empty(c)))
        dec_err(d, ep, c, "expected a mapping");
      else
        decode_fields(d, sub, c, elem, ep);
      free(ep);
    }
    /* Validated once, after every spelling of the name was merged in. */
    run_validate(d, sub, elem, epath, before);
    free(epath);
  }
  free(it);
  free(existing);
  return true;
}

/* STRUCT_PTR. An ALLOW_EMPTY pointer is enabled by "true" or an empty value
 * and disabled (with all its sub-keys) by any other value, as Traefik's
 * label "tls=false". wh_node_set_path never builds a map with a value, but
 * a hand-built tree may; the value is honoured the same way. Returns false
 * when the value has the wrong shape (or OOM). */
static bool decode_struct_ptr(dec *d, const wh_field *f, const wh_node *node, void **pp,
                              const char *path) {
  const wh_schema *sub = f->sub;
  if (node->kind == WH_NODE_LIST) {
    dec_err(d, path, node, "expected a mapping");
    return false;
  }
  bool has_value = node->value && *node->value;
  if (has_value) {
    if (!(f->flags & WH_FF_ALLOW_EMPTY)) {
      if (node->kind == WH_NODE_SCALAR) {
        dec_err(d, path, node, "expected a mapping");
        return false;
      }
    } else if (ascii_casecmp(node->value, "true") != 0) {
      wh_schema_destroy(sub, *pp);
      *pp = NULL;
      return true; /* explicitly disabled */
    }
  }
  if (!*pp) {
    *pp = wh_schema_new(sub);
    if (!*pp) {
      dec_oom(d, path);
      return false;
    }
  }
  decode_struct(d, sub, node, *pp, path);
  return true;
}

/* ---------------------------------------------------------------------------
 * Field and struct decoding */

static void decode_field(dec *d, const wh_field *f, const wh_node *c, void *obj, const char *path) {
  void *p = FIELD_PTR(obj, f);
  bool is_scalar = c->kind == WH_NODE_SCALAR;
  const char *v = c->value;
  switch (f->type) {
  case WH_F_STRING:
    if (!is_scalar) {
      dec_err(d, path, c, "expected a string, got a %s", kind_name(c->kind));
      return;
    } else {
      char *nv = NULL;
      if (v && !(nv = wh_strdup(v))) {
        dec_oom(d, path);
        return;
      }
      free(*(char **)p);
      *(char **)p = nv;
    }
    break;
  case WH_F_BOOL:
    if (!is_scalar) {
      dec_err(d, path, c, "expected a boolean, got a %s", kind_name(c->kind));
      return;
    }
    if (!v)
      *(bool *)p = true; /* bare flag */
    else if (wh_parse_bool(v, p)) {
      dec_err(d, path, c, "invalid boolean \"%s\"", v);
      return;
    }
    break;
  case WH_F_INT:
  case WH_F_FLOAT:
  case WH_F_DURATION: {
    static const char *const what[] = {
        [WH_F_INT] = "integer", [WH_F_FLOAT] = "number", [WH_F_DURATION] = "duration"};
    if (!is_scalar) {
      dec_err(d, path, c, "expected a %s, got a %s", what[f->type], kind_name(c->kind));
      return;
    }
    if (!v)
      return; /* YAML null: absent */
    int rc;
    if (f->type == WH_F_INT)
      rc = wh_parse_int(v, p);
    else if (f->type == WH_F_FLOAT)
      rc = parse_float(v, p);
    else
      rc = wh_duration_parse(v, p);
    if (rc) {
      dec_err(d, path, c, "invalid %s \"%s\"", what[f->type], v);
      return;
    }
    break;
  }
  case WH_F_STRLIST:
  case WH_F_INTLIST:
  case WH_F_FLOATLIST: {
    /* All three list types share the {ptr, n} layout. */
    union {
      wh_strlist s;
      wh_intlist i;
      wh_floatlist f;
    } tmp;
    memset(&tmp, 0, sizeof tmp);
    size_t before = d->nerr;
    scalar_push_fn push = f->type == WH_F_STRLIST   ? push_str
                          : f->type == WH_F_INTLIST ? push_int
                                                    : push_float;
    decode_scalar_list(d, c, &tmp, path, push);
    if (d->nerr != before) {
      if (f->type == WH_F_STRLIST)
        wh_strlist_free(&tmp.s);
      else
        free(tmp.i.v); /* same layout for both numeric lists */
      return;
    }
    free_field(f, obj);
    if (f->type == WH_F_STRLIST)
      *(wh_strlist *)p = tmp.s;
    else if (f->type == WH_F_INTLIST)
      *(wh_intlist *)p = tmp.i;
    else
      *(wh_floatlist *)p = tmp.f;
    break;
  }
  case WH_F_STRMAP:
    if (!decode_strmap(d, c, p, path))
      return;
    break;
  case WH_F_STRUCT:
    if (c->kind == WH_NODE_LIST || (is_scalar && v && *v)) {
      dec_err(d, path, c, "expected a mapping");
      return;
    }
    decode_struct(d, f->sub, c, p, path);
    break;
  case WH_F_STRUCT_PTR:
    if (!decode_struct_ptr(d, f, c, p, path))
      return;
    break;
  case WH_F_LIST:
    if (!decode_list(d, f, c, p, path))
      return;
    break;
  case WH_F_MAP:
    if (!decode_map(d, f, c, p, path))
      return;
    break;
  case WH_F_RAW: {
    wh_node *cl = wh_node_clone(c);
    if (!cl) {
      dec_oom(d, path);
      return;
    }
    wh_node_free(*(wh_node **)p);
    *(wh_node **)p = cl;
    break;
  }
  default:
    dec_err(d, path, c, "unsupported field type %d", (int)f->type);
    return;
  }
  if (f->set_offset)
    *(bool *)((char *)obj + f->set_offset) = true;
}

static void unknown_key(dec *d, const wh_schema *s, const wh_node *c, const char *kpath) {
  const char **names = s->nfields ? malloc(s->nfields * sizeof *names) : NULL;
  const char *sugg = NULL;
  if (names) {
    for (size_t i = 0; i < s->nfields; i++)
      names[i] = s->fields[i].name;
    sugg = wh_str_suggest(c->key ? c->key : "", names, s->nfields);
  }
  if (sugg)
    dec_err(d, kpath, c, "unknown key (did you mean \"%s\"?)", sugg);
  else
    dec_err(d, kpath, c, "unknown key");
  free(names);
}

static void decode_fields(dec *d, const wh_schema *s, const wh_node *node, void *obj,
                          const char *path) {
  for (size_t i = 0; node->kind == WH_NODE_MAP && i < node->n; i++) {
    const wh_node *c = node->children[i];
    char *kpath = path_key(path, c->key);
    if (!kpath) {
      dec_oom(d, path);
      return;
    }
    const wh_field *f = NULL;
    for (size_t j = 0; c->key && j < s->nfields; j++) {
      if (ascii_casecmp(s->fields[j].name, c->key) == 0) {
        f = &s->fields[j];
        break;
      }
    }
    if (f)
      decode_field(d, f, c, obj, kpath);
    else
      unknown_key(d, s, c, kpath);
    free(kpath);
  }
}

/* Validation assumes well-typed input: a struct that already failed to
 * decode would only collect follow-up noise, so it is skipped then. */
static void run_validate(dec *d, const wh_schema *s, void *obj, const char *path,
                         size_t nerr_before) {
  if (!s->validate || d->nerr != nerr_before)
    return;
  wh_errlist tmp;
  wh_errlist_init(&tmp);
  if (s->validate(obj, path ? path : "", d->errs ? d->errs : &tmp))
    d->nerr++;
  wh_errlist_free(&tmp);
}

static void decode_struct(dec *d, const wh_schema *s, const wh_node *node, void *obj,
                          const char *path) {
  size_t before = d->nerr;
  decode_fields(d, s, node, obj, path);
  run_validate(d, s, obj, path, before);
}

int wh_schema_decode(const wh_schema *s, const wh_node *node, void *obj, const char *path,
                     wh_errlist *errs) {
  if (!s || !obj)
    return WH_EINVAL;
  dec d = {.errs = errs};
  if (!node)
    return 0;
  if (node->kind != WH_NODE_MAP && !scalar_empty(node)) {
    dec_err(&d, path, node, "expected a mapping");
    return WH_EINVAL;
  }
  decode_struct(&d, s, node, obj, path ? path : "");
  if (d.oom)
    return WH_ENOMEM;
  return d.nerr ? WH_EINVAL : 0;
}

/* ---------------------------------------------------------------------------
 * Copy */

static int copy_strv(char ***dst, char *const *src, size_t n) {
  *dst = NULL;
  if (!n)
    return 0;
  char **v = calloc(n, sizeof *v);
  if (!v)
    return WH_ENOMEM;
  *dst = v;
  for (size_t i = 0; i < n; i++)
    if (!(v[i] = wh_strdup(src[i] ? src[i] : "")))
      return WH_ENOMEM; /* the partial copy is NULL-padded, freeable */
  return 0;
}

static int copy_mem(void **dst, const void *src, size_t bytes) {
  *dst = NULL;
  if (!bytes)
    return 0;
  if (!(*dst = malloc(bytes)))
    return WH_ENOMEM;
  memcpy(*dst, src, bytes);
  return 0;
}

/* Called after a bitwise copy: replaces dst's borrowed pointers with deep
 * copies. On failure every pointer of dst is either owned or NULL, so dst
 * stays freeable. */
static int copy_field(const wh_field *f, void *dst, const void *src) {
  void *dp = FIELD_PTR(dst, f);
  const void *sp = FIELD_CPTR(src, f);
  switch (f->type) {
  case WH_F_STRING:
    *(char **)dp = NULL;
    if (*(char *const *)sp && !(*(char **)dp = wh_strdup(*(char *const *)sp)))
      return WH_ENOMEM;
    return 0;
  case WH_F_STRLIST: {
    wh_strlist *d = dp;
    const wh_strlist *s = sp;
    d->v = NULL;
    d->n = 0;
    int rc = copy_strv(&d->v, s->v, s->n);
    if (d->v)
      d->n = s->n;
    return rc;
  }
  case WH_F_STRMAP: {
    wh_strmap *d = dp;
    const wh_strmap *s = sp;
    memset(d, 0, sizeof *d);
    int rc = copy_strv(&d->keys, s->keys, s->n);
    if (!rc)
      rc = copy_strv(&d->vals, s->vals, s->n);
    if (d->keys && d->vals)
      d->n = s->n;
    else {
      wh_strv_free(d->keys, d->keys ? s->n : 0);
      wh_strv_free(d->vals, d->vals ? s->n : 0);
      d->keys = d->vals = NULL;
    }
    return rc;
  }
  case WH_F_INTLIST: {
    wh_intlist *d = dp;
    const wh_intlist *s = sp;
    int rc = copy_mem((void **)&d->v, s->v, s->n * sizeof *s->v);
    d->n = d->v ? s->n : 0;
    return rc;
  }
  case WH_F_FLOATLIST: {
    wh_floatlist *d = dp;
    const wh_floatlist *s = sp;
    int rc = copy_mem((void **)&d->v, s->v, s->n * sizeof *s->v);
    d->n = d->v ? s->n : 0;
    return rc;
  }
  case WH_F_STRUCT:
    return wh_schema_copy(f->sub, dp, sp);
  case WH_F_STRUCT_PTR: {
    const void *s = *(void *const *)sp;
    *(void **)dp = NULL;
    if (!s)
      return 0;
    void *d = malloc(f->sub->size ? f->sub->size : 1);
    if (!d)
      return WH_ENOMEM;
    int rc = wh_schema_copy(f->sub, d, s);
    if (rc) {
      wh_schema_destroy(f->sub, d);
      return rc;
    }
    *(void **)dp = d;
    return 0;
  }
  case WH_F_LIST: {
    wh_list *d = dp;
    const wh_list *s = sp;
    size_t sz = f->sub->size;
    d->items = NULL;
    d->n = 0;
    if (!s->n)
      return 0;
    if (!(d->items = calloc(s->n, sz ? sz : 1)))
      return WH_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
      int rc = wh_schema_copy(f->sub, (char *)d->items + i * sz, (const char *)s->items + i * sz);
      d->n++; /* the failed element is freeable too */
      if (rc)
        return rc;
    }
    return 0;
  }
  case WH_F_MAP: {
    wh_map *d = dp;
    const wh_map *s = sp;
    memset(d, 0, sizeof *d);
    if (!s->n)
      return 0;
    d->keys = calloc(s->n, sizeof *d->keys);
    d->vals = calloc(s->n, sizeof *d->vals);
    if (!d->keys || !d->vals) {
      free(d->keys);
      free(d->vals);
      memset(d, 0, sizeof *d);
      return WH_ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++) {
      /* Source keys are sorted already: append in order. */
      char *k = wh_strdup(s->keys[i]);
      if (!k)
        return WH_ENOMEM;
      void *v = NULL;
      int rc = 0;
      if (s->vals[i]) {
        if (!(v = malloc(f->sub->size ? f->sub->size : 1))) {
          free(k);
          return WH_ENOMEM;
        }
        rc = wh_schema_copy(f->sub, v, s->vals[i]);
      }
      d->keys[d->n] = k;
      d->vals[d->n] = v;
      d->n++;
      if (rc)
        return rc;
    }
    return 0;
  }
  case WH_F_RAW: {
    const wh_node *s = *(wh_node *const *)sp;
    *(wh_node **)dp = NULL;
    if (s && !(*(wh_node **)dp = wh_node_clone(s)))
      return WH_ENOMEM;
    return 0;
  }
  default:
    return 0;
  }
}

/* Members outside the field table (e.g. set_offset bools) are copied
 * bitwise, so they must not own memory. */
int wh_schema_copy(const wh_schema *s, void *dst, const void *src) {
  if (!s || !dst || !src)
    return WH_EINVAL;
  memcpy(dst, src, s->size);
  int rc = 0;
  size_t i = 0;
  for (; i < s->nfields; i++) {
    if ((rc = copy_field(&s->fields[i], dst, src)))
      break;
  }
  if (rc) {
    /* Fields after the failing one still alias src: clear them, not free. */
    for (size_t j = i + 1; j < s->nfields; j++) {
      const wh_field *f = &s->fields[j];
      void *dp = FIELD_PTR(dst, f);
      if (f->type == WH_F_STRUCT) {
        memset(dp, 0, f->sub->size);
        continue;
      }
      switch (f->type) {
      case WH_F_STRING:
      case WH_F_STRUCT_PTR:
      case WH_F_RAW:
        *(void **)dp = NULL;
        break;
      case WH_F_STRLIST:
        memset(dp, 0, sizeof(wh_strlist));
        break;
      case WH_F_STRMAP:
        memset(dp, 0, sizeof(wh_strmap));
        break;
      case WH_F_INTLIST:
        memset(dp, 0, sizeof(wh_intlist));
        break;
      case WH_F_FLOATLIST:
        memset(dp, 0, sizeof(wh_floatlist));
        break;
      case WH_F_LIST:
        memset(dp, 0, sizeof(wh_list));
        break;
      case WH_F_MAP:
        memset(dp, 0, sizeof(wh_map));
        break;
      default:
        break;
      }
    }
    wh_schema_free(s, dst);
  }
  return rc;
}

/* ---------------------------------------------------------------------------
 * Equality */

static bool node_equal(const wh_node *a, const wh_node *b) {
  if (!a || !b)
    return a == b;
  if (a->kind != b->kind || a->n != b->n || !wh_streq(a->key, b->key) ||
      !wh_streq(a->value, b->value))
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (!node_equal(a->children[i], b->children[i]))
      return false;
  return true;
}

static bool field_equal(const wh_field *f, const void *a, const void *b) {
  const void *pa = FIELD_CPTR(a, f), *pb = FIELD_CPTR(b, f);
  switch (f->type) {
  case WH_F_STRING:
    return wh_streq(*(char *const *)pa, *(char *const *)pb);
  case WH_F_BOOL:
    return *(const bool *)pa == *(const bool *)pb;
  case WH_F_INT:
  case WH_F_DURATION:
    return *(const int64_t *)pa == *(const int64_t *)pb;
  case WH_F_FLOAT:
    return *(const double *)pa == *(const double *)pb;
  case WH_F_STRLIST: {
    const wh_strlist *x = pa, *y = pb;
    if (x->n != y->n)
      return false;
    for (size_t i = 0; i < x->n; i++)
      if (!wh_streq(x->v[i], y->v[i]))
        return false;
    return true;
  }
  case WH_F_STRMAP: {
    const wh_strmap *x = pa, *y = pb;
    if (x->n != y->n)
      return false;
    for (size_t i = 0; i < x->n; i++)
      if (!wh_streq(x->keys[i], y->keys[i]) || !wh_streq(x->vals[i], y->vals[i]))
        return false;
    return true;
  }
  case WH_F_INTLIST: {
    const wh_intlist *x = pa, *y = pb;
    return x->n == y->n && (!x->n || memcmp(x->v, y->v, x->n * sizeof *x->v) == 0);
  }
  case WH_F_FLOATLIST: {
    const wh_floatlist *x = pa, *y = pb;
    if (x->n != y->n)
      return false;
    for (size_t i = 0; i < x->n; i++)
      if (x->v[i] != y->v[i])
        return false;
    return true;
  }
  case WH_F_STRUCT:
    return wh_schema_equal(f->sub, pa, pb);
  case WH_F_STRUCT_PTR: {
    const void *x = *(void *const *)pa, *y = *(void *const *)pb;
    if (!x || !y)
      return x == y;
    return wh_schema_equal(f->sub, x, y);
  }
  case WH_F_LIST: {
    const wh_list *x = pa, *y = pb;
    if (x->n != y->n)
      return false;
    for (size_t i = 0; i < x->n; i++)
      if (!wh_schema_equal(f->sub, (const char *)x->items + i * f->sub->size,
                           (const char *)y->items + i * f->sub->size))
        return false;
    return true;
  }
  case WH_F_MAP: {
    const wh_map *x = pa, *y = pb;
    if (x->n != y->n)
      return false;
    for (size_t i = 0; i < x->n; i++)
      if (strcmp(x->keys[i], y->keys[i]) != 0 || !wh_schema_equal(f->sub, x->vals[i], y->vals[i]))
        return false;
    return true;
  }
  case WH_F_RAW:
    return node_equal(*(wh_node *const *)pa, *(wh_node *const *)pb);
  default:
    return true;
  }
}

bool wh_schema_equal(const wh_schema *s, const void *a, const void *b) {
  if (!a || !b)
    return a == b;
  for (size_t i = 0; i < s->nfields; i++)
    if (!field_equal(&s->fields[i], a, b))
      return false;
  return true;
}

/* ---------------------------------------------------------------------------
 * Encoding */

static cJSON *node_to_json(const wh_node *n) {
  if (!n)
    return cJSON_CreateNull();
  if (n->kind == WH_NODE_SCALAR)
    return n->value ? cJSON_CreateString(n->value) : cJSON_CreateNull();
  cJSON *o = n->kind == WH_NODE_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
  if (!o)
    return NULL;
  for (size_t i = 0; i < n->n; i++) {
    cJSON *c = node_to_json(n->children[i]);
    if (!c) {
      cJSON_Delete(o);
      return NULL;
    }
    if (n->kind == WH_NODE_MAP) {
      const char *k = n->children[i]->key ? n->children[i]->key : "";
      /* Later duplicates win, as in a YAML decoder building a Go map. */
      if (cJSON_GetObjectItemCaseSensitive(o, k))
        cJSON_ReplaceItemInObjectCaseSensitive(o, k, c);
      else
        cJSON_AddItemToObject(o, k, c);
    } else {
      cJSON_AddItemToArray(o, c);
    }
  }
  return o;
}

/* Returns the JSON for one field, NULL when it is to be omitted. *oom is set
 * when NULL means out of memory. */
static cJSON *encode_field(const wh_field *f, const void *obj, bool *oom) {
  const void *p = FIELD_CPTR(obj, f);
  bool always = f->flags & WH_FF_ALWAYS;
  cJSON *j = NULL;
  switch (f->type) {
  case WH_F_STRING: {
    const char *v = *(char *const *)p;
    if ((!v || !*v) && !always)
      return NULL;
    j = cJSON_CreateString(v ? v : "");
    break;
  }
  case WH_F_BOOL:
    if (!*(const bool *)p && !always)
      return NULL;
    j = cJSON_CreateBool(*(const bool *)p);
    break;
  case WH_F_INT:
    if (!*(const int64_t *)p && !always)
      return NULL;
    j = cJSON_CreateNumber((double)*(const int64_t *)p);
    break;
  case WH_F_FLOAT:
    if (*(const double *)p == 0 && !always)
      return NULL;
    j = cJSON_CreateNumber(*(const double *)p);
    break;
  case WH_F_DURATION: {
    if (!*(const wh_duration *)p && !always)
      return NULL;
    char buf[64];
    wh_duration_format(*(const wh_duration *)p, buf, sizeof buf);
    j = cJSON_CreateString(buf);
    break;
  }
  case WH_F_STRLIST: {
    const wh_strlist *l = p;
    if (!l->n && !always)
      return NULL;
    if (!(j = cJSON_CreateArray()))
      break;
    for (size_t i = 0; i < l->n; i++) {
      cJSON *c = cJSON_CreateString(l->v[i] ? l->v[i] : "");
      if (!c) {
        cJSON_Delete(j);
        j = NULL;
        break;
      }
      cJSON_AddItemToArray(j, c);
    }
    break;
  }
  case WH_F_INTLIST:
  case WH_F_FLOATLIST: {
    size_t n = f->type == WH_F_INTLIST ? ((const wh_intlist *)p)->n : ((const wh_floatlist *)p)->n;
    if (!n && !always)
      return NULL;
    if (!(j = cJSON_CreateArray()))
      break;
    for (size_t i = 0; i < n; i++) {
      double v = f->type == WH_F_INTLIST ? (double)((const wh_intlist *)p)->v[i]
                                         : ((const wh_floatlist *)p)->v[i];
      cJSON *c = cJSON_CreateNumber(v);
      if (!c) {
        cJSON_Delete(j);
        j = NULL;
        break;
      }
      cJSON_AddItemToArray(j, c);
    }
    break;
  }
  case WH_F_STRMAP: {
    const wh_strmap *m = p;
    if (!m->n && !always)
      return NULL;
    if (!(j = cJSON_CreateObject()))
      break;
    for (size_t i = 0; i < m->n; i++) {
      const char *v = m->vals[i] ? m->vals[i] : "";
      if ((f->flags & WH_FF_HEADER_VALUES) && *v && wh_header_is_credential(m->keys[i]))
        v = "REDACTED"; /* the API never shows a credential (issue 7, admin safety) */
      if (!cJSON_AddStringToObject(j, m->keys[i], v)) {
        cJSON_Delete(j);
        j = NULL;
        break;
      }
    }
    break;
  }
  case WH_F_STRUCT:
    if (!(j = wh_schema_encode(f->sub, p)))
      break;
    if (!j->child && !always) {
      cJSON_Delete(j);
      return NULL;
    }
    break;
  case WH_F_STRUCT_PTR: {
    const void *sp = *(void *const *)p;
    if (!sp) {
      if (!always)
        return NULL;
      j = cJSON_CreateNull();
      break;
    }
    j = wh_schema_encode(f->sub, sp); /* an empty object is meaningful ("tls": {}) */
    break;
  }
  case WH_F_LIST: {
    const wh_list *l = p;
    if (!l->n && !always)
      return NULL;
    if (!(j = cJSON_CreateArray()))
      break;
    for (size_t i = 0; i < l->n; i++) {
      cJSON *c = wh_schema_encode(f->sub, (const char *)l->items + i * f->sub->size);
      if (!c) {
        cJSON_Delete(j);
        j = NULL;
        break;
      }
      cJSON_AddItemToArray(j, c);
    }
    break;
  }
  case WH_F_MAP: {
    const wh_map *m = p;
    if (!m->n && !always)
      return NULL;
    if (!(j = cJSON_CreateObject()))
      break;
    for (size_t i = 0; i < m->n; i++) {
      cJSON *c = m->vals[i] ? wh_schema_encode(f->sub, m->vals[i]) : cJSON_CreateNull();
      if (!c) {
        cJSON_Delete(j);
        j = NULL;
        break;
      }
      cJSON_AddItemToObject(j, m->keys[i], c);
    }
    break;
  }
  case WH_F_RAW: {
    const wh_node *n = *(wh_node *const *)p;
    if (!n && !always)
      return NULL;
    j = node_to_json(n);
    break;
  }
  default:
    return NULL;
  }
  if (!j)
    *oom = true;
  return j;
}

cJSON *wh_schema_encode(const wh_schema *s, const void *obj) {
  if (!s || !obj)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  for (size_t i = 0; i < s->nfields; i++) {
    const wh_field *f = &s->fields[i];
    if (f->flags & (WH_FF_SECRET | WH_FF_NO_ENCODE))
      continue;
    bool oom = false;
    cJSON *j = encode_field(f, obj, &oom);
    if (oom) {
      cJSON_Delete(o);
      return NULL;
    }
    if (j)
      cJSON_AddItemToObject(o, f->name, j);
  }
  return o;
}
