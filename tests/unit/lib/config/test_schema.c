/* Unit tests for lib/config/schema.c: decoding, defaults, encoding, copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "lib/config/schema.h"
#include "lib/config/tree.h"
#include "lib/core/err.h"

/* ---------------------------------------------------------------------------
 * Test schemas: a small Traefik-like model. */

typedef struct t_domain {
  char *main;
  wh_strlist sans;
} t_domain;

static const wh_field domain_fields[] = {
    {"main", WH_F_STRING, offsetof(t_domain, main), NULL, NULL, 0, 0},
    {"sans", WH_F_STRLIST, offsetof(t_domain, sans), NULL, NULL, 0, 0},
};
static const wh_schema domain_schema = {"domain", sizeof(t_domain), domain_fields, 2, NULL};

typedef struct t_tls {
  char *certResolver;
  char *options;
  wh_list domains;
} t_tls;

static const wh_field tls_fields[] = {
    {"certResolver", WH_F_STRING, offsetof(t_tls, certResolver), NULL, NULL, 0, 0},
    {"options", WH_F_STRING, offsetof(t_tls, options), NULL, "default", 0, 0},
    {"domains", WH_F_LIST, offsetof(t_tls, domains), &domain_schema, NULL, 0, 0},
};
static const wh_schema tls_schema = {"tls", sizeof(t_tls), tls_fields, 3, NULL};

typedef struct t_router {
  char *rule;
  wh_strlist entryPoints;
  int64_t priority;
  t_tls *tls;
  bool tls_set;
} t_router;

/* Records every path the router validator was called with. */
static char *g_validated[16];
static size_t g_nvalidated;

static void reset_validated(void) {
  for (size_t i = 0; i < g_nvalidated; i++)
    free(g_validated[i]);
  g_nvalidated = 0;
}

