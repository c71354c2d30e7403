#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/headers.h"
#include "lib/observe/access_log.h"

/* ---- fixtures ------------------------------------------------------------ */
/* A configuration with every sub-section present, as the decoder fills them. */
typedef struct conf {
  wh_accesslog al;
  wh_accesslog_filters filters;
  wh_accesslog_fields fields;
  wh_accesslog_header_fields headers;
} conf;

static void conf_init(conf *c, const char *format) {
  memset(c, 0, sizeof(*c));
  c->al.format = (char *)format;
  c->fields.default_mode = "keep";
  c->headers.default_mode = "drop";
  c->fields.headers = &c->headers;
  c->al.fields = &c->fields;
}

static struct sockaddr_in peer4;

static struct sockaddr_in6 peer6;

static wh_headers reqh, resph;

/* 2023-11-14T22:13:20.123456789Z, 12.345678 ms, routed to a backend */
static wh_xrec base_rec(void) {
  memset(&peer4, 0, sizeof(peer4));
  peer4.sin_family = AF_INET;
  peer4.sin_port = htons(54321);
  inet_pton(AF_INET, "127.0.0.1", &peer4.sin_addr);
  wh_xrec r = {0};
  r.start_unix_ns = 1700000000123456789LL;
  r.duration_ns = 12345678;
  r.origin_duration_ns = 10000000;
  r.entrypoint = "web";
  r.peer = (const struct sockaddr *)&peer4;
  r.method = "GET";
  r.target = "/a?b=1";
  r.http_major = 1;
  r.http_minor = 1;
  r.host = "example.com:8000";
  r.req_headers = &reqh;
  r.router = "web@file";
  r.service = "svc@file";
  r.service_url = "http://127.0.0.1:8080";
  r.service_addr = "127.0.0.1:8080";
  r.origin_status = 200;
  r.origin_bytes = 5;
  r.status = 200;
  r.resp_bytes = 5;
  r.request_count = 42;
  r.conn_request_index = 1;
  return r;
}

/* A 404 that no router matched: wharf answered itself */
static wh_xrec no_router_rec(void) {
  wh_xrec r = base_rec();
  r.router = r.service = r.service_url = r.service_addr = NULL;
  r.origin_status = 0;
  r.origin_bytes = 0;
  r.origin_duration_ns = 0;
  r.status = 404;
  r.resp_bytes = 19;
  r.target = "/nowhere";
  return r;
}

static int setup(void **state) {
  (void)state;
  wh_headers_init(&reqh);
  wh_headers_init(&resph);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wh_headers_free(&reqh);
  wh_headers_free(&resph);
  return 0;
}

static wh_access_log *mk(const conf *c) {
  char err[256];
  wh_access_log *l = wh_access_log_new(&c->al, 2, err, sizeof(err));
  if (!l)
    fail_msg("wh_access_log_new: %s", err);
  return l;
}

/* The line for r, or "" when filtered out; static buffer. */
static const char *line_of(const wh_access_log *l, const wh_xrec *r) {
  static char buf[8192];
  wh_strbuf b = {0};
  bool ok = wh_access_log_format(l, r, &b);
  snprintf(buf, sizeof(buf), "%s", wh_strbuf_cstr(&b));
  assert_true(ok == (b.len > 0));
  wh_strbuf_free(&b);
  return buf;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return wh_strdup("");
  wh_strbuf b = {0};
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
    wh_strbuf_append(&b, tmp, n);
  fclose(f);
  return wh_strbuf_take(&b);
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* ---- formats ------------------------------------------------------------- */
static void test_common_exact(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  assert_string_equal(line_of(l, &r), "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /a?b=1 "
                                      "HTTP/1.1\" 200 5 \"-\" \"-\" 42 \"web@file\" "
                                      "\"http://127.0.0.1:8080\" 12ms\n");
  assert_false(wh_access_log_wants_resp_headers(l));
  wh_access_log_free(l);
  /* the default format is common; headers kept by name show in CLF */
  conf_init(&c, NULL);
  char *hk[] = {"User-Agent", "referer"};
  char *hv[] = {"keep", "keep"};
  c.headers.names = (wh_strmap){hk, hv, 2};
  l = mk(&c);
  wh_headers_add_cstr(&reqh, "user-agent", "curl/8.5.0");
  wh_headers_add_cstr(&reqh, "Referer", "http://a/");
  r.username = "alice";
  r.retries = 1;
  assert_string_equal(line_of(l, &r), "127.0.0.1 - alice [14/Nov/2023:22:13:20 +0000] \"GET /a?b=1 "
                                      "HTTP/1.1\" 200 5 \"http://a/\" \"curl/8.5.0\" 42 "
                                      "\"web@file\" \"http://127.0.0.1:8080\" 12ms\n");
  wh_access_log_free(l);
}

static void test_generic_clf_exact(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "genericCLF");
  char *hk[] = {"User-Agent"};
  char *hv[] = {"keep"};
  c.headers.names = (wh_strmap){hk, hv, 1};
  wh_access_log *l = mk(&c);
  wh_headers_add_cstr(&reqh, "User-Agent", "curl/8.5.0");
  wh_xrec r = base_rec();
  r.method = "POST";
  r.http_minor = 0;
  r.status = 201;
  r.resp_bytes = 0;
  assert_string_equal(line_of(l, &r), "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"POST /a?b=1 "
                                      "HTTP/1.0\" 201 0 \"-\" \"curl/8.5.0\"\n");
  wh_access_log_free(l);
}

