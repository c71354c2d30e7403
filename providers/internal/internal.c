#include "providers/internal/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

#define MAXINT "9223372036854775807"
#define MAXINT_1 "9223372036854775806"
#define MAXINT_2 "9223372036854775805"

/* The configuration is written as YAML and decoded through the same schema
 * as user files: one decoder, and the internal elements are validated like
 * everything else. Values come from the validated static configuration;
 * names are YAML-quoted so that no entry point name can break the document. */
static void yaml_quote(wh_strbuf *b, const char *s) {
  wh_strbuf_putc(b, '"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      wh_strbuf_putc(b, '\\');
    wh_strbuf_putc(b, *s);
  }
  wh_strbuf_putc(b, '"');
}

static const char *ep_port(const wh_static_config *stat, const char *to, char *buf, size_t len) {
  if (to[0] == ':')
    return to + 1;
  const wh_entrypoint *ep = wh_map_get(&stat->entry_points, to);
  if (!ep)
    return NULL;
  snprintf(buf, len, "%d", ep->port);
  return buf;
}

static int add_service(wh_dyn_config *c, const char *name) {
  if (!c->http) {
    c->http = wh_schema_new(wh_schema_dyn_config.fields[0].sub);
    if (!c->http)
      return WH_ENOMEM;
  }
  void *svc = wh_schema_new(&wh_schema_http_service);
  if (!svc)
    return WH_ENOMEM;
  return wh_map_put(&c->http->services, name, svc, NULL);
}

/* Traefik's acme-http router: one for every entry point an httpChallenge
 * names, above everything a user can declare (and above the entry point
 * redirections, MaxInt-1 by default; at an equal priority its longer rule
 * still wins), so that a challenge is answered, never proxied nor
 * redirected. An entry point that does not exist is reported on the router,
 * as Traefik does. Returns whether the router was written. */
static bool acme_http_router(const wh_static_config *stat, wh_strbuf *y) {
  wh_strlist eps = {0};
  const wh_map *rs = &stat->certificates_resolvers;
  for (size_t i = 0; i < rs->n; i++) {
    const wh_cert_resolver *r = rs->vals[i];
    const wh_acme_http_challenge *h = r && r->acme ? r->acme->http_challenge : NULL;
    if (h && h->entry_point && *h->entry_point && !wh_strlist_contains(&eps, h->entry_point))
      wh_strlist_push(&eps, h->entry_point);
  }
  if (!eps.n)
    return false;
  wh_strbuf_puts(y, "    acme-http:\n      entryPoints: [");
  for (size_t i = 0; i < eps.n; i++) {
    if (i)
      wh_strbuf_puts(y, ", ");
    yaml_quote(y, eps.v[i]);
  }
  wh_strbuf_puts(y, "]\n      ruleSyntax: v3\n"
                    "      rule: \"PathPrefix(`/.well-known/acme-challenge/`)\"\n"
                    "      priority: " MAXINT "\n      service: acme-http@internal\n");
  wh_strlist_free(&eps);
  return true;
}

