/* Builds wh_lb_service configurations by hand for the lib/lb tests. */
#ifndef WH_TESTS_LB_TEST_UTIL_H
#define WH_TESTS_LB_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "lib/config/dynamic.h"

#define TEST_MAX_SERVERS 8

typedef struct test_svc {
  wh_lb_service lb;
  wh_server servers[TEST_MAX_SERVERS];
  wh_sticky sticky;
  wh_cookie cookie;
  wh_passive_health_check passive;
  wh_health_check hc;
} test_svc;

static inline void test_svc_init(test_svc *t) {
  memset(t, 0, sizeof(*t));
  t->lb.servers.items = t->servers;
  t->lb.pass_host_header = true;
}

/* weight < 0: leave weight unset (default 1). */
static inline void test_svc_add(test_svc *t, const char *url, int weight) {
  wh_server *s = &t->servers[t->lb.servers.n++];
  s->url = (char *)url;
  if (weight >= 0) {
    s->weight = weight;
    s->weight_set = true;
  }
}

static inline void test_svc_sticky(test_svc *t, const char *name) {
  t->cookie.name = (char *)name;
  t->cookie.path = (char *)"/";
  t->sticky.cookie = &t->cookie;
  t->lb.sticky = &t->sticky;
}

#endif
