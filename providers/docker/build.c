/* Containers -> the "docker" configuration fragment (TRAEFIK-COMPAT.md §1):
 * filter, per-container decoding and auto-creation, server addresses, then
 * a deterministic merge across containers. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "providers/docker/constraints.h"
#include "providers/docker/diagnose.h"
#include "providers/docker/docker_config.h"
#include "providers/docker/labels.h"
#include "providers/docker/naming.h"

#define DEFAULT_RULE "Host(`{{ normalize .Name }}`)"
#define MAX_CONTAINER_HOPS 4

void wh_docker_reports_free(wh_docker_reports *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->n; i++) {
    wh_docker_report *e = &r->v[i];
    free(e->container);
    free(e->id);
    free(e->reason);
    wh_errlist_free(&e->errors);
    wh_errlist_free(&e->warnings);
    free(e->network);
    free(e->address);
  }
  free(r->v);
  r->v = NULL;
  r->n = 0;
}

/* ---------------------------------------------------------------------------
 * Schema helpers: sub-schemas that dynamic.h does not export are found
 * through the exported tables, by field name. */

static const wh_field *field_ci(const wh_schema *s, const char *name) {
  for (size_t i = 0; s && i < s->nfields; i++)
    if (strcasecmp(s->fields[i].name, name) == 0)
      return &s->fields[i];
  return NULL;
}

static void **field_ptr(void *obj, const wh_field *f) {
  return (void **)((char *)obj + f->offset);
}

/* cfg->http / tcp / udp / tls, created when absent. */
static void *ensure_section(wh_dyn_config *cfg, const char *top) {
  const wh_field *f = field_ci(&wh_schema_dyn_config, top);
  void **pp = field_ptr(cfg, f);
  if (!*pp)
    *pp = wh_schema_new(f->sub);
  return *pp;
}

static bool has_elem_error(const wh_dyn_config *cfg, const char *section, const char *name) {
  for (size_t i = 0; i < cfg->n_elem_errors; i++)
    if (strcmp(cfg->elem_errors[i].section, section) == 0 &&
        strcmp(cfg->elem_errors[i].name, name) == 0)
      return true;
  return false;
}

static void map_remove(wh_map *m, const wh_schema *s, const char *name) {
  for (size_t i = 0; i < m->n; i++) {
    if (strcmp(m->keys[i], name) != 0)
      continue;
    free(m->keys[i]);
    wh_schema_destroy(s, m->vals[i]);
    memmove(&m->keys[i], &m->keys[i + 1], (m->n - i - 1) * sizeof *m->keys);
    memmove(&m->vals[i], &m->vals[i + 1], (m->n - i - 1) * sizeof *m->vals);
    m->n--;
    return;
  }
}

/* Appends a default-initialised item to l; returns it or NULL on OOM. */
static void *list_add(wh_list *l, const wh_schema *s) {
  char *items = realloc(l->items, (l->n + 1) * s->size);
  if (!items)
    return NULL;
  l->items = items;
  void *obj = items + l->n * s->size;
  if (wh_schema_init(s, obj)) {
    wh_schema_free(s, obj);
    return NULL;
  }
  l->n++;
  return obj;
}

static void list_clear(wh_list *l, const wh_schema *s) {
  for (size_t i = 0; i < l->n; i++)
    wh_schema_free(s, (char *)l->items + i * s->size);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

/* ---------------------------------------------------------------------------
 * One container */

typedef struct bctx {
  const wh_docker_opts *o;
  const wh_docker_container *c;
  wh_docker_report *rep;
  wh_docker_plabels pl;
  char *svc;     /* service name */
  bool empty_lb; /* kept without servers (503) */
  bool oom;
  char *skip; /* reason, when the container must be skipped */
  /* diagnosis (NULL when not asked for): the container's record, and the
   * service whose server host_port() is choosing */
  wh_container_diag *dc;
  const char *cur_section, *cur_service;
  wh_container_server *srv;
} bctx;

__attribute__((format(printf, 2, 3))) static void skip(bctx *b, const char *fmt, ...) {
  if (b->skip)
    return;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&b->skip, fmt, ap) < 0) {
    b->skip = NULL;
    b->oom = true;
  }
  va_end(ap);
}

static bool ip_usable(const char *ip) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip, buf) == 1)
    return memcmp(buf, "\0\0\0\0", 4) != 0;
  if (inet_pton(AF_INET6, ip, buf) == 1) {
    static const unsigned char zero[16];
    return memcmp(buf, zero, 16) != 0;
  }
  return false;
}

/* Why the network was chosen, for the diagnosis: "<how>" after "<via>"
 * (the hops through network mode container:) and "<miss>" (a wanted
 * network that was not there). */
