#include "providers/swarm/swarm_provider.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/admin/containers.h"
#include "lib/config/schema.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "providers/docker/diagnose.h"
#include "providers/docker/engine.h"

#ifndef WH_VERSION
#define WH_VERSION "dev"
#endif

/* {"scope":["swarm"],"driver":["overlay"]}, URL-encoded. */
#define NETWORKS_PATH                                                                              \
  "/networks?filters=%7B%22scope%22%3A%5B%22swarm%22%5D%2C%22driver%22%3A%5B%22overlay%22%5D%7D"
/* {"service":["<id>"],"desired-state":["running"]}, URL-encoded around the id. */
#define TASKS_PATH_FMT                                                                             \
  "/tasks?filters=%%7B%%22service%%22%%3A%%5B%%22%s%%22%%5D%%2C%%22desired-state%%22%%3A%%5B%%"    \
  "22running%%22%%5D%%7D"

struct wh_provider {
  uv_loop_t *loop;
  const wh_swarm_provider *cfg; /* borrowed from the static config */
  wh_docker_provider dcfg;      /* the same options, as wh_docker_build reads them */
  wh_provider_emit_fn emit;
  void *ctx;
  wh_engine *engine;
  uv_timer_t timer;
  int open_handles; /* the timer and the engine, until closed */
  bool stopped;
  uint64_t refresh_ms;
  /* the poll in progress */
  wh_engine_req *req;
  cJSON *services;
  wh_swarm_netmap nets;
  const cJSON *cur; /* the service whose tasks are being fetched */
  wh_swarm_containers cs;
  wh_errlist skipped; /* services skipped in this poll, for the log */
  char *last_text;    /* canonical text of the last emitted fragment */
  char *last_skips;   /* the skip messages last logged: logged again only when they change */
  bool failing;       /* the last poll failed: log recovery once */
};

/* ---- build and emit ---- */

static char *canonical_text(const wh_dyn_config *cfg) {
  cJSON *j = wh_schema_encode(&wh_schema_dyn_config, cfg);
  char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  if (!txt)
    return NULL;
  wh_strbuf b = {0};
  wh_strbuf_puts(&b, txt);
  cJSON_free(txt);
  /* Element errors are not encoded but change what the API shows. */
  for (size_t i = 0; i < cfg->n_elem_errors; i++) {
    const wh_elem_error *ee = &cfg->elem_errors[i];
    wh_strbuf_printf(&b, "\n%s/%s", ee->section ? ee->section : "", ee->name ? ee->name : "");
    for (size_t k = 0; k < ee->errs.n; k++)
      wh_strbuf_printf(&b, "\n\t%s", ee->errs.items[k]);
  }
  return wh_strbuf_take(&b);
}

static void log_reports(const wh_docker_reports *r) {
  for (size_t i = 0; i < r->n; i++) {
    const wh_docker_report *rep = &r->v[i];
    const char *name = rep->container ? rep->container : rep->id ? rep->id : "?";
    if (rep->skipped && rep->reason)
      wh_log_info("swarm provider: task %s skipped: %s", name, rep->reason);
    for (size_t k = 0; k < rep->errors.n; k++)
      wh_log_warn("swarm provider: task %s: %s", name, rep->errors.items[k]);
    for (size_t k = 0; k < rep->warnings.n; k++)
      wh_log_warn("swarm provider: task %s: %s", name, rep->warnings.items[k]);
  }
}

static void build_and_emit(wh_provider *p) {
  wh_docker_opts opts = {.cfg = &p->dcfg};
  wh_docker_reports reports = {0};
  wh_container_diagnosis *diag = NULL;
  wh_dyn_config *cfg = wh_docker_build_diagnosed(&opts, p->cs.v, p->cs.n, &reports, &diag);
  /* published even when the configuration is unchanged (a task that
   * stopped changes its diagnosis, not always the configuration) */
  if (diag && !p->stopped)
    wh_container_diagnosis_publish(wh_provider_swarm.name, p, diag);
  else
    wh_container_diagnosis_unref(diag);
  if (!cfg) {
    wh_docker_reports_free(&reports);
    wh_log_error("swarm provider: out of memory building the configuration");
    return;
  }
  wh_strbuf sk = {0};
  for (size_t i = 0; i < p->skipped.n; i++)
    wh_strbuf_printf(&sk, "%s\n", p->skipped.items[i]);
  char *skips = wh_strbuf_take(&sk);
  if (!skips || !p->last_skips || strcmp(skips, p->last_skips) != 0)
    for (size_t i = 0; i < p->skipped.n; i++)
      wh_log_warn("swarm provider: %s; the service is skipped", p->skipped.items[i]);
  free(p->last_skips);
  p->last_skips = skips;
  char *text = canonical_text(cfg);
  if (text && p->last_text && strcmp(text, p->last_text) == 0) {
    free(text);
    wh_dyn_config_free(cfg);
    wh_docker_reports_free(&reports);
    return;
  }
  log_reports(&reports);
  wh_docker_reports_free(&reports);
  free(p->last_text);
  p->last_text = text; /* NULL (OOM) makes the next poll emit again */
  wh_log_debug("swarm provider: emitting the configuration of %zu tasks", p->cs.n);
  p->emit(p->ctx, wh_provider_swarm.name, cfg, NULL);
}

