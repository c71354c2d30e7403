#include "lib/admin/containers.h"
#include "lib/admin/reply.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/config/runtime.h"
#include "lib/config/static.h"
#include "lib/core/str.h"

/* ---- the model ---- */

wh_container_diagnosis *wh_container_diagnosis_new(size_t n) {
  wh_container_diagnosis *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->v = calloc(n ? n : 1, sizeof *d->v);
  if (!d->v) {
    free(d);
    return NULL;
  }
  d->n = n;
  for (size_t i = 0; i < n; i++) {
    wh_errlist_init(&d->v[i].errors);
    wh_errlist_init(&d->v[i].warnings);
  }
  atomic_init(&d->refs, 1);
  d->built_at = time(NULL);
  return d;
}

static void diag_free(wh_container_diag *c) {
  free(c->name);
  free(c->id);
  free(c->state);
  free(c->health);
  free(c->service_name);
  for (size_t i = 0; i < c->nlabels; i++) {
    free(c->label_keys[i]);
    free(c->label_values[i]);
  }
  free(c->label_keys);
  free(c->label_values);
  free(c->reason);
  free(c->empty_lb);
  for (size_t i = 0; i < c->nelems; i++) {
    free(c->elems[i].section);
    free(c->elems[i].name);
  }
  free(c->elems);
  for (size_t i = 0; i < c->nservers; i++) {
    wh_container_server *s = &c->servers[i];
    free(s->section);
    free(s->service);
    free(s->address);
    free(s->network);
    free(s->network_why);
    free(s->port);
    free(s->port_why);
  }
  free(c->servers);
  wh_errlist_free(&c->errors);
  wh_errlist_free(&c->warnings);
}

static int diag_cmp(const void *a, const void *b) {
  const wh_container_diag *x = a, *y = b;
  int r = strcmp(x->name ? x->name : "", y->name ? y->name : "");
  return r ? r : strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

void wh_container_diagnosis_sort(wh_container_diagnosis *d) {
  if (d && d->n > 1)
    qsort(d->v, d->n, sizeof *d->v, diag_cmp);
}

wh_container_diagnosis *wh_container_diagnosis_ref(wh_container_diagnosis *d) {
  if (d)
    atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
  return d;
}

void wh_container_diagnosis_unref(wh_container_diagnosis *d) {
  if (!d || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; i < d->n; i++)
    diag_free(&d->v[i]);
  free(d->v);
  free(d);
}

/* ---- publication ---- */

/* Providers are few and named by static strings of their type: a fixed
 * table, searched under the lock. */
#define MAX_PUBLISHERS 4

static pthread_mutex_t pub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char name[16];
  const void *owner;
  wh_container_diagnosis *d;
} pubs[MAX_PUBLISHERS];

void wh_container_diagnosis_publish(const char *provider, const void *owner,
                                    wh_container_diagnosis *d) {
  wh_container_diagnosis *old = NULL;
  pthread_mutex_lock(&pub_mu);
  size_t i = 0;
  while (i < MAX_PUBLISHERS && pubs[i].name[0] && strcmp(pubs[i].name, provider) != 0)
    i++;
  if (i == MAX_PUBLISHERS || strlen(provider) >= sizeof pubs[i].name) {
    old = d; /* no slot: nothing to show rather than a leak */
  } else if (!d && pubs[i].name[0] && pubs[i].owner != owner) {
    /* a stale withdrawal */
  } else {
    snprintf(pubs[i].name, sizeof pubs[i].name, "%s", provider);
    old = pubs[i].d;
    pubs[i].d = d;
    pubs[i].owner = owner;
  }
  pthread_mutex_unlock(&pub_mu);
  /* Freed outside the lock: a large diagnosis must not hold readers up. */
  wh_container_diagnosis_unref(old);
}

wh_container_diagnosis *wh_container_diagnosis_current(const char *provider) {
  wh_container_diagnosis *d = NULL;
  pthread_mutex_lock(&pub_mu);
  for (size_t i = 0; i < MAX_PUBLISHERS && pubs[i].name[0]; i++)
    if (strcmp(pubs[i].name, provider) == 0)
      d = wh_container_diagnosis_ref(pubs[i].d);
  pthread_mutex_unlock(&pub_mu);
  return d;
}

/* ---- responses (the shapes of lib/admin/api.c) ---- */

/* Go's getIntParam, as the other lists: absent → dflt; else a positive integer. */
static bool int_param(const char *query, const char *key, long dflt, long *out) {
  char *raw = wh_api_query_get(query, key);
  if (!raw || !*raw) {
    free(raw);
    *out = dflt;
    return true;
  }
  char *end;
  errno = 0;
  long v = strtol(raw, &end, 10);
  bool ok = !errno && end != raw && !*end && !isspace((unsigned char)raw[0]) && v > 0;
  free(raw);
  *out = ok ? v : 0;
  return ok;
}

