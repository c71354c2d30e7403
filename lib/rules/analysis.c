/* Questions other modules ask about a parsed rule: its exact-host set for the route table's hash
 * index, which matchers it uses, ACME domains, and its canonical text. */
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/rules/rules_internal.h"

/* A set of canonical host names; NULL-able "infinite" is represented by inf = true. */
typedef struct hostset {
  bool inf;
  char **v;
  size_t n;
} hostset;

static void hs_free(hostset *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

static bool hs_has(const hostset *s, const char *h) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], h) == 0)
      return true;
  return false;
}

static int hs_add(hostset *s, const char *h) {
  if (hs_has(s, h))
    return 0;
  char **nv = realloc(s->v, (s->n + 1) * sizeof *nv);
  if (!nv)
    return -1;
  s->v = nv;
  if (!(s->v[s->n] = wh_strdup(h)))
    return -1;
  s->n++;
  return 0;
}

/* Computes the set of hosts a request must have for n to match. */
static int hosts_of(const wh_rules_node *n, hostset *out) {
  memset(out, 0, sizeof *out);
  switch (n->kind) {
  case WH_RN_NOT:
    out->inf = true;
    return 0;
  case WH_RN_LEAF:
    if (n->def->kind != WH_RM_HOST) {
      out->inf = true;
      return 0;
    }
    for (size_t i = 0; i < n->nargs; i++) {
      const wh_rules_arg *a = &n->args[i];
      if (a->any || a->wildcard) {
        hs_free(out);
        out->inf = true;
        return 0;
      }
      char *h = wh_strdup(a->val);
      if (!h)
        return -1;
      size_t l = strlen(h);
      if (l > 1 && h[l - 1] == '.')
        h[l - 1] = '\0';
      int rc = hs_add(out, h);
      free(h);
      if (rc)
        return -1;
    }
    return 0;
  case WH_RN_AND:
  case WH_RN_OR: {
    bool is_and = n->kind == WH_RN_AND;
    out->inf = true;
    for (size_t k = 0; k < n->nkids; k++) {
      hostset c;
      if (hosts_of(n->kids[k], &c) != 0) {
        hs_free(&c);
        return -1;
      }
      if (is_and) {
        if (c.inf)
          continue;
        if (out->inf) {
          *out = c;
          continue;
        }
        /* intersection, in place */
        size_t w = 0;
        for (size_t i = 0; i < out->n; i++) {
          if (hs_has(&c, out->v[i]))
            out->v[w++] = out->v[i];
          else
            free(out->v[i]);
        }
        out->n = w;
        hs_free(&c);
      } else {
        if (c.inf) {
          hs_free(out);
          out->inf = true;
          return 0;
        }
        if (k == 0) {
          *out = c;
          continue;
        }
        for (size_t i = 0; i < c.n; i++) {
          if (hs_add(out, c.v[i]) != 0) {
            hs_free(&c);
            return -1;
          }
        }
        hs_free(&c);
      }
    }
    return 0;
  }
  }
  return 0;
}

int wh_rules_compute_exact_hosts(wh_rule *r) {
  if (r->proto != WH_RULE_HTTP)
    return 0;
  hostset s;
  if (hosts_of(r->root, &s) != 0) {
    hs_free(&s);
    return -1;
  }
  if (s.inf || s.n == 0) {
    /* An empty intersection (Host(`a`) && Host(`b`)) matches nothing; reporting "any host"
     * keeps the index simple and is still correct. */
    hs_free(&s);
    return 0;
  }
  r->exact_hosts = s.v;
  r->nexact = s.n;
  return 0;
}

size_t wh_rule_exact_hosts(const wh_rule *r, const char *const **hosts) {
  if (!r || r->nexact == 0) {
    if (hosts)
      *hosts = NULL;
    return 0;
  }
  if (hosts)
    *hosts = (const char *const *)r->exact_hosts;
  return r->nexact;
}

static bool uses(const wh_rules_node *n, const char *m) {
  if (n->kind == WH_RN_LEAF)
    return strcmp(n->def->name, m) == 0 ||
           (strcmp(m, "Host") == 0 && strcmp(n->def->name, "HostHeader") == 0);
  for (size_t i = 0; i < n->nkids; i++)
    if (uses(n->kids[i], m))
      return true;
  return false;
}

bool wh_rule_uses(const wh_rule *r, const char *matcher) {
  return r && matcher && uses(r->root, matcher);
}

