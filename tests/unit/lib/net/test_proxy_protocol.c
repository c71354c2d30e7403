#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "lib/net/proxy_protocol.h"

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static wh_pp_status parse_str(const char *s, wh_pp_result *r) {
  memset(r, 0xa5, sizeof *r); /* garbage, so that DONE must fill every field */
  return wh_pp_parse((const uint8_t *)s, strlen(s), r);
}

static void expect_status(const char *s, wh_pp_status want) {
  wh_pp_result r;
  wh_pp_status got = parse_str(s, &r);
  if (got != want)
    fail_msg("\"%s\": status %d, want %d", s, got, want);
}

/* The address as text and its port, for comparisons. */
static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap, unsigned *port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    assert_non_null(inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)cap));
    *port = ntohs(in->sin_port);
  } else {
    assert_int_equal(ss->ss_family, AF_INET6);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    assert_non_null(inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)cap));
    *port = ntohs(in6->sin6_port);
  }
}

static void expect_addr(const struct sockaddr_storage *ss, int family, const char *ip,
                        unsigned port) {
  char buf[INET6_ADDRSTRLEN];
  unsigned p;
  assert_int_equal(ss->ss_family, family);
  addr_text(ss, buf, sizeof buf, &p);
  assert_string_equal(buf, ip);
  assert_int_equal(p, port);
}

static struct sockaddr_storage sa(const char *ip, unsigned port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
  } else {
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
  }
  return ss;
}

/* A v2 header: fixed part + addr (alen bytes) into buf; returns its length. */
static size_t v2_hdr(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const uint8_t *addr, size_t alen) {
  memcpy(buf, sig, 12);
  buf[12] = ver_cmd;
  buf[13] = fam;
  buf[14] = (uint8_t)(alen >> 8);
  buf[15] = (uint8_t)alen;
  if (alen)
    memcpy(buf + 16, addr, alen);
  return 16 + alen;
}

static const uint8_t v4_block[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb};

static size_t v6_block(uint8_t out[36]) {
  struct in6_addr a, b;
  assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &a), 1);
  assert_int_equal(inet_pton(AF_INET6, "2001:db8::2", &b), 1);
  memcpy(out, &a, 16);
  memcpy(out + 16, &b, 16);
  out[32] = 0x30;
  out[33] = 0x39; /* 12345 */
  out[34] = 0x00;
  out[35] = 0x50; /* 80 */
  return 36;
}

/* ---- v1 ---------------------------------------------------------------- */

static void test_v1_tcp4(void **state) {
  (void)state;
  wh_pp_result r;
  const char *h = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  char buf[128];
  snprintf(buf, sizeof buf, "%sGET / HTTP/1.1\r\n", h);
  assert_int_equal(parse_str(buf, &r), WH_PP_DONE);
  assert_false(r.local);
  assert_int_equal(r.header_len, strlen(h));
  expect_addr(&r.src, AF_INET, "192.168.0.1", 56324);
  expect_addr(&r.dst, AF_INET, "192.168.0.11", 443);
}

static void test_v1_tcp6(void **state) {
  (void)state;
  wh_pp_result r;
  const char *h = "PROXY TCP6 2001:DB8::a:1 ::1 0 65535\r\n";
  assert_int_equal(parse_str(h, &r), WH_PP_DONE);
  assert_false(r.local);
  assert_int_equal(r.header_len, strlen(h));
  expect_addr(&r.src, AF_INET6, "2001:db8::a:1", 0);
  expect_addr(&r.dst, AF_INET6, "::1", 65535);
  /* the IPv4-mapped spelling is a valid IPv6 address */
  assert_int_equal(parse_str("PROXY TCP6 ::ffff:10.0.0.1 ::ffff:a00:2 1 2\r\n", &r), WH_PP_DONE);
  expect_addr(&r.src, AF_INET6, "::ffff:10.0.0.1", 1);
  expect_addr(&r.dst, AF_INET6, "::ffff:10.0.0.2", 2);
}

