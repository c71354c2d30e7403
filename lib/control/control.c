#include "lib/control/control.h"

#include <stdlib.h>
#include <string.h>

#include "lib/config/runtime.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/lb/health_check.h"
#include "lib/lb/lb.h"
#include "lib/observe/observe.h"
#include "lib/router/backend_tls.h"
#include "lib/tls/server.h"

/* Providers known to the control, in precedence order for merging and for
 * ties between routers of equal priority (internal first, then file before
 * docker before swarm). "acme" (lib/acme/manager.c) only brings
 * certificates; last, so a user's certificate for the same names wins. */
static const char *const known[] = {"internal", "file", "docker", "swarm", "acme"};
#define NPROV (sizeof(known) / sizeof(known[0]))

struct wh_control {
  uv_loop_t *loop;
  const wh_static_config *stat;
  wh_control_publish_fn publish;
  void *ctx;
  wh_dyn_config *frags[NPROV]; /* newest accepted fragment per provider */
  bool dirty;
  uint64_t last_build_ms;
  uint64_t generation;
  uv_timer_t timer;
  uv_timer_t files_timer; /* certificate files changed on disk */
  int pending_closes;
  wh_snapshot *current;
  bool closing;
  wh_health_store *health;    /* cells shared by the balancers of every snapshot */
  wh_health_checker *checker; /* active health checks, on this loop */
  int nworkers;
  wh_control_built_fn on_built; /* told of every new snapshot */
  void *on_built_ctx;
};

/* The proxy runs wharf.workers worker threads (0: one per CPU); balancers
 * get one WRR state per worker. */
static int worker_count(const wh_static_config *stat) {
  if (stat->wharf && stat->wharf->workers > 0)
    return (int)stat->wharf->workers;
  unsigned n = uv_available_parallelism();
  return n > 0 ? (int)n : 1;
}

static int provider_index(const char *name) {
  for (size_t i = 0; i < NPROV; i++)
    if (strcmp(known[i], name) == 0)
      return (int)i;
  return -1;
}

static void log_runtime(const wh_runtime *rt) {
  static const char *const what[WH_KIND_COUNT] = {
      "router",      "service",        "middleware",           "serversTransport", "TCP router",
      "TCP service", "TCP middleware", "TCP serversTransport", "UDP router",       "UDP service"};
  for (int k = 0; k < WH_KIND_COUNT; k++) {
    for (size_t i = 0; i < rt->elems[k].n; i++) {
      const wh_rt_elem *el = rt->elems[k].v[i];
      for (size_t e = 0; e < el->errors.n; e++)
        wh_log(el->status == WH_STATUS_DISABLED ? WH_LOG_ERROR : WH_LOG_WARN, "%s \"%s\"%s: %s",
               what[k], el->name, el->status == WH_STATUS_DISABLED ? " disabled" : "",
               el->errors.items[e]);
    }
  }
}

static bool wants_health_checks(const wh_runtime *rt) {
  const wh_rt_list *l = &rt->elems[WH_KIND_HTTP_SERVICE];
  for (size_t i = 0; i < l->n; i++) {
    const wh_http_service *svc = l->v[i]->cfg;
    if (l->v[i]->status != WH_STATUS_DISABLED && svc && svc->load_balancer &&
        svc->load_balancer->health_check)
      return true;
  }
  return false;
}

static void build(wh_control *c) {
  wh_fragment frags[NPROV];
  size_t n = 0;
  for (size_t i = 0; i < NPROV; i++)
    if (c->frags[i])
      frags[n++] = (wh_fragment){known[i], c->frags[i]};
  wh_runtime *rt = wh_runtime_build(c->stat, frags, n);
  if (!rt) {
    wh_log_error("configuration build failed (out of memory); keeping the previous one");
    wh_observe_config_reload(wh_observe_global(), false);
    return;
  }
  log_runtime(rt);
  wh_snapshot *s = wh_snapshot_new(c->stat, rt, c->generation + 1, c->health, c->nworkers);
  if (!s) {
    wh_log_error("snapshot build failed (out of memory); keeping the previous one");
    wh_observe_config_reload(wh_observe_global(), false);
    return;
  }
  c->generation++;
  c->dirty = false;
  wh_observe_config_reload(wh_observe_global(), true);
  wh_observe_config_applied(wh_observe_global(), s->rt);
  c->last_build_ms = uv_now(c->loop);
  size_t routers = 0, disabled = 0;
  wh_runtime_count(rt, WH_KIND_HTTP_ROUTER, &routers, NULL, &disabled);
  wh_log_info("configuration %llu applied: %zu HTTP router(s), %zu disabled",
              (unsigned long long)c->generation, routers, disabled);
  /* After the new balancers took their cells and before the old snapshot
   * lets go of its own, so unchanged servers keep their state. */
  if (!c->checker && c->health && wants_health_checks(rt)) {
    /* Created on first need: libcurl and its TLS stack cost megabytes of
     * resident memory that a configuration without health checks never
     * needs. */
    c->checker = wh_health_checker_new(c->loop, c->health);
    if (!c->checker)
      wh_log_error("active health checks unavailable (libcurl could not start)");
  }
  if (c->checker && wh_health_checker_update(c->checker, rt, c->stat) != 0)
    wh_log_error("health checks not reconfigured (out of memory); the previous ones keep running");
  wh_snapshot *old = c->current;
  c->current = s;
  if (c->publish)
    c->publish(c->ctx, wh_snapshot_ref(s));
  wh_snapshot_unref(old);
  if (c->on_built)
    c->on_built(c->on_built_ctx, s);
}

