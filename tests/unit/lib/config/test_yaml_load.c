#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

static wh_node *parse(const char *text, wh_errlist *errs) {
  wh_errlist_init(errs);
  return wh_yaml_parse(text, strlen(text), "t.yml", errs);
}

/* Parses input that must fail, and checks the single error message. */
static void expect_error(const char *text, const char *msg) {
  wh_errlist errs;
  wh_node *n = parse(text, &errs);
  assert_null(n);
  assert_int_equal(errs.n, 1);
  assert_string_equal(errs.items[0], msg);
  wh_errlist_free(&errs);
}

static void expect_error_prefix(const char *text, const char *prefix) {
  wh_errlist errs;
  wh_node *n = parse(text, &errs);
  assert_null(n);
  assert_int_equal(errs.n, 1);
  if (strncmp(errs.items[0], prefix, strlen(prefix)) != 0)
    fail_msg("error \"%s\" does not start with \"%s\"", errs.items[0], prefix);
  wh_errlist_free(&errs);
}

static wh_node *parse_ok(const char *text) {
  wh_errlist errs;
  wh_node *n = parse(text, &errs);
  if (!n)
    fail_msg("unexpected error: %s", errs.n ? errs.items[0] : "(none)");
  assert_int_equal(errs.n, 0);
  wh_errlist_free(&errs);
  return n;
}

static void assert_dump(const wh_node *n, const char *want) {
  char *d = wh_node_dump(n);
  assert_string_equal(d, want);
  free(d);
}

static void test_map_with_positions(void **state) {
  (void)state;
  wh_node *r = parse_ok("# comment\nentryPoints:\n  web:\n    address: \":80\"\n");
  assert_int_equal(r->kind, WH_NODE_MAP);
  wh_node *ep = wh_node_at(r, "entryPoints");
  assert_int_equal(ep->line, 2);
  assert_int_equal(ep->col, 1);
  wh_node *a = wh_node_at(r, "entrypoints.web.address");
  assert_non_null(a);
  assert_string_equal(a->value, ":80");
  assert_true(a->quoted);
  assert_int_equal(a->line, 4);
  assert_int_equal(a->col, 5);
  assert_string_equal(a->source, "t.yml");
  wh_node_free(r);
}

static void test_scalars_kept_as_written(void **state) {
  (void)state;
  wh_node *r = parse_ok("a: 010\nb: 1.50\nc: yes\nd: 'x y'\ne: \"\"\nf: ''\n");
  assert_string_equal(wh_node_at(r, "a")->value, "010");
  assert_string_equal(wh_node_at(r, "b")->value, "1.50");
  assert_string_equal(wh_node_at(r, "c")->value, "yes");
  assert_false(wh_node_at(r, "c")->quoted);
  assert_string_equal(wh_node_at(r, "d")->value, "x y");
  assert_true(wh_node_at(r, "d")->quoted);
  assert_string_equal(wh_node_at(r, "e")->value, "");
  assert_string_equal(wh_node_at(r, "f")->value, "");
  wh_node_free(r);
}

static void test_null_forms(void **state) {
  (void)state;
  wh_node *r = parse_ok("a: ~\nb: null\nc:\nd: NULL\ne: \"~\"\nf: 'null'\n");
  assert_null(wh_node_at(r, "a")->value);
  assert_null(wh_node_at(r, "b")->value);
  assert_null(wh_node_at(r, "c")->value);
  assert_null(wh_node_at(r, "d")->value);
  assert_string_equal(wh_node_at(r, "e")->value, "~"); /* quoted: a string */
  assert_string_equal(wh_node_at(r, "f")->value, "null");
  wh_node_free(r);
}

