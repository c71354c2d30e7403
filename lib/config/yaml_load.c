/* YAML/JSON -> wh_node, built straight from libyaml's event stream so that
 * every node keeps its position and so that hostile input (alias bombs, deep
 * nesting, huge files) is stopped by explicit caps rather than by memory
 * exhaustion. See docs/internals/config-sources.md. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

#define YAML_MAX_INPUT (16u * 1024 * 1024)
#define YAML_MAX_ALIAS_NODES 10000
#define YAML_MAX_DEPTH 200

typedef struct {
  char *name;
  wh_node *node; /* private copy: tree nodes get moved and freed by merges */
  size_t count;  /* nodes in node, charged to the expansion budget per use */
  size_t depth;
} anchor;

typedef struct {
  wh_node *node;
  char *anchor; /* to register when the container ends */
  /* maps only: the key read but not yet paired with a value */
  char *key;
  bool key_is_merge;
  bool have_key;
  int key_line, key_col;
} frame;

typedef struct {
  const char *source;
  const char *text;
  size_t len;
  wh_errlist *errs;
  bool failed;
  frame *stack;
  size_t depth, stack_cap;
  wh_node *root;
  anchor *anchors;
  size_t nanchors, anchors_cap;
  size_t *slots; /* open-addressed hash of anchor name -> index+1 (0 = empty) */
  size_t nslots;
  size_t expanded;
  int documents;
} loader;

static const char *src_name(const loader *l) {
  return l->source ? l->source : "<yaml>";
}

__attribute__((format(printf, 4, 5))) static void fail(loader *l, int line, int col,
                                                       const char *fmt, ...) {
  if (l->failed)
    return;
  l->failed = true;
  char *msg;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  wh_errlist_add(l->errs, "%s:%d:%d: %s", src_name(l), line, col, msg ? msg : "out of memory");
  free(msg);
}

static void fail_oom(loader *l) {
  fail(l, 0, 0, "out of memory");
}

/* ---- anchors ------------------------------------------------------------ */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static size_t *slot_for(loader *l, const char *name) {
  size_t mask = l->nslots - 1;
  for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
    size_t v = l->slots[i];
    if (!v || strcmp(l->anchors[v - 1].name, name) == 0)
      return &l->slots[i];
  }
}

static int rehash(loader *l) {
  size_t n = l->nslots ? l->nslots * 2 : 64;
  size_t *s = calloc(n, sizeof(*s));
  if (!s)
    return WH_ENOMEM;
  free(l->slots);
  l->slots = s;
  l->nslots = n;
  for (size_t i = 0; i < l->nanchors; i++)
    if (l->anchors[i].name)
      *slot_for(l, l->anchors[i].name) = i + 1;
  return WH_OK;
}

static const anchor *anchor_find(loader *l, const char *name) {
  if (!l->nslots)
    return NULL;
  size_t v = *slot_for(l, name);
  return v ? &l->anchors[v - 1] : NULL;
}

static void node_measure(const wh_node *n, size_t *count, size_t *depth) {
  size_t c = 1, d = 0;
  for (size_t i = 0; i < n->n; i++) {
    size_t cc, cd;
    node_measure(n->children[i], &cc, &cd);
    c += cc;
    if (cd > d)
      d = cd;
  }
  *count = c;
  *depth = d + 1;
}

/* YAML lets a later anchor reuse a name; the latest definition wins. */
static void anchor_define(loader *l, char *name, const wh_node *n) {
  wh_node *copy = wh_node_clone(n);
  if (!copy) {
    free(name);
    fail_oom(l);
    return;
  }
  if ((l->nanchors + 1) * 2 > l->nslots && rehash(l) != WH_OK)
    goto oom;
  size_t *slot = slot_for(l, name);
  anchor *a;
  if (*slot) {
    a = &l->anchors[*slot - 1];
    wh_node_free(a->node);
    free(name);
  } else {
    if (l->nanchors == l->anchors_cap) {
      size_t cap = l->anchors_cap ? l->anchors_cap * 2 : 16;
      anchor *na = realloc(l->anchors, cap * sizeof(*na));
      if (!na)
        goto oom;
      l->anchors = na;
      l->anchors_cap = cap;
    }
    a = &l->anchors[l->nanchors++];
    a->name = name;
    *slot = l->nanchors;
  }
  a->node = copy;
  node_measure(copy, &a->count, &a->depth);
  return;
oom:
  wh_node_free(copy);
  free(name);
  fail_oom(l);
}