static void on_timer(uv_timer_t *t) {
  wh_control *c = t->data;
  if (c->dirty && !c->closing)
    build(c);
}

static uint64_t throttle_ms(const wh_control *c);

/* Certificates are files outside any provider's view: a renewed certificate
 * written in place (certbot, a cron job, a short-lived client certificate of
 * a serversTransport) is picked up by polling their stat() every few
 * seconds, which costs nothing without TLS files. */
static void on_files_timer(uv_timer_t *t) {
  wh_control *c = t->data;
  if (c->closing || !c->current ||
      !((c->current->tls && wh_tls_server_files_changed(c->current->tls)) ||
        wh_backend_tls_files_changed(c->current->backend_tls)))
    return;
  wh_log_info("TLS certificate or CA files changed; reloading");
  c->dirty = true;
  uint64_t now = uv_now(c->loop), due = c->last_build_ms + throttle_ms(c);
  if (!uv_is_active((uv_handle_t *)&c->timer))
    uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static uint64_t throttle_ms(const wh_control *c) {
  wh_duration d = c->stat->providers ? c->stat->providers->providers_throttle_duration : 2 * WH_SEC;
  return d > 0 ? (uint64_t)(d / WH_MS) : 0;
}

void wh_control_emit(void *ctx, const char *provider, wh_dyn_config *cfg,
                     const wh_errlist *errors) {
  wh_control *c = ctx;
  for (size_t i = 0; errors && i < errors->n; i++)
    wh_log_error("provider %s: %s", provider, errors->items[i]);
  int idx = provider_index(provider);
  if (idx < 0 || c->closing) {
    wh_dyn_config_free(cfg);
    return;
  }
  if (!cfg) {
    wh_log_error("provider %s: configuration not applied; the previous one keeps serving",
                 provider);
    return;
  }
  wh_dyn_config_free(c->frags[idx]);
  c->frags[idx] = cfg;
  c->dirty = true;
  /* Within the throttle window only the newest configuration is applied:
   * build at last_build + throttle, or on the next loop pass when idle. */
  uint64_t now = uv_now(c->loop), due = c->last_build_ms + throttle_ms(c);
  uint64_t delay = due > now ? due - now : 0;
  if (!uv_is_active((uv_handle_t *)&c->timer))
    uv_timer_start(&c->timer, on_timer, delay, 0);
}

wh_control *wh_control_new(uv_loop_t *loop, const wh_static_config *stat, wh_dyn_config *internal,
                           wh_control_publish_fn publish, void *ctx) {
  wh_control *c = calloc(1, sizeof(*c));
  if (!c) {
    wh_dyn_config_free(internal);
    return NULL;
  }
  c->loop = loop;
  c->stat = stat;
  c->publish = publish;
  c->ctx = ctx;
  c->frags[0] = internal;
  c->nworkers = worker_count(stat);
  c->health = wh_health_store_new();
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  uv_timer_init(loop, &c->files_timer);
  c->files_timer.data = c;
  uv_timer_start(&c->files_timer, on_files_timer, WH_TLS_FILES_POLL_MS, WH_TLS_FILES_POLL_MS);
  uv_unref((uv_handle_t *)&c->files_timer); /* never what keeps the loop alive */
  build(c);
  if (!c->current) {
    wh_control_close(c);
    return NULL;
  }
  /* The first provider configurations should not wait a throttle window. */
  c->last_build_ms = 0;
  return c;
}

void wh_control_flush(wh_control *c) {
  if (c->dirty && !c->closing) {
    uv_timer_stop(&c->timer);
    build(c);
    c->last_build_ms = 0;
  }
}

wh_snapshot *wh_control_current(wh_control *c) {
  return wh_snapshot_ref(c->current);
}

void wh_control_on_built(wh_control *c, wh_control_built_fn fn, void *ctx) {
  c->on_built = fn;
  c->on_built_ctx = ctx;
}

uint64_t wh_control_generation(const wh_control *c) {
  return c->generation;
}

static void on_close(uv_handle_t *h) {
  wh_control *c = h->data;
  if (--c->pending_closes > 0)
    return;
  for (size_t i = 0; i < NPROV; i++)
    wh_dyn_config_free(c->frags[i]);
  wh_snapshot_unref(c->current);
  /* Balancers of snapshots still held elsewhere keep the store alive. */
  wh_health_store_free(c->health);
  free(c);
}

void wh_control_close(wh_control *c) {
  if (!c)
    return;
  c->closing = true;
  wh_health_checker_close(c->checker);
  c->checker = NULL;
  uv_timer_stop(&c->timer);
  uv_timer_stop(&c->files_timer);
  c->pending_closes = 2; /* c is freed when both handles are closed */
  uv_close((uv_handle_t *)&c->files_timer, on_close);
  uv_close((uv_handle_t *)&c->timer, on_close);
}
