#include "lib/admin/explain.h"
#include "lib/admin/reply.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/http/path.h"
#include "lib/router/explain.h"
#include "lib/router/route_table.h"
#include "lib/rules/rules.h"

#define MAX_HEADERS 64

/* ---- the query string ---- */

typedef struct param {
  char *key, *val;
} param;

typedef struct params {
  param *v;
  size_t n;
} params;

static void params_free(params *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->v[i].key);
    free(p->v[i].val);
  }
  free(p->v);
}

/* -1 with *bad set: a malformed escape (or OOM); -1 alone: OOM. */
static int params_parse(const char *q, params *p, bool *bad) {
  memset(p, 0, sizeof(*p));
  for (const char *s = q; s && *s;) {
    size_t n = strcspn(s, "&");
    if (n) {
      const char *eq = memchr(s, '=', n);
      size_t kl = eq ? (size_t)(eq - s) : n;
      param *nv = realloc(p->v, (p->n + 1) * sizeof(*nv));
      if (!nv)
        return -1;
      p->v = nv;
      param *pp = &p->v[p->n];
      pp->key = wh_api_pct_decode(s, kl, true);
      pp->val = pp->key ? wh_api_pct_decode(eq ? eq + 1 : s + n, eq ? n - kl - 1 : 0, true) : NULL;
      if (!pp->key || !pp->val) {
        *bad = true; /* a malformed escape (or, rarely, out of memory) */
        free(pp->key);
        free(pp->val);
        return -1;
      }
      p->n++;
    }
    s += n;
    if (*s)
      s++;
  }
  return 0;
}

static const char *param_get(const params *p, const char *key) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->v[i].key, key) == 0)
      return p->v[i].val;
  return NULL;
}

/* ---- entry point ---- */

static size_t user_http_routers(const wh_route_table *t) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_http; i++)
    if (!wh_streq(t->http[i]->provider, "internal"))
      n++;
  return n;
}

static void ep_list(const wh_snapshot *snap, wh_strbuf *b) {
  for (size_t i = 0; i < snap->ntables; i++)
    wh_strbuf_printf(b, "%s%s", i ? ", " : "", snap->tables[i]->entrypoint);
  if (!snap->ntables)
    wh_strbuf_puts(b, "none");
}

/* The table to explain on; NULL after replying 400. */
static const wh_route_table *pick_table(const wh_snapshot *snap, const char *name,
                                        wh_http_resp *resp) {
  wh_strbuf eps = {0};
  ep_list(snap, &eps);
  const wh_route_table *t = NULL;
  if (name && *name) {
    for (size_t i = 0; i < snap->ntables && !t; i++)
      if (strcmp(snap->tables[i]->entrypoint, name) == 0)
        t = snap->tables[i];
    if (!t)
      wh_api_reply_error(resp, 400, "unknown entry point \"%s\" (entry points: %s)", name,
                         wh_strbuf_cstr(&eps));
  } else {
    /* wharf's own routers (api, ping, metrics) do not count: the question is about the
     * user's */
    size_t with = 0;
    wh_strbuf names = {0};
    for (size_t i = 0; i < snap->ntables; i++)
      if (user_http_routers(snap->tables[i])) {
        wh_strbuf_printf(&names, "%s%s", with ? ", " : "", snap->tables[i]->entrypoint);
        if (!with++)
          t = snap->tables[i];
      }
    if (with != 1) {
      t = NULL;
      if (with)
        wh_api_reply_error(resp, 400,
                           "entrypoint is required: several entry points have HTTP routers (%s)",
                           wh_strbuf_cstr(&names));
      else
        wh_api_reply_error(resp, 400,
                           "entrypoint is required: no entry point has HTTP routers "
                           "(entry points: %s)",
                           wh_strbuf_cstr(&eps));
    }
    wh_strbuf_free(&names);
  }
  wh_strbuf_free(&eps);
  return t;
}

/* ---- JSON ---- */

static cJSON *router_json(const wh_rt_elem *el, const wh_route_table *t) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  const char *rule = NULL;
  if (el->cfg && el->kind == WH_KIND_HTTP_ROUTER)
    rule = ((const wh_http_router *)el->cfg)->rule;
  else if (el->cfg && el->kind == WH_KIND_TCP_ROUTER)
    rule = ((const wh_tcp_router *)el->cfg)->rule;
  cJSON_AddStringToObject(o, "name", el->name);
  cJSON_AddStringToObject(o, "provider", el->provider ? el->provider : "");
  cJSON_AddStringToObject(o, "rule", rule ? rule : "");
  wh_api_set_int64(o, "priority", el->priority);
  char prio[32];
  snprintf(prio, sizeof(prio), "%" PRId64, el->priority);
  cJSON_AddStringToObject(o, "priorityStr", prio); /* exact, as in /api/http/routers */
  cJSON_AddItemToObject(o, "entryPoints", wh_api_strlist_json(&el->using));
  cJSON_AddItemToObject(o, "middlewares", wh_api_strlist_json(&el->middleware_refs));
  cJSON_AddStringToObject(o, "service", el->service_ref ? el->service_ref : "");
  bool on_t = wh_strlist_contains(&el->using, t->entrypoint);
  cJSON_AddBoolToObject(o, "tls", el->tls || (on_t && t->ep_tls));
  cJSON_AddStringToObject(o, "status", wh_status_name(el->status));
  return o;
}