static void test_json_exact(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "json");
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  assert_string_equal(
      line_of(l, &r),
      "{\"ClientAddr\":\"127.0.0.1:54321\",\"ClientHost\":\"127.0.0.1\",\"ClientPort\":\"54321\","
      "\"ClientUsername\":\"-\",\"DownstreamContentSize\":5,\"DownstreamStatus\":200,"
      "\"Duration\":12345678,\"OriginContentSize\":5,\"OriginDuration\":10000000,"
      "\"OriginStatus\":200,\"Overhead\":2345678,\"RequestAddr\":\"example.com:8000\","
      "\"RequestContentSize\":0,\"RequestCount\":42,\"RequestHost\":\"example.com\","
      "\"RequestMethod\":\"GET\",\"RequestPath\":\"/a?b=1\",\"RequestPort\":\"8000\","
      "\"RequestProtocol\":\"HTTP/1.1\",\"RequestScheme\":\"http\",\"RetryAttempts\":0,"
      "\"RouterName\":\"web@file\",\"ServiceAddr\":\"127.0.0.1:8080\","
      "\"ServiceName\":\"svc@file\",\"ServiceURL\":\"http://127.0.0.1:8080\","
      "\"StartLocal\":\"2023-11-15T00:13:20.123456789+02:00\","
      "\"StartUTC\":\"2023-11-14T22:13:20.123456789Z\",\"entryPointName\":\"web\","
      "\"level\":\"info\",\"msg\":\"\",\"time\":\"2023-11-15T00:13:20+02:00\"}\n");
  assert_false(wh_access_log_wants_resp_headers(l)); /* headers drop by default */
  wh_access_log_free(l);
}