/* ---- building ------------------------------------------------------------ */

static int mark_line(const yaml_mark_t *m) {
  return (int)m->line + 1;
}
static int mark_col(const yaml_mark_t *m) {
  return (int)m->column + 1;
}

static bool plain_null(const yaml_event_t *ev) {
  if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  const char *v = (const char *)ev->data.scalar.value;
  return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* Hands a finished node (ownership included) to the container on top of
 * the stack, or makes it the root. */
static void emit_node(loader *l, wh_node *n) {
  if (!l->depth) {
    if (l->root) {
      wh_node_free(n);
      return;
    }
    l->root = n;
    return;
  }
  frame *f = &l->stack[l->depth - 1];
  if (f->node->kind == WH_NODE_MAP) {
    /* the key itself was consumed by emit_key */
    /* a map entry is located at its key: that is where a user looks for
     * "entryPoints.web" and where a duplicate is */
    n->key = f->key;
    n->line = f->key_line;
    n->col = f->key_col;
    f->key = NULL;
    f->have_key = false;
    if (f->key_is_merge) {
      /* a merge entry is recognised later by its NULL key: a real key is
       * never NULL, and "<<" spelled in quotes stays an ordinary key */
      free(n->key);
      n->key = NULL;
    }
  }
  if (wh_node_append(f->node, n) != WH_OK) {
    wh_node_free(n);
    fail_oom(l);
  }
}

/* In a map, the next scalar is a key rather than a value. */
static bool expecting_key(const loader *l) {
  if (!l->depth)
    return false;
  const frame *f = &l->stack[l->depth - 1];
  return f->node->kind == WH_NODE_MAP && !f->have_key;
}

static void set_key(loader *l, const char *text, bool merge, const yaml_mark_t *m) {
  frame *f = &l->stack[l->depth - 1];
  if (!(f->key = strdup(text))) {
    fail_oom(l);
    return;
  }
  f->have_key = true;
  f->key_is_merge = merge;
  f->key_line = mark_line(m);
  f->key_col = mark_col(m);
}

static void on_scalar(loader *l, const yaml_event_t *ev) {
  const char *text = (const char *)ev->data.scalar.value;
  const char *anc = (const char *)ev->data.scalar.anchor;
  if (expecting_key(l)) {
    bool merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(text, "<<");
    set_key(l, text, merge, &ev->start_mark);
    if (anc && !l->failed) {
      /* an anchored key is rare but legal: the anchor names the key's text */
      wh_node *tmp = wh_node_new(WH_NODE_SCALAR, NULL, text);
      char *name = strdup(anc);
      if (tmp && name) {
        anchor_define(l, name, tmp);
      } else {
        free(name);
        fail_oom(l);
      }
      wh_node_free(tmp);
    }
    return;
  }
  wh_node *n = wh_node_new(WH_NODE_SCALAR, NULL, plain_null(ev) ? NULL : text);
  if (!n) {
    fail_oom(l);
    return;
  }
  n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
              ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
  n->line = mark_line(&ev->start_mark);
  n->col = mark_col(&ev->start_mark);
  n->source = l->source;
  if (anc) {
    char *name = strdup(anc);
    if (name)
      anchor_define(l, name, n);
    else
      fail_oom(l);
  }
  emit_node(l, n);
}

static void on_alias(loader *l, const yaml_event_t *ev) {
  const char *name = (const char *)ev->data.alias.anchor;
  int line = mark_line(&ev->start_mark), col = mark_col(&ev->start_mark);
  const anchor *a = anchor_find(l, name);
  if (!a) {
    fail(l, line, col, "unknown anchor \"%s\"", name);
    return;
  }
  if (a->count > YAML_MAX_ALIAS_NODES - l->expanded) {
    fail(l, line, col, "aliases expand to too many nodes (max %d)", YAML_MAX_ALIAS_NODES);
    return;
  }
  if (l->depth + a->depth > YAML_MAX_DEPTH + 1) { /* a->depth counts the leaves */
    fail(l, line, col, "nesting too deep (max %d)", YAML_MAX_DEPTH);
    return;
  }
  l->expanded += a->count;
  if (expecting_key(l)) {
    if (a->node->kind != WH_NODE_SCALAR) {
      fail(l, line, col, "map keys must be scalars");
      return;
    }
    set_key(l, a->node->value ? a->node->value : "", false, &ev->start_mark);
    return;
  }
  wh_node *n = wh_node_clone(a->node);
  if (!n) {
    fail_oom(l);
    return;
  }
  /* the copy's root reports where the alias was used; inner nodes keep
   * their definition lines, which is where a user has to look to fix them */
  n->line = line;
  n->col = col;
  emit_node(l, n);
}

static void on_start(loader *l, const yaml_event_t *ev, wh_node_kind kind) {
  int line = mark_line(&ev->start_mark), col = mark_col(&ev->start_mark);
  if (expecting_key(l)) {
    fail(l, line, col, "map keys must be scalars");
    return;
  }
  if (l->depth >= YAML_MAX_DEPTH) {
    fail(l, line, col, "nesting too deep (max %d)", YAML_MAX_DEPTH);
    return;
  }
  if (l->depth == l->stack_cap) {
    size_t cap = l->stack_cap ? l->stack_cap * 2 : 16;
    frame *s = realloc(l->stack, cap * sizeof(*s));
    if (!s) {
      fail_oom(l);
      return;
    }
    l->stack = s;
    l->stack_cap = cap;
  }
  const yaml_char_t *anc =
      kind == WH_NODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
  frame *f = &l->stack[l->depth];
  memset(f, 0, sizeof(*f));
  f->node = wh_node_new(kind, NULL, NULL);
  f->anchor = anc ? strdup((const char *)anc) : NULL;
  if (!f->node || (anc && !f->anchor)) {
    wh_node_free(f->node);
    free(f->anchor);
    fail_oom(l);
    return;
  }
  f->node->line = line;
  f->node->col = col;
  f->node->source = l->source;
  l->depth++;
}

/* One key of a map being finalised: explicit entries (prio 0) beat merged
 * ones, and earlier merged maps beat later ones (YAML merge key spec). */
typedef struct {
  wh_node *node;
  size_t prio, order;
  bool keep;
} entry;

static int entry_cmp(const void *a, const void *b) {
  const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
  int c = strcmp(x->node->key, y->node->key);
  if (c)
    return c;
  if (x->prio != y->prio)
    return x->prio < y->prio ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static size_t count_entries(loader *l, const wh_node *map) {
  size_t n = 0;
  for (size_t i = 0; i < map->n; i++) {
    const wh_node *c = map->children[i];
    if (c->key) {
      n++;
    } else if (c->kind == WH_NODE_MAP) {
      n += c->n;
    } else if (c->kind == WH_NODE_LIST) {
      for (size_t j = 0; j < c->n; j++) {
        if (c->children[j]->kind != WH_NODE_MAP) {
          fail(l, c->children[j]->line, c->children[j]->col,
               "a merge (<<) list must contain only mappings");
          return 0;
        }
        n += c->children[j]->n;
      }
    } else {
      fail(l, c->line, c->col, "a merge (<<) value must be a mapping or a list of mappings");
      return 0;
    }
  }
  return n;
}

/* Detects duplicate keys and resolves "<<" entries in O(n log n): a map can
 * hold hundreds of thousands of keys within the input cap. */
static void finish_map(loader *l, wh_node *map) {
  size_t total = count_entries(l, map);
  if (l->failed || !total) {
    if (!l->failed)
      for (size_t i = 0; i < map->n; i++) /* only empty merges: drop them */
        wh_node_free(map->children[i]);
    if (!l->failed)
      map->n = 0;
    return;
  }
  entry *ents = calloc(total, sizeof(*ents));
  entry **sorted = calloc(total, sizeof(*sorted));
  wh_node **kids = calloc(total, sizeof(*kids));
  if (!ents || !sorted || !kids) {
    free(ents);
    free(sorted);
    free(kids);
    fail_oom(l);
    return;
  }
  size_t k = 0, prio = 0;
  for (size_t i = 0; i < map->n; i++) {
    wh_node *c = map->children[i];
    if (c->key) {
      ents[k] = (entry){c, 0, k, true};
      k++;
      continue;
    }
    size_t nmaps = c->kind == WH_NODE_MAP ? 1 : c->n;
    for (size_t m = 0; m < nmaps; m++) {
      wh_node *src = c->kind == WH_NODE_MAP ? c : c->children[m];
      prio++;
      for (size_t j = 0; j < src->n; j++) {
        ents[k] = (entry){src->children[j], prio, k, true};
        k++;
      }
    }
  }
  for (size_t i = 0; i < total; i++)
    sorted[i] = &ents[i];
  qsort(sorted, total, sizeof(*sorted), entry_cmp);
  const entry *dup = NULL;
  for (size_t i = 1; i < total; i++) {
    if (strcmp(sorted[i]->node->key, sorted[i - 1]->node->key))
      continue;
    sorted[i]->keep = false;
    if (sorted[i]->prio == 0 && (!dup || sorted[i]->order < dup->order))
      dup = sorted[i];
  }
  if (dup) {
    fail(l, dup->node->line, dup->node->col, "duplicate key \"%s\"", dup->node->key);
    /* keep the map intact so that everything is freed normally */
    free(ents);
    free(sorted);
    free(kids);
    return;
  }
  /* Move surviving entries out of the merge sources, then free the husks. */
  size_t nk = 0;
  for (size_t i = 0; i < total; i++) {
    if (ents[i].keep)
      kids[nk++] = ents[i].node;
    else if (ents[i].prio)
      wh_node_free(ents[i].node);
  }
  for (size_t i = 0; i < map->n; i++) {
    wh_node *c = map->children[i];
    if (c->key)
      continue;
    if (c->kind == WH_NODE_MAP) {
      c->n = 0;
    } else {
      for (size_t m = 0; m < c->n; m++)
        c->children[m]->n = 0;
    }
    wh_node_free(c);
  }
  free(map->children);
  map->children = kids;
  map->n = nk;
  map->cap = total;
  free(ents);
  free(sorted);
}

static void on_end(loader *l) {
  frame *f = &l->stack[--l->depth];
  wh_node *n = f->node;
  free(f->key);
  if (n->kind == WH_NODE_MAP)
    finish_map(l, n);
  if (l->failed) {
    wh_node_free(n);
    free(f->anchor);
    return;
  }
  if (f->anchor)
    anchor_define(l, f->anchor, n);
  emit_node(l, n);
}

/* libyaml reports reader errors (bad UTF-8) by byte offset only. */
static void offset_to_pos(const loader *l, size_t off, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off && i < l->len; i++) {
    if (l->text[i] == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

static void parser_error(loader *l, const yaml_parser_t *p) {
  int line, col;
  if (p->error == YAML_READER_ERROR) {
    offset_to_pos(l, p->problem_offset, &line, &col);
  } else {
    line = mark_line(&p->problem_mark);
    col = mark_col(&p->problem_mark);
  }
  if (p->error == YAML_MEMORY_ERROR)
    fail_oom(l);
  else
    fail(l, line, col, "%s", p->problem ? p->problem : "invalid YAML");
}

static void loader_free(loader *l) {
  while (l->depth) {
    frame *f = &l->stack[--l->depth];
    wh_node_free(f->node);
    free(f->anchor);
    free(f->key);
  }
  free(l->stack);
  for (size_t i = 0; i < l->nanchors; i++) {
    free(l->anchors[i].name);
    wh_node_free(l->anchors[i].node);
  }
  free(l->anchors);
  free(l->slots);
}

wh_node *wh_yaml_parse(const char *text, size_t len, const char *source, wh_errlist *errs) {
  loader l = {.source = source, .text = text, .len = len, .errs = errs};
  if (len > YAML_MAX_INPUT) {
    wh_errlist_add(errs, "%s: input too large (%zu bytes, max %u)", src_name(&l), len,
                   YAML_MAX_INPUT);
    return NULL;
  }
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    wh_errlist_add(errs, "%s: out of memory", src_name(&l));
    return NULL;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)(text ? text : ""), text ? len : 0);
  bool done = false;
  while (!done && !l.failed) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      parser_error(&l, &p);
      break;
    }
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      done = true;
      break;
    case YAML_DOCUMENT_START_EVENT:
      if (++l.documents > 1)
        fail(&l, mark_line(&ev.start_mark), mark_col(&ev.start_mark),
             "more than one YAML document (only one is supported)");
      break;
    case YAML_SCALAR_EVENT:
      on_scalar(&l, &ev);
      break;
    case YAML_ALIAS_EVENT:
      on_alias(&l, &ev);
      break;
    case YAML_SEQUENCE_START_EVENT:
      on_start(&l, &ev, WH_NODE_LIST);
      break;
    case YAML_MAPPING_START_EVENT:
      on_start(&l, &ev, WH_NODE_MAP);
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      on_end(&l);
      break;
    default:
      break;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  loader_free(&l);
  if (l.failed) {
    wh_node_free(l.root);
    return NULL;
  }
  wh_node *root = l.root;
  if (root && root->kind == WH_NODE_SCALAR && !root->value) {
    wh_node_free(root); /* "---" alone or "~": an empty document */
    root = NULL;
  }
  if (!root) {
    if (!(root = wh_node_new(WH_NODE_MAP, NULL, NULL))) {
      wh_errlist_add(errs, "%s: out of memory", src_name(&l));
      return NULL;
    }
    root->line = root->col = 1;
    root->source = source;
    return root;
  }
  if (root->kind != WH_NODE_MAP) {
    wh_errlist_add(errs, "%s:%d:%d: expected a mapping at the top level", src_name(&l), root->line,
                   root->col);
    wh_node_free(root);
    return NULL;
  }
  return root;
}

/* Nodes borrow their source name, and callers of wh_yaml_parse_file
 * commonly free the path right after parsing (then the schema prints it in
 * errors). Interning gives every path a process lifetime; the set is bounded
 * by the distinct configuration files a process ever reads. */
static const char *intern_path(const char *path) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static struct interned {
    struct interned *next;
    char s[];
  } * head;
  const char *res = NULL;
  pthread_mutex_lock(&mu);
  for (struct interned *i = head; i && !res; i = i->next)
    if (!strcmp(i->s, path))
      res = i->s;
  if (!res) {
    size_t len = strlen(path);
    struct interned *i = malloc(sizeof(*i) + len + 1);
    if (i) {
      memcpy(i->s, path, len + 1);
      i->next = head;
      head = i;
      res = i->s;
    }
  }
  pthread_mutex_unlock(&mu);
  return res;
}

