/* Rule explanations. Each leaf is decided by running the real matcher on a one-leaf rule that
 * borrows the node, so the verdict cannot drift from the data plane's; only the combination of
 * leaves (which mirrors match_http.c's eval) and the wording live here. */
#include "lib/rules/explain.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "lib/rules/rules_internal.h"

#define SHOW_MAX 200 /* bytes of a request value quoted in a message */

typedef struct ectx {
  const wh_rule *r;
  const char *src;
  size_t srclen;
  const wh_http_req_view *hreq;
  const wh_tcp_conn_view *tconn;
  bool oom;
} ectx;

static void put(ectx *c, wh_strbuf *b, const char *s) {
  if (wh_strbuf_puts(b, s) != 0)
    c->oom = true;
}

static void putn(ectx *c, wh_strbuf *b, const char *s, size_t n) {
  if (wh_strbuf_append(b, s, n) != 0)
    c->oom = true;
}

/* A request value as quoted in a message: control bytes shown as '?', long values cut. */
static void put_value(ectx *c, wh_strbuf *b, const char *v) {
  size_t n = strlen(v);
  for (size_t i = 0; i < n && i < SHOW_MAX; i++) {
    char ch = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
    putn(c, b, &ch, 1);
  }
  if (n > SHOW_MAX)
    put(c, b, "...");
}

static char *take(ectx *c, wh_strbuf *b) {
  if (c->oom) {
    wh_strbuf_free(b);
    return NULL;
  }
  char *s = wh_strbuf_take(b);
  if (!s)
    s = wh_strdup("");
  if (!s)
    c->oom = true;
  return s;
}

/* ---- evaluation ---- */

/* Whether the subtree n matches, answered by the data plane's own matcher
 * run on that subtree (a wh_rule whose root is n), so that an explanation can
 * never disagree with the routing it explains. */
static bool eval(const ectx *c, const wh_rules_node *n) {
  wh_rule one = {.root = (wh_rules_node *)n, .proto = c->r->proto, .syntax = c->r->syntax};
  return c->hreq ? wh_rule_match_http(&one, c->hreq) : wh_rule_match_tcp(&one, c->tconn);
}

/* ---- quoting the rule ---- */

static void put_quoted(ectx *c, wh_strbuf *b, const char *s) {
  if (!strchr(s, '`')) {
    put(c, b, "`");
    put(c, b, s);
    put(c, b, "`");
    return;
  }
  put(c, b, "\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      put(c, b, "\\");
    putn(c, b, s, 1);
  }
  put(c, b, "\"");
}

/* The leaf's span in the source: from its name to its ')'. False when src is not the text the
 * rule came from (the name at pos is not the leaf's matcher). */
static bool source_span(const ectx *c, const wh_rules_node *n, size_t *len) {
  if (!c->src || n->pos >= c->srclen)
    return false;
  wh_rules_lexer lx;
  wh_rules_lexer_init(&lx, c->src, c->srclen);
  lx.pos = n->pos;
  wh_rule_error err;
  wh_rules_tok t;
  if (wh_rules_lexer_next(&lx, &t, &err) != 0)
    return false;
  free(t.str);
  size_t nl = strlen(n->def->name);
  if (t.kind != WH_RTOK_IDENT || t.pos != n->pos || t.len != nl ||
      strncasecmp(c->src + t.pos, n->def->name, nl) != 0)
    return false;
  for (;;) {
    if (wh_rules_lexer_next(&lx, &t, &err) != 0)
      return false;
    free(t.str);
    if (t.kind == WH_RTOK_RPAREN) {
      *len = t.pos + 1 - n->pos;
      return true;
    }
    if (t.kind == WH_RTOK_EOF)
      return false;
  }
}

static void put_node(ectx *c, wh_strbuf *b, const wh_rules_node *n) {
  switch (n->kind) {
  case WH_RN_LEAF: {
    size_t len;
    if (source_span(c, n, &len)) {
      putn(c, b, c->src + n->pos, len);
      return;
    }
    put(c, b, n->def->name);
    put(c, b, "(");
    for (size_t i = 0; i < n->nargs; i++) {
      if (i)
        put(c, b, ", ");
      put_quoted(c, b, n->args[i].raw);
    }
    put(c, b, ")");
    return;
  }
  case WH_RN_NOT:
    put(c, b, "!");
    put_node(c, b, n->kids[0]);
    return;
  case WH_RN_AND:
  case WH_RN_OR:
    put(c, b, "(");
    for (size_t i = 0; i < n->nkids; i++) {
      if (i)
        put(c, b, n->kind == WH_RN_AND ? " && " : " || ");
      put_node(c, b, n->kids[i]);
    }
    put(c, b, ")");
    return;
  }
}