static int router_validate(void *obj, const char *path, wh_errlist *errs) {
  t_router *r = obj;
  if (g_nvalidated < 16)
    g_validated[g_nvalidated++] = strdup(path);
  if (!r->rule) {
    wh_errlist_add(errs, "%s: rule is required", path);
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field router_fields[] = {
    {"rule", WH_F_STRING, offsetof(t_router, rule), NULL, NULL, 0, 0},
    {"entryPoints", WH_F_STRLIST, offsetof(t_router, entryPoints), NULL, NULL, 0, 0},
    {"priority", WH_F_INT, offsetof(t_router, priority), NULL, NULL, 0, 0},
    {"tls", WH_F_STRUCT_PTR, offsetof(t_router, tls), &tls_schema, NULL, WH_FF_ALLOW_EMPTY,
     offsetof(t_router, tls_set)},
};
static const wh_schema router_schema = {"router", sizeof(t_router), router_fields, 4,
                                        router_validate};

typedef struct t_server {
  char *url;
  int64_t weight;
} t_server;

static int server_validate(void *obj, const char *path, wh_errlist *errs) {
  t_server *s = obj;
  if (!s->url) {
    wh_errlist_add(errs, "%s: url is required", path);
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field server_fields[] = {
    {"url", WH_F_STRING, offsetof(t_server, url), NULL, NULL, 0, 0},
    {"weight", WH_F_INT, offsetof(t_server, weight), NULL, "1", 0, 0},
};
static const wh_schema server_schema = {"server", sizeof(t_server), server_fields, 2,
                                        server_validate};

typedef struct t_api {
  bool insecure;
  bool dashboard;
} t_api;

static const wh_field api_fields[] = {
    {"insecure", WH_F_BOOL, offsetof(t_api, insecure), NULL, NULL, 0, 0},
    {"dashboard", WH_F_BOOL, offsetof(t_api, dashboard), NULL, "true", 0, 0},
};
static const wh_schema api_schema = {"api", sizeof(t_api), api_fields, 2, NULL};

typedef struct t_log {
  char *level;
  char *format;
} t_log;

static const wh_field log_fields[] = {
    {"level", WH_F_STRING, offsetof(t_log, level), NULL, "ERROR", 0, 0},
    {"format", WH_F_STRING, offsetof(t_log, format), NULL, NULL, 0, 0},
};
static const wh_schema log_schema = {"log", sizeof(t_log), log_fields, 2, NULL};

typedef struct t_root {
  wh_map routers;
  wh_list servers;
  t_log log;
  t_api *api;
  bool debug;
  bool passHostHeader;
  int64_t count;
  bool count_set;
  double ratio;
  wh_duration timeout;
  wh_duration idle;
  wh_strlist entryPoints;
  wh_intlist statusCodes;
  wh_floatlist buckets;
  wh_strmap headers;
  char *password;
  char *legacy;
  wh_node *options;
  char *name;
} t_root;

static const wh_field root_fields[] = {
    {"routers", WH_F_MAP, offsetof(t_root, routers), &router_schema, NULL, 0, 0},
    {"servers", WH_F_LIST, offsetof(t_root, servers), &server_schema, NULL, 0, 0},
    {"log", WH_F_STRUCT, offsetof(t_root, log), &log_schema, NULL, 0, 0},
    {"api", WH_F_STRUCT_PTR, offsetof(t_root, api), &api_schema, NULL, 0, 0},
    {"debug", WH_F_BOOL, offsetof(t_root, debug), NULL, NULL, 0, 0},
    {"passHostHeader", WH_F_BOOL, offsetof(t_root, passHostHeader), NULL, "true", WH_FF_ALWAYS, 0},
    {"count", WH_F_INT, offsetof(t_root, count), NULL, NULL, 0, offsetof(t_root, count_set)},
    {"ratio", WH_F_FLOAT, offsetof(t_root, ratio), NULL, "0.5", 0, 0},
    {"timeout", WH_F_DURATION, offsetof(t_root, timeout), NULL, "10s", 0, 0},
    {"idle", WH_F_DURATION, offsetof(t_root, idle), NULL, NULL, 0, 0},
    {"entryPoints", WH_F_STRLIST, offsetof(t_root, entryPoints), NULL, "web, websecure", 0, 0},
    {"statusCodes", WH_F_INTLIST, offsetof(t_root, statusCodes), NULL, "500,502", 0, 0},
    {"buckets", WH_F_FLOATLIST, offsetof(t_root, buckets), NULL, "0.1,2.5", 0, 0},
    {"headers", WH_F_STRMAP, offsetof(t_root, headers), NULL, NULL, 0, 0},
    {"password", WH_F_STRING, offsetof(t_root, password), NULL, NULL, WH_FF_SECRET, 0},
    {"legacy", WH_F_STRING, offsetof(t_root, legacy), NULL, NULL,
     WH_FF_DEPRECATED | WH_FF_NO_ENCODE, 0},
    {"options", WH_F_RAW, offsetof(t_root, options), NULL, NULL, 0, 0},
    {"name", WH_F_STRING, offsetof(t_root, name), NULL, NULL, 0, 0},
};
static const wh_schema root_schema = {"root", sizeof(t_root), root_fields,
                                      sizeof root_fields / sizeof root_fields[0], NULL};

/* A schema without defaults, for exact encoding checks. */
typedef struct t_inner {
  char *x;
  int64_t y;
} t_inner;

static const wh_field inner_fields[] = {
    {"x", WH_F_STRING, offsetof(t_inner, x), NULL, NULL, 0, 0},
    {"y", WH_F_INT, offsetof(t_inner, y), NULL, NULL, 0, 0},
};
static const wh_schema inner_schema = {"inner", sizeof(t_inner), inner_fields, 2, NULL};

typedef struct t_enc {
  char *s;
  bool b;
  bool always;
  int64_t i;
  double f;
  wh_duration d;
  wh_strlist sl;
  wh_intlist il;
  wh_floatlist fl;
  wh_strmap sm;
  t_inner emb;
  t_inner *ptr;
  wh_list list;
  wh_map map;
  wh_node *raw;
  char *secret;
  char *noenc;
} t_enc;

static const wh_field enc_fields[] = {
    {"s", WH_F_STRING, offsetof(t_enc, s), NULL, NULL, 0, 0},
    {"b", WH_F_BOOL, offsetof(t_enc, b), NULL, NULL, 0, 0},
    {"always", WH_F_BOOL, offsetof(t_enc, always), NULL, NULL, WH_FF_ALWAYS, 0},
    {"i", WH_F_INT, offsetof(t_enc, i), NULL, NULL, 0, 0},
    {"f", WH_F_FLOAT, offsetof(t_enc, f), NULL, NULL, 0, 0},
    {"d", WH_F_DURATION, offsetof(t_enc, d), NULL, NULL, 0, 0},
    {"sl", WH_F_STRLIST, offsetof(t_enc, sl), NULL, NULL, 0, 0},
    {"il", WH_F_INTLIST, offsetof(t_enc, il), NULL, NULL, 0, 0},
    {"fl", WH_F_FLOATLIST, offsetof(t_enc, fl), NULL, NULL, 0, 0},
    {"sm", WH_F_STRMAP, offsetof(t_enc, sm), NULL, NULL, 0, 0},
    {"emb", WH_F_STRUCT, offsetof(t_enc, emb), &inner_schema, NULL, 0, 0},
    {"ptr", WH_F_STRUCT_PTR, offsetof(t_enc, ptr), &inner_schema, NULL, WH_FF_ALLOW_EMPTY, 0},
    {"list", WH_F_LIST, offsetof(t_enc, list), &inner_schema, NULL, 0, 0},
    {"map", WH_F_MAP, offsetof(t_enc, map), &inner_schema, NULL, 0, 0},
    {"raw", WH_F_RAW, offsetof(t_enc, raw), NULL, NULL, 0, 0},
    {"secret", WH_F_STRING, offsetof(t_enc, secret), NULL, NULL, WH_FF_SECRET, 0},
    {"noenc", WH_F_STRING, offsetof(t_enc, noenc), NULL, NULL, WH_FF_NO_ENCODE, 0},
};
static const wh_schema enc_schema = {"enc", sizeof(t_enc), enc_fields,
                                     sizeof enc_fields / sizeof enc_fields[0], NULL};

/* ---------------------------------------------------------------------------
 * Helpers */

typedef struct fx {
  wh_node *tree;
  t_root root;
  wh_errlist errs;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(f->tree);
  assert_int_equal(wh_schema_init(&root_schema, &f->root), 0);
  wh_errlist_init(&f->errs);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  wh_node_free(f->tree);
  wh_schema_free(&root_schema, &f->root);
  wh_errlist_free(&f->errs);
  reset_validated();
  free(f);
  return 0;
}

static void set(fx *f, const char *dotted, const char *value) {
  assert_int_equal(wh_node_set_dotted(f->tree, dotted, value, NULL, 0), 0);
}

static void set_at(fx *f, const char *dotted, const char *value, const char *src, int line) {
  assert_int_equal(wh_node_set_dotted(f->tree, dotted, value, src, line), 0);
}

/* Appends a child of the given kind under parent; returns it. */
static wh_node *add(wh_node *parent, wh_node_kind kind, const char *key, const char *value) {
  wh_node *n = wh_node_new(kind, key, value);
  assert_non_null(n);
  assert_int_equal(wh_node_append(parent, n), 0);
  return n;
}

static int decode(fx *f) {
  return wh_schema_decode(&root_schema, f->tree, &f->root, "", &f->errs);
}

static void assert_errs(fx *f, size_t n) {
  if (f->errs.n != n)
    for (size_t i = 0; i < f->errs.n; i++)
      print_message("err[%zu]: %s\n", i, f->errs.items[i]);
  assert_int_equal(f->errs.n, n);
}

static void assert_only_err(fx *f, const char *msg) {
  assert_errs(f, 1);
  assert_string_equal(f->errs.items[0], msg);
}

static char *encode_str(const wh_schema *s, const void *obj) {
  cJSON *j = wh_schema_encode(s, obj);
  assert_non_null(j);
  char *out = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  assert_non_null(out);
  return out;
}

static void assert_encodes(const wh_schema *s, const void *obj, const char *want) {
  char *got = encode_str(s, obj);
  assert_string_equal(got, want);
  free(got);
}

/* ---------------------------------------------------------------------------
 * Scalar parsers */

static void test_parse_bool_go_values(void **state) {
  (void)state;
  const char *t[] = {"1", "t", "T", "TRUE", "true", "True"};
  const char *fl[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (size_t i = 0; i < 6; i++) {
    bool v = false;
    assert_int_equal(wh_parse_bool(t[i], &v), 0);
    assert_true(v);
    v = true;
    assert_int_equal(wh_parse_bool(fl[i], &v), 0);
    assert_false(v);
  }
}

static void test_parse_bool_rejects(void **state) {
  (void)state;
  const char *bad[] = {"yes", "no", "TrUe", "", "on", " true", "2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bool v = true;
    assert_int_equal(wh_parse_bool(bad[i], &v), WH_EINVAL);
    assert_true(v); /* untouched */
  }
  bool v;
  assert_int_equal(wh_parse_bool(NULL, &v), WH_EINVAL);
}

static void test_parse_int_valid(void **state) {
  (void)state;
  int64_t v;
  assert_int_equal(wh_parse_int("0", &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(wh_parse_int("-5", &v), 0);
  assert_int_equal(v, -5);
  assert_int_equal(wh_parse_int("+7", &v), 0);
  assert_int_equal(v, 7);
  assert_int_equal(wh_parse_int("9223372036854775807", &v), 0);
  assert_true(v == INT64_MAX);
  assert_int_equal(wh_parse_int("-9223372036854775808", &v), 0);
  assert_true(v == INT64_MIN);
}

static void test_parse_int_invalid(void **state) {
  (void)state;
  const char *bad[] = {"",
                       "-",
                       "+",
                       "12a",
                       " 1",
                       "1 ",
                       "0x10",
                       "1.5",
                       "9223372036854775808",
                       "-9223372036854775809",
                       "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t v = 42;
    assert_int_equal(wh_parse_int(bad[i], &v), WH_EINVAL);
    assert_int_equal(v, 42);
  }
  int64_t v;
  assert_int_equal(wh_parse_int(NULL, &v), WH_EINVAL);
}

/* ---------------------------------------------------------------------------
 * Defaults */

static void test_init_defaults(void **state) {
  fx *f = *state;
  t_root *r = &f->root;
  assert_true(r->passHostHeader);
  assert_false(r->debug);
  assert_true(r->ratio == 0.5);
  assert_true(r->timeout == 10 * WH_SEC);
  assert_true(r->idle == 0);
  assert_int_equal(r->entryPoints.n, 2);
  assert_string_equal(r->entryPoints.v[0], "web");
  assert_string_equal(r->entryPoints.v[1], "websecure");
  assert_int_equal(r->statusCodes.n, 2);
  assert_int_equal(r->statusCodes.v[1], 502);
  assert_int_equal(r->buckets.n, 2);
  assert_true(r->buckets.v[1] == 2.5);
  assert_string_equal(r->log.level, "ERROR"); /* embedded struct initialised */
  assert_null(r->log.format);
  assert_null(r->api); /* pointer stays absent until touched */
  assert_int_equal(r->routers.n, 0);
  assert_null(r->name);
}

static void test_new_destroy(void **state) {
  (void)state;
  t_api *a = wh_schema_new(&api_schema);
  assert_non_null(a);
  assert_true(a->dashboard);
  assert_false(a->insecure);
  wh_schema_destroy(&api_schema, a);
  wh_schema_destroy(&api_schema, NULL); /* NULL-safe */
}

static const wh_field bad_dflt_fields[] = {
    {"n", WH_F_INT, 0, NULL, "ten", 0, 0},
};
static const wh_schema bad_dflt_schema = {"bad", sizeof(int64_t), bad_dflt_fields, 1, NULL};

static void test_init_bad_default_reports(void **state) {
  (void)state;
  int64_t v = 5;
  assert_int_equal(wh_schema_init(&bad_dflt_schema, &v), WH_EINVAL);
  assert_null(wh_schema_new(&bad_dflt_schema));
}

/* ---------------------------------------------------------------------------
 * Scalars */

static void test_decode_string(void **state) {
  fx *f = *state;
  set(f, "name", "hello");
  assert_int_equal(decode(f), 0);
  assert_errs(f, 0);
  assert_string_equal(f->root.name, "hello");
}

static void test_decode_string_null_is_absent(void **state) {
  fx *f = *state;
  f->root.name = strdup("before");
  add(f->tree, WH_NODE_SCALAR, "name", NULL);
  assert_int_equal(decode(f), 0);
  assert_null(f->root.name);
}

static void test_decode_string_from_map_is_error(void **state) {
  fx *f = *state;
  set(f, "name.first", "x");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "name: expected a string, got a mapping");
  assert_null(f->root.name);
}

static void test_fields_case_insensitive(void **state) {
  fx *f = *state;
  set(f, "DEBUG", "true");
  set(f, "entrypoints", "a");
  set(f, "LOG.Level", "DEBUG");
  assert_int_equal(decode(f), 0);
  assert_true(f->root.debug);
  assert_int_equal(f->root.entryPoints.n, 1);
  assert_string_equal(f->root.log.level, "DEBUG");
}

static void test_decode_bool_values(void **state) {
  fx *f = *state;
  set(f, "debug", "T");
  set(f, "passHostHeader", "false");
  assert_int_equal(decode(f), 0);
  assert_true(f->root.debug);
  assert_false(f->root.passHostHeader);
}

static void test_bool_bare_flag_is_true(void **state) {
  fx *f = *state;
  set(f, "debug", NULL);
  assert_int_equal(decode(f), 0);
  assert_true(f->root.debug);
}

static void test_bool_invalid(void **state) {
  fx *f = *state;
  set(f, "debug", "yes");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "debug: invalid boolean \"yes\"");
  assert_false(f->root.debug);
}

static void test_int_and_overflow(void **state) {
  fx *f = *state;
  set(f, "count", "-12");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.count, -12);
  wh_node_free(f->tree);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  set(f, "count", "9223372036854775808");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "count: invalid integer \"9223372036854775808\"");
  assert_int_equal(f->root.count, -12);
}

static void test_float(void **state) {
  fx *f = *state;
  set(f, "ratio", "1.25e1");
  assert_int_equal(decode(f), 0);
  assert_true(f->root.ratio == 12.5);
}

static void test_float_invalid(void **state) {
  fx *f = *state;
  set(f, "ratio", "1.5x");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "ratio: invalid number \"1.5x\"");
  assert_true(f->root.ratio == 0.5);
}

static void test_duration_go_and_seconds(void **state) {
  fx *f = *state;
  set(f, "timeout", "1m30s");
  set(f, "idle", "10");
  assert_int_equal(decode(f), 0);
  assert_true(f->root.timeout == 90 * WH_SEC);
  assert_true(f->root.idle == 10 * WH_SEC);
}

static void test_duration_invalid(void **state) {
  fx *f = *state;
  set(f, "timeout", "abc");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "timeout: invalid duration \"abc\"");
  assert_true(f->root.timeout == 10 * WH_SEC);
}

static void test_duration_null_keeps_default(void **state) {
  fx *f = *state;
  add(f->tree, WH_NODE_SCALAR, "timeout", NULL);
  assert_int_equal(decode(f), 0);
  assert_true(f->root.timeout == 10 * WH_SEC);
}

static void test_scalar_given_list_is_error(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "count", NULL);
  add(l, WH_NODE_SCALAR, NULL, "1");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "count: expected a integer, got a list");
}