/* ---- JSON ---- */

static const struct {
  const char *section, *kind;
  wh_kind rt;
} kinds[] = {
    {"http.routers", "http.router", WH_KIND_HTTP_ROUTER},
    {"http.services", "http.service", WH_KIND_HTTP_SERVICE},
    {"http.middlewares", "http.middleware", WH_KIND_HTTP_MIDDLEWARE},
    {"http.serversTransports", "http.serversTransport", WH_KIND_HTTP_TRANSPORT},
    {"tcp.routers", "tcp.router", WH_KIND_TCP_ROUTER},
    {"tcp.services", "tcp.service", WH_KIND_TCP_SERVICE},
    {"tcp.middlewares", "tcp.middleware", WH_KIND_TCP_MIDDLEWARE},
    {"tcp.serversTransports", "tcp.serversTransport", WH_KIND_TCP_TRANSPORT},
    {"udp.routers", "udp.router", WH_KIND_UDP_ROUTER},
    {"udp.services", "udp.service", WH_KIND_UDP_SERVICE},
};

static void add_str(cJSON *o, const char *key, const char *v) {
  if (v)
    cJSON_AddStringToObject(o, key, v);
}

static cJSON *errlist_json(const wh_errlist *l) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < l->n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateString(l->items[i]));
  return a;
}

/* A produced element with its status in the configuration being served. */
static cJSON *elem_json(const wh_snapshot *snap, const char *provider, const wh_container_elem *e) {
  cJSON *o = cJSON_CreateObject();
  char *qn = wh_qualify(e->name, provider);
  add_str(o, "name", qn ? qn : e->name);
  size_t k = 0;
  while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].section, e->section) != 0)
    k++;
  if (k == sizeof kinds / sizeof kinds[0]) {
    add_str(o, "kind", e->section); /* tls.stores: global, no runtime element */
    free(qn);
    return o;
  }
  add_str(o, "kind", kinds[k].kind);
  const wh_rt_elem *el = snap && snap->rt && qn ? wh_runtime_find(snap->rt, kinds[k].rt, qn) : NULL;
  if (el) {
    add_str(o, "status", wh_status_name(el->status));
    if (el->errors.n)
      cJSON_AddItemToObject(o, "error", errlist_json(&el->errors));
  } else {
    /* The provider's configurations are throttled (providersThrottleDuration):
     * a fresh build is diagnosed before it is served. */
    add_str(o, "status", "pending");
  }
  free(qn);
  return o;
}

static cJSON *server_json(const char *provider, const wh_container_server *s) {
  cJSON *o = cJSON_CreateObject();
  char *qn = s->service ? wh_qualify(s->service, provider) : NULL;
  add_str(o, "service", qn);
  free(qn);
  add_str(o, "address", s->address);
  add_str(o, "network", s->network);
  add_str(o, "networkReason", s->network_why);
  add_str(o, "port", s->port);
  add_str(o, "portReason", s->port_why);
  return o;
}

static cJSON *container_json(const wh_snapshot *snap, const char *provider,
                             const wh_container_diag *c) {
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  add_str(o, "name", c->name);
  add_str(o, "id", c->id);
  add_str(o, "state", c->state);
  add_str(o, "health", c->health ? c->health : "none");
  add_str(o, "serviceName", c->service_name);
  cJSON_AddBoolToObject(o, "exposed", c->exposed);
  add_str(o, "reason", c->reason);
  cJSON *labels = cJSON_AddObjectToObject(o, "labels");
  for (size_t i = 0; labels && i < c->nlabels; i++)
    cJSON_AddStringToObject(labels, c->label_keys[i], c->label_values[i]);
  cJSON *elems = cJSON_AddArrayToObject(o, "elements");
  for (size_t i = 0; elems && i < c->nelems; i++)
    cJSON_AddItemToArray(elems, elem_json(snap, provider, &c->elems[i]));
  cJSON *servers = cJSON_AddArrayToObject(o, "servers");
  for (size_t i = 0; servers && i < c->nservers; i++)
    cJSON_AddItemToArray(servers, server_json(provider, &c->servers[i]));
  add_str(o, "emptyLoadBalancer", c->empty_lb);
  cJSON_AddItemToObject(o, "errors", errlist_json(&c->errors));
  cJSON_AddItemToObject(o, "warnings", errlist_json(&c->warnings));
  return o;
}

/* ---- handlers ---- */

static bool contains_icase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; n && *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return true;
  return n == 0;
}