static void test_json_input(void **state) {
  (void)state;
  wh_node *r = parse_ok("{\"http\": {\"routers\": {\"r\": {\"entryPoints\": [\"web\", \"w2\"], "
                        "\"priority\": 10, \"x\": null}}}}");
  wh_node *eps = wh_node_at(r, "http.routers.r.entryPoints");
  assert_int_equal(eps->kind, WH_NODE_LIST);
  assert_int_equal(eps->n, 2);
  assert_string_equal(eps->children[1]->value, "w2");
  assert_null(eps->children[1]->key);
  assert_string_equal(wh_node_at(r, "http.routers.r.priority")->value, "10");
  assert_null(wh_node_at(r, "http.routers.r.x")->value);
  wh_node_free(r);
}

static void test_block_scalars_and_tags(void **state) {
  (void)state;
  wh_node *r = parse_ok("a: |\n  line1\n  line2\nb: !!str 123\nc: !custom x\n");
  assert_string_equal(wh_node_at(r, "a")->value, "line1\nline2\n");
  assert_false(wh_node_at(r, "a")->quoted);
  assert_string_equal(wh_node_at(r, "b")->value, "123");
  assert_string_equal(wh_node_at(r, "c")->value, "x");
  wh_node_free(r);
}

static void test_anchor_and_alias(void **state) {
  (void)state;
  wh_node *r = parse_ok("base: &b\n  x: 1\n  l: [a, b]\nuse: *b\nname: &n v\nother: *n\n");
  assert_dump(wh_node_at(r, "use"), "x: 1\nl:\n  - a\n  - b\n");
  assert_string_equal(wh_node_at(r, "other")->value, "v");
  /* a copy, not shared: changing one leaves the other */
  assert_int_equal(wh_node_set_dotted(r, "use.x", "2", NULL, 0), WH_OK);
  assert_string_equal(wh_node_at(r, "base.x")->value, "1");
  /* the alias copy is located where it is used, its insides where defined */
  assert_int_equal(wh_node_at(r, "use")->line, 4);
  assert_int_equal(wh_node_at(r, "use.l")->line, 3);
  wh_node_free(r);
}

static void test_alias_as_key(void **state) {
  (void)state;
  wh_node *r = parse_ok("k: &k name\nm:\n  *k : 1\n");
  assert_string_equal(wh_node_at(r, "m.name")->value, "1");
  wh_node_free(r);
}

static void test_merge_key(void **state) {
  (void)state;
  wh_node *r = parse_ok("defaults: &d\n  a: 1\n  b: 2\nsvc:\n  <<: *d\n  b: 3\n  c: 4\n");
  assert_dump(wh_node_at(r, "svc"), "a: 1\nb: 3\nc: 4\n");
  wh_node_free(r);
}

static void test_merge_list_precedence(void **state) {
  (void)state;
  wh_node *r = parse_ok("x:\n  r: 9\n  <<: [{p: 1, q: 1}, {q: 2, r: 2, s: 2}]\n");
  /* explicit keys win, then earlier maps of the list */
  assert_dump(wh_node_at(r, "x"), "r: 9\np: 1\nq: 1\ns: 2\n");
  wh_node_free(r);
}

static void test_quoted_merge_is_a_plain_key(void **state) {
  (void)state;
  wh_node *r = parse_ok("x:\n  \"<<\": 1\n");
  assert_string_equal(wh_node_get(wh_node_at(r, "x"), "<<", false)->value, "1");
  wh_node_free(r);
}

static void test_bad_merge_value(void **state) {
  (void)state;
  expect_error("x:\n  <<: 5\n", "t.yml:2:3: a merge (<<) value must be a mapping or a list of "
                                "mappings");
  expect_error("x:\n  <<: [{a: 1}, 2]\n", "t.yml:2:16: a merge (<<) list must contain only "
                                          "mappings");
}

static void test_empty_documents(void **state) {
  (void)state;
  const char *inputs[] = {"", "# only a comment\n", "---\n", "~\n", "{}"};
  for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
    wh_node *r = parse_ok(inputs[i]);
    assert_int_equal(r->kind, WH_NODE_MAP);
    assert_int_equal(r->n, 0);
    wh_node_free(r);
  }
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_node *r = wh_yaml_parse(NULL, 0, "t", &errs);
  assert_non_null(r);
  assert_int_equal(r->n, 0);
  wh_node_free(r);
  wh_errlist_free(&errs);
}

