#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config/tree.h"
#include "lib/core/err.h"

static wh_node *new_map(void) {
  wh_node *m = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(m);
  return m;
}

static void assert_scalar_at(const wh_node *root, const char *path, const char *value) {
  wh_node *n = wh_node_at(root, path);
  assert_non_null(n);
  assert_int_equal(n->kind, WH_NODE_SCALAR);
  if (value)
    assert_string_equal(n->value, value);
  else
    assert_null(n->value);
}

static void test_new_copies_key_and_value(void **state) {
  (void)state;
  char key[] = "k", val[] = "v";
  wh_node *n = wh_node_new(WH_NODE_SCALAR, key, val);
  assert_non_null(n);
  key[0] = 'x';
  val[0] = 'y';
  assert_string_equal(n->key, "k");
  assert_string_equal(n->value, "v");
  assert_int_equal(n->n, 0);
  wh_node_free(n);
  wh_node_free(NULL);
}

static void test_get_case_sensitivity(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_append(m, wh_node_new(WH_NODE_SCALAR, "entryPoints", "x")), WH_OK);
  assert_non_null(wh_node_get(m, "entryPoints", false));
  assert_null(wh_node_get(m, "entrypoints", false));
  assert_non_null(wh_node_get(m, "ENTRYPOINTS", true));
  assert_null(wh_node_get(m, "entryPoint", true));
  assert_null(wh_node_get(m, NULL, true));
  wh_node_free(m);
}

static void test_get_on_non_map_is_null(void **state) {
  (void)state;
  wh_node *l = wh_node_new(WH_NODE_LIST, NULL, NULL);
  wh_node *s = wh_node_new(WH_NODE_SCALAR, "a", "1");
  assert_int_equal(wh_node_append(l, s), WH_OK);
  assert_null(wh_node_get(l, "a", true));
  assert_null(wh_node_get(s, "a", true));
  wh_node_free(l);
}

static void test_append_to_scalar_rejected(void **state) {
  (void)state;
  wh_node *s = wh_node_new(WH_NODE_SCALAR, NULL, "1");
  wh_node *c = wh_node_new(WH_NODE_SCALAR, NULL, "2");
  assert_int_equal(wh_node_append(s, c), WH_EINVAL);
  assert_int_equal(s->n, 0);
  wh_node_free(c); /* still ours after a failed append */
  wh_node_free(s);
}

static void test_at_follows_dotted_path(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_set_dotted(m, "entryPoints.web.address", ":80", NULL, 0), WH_OK);
  assert_scalar_at(m, "entrypoints.WEB.Address", ":80");
  assert_non_null(wh_node_at(m, "entryPoints.web"));
  assert_null(wh_node_at(m, "entryPoints.websecure"));
  assert_null(wh_node_at(m, "entryPoints.web.address.port")); /* through a scalar */
  assert_null(wh_node_at(m, "entryPoints.web."));
  assert_null(wh_node_at(m, NULL));
  wh_node_free(m);
}

static void test_set_dotted_keeps_first_spelling_last_value_wins(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_set_dotted(m, "api.insecure", "true", "flags", 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(m, "API.Insecure", "false", "flags", 0), WH_OK);
  assert_int_equal(m->n, 1);
  wh_node *api = m->children[0];
  assert_string_equal(api->key, "api");
  assert_int_equal(api->n, 1);
  assert_string_equal(api->children[0]->key, "insecure");
  assert_string_equal(api->children[0]->value, "false");
  assert_string_equal(api->children[0]->source, "flags");
  wh_node_free(m);
}

static void test_set_records_line_and_source(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_set_dotted(m, "a.b", "1", "labels", 7), WH_OK);
  wh_node *b = wh_node_at(m, "a.b");
  assert_int_equal(b->line, 7);
  assert_string_equal(b->source, "labels");
  assert_int_equal(wh_node_at(m, "a")->line, 7);
  wh_node_free(m);
}

static void test_set_bracket_index(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_set_dotted(m, "tls.domains[0].main", "a.com", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(m, "tls.domains[1].main", "b.com", NULL, 0), WH_OK);
  wh_node *d = wh_node_at(m, "tls.domains");
  assert_non_null(d);
  assert_int_equal(d->kind, WH_NODE_MAP);
  assert_int_equal(d->n, 2);
  assert_string_equal(d->children[0]->key, "0");
  assert_scalar_at(m, "tls.domains.1.main", "b.com");
  assert_int_equal(wh_node_set_dotted(m, "x.m[1][2]", "v", NULL, 0), WH_OK);
  assert_scalar_at(m, "x.m.1.2", "v");
  wh_node_free(m);
}

static void test_set_bad_segments_rejected_without_change(void **state) {
  (void)state;
  const char *bad[] = {"a[", "a[x]", "[0]", "a[0]b", "a]b", "a[]", "a..b", ".a", "a.", "", "a[-1]"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    wh_node *m = new_map();
    assert_int_equal(wh_node_set_dotted(m, bad[i], "1", NULL, 0), WH_EINVAL);
    assert_int_equal(m->n, 0);
    wh_node_free(m);
  }
}