/* ---- what the request had ---- */

static void put_addr(ectx *c, wh_strbuf *b, const struct sockaddr *sa) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (sa && sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
  else if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
  if (*ip) {
    put(c, b, "client ");
    put(c, b, ip);
  } else {
    put(c, b, "no client address");
  }
}

static void had_header(ectx *c, wh_strbuf *b, const char *name, bool *absent) {
  const wh_http_req_view *q = c->hreq;
  size_t found = 0;
  for (size_t i = 0; i < q->nheaders; i++) {
    if (!q->hdr_names[i] || strcasecmp(q->hdr_names[i], name) != 0)
      continue;
    put(c, b, found++ ? ", " : "header ");
    if (found == 1) {
      put_value(c, b, name);
      put(c, b, ": ");
    }
    put_value(c, b, q->hdr_values[i] ? q->hdr_values[i] : "");
  }
  if (!found) {
    *absent = true;
    put(c, b, "no ");
    put_value(c, b, name);
    put(c, b, " header");
  }
}

/* The request property a leaf looks at, e.g. "host b.example"; *absent when the request does
 * not have it at all ("no Host header"), which reads better after a colon. */
static void had(ectx *c, wh_strbuf *b, const wh_rules_node *n, bool *absent) {
  *absent = false;
  const wh_http_req_view *q = c->hreq;
  const wh_tcp_conn_view *t = c->tconn;
  switch (n->def->kind) {
  case WH_RM_HOST:
  case WH_RM_HOSTREGEXP: {
    char hb[256];
    size_t hl = q->host ? wh_rules_canon_host(q->host, hb, sizeof hb) : 0;
    if (hl == (size_t)-1) {
      put(c, b, "host ");
      put_value(c, b, q->host);
    } else if (hl == 0) {
      *absent = true;
      put(c, b, "no Host header");
    } else {
      put(c, b, "host ");
      put_value(c, b, hb);
    }
    return;
  }
  case WH_RM_PATH:
  case WH_RM_PATHPREFIX:
  case WH_RM_PATHREGEXP:
    put(c, b, "path ");
    put_value(c, b, q->path ? q->path : "");
    return;
  case WH_RM_METHOD:
    put(c, b, "method ");
    put_value(c, b, q->method ? q->method : "");
    return;
  case WH_RM_HEADER:
  case WH_RM_HEADERREGEXP:
    had_header(c, b, n->args[0].raw, absent);
    return;
  case WH_RM_QUERY:
  case WH_RM_QUERYREGEXP:
    if (!q->query || !*q->query) {
      *absent = true;
      put(c, b, "no query string");
    } else {
      put(c, b, "query ");
      put_value(c, b, q->query);
    }
    return;
  case WH_RM_CLIENTIP:
    put_addr(c, b, q ? q->client : t->client);
    *absent = !(q ? q->client : t->client);
    return;
  case WH_RM_HOSTSNI:
  case WH_RM_HOSTSNIREGEXP:
    if (t && t->sni && *t->sni) {
      put(c, b, "SNI ");
      put_value(c, b, t->sni);
    } else {
      *absent = true;
      put(c, b, t && t->is_tls ? "no SNI" : "no SNI (not a TLS connection)");
    }
    return;
  case WH_RM_ALPN:
    if (!t || !t->nalpn) {
      *absent = true;
      put(c, b, "no ALPN protocols");
      return;
    }
    put(c, b, "ALPN ");
    for (size_t i = 0; i < t->nalpn; i++) {
      if (i)
        put(c, b, ", ");
      put_value(c, b, t->alpn[i] ? t->alpn[i] : "");
    }
    return;
  }
}

/* ---- sentences ---- */

static void why_fail(ectx *c, const wh_rules_node *n, wh_strbuf *reason, wh_strbuf *matcher,
                     wh_strbuf *request);

