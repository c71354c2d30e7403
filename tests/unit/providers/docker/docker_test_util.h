/* Fixtures for the Docker provider tests: containers built from JSON shaped
 * like `docker inspect` output (one object of the array). */
#ifndef WH_TESTS_DOCKER_TEST_UTIL_H
#define WH_TESTS_DOCKER_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/dynamic.h"
#include "lib/core/str.h"
#include "middleware/registry.h"
#include "providers/docker/docker_config.h"

static inline void dt_register(void) {
  static int done;
  if (!done)
    wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len);
  done = 1;
}

/* The inspect payload of a running container on the default bridge,
 * exposing 80/tcp; extra is merged over it at the top level (objects
 * replace). kv is a NULL-terminated list of label key, value pairs. */
static inline cJSON *dt_inspect(const char *id, const char *name, const char *extra,
                                const char *const *kv) {
  char base[1024];
  snprintf(base, sizeof base,
           "{\"Id\":\"%s\",\"Name\":\"/%s\",\"State\":{\"Status\":\"running\",\"Running\":true},"
           "\"Config\":{\"Labels\":{}},\"HostConfig\":{\"NetworkMode\":\"bridge\"},"
           "\"NetworkSettings\":{\"Ports\":{\"80/tcp\":null},\"Networks\":{\"bridge\":"
           "{\"IPAddress\":\"172.17.0.2\",\"GlobalIPv6Address\":\"\"}}}}",
           id, name);
  cJSON *j = cJSON_Parse(base);
  if (extra) {
    cJSON *x = cJSON_Parse(extra);
    if (!x) {
      fprintf(stderr, "bad fixture JSON: %s\n", extra);
      abort();
    }
    for (cJSON *it = x->child; it; it = it->next) {
      if (strcmp(it->string, "State") == 0 || strcmp(it->string, "HostConfig") == 0 ||
          strcmp(it->string, "Name") == 0 || strcmp(it->string, "Id") == 0) {
        cJSON_ReplaceItemInObject(j, it->string, cJSON_Duplicate(it, 1));
      } else if (strcmp(it->string, "NetworkSettings") == 0) {
        cJSON *ns = cJSON_GetObjectItem(j, "NetworkSettings");
        for (cJSON *s = it->child; s; s = s->next)
          cJSON_ReplaceItemInObject(ns, s->string, cJSON_Duplicate(s, 1));
      } else {
        cJSON_AddItemToObject(j, it->string, cJSON_Duplicate(it, 1));
      }
    }
    cJSON_Delete(x);
  }
  cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Config"), "Labels");
  for (size_t i = 0; kv && kv[i]; i += 2)
    cJSON_AddStringToObject(labels, kv[i], kv[i + 1]);
  return j;
}

static inline wh_docker_container *dt_container(const char *id, const char *name, const char *extra,
                                                const char *const *kv) {
  cJSON *j = dt_inspect(id, name, extra, kv);
  wh_errlist e;
  wh_errlist_init(&e);
  wh_docker_container *c = wh_docker_container_parse(j, &e);
  if (!c) {
    fprintf(stderr, "fixture does not parse: %s\n", e.n ? e.items[0] : "?");
    abort();
  }
  wh_errlist_free(&e);
  cJSON_Delete(j);
  return c;
}

static inline bool dt_list_has(const wh_errlist *l, const char *sub) {
  for (size_t i = 0; i < l->n; i++)
    if (strstr(l->items[i], sub))
      return true;
  return false;
}

static inline void dt_dump_list(const char *what, const wh_errlist *l) {
  for (size_t i = 0; i < l->n; i++)
    fprintf(stderr, "  %s: %s\n", what, l->items[i]);
}

static inline const wh_elem_error *dt_elem_error(const wh_dyn_config *c, const char *section,
                                                 const char *name) {
  for (size_t i = 0; i < c->n_elem_errors; i++)
    if (strcmp(c->elem_errors[i].section, section) == 0 &&
        strcmp(c->elem_errors[i].name, name) == 0)
      return &c->elem_errors[i];
  return NULL;
}

static inline bool dt_elem_error_has(const wh_dyn_config *c, const char *section, const char *name,
                                     const char *sub) {
  const wh_elem_error *e = dt_elem_error(c, section, name);
  return e && dt_list_has(&e->errs, sub);
}

/* The map of "http.routers", "tcp.services", ...; NULL when the section is absent. */
static inline const wh_map *dt_map(const wh_dyn_config *c, const char *section) {
  if (strncmp(section, "http.", 5) == 0 && c->http) {
    const char *s = section + 5;
    return strcmp(s, "routers") == 0    ? &c->http->routers
           : strcmp(s, "services") == 0 ? &c->http->services
                                        : &c->http->middlewares;
  }
  if (strncmp(section, "tcp.", 4) == 0 && c->tcp)
    return strcmp(section + 4, "routers") == 0 ? &c->tcp->routers : &c->tcp->services;
  if (strncmp(section, "udp.", 4) == 0 && c->udp)
    return strcmp(section + 4, "routers") == 0 ? &c->udp->routers : &c->udp->services;
  if (strcmp(section, "tls.stores") == 0 && c->tls)
    return &c->tls->stores;
  return NULL;
}

static inline void *dt_get(const wh_dyn_config *c, const char *section, const char *name) {
  const wh_map *m = dt_map(c, section);
  return m ? wh_map_get(m, name) : NULL;
}

static inline const wh_server *dt_http_server(const wh_dyn_config *c, const char *svc, size_t i) {
  const wh_http_service *s = dt_get(c, "http.services", svc);
  if (!s || !s->load_balancer || i >= s->load_balancer->servers.n)
    return NULL;
  return &((const wh_server *)s->load_balancer->servers.items)[i];
}

#endif
