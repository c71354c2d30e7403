/* Runtime of the chain middleware: members qualified with the chain's
 * provider unless already qualified, run in order through the runtime as a
 * router's own list is, stopping at the first that answers; a member that
 * is missing, disabled or without a runtime, and a chain that reaches
 * itself, fail closed with 500. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config/runtime.h"
#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/chain.h"

/* ---- test middleware types ---- */

static char trace[512]; /* "<mw_name>/<level>;" per member run */

typedef struct rec_conf {
  int answer; /* 0: pass on; else answer with this status */
} rec_conf;

static int rec_on_request(const void *cfg, wh_mw_exchange *x) {
  const rec_conf *c = cfg;
  size_t n = strlen(trace);
  snprintf(trace + n, sizeof trace - n, "%s/%u;", x->mw_name, x->level);
  if (!c->answer)
    return WH_MW_NEXT;
  wh_http_resp_text(x->resp, c->answer, "answered");
  return WH_MW_DONE;
}

static const wh_mw_type rec_type = {
    .name = "rec", .proto = WH_MW_HTTP, .on_request = rec_on_request};
static const wh_mw_type no_runtime_type = {.name = "noRuntime", .proto = WH_MW_HTTP};

/* ---- a runtime built by hand ---- */

enum { MAX_ELEMS = 16 };

typedef struct world {
  wh_runtime rt;
  wh_rt_elem elems[MAX_ELEMS];
  wh_rt_elem *ptrs[MAX_ELEMS];
  rec_conf recs[MAX_ELEMS];
  wh_mw_chain_conf chains[MAX_ELEMS];
  char *members[MAX_ELEMS][4];
  size_t n;
} world;

static int by_name(const void *a, const void *b) {
  return strcmp((*(wh_rt_elem *const *)a)->name, (*(wh_rt_elem *const *)b)->name);
}

static wh_rt_elem *add(world *w, const char *name, const char *provider, const wh_mw_type *t,
                       void *cfg) {
  assert_true(w->n < MAX_ELEMS);
  wh_rt_elem *e = &w->elems[w->n];
  e->name = (char *)name;
  e->provider = (char *)provider;
  e->kind = WH_KIND_HTTP_MIDDLEWARE;
  e->mw_type = t;
  e->mw_cfg = cfg;
  e->status = WH_STATUS_ENABLED;
  w->ptrs[w->n++] = e;
  w->rt.elems[WH_KIND_HTTP_MIDDLEWARE].v = w->ptrs;
  w->rt.elems[WH_KIND_HTTP_MIDDLEWARE].n = w->n;
  qsort(w->ptrs, w->n, sizeof w->ptrs[0], by_name);
  return e;
}

static wh_rt_elem *add_rec(world *w, const char *name, const char *provider, int answer) {
  w->recs[w->n].answer = answer;
  return add(w, name, provider, &rec_type, &w->recs[w->n]);
}

/* members: up to 4 names, NULL-terminated */
static wh_rt_elem *add_chain(world *w, const char *name, const char *provider,
                             const char *const *members) {
  size_t i = w->n, k = 0;
  for (; members[k]; k++)
    w->members[i][k] = (char *)members[k];
  w->chains[i].middlewares.v = w->members[i];
  w->chains[i].middlewares.n = k;
  return add(w, name, provider, &wh_mw_chain, &w->chains[i]);
}
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
} tx;

static tx *tx_new(const world *w) {
  tx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->req.method = "GET";
  t->req.target = "/";
  t->req.path = "/";
  t->req.host = "example.com";
  t->req.body = "";
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.path = strdup("/");
  t->x.resp = &t->resp;
  t->x.rt = &w->rt;
  trace[0] = '\0';
  return t;
}

static void tx_free(tx *t) {
  wh_http_resp_free(&t->resp);
  wh_mw_exchange_free(&t->x);
  free(t);
}

/* Runs the router list {name} the way the data plane does. */
static int run_router(tx *t, const char *name) {
  char *list[] = {(char *)name};
  return wh_mw_run_list(&t->x, list, 1);
}

/* ---- tests ---- */

static void test_members_run_in_order_with_the_chain_provider(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  add_rec(w, "a@docker", "docker", 0);
  add_rec(w, "b@docker", "docker", 0);
  add_rec(w, "a@file", "file", 0);
  add_rec(w, "b@file", "file", 0);
  add_chain(w, "c@docker", "docker", NAMES("b", "a"));
  tx *t = tx_new(w);
  assert_int_equal(run_router(t, "c@docker"), WH_MW_NEXT);
  /* the chain itself is level 1, its members 2 and 3 */
  assert_string_equal(trace, "b@docker/2;a@docker/3;");
  assert_int_equal(t->resp.status, 0);
  /* the caller's view is restored after the chain */
  assert_null(t->x.mw_name);
  assert_null(t->x.mw_provider);
  tx_free(t);
  free(w);
}

static void test_qualified_members_keep_their_provider(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  add_rec(w, "a@docker", "docker", 0);
  add_rec(w, "a@file", "file", 0);
  add_rec(w, "auth@internal", "internal", 0);
  add_chain(w, "c@docker", "docker", NAMES("a@file", "a", "auth@internal"));
  tx *t = tx_new(w);
  assert_int_equal(run_router(t, "c@docker"), WH_MW_NEXT);
  assert_string_equal(trace, "a@file/2;a@docker/3;auth@internal/4;");
  tx_free(t);
  free(w);
}