/* ---------------------------------------------------------------------------
 * Scalar lists */

static void test_strlist_from_yaml_list(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "entryPoints", NULL);
  add(l, WH_NODE_SCALAR, NULL, "a,b");
  add(l, WH_NODE_SCALAR, NULL, "c");
  assert_int_equal(decode(f), 0);
  /* items of a real list are not split on commas */
  assert_int_equal(f->root.entryPoints.n, 2);
  assert_string_equal(f->root.entryPoints.v[0], "a,b");
  assert_string_equal(f->root.entryPoints.v[1], "c");
}

static void test_strlist_from_comma_scalar(void **state) {
  fx *f = *state;
  set(f, "entryPoints", " x , y,,z ");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.entryPoints.n, 3);
  assert_string_equal(f->root.entryPoints.v[0], "x");
  assert_string_equal(f->root.entryPoints.v[1], "y");
  assert_string_equal(f->root.entryPoints.v[2], "z");
}

static void test_strlist_from_index_map_numeric_order(void **state) {
  fx *f = *state;
  wh_node *m = add(f->tree, WH_NODE_MAP, "entryPoints", NULL);
  add(m, WH_NODE_SCALAR, "10", "ten");
  add(m, WH_NODE_SCALAR, "2", "two");
  add(m, WH_NODE_SCALAR, "0", "zero");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.entryPoints.n, 3); /* gaps compacted */
  assert_string_equal(f->root.entryPoints.v[0], "zero");
  assert_string_equal(f->root.entryPoints.v[1], "two");
  assert_string_equal(f->root.entryPoints.v[2], "ten");
}

