#include "lib/lb/health_check.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/lb/health_store.h"
#include "lib/net/curl_uv.h"

/* Set once by wh_health_checker_new, before any other curl call here. */
static const wh_curl_api *curl_api;
#define CURLAPI curl_api

/* Probe settings of one target; replaced as a whole on reconfiguration. */
typedef struct settings {
  char *probe_url;
  char *method;
  struct curl_slist *headers; /* including Host when healthCheck.hostname is set */
  int64_t timeout_ms, interval_ms, unhealthy_ms, status;
  bool follow, insecure, h2c;
  char *fingerprint; /* everything above, to tell a changed target */
} settings;

typedef struct target {
  wh_health_checker *hc;
  char *service, *url;
  settings set;
  wh_health_cell *cell;
  uv_timer_t timer; /* initialised once the target is live */
  bool live, taken;
  CURL *easy; /* the probe in flight */
  char errbuf[CURL_ERROR_SIZE];
} target;

struct wh_health_checker {
  uv_loop_t *loop;
  wh_health_store *store;
  wh_curl_uv *curl; /* the probes' transfers */
  target **t;
  size_t n;
  target **pending;
  size_t npending, cappending;
  int open_handles; /* target timers not yet closed */
  bool closing;
};

static void settings_free(settings *s) {
  free(s->probe_url);
  free(s->method);
  CURLAPI->slist_free_all(s->headers);
  free(s->fingerprint);
  memset(s, 0, sizeof(*s));
}

static void maybe_finish(wh_health_checker *hc) {
  if (hc->closing && hc->open_handles == 0) {
    wh_health_store_free(hc->store);
    free(hc->t);
    free(hc->pending);
    free(hc);
  }
}

/* ---- probes ---- */

static size_t discard(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

static void on_probe_timer(uv_timer_t *t);
static void on_probe_done(void *arg, CURL *easy, CURLcode rc);

static void schedule(target *t) {
  bool up = atomic_load(&t->cell->up) != 0;
  uv_timer_start(&t->timer, on_probe_timer,
                 (uint64_t)(up ? t->set.interval_ms : t->set.unhealthy_ms), 0);
}

static void set_state(target *t, bool up, const char *reason) {
  int old = atomic_exchange(&t->cell->up, up ? 1 : 0);
  if (old && !up)
    wh_log_warn("service %s: server %s is DOWN: %s", t->service, t->url, reason);
  else if (!old && up)
    wh_log_info("service %s: server %s is UP", t->service, t->url);
}

static void on_probe_timer(uv_timer_t *tm) {
  target *t = tm->data;
  wh_health_checker *hc = t->hc;
  if (t->easy || hc->closing)
    return;
  CURL *e = CURLAPI->easy_init();
  if (!e) {
    schedule(t);
    return;
  }
  const settings *s = &t->set;
  t->errbuf[0] = '\0';
  CURLAPI->easy_setopt(e, CURLOPT_URL, s->probe_url);
  CURLAPI->easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  CURLAPI->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  CURLAPI->easy_setopt(e, CURLOPT_NOPROXY, "*");
  CURLAPI->easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  CURLAPI->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLAPI->easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  CURLAPI->easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  CURLAPI->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
  CURLAPI->easy_setopt(e, CURLOPT_FOLLOWLOCATION, s->follow ? 1L : 0L);
  CURLAPI->easy_setopt(e, CURLOPT_MAXREDIRS, 10L); /* Go's client stops after 10 */
  if (s->headers)
    CURLAPI->easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
  if (strcasecmp(s->method, "HEAD") == 0)
    CURLAPI->easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcasecmp(s->method, "GET") != 0)
    CURLAPI->easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->method);
  if (s->insecure) {
    CURLAPI->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    CURLAPI->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (s->h2c)
    CURLAPI->easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  t->easy = e;
  if (wh_curl_uv_add(hc->curl, e, on_probe_done, t) != 0) {
    t->easy = NULL;
    CURLAPI->easy_cleanup(e);
    schedule(t);
  }
}