/* One sentence for a node that matched: what made it match. */
static void why_match(ectx *c, const wh_rules_node *n, wh_strbuf *out) {
  switch (n->kind) {
  case WH_RN_LEAF: {
    bool absent;
    put_node(c, out, n);
    wh_strbuf h = {0};
    had(c, &h, n, &absent);
    put(c, out, absent ? " matched: " : " matched ");
    put(c, out, wh_strbuf_cstr(&h));
    wh_strbuf_free(&h);
    return;
  }
  case WH_RN_NOT: {
    wh_strbuf m = {0}, r = {0};
    why_fail(c, n->kids[0], out, &m, &r);
    wh_strbuf_free(&m);
    wh_strbuf_free(&r);
    return;
  }
  case WH_RN_AND:
    for (size_t i = 0; i < n->nkids; i++) {
      if (i)
        put(c, out, " and ");
      why_match(c, n->kids[i], out);
    }
    return;
  case WH_RN_OR:
    for (size_t i = 0; i < n->nkids; i++)
      if (eval(c, n->kids[i])) {
        why_match(c, n->kids[i], out);
        return;
      }
    return;
  }
}

/* For a node that did not match: the sentence, the deciding matcher and what the request had
 * for it (the first alternative's, for an Or). */
static void why_fail(ectx *c, const wh_rules_node *n, wh_strbuf *reason, wh_strbuf *matcher,
                     wh_strbuf *request) {
  switch (n->kind) {
  case WH_RN_LEAF: {
    bool absent;
    put_node(c, matcher, n);
    had(c, request, n, &absent);
    put(c, reason, wh_strbuf_cstr(matcher));
    put(c, reason, absent ? " did not match: " : " did not match ");
    put(c, reason, wh_strbuf_cstr(request));
    return;
  }
  case WH_RN_NOT:
    put_node(c, matcher, n);
    why_match(c, n->kids[0], request);
    put(c, reason, wh_strbuf_cstr(matcher));
    put(c, reason, " did not match: ");
    put(c, reason, wh_strbuf_cstr(request));
    return;
  case WH_RN_AND:
    for (size_t i = 0; i < n->nkids; i++)
      if (!eval(c, n->kids[i])) {
        why_fail(c, n->kids[i], reason, matcher, request);
        return;
      }
    return;
  case WH_RN_OR:
    put(c, reason, "no alternative matched: ");
    for (size_t i = 0; i < n->nkids; i++) {
      wh_strbuf r = {0}, m = {0}, q = {0};
      why_fail(c, n->kids[i], &r, &m, &q);
      if (i)
        put(c, reason, "; ");
      put(c, reason, wh_strbuf_cstr(&r));
      if (i == 0) {
        put(c, matcher, wh_strbuf_cstr(&m));
        put(c, request, wh_strbuf_cstr(&q));
      }
      wh_strbuf_free(&r);
      wh_strbuf_free(&m);
      wh_strbuf_free(&q);
    }
    return;
  }
}

static int explain(ectx *c, wh_rule_why *out, wh_rule_proto proto) {
  memset(out, 0, sizeof *out);
  if (!c->r || c->r->proto != proto) {
    out->reason = wh_strdup(proto == WH_RULE_HTTP ? "not an HTTP rule" : "not a TCP rule");
    return out->reason ? 0 : -1;
  }
  c->srclen = c->src ? strnlen(c->src, WH_RULE_MAX_LEN + 1) : 0;
  out->matched = eval(c, c->r->root);
  if (out->matched)
    return 0;
  wh_strbuf reason = {0}, matcher = {0}, request = {0};
  why_fail(c, c->r->root, &reason, &matcher, &request);
  out->reason = take(c, &reason);
  out->matcher = take(c, &matcher);
  out->request = take(c, &request);
  if (c->oom) {
    bool m = out->matched;
    wh_rule_why_free(out);
    out->matched = m;
    return -1;
  }
  return 0;
}

int wh_rule_explain_http(const wh_rule *r, const char *src, const wh_http_req_view *req,
                         wh_rule_why *out) {
  ectx c = {.r = r, .src = src, .hreq = req};
  return explain(&c, out, WH_RULE_HTTP);
}

int wh_rule_explain_tcp(const wh_rule *r, const char *src, const wh_tcp_conn_view *conn,
                        wh_rule_why *out) {
  ectx c = {.r = r, .src = src, .tconn = conn};
  return explain(&c, out, WH_RULE_TCP);
}

void wh_rule_why_free(wh_rule_why *w) {
  if (!w)
    return;
  free(w->matcher);
  free(w->request);
  free(w->reason);
  memset(w, 0, sizeof *w);
}