static void test_v1_unknown(void **state) {
  (void)state;
  wh_pp_result r;
  assert_int_equal(parse_str("PROXY UNKNOWN\r\nSSH-2.0", &r), WH_PP_DONE);
  assert_true(r.local);
  assert_int_equal(r.header_len, 15);
  /* anything before the CRLF is ignored, addresses or not */
  const char *h = "PROXY UNKNOWN ffff:f::f whatever 1 2\r\n";
  assert_int_equal(parse_str(h, &r), WH_PP_DONE);
  assert_true(r.local);
  assert_int_equal(r.header_len, strlen(h));
  expect_status("PROXY UNKNOWNX\r\n", WH_PP_BAD);
  expect_status("PROXY UNKNOWN junk\n", WH_PP_BAD);
  expect_status("PROXY UNKNOWN junk\rx\n", WH_PP_BAD);
}

/* Every proper prefix is MORE; the whole header, with or without payload, is DONE. */
static void split_everywhere(const char *h, size_t hlen) {
  uint8_t buf[256];
  assert_true(hlen + 5 <= sizeof buf);
  memcpy(buf, h, hlen);
  memcpy(buf + hlen, "\x16\x03\x01xy", 5);
  for (size_t k = 0; k < hlen; k++) {
    wh_pp_result r;
    wh_pp_status st = wh_pp_parse(buf, k, &r);
    if (st != WH_PP_MORE)
      fail_msg("prefix of %zu bytes: status %d, want MORE", k, st);
  }
  for (size_t k = hlen; k <= hlen + 5; k++) {
    wh_pp_result r;
    assert_int_equal(wh_pp_parse(buf, k, &r), WH_PP_DONE);
    assert_int_equal(r.header_len, hlen);
  }
}

static void test_v1_split_every_byte(void **state) {
  (void)state;
  const char *hs[] = {
      "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::1 1 22\r\n",
      "PROXY UNKNOWN\r\n",
      "PROXY UNKNOWN a b c d\r\n",
  };
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
    split_everywhere(hs[i], strlen(hs[i]));
}

static void test_v1_too_long(void **state) {
  (void)state;
  char line[200];
  /* exactly 107 bytes with the CRLF is the limit and is accepted */
  memset(line, 0, sizeof line);
  strcpy(line, "PROXY UNKNOWN ");
  memset(line + strlen(line), 'f', 107 - 2 - strlen(line));
  strcat(line, "\r\n");
  assert_int_equal(strlen(line), 107);
  expect_status(line, WH_PP_DONE);
  /* 108: the CRLF comes too late; BAD as soon as 107 bytes are in */
  memset(line, 0, sizeof line);
  strcpy(line, "PROXY UNKNOWN ");
  memset(line + strlen(line), 'f', 108 - 2 - strlen(line));
  strcat(line, "\r\n");
  expect_status(line, WH_PP_BAD);
  wh_pp_result r;
  assert_int_equal(wh_pp_parse((const uint8_t *)line, 106, &r), WH_PP_MORE);
  assert_int_equal(wh_pp_parse((const uint8_t *)line, 107, &r), WH_PP_BAD);
  /* long IPv6 spellings that push the line past 107 */
  expect_status("PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255.255.255 "
                "0000:0000:0000:0000:0000:ffff:255.255.255.255 65535 65535\r\n",
                WH_PP_BAD);
}

