/* The request metrics store: records from real worker threads sum exactly,
 * histograms are cumulative, labels follow Traefik's names and flags, and
 * the exposition passes a strict text-format checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/runtime.h"
#include "lib/observe/metrics_store.h"

/* ---- fixture ---- */

static wh_entrypoint ep_web, ep_udp;
static char *ep_keys[] = {"dns", "web"};
static void *ep_vals[] = {&ep_udp, &ep_web};
static double dflt_buckets[] = {0.1, 0.3, 1.2, 5.0};

typedef struct fixture {
  wh_static_config stat;
  wh_metrics metrics;
  wh_prometheus prom;
  char *hdr_keys[2], *hdr_vals[2];
} fixture;

static void fixture_init(fixture *f, bool ep, bool rt, bool svc) {
  memset(f, 0, sizeof(*f));
  ep_udp.is_udp = true;
  f->stat.entry_points.keys = ep_keys;
  f->stat.entry_points.vals = ep_vals;
  f->stat.entry_points.n = 2;
  f->stat.metrics = &f->metrics;
  f->metrics.prometheus = &f->prom;
  f->prom.buckets.v = dflt_buckets;
  f->prom.buckets.n = 4;
  f->prom.add_entry_points_labels = ep;
  f->prom.add_routers_labels = rt;
  f->prom.add_services_labels = svc;
}

static wh_xrec xrec(const char *method, int status, const char *router, const char *service) {
  wh_xrec r = {0};
  r.entrypoint = "web";
  r.method = method;
  r.status = status;
  r.router = router;
  r.service = service;
  r.duration_ns = 20 * 1000 * 1000;
  r.req_bytes = 3;
  r.resp_bytes = 10;
  r.http_major = r.http_minor = 1;
  return r;
}

static char *expose(wh_metrics_store *m) {
  wh_strbuf b = {0};
  wh_metrics_store_write(m, &b);
  return wh_strbuf_take(&b);
}

/* The value of the sample line that starts with `series` followed by a
 * space; -1 when absent. */
