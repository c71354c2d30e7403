/* Helpers shared by the lib/rules unit tests: build request/connection views from short
 * descriptions and run one rule against them. */
#ifndef WH_TEST_RULES_UTIL_H
#define WH_TEST_RULES_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/rules/rules.h"

typedef struct hreq {
  const char *method, *host, *path, *query;
  const char *headers; /* "Name: value\nName2: value2" */
  const char *client;  /* "1.2.3.4", "::1", "::ffff:1.2.3.4" or NULL */
} hreq;

static inline void test_sockaddr(const char *ip, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
  } else {
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    in6->sin6_family = AF_INET6;
  }
}

/* Parses rule (must succeed), matches q, frees. */
static inline bool match_http(const char *rule, wh_rule_syntax syn, hreq q) {
  wh_rule_error err;
  wh_rule *r = wh_rule_parse(rule, WH_RULE_HTTP, syn, &err);
  if (!r)
    fail_msg("parse of %s failed: %s", rule, err.msg);
  char hbuf[1024];
  const char *names[16], *values[16];
  size_t nh = 0;
  if (q.headers) {
    snprintf(hbuf, sizeof hbuf, "%s", q.headers);
    for (char *line = strtok(hbuf, "\n"); line && nh < 16; line = strtok(NULL, "\n")) {
      char *colon = strchr(line, ':');
      assert_non_null(colon);
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ')
        v++;
      names[nh] = line;
      values[nh++] = v;
    }
  }
  struct sockaddr_storage ss;
  if (q.client)
    test_sockaddr(q.client, &ss);
  wh_http_req_view v = {
      .method = q.method ? q.method : "GET",
      .host = q.host,
      .path = q.path ? q.path : "/",
      .query = q.query,
      .nheaders = nh,
      .hdr_names = names,
      .hdr_values = values,
      .client = q.client ? (const struct sockaddr *)&ss : NULL,
  };
  bool m = wh_rule_match_http(r, &v);
  wh_rule_free(r);
  return m;
}

typedef struct tconn {
  const char *sni;
  bool tls;
  const char *alpn; /* comma-separated */
  const char *client;
} tconn;

static inline bool match_tcp(const char *rule, wh_rule_syntax syn, tconn c) {
  wh_rule_error err;
  wh_rule *r = wh_rule_parse(rule, WH_RULE_TCP, syn, &err);
  if (!r)
    fail_msg("parse of %s failed: %s", rule, err.msg);
  char abuf[256];
  const char *alpn[8];
  size_t na = 0;
  if (c.alpn) {
    snprintf(abuf, sizeof abuf, "%s", c.alpn);
    for (char *p = strtok(abuf, ","); p && na < 8; p = strtok(NULL, ","))
      alpn[na++] = p;
  }
  struct sockaddr_storage ss;
  if (c.client)
    test_sockaddr(c.client, &ss);
  wh_tcp_conn_view v = {
      .sni = c.sni,
      .is_tls = c.tls,
      .alpn = alpn,
      .nalpn = na,
      .client = c.client ? (const struct sockaddr *)&ss : NULL,
  };
  bool m = wh_rule_match_tcp(r, &v);
  wh_rule_free(r);
  return m;
}

/* A parse that must fail at pos with a message containing frag and ending in " at <pos>". */
static inline void expect_error(const char *rule, wh_rule_proto proto, wh_rule_syntax syn,
                                size_t pos, const char *frag) {
  wh_rule_error err;
  wh_rule *r = wh_rule_parse(rule, proto, syn, &err);
  if (r) {
    wh_rule_free(r);
    fail_msg("rule %s parsed, expected error \"%s\"", rule, frag);
  }
  if (!strstr(err.msg, frag))
    fail_msg("rule %s: error \"%s\" lacks \"%s\"", rule, err.msg, frag);
  if (err.pos != pos)
    fail_msg("rule %s: error \"%s\" at %zu, expected %zu", rule, err.msg, err.pos, pos);
  char tail[32];
  snprintf(tail, sizeof tail, " at %zu", pos);
  size_t ml = strlen(err.msg), tl = strlen(tail);
  if (ml < tl || strcmp(err.msg + ml - tl, tail) != 0)
    fail_msg("rule %s: error \"%s\" does not end with \"%s\"", rule, err.msg, tail);
}

/* Parses (must succeed) and returns the canonical text; caller frees. */
static inline char *canon(const char *rule, wh_rule_proto proto, wh_rule_syntax syn) {
  wh_rule_error err;
  wh_rule *r = wh_rule_parse(rule, proto, syn, &err);
  if (!r)
    fail_msg("parse of %s failed: %s", rule, err.msg);
  char *s = wh_rule_to_string(r);
  assert_non_null(s);
  wh_rule_free(r);
  return s;
}

#endif