static void test_v1_bad_ip(void **state) {
  (void)state;
  expect_status("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD); /* octal confusion */
  expect_status("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8. 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", WH_PP_BAD);      /* family mismatch */
  expect_status("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", WH_PP_BAD);      /* family mismatch */
  expect_status("PROXY TCP6 ::1 2001:db8:::1 1 2\r\n", WH_PP_BAD); /* two "::" */
  expect_status("PROXY TCP6 ::1 12345::1 1 2\r\n", WH_PP_BAD);     /* group too long */
  expect_status("PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n", WH_PP_BAD); /* no zone ids */
  /* junk is BAD at once, without waiting for 107 bytes */
  expect_status("PROXY TCP4 1.2.3.4x", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.400 ", WH_PP_BAD);
}

static void test_v1_bad_port(void **state) {
  (void)state;
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 80a 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", WH_PP_BAD); /* heading zero */
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", WH_PP_BAD); /* missing dport */
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", WH_PP_BAD);
}

static void test_v1_port_range(void **state) {
  (void)state;
  wh_pp_result r;
  assert_int_equal(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 65535 0\r\n", &r), WH_PP_DONE);
  expect_addr(&r.src, AF_INET, "1.2.3.4", 65535);
  expect_addr(&r.dst, AF_INET, "5.6.7.8", 0);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n", WH_PP_BAD);
  /* BAD as soon as the sixth digit arrives */
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 123456", WH_PP_BAD);
}

static void test_v1_missing_crlf(void **state) {
  (void)state;
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", WH_PP_BAD);
  expect_status("PROXY UNKNOWN\n", WH_PP_BAD);
  /* a CR alone at the end may still be followed by LF */
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", WH_PP_MORE);
}

static void test_v1_extra_spaces(void **state) {
  (void)state;
  expect_status("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", WH_PP_BAD);
  expect_status("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
}

static void test_v1_bad_protocol(void **state) {
  (void)state;
  expect_status("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY TCP41.2.3.4 5.6.7.8 1 2\r\n", WH_PP_BAD);
  expect_status("PROXY \r\n", WH_PP_BAD);
  expect_status("PROXY TC", WH_PP_MORE);
  expect_status("PROXY UNKNO", WH_PP_MORE);
}

/* ---- v2 ---------------------------------------------------------------- */

static void test_v2_ipv4(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = v2_hdr(buf, 0x21, 0x11, v4_block, sizeof v4_block);
  memcpy(buf + n, "payload", 7);
  wh_pp_result r;
  assert_int_equal(wh_pp_parse(buf, n + 7, &r), WH_PP_DONE);
  assert_false(r.local);
  assert_int_equal(r.header_len, 28);
  expect_addr(&r.src, AF_INET, "192.0.2.1", 56324);
  expect_addr(&r.dst, AF_INET, "198.51.100.7", 443);
  /* UDP over IPv4 carries the same address block */
  v2_hdr(buf, 0x21, 0x12, v4_block, sizeof v4_block);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_DONE);
  expect_addr(&r.src, AF_INET, "192.0.2.1", 56324);
}

static void test_v2_ipv6(void **state) {
  (void)state;
  uint8_t a[36], buf[64];
  size_t n = v2_hdr(buf, 0x21, 0x21, a, v6_block(a));
  wh_pp_result r;
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_DONE);
  assert_false(r.local);
  assert_int_equal(r.header_len, 52);
  expect_addr(&r.src, AF_INET6, "2001:db8::1", 12345);
  expect_addr(&r.dst, AF_INET6, "2001:db8::2", 80);
}

static void test_v2_local(void **state) {
  (void)state;
  uint8_t buf[64];
  wh_pp_result r;
  size_t n = v2_hdr(buf, 0x20, 0x00, NULL, 0);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_DONE);
  assert_true(r.local);
  assert_int_equal(r.header_len, 16);
  /* LOCAL ignores the family, even an invalid one, but still skips the block */
  n = v2_hdr(buf, 0x20, 0xff, v4_block, sizeof v4_block);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_DONE);
  assert_true(r.local);
  assert_int_equal(r.header_len, 28);
}

static void test_v2_unspec_and_unix_are_local(void **state) {
  (void)state;
  uint8_t buf[300], block[216];
  memset(block, 'x', sizeof block);
  wh_pp_result r;
  size_t n = v2_hdr(buf, 0x21, 0x00, v4_block, sizeof v4_block);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_DONE);
  assert_true(r.local);
  assert_int_equal(r.header_len, 28);
  n = v2_hdr(buf, 0x21, 0x31, block, sizeof block);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_DONE);
  assert_true(r.local);
  assert_int_equal(r.header_len, 16 + 216);
}

