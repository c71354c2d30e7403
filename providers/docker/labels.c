/* Labels are flat "a.b.c=value" pairs; they become a wh_node tree that the
 * dynamic-configuration decoder reads exactly as it reads a YAML file. The
 * tree is built here rather than with wh_node_set_dotted because labels need
 * a key to carry a value and sub-keys at once ("tls=true" next to
 * "tls.certresolver=le"), which the schema honours on allowEmpty fields. */
#include "providers/docker/labels.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/config/tree.h"
#include "lib/core/str.h"

#define SOURCE "labels"
#define MAX_SEGS 64

/* ---------------------------------------------------------------------------
 * Element errors */

int wh_docker_elem_error(wh_dyn_config *cfg, const char *section, const char *name, const char *fmt,
                         ...) {
  wh_elem_error *e = NULL;
  for (size_t i = 0; i < cfg->n_elem_errors; i++)
    if (strcmp(cfg->elem_errors[i].section, section) == 0 &&
        strcmp(cfg->elem_errors[i].name, name) == 0)
      e = &cfg->elem_errors[i];
  if (!e) {
    wh_elem_error *ne =
        realloc(cfg->elem_errors, (cfg->n_elem_errors + 1) * sizeof *cfg->elem_errors);
    if (!ne)
      return WH_ENOMEM;
    cfg->elem_errors = ne;
    e = &ne[cfg->n_elem_errors];
    e->section = wh_strdup(section);
    e->name = wh_strdup(name);
    wh_errlist_init(&e->errs);
    if (!e->section || !e->name) {
      free(e->section);
      free(e->name);
      return WH_ENOMEM;
    }
    cfg->n_elem_errors++;
  }
  size_t before = e->errs.n;
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(&e->errs, fmt, ap);
  va_end(ap);
  return e->errs.n > before ? 0 : WH_ENOMEM;
}

/* ---------------------------------------------------------------------------
 * Provider labels */

void wh_docker_plabels_free(wh_docker_plabels *p) {
  if (p) {
    free(p->network);
    p->network = NULL;
  }
}

static int plabel_bool(const char *key, const char *v, bool *out, wh_errlist *errs) {
  if (wh_parse_bool(v, out)) {
    wh_errlist_add(errs, "label %s: invalid boolean \"%.64s\"", key, v);
    return WH_EINVAL;
  }
  return 0;
}

int wh_docker_plabels_parse(const wh_docker_container *c, wh_docker_plabels *out,
                            wh_errlist *errs) {
  memset(out, 0, sizeof *out);
  out->enable = -1;
  int rc = 0;
  static const char *const docker_keys[] = {"network", "allownonrunning", "lbswarm"};
  for (size_t i = 0; i < c->nlabels; i++) {
    const char *k = c->label_keys[i], *v = c->label_values[i];
    if (strcasecmp(k, "traefik.enable") == 0) {
      bool b;
      if (plabel_bool(k, v, &b, errs))
        rc = WH_EINVAL;
      else
        out->enable = b;
    } else if (wh_str_has_caseprefix(k, "traefik.docker.")) {
      const char *sub = k + strlen("traefik.docker.");
      if (strcasecmp(sub, "network") == 0) {
        free(out->network);
        if (!(out->network = wh_strdup(v))) {
          wh_errlist_add(errs, "out of memory");
          rc = WH_ENOMEM;
        }
      } else if (strcasecmp(sub, "allownonrunning") == 0) {
        if (plabel_bool(k, v, &out->allow_nonrunning, errs))
          rc = WH_EINVAL;
      } else if (strcasecmp(sub, "lbswarm") == 0) {
        if (plabel_bool(k, v, &out->lbswarm, errs))
          rc = WH_EINVAL;
      } else {
        const char *s = wh_str_suggest(sub, docker_keys, 3);
        if (s)
          wh_errlist_add(errs, "label %.200s: unknown key (did you mean \"traefik.docker.%s\"?)", k,
                         s);
        else
          wh_errlist_add(errs,
                         "label %.200s: unknown key (known: traefik.docker.network, "
                         "traefik.docker.allownonrunning, traefik.docker.lbswarm)",
                         k);
        rc = WH_EINVAL;
      }
    } else if (wh_str_has_caseprefix(k, "traefik.enable.")) {
      wh_errlist_add(errs, "label %.200s: unknown key (traefik.enable takes no sub-keys)", k);
      rc = WH_EINVAL;
    }
  }
  return rc;
}

/* ---------------------------------------------------------------------------
 * Dynamic labels -> tree */

typedef struct pending {
  char *section, *name, *msg;
} pending;