static void test_json_tls_gzip_user(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "json");
  char *fk[] = {"ClientAddr",  "ClientHost",  "ClientPort",  "Duration",          "OriginDuration",
                "Overhead",    "StartLocal",  "StartUTC",    "RequestCount",      "entryPointName",
                "RequestAddr", "RequestHost", "RequestPort", "RequestContentSize"};
  char *fv[] = {"drop", "drop", "drop", "drop", "drop", "drop", "drop",
                "drop", "drop", "drop", "drop", "drop", "drop", "drop"};
  c.fields.names = (wh_strmap){fk, fv, 14};
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  r.tls = true;
  r.tls_version = "1.3";
  r.tls_cipher = "TLS_AES_128_GCM_SHA256";
  r.username = "bob";
  r.origin_bytes = 1000;
  r.resp_bytes = 400;
  r.retries = 2;
  r.http_major = 2;
  r.http_minor = 0;
  r.target = "http://example.com:8000/x/y?z";
  r.start_unix_ns = 1700000000000000000LL; /* no fraction: Go prints none */
  assert_string_equal(
      line_of(l, &r),
      "{\"ClientUsername\":\"bob\",\"DownstreamContentSize\":400,\"DownstreamStatus\":200,"
      "\"GzipRatio\":2.5,\"OriginContentSize\":1000,\"OriginStatus\":200,"
      "\"RequestMethod\":\"GET\",\"RequestPath\":\"/x/y?z\",\"RequestProtocol\":\"HTTP/2.0\","
      "\"RequestScheme\":\"https\",\"RetryAttempts\":2,\"RouterName\":\"web@file\","
      "\"ServiceAddr\":\"127.0.0.1:8080\",\"ServiceName\":\"svc@file\","
      "\"ServiceURL\":\"http://127.0.0.1:8080\",\"TLSCipher\":\"TLS_AES_128_GCM_SHA256\","
      "\"TLSVersion\":\"1.3\",\"level\":\"info\",\"msg\":\"\","
      "\"time\":\"2023-11-15T00:13:20+02:00\"}\n");
  /* Go's shortest float forms */
  r.origin_bytes = 1;
  r.resp_bytes = 3;
  assert_non_null(strstr(line_of(l, &r), "\"GzipRatio\":0.3333333333333333,"));
  r.resp_bytes = 10000000;
  assert_non_null(strstr(line_of(l, &r), "\"GzipRatio\":1e-7,"));
  r.origin_bytes = 123;
  r.resp_bytes = 1;
  assert_non_null(strstr(line_of(l, &r), "\"GzipRatio\":123,"));
  wh_access_log_free(l);
}

static void test_no_router(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  wh_access_log *l = mk(&c);
  wh_xrec r = no_router_rec();
  assert_string_equal(line_of(l, &r), "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /nowhere "
                                      "HTTP/1.1\" 404 19 \"-\" \"-\" 42 \"-\" \"-\" 12ms\n");
  wh_access_log_free(l);
  conf_init(&c, "json");
  l = mk(&c);
  const char *j = line_of(l, &r);
  assert_null(strstr(j, "RouterName"));
  assert_null(strstr(j, "ServiceName"));
  assert_null(strstr(j, "ServiceURL"));
  assert_null(strstr(j, "ServiceAddr"));
  /* Traefik v3 initialises the origin fields to zero at the entry point */
  assert_non_null(strstr(j, "\"OriginStatus\":0,"));
  assert_non_null(strstr(j, "\"OriginContentSize\":0,"));
  assert_non_null(strstr(j, "\"OriginDuration\":0,"));
  assert_non_null(strstr(j, "\"GzipRatio\":0,"));
  assert_non_null(strstr(j, "\"Overhead\":12345678,"));
  wh_access_log_free(l);
}

static void test_missing_values_ipv6(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "json");
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  memset(&peer6, 0, sizeof(peer6));
  peer6.sin6_family = AF_INET6;
  peer6.sin6_port = htons(1234);
  inet_pton(AF_INET6, "::1", &peer6.sin6_addr);
  r.peer = (const struct sockaddr *)&peer6;
  r.host = "example.com";
  const char *j = line_of(l, &r);
  assert_non_null(strstr(j, "\"ClientAddr\":\"[::1]:1234\",\"ClientHost\":\"::1\","
                            "\"ClientPort\":\"1234\","));
  /* Host without a port: SplitHostPort fails, Traefik logs the value and "-" */
  assert_non_null(strstr(j, "\"RequestHost\":\"example.com\","));
  assert_non_null(strstr(j, "\"RequestPort\":\"-\","));
  /* no Host at all: the three Request{Addr,Host,Port} are absent */
  r.host = NULL;
  j = line_of(l, &r);
  assert_null(strstr(j, "RequestAddr"));
  assert_null(strstr(j, "RequestHost"));
  assert_null(strstr(j, "RequestPort"));
  /* IPv4-mapped: Go prints the dotted form */
  inet_pton(AF_INET6, "::ffff:10.1.2.3", &peer6.sin6_addr);
  j = line_of(l, &r);
  assert_non_null(strstr(j, "\"ClientAddr\":\"10.1.2.3:1234\",\"ClientHost\":\"10.1.2.3\","));
  wh_access_log_free(l);
  conf_init(&c, "common");
  l = mk(&c);
  r.peer = NULL;
  r.target = "";
  r.method = "GET";
  assert_string_equal(line_of(l, &r), "- - - [14/Nov/2023:22:13:20 +0000] \"GET - HTTP/1.1\" 200 5 "
                                      "\"-\" \"-\" 42 \"web@file\" \"http://127.0.0.1:8080\" "
                                      "12ms\n");
  wh_access_log_free(l);
}

