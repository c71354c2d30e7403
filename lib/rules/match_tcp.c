/* Evaluation of TCP rules against what is known before any byte is proxied: the SNI, the ALPN
 * offer and the peer address. Only HostSNI(`*`) matches a connection that is not TLS. */
#include <string.h>

#include "lib/rules/rules_internal.h"

typedef struct tctx {
  const wh_tcp_conn_view *conn;
  char sni[256];
  size_t snilen;
  bool has_sni; /* TLS with a usable SNI (not longer than a DNS name can be) */
} tctx;

static bool match_arg(const tctx *c, const wh_rules_node *n, const wh_rules_arg *a) {
  switch (n->def->kind) {
  case WH_RM_HOSTSNI:
    if (a->any)
      return true;
    if (!c->has_sni)
      return false;
    if (a->wildcard)
      return wh_rules_host_wild(a->val, c->sni, c->snilen);
    return wh_rules_host_eq(a->val, strlen(a->val), c->sni, c->snilen);
  case WH_RM_HOSTSNIREGEXP:
    return c->has_sni && wh_rules_re_match(a->re, c->sni, c->snilen);
  case WH_RM_ALPN:
    for (size_t i = 0; i < c->conn->nalpn; i++)
      if (c->conn->alpn[i] && strcmp(c->conn->alpn[i], a->raw) == 0)
        return true;
    return false;
  case WH_RM_CLIENTIP:
    return wh_rules_ipnet_contains(&a->net, c->conn->client);
  default:
    return false;
  }
}

static bool eval(const tctx *c, const wh_rules_node *n) {
  switch (n->kind) {
  case WH_RN_NOT:
    return !eval(c, n->kids[0]);
  case WH_RN_AND:
    for (size_t i = 0; i < n->nkids; i++)
      if (!eval(c, n->kids[i]))
        return false;
    return true;
  case WH_RN_OR:
    for (size_t i = 0; i < n->nkids; i++)
      if (eval(c, n->kids[i]))
        return true;
    return false;
  case WH_RN_LEAF:
    for (size_t i = 0; i < n->nargs; i++)
      if (match_arg(c, n, &n->args[i]))
        return true;
    return false;
  }
  return false;
}

bool wh_rule_match_tcp(const wh_rule *r, const wh_tcp_conn_view *conn) {
  if (!r || !conn || r->proto != WH_RULE_TCP)
    return false;
  tctx c = {.conn = conn};
  if (conn->is_tls && conn->sni && conn->sni[0]) {
    size_t n = strlen(conn->sni);
    if (n < sizeof c.sni) {
      for (size_t i = 0; i < n; i++) {
        char ch = conn->sni[i];
        c.sni[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
      }
      c.sni[n] = '\0';
      c.snilen = n;
      c.has_sni = true;
    }
  }
  return eval(&c, r->root);
}
