#include "lib/router/explain.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/rules/explain.h"

const char *wh_route_verdict_name(wh_route_verdict v) {
  switch (v) {
  case WH_ROUTE_WINS:
    return "serves";
  case WH_ROUTE_NO_MATCH:
    return "no match";
  case WH_ROUTE_TLS_MISMATCH:
    return "tls mismatch";
  case WH_ROUTE_SHADOWED:
    return "lower priority";
  case WH_ROUTE_DISABLED:
    return "disabled";
  case WH_ROUTE_OTHER_EP:
    return "other entry point";
  case WH_ROUTE_TCP_TAKES:
    return "tcp router";
  }
  return "";
}

static const char *rule_text(const wh_rt_elem *el) {
  if (!el->cfg)
    return NULL;
  if (el->kind == WH_KIND_HTTP_ROUTER)
    return ((const wh_http_router *)el->cfg)->rule;
  if (el->kind == WH_KIND_TCP_ROUTER)
    return ((const wh_tcp_router *)el->cfg)->rule;
  return NULL;
}

static const wh_strlist *cfg_entrypoints(const wh_rt_elem *el) {
  return el->cfg ? &((const wh_http_router *)el->cfg)->entry_points : NULL;
}

typedef struct builder {
  wh_route_explain *out;
  size_t cap;
  bool oom;
} builder;

/* Appends a candidate taking ownership of reason and of why's strings. */
static void add(builder *b, const wh_rt_elem *el, wh_route_verdict v, char *reason,
                wh_rule_why *why) {
  if (!b->oom && b->out->ncands == b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 16;
    wh_route_cand *nv = realloc(b->out->cands, ncap * sizeof(*nv));
    if (nv) {
      b->out->cands = nv;
      b->cap = ncap;
    } else {
      b->oom = true;
    }
  }
  if (b->oom || (v != WH_ROUTE_WINS && !reason)) {
    b->oom = true;
    free(reason);
    wh_rule_why_free(why);
    return;
  }
  wh_route_cand *c = &b->out->cands[b->out->ncands++];
  memset(c, 0, sizeof(*c));
  c->router = el;
  c->verdict = v;
  c->reason = reason;
  if (why) {
    c->rule_matched = why->matched;
    c->matcher = why->matcher;
    c->request = why->request;
    why->matcher = why->request = NULL;
    wh_rule_why_free(why);
  }
}

/* "prefix" alone when the rule matches, else "prefix; <why it did not>". */
static char *with_rule(const char *prefix, const wh_rule_why *why) {
  if (why->matched)
    return wh_asprintf("%s; its rule matches", prefix);
  return wh_asprintf("%s; its rule does not match either: %s", prefix,
                     why->reason ? why->reason : "");
}

static char *shadow_reason(const wh_rt_elem *el, const wh_rt_elem *winner, const wh_rt_elem *tcp) {
  if (tcp)
    return wh_asprintf("would match, but TCP router %s takes the connection first", tcp->name);
  if (!winner)
    return wh_strdup("would match"); /* not reached: a matching router would have won */
  if (el->priority < winner->priority)
    return wh_asprintf("would match, but priority %" PRId64 " < %" PRId64
                       " of %s, which matched first",
                       el->priority, winner->priority, winner->name);
  return wh_asprintf("would match, but %s has the same priority %" PRId64
                     " and comes first (longer rule, then provider order, then name)",
                     winner->name, el->priority);
}

static char *tls_reason(const wh_route_table *t, const wh_rt_elem *el, bool is_tls) {
  if (is_tls)
    return wh_strdup("serves plaintext (non-TLS) requests only: neither the router nor the entry "
                     "point has tls");
  if (el->tls)
    return wh_strdup("requires TLS (the router has tls)");
  return wh_asprintf("requires TLS (entry point %s has http.tls)", t->entrypoint);
}

static const wh_rt_elem *tcp_taker(const wh_route_table *t, const wh_http_req_view *req,
                                   bool is_tls) {
  if (!t->n_tcp)
    return NULL;
  char sni[256];
  size_t sl = req->host ? wh_rule_index_host(req->host, sni, sizeof(sni)) : 0;
  wh_tcp_conn_view v = {
      .sni = is_tls && sl != (size_t)-1 && sl > 0 ? sni : NULL,
      .is_tls = is_tls,
      .client = req->client,
  };
  for (size_t i = 0; i < t->n_tcp; i++) {
    const wh_rt_elem *el = t->tcp[i];
    if (el->status == WH_STATUS_DISABLED || !el->rule || el->tls != is_tls)
      continue;
    if (wh_rule_match_tcp(el->rule, &v))
      return el;
  }
  return NULL;
}

static bool on_entrypoint(const wh_rt_elem *el, const char *ep) {
  if (wh_strlist_contains(&el->using, ep))
    return true;
  if (el->using.n)
    return false;
  /* disabled before its entry points were resolved: as configured (none = all) */
  const wh_strlist *given = cfg_entrypoints(el);
  return !given || given->n == 0 || wh_strlist_contains(given, ep);
}

static bool names_host(const wh_rt_elem *el, const wh_http_req_view *req) {
  char host[256];
  size_t hl = req->host ? wh_rule_index_host(req->host, host, sizeof(host)) : 0;
  if (hl == (size_t)-1 || hl == 0 || !el->rule)
    return false;
  char **hosts = NULL;
  size_t n = wh_rule_host_values(el->rule, &hosts);
  bool hit = false;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(hosts[i]);
    if (l && hosts[i][l - 1] == '.')
      hosts[i][l - 1] = '\0';
    if (strcmp(hosts[i], host) == 0)
      hit = true;
  }
  wh_strv_free(hosts, n);
  return hit;
}