static void test_forwarded_for(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  r.xff = "203.0.113.9, 10.0.0.1"; /* as the client sent it */
  /* untrusted peer: the socket's address, whatever the client claims */
  assert_true(strncmp(line_of(l, &r), "127.0.0.1 - - [", 15) == 0);
  r.fwd_trusted = true;
  assert_true(strncmp(line_of(l, &r), "203.0.113.9, 10.0.0.1 - - [", 27) == 0);
  /* the headers sent on (with wharf's hop appended) are not the client's claim */
  wh_headers_add_cstr(&reqh, "X-Forwarded-For", "198.51.100.7, 127.0.0.1");
  assert_true(strncmp(line_of(l, &r), "203.0.113.9, 10.0.0.1 - - [", 27) == 0);
  r.xff = NULL; /* none received: the socket's address */
  assert_true(strncmp(line_of(l, &r), "127.0.0.1 - - [", 15) == 0);
  r.xff = "203.0.113.9, 10.0.0.1";
  wh_access_log_free(l);

  conf_init(&c, "json");
  l = mk(&c);
  const char *j = line_of(l, &r);
  assert_non_null(strstr(j, "\"ClientAddr\":\"127.0.0.1:54321\",\"ClientHost\":\"203.0.113.9, "
                            "10.0.0.1\",\"ClientPort\":\"54321\","));
  wh_access_log_free(l);
}

/* ---- filters ------------------------------------------------------------- */
static void test_filter_status(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  char *codes[] = {"404", "500-502"};
  c.filters.status_codes = (wh_strlist){codes, 2};
  c.al.filters = &c.filters;
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  int want[][2] = {{200, 0}, {404, 1}, {403, 0}, {499, 0}, {500, 1}, {501, 1}, {502, 1}, {503, 0}};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    r.status = want[i][0];
    assert_int_equal(line_of(l, &r)[0] != 0, want[i][1]);
  }
  wh_access_log_free(l);
  /* an invalid entry makes the configuration unusable */
  char *bad[] = {"20x"};
  c.filters.status_codes = (wh_strlist){bad, 1};
  char err[128];
  assert_null(wh_access_log_new(&c.al, 1, err, sizeof(err)));
  assert_non_null(strstr(err, "20x"));
}

static void test_filter_retry_duration(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  c.al.filters = &c.filters;
  /* an empty filters section keeps everything */
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  assert_true(line_of(l, &r)[0] != 0);
  wh_access_log_free(l);
  c.filters.retry_attempts = true;
  l = mk(&c);
  assert_true(line_of(l, &r)[0] == 0);
  r.retries = 1;
  assert_true(line_of(l, &r)[0] != 0);
  wh_access_log_free(l);
  c.filters.retry_attempts = false;
  c.filters.min_duration = 12345678; /* kept when strictly longer */
  l = mk(&c);
  r.retries = 0;
  assert_true(line_of(l, &r)[0] == 0);
  r.duration_ns = 12345679;
  assert_true(line_of(l, &r)[0] != 0);
  wh_access_log_free(l);
  /* filters combine with "or" */
  char *codes[] = {"404"};
  c.filters.status_codes = (wh_strlist){codes, 1};
  c.filters.min_duration = 1000000000;
  l = mk(&c);
  r.duration_ns = 5;
  r.status = 404;
  assert_true(line_of(l, &r)[0] != 0);
  r.status = 200;
  assert_true(line_of(l, &r)[0] == 0);
  r.duration_ns = 2000000000;
  assert_true(line_of(l, &r)[0] != 0);
  wh_access_log_free(l);
}

static void test_internals(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  r.internal = true;
  r.router = "api@internal";
  assert_false(wh_access_log_wants_internals(l));
  assert_string_equal(line_of(l, &r), "");
  wh_access_log_free(l);
  c.al.add_internals = true;
  l = mk(&c);
  assert_true(wh_access_log_wants_internals(l));
  assert_non_null(strstr(line_of(l, &r), " \"api@internal\" "));
  wh_access_log_free(l);
}

