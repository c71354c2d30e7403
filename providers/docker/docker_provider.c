#include "providers/docker/docker_provider.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/schema.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "providers/docker/diagnose.h"
#include "providers/docker/docker_config.h"
#include "providers/docker/engine.h"

#ifndef WH_VERSION
#define WH_VERSION "dev"
#endif

/* {"type":["container"]}, URL-encoded. */
#define EVENTS_PATH "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"

typedef struct entry {
  char *id;
  wh_docker_container *c;
  bool seen; /* inspected since the last list: survives the resync */
} entry;

typedef struct inspect_op {
  wh_provider *p;
  wh_engine_req *req;
  char *id;
  struct inspect_op *prev, *next;
} inspect_op;

typedef enum { PH_IDLE, PH_VERSION, PH_LIST, PH_LIVE, PH_BACKOFF } phase;

struct wh_provider {
  uv_loop_t *loop;
  const wh_docker_provider *cfg; /* borrowed from the static config */
  wh_provider_emit_fn emit;
  void *ctx;
  wh_engine *engine;
  uv_timer_t retry, debounce;
  int open_handles; /* timers and the engine, until closed */
  bool stopped;
  phase ph;
  wh_engine_req *req;    /* /version or /containers/json in flight */
  wh_engine_req *events; /* the event stream */
  entry *cache;
  size_t n, cap;
  char **queue; /* ids waiting for an inspect */
  size_t nq, capq;
  inspect_op *ops;
  size_t nops;
  bool resyncing; /* a full list's inspects are in progress */
  bool synced;    /* a full sync completed: builds may emit */
  uint64_t backoff_ms;
  char *last_text; /* canonical text of the last emitted fragment */
  char *self_id;   /* from /proc, NULL outside a container */
  bool logged_version;
};

/* ---- own container id ---- */

static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* The first run of exactly 64 lowercase hex digits in [s, end) whose
 * preceding character satisfies before (when given). */
static char *find_hex64(const char *s, const char *end, bool need_slash) {
  for (const char *q = s; q + 64 <= end; q++) {
    if (!is_hex(*q) || (q > s && is_hex(q[-1])))
      continue;
    size_t k = 0;
    while (q + k < end && is_hex(q[k]))
      k++;
    if (k == 64 && (!need_slash || (q > s && q[-1] == '/' && q + 64 < end && q[64] == '/')))
      return wh_strndup(q, 64);
    q += k - 1;
  }
  return NULL;
}

char *wh_docker_find_self_id(const char *cgroup, const char *mountinfo) {
  if (cgroup) {
    char *id = find_hex64(cgroup, cgroup + strlen(cgroup), false);
    if (id)
      return id;
  }
  for (const char *line = mountinfo; line && *line;) {
    const char *eol = strchr(line, '\n');
    const char *end = eol ? eol : line + strlen(line);
    const char *c = strstr(line, "/containers/");
    if (c && c < end) {
      char *id = find_hex64(c, end, true);
      if (id)
        return id;
    }
    line = eol ? eol + 1 : NULL;
  }
  return NULL;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f)
    return NULL;
  wh_strbuf b = {0};
  char tmp[4096];
  size_t r;
  /* /proc files have no size; a cap keeps a strange one bounded. */
  while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0 && b.len < (1u << 20))
    wh_strbuf_append(&b, tmp, r);
  fclose(f);
  return wh_strbuf_take(&b);
}

/* ---- cache ---- */

static entry *cache_find(wh_provider *p, const char *id) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->cache[i].id, id) == 0)
      return &p->cache[i];
  return NULL;
}

static void cache_remove_at(wh_provider *p, size_t i) {
  free(p->cache[i].id);
  wh_docker_container_free(p->cache[i].c);
  p->cache[i] = p->cache[--p->n];
}

static bool cache_drop(wh_provider *p, const char *id) {
  entry *e = cache_find(p, id);
  if (!e)
    return false;
  cache_remove_at(p, (size_t)(e - p->cache));
  return true;
}