static char *joined_errors(const wh_rt_elem *el) {
  wh_strbuf b = {0};
  int rc = wh_strbuf_puts(&b, "router disabled: ");
  for (size_t i = 0; rc == 0 && i < el->errors.n; i++) {
    if (i)
      rc = wh_strbuf_puts(&b, "; ");
    if (rc == 0)
      rc = wh_strbuf_puts(&b, el->errors.items[i]);
  }
  if (rc == 0 && el->errors.n == 0)
    rc = wh_strbuf_puts(&b, "(no error recorded)");
  if (rc != 0) {
    wh_strbuf_free(&b);
    return NULL;
  }
  return wh_strbuf_take(&b);
}

static char *other_ep_reason(const wh_rt_elem *el, const char *ep, const wh_rule_why *why) {
  wh_strbuf b = {0};
  int rc = wh_strbuf_printf(&b, "not on entry point %s (on ", ep);
  for (size_t i = 0; rc == 0 && i < el->using.n; i++)
    rc = wh_strbuf_printf(&b, "%s%s", i ? ", " : "", el->using.v[i]);
  if (rc == 0)
    rc = wh_strbuf_puts(&b, " only)");
  char *prefix = rc == 0 ? wh_strbuf_take(&b) : NULL;
  wh_strbuf_free(&b);
  char *r = prefix ? with_rule(prefix, why) : NULL;
  free(prefix);
  return r;
}

int wh_route_explain_http(const wh_runtime *rt, const wh_route_table *t,
                          const wh_http_req_view *req, bool is_tls, wh_route_explain *out) {
  memset(out, 0, sizeof(*out));
  builder b = {.out = out};
  out->tcp = tcp_taker(t, req, is_tls);
  out->winner = out->tcp ? NULL : wh_route_match_http(t, req, is_tls);
  if (out->tcp)
    add(&b, out->tcp, WH_ROUTE_TCP_TAKES,
        wh_asprintf("TCP router %s takes the connection before any HTTP router is tried",
                    out->tcp->name),
        NULL);

  for (size_t i = 0; i < t->n_http && !b.oom; i++) {
    const wh_rt_elem *el = t->http[i];
    wh_rule_why why;
    if (wh_rule_explain_http(el->rule, rule_text(el), req, &why) != 0) {
      wh_rule_why_free(&why);
      b.oom = true;
      break;
    }
    if (el == out->winner) {
      wh_rule_why_free(&why);
      add(&b, el, WH_ROUTE_WINS, NULL, NULL);
    } else if ((el->tls || t->ep_tls) != is_tls) {
      char *pre = tls_reason(t, el, is_tls);
      char *r = pre ? with_rule(pre, &why) : NULL;
      free(pre);
      add(&b, el, WH_ROUTE_TLS_MISMATCH, r, &why);
    } else if (!why.matched) {
      char *r = why.reason;
      why.reason = NULL;
      add(&b, el, WH_ROUTE_NO_MATCH, r, &why);
    } else {
      add(&b, el, WH_ROUTE_SHADOWED, shadow_reason(el, out->winner, out->tcp), &why);
    }
  }

  const wh_rt_list *all = &rt->elems[WH_KIND_HTTP_ROUTER];
  for (size_t i = 0; i < all->n && !b.oom; i++) {
    const wh_rt_elem *el = all->v[i];
    if (el->status != WH_STATUS_DISABLED || !on_entrypoint(el, t->entrypoint))
      continue;
    wh_rule_why why = {0};
    if (el->rule && wh_rule_explain_http(el->rule, rule_text(el), req, &why) != 0) {
      wh_rule_why_free(&why);
      b.oom = true;
      break;
    }
    char *r = joined_errors(el);
    if (r && why.matched) {
      char *full = wh_asprintf("%s; its rule matches this request", r);
      free(r);
      r = full;
    }
    add(&b, el, WH_ROUTE_DISABLED, r, &why);
  }

  for (size_t i = 0; i < all->n && !b.oom; i++) {
    const wh_rt_elem *el = all->v[i];
    /* wharf's own routers (api, dashboard, ping on their entry point) are not what the
     * question is about, and PathPrefix(`/`) would list them for every request */
    if (el->status == WH_STATUS_DISABLED || !el->rule || on_entrypoint(el, t->entrypoint) ||
        wh_streq(el->provider, "internal"))
      continue;
    wh_rule_why why;
    if (wh_rule_explain_http(el->rule, rule_text(el), req, &why) != 0) {
      wh_rule_why_free(&why);
      b.oom = true;
      break;
    }
    if (!why.matched && !names_host(el, req)) {
      wh_rule_why_free(&why);
      continue;
    }
    add(&b, el, WH_ROUTE_OTHER_EP, other_ep_reason(el, t->entrypoint, &why), &why);
  }

  if (b.oom) {
    wh_route_explain_free(out);
    return -1;
  }
  return 0;
}

void wh_route_explain_free(wh_route_explain *e) {
  if (!e)
    return;
  for (size_t i = 0; i < e->ncands; i++) {
    free(e->cands[i].reason);
    free(e->cands[i].matcher);
    free(e->cands[i].request);
  }
  free(e->cands);
  memset(e, 0, sizeof(*e));
}
