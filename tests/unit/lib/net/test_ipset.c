#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "lib/net/ipset.h"

static wh_ipset *make(const char *a, const char *b, const char *c) {
  char *v[3] = {(char *)a, (char *)b, (char *)c};
  size_t n = c ? 3 : b ? 2 : a ? 1 : 0;
  const char *bad = "unset";
  wh_ipset *s = wh_ipset_parse(v, n, &bad);
  assert_non_null(s);
  assert_null(bad);
  return s;
}

/* A socket address from text, as a listener would report the peer. */
static struct sockaddr_storage peer(const char *ip) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(40000);
  } else {
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(40000);
  }
  return ss;
}

static bool has(const wh_ipset *s, const char *ip) {
  struct sockaddr_storage ss = peer(ip);
  bool by_sa = wh_ipset_contains(s, (const struct sockaddr *)&ss);
  bool by_str = wh_ipset_contains_str(s, ip);
  assert_int_equal(by_sa, by_str); /* both lookups always agree */
  return by_sa;
}

static void rejected(const char *entry) {
  char *v[2] = {"10.0.0.0/8", (char *)entry};
  const char *bad = NULL;
  wh_ipset *s = wh_ipset_parse(v, 2, &bad);
  if (s)
    fail_msg("entry \"%s\" was accepted", entry);
  assert_ptr_equal(bad, entry); /* the caller can name the exact entry */
}

static void test_v4_address(void **state) {
  (void)state;
  wh_ipset *s = make("192.168.1.5", NULL, NULL);
  assert_true(has(s, "192.168.1.5"));
  assert_false(has(s, "192.168.1.4"));
  assert_false(has(s, "192.168.1.6"));
  assert_false(has(s, "::1"));
  wh_ipset_free(s);
}

static void test_v4_cidr(void **state) {
  (void)state;
  wh_ipset *s = make("10.0.0.0/8", "172.16.0.0/12", NULL);
  assert_true(has(s, "10.0.0.0"));
  assert_true(has(s, "10.255.255.255"));
  assert_false(has(s, "11.0.0.0"));
  assert_false(has(s, "9.255.255.255"));
  assert_true(has(s, "172.31.255.255"));
  assert_false(has(s, "172.32.0.0"));
  wh_ipset_free(s);
}

static void test_v4_host_bits_masked(void **state) {
  (void)state;
  /* As Go's ParseCIDR: 10.1.2.3/8 is the network 10.0.0.0/8. */
  wh_ipset *s = make("10.1.2.3/8", "192.168.7.77/30", NULL);
  assert_true(has(s, "10.200.0.1"));
  assert_true(has(s, "192.168.7.76"));
  assert_true(has(s, "192.168.7.79"));
  assert_false(has(s, "192.168.7.80"));
  assert_false(has(s, "192.168.7.75"));
  wh_ipset_free(s);
}

static void test_prefix_boundaries(void **state) {
  (void)state;
  wh_ipset *s = make("0.0.0.0/0", NULL, NULL);
  assert_true(has(s, "1.2.3.4"));
  assert_true(has(s, "255.255.255.255"));
  assert_true(has(s, "::ffff:8.8.8.8"));
  assert_false(has(s, "2001:db8::1"));
  wh_ipset_free(s);
  s = make("1.2.3.4/32", "2001:db8::7/128", NULL);
  assert_true(has(s, "1.2.3.4"));
  assert_false(has(s, "1.2.3.5"));
  assert_true(has(s, "2001:db8::7"));
  assert_false(has(s, "2001:db8::6"));
  wh_ipset_free(s);
}

static void test_v6_address_and_cidr(void **state) {
  (void)state;
  wh_ipset *s = make("::1", "2001:db8:abcd::/48", "fd00::/7");
  assert_true(has(s, "::1"));
  assert_false(has(s, "::2"));
  assert_false(has(s, "127.0.0.1"));
  assert_true(has(s, "2001:db8:abcd:ffff::1"));
  assert_false(has(s, "2001:db8:abce::1"));
  assert_true(has(s, "fc00::1"));
  assert_true(has(s, "fdff:ffff::1"));
  assert_false(has(s, "fe00::1"));
  wh_ipset_free(s);
}

