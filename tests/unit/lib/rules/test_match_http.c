/* HTTP matchers in v3 syntax: each one matching and not matching. */
#include "tests/unit/lib/rules/rules_test_util.h"

typedef struct mcase {
  const char *rule;
  hreq req;
  bool want;
} mcase;

static const mcase cases[] = {
    /* Host: case folding, ports, trailing dots, IPv6 literals */
    {"Host(`example.com`)", {.host = "example.com"}, true},
    {"Host(`example.com`)", {.host = "EXAMPLE.com"}, true},
    {"Host(`Example.COM`)", {.host = "example.com"}, true},
    {"Host(`example.com`)", {.host = "example.com:8080"}, true},
    {"Host(`example.com`)", {.host = "example.com."}, true},
    {"Host(`example.com.`)", {.host = "example.com"}, true},
    {"Host(`example.com.`)", {.host = "example.com."}, true},
    {"Host(`example.com`)", {.host = "example.com.:443"}, true},
    {"Host(`example.com`)", {.host = " example.com "}, true},
    {"Host(`example.com`)", {.host = "other.com"}, false},
    {"Host(`example.com`)", {.host = "example.com.evil"}, false},
    {"Host(`example.com`)", {.host = "www.example.com"}, false},
    {"Host(`example.com`)", {.host = NULL}, false},
    {"Host(`example.com`)", {.host = ""}, false},
    {"Host(`example.com`)", {.host = ":8080"}, false},
    {"Host(`*`)", {.host = NULL}, true},
    {"Host(`*`)", {.host = "anything.example"}, true},
    {"Host(`*.example.com`)", {.host = "a.example.com"}, true},
    {"Host(`*.example.com`)", {.host = "A.Example.Com:443"}, true},
    {"Host(`*.example.com`)", {.host = "a.example.com."}, true},
    {"Host(`*.example.com`)", {.host = "a.b.example.com"}, false},
    {"Host(`*.example.com`)", {.host = "example.com"}, false},
    {"Host(`*.example.com`)", {.host = ".example.com"}, false},
    {"Host(`*.example.com`)", {.host = "aexample.com"}, false},
    {"Host(`::1`)", {.host = "[::1]:8080"}, true},
    {"Host(`::1`)", {.host = "[::1]"}, true},
    {"Host(`::1`)", {.host = "::1"}, true},
    {"Host(`2001:DB8::1`)", {.host = "[2001:db8::1]:443"}, true},
    {"Host(`::1`)", {.host = "[::2]:8080"}, false},
    {"Host(`1.2.3.4`)", {.host = "1.2.3.4:80"}, true},
    {"Host(`1.2.3.4`)", {.host = "1.2.3.5"}, false},
    /* HostRegexp: unanchored, on the canonical host */
    {"HostRegexp(`^[a-z]+\\.example\\.com$`)", {.host = "api.example.com"}, true},
    {"HostRegexp(`^[a-z]+\\.example\\.com$`)", {.host = "API.EXAMPLE.COM:443"}, true},
    {"HostRegexp(`^[a-z]+\\.example\\.com$`)", {.host = "a1.example.com"}, false},
    {"HostRegexp(`example`)", {.host = "www.example.org"}, true},
    {"HostRegexp(`^example$`)", {.host = "www.example.org"}, false},
    {"HostRegexp(`^EXAMPLE`)", {.host = "example.com"}, false},
    {"HostRegexp(`(?i)^EXAMPLE`)", {.host = "example.com"}, true},
    {"HostRegexp(`^::1$`)", {.host = "[::1]:80"}, true},
    /* Path / PathPrefix / PathRegexp */
    {"Path(`/foo`)", {.path = "/foo"}, true},
    {"Path(`/foo`)", {.path = "/foo/"}, false},
    {"Path(`/foo`)", {.path = "/fo"}, false},
    {"Path(`/foo`)", {.path = "/FOO"}, false},
    {"Path(`/a%2Fb`)", {.path = "/a%2Fb"}, true},
    {"Path(`/a/b`)", {.path = "/a%2Fb"}, false},
    {"PathPrefix(`/products`)", {.path = "/products-for-sale"}, true},
    {"PathPrefix(`/products`)", {.path = "/products/1"}, true},
    {"PathPrefix(`/products`)", {.path = "/products"}, true},
    {"PathPrefix(`/products`)", {.path = "/product"}, false},
    {"PathPrefix(`/`)", {.path = "/anything"}, true},
    {"PathPrefix(`/{id:[0-9]+}`)", {.path = "/12"}, false}, /* no templates in v3 */
    {"PathPrefix(`/{id:[0-9]+}`)", {.path = "/{id:[0-9]+}/x"}, true},
    {"PathRegexp(`\\.(jpg|png)$`)", {.path = "/img/a.png"}, true},
    {"PathRegexp(`\\.(jpg|png)$`)", {.path = "/img/a.gif"}, false},
    {"PathRegexp(`^/api/v[0-9]+/`)", {.path = "/api/v2/x"}, true},
    {"PathRegexp(`^/api/v[0-9]+/`)", {.path = "/v1/api/v2/"}, false},
    {"PathRegexp(`[0-9]+`)", {.path = "/a1"}, true},
    /* Method */
    {"Method(`GET`)", {.method = "GET"}, true},
    {"Method(`get`)", {.method = "GET"}, true},
    {"Method(`POST`)", {.method = "GET"}, false},
    {"Method(`GET`)", {.method = "get"}, false},
    /* Header / HeaderRegexp */
    {"Header(`X-Env`, `prod`)", {.headers = "x-env: prod"}, true},
    {"Header(`x-env`, `prod`)", {.headers = "X-ENV: prod"}, true},
    {"Header(`X-Env`, `prod`)", {.headers = "X-Env: staging\nX-Env: prod"}, true},
    {"Header(`X-Env`, `prod`)", {.headers = "X-Env: Prod"}, false},
    {"Header(`X-Env`, `prod`)", {.headers = "X-Other: prod"}, false},
    {"Header(`X-Env`, `prod`)", {.headers = NULL}, false},
    {"Header(`X-Env`, ``)", {.headers = "X-Env: "}, true},
    {"Header(`X-Env`, ``)", {.headers = "X-Env: x"}, false},
    {"HeaderRegexp(`User-Agent`, `(?i)curl`)", {.headers = "User-Agent: Curl/8"}, true},
    {"HeaderRegexp(`User-Agent`, `^curl`)", {.headers = "User-Agent: wget"}, false},
    {"HeaderRegexp(`Accept`, `json`)",
     {.headers = "Accept: text/html\nAccept: application/json"},
     true},
    {"HeaderRegexp(`Accept`, `.*`)", {.headers = NULL}, false},
    /* Query / QueryRegexp: Go's url.ParseQuery */
    {"Query(`a`, `1`)", {.query = "a=1"}, true},
    {"Query(`a`, `1`)", {.query = "a=2&a=1"}, true},
    {"Query(`a`, `1`)", {.query = "a=2"}, false},
    {"Query(`a`, `1`)", {.query = "b=1"}, false},
    {"Query(`a`, `1`)", {.query = NULL}, false},
    {"Query(`a`, `1`)", {.query = ""}, false},
    {"Query(`a`)", {.query = "a="}, true},
    {"Query(`a`)", {.query = "a"}, true},
    {"Query(`a`)", {.query = "b=2&a&c=3"}, true},
    {"Query(`a`)", {.query = "a=1"}, false},
    {"Query(`q`, `a b`)", {.query = "q=a+b"}, true},
    {"Query(`q`, `a b`)", {.query = "q=a%20b"}, true},
    {"Query(`q`, `a+b`)", {.query = "q=a%2Bb"}, true},
    {"Query(`a`, `1`)", {.query = "x=2;a=1"}, true},
    {"Query(`a`, `1`)", {.query = "a=%zz&a=1"}, true},
    {"Query(`a`, `1`)", {.query = "a=%zz"}, false},
    {"Query(`a`, `1`)", {.query = "a=1%"}, false},
    {"Query(`k y`, `v`)", {.query = "k%20y=v"}, true},
    {"Query(`a`, `=`)", {.query = "a=="}, true},
    {"QueryRegexp(`id`, `^[0-9]+$`)", {.query = "id=42"}, true},
    {"QueryRegexp(`id`, `^[0-9]+$`)", {.query = "id=4x"}, false},
    {"QueryRegexp(`id`, `^[0-9]+$`)", {.query = "x=1"}, false},
    {"QueryRegexp(`id`, `^$`)", {.query = "id"}, true},
    /* ClientIP, IPv4 and IPv6, CIDRs, v4-mapped peers */
    {"ClientIP(`10.0.0.0/8`)", {.client = "10.1.2.3"}, true},
    {"ClientIP(`10.0.0.0/8`)", {.client = "11.0.0.1"}, false},
    {"ClientIP(`10.0.0.0/8`)", {.client = "::ffff:10.1.2.3"}, true},
    {"ClientIP(`10.0.0.0/8`)", {.client = "::ffff:11.1.2.3"}, false},
    {"ClientIP(`10.0.0.0/8`)", {.client = NULL}, false},
    {"ClientIP(`10.0.0.0/8`)", {.client = "::1"}, false},
    {"ClientIP(`192.168.1.10`)", {.client = "192.168.1.10"}, true},
    {"ClientIP(`192.168.1.10`)", {.client = "192.168.1.11"}, false},
    {"ClientIP(`192.168.1.10`)", {.client = "::ffff:192.168.1.10"}, true},
    {"ClientIP(`2001:db8::/32`)", {.client = "2001:db8::1"}, true},
    {"ClientIP(`2001:db8::/32`)", {.client = "2001:db9::1"}, false},
    {"ClientIP(`2001:db8::/32`)", {.client = "10.0.0.1"}, false},
    {"ClientIP(`::ffff:10.0.0.0/104`)", {.client = "10.2.3.4"}, true},
    {"ClientIP(`::ffff:10.0.0.0/104`)", {.client = "11.2.3.4"}, false},
    {"ClientIP(`::ffff:1.2.3.4`)", {.client = "1.2.3.4"}, true},
    {"ClientIP(`::1`)", {.client = "::1"}, true},
    {"ClientIP(`::1`)", {.client = "::2"}, false},
    {"ClientIP(`::/0`)", {.client = "1.2.3.4"}, false},
    {"ClientIP(`::/0`)", {.client = "fe80::1"}, true},
    {"ClientIP(`0.0.0.0/0`)", {.client = "8.8.8.8"}, true},
    {"ClientIP(`10.1.2.3/31`)", {.client = "10.1.2.2"}, true},
    {"ClientIP(`10.1.2.3/31`)", {.client = "10.1.2.4"}, false},
    {"ClientIP(`10.1.2.0/23`)", {.client = "10.1.3.255"}, true},
    {"ClientIP(`10.1.2.0/23`)", {.client = "10.1.4.0"}, false},
    /* combinations */
    {"Host(`a`) && PathPrefix(`/api`) && Method(`POST`)",
     {.host = "a", .path = "/api/x", .method = "POST"},
     true},
    {"Host(`a`) && PathPrefix(`/api`) && Method(`POST`)",
     {.host = "a", .path = "/api/x", .method = "GET"},
     false},
    {"Host(`a`) && !ClientIP(`10.0.0.0/8`)", {.host = "a", .client = "10.0.0.1"}, false},
    {"Host(`a`) && !ClientIP(`10.0.0.0/8`)", {.host = "a", .client = "192.0.2.1"}, true},
    {"(Host(`a`) || Host(`b`)) && Query(`x`, `1`)", {.host = "b", .query = "x=1"}, true},
};

