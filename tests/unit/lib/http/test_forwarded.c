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

#include "lib/core/err.h"
#include "lib/http/forwarded.h"

static char *dump(const wh_headers *h) {
  static char buf[8192];
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < h->n; i++)
    off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s: %s", i ? "|" : "", h->v[i].name,
                            h->v[i].value);
  return buf;
}

/* Builds a list from "Name: value" lines. */
static void build(wh_headers *h, const char *const *lines) {
  wh_headers_init(h);
  for (; *lines; lines++) {
    const char *colon = strchr(*lines, ':');
    assert_non_null(colon);
    assert_int_equal(
        wh_headers_add(h, *lines, (size_t)(colon - *lines), colon + 1, strlen(colon + 1)), WH_OK);
  }
}

static struct sockaddr_storage peer(const char *ip) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(51000);
  } else {
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(51000);
  }
  return ss;
}

/* A plain-HTTP request from 203.0.113.7 for example.com, untrusted. */
static wh_fwd_ctx base_ctx(const struct sockaddr_storage *ss) {
  return (wh_fwd_ctx){.client = (const struct sockaddr *)ss,
                      .trusted = false,
                      .is_tls = false,
                      .is_websocket = false,
                      .host = "example.com",
                      .server = "wharf-1",
                      .not_append_xff = false};
}

static void expect(const wh_headers *h, const char *name, const char *value) {
  const char *got = wh_headers_get(h, name);
  if (!value) {
    if (got)
      fail_msg("%s: expected absent, got \"%s\"", name, got);
    return;
  }
  if (!got)
    fail_msg("%s: expected \"%s\", absent", name, value);
  assert_string_equal(got, value);
  assert_int_equal(wh_headers_count(h, name), 1);
}

static const char *const managed_names[] = {
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Server",
    "X-Forwarded-Uri",
    "X-Forwarded-Method",
    "X-Forwarded-Prefix",
    "X-Forwarded-Scheme",
    "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
    "X-Scheme",
    "X-Real-Ip",
};
#define N_MANAGED (sizeof managed_names / sizeof managed_names[0])

/* ---- hop-by-hop ---------------------------------------------------------- */

static void test_hop_fixed_set_removed(void **state) {
  (void)state;
  wh_headers h;
  build(&h,
        (const char *const[]){"Accept: */*", "Connection: keep-alive", "Keep-Alive: timeout=5",
                              "Proxy-Connection: keep-alive", "Proxy-Authenticate: Basic",
                              "Proxy-Authorization: Basic Zm9vOmJhcg==", "te: trailers",
                              "Trailer: X-Checksum", "Transfer-Encoding: chunked",
                              "Upgrade: websocket", "User-Agent: curl", "Host: a.example", NULL});
  wh_hop_by_hop_strip(&h, false);
  assert_string_equal(dump(&h), "Accept: */*|User-Agent: curl|Host: a.example");
  wh_headers_free(&h);
}

static void test_connection_tokens_remove_fields(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"x-custom: 1", "Connection: X-CUSTOM, foo", "Foo: 2", "Bar: 3",
                                  "connection: bar", "Fooo: 4", NULL});
  wh_hop_by_hop_strip(&h, false);
  assert_string_equal(dump(&h), "Fooo: 4");
  wh_headers_free(&h);
}

/* HARDENING 17: the proxy-owned headers survive being named by Connection. */
static void test_h17_connection_cannot_remove_proxy_headers(void **state) {
  (void)state;
  wh_headers h;
  build(&h,
        (const char *const[]){"Connection: close, X-Forwarded-For, x-real-ip",
                              "X-Forwarded-For: 198.51.100.1", "X-Real-Ip: 198.51.100.1", NULL});
  wh_hop_by_hop_strip(&h, false);
  assert_string_equal(dump(&h), "X-Forwarded-For: 198.51.100.1|X-Real-Ip: 198.51.100.1");
  wh_headers_free(&h);
}

