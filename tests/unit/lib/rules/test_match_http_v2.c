/* HTTP matchers in v2 syntax: variadic OR'ed arguments, gorilla/mux templates, v2-only names. */
#include "tests/unit/lib/rules/rules_test_util.h"

typedef struct mcase {
  const char *rule;
  hreq req;
  bool want;
} mcase;

static const mcase cases[] = {
    {"Host(`a.com`, `b.com`)", {.host = "b.com"}, true},
    {"Host(`a.com`, `b.com`)", {.host = "A.COM:80"}, true},
    {"Host(`a.com`, `b.com`)", {.host = "c.com"}, false},
    {"Host(`a.com`)", {.host = "a.com."}, true},
    {"Host(`a.com`)", {.host = NULL}, false},
    {"HostHeader(`a.com`)", {.host = "A.com"}, true},
    {"HostHeader(`a.com`, `b.com`)", {.host = "c.com"}, false},
    {"Host(`*`)", {.host = "x"}, false}, /* literal in v2 */
    {"Host(`*.a.com`)", {.host = "b.a.com"}, false},
    {"HostRegexp(`{sub:[a-z]+}.example.com`)", {.host = "api.example.com"}, true},
    {"HostRegexp(`{sub:[a-z]+}.example.com`)", {.host = "API.example.com:8443"}, true},
    {"HostRegexp(`{sub:[a-z]+}.Example.com`)", {.host = "api.example.com"}, true},
    {"HostRegexp(`{sub:[a-z]+}.example.com`)", {.host = "a.b.example.com"}, false},
    {"HostRegexp(`{sub:[a-z]+}.example.com`)", {.host = "api.example.com.evil"}, false},
    {"HostRegexp(`{sub:[a-z]+}.example.com`)", {.host = "x.api.example.com"}, false},
    {"HostRegexp(`{sub}.example.com`)", {.host = "x-1.example.com"}, true},
    {"HostRegexp(`{sub}.example.com`)", {.host = "example.com"}, false},
    {"HostRegexp(`{sub}.example.com`)", {.host = "a.b.example.com"}, false},
    {"HostRegexp(`example.com`)", {.host = "exampleXcom"}, false},
    {"HostRegexp(`example.com`)", {.host = "example.com"}, true},
    {"HostRegexp(`a.com`, `{x:[0-9]+}.b.com`)", {.host = "42.b.com"}, true},
    {"HostRegexp(`a.com`, `{x:[0-9]+}.b.com`)", {.host = "4a.b.com"}, false},
    {"HostRegexp(`{x:[0-9]{2}}.c.com`)", {.host = "42.c.com"}, true},
    {"HostRegexp(`{x:[0-9]{2}}.c.com`)", {.host = "423.c.com"}, false},
    {"Path(`/foo`)", {.path = "/foo"}, true},
    {"Path(`/foo`)", {.path = "/foo/bar"}, false},
    {"Path(`/a.b`)", {.path = "/aXb"}, false},
    {"Path(`/user/{id:[0-9]+}`)", {.path = "/user/42"}, true},
    {"Path(`/user/{id:[0-9]+}`)", {.path = "/user/42/x"}, false},
    {"Path(`/user/{id:[0-9]+}`)", {.path = "/user/ab"}, false},
    {"Path(`/user/{id:[0-9]+}`)", {.path = "/x/user/42"}, false},
    {"Path(`/{name}`)", {.path = "/abc"}, true},
    {"Path(`/{name}`)", {.path = "/a/b"}, false},
    {"Path(`/a`, `/b`)", {.path = "/b"}, true},
    {"Path(`/a`, `/b`)", {.path = "/c"}, false},
    {"PathPrefix(`/api/{v:v[0-9]}/`)", {.path = "/api/v1/users"}, true},
    {"PathPrefix(`/api/{v:v[0-9]}/`)", {.path = "/api/x/"}, false},
    {"PathPrefix(`/api/{v:v[0-9]}/`)", {.path = "/x/api/v1/"}, false},
    {"PathPrefix(`/a`, `/b`)", {.path = "/bcd"}, true},
    {"PathPrefix(`/a`, `/b`)", {.path = "/cd"}, false},
    {"PathPrefix(`/a.b`)", {.path = "/a.b/c"}, true},
    {"Method(`GET`, `post`)", {.method = "POST"}, true},
    {"Method(`GET`, `post`)", {.method = "PUT"}, false},
    {"Headers(`X-A`, `1`)", {.headers = "x-a: 1"}, true},
    {"Headers(`X-A`, `1`)", {.headers = "x-a: 2"}, false},
    {"Headers(`X-A`, ``)", {.headers = "X-A: whatever"}, true},
    {"Headers(`X-A`, ``)", {.headers = "X-B: whatever"}, false},
    {"HeadersRegexp(`X-A`, `^[0-9]+$`)", {.headers = "X-A: 12"}, true},
    {"HeadersRegexp(`X-A`, `^[0-9]+$`)", {.headers = "X-A: a"}, false},
    {"Query(`a=1`)", {.query = "a=1"}, true},
    {"Query(`a=1`)", {.query = "a=2"}, false},
    {"Query(`a`)", {.query = "a=anything"}, true},
    {"Query(`a=`)", {.query = "a=anything"}, true},
    {"Query(`a`)", {.query = "b=1"}, false},
    {"Query(`a=1`, `b=2`)", {.query = "b=2&a=1"}, true},
    {"Query(`a=1`, `b=2`)", {.query = "a=1"}, false},
    {"Query(`id={id:[0-9]+}`)", {.query = "id=12"}, true},
    {"Query(`id={id:[0-9]+}`)", {.query = "id=x"}, false},
    {"Query(`q=a b`)", {.query = "q=a+b"}, true},
    {"ClientIP(`10.0.0.1`, `192.168.0.0/16`)", {.client = "192.168.5.5"}, true},
    {"ClientIP(`10.0.0.1`, `192.168.0.0/16`)", {.client = "10.0.0.1"}, true},
    {"ClientIP(`10.0.0.1`, `192.168.0.0/16`)", {.client = "10.0.0.2"}, false},
    {"ClientIP(`10.0.0.1`, `::1`)", {.client = "::ffff:10.0.0.1"}, true},
    {"Host(`a.com`, `b.com`) && Path(`/x`)", {.host = "b.com", .path = "/x"}, true},
    {"Host(`a.com`, `b.com`) && Path(`/x`)", {.host = "b.com", .path = "/y"}, false},
    {"Host(`a.com`) && !Method(`GET`, `HEAD`)", {.host = "a.com", .method = "HEAD"}, false},
};

static void test_http_v2(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool got = match_http(cases[i].rule, WH_RULE_V2, cases[i].req);
    if (got != cases[i].want)
      fail_msg("case %zu: %s -> %d, want %d", i, cases[i].rule, got, cases[i].want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_http_v2)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