static void test_http_v3(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool got = match_http(cases[i].rule, WH_RULE_V3, cases[i].req);
    if (got != cases[i].want)
      fail_msg("case %zu: %s host=%s path=%s query=%s -> %d, want %d", i, cases[i].rule,
               cases[i].req.host ? cases[i].req.host : "(null)",
               cases[i].req.path ? cases[i].req.path : "/",
               cases[i].req.query ? cases[i].req.query : "(null)", got, cases[i].want);
  }
}

static void test_long_host_and_query(void **state) {
  (void)state;
  /* A Host header longer than the on-stack buffer still canonicalises correctly. */
  char host[2000];
  memset(host, 'a', sizeof host - 10);
  strcpy(host + sizeof host - 10, ".com:8080");
  char rule[2100];
  snprintf(rule, sizeof rule, "HostRegexp(`^a+\\.com$`)");
  assert_true(match_http(rule, WH_RULE_V3, (hreq){.host = host}));
  host[0] = 'A';
  assert_true(match_http(rule, WH_RULE_V3, (hreq){.host = host}));
  /* many query pairs */
  char q[4000] = "";
  for (int i = 0; i < 300; i++)
    strcat(q, "k=v&");
  strcat(q, "last=1");
  assert_true(match_http("Query(`last`, `1`)", WH_RULE_V3, (hreq){.query = q}));
  assert_false(match_http("Query(`last`, `2`)", WH_RULE_V3, (hreq){.query = q}));
}

static void test_wrong_proto_never_matches(void **state) {
  (void)state;
  wh_rule *r = wh_rule_parse("HostSNI(`*`)", WH_RULE_TCP, WH_RULE_V3, NULL);
  assert_non_null(r);
  wh_http_req_view v = {.method = "GET", .path = "/"};
  assert_false(wh_rule_match_http(r, &v));
  assert_false(wh_rule_match_http(NULL, &v));
  assert_false(wh_rule_match_http(r, NULL));
  wh_rule_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_http_v3),
      cmocka_unit_test(test_long_host_and_query),
      cmocka_unit_test(test_wrong_proto_never_matches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