static void test_strlist_from_flag_indices(void **state) {
  fx *f = *state;
  set(f, "entryPoints[1]", "b");
  set(f, "entryPoints[0]", "a");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.entryPoints.n, 2);
  assert_string_equal(f->root.entryPoints.v[0], "a");
  assert_string_equal(f->root.entryPoints.v[1], "b");
}

static void test_strlist_empty_scalar_clears_default(void **state) {
  fx *f = *state;
  set(f, "entryPoints", "");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.entryPoints.n, 0);
}

static void test_strlist_non_index_map_is_error(void **state) {
  fx *f = *state;
  set(f, "entryPoints.web", "x");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "entryPoints: expected a list");
  /* the default is kept */
  assert_int_equal(f->root.entryPoints.n, 2);
}

static void test_strlist_nested_item_is_error(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "entryPoints", NULL);
  add(l, WH_NODE_SCALAR, NULL, "a");
  add(l, WH_NODE_MAP, NULL, NULL);
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "entryPoints[1]: expected a scalar, got a mapping");
}

static void test_intlist_comma_and_bad_item(void **state) {
  fx *f = *state;
  set(f, "statusCodes", "200, 404");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.statusCodes.n, 2);
  assert_int_equal(f->root.statusCodes.v[0], 200);
  assert_int_equal(f->root.statusCodes.v[1], 404);
  wh_node_free(f->tree);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  wh_node *l = add(f->tree, WH_NODE_LIST, "statusCodes", NULL);
  add(l, WH_NODE_SCALAR, NULL, "500");
  add(l, WH_NODE_SCALAR, NULL, "5xx");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "statusCodes[1]: invalid integer \"5xx\"");
  assert_int_equal(f->root.statusCodes.n, 2); /* previous value kept on error */
  assert_int_equal(f->root.statusCodes.v[0], 200);
}

static void test_floatlist_from_list(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "buckets", NULL);
  add(l, WH_NODE_SCALAR, NULL, "0.25");
  add(l, WH_NODE_SCALAR, NULL, "10");
  add(l, WH_NODE_SCALAR, NULL, "1e1");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.buckets.n, 3);
  assert_true(f->root.buckets.v[0] == 0.25);
  assert_true(f->root.buckets.v[2] == 10.0);
}

/* ---------------------------------------------------------------------------
 * String maps */

static void test_strmap_keeps_spelling_and_case_dups_replace(void **state) {
  fx *f = *state;
  wh_node *m = add(f->tree, WH_NODE_MAP, "headers", NULL);
  add(m, WH_NODE_SCALAR, "X-Foo", "1");
  add(m, WH_NODE_SCALAR, "X-Bar", NULL);
  add(m, WH_NODE_SCALAR, "x-foo", "2");
  assert_int_equal(decode(f), 0);
  wh_strmap *h = &f->root.headers;
  assert_int_equal(h->n, 2);
  assert_string_equal(h->keys[0], "x-foo");
  assert_string_equal(h->vals[0], "2");
  assert_string_equal(h->keys[1], "X-Bar");
  assert_string_equal(h->vals[1], ""); /* null value: empty (header deletion) */
  assert_string_equal(wh_strmap_get(h, "X-FOO", true), "2");
  assert_null(wh_strmap_get(h, "X-FOO", false));
  assert_null(wh_strmap_get(NULL, "a", true));
}

static void test_strmap_given_scalar_is_error(void **state) {
  fx *f = *state;
  set(f, "headers", "X-Foo=1");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "headers: expected a mapping");
  assert_int_equal(f->root.headers.n, 0);
}

static void test_strmap_nested_value_is_error(void **state) {
  fx *f = *state;
  set(f, "headers.X-Ok", "1");
  set(f, "headers.X-Foo.bar", "1");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "headers.X-Foo: expected a string, got a mapping");
  assert_int_equal(f->root.headers.n, 1);
}

/* ---------------------------------------------------------------------------
 * Structs */

static void test_embedded_struct_overlay(void **state) {
  fx *f = *state;
  set(f, "log.format", "json");
  assert_int_equal(decode(f), 0);
  assert_string_equal(f->root.log.format, "json");
  assert_string_equal(f->root.log.level, "ERROR"); /* default kept */
}

static void test_embedded_struct_given_scalar(void **state) {
  fx *f = *state;
  set(f, "log", "verbose");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "log: expected a mapping");
}

static void test_struct_ptr_created_when_touched(void **state) {
  fx *f = *state;
  set(f, "api.insecure", "true");
  assert_int_equal(decode(f), 0);
  assert_non_null(f->root.api);
  assert_true(f->root.api->insecure);
  assert_true(f->root.api->dashboard); /* default applied */
}

static void test_struct_ptr_empty_creates(void **state) {
  fx *f = *state;
  add(f->tree, WH_NODE_SCALAR, "api", NULL);
  assert_int_equal(decode(f), 0);
  assert_non_null(f->root.api);
  assert_true(f->root.api->dashboard);
}

static void test_struct_ptr_scalar_without_allow_empty(void **state) {
  fx *f = *state;
  set(f, "api", "true");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "api: expected a mapping");
  assert_null(f->root.api);
}

static void test_allow_empty_true_any_case(void **state) {
  fx *f = *state;
  set(f, "routers.r.rule", "Host(`a`)");
  set(f, "routers.r.tls", "TRUE");
  assert_int_equal(decode(f), 0);
  t_router *r = wh_map_get(&f->root.routers, "r");
  assert_non_null(r);
  assert_non_null(r->tls);
  assert_string_equal(r->tls->options, "default");
  assert_true(r->tls_set);
}

static void test_allow_empty_false_leaves_absent(void **state) {
  fx *f = *state;
  set(f, "routers.r.rule", "Host(`a`)");
  set(f, "routers.r.tls", "false");
  assert_int_equal(decode(f), 0);
  t_router *r = wh_map_get(&f->root.routers, "r");
  assert_non_null(r);
  assert_null(r->tls);
  assert_true(r->tls_set); /* explicitly given, even though disabled */
}

static void test_allow_empty_false_removes_existing(void **state) {
  fx *f = *state;
  set(f, "routers.r.rule", "x");
  set(f, "routers.r.tls.options", "o");
  assert_int_equal(decode(f), 0);
  t_router *r = wh_map_get(&f->root.routers, "r");
  assert_non_null(r->tls);
  wh_node_free(f->tree);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  set(f, "routers.r.tls", "no");
  assert_int_equal(decode(f), 0);
  assert_null(r->tls);
}

static void test_allow_empty_map_with_value(void **state) {
  fx *f = *state;
  set(f, "routers.r.rule", "x");
  wh_node *routers = wh_node_at(f->tree, "routers.r");
  assert_non_null(routers);
  /* wh_node_new gives maps no value; a source may still set one. */
  wh_node *tls = add(routers, WH_NODE_MAP, "tls", NULL);
  tls->value = strdup("false");
  add(tls, WH_NODE_SCALAR, "options", "o");
  assert_int_equal(decode(f), 0);
  t_router *r = wh_map_get(&f->root.routers, "r");
  assert_null(r->tls); /* "false" disables sub-keys too */
}