static void test_h17_every_managed_name_survives(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  char conn[1024] = "close";
  for (size_t i = 0; i < N_MANAGED; i++) {
    wh_headers_add_cstr(&h, managed_names[i], "v");
    strcat(conn, ", ");
    strcat(conn, managed_names[i]);
  }
  wh_headers_add_cstr(&h, "Connection", conn);
  wh_hop_by_hop_strip(&h, false);
  assert_int_equal(h.n, N_MANAGED);
  for (size_t i = 0; i < N_MANAGED; i++)
    expect(&h, managed_names[i], "v");
  wh_headers_free(&h);
}

/* HARDENING 17 end to end: an untrusted client's Connection list does not
 * stop the proxy's own values from reaching the upstream. */
static void test_h17_untrusted_pipeline(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Host: example.com",
                                  "Connection: close, X-Forwarded-For, x-real-ip", NULL});
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  wh_hop_by_hop_strip(&h, false);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-For", "203.0.113.7");
  expect(&h, "X-Real-Ip", "203.0.113.7");
  expect(&h, "Connection", NULL);
  wh_headers_free(&h);
}

/* Go keeps Host and Content-Length outside its header map, so Connection can
 * never remove them there; it must not here either. */
static void test_connection_cannot_remove_host_or_length(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Host: a.example", "Content-Length: 5",
                                  "Connection: host, content-length, cookie", "Cookie: s=1", NULL});
  wh_hop_by_hop_strip(&h, false);
  assert_string_equal(dump(&h), "Host: a.example|Content-Length: 5");
  wh_headers_free(&h);
}

static void test_websocket_upgrade_kept(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Host: a.example", "Connection: keep-alive, Upgrade",
                                  "Upgrade: WebSocket", "Sec-WebSocket-Key: abc", NULL});
  wh_hop_by_hop_strip(&h, true);
  assert_string_equal(dump(&h), "Host: a.example|Upgrade: WebSocket|Sec-WebSocket-Key: abc|"
                                "Connection: Upgrade");
  wh_headers_free(&h);
}

static void test_upgrade_dropped_without_keep(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Connection: Upgrade", "Upgrade: websocket", "A: 1", NULL});
  wh_hop_by_hop_strip(&h, false);
  assert_string_equal(dump(&h), "A: 1");
  wh_headers_free(&h);
}

/* HARDENING 11: h2c is never forwarded, nor its settings. */
static void test_h2c_never_kept(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                  "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA", "A: 1", NULL});
  wh_hop_by_hop_strip(&h, true);
  assert_string_equal(dump(&h), "A: 1");
  wh_headers_free(&h);
}

static void test_h2c_with_websocket_not_kept(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Connection: upgrade", "Upgrade: websocket", "Upgrade: H2C",
                                  "A: 1", NULL});
  wh_hop_by_hop_strip(&h, true);
  assert_string_equal(dump(&h), "A: 1");
  wh_headers_free(&h);
}

static void test_http2_settings_always_removed(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"HTTP2-Settings: AAMAAABkAAQAAP__", "A: 1", NULL});
  wh_hop_by_hop_strip(&h, false);
  assert_string_equal(dump(&h), "A: 1");
  wh_headers_free(&h);
}

/* keep_upgrade without the Connection upgrade token is not an upgrade: the
 * backend must not be told to switch protocols. */
static void test_keep_upgrade_requires_connection_token(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Connection: keep-alive", "Upgrade: websocket", "A: 1", NULL});
  wh_hop_by_hop_strip(&h, true);
  assert_string_equal(dump(&h), "A: 1");
  wh_headers_free(&h);
  build(&h, (const char *const[]){"Upgrade: websocket", NULL});
  wh_hop_by_hop_strip(&h, true);
  assert_int_equal(h.n, 0);
  wh_headers_free(&h);
}