bool wh_rule_is_catchall_sni(const wh_rule *r) {
  if (!r)
    return false;
  const wh_rules_node *n = r->root;
  return n->kind == WH_RN_LEAF && n->def->kind == WH_RM_HOSTSNI && n->nargs == 1 && n->args[0].any;
}

static int collect(const wh_rules_node *n, wh_rules_mkind kind, char ***out, size_t *cnt) {
  if (n->kind != WH_RN_LEAF) {
    for (size_t i = 0; i < n->nkids; i++)
      if (collect(n->kids[i], kind, out, cnt) != 0)
        return -1;
    return 0;
  }
  if (n->def->kind != kind)
    return 0;
  for (size_t i = 0; i < n->nargs; i++) {
    char **nv = realloc(*out, (*cnt + 1) * sizeof *nv);
    if (!nv)
      return -1;
    *out = nv;
    char *s = wh_strdup(n->args[i].raw);
    if (!s)
      return -1;
    wh_str_lower(s);
    nv[(*cnt)++] = s;
  }
  return 0;
}

size_t wh_rule_host_values(const wh_rule *r, char ***out) {
  *out = NULL;
  size_t cnt = 0;
  if (!r)
    return 0;
  if (collect(r->root, r->proto == WH_RULE_TCP ? WH_RM_HOSTSNI : WH_RM_HOST, out, &cnt) != 0) {
    wh_strv_free(*out, cnt);
    *out = NULL;
    return 0;
  }
  return cnt;
}

typedef struct textout {
  wh_strbuf b;
  bool bad; /* an append failed: the text would be truncated */
} textout;

static void app(textout *o, const char *s, size_t n) {
  if (wh_strbuf_append(&o->b, s, n) != 0)
    o->bad = true;
}

static void puts_(textout *o, const char *s) {
  app(o, s, strlen(s));
}

/* Backticks when the value can be written raw (Go raw strings cannot hold '`', drop '\r' and
 * must be valid UTF-8), else a double-quoted literal with escapes. */
static void put_string(textout *o, const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  size_t len = strlen(s);
  bool raw = true;
  for (size_t i = 0; i < len && raw;) {
    size_t l = wh_rules_utf8_len(u + i, len - i);
    if (!l || u[i] == '`' || u[i] == '\r')
      raw = false;
    i += l ? l : 1;
  }
  if (raw) {
    puts_(o, "`");
    puts_(o, s);
    puts_(o, "`");
    return;
  }
  puts_(o, "\"");
  for (size_t i = 0; i < len;) {
    unsigned char c = u[i];
    size_t l = wh_rules_utf8_len(u + i, len - i);
    switch (c) {
    case '"':
      puts_(o, "\\\"");
      break;
    case '\\':
      puts_(o, "\\\\");
      break;
    case '\n':
      puts_(o, "\\n");
      break;
    case '\r':
      puts_(o, "\\r");
      break;
    case '\t':
      puts_(o, "\\t");
      break;
    default:
      if (c < 0x20 || c == 0x7f || !l) {
        static const char hex[] = "0123456789abcdef";
        char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        app(o, e, 4);
        l = 1;
      } else {
        app(o, s + i, l);
      }
      i += l;
      continue;
    }
    i++;
  }
  puts_(o, "\"");
}

static void print_node(textout *o, const wh_rules_node *n) {
  switch (n->kind) {
  case WH_RN_LEAF:
    puts_(o, n->def->name);
    puts_(o, "(");
    for (size_t i = 0; i < n->nargs; i++) {
      if (i)
        puts_(o, ", ");
      put_string(o, n->args[i].raw);
    }
    puts_(o, ")");
    return;
  case WH_RN_NOT:
    puts_(o, "!");
    print_node(o, n->kids[0]);
    return;
  case WH_RN_AND:
  case WH_RN_OR:
    puts_(o, "(");
    for (size_t i = 0; i < n->nkids; i++) {
      if (i)
        puts_(o, n->kind == WH_RN_AND ? " && " : " || ");
      print_node(o, n->kids[i]);
    }
    puts_(o, ")");
    return;
  }
}

char *wh_rule_to_string(const wh_rule *r) {
  if (!r)
    return NULL;
  textout o = {{0}, false};
  print_node(&o, r->root);
  if (o.bad) {
    wh_strbuf_free(&o.b);
    return NULL;
  }
  return wh_strbuf_take(&o.b);
}
