/* The runtime view of a merged dynamic configuration: every element under
 * its qualified name (name@provider) with its status, errors and
 * relationships. Built by wh_runtime_build (runtime.c) on the control
 * thread, immutable afterwards, shared read-only by the admin API and the
 * data plane through a snapshot. */
#ifndef WH_CONFIG_RUNTIME_H
#define WH_CONFIG_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/config/dynamic.h"
#include "lib/config/static.h"

struct wh_rule; /* lib/rules/rules.h */

typedef enum {
  WH_STATUS_ENABLED = 0,
  WH_STATUS_WARNING,
  WH_STATUS_DISABLED,
} wh_status;

const char *wh_status_name(wh_status s); /* "enabled" "warning" "disabled" */

typedef enum {
  WH_KIND_HTTP_ROUTER = 0,
  WH_KIND_HTTP_SERVICE,
  WH_KIND_HTTP_MIDDLEWARE,
  WH_KIND_HTTP_TRANSPORT,
  WH_KIND_TCP_ROUTER,
  WH_KIND_TCP_SERVICE,
  WH_KIND_TCP_MIDDLEWARE,
  WH_KIND_TCP_TRANSPORT,
  WH_KIND_UDP_ROUTER,
  WH_KIND_UDP_SERVICE,
  WH_KIND_COUNT
} wh_kind;

/* One element. cfg is owned by the element and freed with schema. */
typedef struct wh_rt_elem {
  char *name;     /* qualified: "web@docker" */
  char *provider; /* "docker" */
  wh_kind kind;
  const wh_schema *schema;
  void *cfg; /* wh_http_router, wh_http_service, wh_middleware, ... */
  wh_status status;
  wh_errlist errors;  /* readable messages, shown in the API "error" list */
  wh_strlist used_by; /* services and middlewares: qualified names of routers, sorted */
  /* routers only */
  wh_strlist using;           /* effective entry points */
  int64_t priority;           /* effective priority (explicit, else len(rule)) */
  struct wh_rule *rule;       /* compiled rule, NULL when disabled for a rule error */
  char *service_ref;          /* qualified service name the router points to */
  wh_strlist middleware_refs; /* qualified middleware names, in order */
  bool tls;                   /* router's own tls section is set (an entry point's http.tls
                                 turns TLS on for its routers there: see route_table.h) */
  /* middlewares only */
  const wh_mw_type *mw_type;
  void *mw_cfg; /* borrowed from cfg */
  /* services: for the API "serverStatus" (url -> "UP"/"DOWN"); filled by health checks */
  wh_strmap server_status;
  /* TCP services: the next pick of a round robin shared by every worker (the
   * one mutable field of a published runtime, hence atomic) */
  atomic_uint rr;
} wh_rt_elem;

typedef struct wh_rt_list {
  wh_rt_elem **v; /* sorted by name */
  size_t n;
} wh_rt_list;

/* A provider's contribution, as handed to the build. */
typedef struct wh_fragment {
  const char *provider;     /* "file", "docker", "internal", ... */
  const wh_dyn_config *cfg; /* borrowed for the duration of the build */
} wh_fragment;

typedef struct wh_runtime {
  wh_rt_list elems[WH_KIND_COUNT];
  /* merged TLS configuration, names qualified where Traefik qualifies them */
  wh_tls_config *tls;
  wh_strlist providers; /* provider names that contributed, for /api/overview */
} wh_runtime;

/* Merges fragments (in the given order, which is also the precedence order
 * for ties), qualifies names, checks every reference, compiles rules, and
 * sets status and errors. Never fails on bad configuration (that is reported
 * on elements); returns NULL only on OOM. stat is borrowed (entry points,
 * default rule syntax). */
wh_runtime *wh_runtime_build(const wh_static_config *stat, const wh_fragment *frags, size_t n);
void wh_runtime_free(wh_runtime *rt);

/* Lookup by qualified name; NULL when absent. */
wh_rt_elem *wh_runtime_find(const wh_runtime *rt, wh_kind kind, const char *qualified);
/* Counts for /api/overview. */
void wh_runtime_count(const wh_runtime *rt, wh_kind kind, size_t *total, size_t *warnings,
                      size_t *errors);

/* Disables el with a message in its errors, for checks made after the build
 * (the TLS options and certificates of a snapshot). Control thread only,
 * before the runtime is published. */
void wh_runtime_disable(wh_rt_elem *el, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "name" + "@" + provider unless name already contains '@'. Caller frees. */
char *wh_qualify(const char *name, const char *provider);

#endif