wh_dyn_config *wh_internal_config(const wh_static_config *stat, wh_errlist *errs) {
  wh_strbuf y = {0};
  wh_strbuf_puts(&y, "http:\n  routers:\n");
  bool api = stat->api != NULL;
  if (api && stat->api->insecure) {
    const char *base = stat->api->base_path && *stat->api->base_path ? stat->api->base_path : "/";
    size_t bl = strlen(base);
    const char *sep = base[bl - 1] == '/' ? "" : "/";
    wh_strbuf_printf(&y,
                     "    api:\n      entryPoints: [\"traefik\"]\n      ruleSyntax: v3\n"
                     "      rule: \"PathPrefix(`%s%sapi`)\"\n      priority: " MAXINT_1
                     "\n      service: api@internal\n",
                     base, sep);
    if (stat->api->dashboard)
      wh_strbuf_printf(&y,
                       "    dashboard:\n      entryPoints: [\"traefik\"]\n      ruleSyntax: v3\n"
                       "      rule: \"PathPrefix(`%s`)\"\n      priority: " MAXINT_2
                       "\n      middlewares: [dashboard_redirect@internal, "
                       "dashboard_stripprefix@internal]\n      service: dashboard@internal\n",
                       base);
  }
  if (stat->ping && !stat->ping->manual_routing) {
    wh_strbuf_puts(&y, "    ping:\n      entryPoints: [");
    yaml_quote(&y, stat->ping->entry_point ? stat->ping->entry_point : "traefik");
    wh_strbuf_puts(&y, "]\n      ruleSyntax: v3\n      rule: \"PathPrefix(`/ping`)\"\n"
                       "      priority: " MAXINT "\n      service: ping@internal\n");
  }
  const wh_prometheus *prom = stat->metrics ? stat->metrics->prometheus : NULL;
  if (prom && !prom->manual_routing) {
    wh_strbuf_puts(&y, "    prometheus:\n      entryPoints: [");
    yaml_quote(&y, prom->entry_point && *prom->entry_point ? prom->entry_point : "traefik");
    wh_strbuf_puts(&y, "]\n      ruleSyntax: v3\n      rule: \"PathPrefix(`/metrics`)\"\n"
                       "      priority: " MAXINT "\n      service: prometheus@internal\n");
  }
  bool acme_http = acme_http_router(stat, &y);
  wh_strbuf mws = {0};
  for (size_t i = 0; i < stat->entry_points.n; i++) {
    const wh_entrypoint *ep = stat->entry_points.vals[i];
    const wh_ep_redirect *r = ep->http.redirections ? ep->http.redirections->entry_point : NULL;
    if (!r || !r->to)
      continue;
    const char *name = stat->entry_points.keys[i];
    char port_buf[16];
    const char *port = ep_port(stat, r->to, port_buf, sizeof(port_buf));
    if (!port) {
      wh_errlist_add(errs,
                     "entryPoints.%s.http.redirections.entryPoint.to: entry point \"%s\" "
                     "does not exist",
                     name, r->to);
      continue;
    }
    const char *to_name = r->to[0] == ':' ? r->to + 1 : r->to;
    wh_strbuf_puts(&y, "    ");
    char *rname = wh_asprintf("%s-to-%s", name, to_name);
    yaml_quote(&y, rname);
    wh_strbuf_puts(&y, ":\n      entryPoints: [");
    yaml_quote(&y, name);
    wh_strbuf_printf(&y,
                     "]\n      ruleSyntax: v3\n      rule: \"HostRegexp(`^.+$`)\"\n"
                     "      priority: %lld\n      middlewares: [",
                     (long long)r->priority);
    char *mname = wh_asprintf("redirect-%s", rname);
    yaml_quote(&y, mname);
    wh_strbuf_puts(&y, "]\n      service: noop@internal\n");
    wh_strbuf_puts(&mws, "    ");
    yaml_quote(&mws, mname);
    wh_strbuf_puts(&mws, ":\n      redirectScheme:\n        scheme: ");
    yaml_quote(&mws, r->scheme && *r->scheme ? r->scheme : "https");
    wh_strbuf_puts(&mws, "\n        port: ");
    yaml_quote(&mws, port);
    wh_strbuf_printf(&mws, "\n        permanent: %s\n", r->permanent ? "true" : "false");
    free(rname);
    free(mname);
  }
  wh_strbuf_puts(&y, "  middlewares:\n");
  if (api && stat->api->insecure && stat->api->dashboard)
    wh_strbuf_puts(&y, "    dashboard_redirect:\n      redirectRegex:\n"
                       "        regex: '^(http:\\/\\/(\\[[\\w:.]+\\]|[\\w\\._-]+)(:\\d+)?)\\/$'\n"
                       "        replacement: '${1}/dashboard/'\n        permanent: true\n"
                       "    dashboard_stripprefix:\n      stripPrefix:\n"
                       "        prefixes: [\"/dashboard/\", \"/dashboard\"]\n");
  if (mws.len)
    wh_strbuf_append(&y, mws.data, mws.len);
  wh_strbuf_free(&mws);

  wh_errlist perr;
  wh_errlist_init(&perr);
  wh_node *root = wh_yaml_parse(wh_strbuf_cstr(&y), y.len, "internal", &perr);
  wh_dyn_config *c = NULL;
  if (root) {
    c = wh_dyn_config_decode(root, "internal", &perr);
    wh_node_free(root);
  }
  if (c) {
    /* Element-level errors would be bugs in the text above: report them. */
    for (size_t i = 0; i < c->n_elem_errors; i++)
      wh_errlist_extend(&perr, &c->elem_errors[i].errs, "internal: ");
  }
  if (c && (add_service(c, "noop") != WH_OK || (api && add_service(c, "api") != WH_OK) ||
            (api && stat->api->dashboard && add_service(c, "dashboard") != WH_OK) ||
            (stat->ping && add_service(c, "ping") != WH_OK) ||
            (prom && add_service(c, "prometheus") != WH_OK) ||
            (acme_http && add_service(c, "acme-http") != WH_OK))) {
    wh_errlist_add(&perr, "internal: out of memory");
  }
  wh_strbuf_free(&y);
  if (perr.n) {
    wh_errlist_extend(errs, &perr, NULL);
    wh_errlist_free(&perr);
    wh_dyn_config_free(c);
    return NULL;
  }
  wh_errlist_free(&perr);
  return c;
}