static void test_set_path_segments(void **state) {
  (void)state;
  wh_node *m = new_map();
  char *segs[] = {"http", "routers", "my.router", "rule"};
  assert_int_equal(wh_node_set_path(m, segs, 4, "Host(`a`)", NULL, 0), WH_OK);
  wh_node *routers = wh_node_at(m, "http.routers");
  wh_node *r = wh_node_get(routers, "my.router", false); /* dots inside a segment are kept */
  assert_non_null(r);
  assert_string_equal(wh_node_get(r, "rule", false)->value, "Host(`a`)");
  assert_int_equal(wh_node_set_path(m, segs, 0, "x", NULL, 0), WH_EINVAL);
  char *nullseg[] = {"a", NULL};
  assert_int_equal(wh_node_set_path(m, nullseg, 2, "x", NULL, 0), WH_EINVAL);
  wh_node_free(m);
}

static void test_bare_then_subkey_becomes_map(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_set_dotted(m, "providers.docker", NULL, NULL, 0), WH_OK);
  assert_scalar_at(m, "providers.docker", NULL);
  assert_int_equal(wh_node_set_dotted(m, "providers.docker.exposedByDefault", "false", NULL, 0),
                   WH_OK);
  wh_node *d = wh_node_at(m, "providers.docker");
  assert_int_equal(d->kind, WH_NODE_MAP);
  assert_null(d->value);
  assert_scalar_at(m, "providers.docker.exposedbydefault", "false");
  /* a bare flag after the sub-keys keeps them */
  assert_int_equal(wh_node_set_dotted(m, "providers.docker", NULL, NULL, 0), WH_OK);
  assert_int_equal(wh_node_at(m, "providers.docker")->kind, WH_NODE_MAP);
  wh_node_free(m);
}