static void list(const wh_snapshot *snap, const char *provider, const wh_container_diagnosis *d,
                 const char *query, wh_http_resp *resp) {
  char *search = wh_api_query_get(query, "search");
  const wh_container_diag **kept = calloc(d->n ? d->n : 1, sizeof *kept);
  if (!kept) {
    free(search);
    wh_api_reply_error(resp, 500, "out of memory");
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < d->n; i++)
    if (!search || contains_icase(d->v[i].name ? d->v[i].name : "", search))
      kept[n++] = &d->v[i];
  free(search);
  long per_page, pgno;
  if (!int_param(query, "per_page", 100, &per_page)) {
    wh_api_reply_error(resp, 400, "invalid request: per_page: %ld", per_page);
  } else if (!int_param(query, "page", 1, &pgno)) {
    wh_api_reply_error(resp, 400, "invalid request: page: %ld", pgno);
  } else {
    unsigned long long start = (unsigned long long)(pgno - 1) * (unsigned long long)per_page;
    if (start != 0 && start >= n) {
      wh_api_reply_error(resp, 400, "invalid request: page: %ld, per_page: %ld", pgno, per_page);
    } else {
      unsigned long long end = start + (unsigned long long)per_page;
      if (end > n)
        end = n;
      char next[24];
      snprintf(next, sizeof next, "%ld", end < n ? pgno + 1 : 1);
      wh_http_resp_header(resp, "X-Next-Page", next);
      cJSON *a = cJSON_CreateArray();
      for (size_t i = (size_t)start; a && i < (size_t)end; i++)
        cJSON_AddItemToArray(a, container_json(snap, provider, kept[i]));
      wh_api_reply_json(resp, 200, a);
    }
  }
  free(kept);
}

static void one(const wh_snapshot *snap, const char *provider, const char *noun,
                const wh_container_diagnosis *d, const char *raw, wh_http_resp *resp) {
  char *name = wh_api_pct_decode(raw, strlen(raw), false);
  if (!name) {
    wh_api_reply_error(resp, 400, "unable to decode %s name %s", noun, raw);
    return;
  }
  const wh_container_diag *hit = NULL;
  for (size_t i = 0; i < d->n && !hit; i++)
    if (wh_streq(d->v[i].name, name))
      hit = &d->v[i];
  /* A short id, as `docker ps` prints it. */
  for (size_t i = 0; i < d->n && !hit && strlen(name) >= 12; i++)
    if (wh_streq(d->v[i].id, name))
      hit = &d->v[i];
  if (hit)
    wh_api_reply_json(resp, 200, container_json(snap, provider, hit));
  else
    wh_api_reply_error(resp, 404, "%s not found: %s", noun, name);
  free(name);
}

static const struct {
  const char *prefix, *provider, *noun;
} routes[] = {
    {"/api/providers/docker/containers", "docker", "container"},
    {"/api/providers/swarm/services", "swarm", "service"},
};

static bool configured(const wh_static_config *st, const char *provider) {
  if (!st || !st->providers)
    return false;
  if (strcmp(provider, "docker") == 0)
    return st->providers->docker != NULL;
  return st->providers->swarm != NULL;
}

int wh_containers_handle(const wh_snapshot *snap, const char *method, const char *path,
                         const char *query, wh_http_resp *resp) {
  size_t r = 0, plen = 0;
  for (; r < sizeof routes / sizeof routes[0]; r++) {
    plen = strlen(routes[r].prefix);
    if (path && strncmp(path, routes[r].prefix, plen) == 0 &&
        (path[plen] == '\0' ||
         (path[plen] == '/' && path[plen + 1] && !strchr(path + plen + 1, '/'))))
      break;
  }
  if (r == sizeof routes / sizeof routes[0])
    return WH_ENOENT;
  if (!wh_streq(method, "GET") && !wh_streq(method, "HEAD")) {
    resp->status = 405;
    wh_http_resp_header(resp, "Allow", "GET");
    return 0;
  }
  const char *provider = routes[r].provider;
  wh_container_diagnosis *d = wh_container_diagnosis_current(provider);
  /* Without a snapshot yet, a published diagnosis is proof enough. */
  if (snap && snap->stat ? !configured(snap->stat, provider) : !d) {
    if (snap && snap->stat)
      wh_api_reply_error(resp, 404, "the %s provider is not configured (providers.%s)", provider,
                         provider);
    else
      wh_api_reply_error(resp, 503, "no configuration yet");
  } else if (!d) {
    wh_api_reply_error(
        resp, 503,
        "the %s provider has not listed its %ss yet (is the engine reachable? see the log)",
        provider, routes[r].noun);
  } else if (path[plen] == '/') {
    one(snap, provider, routes[r].noun, d, path + plen + 1, resp);
  } else {
    list(snap, provider, d, query, resp);
  }
  wh_container_diagnosis_unref(d);
  return 0;
}