static double sample(const char *text, const char *series) {
  size_t n = strlen(series);
  const char *end = text + strlen(text);
  for (const char *p = text; p < end;) {
    if ((size_t)(end - p) > n && memcmp(p, series, n) == 0 && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    /* memchr: strchr under strict_string_checks rescans the whole text */
    p = memchr(p, '\n', (size_t)(end - p));
    if (!p)
      break;
    p++;
  }
  return -1;
}

/* ---- a strict text format checker ---- */

static bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

static size_t name_len(const char *p) {
  size_t n = 0;
  while (p[n] && is_name_char(p[n], n == 0))
    n++;
  return n;
}

/* Checks every line; fails the test with the offending line. */
static void check_exposition(const char *text) {
  char family[256] = "", type[32] = "";
  char seen[64][256];
  size_t nseen = 0;
  bool help_pending = false;
  const char *line = text, *text_end = text + strlen(text);
  assert_true(*text == '\0' || text[strlen(text) - 1] == '\n');
  while (*line) {
    const char *eol = memchr(line, '\n', (size_t)(text_end - line));
    assert_non_null(eol);
    char l[4096];
    size_t ll = (size_t)(eol - line);
    assert_true(ll < sizeof(l));
    memcpy(l, line, ll);
    l[ll] = '\0';
    line = eol + 1;
    if (strncmp(l, "# HELP ", 7) == 0) {
      size_t n = name_len(l + 7);
      if (n == 0 || l[7 + n] != ' ')
        fail_msg("bad HELP line: %s", l);
      memcpy(family, l + 7, n);
      family[n] = '\0';
      for (size_t i = 0; i < nseen; i++)
        if (strcmp(seen[i], family) == 0)
          fail_msg("family %s twice", family);
      if (nseen && strcmp(seen[nseen - 1], family) > 0)
        fail_msg("family %s out of order", family);
      assert_true(nseen < 64);
      strcpy(seen[nseen++], family);
      help_pending = true;
      type[0] = '\0';
      continue;
    }
    if (strncmp(l, "# TYPE ", 7) == 0) {
      if (!help_pending)
        fail_msg("TYPE without HELP: %s", l);
      help_pending = false;
      size_t n = name_len(l + 7);
      if (n != strlen(family) || strncmp(l + 7, family, n) != 0 || l[7 + n] != ' ')
        fail_msg("TYPE for another family: %s", l);
      snprintf(type, sizeof(type), "%s", l + 8 + n);
      if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
        fail_msg("bad type: %s", l);
      continue;
    }
    if (l[0] == '#')
      fail_msg("stray comment: %s", l);
    if (!type[0])
      fail_msg("sample before HELP/TYPE: %s", l);
    size_t n = name_len(l);
    char name[256];
    memcpy(name, l, n);
    name[n] = '\0';
    bool ok = strcmp(name, family) == 0;
    if (strcmp(type, "histogram") == 0) {
      const char *sfx[] = {"_bucket", "_sum", "_count"};
      ok = false;
      for (int i = 0; i < 3; i++)
        ok = ok || (strncmp(name, family, strlen(family)) == 0 &&
                    strcmp(name + strlen(family), sfx[i]) == 0);
    }
    if (!ok)
      fail_msg("sample %s outside its family %s", name, family);
    const char *p = l + n;
    if (*p == '{') {
      p++;
      while (*p != '}') {
        size_t ln = name_len(p);
        if (ln == 0 || p[ln] != '=' || p[ln + 1] != '"')
          fail_msg("bad label in: %s", l);
        p += ln + 2;
        while (*p && *p != '"') {
          if (*p == '\\') {
            if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
              fail_msg("bad escape in: %s", l);
            p++;
          }
          p++;
        }
        if (*p != '"')
          fail_msg("unterminated label value: %s", l);
        p++;
        if (*p == ',')
          p++;
        else if (*p != '}')
          fail_msg("bad label separator: %s", l);
      }
      p++;
    }
    if (*p != ' ')
      fail_msg("no value: %s", l);
    p++;
    char *end;
    if (strcmp(p, "+Inf") && strcmp(p, "-Inf") && strcmp(p, "NaN")) {
      strtod(p, &end);
      if (end == p || *end)
        fail_msg("bad value: %s", l);
    }
  }
  assert_false(help_pending);
}

/* ---- tests ---- */

typedef struct worker_arg {
  wh_metrics_store *m;
  int worker;
} worker_arg;

static void *worker_main(void *arg) {
  worker_arg *a = arg;
  for (int i = 0; i < 10000; i++) {
    wh_xrec r = xrec("GET", i % 10 == 0 ? 404 : 200, i % 10 == 0 ? NULL : "r@file",
                     i % 10 == 0 ? NULL : "svc@file");
    /* a few label sets seen first on this worker mid-run */
    if (i % 1000 == 999)
      r.status = 500 + a->worker * 10 + i / 1000;
    wh_metrics_store_record(a->m, a->worker, &r);
  }
  return NULL;
}

static void *scraper_main(void *arg) {
  for (int i = 0; i < 50; i++) {
    char *t = expose(arg);
    free(t);
  }
  return NULL;
}

static void test_two_workers_sum_exactly(void **state) {
  fixture f;
  fixture_init(&f, true, true, true);
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 2);
  assert_non_null(m);
  pthread_t t[3];
  worker_arg a[2] = {{m, 0}, {m, 1}};
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, worker_main, &a[i]), 0);
  assert_int_equal(pthread_create(&t[2], NULL, scraper_main, m), 0);
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  char *text = expose(m);
  check_exposition(text);
  /* per worker: 1000 x 404 (no router), 10 x 5xx, the rest 200 */
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"200\",entrypoint=\"web\","
                                "method=\"GET\",protocol=\"http\"}"),
                   2 * (10000 - 1000 - 10));
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"404\",entrypoint=\"web\","
                                "method=\"GET\",protocol=\"http\"}"),
                   2000);
  assert_int_equal(sample(text, "traefik_service_requests_total{code=\"200\",method=\"GET\","
                                "protocol=\"http\",service=\"svc@file\"}"),
                   2 * (10000 - 1000 - 10));
  /* no router: entry point only */
  assert_int_equal(sample(text, "traefik_service_requests_total{code=\"404\",method=\"GET\","
                                "protocol=\"http\",service=\"svc@file\"}"),
                   -1);
  assert_int_equal(sample(text, "traefik_router_requests_total{code=\"200\",method=\"GET\","
                                "protocol=\"http\",router=\"r@file\",service=\"svc@file\"}"),
                   2 * (10000 - 1000 - 10));
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"512\",entrypoint=\"web\","
                                "method=\"GET\",protocol=\"http\"}"),
                   1);
  assert_int_equal(sample(text, "traefik_entrypoint_requests_bytes_total{code=\"404\","
                                "entrypoint=\"web\",method=\"GET\",protocol=\"http\"}"),
                   2000 * 3);
  assert_int_equal(sample(text, "traefik_entrypoint_responses_bytes_total{code=\"404\","
                                "entrypoint=\"web\",method=\"GET\",protocol=\"http\"}"),
                   2000 * 10);
  assert_int_equal(sample(text, "traefik_entrypoint_request_duration_seconds_count{code=\"200\","
                                "entrypoint=\"web\",method=\"GET\",protocol=\"http\"}"),
                   2 * (10000 - 1000 - 10));
  free(text);
  wh_metrics_store_free(m);
}