__attribute__((format(printf, 4, 5))) static void net_why(bctx *b, const char *via,
                                                          const char *miss, const char *fmt, ...) {
  if (!b->srv)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *how = NULL;
  if (vasprintf(&how, fmt, ap) < 0)
    how = NULL;
  va_end(ap);
  wh_str_setf(&b->srv->network_why, "%s%s%s", via, miss, how ? how : "?");
  free(how);
}

/* The IP of c following the precedence of §1 (steps 2-6). Returns a copy or
 * NULL (with *err set, borrowed static text or an allocated message in
 * b->skip). *net receives the chosen network's name (allocated). For the
 * diagnosis: want_src says where want came from ("label
 * traefik.docker.network"), via the network-mode hops made so far. */
static char *container_ip(bctx *b, const wh_docker_container *c, const char *want,
                          const char *want_src, const char *via, int hops, char **net) {
  char miss[512] = "";
  if (want && *want) {
    for (size_t i = 0; i < c->nnetworks; i++) {
      const wh_docker_network *w = &c->networks[i];
      if (strcmp(w->name, want) != 0)
        continue;
      const char *ip = *w->ip ? w->ip : w->ip6;
      if (*ip) {
        net_why(b, via, "", "%s selects network \"%s\"", want_src, want);
        *net = wh_strdup(w->name);
        return wh_strdup(ip);
      }
    }
    wh_errlist_add(&b->rep->warnings,
                   "network \"%s\" not found on container %s (or it has no address there): "
                   "falling back to the container's other networks",
                   want, c->name);
    snprintf(miss, sizeof miss, "network \"%.200s\" (from %s) is not on the container; ", want,
             want_src);
  }
  const char *mode = c->network_mode ? c->network_mode : "";
  if (strcmp(mode, "host") == 0) {
    *net = wh_strdup("host");
    bool node = c->node_ip && *c->node_ip;
    net_why(b, via, miss, "network mode host: %s", node ? "the node's address" : "loopback");
    return wh_strdup(node ? c->node_ip : "127.0.0.1");
  }
  if (wh_str_has_prefix(mode, "container:")) {
    const char *target = mode + strlen("container:");
    const wh_docker_container *t =
        b->o->lookup && hops < MAX_CONTAINER_HOPS ? b->o->lookup(b->o->lookup_ctx, target) : NULL;
    if (!t) {
      skip(b, "network mode container:%s: that container is unknown (or the chain is too long)",
           target);
      return NULL;
    }
    const char *tl = wh_docker_label(t, "traefik.docker.network");
    char *via2 = wh_asprintf("%s%snetwork mode container:%s (%s): ", via, miss, target, t->name);
    char *ip = container_ip(b, t, tl && *tl ? tl : want,
                            tl && *tl ? "that container's label traefik.docker.network" : want_src,
                            via2 ? via2 : via, hops + 1, net);
    free(via2);
    return ip;
  }
  const wh_docker_network *pick = NULL;
  size_t ncand = 0;
  for (size_t i = 0; i < c->nnetworks; i++) {
    const wh_docker_network *w = &c->networks[i];
    if (!*w->ip && !*w->ip6)
      continue;
    if (!pick)
      pick = w; /* networks are sorted by name: the lowest wins */
    ncand++;
  }
  if (!pick) {
    skip(b, "no IP address: the container is on no network with an address");
    net_why(b, via, miss, "none: the container is on no network with an address");
    return NULL;
  }
  if (ncand > 1)
    wh_errlist_add(&b->rep->warnings,
                   "container %s is on %zu networks; using \"%s\" (lowest name): set label "
                   "traefik.docker.network or providers.docker.network to choose",
                   c->name, ncand, pick->name);
  if (ncand > 1)
    net_why(b, via, miss,
            "the lowest name of the %zu networks with an address; set label "
            "traefik.docker.network or providers.docker.network to choose",
            ncand);
  else
    net_why(b, via, miss, "the container's only network with an address");
  *net = wh_strdup(pick->name);
  return wh_strdup(*pick->ip ? pick->ip : pick->ip6);
}

/* "ip:port" with IPv6 bracketed. port_label may be NULL (detected). Returns
 * NULL after skip() or on OOM. */
