/* Runtime of ipAllowList (and its v2 name ipWhiteList): which client IP is
 * checked (the socket's by default, X-Forwarded-For only through
 * ipStrategy, as Traefik's pkg/ip/strategy.go picks it), IPv4-mapped peers
 * treated as IPv4 (HARDENING 18), and the reject answer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config/schema.h"
#include "lib/config/tree.h"
#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/ipallowlist.h"

/* ---- harness ---- */

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

static wh_mw_ipallowlist_conf *conf_(const wh_mw_type *t, const char *const *kv) {
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(root);
  for (size_t i = 0; kv[i]; i += 2)
    assert_int_equal(wh_node_set_dotted(root, kv[i], kv[i + 1], "test", 0), 0);
  wh_mw_ipallowlist_conf *c = wh_schema_new(t->schema);
  assert_non_null(c);
  wh_errlist errs;
  wh_errlist_init(&errs);
  int rc = wh_schema_decode(t->schema, root, c, "http.middlewares.a.ipAllowList", &errs);
  for (size_t i = 0; i < errs.n; i++)
    print_message("  error: %s\n", errs.items[i]);
  assert_int_equal(rc, 0);
  wh_errlist_free(&errs);
  wh_node_free(root);
  return c;
}
#define CONF(...) conf_(&wh_mw_ipallowlist, KV(__VA_ARGS__))

static void conf_free(wh_mw_ipallowlist_conf *c) {
  wh_schema_destroy(wh_mw_ipallowlist.schema, c);
}

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *names[2], *vals[2];
} tx;

/* A request from peer (IPv4 or IPv6 text) with this X-Forwarded-For (none
 * when NULL). */
static tx *tx_new(const char *peer, const char *xff) {
  tx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  size_t n = 0;
  if (xff) {
    t->names[n] = "X-Forwarded-For";
    t->vals[n++] = (char *)xff;
  }
  t->req.method = "GET";
  t->req.target = "/p";
  t->req.path = "/p";
  t->req.host = "example.com";
  t->req.nheaders = n;
  t->req.hdr_names = t->names;
  t->req.hdr_values = t->vals;
  t->req.body = "";
  if (strchr(peer, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->req.peer;
    s6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, peer, &s6->sin6_addr), 1);
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&t->req.peer;
    s4->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, peer, &s4->sin_addr), 1);
  }
  t->req.http_minor = 1;
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.path = strdup("/p");
  t->x.resp = &t->resp;
  t->x.mw_name = "allow@file";
  /* the ipStrategy cases model a peer in forwardedHeaders.trustedIPs (a load
   * balancer); test_untrusted_peer_x_forwarded_for_is_ignored the others */
  t->x.fwd_trusted = true;
  t->x.mw_provider = "file";
  t->x.level = 1;
  return t;
}

static void tx_free(tx *t) {
  wh_http_resp_free(&t->resp);
  wh_mw_exchange_free(&t->x);
  free(t);
}

/* Runs c against a request; returns the status answered, 0 when passed on. */
static int run_with(const wh_mw_type *type, const wh_mw_ipallowlist_conf *c, const char *peer,
                    const char *xff) {
  tx *t = tx_new(peer, xff);
  int rc = type->on_request(c, &t->x);
  int status = 0;
  if (rc == WH_MW_DONE) {
    status = t->resp.status;
    assert_true(status >= 100);
  } else {
    assert_int_equal(rc, WH_MW_NEXT);
    assert_int_equal(t->resp.status, 0);
    assert_int_equal(t->x.nedits, 0);
  }
  tx_free(t);
  return status;
}
#define RUN(c, peer, xff) run_with(&wh_mw_ipallowlist, (c), (peer), (xff))

/* ---- remote address (default strategy) ---- */

static void test_peer_in_range_passes(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8,192.168.1.7");
  assert_int_equal(RUN(c, "10.20.30.40", NULL), 0);
  assert_int_equal(RUN(c, "192.168.1.7", NULL), 0);
  conf_free(c);
}

