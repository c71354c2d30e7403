/* libFuzzer target for the rule language: every input is parsed as HTTP and TCP, v2 and v3; a
 * rule that parses is matched against fixed requests, analysed, printed, and its canonical text
 * must parse back to the same text. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rules/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const char *text, wh_rule_proto proto, wh_rule_syntax syntax) {
  wh_rule_error err;
  wh_rule *r = wh_rule_parse(text, proto, syntax, &err);
  if (!r) {
    /* every error names its position, except the empty rule */
    if (strcmp(err.msg, "empty rule") != 0 && !strstr(err.msg, " at "))
      __builtin_trap();
    return;
  }
  struct sockaddr_in6 peer = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, "::ffff:10.1.2.3", &peer.sin6_addr);
  if (proto == WH_RULE_HTTP) {
    const char *names[] = {"X-Env", "User-Agent", "accept"};
    const char *values[] = {"prod", "curl/8.0", "application/json"};
    wh_http_req_view v = {
        .method = "GET",
        .host = "API.Example.com:8443",
        .path = "/api/v1/items/42",
        .query = "a=1&b=x+y;c=%41&bad=%zz&d",
        .nheaders = 3,
        .hdr_names = names,
        .hdr_values = values,
        .client = (const struct sockaddr *)&peer,
    };
    (void)wh_rule_match_http(r, &v);
    v.host = "[::1]:80";
    v.query = NULL;
    v.client = NULL;
    (void)wh_rule_match_http(r, &v);
  } else {
    const char *alpn[] = {"h2", "http/1.1"};
    wh_tcp_conn_view c = {.sni = "API.example.com",
                          .is_tls = true,
                          .alpn = alpn,
                          .nalpn = 2,
                          .client = (const struct sockaddr *)&peer};
    (void)wh_rule_match_tcp(r, &c);
    c.is_tls = false;
    c.sni = NULL;
    (void)wh_rule_match_tcp(r, &c);
  }
  const char *const *hosts;
  (void)wh_rule_exact_hosts(r, &hosts);
  (void)wh_rule_uses(r, "Host");
  (void)wh_rule_is_catchall_sni(r);
  char **vals;
  size_t n = wh_rule_host_values(r, &vals);
  for (size_t i = 0; i < n; i++)
    free(vals[i]);
  free(vals);
  char *s = wh_rule_to_string(r);
  if (s) {
    wh_rule *again = wh_rule_parse(s, proto, syntax, &err);
    if (!again)
      __builtin_trap();
    char *s2 = wh_rule_to_string(again);
    if (s2 && strcmp(s, s2) != 0)
      __builtin_trap();
    free(s2);
    wh_rule_free(again);
  }
  free(s);
  wh_rule_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) /* long inputs only test the length cap, covered by unit tests */
    return 0;
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  exercise(text, WH_RULE_HTTP, WH_RULE_V3);
  exercise(text, WH_RULE_HTTP, WH_RULE_V2);
  exercise(text, WH_RULE_TCP, WH_RULE_V3);
  exercise(text, WH_RULE_TCP, WH_RULE_V2);
  free(text);
  return 0;
}