static char *host_port(bctx *b, const char *port_label) {
  const wh_docker_container *c = b->c;
  char port[16];
  b->srv = wh_docker_diag_server(b->dc, b->cur_section, b->cur_service);
  wh_container_server *srv = b->srv;
  if (port_label && *port_label) {
    snprintf(port, sizeof port, "%s", port_label);
    if (srv)
      wh_str_setf(&srv->port_why, "label traefik.%.*s.services.%s.loadbalancer.server.port",
                  (int)strcspn(b->cur_section, "."), b->cur_section, b->cur_service);
  } else if (c->nports > 0) {
    snprintf(port, sizeof port, "%d", c->ports[0].port); /* the lowest */
    if (srv && c->nports == 1) {
      wh_str_setf(&srv->port_why, "the only port the container exposes (%d/%s)", c->ports[0].port,
                  c->ports[0].proto);
    } else if (srv) {
      wh_strbuf sb = {0};
      /* a range (--expose 1000-2000) must not make a thousand-port message */
      for (size_t i = 0; i < c->nports && i < 8; i++)
        wh_strbuf_printf(&sb, "%s%d/%s", i ? ", " : "", c->ports[i].port, c->ports[i].proto);
      if (c->nports > 8)
        wh_strbuf_puts(&sb, ", ...");
      wh_str_setf(&srv->port_why,
                  "the lowest of the %zu ports the container exposes (%s); set label "
                  "traefik.%.*s.services.%s.loadbalancer.server.port to choose",
                  c->nports, wh_strbuf_cstr(&sb), (int)strcspn(b->cur_section, "."), b->cur_section,
                  b->cur_service);
      wh_strbuf_free(&sb);
    }
  } else {
    skip(b, "port is missing: the container exposes no port; set "
            "traefik.http.services.<name>.loadbalancer.server.port");
    if (srv)
      wh_str_setf(&srv->port_why, "none: the container exposes no port and no label "
                                  "sets one");
    return NULL;
  }
  if (srv)
    srv->port = wh_strdup(port);
  char *ip = NULL, *net = NULL;
  if (b->o->cfg && b->o->cfg->use_bind_port_ip) {
    int want = atoi(port);
    for (size_t i = 0; i < c->nports && !ip; i++) {
      const wh_docker_port *p = &c->ports[i];
      if (p->port == want && p->host_ip && ip_usable(p->host_ip) && p->host_port && *p->host_port) {
        ip = wh_strdup(p->host_ip);
        snprintf(port, sizeof port, "%s", p->host_port);
        net = wh_strdup("(host binding)");
        if (!ip || !net)
          b->oom = true;
        if (srv) {
          wh_str_setf(&srv->network_why, "useBindPortIP: port %d is published on %s:%s of the host",
                      want, p->host_ip, p->host_port);
          wh_str_setf(&srv->port_why, "%s, published as host port %s",
                      srv->port_why ? srv->port_why : "?", p->host_port);
          free(srv->port);
          srv->port = wh_strdup(port);
        }
      }
    }
  }
  if (!ip && !b->oom) {
    const char *want = b->pl.network ? b->pl.network : b->o->cfg ? b->o->cfg->network : NULL;
    const char *src = b->pl.network ? "label traefik.docker.network" : "providers.docker.network";
    ip = container_ip(b, c, want, src, "", 0, &net);
  }
  if (!ip) {
    free(net);
    return NULL;
  }
  char *hp = strchr(ip, ':') ? wh_asprintf("[%s]:%s", ip, port) : wh_asprintf("%s:%s", ip, port);
  if (!hp)
    b->oom = true;
  if (srv && net)
    srv->network = wh_strdup(net);
  if (hp && !b->rep->address) {
    b->rep->address = wh_strdup(hp);
    b->rep->network = net;
    net = NULL;
  }
  free(net);
  free(ip);
  return hp;
}

static const wh_schema *sub_of(const wh_schema *s, const char *field) {
  return field_ci(s, field)->sub;
}

/* HTTP: the one server of each load balancer (§1 "Server address"). */
static void http_servers(bctx *b, wh_dyn_config *cfg) {
  wh_map *m = &cfg->http->services;
  const wh_schema *lbs = sub_of(&wh_schema_http_service, "loadBalancer");
  const wh_schema *ss = sub_of(lbs, "servers");
  for (size_t i = 0; i < m->n && !b->skip && !b->oom; i++) {
    wh_http_service *s = m->vals[i];
    if (!s->load_balancer || has_elem_error(cfg, "http.services", m->keys[i]))
      continue; /* weighted, mirroring...: no servers of their own */
    wh_list *l = &s->load_balancer->servers;
    if (b->empty_lb) {
      list_clear(l, ss);
      continue;
    }
    if (l->n == 0 && !list_add(l, ss)) {
      b->oom = true;
      return;
    }
    wh_server *sv = l->items;
    b->cur_section = "http.services";
    b->cur_service = m->keys[i];
    if (sv->url && *sv->url) {
      wh_container_server *ds = wh_docker_diag_server(b->dc, b->cur_section, b->cur_service);
      if (ds) {
        ds->address = wh_strdup(sv->url);
        wh_str_setf(&ds->port_why,
                    "label traefik.http.services.%s.loadbalancer.server.url, used verbatim",
                    m->keys[i]);
      }
      continue; /* verbatim; combining with port/scheme was reported by the decoder */
    }
    char *hp = host_port(b, sv->port);
    if (!hp)
      return;
    char *url = wh_asprintf("%s://%s", sv->scheme && *sv->scheme ? sv->scheme : "http", hp);
    free(hp);
    if (!url) {
      b->oom = true;
      return;
    }
    if (b->srv)
      b->srv->address = wh_strdup(url);
    free(sv->url);
    sv->url = url;
    free(sv->port);
    free(sv->scheme);
    sv->port = sv->scheme = NULL;
  }
}