static void test_allow_empty_empty_map(void **state) {
  fx *f = *state;
  set(f, "routers.r.rule", "x");
  wh_node *rn = wh_node_at(f->tree, "routers.r");
  add(rn, WH_NODE_MAP, "tls", NULL);
  assert_int_equal(decode(f), 0);
  t_router *r = wh_map_get(&f->root.routers, "r");
  assert_non_null(r->tls);
  assert_null(r->tls->certResolver);
}

/* ---------------------------------------------------------------------------
 * Lists of structs */

static void test_list_from_yaml(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "servers", NULL);
  wh_node *s0 = add(l, WH_NODE_MAP, NULL, NULL);
  add(s0, WH_NODE_SCALAR, "url", "http://a");
  wh_node *s1 = add(l, WH_NODE_MAP, NULL, NULL);
  add(s1, WH_NODE_SCALAR, "url", "http://b");
  add(s1, WH_NODE_SCALAR, "weight", "3");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.servers.n, 2);
  t_server *s = f->root.servers.items;
  assert_string_equal(s[0].url, "http://a");
  assert_int_equal(s[0].weight, 1); /* default per element */
  assert_string_equal(s[1].url, "http://b");
  assert_int_equal(s[1].weight, 3);
}

static void test_list_from_index_map(void **state) {
  fx *f = *state;
  set(f, "servers[1].url", "http://b");
  set(f, "servers[0].url", "http://a");
  set(f, "servers[0].weight", "5");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.servers.n, 2);
  t_server *s = f->root.servers.items;
  assert_string_equal(s[0].url, "http://a");
  assert_int_equal(s[0].weight, 5);
  assert_string_equal(s[1].url, "http://b");
}

static void test_list_error_path_uses_user_index(void **state) {
  fx *f = *state;
  set(f, "servers[7].url", "http://a");
  set(f, "servers[7].wieght", "2");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "servers[7].wieght: unknown key (did you mean \"weight\"?)");
  assert_int_equal(f->root.servers.n, 1);
}

static void test_list_null_item_gets_defaults(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "servers", NULL);
  add(l, WH_NODE_SCALAR, NULL, NULL);
  assert_int_equal(decode(f), WH_EINVAL); /* validate: url is required */
  assert_only_err(f, "servers[0]: url is required");
  assert_int_equal(f->root.servers.n, 1);
  assert_int_equal(((t_server *)f->root.servers.items)[0].weight, 1);
}

static void test_list_scalar_item_is_error(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "servers", NULL);
  add(l, WH_NODE_SCALAR, NULL, "http://a");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "servers[0]: expected a mapping");
}

static void test_list_nested_list_item_is_error(void **state) {
  fx *f = *state;
  wh_node *l = add(f->tree, WH_NODE_LIST, "servers", NULL);
  wh_node *s0 = add(l, WH_NODE_MAP, NULL, NULL);
  add(s0, WH_NODE_SCALAR, "url", "http://a");
  add(l, WH_NODE_LIST, NULL, NULL);
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "servers[1]: expected a mapping");
  /* the good element is kept, the bad one stays freeable */
  assert_int_equal(f->root.servers.n, 2);
  assert_string_equal(((t_server *)f->root.servers.items)[0].url, "http://a");
}

static void test_list_replaces_previous(void **state) {
  fx *f = *state;
  set(f, "servers[0].url", "http://a");
  set(f, "servers[1].url", "http://b");
  assert_int_equal(decode(f), 0);
  wh_node_free(f->tree);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  set(f, "servers[0].url", "http://c");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.servers.n, 1);
  assert_string_equal(((t_server *)f->root.servers.items)[0].url, "http://c");
}

static void test_list_given_plain_map_is_error(void **state) {
  fx *f = *state;
  set(f, "servers.url", "http://a");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "servers: expected a list");
  assert_int_equal(f->root.servers.n, 0);
}

static void test_nested_list_in_ptr_in_map(void **state) {
  fx *f = *state;
  set(f, "routers.web.rule", "Host(`a`)");
  set(f, "routers.web.tls.domains[0].main", "a.com");
  set(f, "routers.web.tls.domains[0].sans", "b.a.com,c.a.com");
  assert_int_equal(decode(f), 0);
  t_router *r = wh_map_get(&f->root.routers, "web");
  assert_non_null(r);
  assert_non_null(r->tls);
  assert_int_equal(r->tls->domains.n, 1);
  t_domain *d = r->tls->domains.items;
  assert_string_equal(d->main, "a.com");
  assert_int_equal(d->sans.n, 2);
  assert_string_equal(d->sans.v[1], "c.a.com");
}

/* ---------------------------------------------------------------------------
 * Maps of structs */

static void test_map_names_keep_spelling_sorted(void **state) {
  fx *f = *state;
  set(f, "routers.zeta.rule", "z");
  set(f, "routers.Alpha.rule", "a");
  set(f, "routers.mid.rule", "m");
  assert_int_equal(decode(f), 0);
  wh_map *m = &f->root.routers;
  assert_int_equal(m->n, 3);
  assert_string_equal(m->keys[0], "Alpha");
  assert_string_equal(m->keys[1], "mid");
  assert_string_equal(m->keys[2], "zeta");
  assert_null(wh_map_get(m, "alpha")); /* lookup is exact */
  assert_string_equal(((t_router *)wh_map_get(m, "Alpha"))->rule, "a");
}

static void test_map_at_sign_rejected(void **state) {
  fx *f = *state;
  set(f, "routers.ok.rule", "x");
  set(f, "routers.bad@docker.rule", "y");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "routers.bad@docker: \"@\" is not allowed in names");
  assert_int_equal(f->root.routers.n, 1);
  assert_non_null(wh_map_get(&f->root.routers, "ok"));
}

static void test_map_case_colliding_keys_merge(void **state) {
  fx *f = *state;
  /* Built by hand: the tree itself would already merge these keys. */
  wh_node *m = add(f->tree, WH_NODE_MAP, "routers", NULL);
  wh_node *a = add(m, WH_NODE_MAP, "myrouter", NULL);
  add(a, WH_NODE_SCALAR, "rule", "Host(`a`)");
  wh_node *b = add(m, WH_NODE_MAP, "MyRouter", NULL);
  add(b, WH_NODE_SCALAR, "priority", "9");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.routers.n, 1);
  assert_string_equal(f->root.routers.keys[0], "MyRouter"); /* first in sorted order */
  t_router *r = f->root.routers.vals[0];
  assert_string_equal(r->rule, "Host(`a`)");
  assert_int_equal(r->priority, 9);
  /* validated once, after both spellings were merged */
  assert_int_equal(g_nvalidated, 1);
  assert_string_equal(g_validated[0], "routers.MyRouter");
}

static void test_map_overlay_merges_case_insensitively(void **state) {
  fx *f = *state;
  set(f, "routers.web.rule", "x");
  assert_int_equal(decode(f), 0);
  wh_node_free(f->tree);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  set(f, "routers.WEB.priority", "3");
  set(f, "routers.other.rule", "y");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.routers.n, 2);
  t_router *r = wh_map_get(&f->root.routers, "web");
  assert_non_null(r);
  assert_string_equal(r->rule, "x");
  assert_int_equal(r->priority, 3);
}