static void test_syntax_error_position(void **state) {
  (void)state;
  expect_error("a: 1\nb: [1, 2\nc: 3\n", "t.yml:3:2: did not find expected ',' or ']'");
  expect_error("a: b: c\n", "t.yml:1:5: mapping values are not allowed in this context");
  expect_error_prefix("a:\n  - x\n y: 1\n", "t.yml:3:");
}

static void test_duplicate_key(void **state) {
  (void)state;
  expect_error("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n", "t.yml:5:3: duplicate key \"x\"");
  expect_error("{\"a\": 1, \"a\": 2}", "t.yml:1:10: duplicate key \"a\"");
  /* different case is a different YAML key; the schema decides what it means */
  wh_node *r = parse_ok("a: 1\nA: 2\n");
  assert_int_equal(r->n, 2);
  wh_node_free(r);
}

static void test_non_scalar_key(void **state) {
  (void)state;
  expect_error("? [a]\n: 1\n", "t.yml:1:3: map keys must be scalars");
  expect_error("? {a: 1}\n: 1\n", "t.yml:1:3: map keys must be scalars");
  expect_error("l: &l [1]\nm:\n  *l : 2\n", "t.yml:3:3: map keys must be scalars");
}

static void test_root_not_a_map(void **state) {
  (void)state;
  expect_error("hello\n", "t.yml:1:1: expected a mapping at the top level");
  expect_error("- a\n- b\n", "t.yml:1:1: expected a mapping at the top level");
}

static void test_multiple_documents(void **state) {
  (void)state;
  expect_error("a: 1\n---\nb: 2\n", "t.yml:2:1: more than one YAML document (only one is "
                                    "supported)");
}

static void test_unknown_alias(void **state) {
  (void)state;
  expect_error("a: *nope\n", "t.yml:1:4: unknown anchor \"nope\"");
  /* an alias cannot refer to the node that contains it */
  expect_error("a: &x [1, *x]\n", "t.yml:1:11: unknown anchor \"x\"");
}

static void test_alias_bomb_capped(void **state) {
  (void)state;
  wh_strbuf b = {0};
  wh_strbuf_puts(&b, "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
  for (int i = 1; i < 9; i++) {
    wh_strbuf_printf(&b, "l%d: &l%d [", i, i);
    for (int j = 0; j < 10; j++)
      wh_strbuf_printf(&b, "%s*l%d", j ? ", " : "", i - 1);
    wh_strbuf_puts(&b, "]\n");
  }
  expect_error_prefix(b.data, "t.yml:4:");
  wh_errlist errs;
  assert_null(parse(b.data, &errs));
  assert_non_null(strstr(errs.items[0], "aliases expand to too many nodes (max 10000)"));
  wh_errlist_free(&errs);
  wh_strbuf_free(&b);
}

static void test_depth_cap(void **state) {
  (void)state;
  wh_strbuf b = {0};
  wh_strbuf_puts(&b, "a: ");
  for (int i = 0; i < 150; i++)
    wh_strbuf_putc(&b, '[');
  for (int i = 0; i < 150; i++)
    wh_strbuf_putc(&b, ']');
  wh_node *r = parse_ok(b.data); /* deep but within the cap */
  wh_node_free(r);
  wh_strbuf_free(&b);
  wh_strbuf_puts(&b, "a: ");
  for (int i = 0; i < 5000; i++)
    wh_strbuf_putc(&b, '[');
  expect_error(b.data, "t.yml:1:203: nesting too deep (max 200)");
  wh_strbuf_free(&b);
  /* aliases cannot be used to go past the cap either */
  wh_strbuf_puts(&b, "a: &x ");
  for (int i = 0; i < 150; i++)
    wh_strbuf_putc(&b, '[');
  for (int i = 0; i < 150; i++)
    wh_strbuf_putc(&b, ']');
  wh_strbuf_puts(&b, "\nb: ");
  for (int i = 0; i < 100; i++)
    wh_strbuf_putc(&b, '[');
  wh_strbuf_puts(&b, "*x");
  for (int i = 0; i < 100; i++)
    wh_strbuf_putc(&b, ']');
  expect_error(b.data, "t.yml:2:104: nesting too deep (max 200)");
  wh_strbuf_free(&b);
}

static void test_input_size_cap(void **state) {
  (void)state;
  size_t len = 16u * 1024 * 1024 + 1;
  char *big = malloc(len);
  assert_non_null(big);
  memset(big, ' ', len);
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_yaml_parse(big, len, "big.yml", &errs));
  assert_int_equal(errs.n, 1);
  assert_string_equal(errs.items[0], "big.yml: input too large (16777217 bytes, max 16777216)");
  wh_errlist_free(&errs);
  free(big);
}