static const char *verdict_key(wh_route_verdict v) {
  switch (v) {
  case WH_ROUTE_WINS:
    return "serves";
  case WH_ROUTE_NO_MATCH:
    return "noMatch";
  case WH_ROUTE_TLS_MISMATCH:
    return "tlsMismatch";
  case WH_ROUTE_SHADOWED:
    return "lowerPriority";
  case WH_ROUTE_DISABLED:
    return "disabled";
  case WH_ROUTE_OTHER_EP:
    return "otherEntryPoint";
  case WH_ROUTE_TCP_TAKES:
    return "tcpRouter";
  }
  return "";
}

typedef struct reqdesc {
  const char *method, *host, *raw_path, *path, *query, *client;
  bool tls;
  const char *const *hn;
  const char *const *hv;
  size_t nh;
} reqdesc;

static cJSON *request_json(const reqdesc *d) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "method", d->method);
  cJSON_AddStringToObject(o, "host", d->host);
  cJSON_AddStringToObject(o, "path", d->path);
  if (strcmp(d->raw_path, d->path) != 0)
    cJSON_AddStringToObject(o, "rawPath", d->raw_path);
  if (d->query)
    cJSON_AddStringToObject(o, "query", d->query);
  cJSON *h = cJSON_AddArrayToObject(o, "headers");
  for (size_t i = 0; h && i < d->nh; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", d->hn[i]);
    cJSON_AddStringToObject(e, "value", d->hv[i]);
    cJSON_AddItemToArray(h, e);
  }
  cJSON_AddBoolToObject(o, "tls", d->tls);
  if (d->client)
    cJSON_AddStringToObject(o, "client", d->client);
  return o;
}

static cJSON *verdict_json(const wh_route_table *t, const wh_route_explain *e, const reqdesc *d) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "entryPoint", t->entrypoint);
  cJSON_AddItemToObject(o, "request", request_json(d));
  bool served = e->winner || e->tcp;
  cJSON_AddBoolToObject(o, "served", served);
  char *msg = e->winner ? wh_asprintf("router %s serves the request", e->winner->name)
              : e->tcp  ? wh_asprintf("TCP router %s takes the connection", e->tcp->name)
                        : wh_strdup("no router matches: the request gets 404 page not found");
  cJSON_AddStringToObject(o, "message", msg ? msg : "");
  free(msg);
  if (e->winner)
    cJSON_AddItemToObject(o, "router", router_json(e->winner, t));
  else
    cJSON_AddNullToObject(o, "router");
  if (e->tcp)
    cJSON_AddItemToObject(o, "tcpRouter", router_json(e->tcp, t));
  cJSON *a = cJSON_AddArrayToObject(o, "candidates");
  bool after = false;
  for (size_t i = 0; a && i < e->ncands; i++) {
    const wh_route_cand *c = &e->cands[i];
    if (c->verdict == WH_ROUTE_WINS) {
      after = true;
      continue;
    }
    if (c->verdict == WH_ROUTE_TCP_TAKES)
      continue;
    cJSON *r = router_json(c->router, t);
    if (!r)
      continue;
    cJSON_AddStringToObject(r, "verdict", verdict_key(c->verdict));
    cJSON_AddStringToObject(r, "reason", c->reason ? c->reason : "");
    if (c->matcher)
      cJSON_AddStringToObject(r, "matcher", c->matcher);
    if (c->request)
      cJSON_AddStringToObject(r, "requestHad", c->request);
    cJSON_AddBoolToObject(r, "ruleMatches", c->rule_matched);
    if (e->winner && (c->verdict == WH_ROUTE_NO_MATCH || c->verdict == WH_ROUTE_TLS_MISMATCH ||
                      c->verdict == WH_ROUTE_SHADOWED))
      cJSON_AddStringToObject(r, "order", after ? "after" : "before");
    cJSON_AddItemToArray(a, r);
  }
  return o;
}

/* ---- the handler ---- */

static bool valid_header_name(const char *s, size_t n) {
  if (!n)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
      return false;
  }
  return true;
}