/* Takes c. */
static void cache_put(wh_provider *p, const char *id, wh_docker_container *c) {
  entry *e = cache_find(p, id);
  if (e) {
    wh_docker_container_free(e->c);
    e->c = c;
    e->seen = true;
    return;
  }
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    entry *v = realloc(p->cache, cap * sizeof(*v));
    if (!v) {
      wh_docker_container_free(c);
      return;
    }
    p->cache = v;
    p->cap = cap;
  }
  char *dup = wh_strdup(id);
  if (!dup) {
    wh_docker_container_free(c);
    return;
  }
  p->cache[p->n++] = (entry){.id = dup, .c = c, .seen = true};
}

static const wh_docker_container *lookup(void *ctx, const char *key) {
  wh_provider *p = ctx;
  size_t klen = strlen(key);
  for (size_t i = 0; i < p->n; i++) {
    const wh_docker_container *c = p->cache[i].c;
    if (strcmp(p->cache[i].id, key) == 0 || (c->name && strcmp(c->name, key) == 0))
      return c;
  }
  /* Docker accepts an unambiguous id prefix. */
  const wh_docker_container *found = NULL;
  for (size_t i = 0; klen >= 12 && i < p->n; i++) {
    if (strncmp(p->cache[i].id, key, klen) == 0) {
      if (found)
        return NULL;
      found = p->cache[i].c;
    }
  }
  return found;
}

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

static void log_reports(wh_provider *p, const wh_docker_reports *r) {
  for (size_t i = 0; i < r->n; i++) {
    const wh_docker_report *rep = &r->v[i];
    const char *name = rep->container ? rep->container : rep->id ? rep->id : "?";
    /* Stopped containers are listed too (all=1): their skips are routine. */
    entry *e = rep->id ? cache_find(p, rep->id) : NULL;
    bool running = !e || !e->c->status || strcmp(e->c->status, "running") == 0;
    if (rep->skipped && rep->reason)
      wh_log(running ? WH_LOG_INFO : WH_LOG_DEBUG, "docker provider: container %s skipped: %s",
             name, rep->reason);
    for (size_t k = 0; k < rep->errors.n; k++)
      wh_log_warn("docker provider: container %s: %s", name, rep->errors.items[k]);
    for (size_t k = 0; k < rep->warnings.n; k++)
      wh_log_warn("docker provider: container %s: %s", name, rep->warnings.items[k]);
  }
}

/* The HOSTNAME of a container is its 12-hex short id. */
static const char *self_id(wh_provider *p) {
  if (p->self_id)
    return p->self_id;
  const char *h = getenv("HOSTNAME");
  if (!h || strlen(h) != 12)
    return NULL;
  for (const char *q = h; *q; q++)
    if (!is_hex(*q))
      return NULL;
  for (size_t i = 0; i < p->n; i++)
    if (strncmp(p->cache[i].id, h, 12) == 0)
      return p->cache[i].id;
  return NULL;
}

static void build_and_emit(wh_provider *p) {
  if (p->stopped)
    return;
  wh_docker_container **cs = calloc(p->n ? p->n : 1, sizeof(*cs));
  if (!cs)
    return;
  for (size_t i = 0; i < p->n; i++)
    cs[i] = p->cache[i].c;
  wh_docker_opts opts = {.cfg = p->cfg, .self_id = self_id(p), .lookup = lookup, .lookup_ctx = p};
  wh_docker_reports reports = {0};
  wh_container_diagnosis *diag = NULL;
  wh_dyn_config *cfg = wh_docker_build_diagnosed(&opts, cs, p->n, &reports, &diag);
  free(cs);
  /* Published even when the configuration is unchanged: a container that
   * stopped or turned unhealthy changes its diagnosis, not always the
   * configuration. */
  if (diag)
    wh_container_diagnosis_publish(wh_provider_docker.name, p, diag);
  if (!cfg) {
    wh_docker_reports_free(&reports);
    wh_log_error("docker provider: out of memory building the configuration");
    return;
  }
  char *text = canonical_text(cfg);
  if (text && p->last_text && strcmp(text, p->last_text) == 0) {
    wh_log_debug("docker provider: configuration unchanged, nothing to emit");
    free(text);
    wh_dyn_config_free(cfg);
    wh_docker_reports_free(&reports);
    return;
  }
  log_reports(p, &reports);
  wh_docker_reports_free(&reports);
  free(p->last_text);
  p->last_text = text; /* NULL (OOM) makes the next build emit again */
  wh_log_debug("docker provider: emitting the configuration of %zu containers", p->n);
  p->emit(p->ctx, wh_provider_docker.name, cfg, NULL);
}