static void test_peer_out_of_range_gets_403_with_status_text(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8");
  tx *t = tx_new("11.0.0.1", NULL);
  assert_int_equal(wh_mw_ipallowlist.on_request(c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 403);
  assert_string_equal(wh_strbuf_cstr(&t->resp.body), "Forbidden");
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Content-Type"),
                      "text/plain; charset=utf-8");
  assert_string_equal(t->x.path, "/p"); /* nothing else touched */
  assert_int_equal(t->x.set_headers.n, 0);
  tx_free(t);
  assert_int_equal(RUN(c, "192.168.1.1", NULL), 403);
  conf_free(c);
}

static void test_reject_status_code(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8", "rejectStatusCode", "404");
  tx *t = tx_new("8.8.8.8", NULL);
  assert_int_equal(wh_mw_ipallowlist.on_request(c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 404);
  assert_string_equal(wh_strbuf_cstr(&t->resp.body), "Not Found");
  tx_free(t);
  assert_int_equal(RUN(c, "10.1.1.1", NULL), 0);
  conf_free(c);
}

static void test_ipv6_ranges(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "2001:db8::/32,::1");
  assert_int_equal(RUN(c, "2001:db8:1::5", NULL), 0);
  assert_int_equal(RUN(c, "::1", NULL), 0);
  assert_int_equal(RUN(c, "2001:db9::1", NULL), 403);
  assert_int_equal(RUN(c, "127.0.0.1", NULL), 403); /* ::1 is not 127.0.0.1 */
  conf_free(c);
}

/* HARDENING 18: the v4-mapped spelling of an address is that address. */
static void test_v4_mapped_peer_is_the_ipv4_address(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "127.0.0.1");
  assert_int_equal(RUN(c, "::ffff:127.0.0.1", NULL), 0);
  assert_int_equal(RUN(c, "::ffff:127.0.0.2", NULL), 403);
  conf_free(c);
  c = CONF("sourceRange", "::ffff:10.0.0.0/104");
  assert_int_equal(RUN(c, "10.9.8.7", NULL), 0);
  assert_int_equal(RUN(c, "::ffff:10.9.8.7", NULL), 0);
  assert_int_equal(RUN(c, "11.0.0.1", NULL), 403);
  conf_free(c);
}

/* Without ipStrategy the socket decides: X-Forwarded-For is the client's word. */
static void test_default_strategy_ignores_x_forwarded_for(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8");
  assert_int_equal(RUN(c, "8.8.8.8", "10.0.0.1"), 403);
  assert_int_equal(RUN(c, "10.0.0.1", "8.8.8.8"), 0);
  conf_free(c);
  /* an empty ipStrategy is the remote-address strategy too */
  c = CONF("sourceRange", "10.0.0.0/8", "ipStrategy", "");
  assert_non_null(c->ip_strategy);
  assert_int_equal(RUN(c, "8.8.8.8", "10.0.0.1"), 403);
  assert_int_equal(RUN(c, "10.0.0.1", "8.8.8.8"), 0);
  conf_free(c);
}

/* HARDENING 16/19: from a peer that is not a trusted proxy, X-Forwarded-For is
 * what Traefik's entry point would have left of it: nothing. */