static void test_histogram_buckets(void **state) {
  fixture f;
  fixture_init(&f, true, false, false);
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  const uint64_t ms = 1000 * 1000;
  uint64_t d[] = {50 * ms, 100 * ms, 200 * ms, 2000 * ms, 10000 * ms};
  for (size_t i = 0; i < 5; i++) {
    wh_xrec r = xrec("GET", 200, NULL, NULL);
    r.duration_ns = d[i];
    wh_metrics_store_record(m, 0, &r);
  }
  char *text = expose(m);
  check_exposition(text);
  const char *lab = "{code=\"200\",entrypoint=\"web\",method=\"GET\",protocol=\"http\"";
  char s[512];
  const char *le[] = {"0.1", "0.3", "1.2", "5", "+Inf"};
  double want[] = {2, 3, 3, 4, 5}; /* le is inclusive: 100ms counts in 0.1 */
  for (int i = 0; i < 5; i++) {
    snprintf(s, sizeof(s), "traefik_entrypoint_request_duration_seconds_bucket%s,le=\"%s\"}", lab,
             le[i]);
    assert_int_equal(sample(text, s), want[i]);
  }
  snprintf(s, sizeof(s), "traefik_entrypoint_request_duration_seconds_sum%s}", lab);
  assert_true(sample(text, s) > 12.349 && sample(text, s) < 12.351);
  snprintf(s, sizeof(s), "traefik_entrypoint_request_duration_seconds_count%s}", lab);
  assert_int_equal(sample(text, s), 5);
  assert_non_null(strstr(text, "# TYPE traefik_entrypoint_request_duration_seconds histogram\n"));
  free(text);
  wh_metrics_store_free(m);

  /* custom buckets, given unsorted */
  double custom[] = {2.5, 0.01};
  f.prom.buckets.v = custom;
  f.prom.buckets.n = 2;
  m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  wh_xrec r = xrec("GET", 200, NULL, NULL);
  wh_metrics_store_record(m, 0, &r);
  text = expose(m);
  check_exposition(text);
  assert_non_null(strstr(text, "le=\"0.01\"} 0\n"));
  assert_non_null(strstr(text, "le=\"2.5\"} 1\n"));
  assert_non_null(strstr(text, "le=\"+Inf\"} 1\n"));
  assert_null(strstr(text, "le=\"0.1\""));
  free(text);
  wh_metrics_store_free(m);
}

static void test_label_escaping(void **state) {
  fixture f;
  fixture_init(&f, false, true, true);
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  wh_xrec r = xrec("GET", 200, "a\"b\\c\nd@file", "s\"1@file");
  wh_metrics_store_record(m, 0, &r);
  char *text = expose(m);
  check_exposition(text);
  assert_non_null(strstr(text, "router=\"a\\\"b\\\\c\\nd@file\",service=\"s\\\"1@file\""));
  assert_null(strstr(text, "traefik_entrypoint_"));
  free(text);
  wh_metrics_store_free(m);
}