static void on_debounce(uv_timer_t *t) {
  wh_provider *p = t->data;
  /* A resync in progress builds when it completes. */
  if (!p->resyncing)
    build_and_emit(p);
}

static void schedule_build(wh_provider *p) {
  if (p->stopped || !p->synced || uv_is_active((uv_handle_t *)&p->debounce))
    return;
  uv_timer_start(&p->debounce, on_debounce, WH_DOCKER_DEBOUNCE_MS, 0);
}

/* ---- the engine conversation ---- */

static void connect_engine(wh_provider *p);
static void pump(wh_provider *p);

static void clear_queue(wh_provider *p) {
  for (size_t i = 0; i < p->nq; i++)
    free(p->queue[i]);
  p->nq = 0;
}

static void op_free(wh_provider *p, inspect_op *op) {
  if (op->prev)
    op->prev->next = op->next;
  else
    p->ops = op->next;
  if (op->next)
    op->next->prev = op->prev;
  p->nops--;
  free(op->id);
  free(op);
}

static void cancel_all(wh_provider *p) {
  wh_engine_cancel(p->req);
  p->req = NULL;
  wh_engine_cancel(p->events);
  p->events = NULL;
  while (p->ops) {
    wh_engine_cancel(p->ops->req);
    op_free(p, p->ops);
  }
  clear_queue(p);
  p->resyncing = false;
}

static void on_retry(uv_timer_t *t) {
  connect_engine(t->data);
}

/* The engine went away or answered nonsense: keep the cache and what was
 * emitted, and start over from /version after the backoff. */
static void fail(wh_provider *p, const char *what, const char *why) {
  if (p->stopped || p->ph == PH_BACKOFF)
    return;
  cancel_all(p);
  p->ph = PH_BACKOFF;
  uint64_t delay = p->backoff_ms;
  const char *ep =
      p->cfg->endpoint && *p->cfg->endpoint ? p->cfg->endpoint : "unix:///var/run/docker.sock";
  /* One stable wording whichever request noticed it first, so operators
   * (and log alerts) can rely on it. */
  wh_log_warn("docker provider: connection to the engine lost or unusable (%s): %s: %s; the last "
              "configuration stays, retrying in %llu ms",
              ep, what, why, (unsigned long long)delay);

  p->backoff_ms =
      p->backoff_ms * 2 > WH_DOCKER_BACKOFF_MAX_MS ? WH_DOCKER_BACKOFF_MAX_MS : p->backoff_ms * 2;
  uv_timer_start(&p->retry, on_retry, delay, 0);
}

static const char *http_why(long status, const char *err, const char *body, char *buf, size_t n) {
  if (err)
    return err;
  snprintf(buf, n, "HTTP %ld: %.200s", status, body && *body ? body : "(no body)");
  return buf;
}

/* Ids go into a URL path: Docker ids are hex, names are [a-zA-Z0-9_.-]. */
static bool valid_id(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > 128)
    return false;
  for (const char *q = id; *q; q++)
    if (!isalnum((unsigned char)*q) && *q != '_' && *q != '.' && *q != '-')
      return false;
  return true;
}