typedef struct lctx {
  wh_node *root;
  wh_errlist *errs;
  pending *pend;
  size_t npend;
  bool oom;
} lctx;

static void add_pending(lctx *x, const char *section, const char *name, char *msg) {
  pending *np = realloc(x->pend, (x->npend + 1) * sizeof *np);
  char *s = wh_strdup(section), *n = wh_strdup(name);
  if (!np || !msg || !s || !n) {
    if (np)
      x->pend = np;
    free(msg);
    free(s);
    free(n);
    x->oom = true;
    return;
  }
  x->pend = np;
  np[x->npend++] = (pending){s, n, msg};
}

static const wh_field *field_ci(const wh_schema *s, const char *key) {
  for (size_t i = 0; s && i < s->nfields; i++)
    if (strcasecmp(s->fields[i].name, key) == 0)
      return &s->fields[i];
  return NULL;
}

/* Canonical "http.routers" for the first two segments, or NULL. */
static char *canonical_section(const char *a, const char *b) {
  const wh_field *f1 = field_ci(&wh_schema_dyn_config, a);
  const wh_field *f2 = f1 ? field_ci(f1->sub, b) : NULL;
  return f2 ? wh_asprintf("%s.%s", f1->name, f2->name) : NULL;
}

/* Sets value at path under x->root. A node that gets both a value and
 * children is a map carrying a value. */
static void tree_set(lctx *x, char **segs, size_t n, const char *value, bool as_map) {
  wh_node *cur = x->root;
  for (size_t i = 0; i < n; i++) {
    wh_node *ch = wh_node_get(cur, segs[i], true);
    bool last = i + 1 == n;
    if (last && as_map) {
      if (!ch) {
        if (!(ch = wh_node_new(WH_NODE_MAP, segs[i], NULL)) || wh_node_append(cur, ch)) {
          wh_node_free(ch);
          x->oom = true;
        }
      }
      return;
    }
    if (!ch) {
      ch = wh_node_new(last ? WH_NODE_SCALAR : WH_NODE_MAP, segs[i], last ? value : NULL);
      if (!ch || wh_node_append(cur, ch)) {
        wh_node_free(ch);
        x->oom = true;
        return;
      }
      ch->source = SOURCE;
    } else if (last) {
      char *v = wh_strdup(value);
      if (!v) {
        x->oom = true;
        return;
      }
      free(ch->value);
      ch->value = v;
    } else if (ch->kind == WH_NODE_SCALAR) {
      ch->kind = WH_NODE_MAP; /* keeps its value: "tls=true" + "tls.options=x" */
    }
    cur = ch;
  }
}