static void test_flags(void **state) {
  fixture f;
  /* Traefik's defaults: entry points and services, no routers */
  fixture_init(&f, true, false, true);
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  wh_xrec r = xrec("POST", 201, "r@file", "s@file");
  r.retries = 2;
  wh_metrics_store_record(m, 0, &r);
  char *text = expose(m);
  check_exposition(text);
  assert_non_null(strstr(text, "traefik_entrypoint_requests_total{"));
  assert_non_null(strstr(text, "traefik_service_requests_total{"));
  assert_null(strstr(text, "traefik_router_"));
  assert_int_equal(sample(text, "traefik_service_retries_total{service=\"s@file\"}"), 2);
  free(text);
  wh_metrics_store_free(m);

  fixture_init(&f, false, true, false);
  m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  wh_metrics_store_record(m, 0, &r);
  text = expose(m);
  check_exposition(text);
  assert_null(strstr(text, "traefik_entrypoint_requests"));
  assert_null(strstr(text, "traefik_service_"));
  assert_int_equal(sample(text, "traefik_router_requests_total{code=\"201\",method=\"POST\","
                                "protocol=\"http\",router=\"r@file\",service=\"s@file\"}"),
                   1);
  /* the labelless families are always there */
  assert_int_equal(sample(text, "traefik_config_reloads_total"), 0);
  free(text);
  wh_metrics_store_free(m);

  /* internal routers count only with metrics.addInternals */
  fixture_init(&f, true, true, true);
  m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  r = xrec("GET", 200, "api@internal", "api@internal");
  r.internal = true;
  wh_metrics_store_record(m, 0, &r);
  text = expose(m);
  assert_null(strstr(text, "api@internal"));
  assert_null(strstr(text, "traefik_entrypoint_requests_total"));
  free(text);
  wh_metrics_store_free(m);
  f.metrics.add_internals = true;
  m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  wh_metrics_store_record(m, 0, &r);
  text = expose(m);
  assert_int_equal(sample(text, "traefik_service_requests_total{code=\"200\",method=\"GET\","
                                "protocol=\"http\",service=\"api@internal\"}"),
                   1);
  free(text);
  wh_metrics_store_free(m);
}

static void test_method_and_protocol(void **state) {
  fixture f;
  fixture_init(&f, true, false, false);
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 1);
  const char *methods[] = {"FOOBAR", "BAZ", "get", "PATCH", "PRI", "M\xc3\xa9", "M\xff"};
  for (size_t i = 0; i < 7; i++) {
    wh_xrec r = xrec(methods[i], 200, NULL, NULL);
    wh_metrics_store_record(m, 0, &r);
  }
  wh_xrec r = xrec("GET", 101, NULL, NULL);
  r.protocol = WH_XPROTO_WEBSOCKET;
  wh_metrics_store_record(m, 0, &r);
  r = xrec("POST", 200, NULL, NULL);
  r.protocol = WH_XPROTO_GRPC; /* no Grpc-Status seen: codes.Unknown */
  wh_metrics_store_record(m, 0, &r);
  r.grpc_status = "5"; /* a trailers-only NOT_FOUND */
  wh_metrics_store_record(m, 0, &r);
  r.grpc_status = "x9"; /* not a code: Unknown */
  wh_metrics_store_record(m, 0, &r);
  char *text = expose(m);
  check_exposition(text);
  const char *p = "traefik_entrypoint_requests_total{code=\"200\",entrypoint=\"web\",method=";
  char s[256];
  snprintf(s, sizeof(s), "%s\"EXTENSION_METHOD\",protocol=\"http\"}", p);
  assert_int_equal(sample(text, s), 4); /* FOOBAR, BAZ, get, Mé */
  snprintf(s, sizeof(s), "%s\"NON_UTF8_HTTP_METHOD\",protocol=\"http\"}", p);
  assert_int_equal(sample(text, s), 1);
  snprintf(s, sizeof(s), "%s\"PATCH\",protocol=\"http\"}", p);
  assert_int_equal(sample(text, s), 1);
  assert_null(strstr(text, "FOOBAR"));
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"101\",entrypoint=\"web\","
                                "method=\"GET\",protocol=\"websocket\"}"),
                   1);
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"2\",entrypoint=\"web\","
                                "method=\"POST\",protocol=\"grpc\"}"),
                   2);
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"5\",entrypoint=\"web\","
                                "method=\"POST\",protocol=\"grpc\"}"),
                   1);
  free(text);
  wh_metrics_store_free(m);
}