/* ---- the poll ---- */

static void on_timer(uv_timer_t *t);

static void poll_reset(wh_provider *p) {
  wh_engine_cancel(p->req);
  p->req = NULL;
  cJSON_Delete(p->services);
  p->services = NULL;
  p->cur = NULL;
  wh_swarm_netmap_free(&p->nets);
  wh_swarm_containers_free(&p->cs);
  wh_errlist_free(&p->skipped);
  wh_errlist_init(&p->skipped);
}

static void schedule(wh_provider *p) {
  if (!p->stopped)
    uv_timer_start(&p->timer, on_timer, p->refresh_ms, 0);
}

static void poll_fail(wh_provider *p, const char *what, long status, const char *err,
                      const char *body) {
  const char *ep =
      p->cfg->endpoint && *p->cfg->endpoint ? p->cfg->endpoint : "unix:///var/run/docker.sock";
  char why[300];
  if (err)
    snprintf(why, sizeof why, "%s", err);
  else
    snprintf(why, sizeof why, "HTTP %ld: %.200s", status, body && *body ? body : "(no body)");
  wh_log_warn("swarm provider: %s (%s): %s; the last configuration stays, retrying in %llu ms",
              what, ep, why, (unsigned long long)p->refresh_ms);
  p->failing = true;
  poll_reset(p);
  schedule(p);
}

static cJSON *parse_array(const char *body, size_t len, const char **why) {
  cJSON *j = wh_engine_parse_json(body, len, why);
  if (j && !cJSON_IsArray(j)) {
    cJSON_Delete(j);
    *why = "not a JSON array";
    return NULL;
  }
  return j;
}

/* Service ids go into a URL: Swarm ids are [a-z0-9]. */
static bool valid_id(const char *id) {
  size_t n = id ? strlen(id) : 0;
  if (n == 0 || n > 128)
    return false;
  for (const char *q = id; *q; q++)
    if (!isalnum((unsigned char)*q))
      return false;
  return true;
}

static void next_service(wh_provider *p);

static void poll_done(wh_provider *p) {
  if (p->failing)
    wh_log_info("swarm provider: the engine answers again");
  p->failing = false;
  build_and_emit(p);
  poll_reset(p);
  schedule(p);
}

static void add_service(wh_provider *p, const cJSON *svc, const cJSON *tasks) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  if (wh_swarm_service_containers(svc, tasks, &p->nets, &p->cs, &errs) == WH_ENOMEM)
    wh_log_error("swarm provider: out of memory reading a service");
  for (size_t i = 0; i < errs.n; i++)
    wh_errlist_add(&p->skipped, "%s", errs.items[i]);
  wh_errlist_free(&errs);
}

static void on_tasks(void *ud, long status, const char *body, size_t len, const char *err) {
  wh_provider *p = ud;
  p->req = NULL;
  if (status != 200) {
    poll_fail(p, "listing tasks failed", status, err, body);
    return;
  }
  const char *why = NULL;
  cJSON *tasks = parse_array(body, len, &why);
  if (!tasks) {
    poll_fail(p, "listing tasks failed", 0, why ? why : "not a JSON array", NULL);
    return;
  }
  add_service(p, p->cur, tasks);
  cJSON_Delete(tasks);
  p->cur = p->cur->next;
  next_service(p);
}

/* Walks the services in order; one tasks request at a time keeps a large
 * swarm from opening one connection per service. */