static void test_v2_tlvs_skipped(void **state) {
  (void)state;
  uint8_t block[12 + 4 + 3 + 10 + 3], buf[64];
  memcpy(block, v4_block, 12);
  size_t o = 12;
  block[o++] = 0x04; /* NOOP, 1 byte */
  block[o++] = 0x00;
  block[o++] = 0x01;
  block[o++] = 0x00;
  block[o++] = 0x04; /* NOOP, empty */
  block[o++] = 0x00;
  block[o++] = 0x00;
  block[o++] = 0x02; /* AUTHORITY "example" */
  block[o++] = 0x00;
  block[o++] = 0x07;
  memcpy(block + o, "example", 7);
  o += 7;
  block[o++] = 0xee; /* unknown type, empty */
  block[o++] = 0x00;
  block[o++] = 0x00;
  assert_int_equal(o, sizeof block);
  size_t n = v2_hdr(buf, 0x21, 0x11, block, sizeof block);
  memcpy(buf + n, "Z", 1);
  wh_pp_result r;
  assert_int_equal(wh_pp_parse(buf, n + 1, &r), WH_PP_DONE);
  assert_int_equal(r.header_len, n);
  assert_int_equal(buf[r.header_len], 'Z');
  expect_addr(&r.dst, AF_INET, "198.51.100.7", 443);
}

static void test_v2_bad_tlvs(void **state) {
  (void)state;
  uint8_t block[12 + 5], buf[64];
  wh_pp_result r;
  memcpy(block, v4_block, 12);
  /* a TLV claiming more bytes than the header has */
  block[12] = 0x02;
  block[13] = 0x00;
  block[14] = 0x03;
  block[15] = 'a';
  block[16] = 'b';
  size_t n = v2_hdr(buf, 0x21, 0x11, block, 17);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
  /* two stray bytes: too short for a TLV header */
  n = v2_hdr(buf, 0x21, 0x11, block, 14);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
}

static void test_v2_truncated(void **state) {
  (void)state;
  uint8_t a[36], buf[64];
  size_t n = v2_hdr(buf, 0x21, 0x21, a, v6_block(a));
  for (size_t k = 0; k < n; k++) {
    wh_pp_result r;
    wh_pp_status st = wh_pp_parse(buf, k, &r);
    if (st != WH_PP_MORE)
      fail_msg("prefix of %zu bytes: status %d, want MORE", k, st);
  }
  wh_pp_result r;
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_DONE);
}

static void test_v2_bad_version(void **state) {
  (void)state;
  uint8_t buf[64];
  wh_pp_result r;
  const uint8_t vers[] = {0x11, 0x31, 0x01, 0xf1};
  for (size_t i = 0; i < sizeof vers; i++) {
    size_t n = v2_hdr(buf, vers[i], 0x11, v4_block, sizeof v4_block);
    assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
    assert_int_equal(wh_pp_parse(buf, 13, &r), WH_PP_BAD); /* decided at byte 13 */
  }
}

static void test_v2_bad_command_or_family(void **state) {
  (void)state;
  uint8_t buf[300], block[216];
  memset(block, 0, sizeof block);
  wh_pp_result r;
  size_t n = v2_hdr(buf, 0x22, 0x11, v4_block, sizeof v4_block);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
  const uint8_t fams[] = {0x41, 0x13, 0xf1, 0x1f};
  for (size_t i = 0; i < sizeof fams; i++) {
    n = v2_hdr(buf, 0x21, fams[i], block, sizeof block);
    assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
    assert_int_equal(wh_pp_parse(buf, 14, &r), WH_PP_BAD); /* decided at byte 14 */
  }
}