static void test_untrusted_peer_x_forwarded_for_is_ignored(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8", "ipStrategy.depth", "1");
  tx *t = tx_new("8.8.8.8", "1.1.1.1, 10.0.0.5");
  t->x.fwd_trusted = false;
  assert_int_equal(wh_mw_ipallowlist.on_request(c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 403);
  tx_free(t);
  conf_free(c);
}

/* ---- ipStrategy.depth ---- */

static void test_depth_picks_from_the_right(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8", "ipStrategy.depth", "1");
  assert_int_equal(RUN(c, "8.8.8.8", "1.1.1.1, 10.0.0.5"), 0);
  assert_int_equal(RUN(c, "10.0.0.1", "10.0.0.5, 1.1.1.1"), 403); /* the peer does not count */
  assert_int_equal(RUN(c, "8.8.8.8", " 10.0.0.5 "), 0);           /* items are trimmed */
  conf_free(c);
  c = CONF("sourceRange", "10.0.0.0/8", "ipStrategy.depth", "2");
  assert_int_equal(RUN(c, "8.8.8.8", "10.0.0.5,1.1.1.1"), 0);
  assert_int_equal(RUN(c, "8.8.8.8", "1.1.1.1,10.0.0.5"), 403);
  assert_int_equal(RUN(c, "8.8.8.8", "10.0.0.7 ,  10.0.0.5,1.1.1.1"), 0);
  conf_free(c);
}

static void test_depth_beyond_the_header_is_rejected(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8", "ipStrategy.depth", "3");
  assert_int_equal(RUN(c, "10.0.0.1", "10.0.0.5, 10.0.0.6"), 403);
  assert_int_equal(RUN(c, "10.0.0.1", NULL), 403); /* no header: "" */
  conf_free(c);
  c = CONF("sourceRange", "10.0.0.0/8", "ipStrategy.depth", "1");
  assert_int_equal(RUN(c, "10.0.0.1", NULL), 403);
  assert_int_equal(RUN(c, "10.0.0.1", ""), 403);
  assert_int_equal(RUN(c, "10.0.0.1", "10.0.0.5,"), 403); /* trailing empty item */
  conf_free(c);
}

static void test_depth_item_that_is_not_an_address_is_rejected(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "0.0.0.0/0,::/0", "ipStrategy.depth", "1");
  assert_int_equal(RUN(c, "10.0.0.1", "not-an-ip"), 403);
  assert_int_equal(RUN(c, "10.0.0.1", "10.0.0.1/8"), 403);
  assert_int_equal(RUN(c, "10.0.0.1", "unknown"), 403);
  char longitem[200];
  memset(longitem, '1', sizeof longitem - 1);
  longitem[sizeof longitem - 1] = '\0';
  assert_int_equal(RUN(c, "10.0.0.1", longitem), 403);
  /* Checker.IsAuthorized drops a port */
  assert_int_equal(RUN(c, "10.0.0.1", "10.0.0.5:8080"), 0);
  assert_int_equal(RUN(c, "10.0.0.1", "[2001:db8::1]:8080"), 0);
  conf_free(c);
}

/* The header as the next handler sees it: an earlier middleware's edit counts. */
static void test_depth_reads_the_header_after_earlier_edits(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "10.0.0.0/8", "ipStrategy.depth", "1");
  tx *t = tx_new("8.8.8.8", "10.0.0.5");
  assert_int_equal(wh_mw_exchange_set_header(&t->x, "X-Forwarded-For", "9.9.9.9"), 0);
  assert_int_equal(wh_mw_ipallowlist.on_request(c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 403);
  tx_free(t);
  t = tx_new("8.8.8.8", "10.0.0.5");
  assert_int_equal(wh_mw_exchange_set_header(&t->x, "X-Forwarded-For", NULL), 0);
  assert_int_equal(wh_mw_ipallowlist.on_request(c, &t->x), WH_MW_DONE);
  tx_free(t);
  conf_free(c);
}

/* ---- ipStrategy.excludedIPs ---- */

static void test_excluded_ips_skip_from_the_right(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c =
      CONF("sourceRange", "192.168.0.0/16", "ipStrategy.excludedIPs", "172.16.0.0/12,10.0.0.1");
  assert_int_equal(RUN(c, "8.8.8.8", "1.1.1.1, 192.168.0.1, 172.16.0.1, 10.0.0.1"), 0);
  assert_int_equal(RUN(c, "8.8.8.8", "192.168.0.1, 1.1.1.1, 172.16.0.1"), 403);
  assert_int_equal(RUN(c, "8.8.8.8", "192.168.0.1, , 172.16.0.1"), 0);  /* blanks skipped */
  assert_int_equal(RUN(c, "192.168.0.1", "172.16.0.1, 10.0.0.1"), 403); /* all excluded: "" */
  assert_int_equal(RUN(c, "192.168.0.1", NULL), 403);
  /* an item that does not parse is not excluded: it is the client, and refused */
  assert_int_equal(RUN(c, "8.8.8.8", "192.168.0.1, junk, 172.16.0.1"), 403);
  /* ...unless it is host:port, which the checker accepts */
  assert_int_equal(RUN(c, "8.8.8.8", "192.168.0.1:99, 172.16.0.1"), 0);
  conf_free(c);
}