/* TCP and UDP servers: "ip:port" addresses. */
static void l4_servers(bctx *b, wh_dyn_config *cfg, bool udp) {
  wh_map *m = udp ? &cfg->udp->services : &cfg->tcp->services;
  const wh_schema *svs = udp ? &wh_schema_udp_service : &wh_schema_tcp_service;
  const wh_schema *lbs = sub_of(svs, "loadBalancer");
  const wh_schema *ss = sub_of(lbs, "servers");
  const char *section = udp ? "udp.services" : "tcp.services";
  for (size_t i = 0; i < m->n && !b->skip && !b->oom; i++) {
    wh_list *l;
    if (udp) {
      wh_udp_service *s = m->vals[i];
      l = s->load_balancer ? &s->load_balancer->servers : NULL;
    } else {
      wh_tcp_service *s = m->vals[i];
      l = s->load_balancer ? &s->load_balancer->servers : NULL;
    }
    if (!l || has_elem_error(cfg, section, m->keys[i]))
      continue;
    if (b->empty_lb) {
      list_clear(l, ss);
      continue;
    }
    if (l->n == 0 && !list_add(l, ss)) {
      b->oom = true;
      return;
    }
    /* wh_tcp_server and wh_udp_server both start with address, port. */
    char **address =
        udp ? &((wh_udp_server *)l->items)->address : &((wh_tcp_server *)l->items)->address;
    char **port = udp ? &((wh_udp_server *)l->items)->port : &((wh_tcp_server *)l->items)->port;
    b->cur_section = section;
    b->cur_service = m->keys[i];
    if (*address && **address)
      continue;
    char *hp = host_port(b, *port);
    if (!hp)
      return;
    if (b->srv)
      b->srv->address = wh_strdup(hp);
    free(*address);
    *address = hp;
    free(*port);
    *port = NULL;
  }
}

/* A service named after the container with load-balancer defaults. */
static void auto_service(bctx *b, wh_map *m, const wh_schema *svs) {
  void *s = wh_schema_new(svs);
  const wh_field *f = field_ci(svs, "loadBalancer");
  void **lb = s ? field_ptr(s, f) : NULL;
  if (!s || !(*lb = wh_schema_new(f->sub)) || wh_map_put(m, b->svc, s, NULL)) {
    if (s)
      wh_schema_destroy(svs, s);
    b->oom = true;
  }
}

static char *names_of(const wh_map *m) {
  wh_strbuf sb = {0};
  for (size_t i = 0; i < m->n; i++)
    if (wh_strbuf_printf(&sb, "%s%s", i ? ", " : "", m->keys[i])) {
      wh_strbuf_free(&sb);
      return NULL;
    }
  return wh_strbuf_take(&sb);
}

/* An empty router service links to the only service of the container. */
static void link_service(bctx *b, wh_dyn_config *cfg, const char *section, const char *router,
                         char **service, const wh_map *services) {
  if (*service && **service)
    return;
  if (services->n == 1) {
    free(*service);
    if (!(*service = wh_strdup(services->keys[0])))
      b->oom = true;
    return;
  }
  char *names = names_of(services);
  if (wh_docker_elem_error(cfg, section, router,
                           "cannot be linked automatically with multiple services (%s): set "
                           "its service label",
                           names ? names : "?"))
    b->oom = true;
  free(names);
}

static void build_tcp(bctx *b, wh_dyn_config *cfg) {
  if (cfg->tcp->services.n == 0)
    auto_service(b, &cfg->tcp->services, &wh_schema_tcp_service);
  l4_servers(b, cfg, false);
  wh_map *r = &cfg->tcp->routers;
  for (size_t i = 0; i < r->n && !b->oom; i++) {
    wh_tcp_router *rt = r->vals[i];
    if (!rt->rule || !*rt->rule) {
      if (wh_docker_elem_error(cfg, "tcp.routers", r->keys[i], "empty rule"))
        b->oom = true;
      continue;
    }
    link_service(b, cfg, "tcp.routers", r->keys[i], &rt->service, &cfg->tcp->services);
  }
}

