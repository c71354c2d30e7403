/* Service names, normalize and defaultRule templates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "providers/docker/naming.h"
#include "tests/unit/providers/docker/docker_test_util.h"

static void test_normalize(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"/my_app.1", "my-app-1"},
      {"web_shop", "web-shop"},
      {"--a--b--", "a-b"},
      {"", ""},
      {"___", ""},
      {"Ünïcødé_x", "Ünïcødé-x"},
      {"a\xc2\xb7"
       "b",
       "a-b"}, /* U+00B7 middle dot */
      {"a\xe2\x80\x94"
       "b",
       "a-b"}, /* U+2014 em dash */
      {"a\xff"
       "b",
       "a-b"}, /* invalid UTF-8 */
      {"a`) || Host(`b", "a-Host-b"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *n = wh_docker_normalize(cases[i][0]);
    assert_string_equal(n, cases[i][1]);
    free(n);
  }
}

static void test_service_name_plain_and_compose(void **state) {
  (void)state;
  wh_docker_container *c = dt_container("a1", "my_app.1", NULL, NULL);
  char *n = wh_docker_service_name(c);
  assert_string_equal(n, "my-app-1");
  free(n);
  wh_docker_container_free(c);
  const char *kv[] = {"com.docker.compose.service", "web", "com.docker.compose.project", "shop",
                      NULL};
  c = dt_container("a2", "shop_web_1", NULL, kv);
  n = wh_docker_service_name(c);
  assert_string_equal(n, "web-shop");
  free(n);
  wh_docker_container_free(c);
  /* Only one compose label: the container name. */
  const char *kv2[] = {"com.docker.compose.service", "web", NULL};
  c = dt_container("a3", "solo", NULL, kv2);
  n = wh_docker_service_name(c);
  assert_string_equal(n, "solo");
  free(n);
  wh_docker_container_free(c);
}

typedef struct trow {
  const char *tmpl;
  const char *want; /* NULL: error expected */
  const char *err;  /* substring of the error */
} trow;

static const trow trows[] = {
    {"Host(`{{ normalize .Name }}`)", "Host(`web-shop`)", NULL},
    {"Host(`{{ .Name }}.example.com`)", "Host(`web-shop.example.com`)", NULL},
    {"Host(`{{ .ContainerName }}`)", "Host(`shop_web.1`)", NULL},
    {"Host(`{{ normalize .ContainerName }}`)", "Host(`shop-web-1`)", NULL},
    {"Host(`{{ index .Labels \"host\" }}`)", "Host(`app.example`)", NULL},
    {"Host(`{{ index .Labels `host` }}`)", "Host(`app.example`)", NULL},
    {"Host(`{{ index .Labels \"missing\" }}`)", "Host(``)", NULL},
    {"Host(`{{ .ContainerName | normalize | upper }}`)", "Host(`SHOP-WEB-1`)", NULL},
    {"Host(`{{ normalize (index .Labels \"host\") }}`)", "Host(`app-example`)", NULL},
    {"{{ \"Path(`/x`)\" }}", "Path(`/x`)", NULL},
    {"Host(`a`) {{- /* note */ -}} ", "Host(`a`)", NULL},
    {"Host(`{{.Name}}`)", "Host(`web-shop`)", NULL},
    {"Host(`{{ .Foo }}`)", NULL, "unsupported field"},
    {"Host(`{{ printf \"%s\" .Name }}`)", NULL, "unsupported function"},
    {"{{ if .Name }}x{{ end }}", NULL, "unsupported function"},
    {"Host(`{{ .Name `)", NULL, "unclosed"},
    {"Host(`{{ .Labels }}`)", NULL, ".Labels is a map"},
    {"Host(`{{ }}`)", NULL, "empty action"},
    {"Host(`{{ index .Labels \"evil\" }}`)", NULL, "refused"},
    {"Host(`{{ index .Labels \"quote\" }}`)", NULL, "refused"},
};

static void run_trow(void **state) {
  const trow *r = *state;
  const char *kv[] = {"com.docker.compose.service",
                      "web",
                      "com.docker.compose.project",
                      "shop",
                      "host",
                      "app.example",
                      "evil",
                      "a`) || Host(`b",
                      "quote",
                      "a\"b",
                      NULL};
  wh_docker_container *c = dt_container("a1", "shop_web.1", NULL, kv);
  wh_errlist e;
  wh_errlist_init(&e);
  char *out = wh_docker_render_rule(r->tmpl, "web-shop", c, &e);
  if (r->want) {
    if (!out)
      dt_dump_list("error", &e);
    assert_non_null(out);
    assert_string_equal(out, r->want);
    assert_int_equal(e.n, 0);
  } else {
    assert_null(out);
    if (!dt_list_has(&e, r->err))
      dt_dump_list("error", &e);
    assert_true(dt_list_has(&e, r->err));
  }
  free(out);
  wh_errlist_free(&e);
  wh_docker_container_free(c);
}

int main(void) {
  enum { N = sizeof trows / sizeof trows[0] };
  struct CMUnitTest tests[N + 2];
  for (size_t i = 0; i < N; i++)
    tests[i] = (struct CMUnitTest){trows[i].tmpl, run_trow, NULL, NULL, (void *)&trows[i]};
  tests[N] = (struct CMUnitTest)cmocka_unit_test(test_normalize);
  tests[N + 1] = (struct CMUnitTest)cmocka_unit_test(test_service_name_plain_and_compose);
  return _cmocka_run_group_tests("docker_naming", tests, N + 2, NULL, NULL);
}