static void top_error(lctx *x, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void top_error(lctx *x, const char *key, const char *fmt, ...) {
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  wh_errlist_add(x->errs, "label %.200s: %s", key, msg ? msg : "out of memory");
  free(msg);
}

/* One traefik.* label of the dynamic configuration (or an error). */
static void add_label(lctx *x, const char *key, const char *value) {
  char *copy = wh_strdup(key);
  if (!copy) {
    x->oom = true;
    return;
  }
  char *segs[MAX_SEGS + 1];
  char *path[MAX_SEGS * 2 + 2];
  size_t n = 0, np = 0;
  char *section = NULL;
  bool too_many = false;
  for (char *p = copy;;) {
    char *dot = strchr(p, '.');
    if (n == MAX_SEGS) {
      too_many = true;
      break;
    }
    segs[n++] = p;
    if (!dot)
      break;
    *dot = '\0';
    p = dot + 1;
  }
  if (too_many) {
    top_error(x, key, "too many segments");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (!*segs[i]) {
      top_error(x, key, "empty segment (keys are traefik.<section>.<kind>.<name>.<option>)");
      goto out;
    }
  if (strcmp(segs[0], "traefik") != 0) {
    top_error(x, key, "the prefix must be lowercase \"traefik\"");
    goto out;
  }
  const char *s1 = segs[1];
  if (strcasecmp(s1, "enable") == 0 || strcasecmp(s1, "docker") == 0)
    goto out; /* provider labels */
  bool is_tls = strcasecmp(s1, "tls") == 0;
  if (!is_tls && strcasecmp(s1, "http") && strcasecmp(s1, "tcp") && strcasecmp(s1, "udp")) {
    static const char *const known[] = {"http", "tcp", "udp", "tls", "enable", "docker"};
    const char *s = wh_str_suggest(s1, known, 6);
    if (s)
      top_error(x, key, "unknown key \"%s\" (did you mean \"traefik.%s\"?)", s1, s);
    else
      top_error(x, key,
                "unknown key \"%s\" (expected traefik.http, traefik.tcp, traefik.udp, "
                "traefik.tls.stores.default or a provider label)",
                s1);
    goto out;
  }
  if (is_tls && (n < 4 || strcasecmp(segs[2], "stores") || strcasecmp(segs[3], "default"))) {
    top_error(x, key, "only traefik.tls.stores.default.* can be set with labels");
    goto out;
  }
  if (!is_tls && n >= 3 && strcasecmp(segs[2], "serversTransports") == 0) {
    top_error(x, key, "servers transports cannot be defined with labels (use the file provider)");
    goto out;
  }
  section = n >= 4 ? canonical_section(s1, segs[2]) : NULL;
  const char *elem = n >= 4 ? segs[3] : NULL;
  for (size_t i = 1; i < n; i++) {
    char *s = segs[i];
    bool in_elem = i >= 4;
    if (in_elem && s[0] == '[') {
      if (section)
        add_pending(x, section, elem,
                    wh_asprintf("%s: a key segment may not start with \"[\"", key));
      goto bad_elem;
    }
    /* loadbalancer.server.* is the one server of the list. */
    if (i == 5 && !is_tls && strcasecmp(segs[2], "services") == 0 &&
        strcasecmp(segs[4], "loadBalancer") == 0) {
      if (strncasecmp(s, "servers", 7) == 0 && (s[7] == '\0' || s[7] == '[')) {
        if (section)
          add_pending(x, section, elem,
                      wh_asprintf("%s: not settable with labels (use loadbalancer.server.*)", key));
        goto bad_elem;
      }
      if (strcasecmp(s, "server") == 0) {
        path[np++] = "servers";
        path[np++] = "0";
        continue;
      }
    }
    char *br = in_elem ? strchr(s, '[') : NULL;
    if (br) {
      size_t len = strlen(br);
      bool ok = len >= 3 && br[len - 1] == ']';
      for (size_t j = 1; ok && j + 1 < len; j++)
        ok = br[j] >= '0' && br[j] <= '9';
      if (!ok) {
        if (section)
          add_pending(x, section, elem,
                      wh_asprintf("%s: bad index in \"%s\" (expected name[N])", key, s));
        goto bad_elem;
      }
      *br = '\0';
      br[len - 1] = '\0';
      path[np++] = s;
      path[np++] = br + 1;
      continue;
    }
    path[np++] = s;
  }
  tree_set(x, path, np, value, false);
  goto out;
bad_elem:
  /* The element must exist for its error to disable it. */
  if (section)
    tree_set(x, segs + 1, 3, NULL, true);
out:
  free(section);
  free(copy);
}

/* The decoder names a label server "servers.0"; users wrote "server". */
static void rename_server_paths(wh_dyn_config *cfg) {
  for (size_t i = 0; i < cfg->n_elem_errors; i++) {
    wh_errlist *l = &cfg->elem_errors[i].errs;
    for (size_t j = 0; j < l->n; j++) {
      char *p = strstr(l->items[j], "servers.0");
      if (!p)
        p = strstr(l->items[j], "servers[0]");
      if (!p)
        continue;
      size_t n = p[7] == '[' ? 10 : 9;
      if (p[n] != '.' && p[n] != ':' && p[n] != '\0')
        continue;
      memcpy(p, "server", 6);
      memmove(p + 6, p + n, strlen(p + n) + 1);
    }
  }
}

wh_dyn_config *wh_docker_labels_decode(const wh_docker_container *c, wh_errlist *errs) {
  wh_errlist sink;
  wh_errlist_init(&sink);
  lctx x = {.errs = errs ? errs : &sink};
  x.root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  wh_dyn_config *cfg = NULL;
  if (!x.root)
    goto out;
  for (size_t i = 0; i < c->nlabels && !x.oom; i++)
    if (wh_str_has_caseprefix(c->label_keys[i], "traefik."))
      add_label(&x, c->label_keys[i], c->label_values[i]);
  if (x.oom)
    goto out;
  cfg = wh_dyn_config_decode(x.root, SOURCE, x.errs);
  if (!cfg)
    goto out;
  rename_server_paths(cfg);
  for (size_t i = 0; i < x.npend; i++)
    if (wh_docker_elem_error(cfg, x.pend[i].section, x.pend[i].name, "%s", x.pend[i].msg)) {
      wh_dyn_config_free(cfg);
      cfg = NULL;
      goto out;
    }
out:
  for (size_t i = 0; i < x.npend; i++) {
    free(x.pend[i].section);
    free(x.pend[i].name);
    free(x.pend[i].msg);
  }
  free(x.pend);
  wh_node_free(x.root);
  wh_errlist_free(&sink);
  return cfg;
}