static void test_map_null_entry_gets_defaults(void **state) {
  fx *f = *state;
  wh_node *m = add(f->tree, WH_NODE_MAP, "routers", NULL);
  add(m, WH_NODE_SCALAR, "r1", NULL);
  assert_int_equal(decode(f), WH_EINVAL); /* created, then validated */
  assert_only_err(f, "routers.r1: rule is required");
  assert_int_equal(f->root.routers.n, 1);
}

static void test_map_scalar_entry_is_error(void **state) {
  fx *f = *state;
  set(f, "routers.r1", "yes");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "routers.r1: expected a mapping");
}

static void test_map_many_entries(void **state) {
  fx *f = *state;
  char key[64];
  for (int i = 999; i >= 0; i--) {
    snprintf(key, sizeof key, "routers.r%04d.rule", i);
    set(f, key, "x");
  }
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.routers.n, 1000);
  for (size_t i = 1; i < f->root.routers.n; i++)
    assert_true(strcmp(f->root.routers.keys[i - 1], f->root.routers.keys[i]) < 0);
}

/* ---------------------------------------------------------------------------
 * Errors */

static void test_unknown_key_suggestion_with_line_and_source(void **state) {
  fx *f = *state;
  set_at(f, "routers.web.rule", "x", "dyn.yml", 3);
  set_at(f, "routers.web.entrypoint", "a", "dyn.yml", 4);
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "routers.web.entrypoint: unknown key (did you mean \"entryPoints\"?) "
                     "(dyn.yml line 4)");
}

static void test_unknown_key_line_without_source(void **state) {
  fx *f = *state;
  wh_node *n = add(f->tree, WH_NODE_SCALAR, "nmae", "x");
  n->line = 7;
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "nmae: unknown key (did you mean \"name\"?) (line 7)");
}

static void test_unknown_key_without_suggestion(void **state) {
  fx *f = *state;
  set(f, "log.completelyDifferent", "x");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "log.completelyDifferent: unknown key");
}

static void test_path_prefix_given_by_caller(void **state) {
  fx *f = *state;
  set(f, "debgu", "1");
  assert_int_equal(wh_schema_decode(&root_schema, f->tree, &f->root, "static", &f->errs),
                   WH_EINVAL);
  assert_only_err(f, "static.debgu: unknown key (did you mean \"debug\"?)");
}

static void test_all_errors_reported_and_rest_decoded(void **state) {
  fx *f = *state;
  set(f, "debug", "maybe");
  set(f, "count", "x");
  set(f, "name", "kept");
  set(f, "bogus", "1");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_errs(f, 3);
  assert_string_equal(f->errs.items[0], "debug: invalid boolean \"maybe\"");
  assert_string_equal(f->errs.items[1], "count: invalid integer \"x\"");
  assert_string_equal(f->errs.items[2], "bogus: unknown key");
  assert_string_equal(f->root.name, "kept");
}

static void test_root_not_a_map(void **state) {
  fx *f = *state;
  wh_node *l = wh_node_new(WH_NODE_LIST, NULL, NULL);
  assert_int_equal(wh_schema_decode(&root_schema, l, &f->root, "", &f->errs), WH_EINVAL);
  assert_only_err(f, "(root): expected a mapping");
  wh_node_free(l);
}

static void test_decode_without_errlist(void **state) {
  fx *f = *state;
  set(f, "debug", "nope");
  set(f, "name", "n");
  assert_int_equal(wh_schema_decode(&root_schema, f->tree, &f->root, "", NULL), WH_EINVAL);
  assert_string_equal(f->root.name, "n");
}

/* ---------------------------------------------------------------------------
 * set_offset, deprecated, validate, raw */

static void test_set_offset(void **state) {
  fx *f = *state;
  assert_int_equal(decode(f), 0); /* empty tree */
  assert_false(f->root.count_set);
  set(f, "count", "0");
  assert_int_equal(decode(f), 0);
  assert_true(f->root.count_set);
  assert_int_equal(f->root.count, 0);
}

static void test_set_offset_not_set_for_wrong_shape(void **state) {
  fx *f = *state;
  set(f, "routers.r.rule", "x");
  wh_node *rn = wh_node_at(f->tree, "routers.r");
  add(rn, WH_NODE_LIST, "tls", NULL);
  assert_int_equal(decode(f), WH_EINVAL);
  assert_only_err(f, "routers.r.tls: expected a mapping");
  t_router *r = wh_map_get(&f->root.routers, "r");
  assert_non_null(r);
  assert_false(r->tls_set);
  assert_null(r->tls);
}

static void test_decode_null_tree_is_noop(void **state) {
  fx *f = *state;
  assert_int_equal(wh_schema_decode(&root_schema, NULL, &f->root, "", &f->errs), 0);
  assert_errs(f, 0);
  assert_true(f->root.passHostHeader);
}

static void test_deprecated_field_still_decodes(void **state) {
  fx *f = *state;
  set(f, "legacy", "old");
  assert_int_equal(decode(f), 0);
  assert_errs(f, 0);
  assert_string_equal(f->root.legacy, "old");
}

static void test_validate_called_with_path(void **state) {
  fx *f = *state;
  set(f, "routers.a.rule", "x");
  set(f, "routers.b.priority", "1");
  assert_int_equal(wh_schema_decode(&root_schema, f->tree, &f->root, "http", &f->errs), WH_EINVAL);
  assert_int_equal(g_nvalidated, 2);
  assert_string_equal(g_validated[0], "http.routers.a");
  assert_string_equal(g_validated[1], "http.routers.b");
  assert_only_err(f, "http.routers.b: rule is required");
}

static void test_validate_skipped_after_decode_error(void **state) {
  fx *f = *state;
  set(f, "routers.a.priority", "high");
  assert_int_equal(decode(f), WH_EINVAL);
  assert_int_equal(g_nvalidated, 0);
  assert_only_err(f, "routers.a.priority: invalid integer \"high\"");
}

static void test_raw_clone_owned(void **state) {
  fx *f = *state;
  set(f, "options.apiKey", "k");
  set(f, "options.Nested.a", "1");
  assert_int_equal(decode(f), 0);
  wh_node *raw = f->root.options;
  assert_non_null(raw);
  assert_true(raw != wh_node_at(f->tree, "options"));
  wh_node_free(f->tree);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  /* still readable after the source tree is gone */
  assert_string_equal(wh_node_get(raw, "apikey", true)->value, "k");
  set(f, "options", "replaced");
  assert_int_equal(decode(f), 0);
  assert_int_equal(f->root.options->kind, WH_NODE_SCALAR);
  assert_string_equal(f->root.options->value, "replaced");
}

/* ---------------------------------------------------------------------------
 * Encoding */

static void test_encode_omits_empty(void **state) {
  (void)state;
  t_enc e;
  assert_int_equal(wh_schema_init(&enc_schema, &e), 0);
  assert_encodes(&enc_schema, &e, "{\"always\":false}");
  wh_schema_free(&enc_schema, &e);
}