static void next_service(wh_provider *p) {
  for (; p->cur; p->cur = p->cur->next) {
    const cJSON *svc = p->cur;
    char *err = NULL;
    if (wh_swarm_service_lbswarm(svc, &err) || err) {
      free(err); /* wh_swarm_service_containers reports it again */
      add_service(p, svc, NULL);
      continue;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(svc, "ID");
    if (!cJSON_IsString(id) || !valid_id(id->valuestring)) {
      wh_errlist_add(&p->skipped, "a listed service has no valid ID");
      continue;
    }
    char *path = wh_asprintf(TASKS_PATH_FMT, id->valuestring);
    p->req = path ? wh_engine_get(p->engine, path, on_tasks, p) : NULL;
    free(path);
    if (!p->req)
      poll_fail(p, "listing tasks failed", 0, "out of memory", NULL);
    return;
  }
  poll_done(p);
}

static void on_networks(void *ud, long status, const char *body, size_t len, const char *err) {
  wh_provider *p = ud;
  p->req = NULL;
  if (status != 200) {
    poll_fail(p, "listing networks failed", status, err, body);
    return;
  }
  const char *why = NULL;
  cJSON *nets = parse_array(body, len, &why);
  if (!nets) {
    poll_fail(p, "listing networks failed", 0, why ? why : "not a JSON array", NULL);
    return;
  }
  int rc = wh_swarm_netmap_parse(nets, &p->nets);
  cJSON_Delete(nets);
  if (rc != 0) {
    poll_fail(p, "listing networks failed", 0, "out of memory", NULL);
    return;
  }
  p->cur = p->services->child;
  next_service(p);
}

static void on_services(void *ud, long status, const char *body, size_t len, const char *err) {
  wh_provider *p = ud;
  p->req = NULL;
  if (status != 200) {
    /* A node that is not a manager answers 503 "This node is not a swarm manager". */
    poll_fail(p, "listing services failed", status, err, body);
    return;
  }
  const char *why = NULL;
  p->services = parse_array(body, len, &why);
  if (!p->services) {
    poll_fail(p, "listing services failed", 0, why ? why : "not a JSON array", NULL);
    return;
  }
  p->req = wh_engine_get(p->engine, NETWORKS_PATH, on_networks, p);
  if (!p->req)
    poll_fail(p, "listing networks failed", 0, "out of memory", NULL);
}

static void on_timer(uv_timer_t *t) {
  wh_provider *p = t->data;
  if (p->stopped || p->req)
    return;
  p->req = wh_engine_get(p->engine, "/services", on_services, p);
  if (!p->req)
    poll_fail(p, "listing services failed", 0, "out of memory", NULL);
}

/* ---- life cycle ---- */

static void provider_free(wh_provider *p) {
  poll_reset(p);
  wh_errlist_free(&p->skipped);
  free(p->last_text);
  free(p->last_skips);
  free(p);
}

static void on_closed(wh_provider *p) {
  if (--p->open_handles == 0)
    provider_free(p);
}

static void on_timer_closed(uv_handle_t *h) {
  on_closed(h->data);
}

static void on_engine_closed(void *ud) {
  on_closed(ud);
}

static wh_provider *swarm_start(uv_loop_t *loop, const wh_static_config *stat,
                                wh_provider_emit_fn emit, void *ctx, wh_errlist *errs) {
  const wh_swarm_provider *cfg = stat && stat->providers ? stat->providers->swarm : NULL;
  if (!cfg) {
    wh_errlist_add(errs, "providers.swarm is not configured");
    return NULL;
  }
  wh_provider *p = calloc(1, sizeof(*p));
  if (!p) {
    wh_errlist_add(errs, "out of memory");
    return NULL;
  }
  p->engine = wh_engine_for_provider(loop, cfg->endpoint, cfg->tls, cfg->username, cfg->password,
                                     cfg->http_client_timeout, WH_SWARM_DEFAULT_TIMEOUT_MS,
                                     "providers.swarm: ", errs);
  if (!p->engine) {
    free(p);
    return NULL;
  }
  p->loop = loop;
  p->cfg = cfg;
  wh_swarm_docker_cfg(cfg, &p->dcfg);
  p->emit = emit;
  p->ctx = ctx;
  int64_t r = cfg->refresh_seconds > 0 ? cfg->refresh_seconds / WH_MS : 0;
  p->refresh_ms = r > 0 ? (uint64_t)r : WH_SWARM_DEFAULT_REFRESH_MS;
  wh_errlist_init(&p->skipped);
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->open_handles = 2;
  wh_log_info("swarm provider: polling every %llu ms", (unsigned long long)p->refresh_ms);
  on_timer(&p->timer);
  return p;
}

static void swarm_stop(wh_provider *p) {
  if (!p || p->stopped)
    return;
  p->stopped = true;
  wh_container_diagnosis_publish(wh_provider_swarm.name, p, NULL); /* withdrawn */
  poll_reset(p);
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, on_timer_closed);
  wh_engine_close(p->engine, on_engine_closed, p);
  p->engine = NULL;
}

const wh_provider_type wh_provider_swarm = {
    .name = "swarm",
    .start = swarm_start,
    .stop = swarm_stop,
};