static void test_keep_upgrade_non_websocket_dropped(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Connection: Upgrade", "Upgrade: TLS/1.2", "A: 1", NULL});
  wh_hop_by_hop_strip(&h, true);
  assert_string_equal(dump(&h), "A: 1");
  wh_headers_free(&h);
}

/* ---- X-Forwarded-* ------------------------------------------------------- */

static void test_defaults_plain_http(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Host: example.com", "Accept: */*", NULL});
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  assert_string_equal(dump(&h), "Host: example.com|Accept: */*|X-Real-Ip: 203.0.113.7|"
                                "X-Forwarded-Proto: http|X-Forwarded-Port: 80|"
                                "X-Forwarded-Host: example.com|X-Forwarded-Server: wharf-1|"
                                "X-Forwarded-For: 203.0.113.7");
  wh_headers_free(&h);
}

static void test_defaults_tls(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.is_tls = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Proto", "https");
  expect(&h, "X-Forwarded-Port", "443");
  wh_headers_free(&h);
}

static void test_websocket_ws_and_wss(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.is_websocket = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Proto", "ws");
  expect(&h, "X-Forwarded-Port", "80");
  wh_headers_clear(&h);
  ctx.is_tls = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Proto", "wss");
  expect(&h, "X-Forwarded-Port", "443");
  wh_headers_free(&h);
}

static void test_port_from_host(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.host = "example.com:8080";
  ctx.is_tls = true; /* the Host port wins over TLS */
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Port", "8080");
  expect(&h, "X-Forwarded-Host", "example.com:8080"); /* port included */
  wh_headers_free(&h);
}

static void test_port_from_ipv6_host(void **state) {
  (void)state;
  static const struct {
    const char *host, *port;
  } cases[] = {
      {"[::1]:8443", "8443"}, {"[::1]", "80"},          {"::1", "80"},
      {"example.com:", "80"}, {"[2001:db8::1]:", "80"}, {"10.0.0.1:3000", "3000"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wh_headers h;
    wh_headers_init(&h);
    struct sockaddr_storage ss = peer("203.0.113.7");
    wh_fwd_ctx ctx = base_ctx(&ss);
    ctx.host = cases[i].host;
    assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
    if (strcmp(wh_headers_get(&h, "X-Forwarded-Port"), cases[i].port) != 0)
      fail_msg("Host %s: port %s, want %s", cases[i].host, wh_headers_get(&h, "X-Forwarded-Port"),
               cases[i].port);
    expect(&h, "X-Forwarded-Host", cases[i].host);
    wh_headers_free(&h);
  }
}

/* A trusted upstream's https decides the port on a plain connection. */
static void test_port_from_trusted_proto(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Forwarded-Proto: https", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.trusted = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Proto", "https");
  expect(&h, "X-Forwarded-Port", "443");
  wh_headers_free(&h);
  build(&h, (const char *const[]){"X-Forwarded-Proto: wss", NULL});
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Port", "443");
  wh_headers_free(&h);
}

static void test_no_host(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.host = NULL;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Host", NULL);
  expect(&h, "X-Forwarded-Port", "80");
  wh_headers_clear(&h);
  ctx.host = "";
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Host", NULL);
  wh_headers_free(&h);
}

static void test_untrusted_loses_every_managed_header(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  for (size_t i = 0; i < N_MANAGED; i++)
    wh_headers_add_cstr(&h, managed_names[i], "forged");
  wh_headers_add_cstr(&h, "Accept", "*/*");
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  assert_string_equal(dump(&h), "Accept: */*|X-Real-Ip: 203.0.113.7|"
                                "X-Forwarded-Proto: http|X-Forwarded-Port: 80|"
                                "X-Forwarded-Host: example.com|X-Forwarded-Server: wharf-1|"
                                "X-Forwarded-For: 203.0.113.7");
  wh_headers_free(&h);
}