static void test_encode_scalars(void **state) {
  (void)state;
  t_enc e;
  assert_int_equal(wh_schema_init(&enc_schema, &e), 0);
  e.s = strdup("str");
  e.b = true;
  e.always = true;
  e.i = -3;
  e.f = 0.5;
  e.d = 90 * WH_SEC;
  assert_encodes(&enc_schema, &e,
                 "{\"s\":\"str\",\"b\":true,\"always\":true,\"i\":-3,\"f\":0.5,\"d\":\"1m30s\"}");
  wh_schema_free(&enc_schema, &e);
}

static void test_encode_secret_and_noencode(void **state) {
  (void)state;
  t_enc e;
  assert_int_equal(wh_schema_init(&enc_schema, &e), 0);
  e.secret = strdup("hunter2");
  e.noenc = strdup("hidden");
  char *out = encode_str(&enc_schema, &e);
  assert_null(strstr(out, "hunter2"));
  assert_null(strstr(out, "hidden"));
  assert_string_equal(out, "{\"always\":false}");
  free(out);
  wh_schema_free(&enc_schema, &e);
}

static void test_encode_lists_and_maps(void **state) {
  (void)state;
  t_enc e;
  assert_int_equal(wh_schema_init(&enc_schema, &e), 0);
  assert_int_equal(wh_strlist_push(&e.sl, "a"), 0);
  assert_int_equal(wh_strlist_push(&e.sl, "b"), 0);
  e.il.v = malloc(2 * sizeof *e.il.v);
  e.il.v[0] = 200;
  e.il.v[1] = 404;
  e.il.n = 2;
  e.fl.v = malloc(sizeof *e.fl.v);
  e.fl.v[0] = 0.25;
  e.fl.n = 1;
  e.sm.keys = malloc(sizeof(char *));
  e.sm.vals = malloc(sizeof(char *));
  e.sm.keys[0] = strdup("X-Foo");
  e.sm.vals[0] = strdup("");
  e.sm.n = 1;
  assert_encodes(&enc_schema, &e,
                 "{\"always\":false,\"sl\":[\"a\",\"b\"],\"il\":[200,404],\"fl\":[0.25],"
                 "\"sm\":{\"X-Foo\":\"\"}}");
  wh_schema_free(&enc_schema, &e);
}

static void test_encode_struct_ptr_empty_is_object(void **state) {
  (void)state;
  t_enc e;
  assert_int_equal(wh_schema_init(&enc_schema, &e), 0);
  e.ptr = wh_schema_new(&inner_schema);
  e.emb.y = 0; /* embedded and empty: omitted */
  assert_encodes(&enc_schema, &e, "{\"always\":false,\"ptr\":{}}");
  e.emb.y = 4;
  assert_encodes(&enc_schema, &e, "{\"always\":false,\"emb\":{\"y\":4},\"ptr\":{}}");
  wh_schema_free(&enc_schema, &e);
}

static void test_encode_struct_list_and_map(void **state) {
  (void)state;
  t_enc e;
  assert_int_equal(wh_schema_init(&enc_schema, &e), 0);
  e.list.items = calloc(2, sizeof(t_inner));
  e.list.n = 2;
  ((t_inner *)e.list.items)[0].x = strdup("p");
  t_inner *b = wh_schema_new(&inner_schema);
  b->y = 2;
  t_inner *a = wh_schema_new(&inner_schema);
  assert_int_equal(wh_map_put(&e.map, "b", b, NULL), 0);
  assert_int_equal(wh_map_put(&e.map, "a", a, NULL), 0);
  assert_encodes(&enc_schema, &e,
                 "{\"always\":false,\"list\":[{\"x\":\"p\"},{}],"
                 "\"map\":{\"a\":{},\"b\":{\"y\":2}}}");
  wh_schema_free(&enc_schema, &e);
}

static void test_encode_raw(void **state) {
  (void)state;
  t_enc e;
  assert_int_equal(wh_schema_init(&enc_schema, &e), 0);
  e.raw = wh_node_new(WH_NODE_MAP, "raw", NULL);
  add(e.raw, WH_NODE_SCALAR, "n", "5");
  wh_node *l = add(e.raw, WH_NODE_LIST, "l", NULL);
  add(l, WH_NODE_SCALAR, NULL, "a");
  add(l, WH_NODE_SCALAR, NULL, NULL);
  assert_encodes(&enc_schema, &e, "{\"always\":false,\"raw\":{\"n\":\"5\",\"l\":[\"a\",null]}}");
  wh_schema_free(&enc_schema, &e);
}

static void test_encode_decoded_root(void **state) {
  fx *f = *state;
  set(f, "routers.r.rule", "x");
  set(f, "routers.r.tls", "true");
  set(f, "password", "secret");
  set(f, "passHostHeader", "false");
  set(f, "entryPoints", "");
  set(f, "statusCodes", "");
  set(f, "buckets", "");
  assert_int_equal(decode(f), 0);
  assert_encodes(&root_schema, &f->root,
                 "{\"routers\":{\"r\":{\"rule\":\"x\",\"tls\":{\"options\":\"default\"}}},"
                 "\"log\":{\"level\":\"ERROR\"},\"passHostHeader\":false,\"ratio\":0.5,"
                 "\"timeout\":\"10s\"}");
}

/* ---------------------------------------------------------------------------
 * Copy and equality */

static void fill_root(fx *f) {
  set(f, "routers.web.rule", "Host(`a`)");
  set(f, "routers.web.tls.domains[0].main", "a.com");
  set(f, "routers.web.tls.domains[0].sans", "b,c");
  set(f, "servers[0].url", "http://a");
  set(f, "api.insecure", "true");
  set(f, "headers.X-A", "1");
  set(f, "options.k", "v");
  set(f, "count", "4");
  set(f, "name", "n");
  assert_int_equal(decode(f), 0);
}

static void test_copy_deep_and_equal(void **state) {
  fx *f = *state;
  fill_root(f);
  t_root c;
  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  assert_true(wh_schema_equal(&root_schema, &c, &f->root));
  assert_true(c.count_set); /* non-table members copied too */
  /* deep: no shared pointers */
  assert_true(c.name != f->root.name);
  assert_true(c.api != f->root.api);
  assert_true(c.routers.vals[0] != f->root.routers.vals[0]);
  assert_true(c.options != f->root.options);
  t_router *rc = c.routers.vals[0];
  t_domain *dc = rc->tls->domains.items;
  free(dc->sans.v[1]);
  dc->sans.v[1] = strdup("changed");
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);
}

static void test_equal_detects_each_kind(void **state) {
  fx *f = *state;
  fill_root(f);
  t_root c;

  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  c.api->insecure = false;
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);

  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  wh_schema_destroy(&api_schema, c.api);
  c.api = NULL;
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);

  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  free(c.options->children[0]->value);
  c.options->children[0]->value = strdup("w");
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);

  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  t_router *extra = wh_schema_new(&router_schema);
  assert_int_equal(wh_map_put(&c.routers, "zz", extra, NULL), 0);
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);

  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  free(c.headers.vals[0]);
  c.headers.vals[0] = strdup("2");
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);

  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  c.statusCodes.v[0] = 501;
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);

  assert_int_equal(wh_schema_copy(&root_schema, &c, &f->root), 0);
  c.timeout++;
  assert_false(wh_schema_equal(&root_schema, &c, &f->root));
  wh_schema_free(&root_schema, &c);
}