static void enqueue(wh_provider *p, const char *id) {
  for (size_t i = 0; i < p->nq; i++)
    if (strcmp(p->queue[i], id) == 0)
      return;
  if (p->nq == p->capq) {
    size_t cap = p->capq ? p->capq * 2 : 16;
    char **v = realloc(p->queue, cap * sizeof(*v));
    if (!v)
      return;
    p->queue = v;
    p->capq = cap;
  }
  char *dup = wh_strdup(id);
  if (dup)
    p->queue[p->nq++] = dup;
}

static void unqueue(wh_provider *p, const char *id) {
  for (size_t i = 0; i < p->nq; i++) {
    if (strcmp(p->queue[i], id) == 0) {
      free(p->queue[i]);
      memmove(&p->queue[i], &p->queue[i + 1], (p->nq - i - 1) * sizeof(*p->queue));
      p->nq--;
      return;
    }
  }
}

static void sync_done(wh_provider *p) {
  p->resyncing = false;
  for (size_t i = p->n; i-- > 0;)
    if (!p->cache[i].seen)
      cache_remove_at(p, i);
  p->backoff_ms = WH_DOCKER_BACKOFF_MIN_MS;
  p->synced = true;
  p->ph = p->cfg->watch ? PH_LIVE : PH_IDLE;
  wh_log_info("docker provider: synchronised with the engine (%zu containers)", p->n);
  build_and_emit(p);
}

static void maybe_done(wh_provider *p) {
  if (p->nq || p->nops)
    return;
  if (p->resyncing)
    sync_done(p);
}

static void on_inspect(void *ud, long status, const char *body, size_t len, const char *err) {
  inspect_op *op = ud;
  wh_provider *p = op->p;
  char *id = op->id;
  op->id = NULL;
  op_free(p, op);
  if (status == 0) {
    /* A transport failure is the engine's, not the container's: dropping
     * the container would remove its routes for nothing. */
    fail(p, "inspect failed", err ? err : "no answer");
    free(id);
    return;
  }
  if (status == 404) {
    wh_log_debug("docker provider: container %s is gone", id);
    cache_drop(p, id);
  } else if (status != 200) {
    char buf[300];
    wh_log_warn("docker provider: inspect of container %s failed (%s); it is skipped", id,
                http_why(status, err, body, buf, sizeof(buf)));
    cache_drop(p, id);
  } else {
    const char *why = NULL;
    cJSON *j = wh_engine_parse_json(body, len, &why);
    wh_errlist errs;
    wh_errlist_init(&errs);
    wh_docker_container *c = j ? wh_docker_container_parse(j, &errs) : NULL;
    cJSON_Delete(j);
    if (c) {
      cache_put(p, id, c);
    } else {
      wh_log_warn("docker provider: inspect of container %s: %s; it is skipped", id,
                  why      ? why
                  : errs.n ? errs.items[0]
                           : "not a container");
      cache_drop(p, id);
    }
    wh_errlist_free(&errs);
  }
  free(id);
  pump(p);
  if (!p->resyncing)
    schedule_build(p);
  maybe_done(p);
}

static void pump(wh_provider *p) {
  while (!p->stopped && p->ph != PH_BACKOFF && p->nq && p->nops < WH_DOCKER_MAX_INFLIGHT) {
    char *id = p->queue[0];
    memmove(&p->queue[0], &p->queue[1], (p->nq - 1) * sizeof(*p->queue));
    p->nq--;
    inspect_op *op = calloc(1, sizeof(*op));
    char *path = wh_asprintf("/containers/%s/json", id);
    if (!op || !path) {
      free(op);
      free(path);
      free(id);
      continue;
    }
    op->p = p;
    op->id = id;
    op->next = p->ops;
    if (p->ops)
      p->ops->prev = op;
    p->ops = op;
    p->nops++;
    op->req = wh_engine_get(p->engine, path, on_inspect, op);
    free(path);
    if (!op->req)
      op_free(p, op);
  }
}