/* HARDENING 16: underscore spellings, in any case. */
static void test_h16_underscore_spellings(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X_Forwarded_For: 1.1.1.1", "x_real_ip: 1.1.1.1",
                                  "X_FORWARDED_PROTO: https", "x_forwarded_host: evil.example",
                                  "X_Scheme: https", "x_forwarded_tls_client_cert: MII",
                                  "X_Forwarded_Prefix: /admin", "Keep_Me: 1", NULL});
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  assert_string_equal(dump(&h), "Keep_Me: 1|X-Real-Ip: 203.0.113.7|"
                                "X-Forwarded-Proto: http|X-Forwarded-Port: 80|"
                                "X-Forwarded-Host: example.com|X-Forwarded-Server: wharf-1|"
                                "X-Forwarded-For: 203.0.113.7");
  wh_headers_free(&h);
}

/* HARDENING 16: dot and mixed separators name the same CGI variable. */
static void test_h16_dot_and_mixed_spellings(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X.Forwarded.Proto: https", "X-Forwarded_For: 1.1.1.1",
                                  "x.real_ip: 1.1.1.1", "X-Forwarded-Uri: /admin",
                                  "X--Forwarded-For: keep", NULL});
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Proto", "http");
  expect(&h, "X-Forwarded-For", "203.0.113.7");
  expect(&h, "X-Real-Ip", "203.0.113.7");
  expect(&h, "X-Forwarded-Uri", NULL);
  expect(&h, "X.Forwarded.Proto", NULL);
  expect(&h, "X--Forwarded-For", "keep"); /* a different name */
  wh_headers_free(&h);
}

/* HARDENING 16: RFC 7239 Forwarded goes for untrusted peers (Traefik keeps it). */
static void test_h16_untrusted_forwarded_stripped(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Forwarded: for=1.1.1.1;proto=https", "forwarded: for=2.2.2.2",
                                  NULL});
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "Forwarded", NULL);
  wh_headers_free(&h);
}

static void test_trusted_keeps_incoming_values(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Real-Ip: 198.51.100.9", "X-Forwarded-Proto: https",
                                  "X-Forwarded-Port: 8443", "X-Forwarded-Host: front.example",
                                  "X-Forwarded-Server: front-lb", "X-Forwarded-Uri: /orig",
                                  "Forwarded: for=198.51.100.9", "X_Forwarded_Prefix: /p",
                                  "X-Forwarded-For: 198.51.100.9", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.trusted = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  assert_string_equal(dump(&h), "X-Real-Ip: 198.51.100.9|X-Forwarded-Proto: https|"
                                "X-Forwarded-Port: 8443|X-Forwarded-Host: front.example|"
                                "X-Forwarded-Server: wharf-1|X-Forwarded-Uri: /orig|"
                                "Forwarded: for=198.51.100.9|X_Forwarded_Prefix: /p|"
                                "X-Forwarded-For: 198.51.100.9, 10.0.0.2");
  wh_headers_free(&h);
}

/* The same headers from an untrusted peer are all replaced. */
static void test_untrusted_loses_incoming_values(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Real-Ip: 198.51.100.9", "X-Forwarded-Proto: https",
                                  "X-Forwarded-Port: 8443", "X-Forwarded-Host: front.example",
                                  "X-Forwarded-For: 198.51.100.9", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Real-Ip", "10.0.0.2");
  expect(&h, "X-Forwarded-Proto", "http");
  expect(&h, "X-Forwarded-Port", "80");
  expect(&h, "X-Forwarded-Host", "example.com");
  expect(&h, "X-Forwarded-For", "10.0.0.2");
  wh_headers_free(&h);
}

/* Empty counts as absent, as Go's Header.Get(...) == "". */
static void test_trusted_empty_values_refilled(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Real-Ip: ", "X-Forwarded-Proto:", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.trusted = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Real-Ip", "10.0.0.2");
  expect(&h, "X-Forwarded-Proto", "http");
  wh_headers_free(&h);
}

