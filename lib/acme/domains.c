#include "lib/acme/domains.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "lib/rules/rules.h"

bool wh_acme_name_matches(const char *name, const char *pattern) {
  if (!name || !pattern)
    return false;
  if (strcasecmp(name, pattern) == 0)
    return true;
  if (pattern[0] != '*' || pattern[1] != '.')
    return false;
  const char *dot = strchr(name, '.');
  return dot && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
}

static bool has_name(const char *const *v, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(v[i], s) == 0)
      return true;
  return false;
}

bool wh_acme_names_equal(const char *const *a, size_t n, const char *const *b, size_t m) {
  for (size_t i = 0; i < n; i++)
    if (!has_name(b, m, a[i]))
      return false;
  for (size_t i = 0; i < m; i++)
    if (!has_name(a, n, b[i]))
      return false;
  return true;
}

void wh_acme_wants_free(wh_acme_wants *w) {
  if (!w)
    return;
  for (size_t i = 0; i < w->n; i++) {
    free(w->v[i].resolver);
    free(w->v[i].router);
    wh_strv_free(w->v[i].names, w->v[i].n);
  }
  free(w->v);
  w->v = NULL;
  w->n = 0;
}

/* A set being built: names canonicalised as they come. */
typedef struct nameset {
  char **v;
  size_t n;
} nameset;

static int ns_add(nameset *s, const char *raw) {
  size_t len = raw ? strlen(raw) : 0;
  while (len && raw[len - 1] == '.')
    len--;
  if (!len)
    return 0;
  char *name = wh_strndup(raw, len);
  if (!name)
    return WH_ENOMEM;
  wh_str_lower(name);
  if (has_name((const char *const *)s->v, s->n, name)) {
    free(name);
    return 0;
  }
  char **v = realloc(s->v, (s->n + 1) * sizeof(*v));
  if (!v) {
    free(name);
    return WH_ENOMEM;
  }
  s->v = v;
  s->v[s->n++] = name;
  return 0;
}

/* Traefik's getValidDomains: a wildcard only through DNS-01, never "*.*". */
static const char *invalid_name(const nameset *s, const wh_acme *acme) {
  for (size_t i = 0; i < s->n; i++) {
    const char *d = s->v[i];
    const char *star = strchr(d, '*');
    if (!star)
      continue;
    if (star != d || d[1] != '.' || strchr(d + 1, '*'))
      return "ACME does not allow '*.*' wildcard domain nor a '*' inside a label";
    if (!acme->dns_challenge)
      return "ACME needs a DNSChallenge";
  }
  return NULL;
}

static void join(const nameset *s, wh_strbuf *b) {
  for (size_t i = 0; i < s->n; i++) {
    if (i)
      wh_strbuf_putc(b, ',');
    wh_strbuf_puts(b, s->v[i]);
  }
}

/* Moves s into out (unless out already has that set for the resolver). */
static int take(wh_acme_wants *out, const char *resolver, const char *router, nameset *s) {
  for (size_t i = 0; i < out->n; i++)
    if (strcmp(out->v[i].resolver, resolver) == 0 &&
        wh_acme_names_equal((const char *const *)out->v[i].names, out->v[i].n,
                            (const char *const *)s->v, s->n)) {
      wh_strv_free(s->v, s->n);
      *s = (nameset){0};
      return 0;
    }
  wh_acme_want *v = realloc(out->v, (out->n + 1) * sizeof(*v));
  if (!v)
    return WH_ENOMEM;
  out->v = v;
  wh_acme_want *w = &out->v[out->n];
  w->resolver = wh_strdup(resolver);
  w->router = wh_strdup(router);
  if (!w->resolver || !w->router) {
    free(w->resolver);
    free(w->router);
    return WH_ENOMEM;
  }
  w->names = s->v;
  w->n = s->n;
  out->n++;
  *s = (nameset){0};
  return 0;
}