static void build_udp(bctx *b, wh_dyn_config *cfg) {
  if (cfg->udp->services.n == 0)
    auto_service(b, &cfg->udp->services, &wh_schema_udp_service);
  l4_servers(b, cfg, true);
  wh_map *r = &cfg->udp->routers;
  for (size_t i = 0; i < r->n && !b->oom; i++) {
    wh_udp_router *rt = r->vals[i];
    link_service(b, cfg, "udp.routers", r->keys[i], &rt->service, &cfg->udp->services);
  }
}

static void build_http(bctx *b, wh_dyn_config *cfg) {
  wh_http_config *h = cfg->http;
  if (h->services.n == 0)
    auto_service(b, &h->services, &wh_schema_http_service);
  if (b->oom)
    return;
  http_servers(b, cfg);
  if (b->skip || b->oom)
    return;
  if (h->routers.n == 0) {
    if (h->services.n > 1) {
      wh_errlist_add(&b->rep->warnings,
                     "no router created: the container defines several services and no router");
    } else {
      wh_http_router *rt = wh_schema_new(&wh_schema_http_router);
      if (!rt || wh_map_put(&h->routers, b->svc, rt, NULL)) {
        wh_schema_destroy(&wh_schema_http_router, rt);
        b->oom = true;
        return;
      }
    }
  }
  const char *tmpl = b->o->cfg && b->o->cfg->default_rule && *b->o->cfg->default_rule
                         ? b->o->cfg->default_rule
                         : DEFAULT_RULE;
  for (size_t i = 0; i < h->routers.n && !b->oom;) {
    wh_http_router *rt = h->routers.vals[i];
    const char *name = h->routers.keys[i];
    if (!rt->rule || !*rt->rule) {
      wh_errlist el;
      wh_errlist_init(&el);
      char *rule = wh_docker_render_rule(tmpl, b->svc, b->c, &el);
      if (!rule) {
        for (size_t j = 0; j < el.n; j++)
          if (wh_docker_elem_error(cfg, "http.routers", name, "%s", el.items[j]))
            b->oom = true;
        wh_errlist_free(&el);
        i++;
        continue;
      }
      wh_errlist_free(&el);
      if (!*rule) {
        free(rule);
        wh_errlist_add(&b->rep->warnings, "router %s dropped: the default rule renders empty",
                       name);
        map_remove(&h->routers, &wh_schema_http_router, name);
        continue;
      }
      free(rt->rule);
      rt->rule = rule;
    }
    link_service(b, cfg, "http.routers", name, &rt->service, &h->services);
    i++;
  }
}

static wh_dyn_config *build_one(bctx *b, const wh_docker_constraints *k, const char *kerr) {
  const wh_docker_container *c = b->c;
  const wh_docker_opts *o = b->o;
  if (o->self_id && *o->self_id && wh_str_has_prefix(c->id, o->self_id)) {
    skip(b, "this is wharf's own container: never routed to itself");
    return NULL;
  }
  wh_errlist pe;
  wh_errlist_init(&pe);
  if (wh_docker_plabels_parse(c, &b->pl, &pe)) {
    wh_strbuf sb = {0};
    for (size_t i = 0; i < pe.n; i++)
      wh_strbuf_printf(&sb, "%s%s", i ? "; " : "", pe.items[i]);
    skip(b, "%s", wh_strbuf_cstr(&sb));
    wh_strbuf_free(&sb);
    wh_errlist_free(&pe);
    return NULL;
  }
  wh_errlist_free(&pe);
  bool exposed = o->cfg ? o->cfg->exposed_by_default : true;
  if (b->pl.enable == 0) {
    skip(b, "not enabled (traefik.enable=false)");
    return NULL;
  }
  if (b->pl.enable < 0 && !exposed) {
    skip(b, "not enabled (exposedByDefault is false and traefik.enable is not set)");
    return NULL;
  }
  if (kerr) {
    skip(b, "%s", kerr);
    return NULL;
  }
  if (!wh_docker_constraints_match(k, c)) {
    skip(b, "does not match the constraints (%s)", o->cfg ? o->cfg->constraints : "");
    return NULL;
  }
  if (!wh_streq(c->status, "running")) {
    if (!b->pl.allow_nonrunning) {
      skip(b, "not running (status %s)", c->status ? c->status : "unknown");
      return NULL;
    }
    b->empty_lb = true;
    if (b->dc)
      wh_str_setf(&b->dc->empty_lb,
                  "not running (status %s) and traefik.docker.allownonrunning=true: kept "
                  "without servers (503)",
                  c->status ? c->status : "unknown");
  }
  if (c->health && strcmp(c->health, "healthy") != 0) {
    if (!(o->cfg && o->cfg->allow_empty_services)) {
      skip(b, "health status is %s (not healthy)", c->health);
      return NULL;
    }
    b->empty_lb = true;
    if (b->dc && !b->dc->empty_lb)
      wh_str_setf(&b->dc->empty_lb,
                  "health status is %s and providers.docker.allowEmptyServices is true: "
                  "kept without servers (503)",
                  c->health);
  }
  wh_dyn_config *cfg = wh_docker_labels_decode(c, &b->rep->errors);
  if (!cfg) {
    b->oom = true;
    return NULL;
  }
  bool tcp = cfg->tcp && (cfg->tcp->routers.n || cfg->tcp->services.n);
  bool udp = cfg->udp && (cfg->udp->routers.n || cfg->udp->services.n);
  bool http =
      cfg->http && (cfg->http->routers.n || cfg->http->services.n || cfg->http->middlewares.n);
  if (tcp)
    build_tcp(b, cfg);
  if (udp && !b->skip && !b->oom)
    build_udp(b, cfg);
  if ((http || !(tcp || udp)) && !b->skip && !b->oom) {
    if (!ensure_section(cfg, "http"))
      b->oom = true;
    else
      build_http(b, cfg);
  }
  if (b->skip || b->oom) {
    wh_dyn_config_free(cfg);
    return NULL;
  }
  for (size_t i = 0; i < cfg->n_elem_errors; i++) {
    char *pfx = wh_asprintf("%s.%s: ", cfg->elem_errors[i].section, cfg->elem_errors[i].name);
    wh_errlist_extend(&b->rep->errors, &cfg->elem_errors[i].errs, pfx ? pfx : "");
    free(pfx);
  }
  return cfg;
}