void wh_api_explain(const wh_snapshot *snap, const char *query, wh_http_resp *resp) {
  params p;
  bool bad = false;
  if (params_parse(query, &p, &bad) != 0) {
    params_free(&p);
    if (bad)
      wh_api_reply_error(resp, 400, "malformed query string");
    else
      wh_api_reply_error(resp, 500, "out of memory");
    return;
  }
  char *names[MAX_HEADERS], *values[MAX_HEADERS];
  size_t nh = 0;
  char *path = NULL, *rawq = NULL, *meth = NULL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  const char *host = param_get(&p, "host");
  const char *raw_path = param_get(&p, "path");
  const char *method = param_get(&p, "method");
  const char *client = param_get(&p, "client");
  const char *tls = param_get(&p, "tls");
  const char *q = param_get(&p, "query");
  const char *host_hdr = NULL;
  const wh_route_table *t = NULL;

  for (size_t i = 0; i < p.n; i++) {
    if (strcmp(p.v[i].key, "header") != 0)
      continue;
    const char *v = p.v[i].val, *colon = strchr(v, ':');
    if (!colon || !valid_header_name(v, (size_t)(colon - v))) {
      wh_api_reply_error(resp, 400, "header \"%.200s\": expected Name:Value", v);
      goto out;
    }
    if (nh == MAX_HEADERS) {
      wh_api_reply_error(resp, 400, "too many headers (max %d)", MAX_HEADERS);
      goto out;
    }
    const char *val = colon + 1;
    while (*val == ' ' || *val == '\t')
      val++;
    names[nh] = wh_strndup(v, (size_t)(colon - v));
    values[nh] = wh_strdup(val);
    if (!names[nh] || !values[nh]) {
      free(names[nh]);
      free(values[nh]);
      wh_api_reply_error(resp, 500, "out of memory");
      goto out;
    }
    if (wh_strcaseeq(names[nh], "Host"))
      host_hdr = values[nh];
    nh++;
  }
  if (!host || !*host)
    host = host_hdr;
  if ((!host || !*host) && (!raw_path || !*raw_path)) {
    wh_api_reply_error(resp, 400, "host or path is required (e.g. ?host=app.example&path=/api)");
    goto out;
  }
  if (!raw_path || !*raw_path)
    raw_path = "/";
  if (raw_path[0] != '/') {
    wh_api_reply_error(resp, 400, "path must start with '/'");
    goto out;
  }
  /* "/x?a=1" carries its own query unless one is given separately */
  const char *qm = strchr(raw_path, '?');
  if (qm && !q)
    q = qm + 1;
  if (tls && strcmp(tls, "true") != 0 && strcmp(tls, "false") != 0 && strcmp(tls, "1") != 0 &&
      strcmp(tls, "0") != 0 && *tls) {
    wh_api_reply_error(resp, 400, "tls must be true or false");
    goto out;
  }
  if (client && *client) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, client, &in->sin_addr) == 1) {
      in->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, client, &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
    } else {
      wh_api_reply_error(resp, 400, "client \"%.100s\" is not an IP address", client);
      goto out;
    }
  }
  if (!snap || !snap->stat) {
    wh_api_reply_error(resp, 503, "no configuration has been loaded yet");
    goto out;
  }
  if (!(t = pick_table(snap, param_get(&p, "entrypoint"), resp)))
    goto out;
  const wh_entrypoint *ep = wh_map_get(&snap->stat->entry_points, t->entrypoint);
  bool sanitize = !ep || !ep->http.sanitize_path_set || ep->http.sanitize_path;
  size_t plen = qm ? (size_t)(qm - raw_path) : strlen(raw_path);
  path = wh_path_canonical(raw_path, plen, sanitize, &bad);
  if (!path) {
    if (bad)
      wh_api_reply_error(resp, 400, "path \"%.200s\": invalid %%-escape", raw_path);
    else
      wh_api_reply_error(resp, 500, "out of memory");
    goto out;
  }
  rawq = q ? wh_strdup(q) : NULL;
  /* as llhttp hands it to the router */
  meth = wh_strdup(method && *method ? method : "GET");
  for (char *m = meth; m && *m; m++)
    if (*m >= 'a' && *m <= 'z')
      *m = (char)(*m - 32);
  if ((q && !rawq) || !meth) {
    wh_api_reply_error(resp, 500, "out of memory");
    goto out;
  }
  reqdesc d = {
      .method = meth,
      .host = host ? host : "",
      .raw_path = raw_path,
      .path = path,
      .query = rawq,
      .client = client && *client ? client : NULL,
      /* an entry point with http.tls only takes TLS connections */
      .tls = tls && *tls ? (strcmp(tls, "true") == 0 || strcmp(tls, "1") == 0) : t->ep_tls,
      .hn = (const char *const *)names,
      .hv = (const char *const *)values,
      .nh = nh,
  };
  wh_http_req_view view = {
      .method = d.method,
      .host = d.host,
      .path = path,
      .query = rawq,
      .nheaders = nh,
      .hdr_names = d.hn,
      .hdr_values = d.hv,
      .client = d.client ? (const struct sockaddr *)&ss : NULL,
  };
  wh_route_explain e;
  if (wh_route_explain_http(snap->rt, t, &view, d.tls, &e) != 0) {
    wh_api_reply_error(resp, 500, "out of memory");
    goto out;
  }
  wh_api_reply_json(resp, 200, verdict_json(t, &e, &d));
  wh_route_explain_free(&e);
out:
  for (size_t i = 0; i < nh; i++) {
    free(names[i]);
    free(values[i]);
  }
  free(path);
  free(rawq);
  free(meth);
  params_free(&p);
}