static void test_xff_fields_joined(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"x-forwarded-for: 1.1.1.1", "A: 1",
                                  "X-Forwarded-For: 2.2.2.2, 3.3.3.3", "X-Forwarded-For: ", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.trusted = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-For", "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.2");
  assert_string_equal(h.v[0].name, "X-Forwarded-For"); /* first position kept */
  assert_string_equal(h.v[1].name, "A");
  wh_headers_free(&h);
}

static void test_not_append_xff_trusted(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Forwarded-For: 1.1.1.1", "X-Forwarded-For: 2.2.2.2", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.trusted = true;
  ctx.not_append_xff = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-For", "1.1.1.1, 2.2.2.2"); /* joined, as Traefik does, not appended */
  wh_headers_free(&h);
  build(&h, (const char *const[]){"x-forwarded-for: 1.1.1.1", NULL});
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  assert_string_equal(h.v[0].name, "x-forwarded-for"); /* a single field is left as received */
  assert_string_equal(h.v[0].value, "1.1.1.1");
  wh_headers_free(&h);
}

static void test_not_append_xff_untrusted(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Forwarded-For: 1.1.1.1", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.not_append_xff = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-For", NULL);
  expect(&h, "X-Real-Ip", "10.0.0.2");
  wh_headers_free(&h);
}

static void test_ipv6_peer(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Forwarded-For: 2001:db8::9", NULL});
  struct sockaddr_storage ss = peer("2001:DB8:0:0::1");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.trusted = true;
  ctx.host = "[2001:db8::80]:8080";
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Real-Ip", "2001:db8::1");
  expect(&h, "X-Forwarded-For", "2001:db8::9, 2001:db8::1"); /* no brackets */
  expect(&h, "X-Forwarded-Port", "8080");
  expect(&h, "X-Forwarded-Host", "[2001:db8::80]:8080");
  wh_headers_free(&h);
}

/* HARDENING 18 on output: a mapped peer is printed as IPv4. */
static void test_mapped_peer_printed_as_ipv4(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  struct sockaddr_storage ss = peer("::ffff:127.0.0.1");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Real-Ip", "127.0.0.1");
  expect(&h, "X-Forwarded-For", "127.0.0.1");
  wh_headers_free(&h);
}

static void test_server_always_replaced(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Forwarded-Server: a", "x-forwarded-server: b", NULL});
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  ctx.trusted = true;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Server", "wharf-1");
  wh_headers_free(&h);
  /* No host name known: a trusted upstream's value passes, a forged one not. */
  build(&h, (const char *const[]){"X-Forwarded-Server: a", NULL});
  ctx.server = NULL;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Server", "a");
  ctx.trusted = false;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Forwarded-Server", NULL);
  wh_headers_free(&h);
}

/* Without a usable peer address nothing claims an IP. */
static void test_no_client_address(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"X-Real-Ip: 1.1.1.1", "X-Forwarded-For: 1.1.1.1", NULL});
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  wh_fwd_ctx ctx = base_ctx(NULL);
  ctx.client = (const struct sockaddr *)&un;
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  expect(&h, "X-Real-Ip", NULL);
  expect(&h, "X-Forwarded-For", NULL);
  expect(&h, "X-Forwarded-Proto", "http");
  wh_headers_free(&h);
}

static void test_bad_arguments(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"A: 1", NULL});
  assert_int_equal(wh_forwarded_apply(&h, NULL), WH_EINVAL);
  struct sockaddr_storage ss = peer("10.0.0.2");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(NULL, &ctx), WH_EINVAL);
  wh_hop_by_hop_strip(NULL, true);
  assert_string_equal(dump(&h), "A: 1");
  wh_headers_free(&h);
}