static void test_v6_host_bits_masked(void **state) {
  (void)state;
  wh_ipset *s = make("2001:db8::dead:beef/33", NULL, NULL);
  assert_true(has(s, "2001:db8::"));
  assert_true(has(s, "2001:db8:7fff::1"));
  assert_false(has(s, "2001:db8:8000::1"));
  wh_ipset_free(s);
}

/* HARDENING 18, entry as IPv4, client as IPv4-mapped IPv6. */
static void test_h18_v4_entry_mapped_client(void **state) {
  (void)state;
  wh_ipset *s = make("127.0.0.1", NULL, NULL);
  assert_true(has(s, "::ffff:127.0.0.1"));
  assert_true(has(s, "127.0.0.1"));
  assert_true(wh_ipset_contains_str(s, "::FFFF:7f00:1"));
  assert_false(has(s, "::ffff:127.0.0.2"));
  assert_false(has(s, "::127.0.0.1")); /* IPv4-compatible is not mapped */
  wh_ipset_free(s);
}

/* HARDENING 18 the other way round: entry mapped, client plain IPv4. */
static void test_h18_mapped_entry_v4_client(void **state) {
  (void)state;
  wh_ipset *s = make("::ffff:127.0.0.1", NULL, NULL);
  assert_true(has(s, "127.0.0.1"));
  assert_true(has(s, "::ffff:127.0.0.1"));
  assert_false(has(s, "127.0.0.2"));
  wh_ipset_free(s);
}

static void test_mapped_cidr_is_v4_cidr(void **state) {
  (void)state;
  wh_ipset *s = make("::ffff:10.0.0.0/104", NULL, NULL);
  assert_true(has(s, "10.9.9.9"));
  assert_true(has(s, "::ffff:10.9.9.9"));
  assert_false(has(s, "11.0.0.1"));
  assert_false(has(s, "::a09:909")); /* same low bits, not mapped */
  wh_ipset_free(s);
  s = make("::ffff:0.0.0.0/96", NULL, NULL);
  assert_true(has(s, "203.0.113.9"));
  assert_false(has(s, "2001:db8::1"));
  wh_ipset_free(s);
}

/* A prefix shorter than /96 reaches outside the mapped block: it stays an
 * IPv6 network and, as in Go, matches no IPv4 client. */
static void test_short_v6_prefix_never_matches_v4(void **state) {
  (void)state;
  wh_ipset *s = make("::/0", "::ffff:0:0/80", NULL);
  assert_true(has(s, "2001:db8::1"));
  assert_false(has(s, "1.2.3.4"));
  assert_false(has(s, "::ffff:1.2.3.4"));
  wh_ipset_free(s);
}

static void test_empty_set(void **state) {
  (void)state;
  const char *bad = "unset";
  wh_ipset *s = wh_ipset_parse(NULL, 0, &bad);
  assert_non_null(s);
  assert_null(bad);
  assert_false(has(s, "127.0.0.1"));
  assert_false(has(s, "::1"));
  wh_ipset_free(s);
}

static void test_bad_prefix_lengths(void **state) {
  (void)state;
  rejected("10.0.0.0/33");
  rejected("::/129");
  rejected("::ffff:1.2.3.4/129");
  rejected("10.0.0.0/");
  rejected("10.0.0.0/-1");
  rejected("10.0.0.0/+8");
  rejected("10.0.0.0/8x");
  rejected("10.0.0.0/ 8");
  rejected("10.0.0.0/8/9");
  rejected("10.0.0.0/99999999999999999999");
  rejected("/8");
}