static void test_a_member_that_answers_stops_the_chain(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  add_rec(w, "a@file", "file", 0);
  add_rec(w, "deny@file", "file", 403);
  add_rec(w, "z@file", "file", 0);
  add_chain(w, "c@file", "file", NAMES("a", "deny", "z"));
  tx *t = tx_new(w);
  /* the router's list goes on after the chain only when it passed */
  char *list[] = {"c@file", "z@file"};
  assert_int_equal(wh_mw_run_list(&t->x, list, 2), WH_MW_DONE);
  assert_string_equal(trace, "a@file/2;deny@file/3;");
  assert_int_equal(t->resp.status, 403);
  tx_free(t);
  free(w);
}

static void test_nested_chains(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  add_rec(w, "x@file", "file", 0);
  add_rec(w, "y@docker", "docker", 0);
  add_rec(w, "y@file", "file", 0);
  add_chain(w, "inner@docker", "docker", NAMES("y"));
  add_chain(w, "outer@file", "file", NAMES("x", "inner@docker", "y"));
  tx *t = tx_new(w);
  assert_int_equal(run_router(t, "outer@file"), WH_MW_NEXT);
  /* the inner chain qualifies with its own provider, not the outer one's */
  assert_string_equal(trace, "x@file/2;y@docker/4;y@file/5;");
  tx_free(t);
  free(w);
}

static void expect_500(world *w, const char *chain, const char *want_trace) {
  tx *t = tx_new(w);
  assert_int_equal(run_router(t, chain), WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  assert_string_equal(trace, want_trace);
  tx_free(t);
}

static void test_missing_member_fails_closed(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  add_rec(w, "a@file", "file", 0);
  add_rec(w, "b@docker", "docker", 0); /* the chain's "b" is b@file: absent */
  add_rec(w, "z@file", "file", 0);
  add_chain(w, "c@file", "file", NAMES("a", "b", "z"));
  expect_500(w, "c@file", "a@file/2;");
  free(w);
}

static void test_disabled_member_fails_closed(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  wh_rt_elem *off = add_rec(w, "off@file", "file", 0);
  add_chain(w, "c@file", "file", NAMES("off"));
  tx *t = tx_new(w);
  assert_int_equal(run_router(t, "c@file"), WH_MW_NEXT);
  tx_free(t);
  off->status = WH_STATUS_DISABLED;
  expect_500(w, "c@file", "");
  free(w);
}

static void test_member_without_runtime_fails_closed(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  static int dummy;
  add(w, "nort@file", "file", &no_runtime_type, &dummy);
  add_chain(w, "c@file", "file", NAMES("nort"));
  expect_500(w, "c@file", "");
  free(w);
}

/* The configuration layer disables such chains (runtime.c check_chains);
 * built by hand past it, the runtime still stops with 500, not a crash. */
static void test_cycle_fails_closed(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  add_rec(w, "a@file", "file", 0);
  add_chain(w, "self@file", "file", NAMES("a", "self"));
  add_chain(w, "p@file", "file", NAMES("q"));
  add_chain(w, "q@file", "file", NAMES("p"));
  tx *t = tx_new(w);
  assert_int_equal(run_router(t, "self@file"), WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  assert_non_null(strstr(trace, "a@file/2;a@file/4;"));
  tx_free(t);
  expect_500(w, "p@file", "");
  /* the depth guard is per request: a sound chain still runs afterwards */
  add_chain(w, "ok@file", "file", NAMES("a"));
  t = tx_new(w);
  assert_int_equal(run_router(t, "ok@file"), WH_MW_NEXT);
  assert_string_equal(trace, "a@file/2;");
  tx_free(t);
  free(w);
}

/* A chain with no runtime to look members up in fails closed. */
static void test_no_runtime_fails_closed(void **state) {
  (void)state;
  char *m[] = {"a"};
  wh_mw_chain_conf c = {.middlewares = {m, 1}};
  tx t = {0};
  wh_http_resp_init(&t.resp);
  t.x.req = &t.req;
  t.x.resp = &t.resp;
  t.x.path = strdup("/");
  t.x.mw_name = "c@file";
  t.x.mw_provider = "file";
  assert_int_equal(wh_mw_chain.on_request(&c, &t.x), WH_MW_DONE);
  assert_int_equal(t.resp.status, 500);
  wh_http_resp_free(&t.resp);
  wh_mw_exchange_free(&t.x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_members_run_in_order_with_the_chain_provider),
      cmocka_unit_test(test_qualified_members_keep_their_provider),
      cmocka_unit_test(test_a_member_that_answers_stops_the_chain),
      cmocka_unit_test(test_nested_chains),
      cmocka_unit_test(test_missing_member_fails_closed),
      cmocka_unit_test(test_disabled_member_fails_closed),
      cmocka_unit_test(test_member_without_runtime_fails_closed),
      cmocka_unit_test(test_cycle_fails_closed),
      cmocka_unit_test(test_no_runtime_fails_closed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