/* ---------------------------------------------------------------------------
 * Merging */

typedef struct origin {
  char *section, *name;
  wh_strlist containers;
  bool conflict;
} origin;

typedef struct merger {
  wh_dyn_config *out;
  origin *v;
  size_t n;
  bool oom;
  wh_container_diagnosis *diag; /* may be NULL */
} merger;

static origin *origin_get(merger *m, const char *section, const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->v[i].section, section) == 0 && strcmp(m->v[i].name, name) == 0)
      return &m->v[i];
  origin *nv = realloc(m->v, (m->n + 1) * sizeof *nv);
  if (!nv)
    return NULL;
  m->v = nv;
  origin *o = &nv[m->n];
  memset(o, 0, sizeof *o);
  o->section = wh_strdup(section);
  o->name = wh_strdup(name);
  if (!o->section || !o->name) {
    free(o->section);
    free(o->name);
    return NULL;
  }
  m->n++;
  return o;
}

/* The servers list of a service element, or NULL (not a load balancer). */
static wh_list *servers_of(const wh_schema *s, void *obj) {
  if (s == &wh_schema_http_service)
    return ((wh_http_service *)obj)->load_balancer
               ? &((wh_http_service *)obj)->load_balancer->servers
               : NULL;
  if (s == &wh_schema_tcp_service)
    return ((wh_tcp_service *)obj)->load_balancer ? &((wh_tcp_service *)obj)->load_balancer->servers
                                                  : NULL;
  if (s == &wh_schema_udp_service)
    return ((wh_udp_service *)obj)->load_balancer ? &((wh_udp_service *)obj)->load_balancer->servers
                                                  : NULL;
  return NULL;
}

static const char *server_key(const wh_schema *s, const void *item) {
  if (s == &wh_schema_http_service)
    return ((const wh_server *)item)->url;
  if (s == &wh_schema_tcp_service)
    return ((const wh_tcp_server *)item)->address;
  return ((const wh_udp_server *)item)->address;
}

static const wh_schema *server_schema(const wh_schema *s) {
  return sub_of(sub_of(s, "loadBalancer"), "servers");
}

/* Same-named services merge when equal apart from their servers. */
static bool equal_but_servers(const wh_schema *s, void *a, void *b) {
  wh_list *la = servers_of(s, a), *lb = servers_of(s, b);
  if (!la || !lb)
    return wh_schema_equal(s, a, b);
  wh_list ta = *la, tb = *lb;
  *la = (wh_list){0};
  *lb = (wh_list){0};
  bool eq = wh_schema_equal(s, a, b);
  *la = ta;
  *lb = tb;
  return eq;
}

