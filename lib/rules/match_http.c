/* Evaluation of HTTP rules against a request view. The canonical host and the decoded query are
 * computed at most once per call, and only when a matcher needs them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/rules/rules_internal.h"

typedef struct qpair {
  const char *k, *v;
} qpair;

typedef struct hctx {
  const wh_http_req_view *req;
  /* canonical host */
  bool host_done;
  char *host; /* hostbuf or heap */
  size_t hostlen;
  char hostbuf[256];
  /* decoded query */
  bool query_done;
  qpair *pairs;
  size_t npairs;
  char *qbuf;
} hctx;

static const char *canon_host(hctx *c, size_t *len) {
  if (!c->host_done) {
    c->host_done = true;
    size_t n = wh_rules_canon_host(c->req->host, c->hostbuf, sizeof c->hostbuf);
    if (n != (size_t)-1) {
      c->host = c->hostbuf;
      c->hostlen = n;
    } else {
      size_t cap = strlen(c->req->host) + 1;
      char *h = malloc(cap);
      if (h && (n = wh_rules_canon_host(c->req->host, h, cap)) != (size_t)-1) {
        c->host = h;
        c->hostlen = n;
      } else {
        free(h);
      }
    }
  }
  *len = c->hostlen;
  return c->host;
}

static int hexv(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Go's url.QueryUnescape of s[0..n) into out; -1 on a bad escape. */
static int unescape(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+') {
      out[o++] = ' ';
    } else if (s[i] == '%') {
      int h, l;
      if (i + 2 >= n || (h = hexv(s[i + 1])) < 0 || (l = hexv(s[i + 2])) < 0)
        return -1;
      out[o++] = (char)(h * 16 + l);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return 0;
}

/* Go's url.ParseQuery, with ';' as a separator too. Pairs whose escapes are bad are dropped. */
static void parse_query(hctx *c) {
  c->query_done = true;
  const char *q = c->req->query;
  if (!q || !*q)
    return;
  size_t len = strlen(q), maxp = 1;
  for (size_t i = 0; i < len; i++)
    if (q[i] == '&' || q[i] == ';')
      maxp++;
  /* each pair decodes into at most its own length plus two NULs */
  c->qbuf = malloc(len + 2 * maxp);
  c->pairs = malloc(maxp * sizeof *c->pairs);
  if (!c->qbuf || !c->pairs)
    return;
  char *o = c->qbuf;
  size_t i = 0;
  while (i <= len) {
    size_t e = i;
    while (e < len && q[e] != '&' && q[e] != ';')
      e++;
    if (e > i) {
      const char *eq = memchr(q + i, '=', e - i);
      size_t klen = eq ? (size_t)(eq - (q + i)) : e - i;
      char *k = o;
      if (unescape(q + i, klen, k) == 0) {
        char *v = k + strlen(k) + 1;
        const char *vs = eq ? eq + 1 : q + e;
        if (unescape(vs, (size_t)(q + e - vs), v) == 0) {
          c->pairs[c->npairs].k = k;
          c->pairs[c->npairs].v = v;
          c->npairs++;
          o = v + strlen(v) + 1;
        }
      }
    }
    i = e + 1;
  }
}

static bool header_any(const wh_http_req_view *req, const char *name, const char *value,
                       const wh_rules_re *re) {
  for (size_t i = 0; i < req->nheaders; i++) {
    if (!req->hdr_names[i] || strcasecmp(req->hdr_names[i], name) != 0)
      continue;
    const char *v = req->hdr_values[i] ? req->hdr_values[i] : "";
    if (re ? wh_rules_re_match(re, v, strlen(v)) : (!value || strcmp(v, value) == 0))
      return true;
  }
  return false;
}

static bool query_any(hctx *c, const char *key, const char *value, const wh_rules_re *re) {
  if (!c->query_done)
    parse_query(c);
  for (size_t i = 0; i < c->npairs; i++) {
    if (strcmp(c->pairs[i].k, key) != 0)
      continue;
    const char *v = c->pairs[i].v;
    if (re ? wh_rules_re_match(re, v, strlen(v)) : (!value || strcmp(v, value) == 0))
      return true;
  }
  return false;
}

static bool match_arg(hctx *c, const wh_rules_node *n, const wh_rules_arg *a, bool v2) {
  const wh_http_req_view *req = c->req;
  const char *path = req->path ? req->path : "";
  size_t hl;
  const char *h;
  switch (n->def->kind) {
  case WH_RM_HOST:
    if (a->any)
      return true;
    h = canon_host(c, &hl);
    if (!h || hl == 0)
      return false;
    if (a->wildcard)
      return wh_rules_host_wild(a->val, h, hl);
    return wh_rules_host_eq(a->val, strlen(a->val), h, hl);
  case WH_RM_HOSTREGEXP:
    h = canon_host(c, &hl);
    return h && wh_rules_re_match(a->re, h, hl);
  case WH_RM_PATH:
    if (a->re)
      return wh_rules_re_match(a->re, path, strlen(path));
    return strcmp(path, a->raw) == 0;
  case WH_RM_PATHPREFIX:
    if (a->re)
      return wh_rules_re_match(a->re, path, strlen(path));
    return strncmp(path, a->raw, strlen(a->raw)) == 0;
  case WH_RM_PATHREGEXP:
    return wh_rules_re_match(a->re, path, strlen(path));
  case WH_RM_METHOD:
    return req->method && strcmp(req->method, a->val) == 0;
  case WH_RM_HEADER:
    return header_any(req, n->args[0].raw, a->present_only ? NULL : a->raw, NULL);
  case WH_RM_HEADERREGEXP:
    return header_any(req, n->args[0].raw, NULL, a->re);
  case WH_RM_QUERY:
    if (v2)
      return query_any(c, a->val, a->present_only ? NULL : a->val2, a->re);
    return query_any(c, n->args[0].raw, n->nargs > 1 ? n->args[1].raw : "", NULL);
  case WH_RM_QUERYREGEXP:
    return query_any(c, n->args[0].raw, NULL, a->re);
  case WH_RM_CLIENTIP:
    return wh_rules_ipnet_contains(&a->net, req->client);
  case WH_RM_HOSTSNI:
  case WH_RM_HOSTSNIREGEXP:
  case WH_RM_ALPN:
    return false;
  }
  return false;
}

static bool eval(hctx *c, const wh_rules_node *n, bool v2) {
  switch (n->kind) {
  case WH_RN_NOT:
    return !eval(c, n->kids[0], v2);
  case WH_RN_AND:
    for (size_t i = 0; i < n->nkids; i++)
      if (!eval(c, n->kids[i], v2))
        return false;
    return true;
  case WH_RN_OR:
    for (size_t i = 0; i < n->nkids; i++)
      if (eval(c, n->kids[i], v2))
        return true;
    return false;
  case WH_RN_LEAF:
    break;
  }
  switch (n->def->kind) {
  case WH_RM_HEADER:
  case WH_RM_HEADERREGEXP:
  case WH_RM_QUERYREGEXP:
    return match_arg(c, n, &n->args[1], v2);
  case WH_RM_QUERY:
    if (!v2)
      return match_arg(c, n, &n->args[0], v2);
    /* gorilla's Queries: every pair must be present */
    for (size_t i = 0; i < n->nargs; i++)
      if (!match_arg(c, n, &n->args[i], v2))
        return false;
    return true;
  default:
    /* v2 variadic matchers OR their arguments */
    for (size_t i = 0; i < n->nargs; i++)
      if (match_arg(c, n, &n->args[i], v2))
        return true;
    return false;
  }
}

bool wh_rule_match_http(const wh_rule *r, const wh_http_req_view *req) {
  if (!r || !req || r->proto != WH_RULE_HTTP)
    return false;
  hctx c = {.req = req};
  bool m = eval(&c, r->root, r->syntax == WH_RULE_V2);
  if (c.host != c.hostbuf)
    free(c.host);
  free(c.pairs);
  free(c.qbuf);
  return m;
}