static void test_bad_addresses(void **state) {
  (void)state;
  rejected("");
  rejected("   ");
  rejected("abc");
  rejected("256.0.0.1");
  rejected("1.2.3");
  rejected("1.2.3.4.5");
  rejected("010.0.0.1"); /* octal-looking: Go rejects it too */
  rejected("[::1]");
  rejected("fe80::1%eth0");
  rejected("1.2.3.4:80");
  rejected(":::1");
  rejected("2001:db8::1::2");
  rejected("10.0.0.0\n/8");
  rejected("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128xxxxxxxxxx");
}

static void test_first_bad_entry_reported(void **state) {
  (void)state;
  char *v[4] = {"10.0.0.1", "nope", "::1", "also-bad"};
  const char *bad = NULL;
  assert_null(wh_ipset_parse(v, 4, &bad));
  assert_ptr_equal(bad, v[1]);
  assert_null(wh_ipset_parse(v, 4, NULL)); /* bad is optional */
  char *nul[2] = {"10.0.0.1", NULL};
  bad = NULL;
  assert_null(wh_ipset_parse(nul, 2, &bad));
  assert_non_null(bad);
}

static void test_blanks_and_leading_zero_prefix(void **state) {
  (void)state;
  wh_ipset *s = make(" 10.0.0.0/08 ", "\t::1", NULL);
  assert_true(has(s, "10.1.1.1"));
  assert_true(has(s, "::1"));
  assert_false(has(s, "11.1.1.1"));
  wh_ipset_free(s);
}

static void test_contains_str_input(void **state) {
  (void)state;
  wh_ipset *s = make("fe80::/10", "127.0.0.1", NULL);
  assert_true(wh_ipset_contains_str(s, "fe80::1%eth0")); /* zone ignored */
  assert_false(wh_ipset_contains_str(s, "127.0.0.1%lo"));
  assert_false(wh_ipset_contains_str(s, ""));
  assert_false(wh_ipset_contains_str(s, "localhost"));
  assert_false(wh_ipset_contains_str(s, " 127.0.0.1"));
  assert_false(wh_ipset_contains_str(s, "127.0.0.1:80"));
  assert_false(wh_ipset_contains_str(s, "[::1]"));
  assert_false(wh_ipset_contains_str(s, NULL));
  assert_false(wh_ipset_contains_str(NULL, "127.0.0.1"));
  wh_ipset_free(s);
}

static void test_contains_sockaddr_edges(void **state) {
  (void)state;
  wh_ipset *s = make("fe80::/10", "0.0.0.0/0", NULL);
  struct sockaddr_storage ss = peer("fe80::1");
  ((struct sockaddr_in6 *)&ss)->sin6_scope_id = 3;
  assert_true(wh_ipset_contains(s, (const struct sockaddr *)&ss));
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  assert_false(wh_ipset_contains(s, (const struct sockaddr *)&un));
  assert_false(wh_ipset_contains(s, NULL));
  ss = peer("1.2.3.4");
  assert_false(wh_ipset_contains(NULL, (const struct sockaddr *)&ss));
  wh_ipset_free(s);
  wh_ipset_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v4_address),
      cmocka_unit_test(test_v4_cidr),
      cmocka_unit_test(test_v4_host_bits_masked),
      cmocka_unit_test(test_prefix_boundaries),
      cmocka_unit_test(test_v6_address_and_cidr),
      cmocka_unit_test(test_v6_host_bits_masked),
      cmocka_unit_test(test_h18_v4_entry_mapped_client),
      cmocka_unit_test(test_h18_mapped_entry_v4_client),
      cmocka_unit_test(test_mapped_cidr_is_v4_cidr),
      cmocka_unit_test(test_short_v6_prefix_never_matches_v4),
      cmocka_unit_test(test_empty_set),
      cmocka_unit_test(test_bad_prefix_lengths),
      cmocka_unit_test(test_bad_addresses),
      cmocka_unit_test(test_first_bad_entry_reported),
      cmocka_unit_test(test_blanks_and_leading_zero_prefix),
      cmocka_unit_test(test_contains_str_input),
      cmocka_unit_test(test_contains_sockaddr_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