static int append_servers(const wh_schema *s, void *dst, void *src) {
  wh_list *ld = servers_of(s, dst), *ls = servers_of(s, src);
  const wh_schema *ss = server_schema(s);
  for (size_t i = 0; i < ls->n; i++) {
    const void *it = (char *)ls->items + i * ss->size;
    const char *key = server_key(s, it);
    bool dup = false;
    for (size_t j = 0; j < ld->n && !dup; j++)
      dup = wh_streq(server_key(s, (char *)ld->items + j * ss->size), key);
    if (dup)
      continue;
    char *items = realloc(ld->items, (ld->n + 1) * ss->size);
    if (!items)
      return WH_ENOMEM;
    ld->items = items;
    if (wh_schema_copy(ss, items + ld->n * ss->size, it))
      return WH_ENOMEM;
    ld->n++;
  }
  return 0;
}

static void merge_map(merger *m, const char *section, const wh_schema *es, wh_map *dst,
                      const wh_map *src, const char *container) {
  bool service =
      es == &wh_schema_http_service || es == &wh_schema_tcp_service || es == &wh_schema_udp_service;
  for (size_t i = 0; i < src->n && !m->oom; i++) {
    const char *name = src->keys[i];
    origin *o = origin_get(m, section, name);
    if (!o || wh_strlist_push(&o->containers, container)) {
      m->oom = true;
      return;
    }
    void *have = wh_map_get(dst, name);
    if (!have) {
      void *copy = malloc(es->size);
      if (!copy || wh_schema_copy(es, copy, src->vals[i])) {
        free(copy);
        m->oom = true;
        return;
      }
      if (wh_map_put(dst, name, copy, NULL)) {
        wh_schema_destroy(es, copy);
        m->oom = true;
      }
      continue;
    }
    if (service && equal_but_servers(es, have, src->vals[i])) {
      if (servers_of(es, have) && append_servers(es, have, src->vals[i]))
        m->oom = true;
    } else if (!wh_schema_equal(es, have, src->vals[i])) {
      o->conflict = true;
    }
  }
}

static void merge_config(merger *m, wh_dyn_config *src, const char *container) {
  const wh_schema *root = &wh_schema_dyn_config;
  for (size_t t = 0; t < root->nfields && !m->oom; t++) {
    const wh_field *tf = &root->fields[t];
    void *ssec = *field_ptr(src, tf);
    if (tf->type != WH_F_STRUCT_PTR || !ssec)
      continue;
    void *dsec = ensure_section(m->out, tf->name);
    if (!dsec) {
      m->oom = true;
      return;
    }
    for (size_t f = 0; f < tf->sub->nfields && !m->oom; f++) {
      const wh_field *ef = &tf->sub->fields[f];
      if (ef->type != WH_F_MAP)
        continue; /* tls.certificates cannot come from labels */
      char *section = wh_asprintf("%s.%s", tf->name, ef->name);
      if (!section) {
        m->oom = true;
        return;
      }
      merge_map(m, section, ef->sub, (wh_map *)field_ptr(dsec, ef), (wh_map *)field_ptr(ssec, ef),
                container);
      free(section);
    }
  }
  for (size_t i = 0; i < src->n_elem_errors && !m->oom; i++) {
    const wh_elem_error *e = &src->elem_errors[i];
    for (size_t j = 0; j < e->errs.n; j++)
      if (wh_docker_elem_error(m->out, e->section, e->name, "%s", e->errs.items[j]))
        m->oom = true;
  }
}

static void merger_finish(merger *m) {
  for (size_t i = 0; i < m->n; i++) {
    origin *o = &m->v[i];
    if (o->conflict && !m->oom) {
      wh_strbuf sb = {0};
      for (size_t j = 0; j < o->containers.n; j++)
        wh_strbuf_printf(&sb, "%s%s", j ? ", " : "", o->containers.v[j]);
      if (wh_docker_elem_error(m->out, o->section, o->name,
                               "defined multiple times with different configurations by "
                               "containers %s",
                               wh_strbuf_cstr(&sb)))
        m->oom = true;
      /* Each container involved is told, not only the element. */
      for (size_t k = 0; m->diag && k < m->diag->n; k++)
        if (wh_strlist_contains(&o->containers, m->diag->v[k].name))
          wh_errlist_add(&m->diag->v[k].errors,
                         "%s.%s: defined multiple times with different configurations by "
                         "containers %s: disabled",
                         o->section, o->name, wh_strbuf_cstr(&sb));
      wh_strbuf_free(&sb);
    }
    free(o->section);
    free(o->name);
    wh_strlist_free(&o->containers);
  }
  free(m->v);
}

/* ---------------------------------------------------------------------------
 * Entry point */

typedef struct built {
  char *key; /* "<service>-<id>": Traefik's merge order */
  const wh_docker_container *c;
  wh_dyn_config *cfg;
} built;

static int built_cmp(const void *a, const void *b) {
  return strcmp(((const built *)a)->key, ((const built *)b)->key);
}