static void probe_done(target *t, CURLcode rc) {
  long code = 0;
  CURLAPI->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  char reason[CURL_ERROR_SIZE + 64];
  bool up;
  if (rc != CURLE_OK) {
    up = false;
    snprintf(reason, sizeof(reason), "%s", t->errbuf[0] ? t->errbuf : CURLAPI->easy_strerror(rc));
  } else if (t->set.status) {
    up = code == t->set.status;
    snprintf(reason, sizeof(reason), "received status code %ld (expected %lld)", code,
             (long long)t->set.status);
  } else {
    up = code >= 200 && code < 400;
    snprintf(reason, sizeof(reason), "received error status code %ld", code);
  }
  set_state(t, up, reason);
}

static void on_probe_done(void *arg, CURL *easy, CURLcode rc) {
  target *t = arg;
  probe_done(t, rc);
  CURLAPI->easy_cleanup(easy);
  t->easy = NULL;
  if (!t->hc->closing)
    schedule(t);
}

/* ---- targets ---- */

static void on_target_closed(uv_handle_t *h) {
  target *t = h->data;
  wh_health_checker *hc = t->hc;
  settings_free(&t->set);
  free(t->service);
  free(t->url);
  free(t);
  hc->open_handles--;
  maybe_finish(hc);
}

static void target_drop(target *t) {
  wh_health_checker *hc = t->hc;
  if (t->easy) {
    wh_curl_uv_cancel(hc->curl, t->easy);
    CURLAPI->easy_cleanup(t->easy);
    t->easy = NULL;
  }
  wh_health_store_release(hc->store, t->cell);
  t->cell = NULL;
  if (t->live) {
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_target_closed);
    return;
  }
  settings_free(&t->set);
  free(t->service);
  free(t->url);
  free(t);
}

static int target_cmp(const void *a, const void *b) {
  const target *x = *(target *const *)a, *y = *(target *const *)b;
  int c = strcmp(x->service, y->service);
  return c ? c : strcmp(x->url, y->url);
}

static bool explicit_port(const char *url) {
  const char *a = strstr(url, "://");
  a = a ? a + 3 : url;
  size_t alen = strcspn(a, "/?#");
  const char *rb = memchr(a, ']', alen);
  const char *from = rb ? rb : a;
  return memchr(from, ':', alen - (size_t)(from - a)) != NULL;
}

static int make_settings(settings *out, const wh_health_check *h, const wh_lb_server *srv,
                         bool insecure) {
  memset(out, 0, sizeof(*out));
  const char *scheme = h->scheme && *h->scheme ? h->scheme : srv->scheme;
  out->h2c = strcasecmp(scheme, "h2c") == 0;
  if (out->h2c)
    scheme = "http";
  bool v6 = strchr(srv->host, ':') != NULL;
  wh_strbuf b = {0};
  wh_strbuf_printf(&b, "%s://%s%s%s", scheme, v6 ? "[" : "", srv->host, v6 ? "]" : "");
  if (h->port > 0)
    wh_strbuf_printf(&b, ":%lld", (long long)h->port);
  else if (explicit_port(srv->url))
    wh_strbuf_printf(&b, ":%d", srv->port);
  const char *path = h->path ? h->path : "";
  if (*path && *path != '/')
    wh_strbuf_putc(&b, '/');
  wh_strbuf_puts(&b, path);
  out->probe_url = wh_strbuf_take(&b);
  out->method = wh_strdup(h->method && *h->method ? h->method : "GET");
  if (!out->probe_url || !out->method)
    return WH_ENOMEM;
  for (size_t i = 0; i < h->headers.n; i++) {
    if (strcasecmp(h->headers.keys[i], "Host") == 0)
      continue; /* as in Go, only healthCheck.hostname sets Host */
    char *line = wh_asprintf("%s: %s", h->headers.keys[i], h->headers.vals[i]);
    struct curl_slist *l = line ? CURLAPI->slist_append(out->headers, line) : NULL;
    free(line);
    if (!l)
      return WH_ENOMEM;
    out->headers = l;
  }
  if (h->hostname && *h->hostname) {
    char *line = wh_asprintf("Host: %s", h->hostname);
    struct curl_slist *l = line ? CURLAPI->slist_append(out->headers, line) : NULL;
    free(line);
    if (!l)
      return WH_ENOMEM;
    out->headers = l;
  }
  out->interval_ms = h->interval > 0 ? h->interval / WH_MS : 30000;
  if (out->interval_ms <= 0)
    out->interval_ms = 1;
  out->unhealthy_ms = h->unhealthy_interval > 0 ? h->unhealthy_interval / WH_MS : out->interval_ms;
  if (out->unhealthy_ms <= 0)
    out->unhealthy_ms = 1;
  out->timeout_ms = h->timeout > 0 ? h->timeout / WH_MS : 5000;
  if (out->timeout_ms <= 0)
    out->timeout_ms = 1;
  out->status = h->status;
  out->follow = h->follow_redirects;
  out->insecure = insecure;
  wh_strbuf f = {0};
  wh_strbuf_printf(&f, "%s\n%s\n%lld %lld %lld %lld %d%d%d\n", out->probe_url, out->method,
                   (long long)out->timeout_ms, (long long)out->interval_ms,
                   (long long)out->unhealthy_ms, (long long)out->status, out->follow, out->insecure,
                   out->h2c);
  for (struct curl_slist *l = out->headers; l; l = l->next)
    wh_strbuf_printf(&f, "%s\n", l->data);
  out->fingerprint = wh_strbuf_take(&f);
  return out->fingerprint ? 0 : WH_ENOMEM;
}