static void test_v2_length_cap(void **state) {
  (void)state;
  uint8_t *buf = calloc(1, WH_PP_MAX_HEADER + 1);
  assert_non_null(buf);
  wh_pp_result r;
  /* one byte over the cap is BAD from the fixed part alone */
  size_t alen = WH_PP_MAX_HEADER - 16 + 1;
  v2_hdr(buf, 0x20, 0x00, NULL, 0);
  buf[14] = (uint8_t)(alen >> 8);
  buf[15] = (uint8_t)alen;
  assert_int_equal(wh_pp_parse(buf, 16, &r), WH_PP_BAD);
  buf[14] = buf[15] = 0xff;
  assert_int_equal(wh_pp_parse(buf, 16, &r), WH_PP_BAD);
  /* exactly at the cap is waited for, then accepted */
  alen = WH_PP_MAX_HEADER - 16;
  buf[14] = (uint8_t)(alen >> 8);
  buf[15] = (uint8_t)alen;
  assert_int_equal(wh_pp_parse(buf, 16, &r), WH_PP_MORE);
  assert_int_equal(wh_pp_parse(buf, WH_PP_MAX_HEADER - 1, &r), WH_PP_MORE);
  assert_int_equal(wh_pp_parse(buf, WH_PP_MAX_HEADER, &r), WH_PP_DONE);
  assert_int_equal(r.header_len, WH_PP_MAX_HEADER);
  free(buf);
}

static void test_v2_address_block_too_short(void **state) {
  (void)state;
  uint8_t a[36], buf[64];
  v6_block(a);
  wh_pp_result r;
  size_t n = v2_hdr(buf, 0x21, 0x11, v4_block, 11);
  assert_int_equal(wh_pp_parse(buf, 16, &r), WH_PP_BAD); /* known before the block arrives */
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
  n = v2_hdr(buf, 0x21, 0x21, a, 35);
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
  n = v2_hdr(buf, 0x21, 0x21, a, 12); /* an IPv4-sized block under an IPv6 family */
  assert_int_equal(wh_pp_parse(buf, n, &r), WH_PP_BAD);
}

/* ---- absent ------------------------------------------------------------ */

static void test_absent_http(void **state) {
  (void)state;
  const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t k = 1; k <= strlen(req); k++) {
    wh_pp_result r;
    assert_int_equal(wh_pp_parse((const uint8_t *)req, k, &r), WH_PP_ABSENT);
  }
}

static void test_absent_tls_first_byte(void **state) {
  (void)state;
  const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  wh_pp_result r;
  assert_int_equal(wh_pp_parse(hello, 1, &r), WH_PP_ABSENT);
  assert_int_equal(wh_pp_parse(hello, sizeof hello, &r), WH_PP_ABSENT);
}

static void test_absent_near_misses(void **state) {
  (void)state;
  wh_pp_result r;
  assert_int_equal(wh_pp_parse((const uint8_t *)"", 0, &r), WH_PP_MORE);
  expect_status("P", WH_PP_MORE);
  expect_status("PROXY", WH_PP_MORE);
  expect_status("PROXX", WH_PP_ABSENT);
  expect_status("PROXY\t", WH_PP_ABSENT);
  expect_status("proxy TCP4", WH_PP_ABSENT);
  expect_status("POST / HTTP/1.1", WH_PP_ABSENT);
  expect_status("\r\n", WH_PP_MORE);
  expect_status("\r\n\r\n", WH_PP_MORE);
  expect_status("\r\nGET", WH_PP_ABSENT);
  uint8_t s[12];
  memcpy(s, sig, 12);
  s[11] = 'X';
  assert_int_equal(wh_pp_parse(s, 12, &r), WH_PP_ABSENT);
  assert_int_equal(wh_pp_parse(s, 11, &r), WH_PP_MORE);
}

static void test_out_untouched_unless_done(void **state) {
  (void)state;
  wh_pp_result r, before;
  memset(&r, 0x5a, sizeof r);
  before = r;
  assert_int_equal(wh_pp_parse((const uint8_t *)"PROXY TCP4 1.2", 14, &r), WH_PP_MORE);
  assert_int_equal(wh_pp_parse((const uint8_t *)"GET", 3, &r), WH_PP_ABSENT);
  assert_int_equal(wh_pp_parse((const uint8_t *)"PROXY TCP9", 10, &r), WH_PP_BAD);
  assert_memory_equal(&r, &before, sizeof r);
}