/* depth wins over excludedIPs (Traefik's IPStrategy.Get order). */
static void test_depth_takes_precedence_over_excluded_ips(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "172.16.0.0/12", "ipStrategy.depth", "1",
                                   "ipStrategy.excludedIPs", "172.16.0.0/12");
  assert_int_equal(RUN(c, "8.8.8.8", "192.168.0.1, 172.16.0.1"), 0);
  conf_free(c);
}

/* ---- ipStrategy.ipv6Subnet ---- */

static void test_ipv6_subnet_masks_the_remote_address(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "2001:db8::/128,10.0.0.1");
  assert_int_equal(RUN(c, "2001:db8::1234", NULL), 403);
  conf_free(c);
  c = CONF("sourceRange", "2001:db8::/128,10.0.0.1", "ipStrategy.ipv6Subnet", "64");
  assert_int_equal(RUN(c, "2001:db8::1234", NULL), 0);
  assert_int_equal(RUN(c, "2001:db8:0:1::1", NULL), 403); /* another /64 */
  assert_int_equal(RUN(c, "10.0.0.1", NULL), 0);          /* IPv4 left alone */
  assert_int_equal(RUN(c, "::ffff:10.0.0.1", NULL), 0);   /* mapped = IPv4 */
  conf_free(c);
}

static void test_ipv6_subnet_with_depth(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf *c = CONF("sourceRange", "2001:db8:aa::/128", "ipStrategy.depth", "1",
                                   "ipStrategy.ipv6Subnet", "48");
  assert_int_equal(RUN(c, "10.0.0.1", "2001:db8:aa:bb::7"), 0);
  assert_int_equal(RUN(c, "10.0.0.1", "2001:db8:ab::7"), 403);
  conf_free(c);
}

/* ---- the v2 name ---- */

static void test_ipwhitelist_alias_runs_the_same_check(void **state) {
  (void)state;
  assert_non_null(wh_mw_ipwhitelist.on_request);
  wh_mw_ipallowlist_conf *c = conf_(&wh_mw_ipwhitelist, KV("sourceRange", "127.0.0.1/32"));
  assert_int_equal(run_with(&wh_mw_ipwhitelist, c, "127.0.0.1", NULL), 0);
  assert_int_equal(run_with(&wh_mw_ipwhitelist, c, "127.0.0.2", NULL), 403);
  assert_int_equal(run_with(&wh_mw_ipwhitelist, c, "::ffff:127.0.0.1", NULL), 0);
  conf_free(c);
}

/* A configuration built by hand with a range the validator would refuse
 * (it cannot come from a file) fails closed, not open. */
static void test_unparsable_range_fails_closed(void **state) {
  (void)state;
  wh_mw_ipallowlist_conf c = {0};
  char *bad[] = {"10.0.0.0/8", "not-a-range"};
  c.source_range.v = bad;
  c.source_range.n = 2;
  tx *t = tx_new("10.0.0.1", NULL);
  assert_int_equal(wh_mw_ipallowlist.on_request(&c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  tx_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_peer_in_range_passes),
      cmocka_unit_test(test_peer_out_of_range_gets_403_with_status_text),
      cmocka_unit_test(test_reject_status_code),
      cmocka_unit_test(test_ipv6_ranges),
      cmocka_unit_test(test_v4_mapped_peer_is_the_ipv4_address),
      cmocka_unit_test(test_default_strategy_ignores_x_forwarded_for),
      cmocka_unit_test(test_untrusted_peer_x_forwarded_for_is_ignored),
      cmocka_unit_test(test_depth_picks_from_the_right),
      cmocka_unit_test(test_depth_beyond_the_header_is_rejected),
      cmocka_unit_test(test_depth_item_that_is_not_an_address_is_rejected),
      cmocka_unit_test(test_depth_reads_the_header_after_earlier_edits),
      cmocka_unit_test(test_excluded_ips_skip_from_the_right),
      cmocka_unit_test(test_depth_takes_precedence_over_excluded_ips),
      cmocka_unit_test(test_ipv6_subnet_masks_the_remote_address),
      cmocka_unit_test(test_ipv6_subnet_with_depth),
      cmocka_unit_test(test_ipwhitelist_alias_runs_the_same_check),
      cmocka_unit_test(test_unparsable_range_fails_closed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