static void on_list(void *ud, long status, const char *body, size_t len, const char *err) {
  wh_provider *p = ud;
  p->req = NULL;
  if (status != 200) {
    char buf[300];
    fail(p, "listing containers failed", http_why(status, err, body, buf, sizeof(buf)));
    return;
  }
  const char *why = NULL;
  cJSON *list = wh_engine_parse_json(body, len, &why);
  if (!list || !cJSON_IsArray(list)) {
    cJSON_Delete(list);
    fail(p, "listing containers failed", why ? why : "not a JSON array");
    return;
  }
  for (size_t i = 0; i < p->n; i++)
    p->cache[i].seen = false;
  p->resyncing = true;
  const cJSON *it;
  cJSON_ArrayForEach(it, list) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "Id");
    if (!cJSON_IsString(id) || !valid_id(id->valuestring)) {
      wh_log_warn("docker provider: a listed container has no valid Id; it is skipped");
      continue;
    }
    enqueue(p, id->valuestring);
  }
  cJSON_Delete(list);
  p->ph = PH_LIVE;
  pump(p);
  maybe_done(p);
}

static bool watched_action(const char *a) {
  static const char *const acts[] = {"start",  "die",    "stop",  "destroy", "rename",
                                     "update", "create", "pause", "unpause"};
  if (wh_str_has_prefix(a, "health_status"))
    return true;
  for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
    if (strcmp(a, acts[i]) == 0)
      return true;
  return false;
}

static const char *json_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void on_event(void *ud, const char *line, size_t len) {
  wh_provider *p = ud;
  const char *why = NULL;
  cJSON *ev = wh_engine_parse_json(line, len, &why);
  if (!ev || !cJSON_IsObject(ev)) {
    wh_log_warn("docker provider: ignoring an event: %s", why ? why : "not a JSON object");
    cJSON_Delete(ev);
    return;
  }
  const char *type = json_str(ev, "Type");
  const char *action = json_str(ev, "Action");
  if (!action)
    action = json_str(ev, "status"); /* engines before API 1.22 */
  const cJSON *actor = cJSON_GetObjectItemCaseSensitive(ev, "Actor");
  const char *id = json_str(actor, "ID");
  if (!id)
    id = json_str(ev, "id");
  if ((type && strcmp(type, "container") != 0) || !action || !id || !watched_action(action)) {
    cJSON_Delete(ev);
    return;
  }
  if (!valid_id(id)) {
    wh_log_warn("docker provider: ignoring an event with an invalid container id");
    cJSON_Delete(ev);
    return;
  }
  wh_log_debug("docker provider: event %s for container %.12s", action, id);
  if (strcmp(action, "destroy") == 0) {
    unqueue(p, id);
    if (cache_drop(p, id) && !p->resyncing)
      schedule_build(p);
  } else {
    enqueue(p, id);
    pump(p);
  }
  cJSON_Delete(ev);
}

static void on_events_done(void *ud, long status, const char *body, size_t len, const char *err) {
  (void)len;
  wh_provider *p = ud;
  p->events = NULL;
  char buf[300];
  if (status >= 200 && status <= 299)
    fail(p, "the event stream ended", "the engine closed it");
  else
    fail(p, "the event stream failed", http_why(status, err, body, buf, sizeof(buf)));
}