static void test_invalid_utf8(void **state) {
  (void)state;
  expect_error_prefix("a: 1\nb: \xff\xfe\n", "t.yml:2:4: ");
}

static void test_parse_file(void **state) {
  (void)state;
  char path[] = "/tmp/wh_test_yaml_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *text = "a:\n  b: c\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_node *r = wh_yaml_parse_file(path, &errs);
  assert_non_null(r);
  assert_string_equal(wh_node_at(r, "a.b")->value, "c");
  /* the tree does not depend on the caller's path buffer */
  char copy[sizeof(path)];
  memcpy(copy, path, sizeof(path));
  memset(path + 5, 'Z', strlen(path) - 5);
  assert_string_equal(wh_node_at(r, "a.b")->source, copy);
  memcpy(path, copy, sizeof(path));
  wh_node_free(r);
  unlink(path);
  assert_int_equal(errs.n, 0);
  assert_null(wh_yaml_parse_file(path, &errs));
  assert_int_equal(errs.n, 1);
  assert_non_null(strstr(errs.items[0], "No such file or directory"));
  assert_null(wh_yaml_parse_file("/tmp", &errs));
  assert_int_equal(errs.n, 2);
  assert_string_equal(errs.items[1], "/tmp: is a directory");
  wh_errlist_free(&errs);
}

static void test_keys_keep_spelling_and_order(void **state) {
  (void)state;
  wh_node *r = parse_ok("Zeta: 1\nalpha: 2\nMiddle: 3\n");
  assert_string_equal(r->children[0]->key, "Zeta");
  assert_string_equal(r->children[1]->key, "alpha");
  assert_string_equal(r->children[2]->key, "Middle");
  wh_node_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_with_positions),
      cmocka_unit_test(test_scalars_kept_as_written),
      cmocka_unit_test(test_null_forms),
      cmocka_unit_test(test_json_input),
      cmocka_unit_test(test_block_scalars_and_tags),
      cmocka_unit_test(test_anchor_and_alias),
      cmocka_unit_test(test_alias_as_key),
      cmocka_unit_test(test_merge_key),
      cmocka_unit_test(test_merge_list_precedence),
      cmocka_unit_test(test_quoted_merge_is_a_plain_key),
      cmocka_unit_test(test_bad_merge_value),
      cmocka_unit_test(test_empty_documents),
      cmocka_unit_test(test_syntax_error_position),
      cmocka_unit_test(test_duplicate_key),
      cmocka_unit_test(test_non_scalar_key),
      cmocka_unit_test(test_root_not_a_map),
      cmocka_unit_test(test_multiple_documents),
      cmocka_unit_test(test_unknown_alias),
      cmocka_unit_test(test_alias_bomb_capped),
      cmocka_unit_test(test_depth_cap),
      cmocka_unit_test(test_input_size_cap),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_parse_file),
      cmocka_unit_test(test_keys_keep_spelling_and_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