static void test_addr_ip_string(void **state) {
  (void)state;
  char buf[INET6_ADDRSTRLEN];
  struct sockaddr_storage ss = peer("192.0.2.1");
  wh_addr_ip_string((const struct sockaddr *)&ss, buf, sizeof buf);
  assert_string_equal(buf, "192.0.2.1");
  ss = peer("::ffff:192.0.2.1");
  wh_addr_ip_string((const struct sockaddr *)&ss, buf, sizeof buf);
  assert_string_equal(buf, "192.0.2.1");
  ss = peer("fe80::1");
  ((struct sockaddr_in6 *)&ss)->sin6_scope_id = 2;
  wh_addr_ip_string((const struct sockaddr *)&ss, buf, sizeof buf);
  assert_string_equal(buf, "fe80::1"); /* no zone, no brackets */
  char tiny[4] = "xyz";
  wh_addr_ip_string((const struct sockaddr *)&ss, tiny, sizeof tiny);
  assert_string_equal(tiny, ""); /* too small: empty, never truncated */
  strcpy(buf, "junk");
  wh_addr_ip_string(NULL, buf, sizeof buf);
  assert_string_equal(buf, "");
}

static void test_apply_keeps_other_fields_in_order(void **state) {
  (void)state;
  wh_headers h;
  build(&h, (const char *const[]){"Host: example.com", "X-Forwarded-For: 6.6.6.6", "User-Agent: t",
                                  "X-Real-Ip: 6.6.6.6", "Accept: */*", "Cookie: a=b", NULL});
  struct sockaddr_storage ss = peer("203.0.113.7");
  wh_fwd_ctx ctx = base_ctx(&ss);
  assert_int_equal(wh_forwarded_apply(&h, &ctx), WH_OK);
  assert_string_equal(h.v[0].name, "Host");
  assert_string_equal(h.v[1].name, "User-Agent");
  assert_string_equal(h.v[2].name, "Accept");
  assert_string_equal(h.v[3].name, "Cookie");
  assert_int_equal(h.n, 4 + 6);
  wh_headers_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hop_fixed_set_removed),
      cmocka_unit_test(test_connection_tokens_remove_fields),
      cmocka_unit_test(test_h17_connection_cannot_remove_proxy_headers),
      cmocka_unit_test(test_h17_every_managed_name_survives),
      cmocka_unit_test(test_h17_untrusted_pipeline),
      cmocka_unit_test(test_connection_cannot_remove_host_or_length),
      cmocka_unit_test(test_websocket_upgrade_kept),
      cmocka_unit_test(test_upgrade_dropped_without_keep),
      cmocka_unit_test(test_h2c_never_kept),
      cmocka_unit_test(test_h2c_with_websocket_not_kept),
      cmocka_unit_test(test_http2_settings_always_removed),
      cmocka_unit_test(test_keep_upgrade_requires_connection_token),
      cmocka_unit_test(test_keep_upgrade_non_websocket_dropped),
      cmocka_unit_test(test_defaults_plain_http),
      cmocka_unit_test(test_defaults_tls),
      cmocka_unit_test(test_websocket_ws_and_wss),
      cmocka_unit_test(test_port_from_host),
      cmocka_unit_test(test_port_from_ipv6_host),
      cmocka_unit_test(test_port_from_trusted_proto),
      cmocka_unit_test(test_no_host),
      cmocka_unit_test(test_untrusted_loses_every_managed_header),
      cmocka_unit_test(test_h16_underscore_spellings),
      cmocka_unit_test(test_h16_dot_and_mixed_spellings),
      cmocka_unit_test(test_h16_untrusted_forwarded_stripped),
      cmocka_unit_test(test_trusted_keeps_incoming_values),
      cmocka_unit_test(test_untrusted_loses_incoming_values),
      cmocka_unit_test(test_trusted_empty_values_refilled),
      cmocka_unit_test(test_xff_fields_joined),
      cmocka_unit_test(test_not_append_xff_trusted),
      cmocka_unit_test(test_not_append_xff_untrusted),
      cmocka_unit_test(test_ipv6_peer),
      cmocka_unit_test(test_mapped_peer_printed_as_ipv4),
      cmocka_unit_test(test_server_always_replaced),
      cmocka_unit_test(test_no_client_address),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_addr_ip_string),
      cmocka_unit_test(test_apply_keeps_other_fields_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