wh_health_checker *wh_health_checker_new(uv_loop_t *loop, wh_health_store *store) {
  if (!store)
    return NULL;
  wh_curl_uv *curl = wh_curl_uv_new(loop);
  if (!curl)
    return NULL;
  curl_api = wh_curl_uv_api(curl);
  wh_health_checker *hc = calloc(1, sizeof(*hc));
  if (!hc) {
    wh_curl_uv_close(curl);
    return NULL;
  }
  hc->loop = loop;
  hc->curl = curl;
  hc->store = wh_health_store_ref(store);
  return hc;
}

static void clear_pending(wh_health_checker *hc) {
  for (size_t i = 0; i < hc->npending; i++)
    target_drop(hc->pending[i]);
  hc->npending = 0;
}

void wh_health_checker_begin(wh_health_checker *hc) {
  clear_pending(hc);
}

static int push_pending(wh_health_checker *hc, target *t) {
  if (hc->npending == hc->cappending) {
    size_t cap = hc->cappending ? hc->cappending * 2 : 16;
    target **v = realloc(hc->pending, cap * sizeof(*v));
    if (!v)
      return WH_ENOMEM;
    hc->pending = v;
    hc->cappending = cap;
  }
  hc->pending[hc->npending++] = t;
  return 0;
}

int wh_health_checker_add(wh_health_checker *hc, const char *service, const wh_lb_service *cfg,
                          bool insecure) {
  if (!cfg || !cfg->health_check)
    return 0;
  const wh_health_check *h = cfg->health_check;
  if (h->mode && strcasecmp(h->mode, "grpc") == 0) {
    wh_log_warn("service %s: healthCheck mode grpc is not supported; its servers stay UP", service);
    return 0;
  }
  const wh_server *sv = cfg->servers.items;
  for (size_t i = 0; i < cfg->servers.n; i++) {
    if ((sv[i].weight_set && sv[i].weight <= 0) || !sv[i].url)
      continue;
    wh_lb_server srv;
    int rc = wh_lb_server_parse(&srv, sv[i].url);
    if (rc == WH_EINVAL) {
      wh_lb_server_clear(&srv);
      continue; /* the balancer reports it */
    }
    target *t = rc ? NULL : calloc(1, sizeof(*t));
    if (t) {
      t->hc = hc;
      t->service = wh_strdup(service);
      t->url = wh_strdup(sv[i].url);
      rc = make_settings(&t->set, h, &srv, insecure);
    }
    wh_lb_server_clear(&srv);
    if (!t || rc || !t->service || !t->url || push_pending(hc, t) != 0) {
      if (t)
        target_drop(t);
      return WH_ENOMEM;
    }
  }
  return 0;
}