/* ---- fields and headers -------------------------------------------------- */
static void test_fields_modes(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "json");
  c.fields.default_mode = "drop";
  char *fk[] = {"requestpath", "DOWNSTREAMSTATUS", "RouterName"};
  char *fv[] = {"keep", "keep", "bogus"}; /* an unknown mode leaves the default */
  c.fields.names = (wh_strmap){fk, fv, 3};
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  assert_string_equal(line_of(l, &r),
                      "{\"DownstreamStatus\":200,\"RequestPath\":\"/a?b=1\",\"level\":\"info\","
                      "\"msg\":\"\",\"time\":\"2023-11-15T00:13:20+02:00\"}\n");
  wh_access_log_free(l);
  /* CLF prints "-" for a dropped field, the time "-" without StartUTC and
   * StartLocal, and 0ms without Duration */
  conf_init(&c, "common");
  c.fields.default_mode = "drop";
  l = mk(&c);
  assert_string_equal(line_of(l, &r), "- - - [-] \"- - -\" - - \"-\" \"-\" - \"-\" \"-\" 0ms\n");
  wh_access_log_free(l);
  /* without StartUTC, CLF falls back on StartLocal, in local time */
  conf_init(&c, "common");
  char *fk2[] = {"StartUTC", "ClientHost"};
  char *fv2[] = {"drop", "drop"};
  c.fields.names = (wh_strmap){fk2, fv2, 2};
  l = mk(&c);
  assert_string_equal(line_of(l, &r), "- - - [15/Nov/2023:00:13:20 +0200] \"GET /a?b=1 HTTP/1.1\" "
                                      "200 5 \"-\" \"-\" 42 \"web@file\" "
                                      "\"http://127.0.0.1:8080\" 12ms\n");
  wh_access_log_free(l);
}

static void test_headers_modes_and_credentials(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "json");
  c.fields.default_mode = "drop";
  char *hk[] = {"user-agent", "X-Secret",   "Authorization", "Cookie",
                "Accept",     "Set-Cookie", "Content-Type",  "Proxy-Authorization"};
  char *hv[] = {"keep", "redact", "keep", "keep", "drop", "keep", "keep", "keep"};
  c.headers.names = (wh_strmap){hk, hv, 8};
  wh_access_log *l = mk(&c);
  assert_true(wh_access_log_wants_resp_headers(l));
  wh_headers_add_cstr(&reqh, "User-Agent", "curl/8");
  wh_headers_add_cstr(&reqh, "x-secret", "s3cr3t");
  wh_headers_add_cstr(&reqh, "authorization", "Basic YWxpY2U6cHc=");
  wh_headers_add_cstr(&reqh, "Cookie", "sid=abc");
  wh_headers_add_cstr(&reqh, "Accept", "*/*");
  wh_headers_add_cstr(&reqh, "Proxy-Authorization", "Bearer t");
  wh_headers_add_cstr(&reqh, "X-Other", "dropped by default");
  wh_headers_add_cstr(&reqh, "user-agent", "second");
  wh_headers_add_cstr(&resph, "Content-Type", "text/plain");
  wh_headers_add_cstr(&resph, "Set-Cookie", "sid=abc; HttpOnly");
  wh_xrec r = base_rec();
  r.resp_headers = &resph;
  assert_string_equal(
      line_of(l, &r),
      "{\"downstream_Content-Type\":\"text/plain\",\"downstream_Set-Cookie\":\"REDACTED\","
      "\"level\":\"info\",\"msg\":\"\",\"origin_Content-Type\":\"text/plain\","
      "\"origin_Set-Cookie\":\"REDACTED\",\"request_Authorization\":\"REDACTED\","
      "\"request_Cookie\":\"REDACTED\",\"request_Proxy-Authorization\":\"REDACTED\","
      "\"request_User-Agent\":\"curl/8,second\",\"request_X-Secret\":\"REDACTED\","
      "\"time\":\"2023-11-15T00:13:20+02:00\"}\n");
  /* no origin_ headers when no backend answered */
  r.origin_status = 0;
  assert_null(strstr(line_of(l, &r), "origin_"));
  wh_access_log_free(l);
  /* defaultMode keep still redacts credentials; CLF shows REDACTED headers */
  conf_init(&c, "json");
  c.headers.default_mode = "keep";
  l = mk(&c);
  const char *j = line_of(l, &r);
  assert_null(strstr(j, "YWxpY2U6cHc"));
  assert_null(strstr(j, "sid=abc"));
  assert_null(strstr(j, "Bearer"));
  assert_non_null(strstr(j, "\"request_X-Other\":\"dropped by default\""));
  wh_access_log_free(l);
  conf_init(&c, "common");
  char *hk2[] = {"User-Agent"};
  char *hv2[] = {"redact"};
  c.headers.names = (wh_strmap){hk2, hv2, 1};
  l = mk(&c);
  assert_false(wh_access_log_wants_resp_headers(l)); /* CLF shows no response header */
  assert_non_null(strstr(line_of(l, &r), " \"-\" \"REDACTED\" 42 "));
  wh_access_log_free(l);
}