static int report_cmp(const void *a, const void *b) {
  const wh_docker_report *x = a, *y = b;
  int r = strcmp(x->container ? x->container : "", y->container ? y->container : "");
  return r ? r : strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

wh_dyn_config *wh_docker_build(const wh_docker_opts *opts, wh_docker_container *const *cs, size_t n,
                               wh_docker_reports *reports) {
  return wh_docker_build_diagnosed(opts, cs, n, reports, NULL);
}

wh_dyn_config *wh_docker_build_diagnosed(const wh_docker_opts *opts, wh_docker_container *const *cs,
                                         size_t n, wh_docker_reports *reports,
                                         wh_container_diagnosis **diagp) {
  if (reports)
    *reports = (wh_docker_reports){0};
  /* The diagnosis is best effort: without memory for it the build goes on. */
  wh_container_diagnosis *diag = diagp ? wh_container_diagnosis_new(n) : NULL;
  bool diag_oom = false;
  if (diagp)
    *diagp = NULL;
  wh_dyn_config *out = wh_schema_new(&wh_schema_dyn_config);
  wh_docker_report *reps = calloc(n ? n : 1, sizeof *reps);
  built *bs = calloc(n ? n : 1, sizeof *bs);
  bool oom = !out || !reps || !bs;
  size_t nb = 0;

  wh_errlist kerrs;
  wh_errlist_init(&kerrs);
  const char *cons = opts && opts->cfg ? opts->cfg->constraints : NULL;
  wh_docker_constraints *k = oom ? NULL : wh_docker_constraints_compile(cons, &kerrs);
  char *kerr = NULL;
  if (!k && !oom)
    kerr = wh_asprintf("invalid constraints: %s", kerrs.n ? kerrs.items[0] : "out of memory");
  wh_errlist_free(&kerrs);

  for (size_t i = 0; i < n && !oom; i++) {
    const wh_docker_container *c = cs[i];
    wh_docker_report *rep = &reps[i];
    wh_errlist_init(&rep->errors);
    wh_errlist_init(&rep->warnings);
    rep->container = wh_strdup(c->name);
    rep->id = wh_strdup(c->id);
    bctx b = {.o = opts,
              .c = c,
              .rep = rep,
              .svc = wh_docker_service_name(c),
              .dc = diag ? &diag->v[i] : NULL};
    if (b.dc && wh_docker_diag_identify(b.dc, c, b.svc))
      diag_oom = true;
    wh_dyn_config *cfg = NULL;
    if (!rep->container || !rep->id || !b.svc)
      b.oom = true;
    else
      cfg = build_one(&b, k, kerr);
    if (b.dc) {
      b.dc->exposed = cfg != NULL;
      if (!cfg && b.skip && !(b.dc->reason = wh_strdup(b.skip)))
        diag_oom = true;
      if (wh_docker_diag_elements(b.dc, cfg))
        diag_oom = true;
      wh_errlist_copy(&b.dc->errors, &rep->errors);
      wh_errlist_copy(&b.dc->warnings, &rep->warnings);
    }
    if (cfg) {
      bs[nb].key = wh_asprintf("%s-%s", b.svc, c->id);
      bs[nb].c = c;
      bs[nb].cfg = cfg;
      if (!bs[nb].key) {
        wh_dyn_config_free(cfg);
        b.oom = true;
      } else {
        nb++;
      }
    } else {
      rep->skipped = true;
      rep->reason = b.skip;
      b.skip = NULL;
      free(rep->address);
      free(rep->network);
      rep->address = rep->network = NULL;
    }
    free(b.skip);
    free(b.svc);
    wh_docker_plabels_free(&b.pl);
    oom = b.oom;
  }
  wh_docker_constraints_free(k);
  free(kerr);

  qsort(bs, nb, sizeof *bs, built_cmp);
  merger m = {.out = out, .oom = oom, .diag = diag};
  for (size_t i = 0; i < nb && !m.oom; i++)
    merge_config(&m, bs[i].cfg, bs[i].c->name);
  merger_finish(&m);
  oom = m.oom;
  for (size_t i = 0; i < nb; i++) {
    free(bs[i].key);
    wh_dyn_config_free(bs[i].cfg);
  }
  free(bs);

  wh_docker_reports r = {reps, n};
  if (reps && !oom)
    qsort(reps, n, sizeof *reps, report_cmp);
  if (oom || !reports) {
    if (reps)
      wh_docker_reports_free(&r);
  } else {
    *reports = r;
  }
  if (oom || diag_oom) {
    wh_container_diagnosis_unref(diag);
    diag = NULL;
  }
  wh_container_diagnosis_sort(diag);
  if (diagp)
    *diagp = diag;
  if (oom) {
    wh_dyn_config_free(out);
    return NULL;
  }
  return out;
}