void wh_health_checker_commit(wh_health_checker *hc) {
  target **next = calloc(hc->npending ? hc->npending : 1, sizeof(*next));
  if (!next) {
    clear_pending(hc);
    return;
  }
  if (hc->n)
    qsort(hc->t, hc->n, sizeof(*hc->t), target_cmp);
  for (size_t i = 0; i < hc->n; i++)
    hc->t[i]->taken = false;
  size_t nn = 0;
  for (size_t i = 0; i < hc->npending; i++) {
    target *p = hc->pending[i];
    target **found = hc->n ? bsearch(&p, hc->t, hc->n, sizeof(*hc->t), target_cmp) : NULL;
    if (found && !(*found)->taken) {
      target *o = *found;
      o->taken = true;
      if (strcmp(o->set.fingerprint, p->set.fingerprint) != 0) {
        settings_free(&o->set);
        o->set = p->set;
        memset(&p->set, 0, sizeof(p->set));
        if (!o->easy)
          schedule(o);
      }
      target_drop(p);
      next[nn++] = o;
      continue;
    }
    p->cell = wh_health_store_acquire(hc->store, p->service, p->url);
    if (!p->cell) {
      target_drop(p);
      continue;
    }
    uv_timer_init(hc->loop, &p->timer);
    p->timer.data = p;
    p->live = true;
    hc->open_handles++;
    /* Like Traefik, the first probe comes one interval after the start. */
    schedule(p);
    next[nn++] = p;
  }
  hc->npending = 0;
  for (size_t i = 0; i < hc->n; i++)
    if (!hc->t[i]->taken)
      target_drop(hc->t[i]);
  free(hc->t);
  hc->t = next;
  hc->n = nn;
}

static const wh_rt_elem *find_transport(const wh_runtime *rt, const char *name) {
  const wh_rt_list *l = &rt->elems[WH_KIND_HTTP_TRANSPORT];
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i]->name, name) == 0)
      return l->v[i];
  return NULL;
}

int wh_health_checker_update(wh_health_checker *hc, const wh_runtime *rt,
                             const wh_static_config *stat) {
  if (!hc || hc->closing)
    return 0;
  wh_health_checker_begin(hc);
  bool dflt_insecure =
      stat && stat->servers_transport && stat->servers_transport->insecure_skip_verify;
  const wh_rt_list *l = rt ? &rt->elems[WH_KIND_HTTP_SERVICE] : NULL;
  for (size_t i = 0; l && i < l->n; i++) {
    const wh_rt_elem *el = l->v[i];
    const wh_http_service *svc = el->cfg;
    if (el->status == WH_STATUS_DISABLED || !svc || !svc->load_balancer ||
        !svc->load_balancer->health_check)
      continue;
    bool insecure = dflt_insecure;
    const char *ref = svc->load_balancer->servers_transport;
    if (ref && *ref) {
      char *q = strchr(ref, '@') ? wh_strdup(ref) : wh_asprintf("%s@%s", ref, el->provider);
      const wh_rt_elem *tr = q ? find_transport(rt, q) : NULL;
      free(q);
      if (tr && tr->cfg)
        insecure = ((const wh_servers_transport *)tr->cfg)->insecure_skip_verify;
    }
    if (wh_health_checker_add(hc, el->name, svc->load_balancer, insecure) != 0) {
      clear_pending(hc);
      return WH_ENOMEM;
    }
  }
  wh_health_checker_commit(hc);
  return 0;
}

size_t wh_health_checker_ntargets(const wh_health_checker *hc) {
  return hc ? hc->n : 0;
}

void wh_health_checker_close(wh_health_checker *hc) {
  if (!hc || hc->closing)
    return;
  hc->closing = true;
  clear_pending(hc);
  for (size_t i = 0; i < hc->n; i++)
    target_drop(hc->t[i]);
  hc->n = 0;
  /* Every probe was cancelled above: no done callback runs from here. */
  wh_curl_uv_close(hc->curl);
  hc->curl = NULL;
  /* Without targets no timer is left to close. */
  maybe_finish(hc);
}