static void test_true_and_subkeys_in_either_order(void **state) {
  (void)state;
  wh_node *a = new_map(), *b = new_map();
  assert_int_equal(wh_node_set_dotted(a, "providers.docker", "true", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(a, "providers.docker.network", "web", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(b, "providers.docker.network", "web", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(b, "providers.docker", "TRUE", NULL, 0), WH_OK);
  char *da = wh_node_dump(a), *db = wh_node_dump(b);
  assert_string_equal(da, db);
  assert_string_equal(da, "providers:\n  docker:\n    network: web\n");
  free(da);
  free(db);
  wh_node_free(a);
  wh_node_free(b);
}

static void test_false_and_subkeys_in_either_order(void **state) {
  (void)state;
  wh_node *a = new_map(), *b = new_map();
  assert_int_equal(wh_node_set_dotted(a, "api", "false", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(a, "api.dashboard", "true", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(b, "api.dashboard", "true", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(b, "api", "false", NULL, 0), WH_OK);
  assert_scalar_at(a, "api", "false");
  assert_scalar_at(b, "api", "false");
  wh_node_free(a);
  wh_node_free(b);
}

static void test_value_scalar_at_intermediate_is_error(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_set_dotted(m, "entryPoints.web.address", ":80", NULL, 0), WH_OK);
  assert_int_equal(wh_node_set_dotted(m, "entryPoints.web.address.port", "1", NULL, 0), WH_EINVAL);
  assert_scalar_at(m, "entryPoints.web.address", ":80");
  /* and the other way round: a map given a plain value */
  assert_int_equal(wh_node_set_dotted(m, "entryPoints.web", ":81", NULL, 0), WH_EINVAL);
  assert_int_equal(wh_node_at(m, "entryPoints.web")->kind, WH_NODE_MAP);
  wh_node_free(m);
}

static void test_set_on_non_map_root(void **state) {
  (void)state;
  wh_node *s = wh_node_new(WH_NODE_SCALAR, NULL, "x");
  assert_int_equal(wh_node_set_dotted(s, "a", "1", NULL, 0), WH_EINVAL);
  assert_int_equal(wh_node_set_dotted(NULL, "a", "1", NULL, 0), WH_EINVAL);
  wh_node_free(s);
}

static void test_clone_is_deep(void **state) {
  (void)state;
  wh_node *m = new_map();
  assert_int_equal(wh_node_set_dotted(m, "a.b", "1", "f", 3), WH_OK);
  wh_node *c = wh_node_clone(m);
  assert_non_null(c);
  assert_int_equal(wh_node_set_dotted(m, "a.b", "2", NULL, 0), WH_OK);
  assert_scalar_at(c, "a.b", "1");
  assert_int_equal(wh_node_at(c, "a.b")->line, 3);
  assert_string_equal(wh_node_at(c, "a.b")->source, "f");
  wh_node_free(m);
  wh_node_free(c);
  assert_null(wh_node_clone(NULL));
}

static void test_merge_maps_icase_and_replace(void **state) {
  (void)state;
  wh_node *dst = new_map(), *src = new_map();
  wh_node_set_dotted(dst, "http.routers.r1.rule", "Host(`a`)", NULL, 0);
  wh_node_set_dotted(dst, "http.routers.r1.service", "s1", NULL, 0);
  wh_node *eps = wh_node_new(WH_NODE_LIST, "entryPoints", NULL);
  wh_node_append(eps, wh_node_new(WH_NODE_SCALAR, NULL, "web"));
  wh_node_append(eps, wh_node_new(WH_NODE_SCALAR, NULL, "websecure"));
  wh_node_append(wh_node_at(dst, "http.routers.r1"), eps);
  wh_node_set_dotted(src, "HTTP.Routers.r1.Service", "s2", NULL, 0);
  wh_node_set_dotted(src, "http.routers.r2.rule", "Host(`b`)", NULL, 0);
  wh_node *eps2 = wh_node_new(WH_NODE_LIST, "entrypoints", NULL);
  wh_node_append(eps2, wh_node_new(WH_NODE_SCALAR, NULL, "other"));
  wh_node_append(wh_node_at(src, "http.routers.r1"), eps2);
  char *before = wh_node_dump(src);
  assert_int_equal(wh_node_merge(dst, src), WH_OK);
  char *after = wh_node_dump(src);
  assert_string_equal(before, after); /* src untouched */
  free(before);
  free(after);
  assert_scalar_at(dst, "http.routers.r1.rule", "Host(`a`)");
  assert_scalar_at(dst, "http.routers.r1.service", "s2");
  assert_scalar_at(dst, "http.routers.r2.rule", "Host(`b`)");
  wh_node *l = wh_node_at(dst, "http.routers.r1.entryPoints");
  assert_int_equal(l->kind, WH_NODE_LIST);
  assert_int_equal(l->n, 1); /* lists are replaced, not concatenated */
  assert_string_equal(l->children[0]->value, "other");
  assert_int_equal(wh_node_at(dst, "http")->n, 1);
  wh_node_free(dst);
  wh_node_free(src);
}

static void test_merge_kind_change(void **state) {
  (void)state;
  wh_node *dst = wh_node_new(WH_NODE_SCALAR, "k", "x");
  wh_node *src = new_map();
  wh_node_set_dotted(src, "a", "1", NULL, 0);
  assert_int_equal(wh_node_merge(dst, src), WH_OK);
  assert_int_equal(dst->kind, WH_NODE_MAP);
  assert_null(dst->value);
  assert_string_equal(dst->key, "k");
  assert_scalar_at(dst, "a", "1");
  assert_int_equal(wh_node_merge(dst, NULL), WH_EINVAL);
  wh_node_free(dst);
  wh_node_free(src);
}

static void test_dump_format(void **state) {
  (void)state;
  wh_node *m = new_map();
  wh_node_set_dotted(m, "a.b", "1", NULL, 0);
  wh_node_set_dotted(m, "a.c", NULL, NULL, 0);
  wh_node *q = wh_node_new(WH_NODE_SCALAR, "q", "say \"hi\"");
  q->quoted = true;
  wh_node_append(m, q);
  wh_node *l = wh_node_new(WH_NODE_LIST, "l", NULL);
  wh_node_append(l, wh_node_new(WH_NODE_SCALAR, NULL, "x"));
  wh_node_append(m, l);
  wh_node_append(m, wh_node_new(WH_NODE_MAP, "e", NULL));
  char *d = wh_node_dump(m);
  assert_string_equal(d, "a:\n  b: 1\n  c: ~\nq: \"say \\\"hi\\\"\"\nl:\n  - x\ne: {}\n");
  free(d);
  wh_node_free(m);
  d = wh_node_dump(NULL);
  assert_string_equal(d, "");
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_copies_key_and_value),
      cmocka_unit_test(test_get_case_sensitivity),
      cmocka_unit_test(test_get_on_non_map_is_null),
      cmocka_unit_test(test_append_to_scalar_rejected),
      cmocka_unit_test(test_at_follows_dotted_path),
      cmocka_unit_test(test_set_dotted_keeps_first_spelling_last_value_wins),
      cmocka_unit_test(test_set_records_line_and_source),
      cmocka_unit_test(test_set_bracket_index),
      cmocka_unit_test(test_set_bad_segments_rejected_without_change),
      cmocka_unit_test(test_set_path_segments),
      cmocka_unit_test(test_bare_then_subkey_becomes_map),
      cmocka_unit_test(test_true_and_subkeys_in_either_order),
      cmocka_unit_test(test_false_and_subkeys_in_either_order),
      cmocka_unit_test(test_value_scalar_at_intermediate_is_error),
      cmocka_unit_test(test_set_on_non_map_root),
      cmocka_unit_test(test_clone_is_deep),
      cmocka_unit_test(test_merge_maps_icase_and_replace),
      cmocka_unit_test(test_merge_kind_change),
      cmocka_unit_test(test_dump_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