static void test_equal_fresh_objects(void **state) {
  (void)state;
  t_root a, b;
  assert_int_equal(wh_schema_init(&root_schema, &a), 0);
  assert_int_equal(wh_schema_init(&root_schema, &b), 0);
  assert_true(wh_schema_equal(&root_schema, &a, &b));
  wh_schema_free(&root_schema, &a);
  assert_false(wh_schema_equal(&root_schema, &a, &b)); /* freed: defaults gone */
  wh_schema_free(&root_schema, &b);
  assert_true(wh_schema_equal(&root_schema, &a, &b));
}

/* ---------------------------------------------------------------------------
 * Containers */

static void test_map_put_sorted_and_replace(void **state) {
  (void)state;
  wh_map m = {0};
  int v1 = 1, v2 = 2, v3 = 3, v4 = 4;
  void *old = &v1;
  assert_int_equal(wh_map_put(&m, "m", &v1, &old), 0);
  assert_null(old);
  assert_int_equal(wh_map_put(&m, "a", &v2, NULL), 0);
  assert_int_equal(wh_map_put(&m, "z", &v3, NULL), 0);
  assert_int_equal(m.n, 3);
  assert_string_equal(m.keys[0], "a");
  assert_string_equal(m.keys[1], "m");
  assert_string_equal(m.keys[2], "z");
  assert_int_equal(wh_map_put(&m, "m", &v4, &old), 0);
  assert_ptr_equal(old, &v1);
  assert_int_equal(m.n, 3);
  assert_ptr_equal(wh_map_get(&m, "m"), &v4);
  assert_ptr_equal(wh_map_get(&m, "a"), &v2);
  assert_null(wh_map_get(&m, "b"));
  assert_null(wh_map_get(NULL, "a"));
  assert_int_equal(wh_map_put(NULL, "a", &v1, NULL), WH_EINVAL);
  for (size_t i = 0; i < m.n; i++)
    free(m.keys[i]);
  free(m.keys);
  free(m.vals);
}

static void test_strlist_helpers(void **state) {
  (void)state;
  wh_strlist l = {0};
  assert_false(wh_strlist_contains(&l, "a"));
  assert_int_equal(wh_strlist_push(&l, "a"), 0);
  assert_int_equal(wh_strlist_push(&l, "B"), 0);
  assert_true(wh_strlist_contains(&l, "B"));
  assert_false(wh_strlist_contains(&l, "b")); /* exact match */
  assert_false(wh_strlist_contains(NULL, "a"));
  wh_strlist_free(&l);
  assert_int_equal(l.n, 0);
  assert_null(l.v);
  wh_strlist_free(NULL);
}

static void test_decode_overlay_keeps_other_fields(void **state) {
  fx *f = *state;
  set(f, "name", "first");
  set(f, "count", "1");
  assert_int_equal(decode(f), 0);
  wh_node_free(f->tree);
  f->tree = wh_node_new(WH_NODE_MAP, NULL, NULL);
  set(f, "count", "2");
  assert_int_equal(decode(f), 0);
  assert_string_equal(f->root.name, "first");
  assert_int_equal(f->root.count, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_bool_go_values),
      cmocka_unit_test(test_parse_bool_rejects),
      cmocka_unit_test(test_parse_int_valid),
      cmocka_unit_test(test_parse_int_invalid),
      cmocka_unit_test_setup_teardown(test_init_defaults, setup, teardown),
      cmocka_unit_test(test_new_destroy),
      cmocka_unit_test(test_init_bad_default_reports),
      cmocka_unit_test_setup_teardown(test_decode_string, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decode_string_null_is_absent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decode_string_from_map_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fields_case_insensitive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decode_bool_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bool_bare_flag_is_true, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bool_invalid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_int_and_overflow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_float, setup, teardown),
      cmocka_unit_test_setup_teardown(test_float_invalid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duration_go_and_seconds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duration_invalid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duration_null_keeps_default, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scalar_given_list_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strlist_from_yaml_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strlist_from_comma_scalar, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strlist_from_index_map_numeric_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strlist_from_flag_indices, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strlist_empty_scalar_clears_default, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strlist_non_index_map_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strlist_nested_item_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_intlist_comma_and_bad_item, setup, teardown),
      cmocka_unit_test_setup_teardown(test_floatlist_from_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strmap_keeps_spelling_and_case_dups_replace, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_strmap_given_scalar_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strmap_nested_value_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_embedded_struct_overlay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_embedded_struct_given_scalar, setup, teardown),
      cmocka_unit_test_setup_teardown(test_struct_ptr_created_when_touched, setup, teardown),
      cmocka_unit_test_setup_teardown(test_struct_ptr_empty_creates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_struct_ptr_scalar_without_allow_empty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_allow_empty_true_any_case, setup, teardown),
      cmocka_unit_test_setup_teardown(test_allow_empty_false_leaves_absent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_allow_empty_false_removes_existing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_allow_empty_map_with_value, setup, teardown),
      cmocka_unit_test_setup_teardown(test_allow_empty_empty_map, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_from_yaml, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_from_index_map, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_error_path_uses_user_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_null_item_gets_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_scalar_item_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_nested_list_item_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_replaces_previous, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_given_plain_map_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nested_list_in_ptr_in_map, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_names_keep_spelling_sorted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_at_sign_rejected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_case_colliding_keys_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_overlay_merges_case_insensitively, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_null_entry_gets_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_scalar_entry_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_many_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_key_suggestion_with_line_and_source, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unknown_key_line_without_source, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_key_without_suggestion, setup, teardown),
      cmocka_unit_test_setup_teardown(test_path_prefix_given_by_caller, setup, teardown),
      cmocka_unit_test_setup_teardown(test_all_errors_reported_and_rest_decoded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_root_not_a_map, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decode_without_errlist, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_offset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_offset_not_set_for_wrong_shape, setup, teardown),
      cmocka_unit_test_setup_teardown(test_decode_null_tree_is_noop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deprecated_field_still_decodes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_validate_called_with_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_validate_skipped_after_decode_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_raw_clone_owned, setup, teardown),
      cmocka_unit_test(test_encode_omits_empty),
      cmocka_unit_test(test_encode_scalars),
      cmocka_unit_test(test_encode_secret_and_noencode),
      cmocka_unit_test(test_encode_lists_and_maps),
      cmocka_unit_test(test_encode_struct_ptr_empty_is_object),
      cmocka_unit_test(test_encode_struct_list_and_map),
      cmocka_unit_test(test_encode_raw),
      cmocka_unit_test_setup_teardown(test_encode_decoded_root, setup, teardown),
      cmocka_unit_test_setup_teardown(test_copy_deep_and_equal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_equal_detects_each_kind, setup, teardown),
      cmocka_unit_test(test_equal_fresh_objects),
      cmocka_unit_test(test_map_put_sorted_and_replace),
      cmocka_unit_test(test_strlist_helpers),
      cmocka_unit_test_setup_teardown(test_decode_overlay_keeps_other_fields, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