static void test_injection(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  char *hk[] = {"User-Agent", "Referer"};
  char *hv[] = {"keep", "keep"};
  c.headers.names = (wh_strmap){hk, hv, 2};
  wh_access_log *l = mk(&c);
  wh_headers_add_cstr(&reqh, "User-Agent", "evil\" 200 0\nFAKE \x01<x>\\");
  wh_headers_add_cstr(&reqh, "Referer", "");
  wh_xrec r = base_rec();
  r.target = "/q\"x";
  const char *s = line_of(l, &r);
  assert_string_equal(s, "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /q\\\"x HTTP/1.1\" "
                         "200 5 \"-\" \"evil\\\" 200 0\\x0aFAKE \\x01<x>\\\\\" 42 \"web@file\" "
                         "\"http://127.0.0.1:8080\" 12ms\n");
  assert_int_equal(count_lines(s), 1);
  wh_access_log_free(l);
  conf_init(&c, "json");
  c.fields.default_mode = "drop";
  c.headers.names = (wh_strmap){hk, hv, 1};
  l = mk(&c);
  wh_headers_clear(&reqh);
  wh_headers_add_cstr(&reqh, "User-Agent", "a\"b\nc\t\x1f<&>\xff\xe2\x80\xa8\xc3\xa9");
  assert_string_equal(line_of(l, &r),
                      "{\"level\":\"info\",\"msg\":\"\",\"request_User-Agent\":"
                      "\"a\\\"b\\nc\\t\\u001f\\u003c\\u0026\\u003e\\ufffd\\u2028\xc3\xa9\","
                      "\"time\":\"2023-11-15T00:13:20+02:00\"}\n");
  wh_access_log_free(l);
}

/* ---- output -------------------------------------------------------------- */
static char *tmp_path(const char *name) {
  static int seq;
  char *p = wh_asprintf("/tmp/wh_alog_test_%d_%d_%s", (int)getpid(), seq++, name);
  unlink(p);
  return p;
}

static void test_unbuffered_and_mode(void **state) {
  (void)state;
  char *path = tmp_path("plain.log");
  conf c;
  conf_init(&c, "common");
  c.al.file_path = path;
  wh_access_log *l = mk(&c);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  mode_t um = umask(0);
  umask(um);
  assert_int_equal(st.st_mode & 0777, 0644 & ~um);
  wh_xrec r = base_rec();
  wh_access_log_record(l, 0, &r);
  char *s = slurp(path);
  assert_int_equal(count_lines(s), 1); /* at once, no tick needed */
  free(s);
  /* a filtered-out record writes nothing */
  r.internal = true;
  wh_access_log_record(l, 1, &r);
  s = slurp(path);
  assert_int_equal(count_lines(s), 1);
  free(s);
  wh_access_log_free(l);
  unlink(path);
  free(path);
}