static void test_tls_headers_conns_reloads(void **state) {
  fixture f;
  fixture_init(&f, true, true, true);
  f.hdr_keys[0] = "useragent";
  f.hdr_vals[0] = "User-Agent";
  f.hdr_keys[1] = "code"; /* clashes with a base label: ignored */
  f.hdr_vals[1] = "X-Code";
  f.prom.header_labels.keys = f.hdr_keys;
  f.prom.header_labels.vals = f.hdr_vals;
  f.prom.header_labels.n = 2;
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 2);
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "User-Agent", "curl/8 \"x\"");
  wh_xrec r = xrec("GET", 200, "r@file", "s@file");
  r.req_headers = &h;
  r.tls = true;
  r.tls_version = "1.3";
  r.tls_cipher = "TLS_AES_128_GCM_SHA256";
  wh_metrics_store_record(m, 0, &r);
  wh_metrics_store_record(m, 1, &r);
  r.req_headers = NULL;
  wh_metrics_store_record(m, 1, &r);
  wh_metrics_store_conn(m, 0, 1, +1);
  wh_metrics_store_conn(m, 1, 1, +1);
  wh_metrics_store_conn(m, 1, 1, +1);
  wh_metrics_store_conn(m, 0, 1, -1);
  wh_metrics_store_reload(m, true);
  wh_metrics_store_reload(m, false);
  char *text = expose(m);
  check_exposition(text);
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"200\",entrypoint=\"web\","
                                "method=\"GET\",protocol=\"http\",useragent=\"curl/8 \\\"x\\\"\"}"),
                   2);
  assert_int_equal(sample(text, "traefik_entrypoint_requests_total{code=\"200\",entrypoint=\"web\","
                                "method=\"GET\",protocol=\"http\",useragent=\"\"}"),
                   1);
  assert_int_equal(sample(text, "traefik_service_requests_total{code=\"200\",method=\"GET\","
                                "protocol=\"http\",service=\"s@file\",useragent=\"\"}"),
                   1);
  /* header labels go on requests_total only */
  assert_int_equal(sample(text, "traefik_entrypoint_requests_bytes_total{code=\"200\","
                                "entrypoint=\"web\",method=\"GET\",protocol=\"http\"}"),
                   9);
  assert_int_equal(sample(text, "traefik_entrypoint_requests_tls_total{entrypoint=\"web\","
                                "tls_cipher=\"TLS_AES_128_GCM_SHA256\",tls_version=\"1.3\"}"),
                   3);
  assert_int_equal(sample(text, "traefik_router_requests_tls_total{router=\"r@file\","
                                "service=\"s@file\",tls_cipher=\"TLS_AES_128_GCM_SHA256\","
                                "tls_version=\"1.3\"}"),
                   3);
  assert_int_equal(sample(text, "traefik_service_requests_tls_total{service=\"s@file\","
                                "tls_cipher=\"TLS_AES_128_GCM_SHA256\",tls_version=\"1.3\"}"),
                   3);
  assert_int_equal(sample(text, "traefik_open_connections{entrypoint=\"web\",protocol=\"TCP\"}"),
                   2);
  assert_null(strstr(text, "entrypoint=\"dns\"")); /* UDP */
  assert_int_equal(sample(text, "traefik_config_reloads_total"), 2);
  assert_int_equal(sample(text, "wharf_config_reloads_failure_total"), 1);
  assert_true(sample(text, "traefik_config_last_reload_success") > 1.7e9);
  assert_null(strstr(text, "X-Code"));
  free(text);
  wh_headers_free(&h);
  wh_metrics_store_free(m);
}

static void test_cap(void **state) {
  fixture f;
  fixture_init(&f, false, false, true);
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 2);
  char name[64];
  for (int i = 0; i < WH_METRICS_MAX_LABEL_SETS + 5; i++) {
    snprintf(name, sizeof(name), "s%d@file", i);
    wh_xrec r = xrec("GET", 200, "r@file", name);
    wh_metrics_store_record(m, 0, &r);
  }
  /* a label set seen before the cap still counts; another worker has room */
  wh_xrec r = xrec("GET", 200, "r@file", "s0@file");
  wh_metrics_store_record(m, 0, &r);
  r.service = "other@file";
  wh_metrics_store_record(m, 1, &r);
  char *text = expose(m);
  check_exposition(text);
  assert_int_equal(sample(text, "wharf_metrics_label_sets"), WH_METRICS_MAX_LABEL_SETS + 1);
  assert_int_equal(sample(text, "wharf_metrics_label_sets_dropped_total"), 5);
  assert_int_equal(sample(text, "traefik_service_requests_total{code=\"200\",method=\"GET\","
                                "protocol=\"http\",service=\"s0@file\"}"),
                   2);
  assert_int_equal(sample(text, "traefik_service_requests_total{code=\"200\",method=\"GET\","
                                "protocol=\"http\",service=\"other@file\"}"),
                   1);
  char s[256];
  snprintf(s, sizeof(s),
           "traefik_service_requests_total{code=\"200\",method=\"GET\","
           "protocol=\"http\",service=\"s%d@file\"}",
           WH_METRICS_MAX_LABEL_SETS);
  assert_int_equal(sample(text, s), -1);
  free(text);
  wh_metrics_store_free(m);
}