/* Checks and hands over one set; an empty one is dropped quietly. */
static int offer(const wh_static_config *stat, wh_acme_wants *out, wh_errlist *errs,
                 const char *resolver, const char *router, nameset *s) {
  int rc = 0;
  if (s->n) {
    const wh_cert_resolver *r = wh_map_get(&stat->certificates_resolvers, resolver);
    const char *why = r && r->acme ? invalid_name(s, r->acme) : NULL;
    if (why) {
      wh_strbuf b = {0};
      join(s, &b);
      if (errs)
        wh_errlist_add(errs,
                       "router \"%s\": certificate resolver \"%s\": unable to generate a "
                       "wildcard certificate for domains \"%s\": %s",
                       router, resolver, wh_strbuf_cstr(&b), why);
      wh_strbuf_free(&b);
    } else {
      rc = take(out, resolver, router, s);
    }
  }
  wh_strv_free(s->v, s->n);
  *s = (nameset){0};
  return rc;
}

/* The sets of one router for one resolver: tls.domains, else the rule's
 * hosts. */
static int router_sets(const wh_static_config *stat, const wh_rt_elem *el, const char *resolver,
                       const wh_list *domains, bool tcp, wh_acme_wants *out, wh_errlist *errs) {
  if (!wh_map_get(&stat->certificates_resolvers, resolver)) {
    if (errs)
      wh_errlist_add(errs, "router \"%s\" uses a non-existent certificate resolver \"%s\"",
                     el->name, resolver);
    return 0;
  }
  nameset s = {0};
  int rc = 0;
  if (domains && domains->n) {
    for (size_t i = 0; i < domains->n && rc == 0; i++) {
      const wh_domain *d = (const wh_domain *)domains->items + i;
      rc = ns_add(&s, d->main);
      for (size_t j = 0; j < d->sans.n && rc == 0; j++)
        rc = ns_add(&s, d->sans.v[j]);
      if (rc == 0)
        rc = offer(stat, out, errs, resolver, el->name, &s);
    }
    wh_strv_free(s.v, s.n);
    return rc;
  }
  if (!el->rule)
    return 0; /* the rule did not compile: the router says why */
  char **hosts = NULL;
  size_t nh = wh_rule_host_values(el->rule, &hosts);
  for (size_t i = 0; i < nh && rc == 0; i++)
    if (!(tcp && strcmp(hosts[i], "*") == 0))
      rc = ns_add(&s, hosts[i]);
  wh_strv_free(hosts, nh);
  if (rc == 0)
    rc = offer(stat, out, errs, resolver, el->name, &s);
  wh_strv_free(s.v, s.n);
  return rc;
}

static bool nonempty(const char *s) {
  return s && *s;
}

int wh_acme_domains_collect(const wh_static_config *stat, const wh_runtime *rt, wh_acme_wants *out,
                            wh_errlist *errs) {
  int rc = 0;
  const wh_rt_list *hl = &rt->elems[WH_KIND_HTTP_ROUTER];
  for (size_t i = 0; i < hl->n && rc == 0; i++) {
    const wh_rt_elem *el = hl->v[i];
    const wh_http_router *r = el->cfg;
    if (!r)
      continue;
    if (r->tls) {
      if (nonempty(r->tls->cert_resolver))
        rc = router_sets(stat, el, r->tls->cert_resolver, &r->tls->domains, false, out, errs);
      continue;
    }
    /* An entry point's http.tls applies to its routers without their own. */
    wh_strlist seen = {0};
    for (size_t e = 0; e < el->using.n && rc == 0; e++) {
      const wh_entrypoint *ep = wh_map_get(&stat->entry_points, el->using.v[e]);
      const wh_ep_http_tls *t = ep ? ep->http.tls : NULL;
      if (!t || !nonempty(t->cert_resolver) || wh_strlist_contains(&seen, t->cert_resolver))
        continue;
      if (wh_strlist_push(&seen, t->cert_resolver) != 0)
        rc = WH_ENOMEM;
      else
        rc = router_sets(stat, el, t->cert_resolver, &t->domains, false, out, errs);
    }
    wh_strlist_free(&seen);
  }
  const wh_rt_list *tl = &rt->elems[WH_KIND_TCP_ROUTER];
  for (size_t i = 0; i < tl->n && rc == 0; i++) {
    const wh_rt_elem *el = tl->v[i];
    const wh_tcp_router *r = el->cfg;
    if (r && r->tls && nonempty(r->tls->cert_resolver))
      rc = router_sets(stat, el, r->tls->cert_resolver, &r->tls->domains, true, out, errs);
  }
  return rc;
}