/* ---- write ------------------------------------------------------------- */

static void roundtrip(int version, const char *sip, unsigned sport, const char *dip,
                      unsigned dport) {
  struct sockaddr_storage s = sa(sip, sport), d = sa(dip, dport);
  uint8_t buf[WH_PP_V1_WRITE_MAX];
  int n = wh_pp_write(version, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf);
  assert_true(n > 0);
  assert_true((size_t)n <= (version == 1 ? WH_PP_V1_WRITE_MAX : WH_PP_V2_WRITE_MAX));
  wh_pp_result r;
  assert_int_equal(wh_pp_parse(buf, (size_t)n, &r), WH_PP_DONE);
  assert_int_equal(r.header_len, (size_t)n);
  assert_false(r.local);
  expect_addr(&r.src, s.ss_family, sip, sport);
  expect_addr(&r.dst, d.ss_family, dip, dport);
}

static void test_roundtrip_v1(void **state) {
  (void)state;
  roundtrip(1, "192.168.0.1", 56324, "192.168.0.11", 443);
  roundtrip(1, "0.0.0.0", 0, "255.255.255.255", 65535);
  roundtrip(1, "2001:db8::1", 1, "::", 2);
  roundtrip(1, "::1", 3, "fe80::1:0:0:2", 4);
  roundtrip(1, "1::", 5, "1:0:0:2::3", 6);
  roundtrip(1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
}

static void test_roundtrip_v2(void **state) {
  (void)state;
  roundtrip(2, "192.168.0.1", 56324, "192.168.0.11", 443);
  roundtrip(2, "0.0.0.0", 0, "255.255.255.255", 65535);
  roundtrip(2, "2001:db8::1", 1, "::", 2);
  roundtrip(2, "::ffff:10.0.0.1", 3, "::1", 4);
}

static void test_write_exact_bytes(void **state) {
  (void)state;
  struct sockaddr_storage s = sa("192.168.0.1", 56324), d = sa("192.168.0.11", 443);
  uint8_t buf[128];
  const char *want = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  int n = wh_pp_write(1, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(buf, want, strlen(want));

  s = sa("2001:db8:0:0:1:0:0:1", 1);
  d = sa("::ffff:10.0.0.1", 2);
  want = "PROXY TCP6 2001:db8::1:0:0:1 ::ffff:a00:1 1 2\r\n";
  n = wh_pp_write(1, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(buf, want, strlen(want));

  s = sa("192.0.2.1", 56324);
  d = sa("198.51.100.7", 443);
  uint8_t v2[64];
  size_t vn = v2_hdr(v2, 0x21, 0x11, v4_block, sizeof v4_block);
  n = wh_pp_write(2, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf);
  assert_int_equal(n, vn);
  assert_memory_equal(buf, v2, vn);
}

static void test_write_mixed_families(void **state) {
  (void)state;
  struct sockaddr_storage s = sa("10.0.0.1", 1000), d = sa("2001:db8::2", 443);
  uint8_t buf[128];
  wh_pp_result r;
  const char *want = "PROXY TCP6 ::ffff:a00:1 2001:db8::2 1000 443\r\n";
  int n = wh_pp_write(1, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(buf, want, strlen(want));
  assert_int_equal(wh_pp_parse(buf, (size_t)n, &r), WH_PP_DONE);
  expect_addr(&r.src, AF_INET6, "::ffff:10.0.0.1", 1000);
  expect_addr(&r.dst, AF_INET6, "2001:db8::2", 443);

  /* the other way round, in v2 */
  n = wh_pp_write(2, (struct sockaddr *)&d, (struct sockaddr *)&s, buf, sizeof buf);
  assert_int_equal(n, 52);
  assert_int_equal(buf[13], 0x21);
  assert_int_equal(wh_pp_parse(buf, (size_t)n, &r), WH_PP_DONE);
  expect_addr(&r.src, AF_INET6, "2001:db8::2", 443);
  expect_addr(&r.dst, AF_INET6, "::ffff:10.0.0.1", 1000);
}

static void test_write_unknown_family(void **state) {
  (void)state;
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  struct sockaddr_storage d = sa("10.0.0.2", 80);
  uint8_t buf[128];
  wh_pp_result r;
  int n = wh_pp_write(1, (struct sockaddr *)&un, (struct sockaddr *)&d, buf, sizeof buf);
  assert_int_equal(n, 15);
  assert_memory_equal(buf, "PROXY UNKNOWN\r\n", 15);
  n = wh_pp_write(2, NULL, (struct sockaddr *)&d, buf, sizeof buf);
  assert_int_equal(n, 16);
  assert_int_equal(buf[12], 0x20); /* LOCAL */
  assert_int_equal(wh_pp_parse(buf, (size_t)n, &r), WH_PP_DONE);
  assert_true(r.local);
}

static void test_write_cap_and_version(void **state) {
  (void)state;
  struct sockaddr_storage s = sa("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
                          d = sa("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
  uint8_t buf[WH_PP_V1_WRITE_MAX + 8];
  for (int v = 1; v <= 2; v++) {
    int full = wh_pp_write(v, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf);
    assert_true(full > 0);
    /* one byte short fails and leaves the rest of the buffer alone */
    memset(buf, '#', sizeof buf);
    assert_true(
        wh_pp_write(v, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, (size_t)full - 1) < 0);
    assert_int_equal(buf[full - 1], '#');
    assert_int_equal(buf[full], '#');
    assert_int_equal(
        wh_pp_write(v, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, (size_t)full), full);
    assert_true(wh_pp_write(v, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, 0) < 0);
  }
  assert_int_equal(
      wh_pp_write(1, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, WH_PP_V1_WRITE_MAX),
      104); /* the spec's worst case TCP6 line */
  assert_true(wh_pp_write(0, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf) < 0);
  assert_true(wh_pp_write(3, (struct sockaddr *)&s, (struct sockaddr *)&d, buf, sizeof buf) < 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_tcp4),
      cmocka_unit_test(test_v1_tcp6),
      cmocka_unit_test(test_v1_unknown),
      cmocka_unit_test(test_v1_split_every_byte),
      cmocka_unit_test(test_v1_too_long),
      cmocka_unit_test(test_v1_bad_ip),
      cmocka_unit_test(test_v1_bad_port),
      cmocka_unit_test(test_v1_port_range),
      cmocka_unit_test(test_v1_missing_crlf),
      cmocka_unit_test(test_v1_extra_spaces),
      cmocka_unit_test(test_v1_bad_protocol),
      cmocka_unit_test(test_v2_ipv4),
      cmocka_unit_test(test_v2_ipv6),
      cmocka_unit_test(test_v2_local),
      cmocka_unit_test(test_v2_unspec_and_unix_are_local),
      cmocka_unit_test(test_v2_tlvs_skipped),
      cmocka_unit_test(test_v2_bad_tlvs),
      cmocka_unit_test(test_v2_truncated),
      cmocka_unit_test(test_v2_bad_version),
      cmocka_unit_test(test_v2_bad_command_or_family),
      cmocka_unit_test(test_v2_length_cap),
      cmocka_unit_test(test_v2_address_block_too_short),
      cmocka_unit_test(test_absent_http),
      cmocka_unit_test(test_absent_tls_first_byte),
      cmocka_unit_test(test_absent_near_misses),
      cmocka_unit_test(test_out_untouched_unless_done),
      cmocka_unit_test(test_roundtrip_v1),
      cmocka_unit_test(test_roundtrip_v2),
      cmocka_unit_test(test_write_exact_bytes),
      cmocka_unit_test(test_write_mixed_families),
      cmocka_unit_test(test_write_unknown_family),
      cmocka_unit_test(test_write_cap_and_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