static void on_version(void *ud, long status, const char *body, size_t len, const char *err) {
  wh_provider *p = ud;
  p->req = NULL;
  if (status != 200) {
    char buf[300];
    fail(p, "cannot reach the Docker engine", http_why(status, err, body, buf, sizeof(buf)));
    return;
  }
  const char *why = NULL;
  cJSON *v = wh_engine_parse_json(body, len, &why);
  if (!v || !cJSON_IsObject(v)) {
    cJSON_Delete(v);
    fail(p, "cannot read the engine version", why ? why : "not a JSON object");
    return;
  }
  const char *ver = json_str(v, "Version"), *api = json_str(v, "ApiVersion");
  if (!p->logged_version) {
    wh_log_info("docker provider: engine %s (API %s)", ver ? ver : "?", api ? api : "?");
    p->logged_version = true;
  }
  cJSON_Delete(v);
  /* Events first, so that nothing that happens during the list is missed. */
  if (p->cfg->watch) {
    p->events = wh_engine_stream(p->engine, EVENTS_PATH, on_event, on_events_done, p);
    if (!p->events) {
      fail(p, "cannot watch events", "out of memory");
      return;
    }
  }
  p->ph = PH_LIST;
  p->req = wh_engine_get(p->engine, "/containers/json?all=1", on_list, p);
  if (!p->req)
    fail(p, "cannot list containers", "out of memory");
}

static void connect_engine(wh_provider *p) {
  if (p->stopped)
    return;
  p->ph = PH_VERSION;
  p->req = wh_engine_get(p->engine, "/version", on_version, p);
  if (!p->req)
    fail(p, "cannot reach the Docker engine", "out of memory");
}

/* ---- life cycle ---- */

static void provider_free(wh_provider *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->cache[i].id);
    wh_docker_container_free(p->cache[i].c);
  }
  free(p->cache);
  clear_queue(p);
  free(p->queue);
  free(p->last_text);
  free(p->self_id);
  free(p);
}

static void on_handle_closed(uv_handle_t *h) {
  wh_provider *p = h->data;
  if (--p->open_handles == 0)
    provider_free(p);
}

static void on_engine_closed(void *ud) {
  wh_provider *p = ud;
  if (--p->open_handles == 0)
    provider_free(p);
}

static wh_provider *docker_start(uv_loop_t *loop, const wh_static_config *stat,
                                 wh_provider_emit_fn emit, void *ctx, wh_errlist *errs) {
  const wh_docker_provider *cfg = stat && stat->providers ? stat->providers->docker : NULL;
  if (!cfg) {
    wh_errlist_add(errs, "providers.docker is not configured");
    return NULL;
  }
  wh_provider *p = calloc(1, sizeof(*p));
  if (!p) {
    wh_errlist_add(errs, "out of memory");
    return NULL;
  }
  p->engine = wh_engine_for_provider(loop, cfg->endpoint, cfg->tls, cfg->username, cfg->password,
                                     cfg->http_client_timeout, WH_DOCKER_DEFAULT_TIMEOUT_MS,
                                     "providers.docker: ", errs);
  if (!p->engine) {
    free(p);
    return NULL;
  }
  p->loop = loop;
  p->cfg = cfg;
  p->emit = emit;
  p->ctx = ctx;
  p->backoff_ms = WH_DOCKER_BACKOFF_MIN_MS;
  uv_timer_init(loop, &p->retry);
  uv_timer_init(loop, &p->debounce);
  p->retry.data = p->debounce.data = p;
  p->open_handles = 3;
  char *cg = slurp("/proc/self/cgroup"), *mi = slurp("/proc/self/mountinfo");
  p->self_id = wh_docker_find_self_id(cg, mi);
  free(cg);
  free(mi);
  if (p->self_id)
    wh_log_info("docker provider: wharf runs in container %.12s; it is never routed to",
                p->self_id);
  connect_engine(p);
  return p;
}

static void docker_stop(wh_provider *p) {
  if (!p || p->stopped)
    return;
  p->stopped = true;
  wh_container_diagnosis_publish(wh_provider_docker.name, p, NULL);
  cancel_all(p);
  uv_timer_stop(&p->retry);
  uv_timer_stop(&p->debounce);
  uv_close((uv_handle_t *)&p->retry, on_handle_closed);
  uv_close((uv_handle_t *)&p->debounce, on_handle_closed);
  wh_engine_close(p->engine, on_engine_closed, p);
  p->engine = NULL;
}

const wh_provider_type wh_provider_docker = {
    .name = "docker",
    .start = docker_start,
    .stop = docker_stop,
};