static void test_buffering(void **state) {
  (void)state;
  char *path = tmp_path("buf.log");
  conf c;
  conf_init(&c, "common");
  c.al.file_path = path;
  c.al.buffering_size = 3;
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  wh_access_log_record(l, 0, &r);
  wh_access_log_record(l, 1, &r);
  char *s = slurp(path);
  assert_string_equal(s, ""); /* buffered in the workers' slots */
  free(s);
  wh_access_log_tick(l, 0);
  s = slurp(path);
  assert_int_equal(count_lines(s), 1);
  free(s);
  wh_access_log_tick(l, 1);
  s = slurp(path);
  assert_int_equal(count_lines(s), 2);
  free(s);
  /* a full batch is written without waiting for the tick */
  for (int i = 0; i < 3; i++)
    wh_access_log_record(l, 0, &r);
  s = slurp(path);
  assert_int_equal(count_lines(s), 5);
  free(s);
  wh_access_log_record(l, 1, &r);
  wh_access_log_free(l); /* flushes */
  s = slurp(path);
  assert_int_equal(count_lines(s), 6);
  free(s);
  unlink(path);
  free(path);
}

static void test_reopen(void **state) {
  (void)state;
  char *path = tmp_path("rot.log");
  char *rotated = wh_asprintf("%s.1", path);
  conf c;
  conf_init(&c, "common");
  c.al.file_path = path;
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  wh_access_log_record(l, 0, &r);
  assert_int_equal(rename(path, rotated), 0);
  r.request_count = 43;
  wh_access_log_record(l, 0, &r); /* still the old file until reopen */
  assert_int_equal(wh_access_log_reopen(l), 0);
  r.request_count = 44;
  wh_access_log_record(l, 1, &r);
  wh_access_log_free(l);
  char *old = slurp(rotated), *cur = slurp(path);
  assert_int_equal(count_lines(old), 2);
  assert_int_equal(count_lines(cur), 1);
  assert_non_null(strstr(cur, "\" 44 \"web@file\""));
  free(old);
  free(cur);
  unlink(path);
  unlink(rotated);
  free(path);
  free(rotated);
  /* stdout: nothing to reopen */
  conf_init(&c, "common");
  l = mk(&c);
  assert_int_equal(wh_access_log_reopen(l), 0);
  wh_access_log_free(l);
}

static void test_open_failure(void **state) {
  (void)state;
  conf c;
  conf_init(&c, "common");
  c.al.file_path = "/nonexistent-dir-wharf/access.log"; /* directories are not created */
  char err[256];
  assert_null(wh_access_log_new(&c.al, 1, err, sizeof(err)));
  assert_non_null(strstr(err, "/nonexistent-dir-wharf/access.log"));
  conf_init(&c, "xml");
  assert_null(wh_access_log_new(&c.al, 1, err, sizeof(err)));
  assert_non_null(strstr(err, "format"));
}

static void test_write_error_logged_once(void **state) {
  (void)state;
  if (access("/dev/full", W_OK) != 0)
    skip();
  char *app = tmp_path("app.log");
  assert_int_equal(wh_log_configure(WH_LOG_INFO, WH_LOG_FORMAT_COMMON, app), 0);
  conf c;
  conf_init(&c, "common");
  c.al.file_path = "/dev/full";
  wh_access_log *l = mk(&c);
  wh_xrec r = base_rec();
  for (int i = 0; i < 5; i++)
    wh_access_log_record(l, 0, &r);
  wh_access_log_free(l);
  wh_log_configure(WH_LOG_ERROR, WH_LOG_FORMAT_COMMON, NULL);
  char *s = slurp(app);
  assert_int_equal(count_lines(s), 1);
  assert_non_null(strstr(s, "access log: cannot write to /dev/full"));
  free(s);
  unlink(app);
  free(app);
}

int main(void) {
  /* a fixed zone without DST, east of UTC, so that local and UTC differ */
  setenv("TZ", "WHT-2", 1);
  tzset();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_common_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_generic_clf_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_tls_gzip_user, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_router, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_values_ipv6, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forwarded_for, setup, teardown),
      cmocka_unit_test_setup_teardown(test_filter_status, setup, teardown),
      cmocka_unit_test_setup_teardown(test_filter_retry_duration, setup, teardown),
      cmocka_unit_test_setup_teardown(test_internals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fields_modes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_headers_modes_and_credentials, setup, teardown),
      cmocka_unit_test_setup_teardown(test_injection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unbuffered_and_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_buffering, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_error_logged_once, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  wh_headers_thread_cleanup();
  return rc;
}