/* Series of routers and services that left the configuration: shown by one
 * more scrape, then unlinked by their worker's tick; the others stay. */
static void test_removed_series(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f, false, true, true);
  wh_metrics_store *m = wh_metrics_store_new(&f.prom, &f.stat, 2);
  for (int w = 0; w < 2; w++) {
    wh_xrec keep = xrec("GET", 200, "keep@file", "keep@file");
    wh_xrec drop = xrec("GET", 200, "drop@file", "drop@file");
    wh_metrics_store_record(m, w, &keep);
    wh_metrics_store_record(m, w, &drop);
  }
  const char *rt_drop = "traefik_router_requests_total{code=\"200\",method=\"GET\","
                        "protocol=\"http\",router=\"drop@file\",service=\"drop@file\"}";
  const char *svc_drop = "traefik_service_requests_total{code=\"200\",method=\"GET\","
                         "protocol=\"http\",service=\"drop@file\"}";
  const char *svc_keep = "traefik_service_requests_total{code=\"200\",method=\"GET\","
                         "protocol=\"http\",service=\"keep@file\"}";
  /* before any configuration is known nothing is dropped */
  char *text = expose(m);
  double sets = sample(text, "wharf_metrics_label_sets");
  free(text);
  wh_metrics_store_tick(m, 0);
  wh_metrics_store_tick(m, 1);

  wh_rt_elem router = {.name = "keep@file"}, service = {.name = "keep@file"};
  wh_rt_elem *routers[] = {&router}, *services[] = {&service};
  wh_runtime rt;
  memset(&rt, 0, sizeof(rt));
  rt.elems[WH_KIND_HTTP_ROUTER] = (wh_rt_list){routers, 1};
  rt.elems[WH_KIND_HTTP_SERVICE] = (wh_rt_list){services, 1};
  wh_metrics_store_live(m, &rt);

  text = expose(m); /* the final values, once more */
  check_exposition(text);
  assert_int_equal(sample(text, rt_drop), 2);
  assert_int_equal(sample(text, svc_drop), 2);
  free(text);
  wh_metrics_store_tick(m, 0);
  wh_metrics_store_tick(m, 1);
  text = expose(m);
  check_exposition(text);
  assert_int_equal(sample(text, rt_drop), -1);
  assert_int_equal(sample(text, svc_drop), -1);
  assert_int_equal(sample(text, svc_keep), 2);
  assert_true(sample(text, "wharf_metrics_label_sets") < sets);
  free(text);
  /* a late request for the removed router counts afresh */
  wh_xrec late = xrec("GET", 200, "drop@file", "drop@file");
  wh_metrics_store_record(m, 1, &late);
  text = expose(m);
  assert_int_equal(sample(text, rt_drop), 1);
  free(text);
  wh_metrics_store_free(m);
}

static void test_null_safe(void **state) {
  /* NULL-safe entry points, and the checker accepts the minimal texts */
  check_exposition("");
  check_exposition("# HELP a x\n# TYPE a counter\na{b=\"c\\\"\"} 1\n");
  wh_metrics_store_write(NULL, NULL);
  wh_metrics_store_record(NULL, 0, NULL);
  wh_metrics_store_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_workers_sum_exactly),
      cmocka_unit_test(test_histogram_buckets),
      cmocka_unit_test(test_label_escaping),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_method_and_protocol),
      cmocka_unit_test(test_tls_headers_conns_reloads),
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_removed_series),
      cmocka_unit_test(test_null_safe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