/* The nodes' source is an interned copy of path: path need not outlive the tree. */
wh_node *wh_yaml_parse_file(const char *path, wh_errlist *errs) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    wh_errlist_add(errs, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    wh_errlist_add(errs, "%s: is a directory", path);
    close(fd);
    return NULL;
  }
  /* read at most one byte past the cap so that growing files and pipes are
   * caught as well as regular files */
  size_t cap = 64 * 1024, len = 0;
  char *buf = malloc(cap);
  wh_node *root = NULL;
  if (!buf)
    goto oom;
  for (;;) {
    if (len == cap) {
      if (cap > YAML_MAX_INPUT) {
        wh_errlist_add(errs, "%s: file too large (max %u bytes)", path, YAML_MAX_INPUT);
        goto out;
      }
      size_t ncap = cap * 2 > YAML_MAX_INPUT + 1 ? YAML_MAX_INPUT + 1 : cap * 2;
      char *nb = realloc(buf, ncap);
      if (!nb)
        goto oom;
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      wh_errlist_add(errs, "%s: %s", path, strerror(errno));
      goto out;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  if (len > YAML_MAX_INPUT) {
    wh_errlist_add(errs, "%s: file too large (max %u bytes)", path, YAML_MAX_INPUT);
    goto out;
  }
  const char *source = intern_path(path);
  if (!source)
    goto oom;
  root = wh_yaml_parse(buf, len, source, errs);
  goto out;
oom:
  wh_errlist_add(errs, "%s: out of memory", path);
out:
  free(buf);
  close(fd);
  return root;
}
