/* Unit tests for lib/config/static.c: source selection, schema defaults,
 * validation, implicit entry points and the acceptance test that YAML, flags
 * and environment give the same effective configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "lib/config/static.h"
#include "lib/core/str.h"

/* Every test runs in a fresh empty directory with HOME pointing at it, so
 * that no ./traefik.yml or ~/.config/traefik.yml of the machine is found. */
static char tmpdir[256];
static char home_env[300];
static char oldcwd[4096];

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/wh_static_XXXXXX");
  if (!mkdtemp(tmpdir))
    return -1;
  snprintf(home_env, sizeof home_env, "HOME=%s", tmpdir);
  if (!getcwd(oldcwd, sizeof oldcwd) || chdir(tmpdir) != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  if (chdir(oldcwd) != 0)
    return -1;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Default search paths of the machine: tests that rely on "no file found"
 * cannot run where one exists. */
static bool system_config_present(void) {
  static const char *const p[] = {"/etc/wharf/wharf.yaml", "/etc/wharf/wharf.yml",
                                  "/etc/traefik/traefik.toml", "/etc/traefik/traefik.yaml",
                                  "/etc/traefik/traefik.yml"};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    if (access(p[i], F_OK) == 0)
      return true;
  return false;
}

static void need_clean_machine(void) {
  if (system_config_present())
    skip();
}

static char *write_file(const char *name, const char *text) {
  char *path = wh_asprintf("%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static bool errs_have(const wh_errlist *e, const char *needle) {
  for (size_t i = 0; i < e->n; i++)
    if (strstr(e->items[i], needle))
      return true;
  return false;
}

static void print_errs(const wh_errlist *e) {
  for (size_t i = 0; i < e->n; i++)
    print_error("  err: %s\n", e->items[i]);
}

/* Loads from argv (NULL-terminated) and envp (NULL-terminated, HOME added). */
static wh_static_config *load(const char *const *args, const char *const *env, wh_errlist *errs,
                              char **desc) {
  int argc = 0;
  while (args && args[argc])
    argc++;
  size_t ne = 0;
  while (env && env[ne])
    ne++;
  char **envp = calloc(ne + 2, sizeof *envp);
  assert_non_null(envp);
  for (size_t i = 0; i < ne; i++)
    envp[i] = (char *)env[i];
  envp[ne] = home_env;
  wh_static_config *c = wh_static_load(argc, (char **)args, envp, errs, desc);
  free(envp);
  return c;
}

static wh_static_config *load_ok(const char *const *args, const char *const *env, char **desc) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_static_config *c = load(args, env, &errs, desc);
  if (!c || errs.n) {
    print_errs(&errs);
    fail_msg("configuration did not load");
  }
  wh_errlist_free(&errs);
  return c;
}

/* Loading must fail with an error containing needle. */
static void load_fails(const char *const *args, const char *const *env, const char *needle) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_static_config *c = load(args, env, &errs, NULL);
  if (c || !errs_have(&errs, needle)) {
    print_errs(&errs);
    wh_static_free(c);
    fail_msg("expected an error containing \"%s\"", needle);
  }
  wh_errlist_free(&errs);
}

static char *encode(const wh_static_config *c) {
  cJSON *j = wh_static_encode(c);
  assert_non_null(j);
  char *s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  assert_non_null(s);
  return s;
}

/* ---- the acceptance test ---- */

static const char acceptance_yaml[] =
    "entryPoints:\n"
    "  web:\n"
    "    address: \":80\"\n"
    "    http:\n"
    "      redirections:\n"
    "        entryPoint:\n"
    "          to: websecure\n"
    "          scheme: https\n"
    "          permanent: true\n"
    "  websecure:\n"
    "    address: \":443\"\n"
    "    asDefault: true\n"
    "    http:\n"
    "      middlewares: [sec@file, gz@file]\n"
    "      tls:\n"
    "        certResolver: le\n"
    "    forwardedHeaders:\n"
    "      trustedIPs: [\"10.0.0.0/8\", \"192.168.1.1\", \"fd00::/8\"]\n"
    "    proxyProtocol:\n"
    "      trustedIPs: [\"10.0.0.5\"]\n"
    "    transport:\n"
    "      respondingTimeouts:\n"
    "        readTimeout: 30s\n"
    "        idleTimeout: 90s\n"
    "      lifeCycle:\n"
    "        graceTimeOut: 5s\n"
    "      keepAliveMaxRequests: 100\n"
    "  metrics:\n"
    "    address: \"127.0.0.1:8082\"\n"
    "  dns:\n"
    "    address: \":53/udp\"\n"
    "    udp:\n"
    "      timeout: 10s\n"
    "providers:\n"
    "  providersThrottleDuration: 1s\n"
    "  file:\n"
    "    directory: /etc/wharf/dynamic\n"
    "    watch: false\n"
    "  docker:\n"
    "    exposedByDefault: false\n"
    "    network: proxy\n"
    "api:\n"
    "  insecure: true\n"
    "  dashboard: true\n"
    "ping:\n"
    "  entryPoint: metrics\n"
    "metrics:\n"
    "  prometheus:\n"
    "    buckets: [0.1, 0.5, 2.5]\n"
    "    entryPoint: metrics\n"
    "    addRoutersLabels: true\n"
    "log:\n"
    "  level: DEBUG\n"
    "  format: json\n"
    "accessLog:\n"
    "  filePath: /var/log/wharf/access.log\n"
    "  format: json\n"
    "  bufferingSize: 100\n"
    "  filters:\n"
    "    statusCodes: [\"200\", \"300-302\"]\n"
    "    minDuration: 10ms\n"
    "  fields:\n"
    "    defaultMode: keep\n"
    "    names:\n"
    "      clientusername: drop\n"
    "    headers:\n"
    "      defaultMode: keep\n"
    "      names:\n"
    "        authorization: redact\n"
    "serversTransport:\n"
    "  maxIdleConnsPerHost: 50\n"
    "  forwardingTimeouts:\n"
    "    dialTimeout: 10s\n"
    "certificatesResolvers:\n"
    "  le:\n"
    "    acme:\n"
    "      email: admin@example.com\n"
    "      storage: /data/acme.json\n"
    "      certificatesDuration: 720\n"
    "      dnsChallenge:\n"
    "        provider: cloudflare\n"
    "        resolvers: [\"1.1.1.1:53\", \"8.8.8.8:53\"]\n"
    "        propagation:\n"
    "          delayBeforeChecks: 30s\n";

static const char *const acceptance_flags[] = {
    "--entrypoints.web.address=:80",
    "--entryPoints.web.http.redirections.entryPoint.to=websecure",
    "--ENTRYPOINTS.web.HTTP.redirections.entrypoint.scheme=https",
    "--entrypoints.web.http.redirections.entrypoint.permanent=true",
    "--entryPoints.websecure.address=:443",
    "--entryPoints.websecure.asDefault",
    "--entryPoints.websecure.http.middlewares=sec@file,gz@file",
    "--entryPoints.websecure.http.tls.certResolver=le",
    "--entryPoints.websecure.forwardedHeaders.trustedIPs=10.0.0.0/8,192.168.1.1,fd00::/8",
    "--entryPoints.websecure.proxyProtocol.trustedIPs=10.0.0.5",
    "--entryPoints.websecure.transport.respondingTimeouts.readTimeout=30s",
    "--entrypoints.websecure.transport.respondingtimeouts.idletimeout=90s",
    "--entryPoints.websecure.transport.lifeCycle.graceTimeOut=5s",
    "--entryPoints.websecure.transport.keepAliveMaxRequests=100",
    "--entryPoints.metrics.address=127.0.0.1:8082",
    "--entryPoints.dns.address=:53/udp",
    "--entryPoints.dns.udp.timeout=10s",
    "--providers.providersThrottleDuration=1s",
    "--providers.file.directory=/etc/wharf/dynamic",
    "--providers.file.watch=false",
    "--providers.docker",
    "--providers.docker.exposedByDefault=false",
    "--providers.docker.network=proxy",
    "--api.insecure=true",
    "--api.dashboard=true",
    "--ping.entryPoint=metrics",
    "--metrics.prometheus.buckets=0.1,0.5,2.5",
    "--metrics.prometheus.entryPoint=metrics",
    "--metrics.prometheus.addRoutersLabels=true",
    "--log.level=DEBUG",
    "--log.format=json",
    "--accesslog.filepath=/var/log/wharf/access.log",
    "--accessLog.format=json",
    "--accessLog.bufferingSize=100",
    "--accessLog.filters.statusCodes=200,300-302",
    "--accessLog.filters.minDuration=10ms",
    "--accessLog.fields.defaultMode=keep",
    "--accessLog.fields.names.clientusername=drop",
    "--accessLog.fields.headers.defaultMode=keep",
    "--accessLog.fields.headers.names.authorization=redact",
    "--serversTransport.maxIdleConnsPerHost=50",
    "--serversTransport.forwardingTimeouts.dialTimeout=10s",
    "--certificatesResolvers.le.acme.email=admin@example.com",
    "--certificatesResolvers.le.acme.storage=/data/acme.json",
    "--certificatesresolvers.le.acme.certificatesduration=720",
    "--certificatesResolvers.le.acme.dnsChallenge.provider=cloudflare",
    "--certificatesResolvers.le.acme.dnsChallenge.resolvers=1.1.1.1:53,8.8.8.8:53",
    "--certificatesResolvers.le.acme.dnsChallenge.propagation.delayBeforeChecks=30s",
    NULL};

static const char *const acceptance_env[] = {
    "PATH=/usr/bin",
    "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=:80",
    "TRAEFIK_ENTRYPOINTS_WEB_HTTP_REDIRECTIONS_ENTRYPOINT_TO=websecure",
    "TRAEFIK_ENTRYPOINTS_WEB_HTTP_REDIRECTIONS_ENTRYPOINT_SCHEME=https",
    "TRAEFIK_ENTRYPOINTS_WEB_HTTP_REDIRECTIONS_ENTRYPOINT_PERMANENT=true",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_ADDRESS=:443",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_ASDEFAULT=true",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_HTTP_MIDDLEWARES=sec@file,gz@file",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_HTTP_TLS_CERTRESOLVER=le",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_FORWARDEDHEADERS_TRUSTEDIPS_0=10.0.0.0/8",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_FORWARDEDHEADERS_TRUSTEDIPS_1=192.168.1.1",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_FORWARDEDHEADERS_TRUSTEDIPS_2=fd00::/8",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_PROXYPROTOCOL_TRUSTEDIPS=10.0.0.5",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_TRANSPORT_RESPONDINGTIMEOUTS_READTIMEOUT=30s",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_TRANSPORT_RESPONDINGTIMEOUTS_IDLETIMEOUT=90s",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_TRANSPORT_LIFECYCLE_GRACETIMEOUT=5s",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_TRANSPORT_KEEPALIVEMAXREQUESTS=100",
    "TRAEFIK_ENTRYPOINTS_METRICS_ADDRESS=127.0.0.1:8082",
    "TRAEFIK_ENTRYPOINTS_DNS_ADDRESS=:53/udp",
    "TRAEFIK_ENTRYPOINTS_DNS_UDP_TIMEOUT=10s",
    "TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION=1s",
    "TRAEFIK_PROVIDERS_FILE_DIRECTORY=/etc/wharf/dynamic",
    "TRAEFIK_PROVIDERS_FILE_WATCH=false",
    "TRAEFIK_PROVIDERS_DOCKER=true",
    "TRAEFIK_PROVIDERS_DOCKER_EXPOSEDBYDEFAULT=false",
    "TRAEFIK_PROVIDERS_DOCKER_NETWORK=proxy",
    "TRAEFIK_API_INSECURE=true",
    "TRAEFIK_API_DASHBOARD=true",
    "TRAEFIK_PING_ENTRYPOINT=metrics",
    "TRAEFIK_METRICS_PROMETHEUS_BUCKETS=0.1,0.5,2.5",
    "TRAEFIK_METRICS_PROMETHEUS_ENTRYPOINT=metrics",
    "TRAEFIK_METRICS_PROMETHEUS_ADDROUTERSLABELS=true",
    "TRAEFIK_LOG_LEVEL=DEBUG",
    "TRAEFIK_LOG_FORMAT=json",
    "TRAEFIK_ACCESSLOG_FILEPATH=/var/log/wharf/access.log",
    "TRAEFIK_ACCESSLOG_FORMAT=json",
    "TRAEFIK_ACCESSLOG_BUFFERINGSIZE=100",
    "TRAEFIK_ACCESSLOG_FILTERS_STATUSCODES=200,300-302",
    "TRAEFIK_ACCESSLOG_FILTERS_MINDURATION=10ms",
    "TRAEFIK_ACCESSLOG_FIELDS_DEFAULTMODE=keep",
    "TRAEFIK_ACCESSLOG_FIELDS_NAMES_CLIENTUSERNAME=drop",
    "TRAEFIK_ACCESSLOG_FIELDS_HEADERS_DEFAULTMODE=keep",
    "TRAEFIK_ACCESSLOG_FIELDS_HEADERS_NAMES_AUTHORIZATION=redact",
    "TRAEFIK_SERVERSTRANSPORT_MAXIDLECONNSPERHOST=50",
    "TRAEFIK_SERVERSTRANSPORT_FORWARDINGTIMEOUTS_DIALTIMEOUT=10s",
    "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_EMAIL=admin@example.com",
    "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_STORAGE=/data/acme.json",
    "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_CERTIFICATESDURATION=720",
    "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_DNSCHALLENGE_PROVIDER=cloudflare",
    "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_DNSCHALLENGE_RESOLVERS=1.1.1.1:53,8.8.8.8:53",
    "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_DNSCHALLENGE_PROPAGATION_DELAYBEFORECHECKS=30s",
    NULL};

static void test_same_config_from_yaml_flags_env(void **state) {
  (void)state;
  need_clean_machine();
  char *path = write_file("static.yml", acceptance_yaml);
  char *cf = wh_asprintf("--configFile=%s", path);
  const char *fargs[] = {cf, NULL};
  char *d1 = NULL, *d2 = NULL, *d3 = NULL;
  wh_static_config *from_file = load_ok(fargs, acceptance_env /* ignored: file wins */, &d1);
  wh_static_config *from_flags = load_ok(acceptance_flags, acceptance_env, &d2);
  wh_static_config *from_env = load_ok(NULL, acceptance_env, &d3);
  assert_non_null(strstr(d1, "file "));
  assert_string_equal(d2, "flags");
  assert_string_equal(d3, "environment");

  char *j1 = encode(from_file), *j2 = encode(from_flags), *j3 = encode(from_env);
  assert_string_equal(j1, j2);
  assert_string_equal(j1, j3);

  /* and the configuration is what was written, not three equal defaults */
  const wh_static_config *c = from_flags;
  assert_int_equal(c->entry_points.n, 5); /* web websecure metrics dns + implicit traefik */
  const wh_entrypoint *ws = wh_map_get(&c->entry_points, "websecure");
  assert_non_null(ws);
  assert_int_equal(ws->port, 443);
  assert_string_equal(ws->host, "");
  assert_false(ws->is_udp);
  assert_true(ws->as_default);
  assert_int_equal(ws->forwarded_headers->trusted_ips.n, 3);
  assert_string_equal(ws->forwarded_headers->trusted_ips.v[2], "fd00::/8");
  assert_int_equal(ws->transport.responding_timeouts.read_timeout, 30 * WH_SEC);
  assert_int_equal(ws->transport.responding_timeouts.write_timeout, 0);
  assert_int_equal(ws->transport.life_cycle.grace_time_out, 5 * WH_SEC);
  assert_true(ws->http.sanitize_path); /* default */
  const wh_entrypoint *web = wh_map_get(&c->entry_points, "web");
  assert_string_equal(web->http.redirections->entry_point->to, "websecure");
  assert_int_equal(web->http.redirections->entry_point->priority, INT64_MAX - 1);
  const wh_entrypoint *dns = wh_map_get(&c->entry_points, "dns");
  assert_true(dns->is_udp);
  assert_int_equal(dns->port, 53);
  const wh_entrypoint *tr = wh_map_get(&c->entry_points, "traefik");
  assert_non_null(tr); /* api.insecure */
  assert_int_equal(tr->port, 8080);
  assert_non_null(c->providers->docker);
  assert_false(c->providers->docker->exposed_by_default);
  assert_true(c->providers->docker->watch); /* default kept */
  assert_string_equal(c->providers->docker->endpoint, "unix:///var/run/docker.sock");
  assert_false(c->providers->file->watch);
  assert_int_equal(c->providers->providers_throttle_duration, WH_SEC);
  assert_int_equal(c->metrics->prometheus->buckets.n, 3);
  assert_true(c->metrics->prometheus->add_services_labels); /* default */
  assert_int_equal(c->access_log->filters->status_codes.n, 2);
  const wh_cert_resolver *le = wh_map_get(&c->certificates_resolvers, "le");
  assert_int_equal(le->acme->certificates_duration, (wh_duration)720 * 3600 * WH_SEC);
  assert_string_equal(le->acme->key_type, "RSA4096");
  assert_int_equal(le->acme->dns_challenge->resolvers.n, 2);
  assert_int_equal(c->servers_transport->forwarding_timeouts->idle_conn_timeout, 90 * WH_SEC);

  free(j1);
  free(j2);
  free(j3);
  free(d1);
  free(d2);
  free(d3);
  wh_static_free(from_file);
  wh_static_free(from_flags);
  wh_static_free(from_env);
  free(cf);
  free(path);
}

/* ---- sources ---- */

static void test_defaults_when_no_source(void **state) {
  (void)state;
  need_clean_machine();
  char *desc = NULL;
  wh_static_config *c = load_ok(NULL, NULL, &desc);
  assert_string_equal(desc, "defaults");
  assert_int_equal(c->entry_points.n, 1);
  const wh_entrypoint *ep = wh_map_get(&c->entry_points, "http");
  assert_non_null(ep);
  assert_string_equal(ep->address, ":80");
  assert_int_equal(ep->port, 80);
  assert_int_equal(ep->transport.responding_timeouts.read_timeout, 60 * WH_SEC);
  assert_int_equal(ep->transport.responding_timeouts.idle_timeout, 180 * WH_SEC);
  assert_int_equal(ep->transport.life_cycle.grace_time_out, 10 * WH_SEC);
  assert_null(c->api);
  assert_null(c->providers);
  free(desc);
  wh_static_free(c);
}

static void test_wharf_env_prefix(void **state) {
  (void)state;
  need_clean_machine();
  const char *env[] = {"WHARF_ENTRYPOINTS_WEB_ADDRESS=:8000", "WHARF_WHARF_WORKERS=4", NULL};
  wh_static_config *c = load_ok(NULL, env, NULL);
  assert_int_equal(((wh_entrypoint *)wh_map_get(&c->entry_points, "web"))->port, 8000);
  assert_int_equal(c->wharf->workers, 4);
  wh_static_free(c);
}

static void test_flags_win_over_env(void **state) {
  (void)state;
  need_clean_machine();
  const char *args[] = {"--entryPoints.web.address=:81", NULL};
  const char *env[] = {"TRAEFIK_ENTRYPOINTS_OTHER_ADDRESS=:82", NULL};
  wh_static_config *c = load_ok(args, env, NULL);
  assert_int_equal(c->entry_points.n, 1);
  assert_non_null(wh_map_get(&c->entry_points, "web"));
  wh_static_free(c);
}

static void test_config_file_space_form_and_case(void **state) {
  (void)state;
  char *path = write_file("a.yaml", "entryPoints:\n  web:\n    address: \":9000\"\n");
  const char *args[] = {"--configfile", path, NULL};
  char *desc = NULL;
  wh_static_config *c = load_ok(args, NULL, &desc);
  assert_int_equal(((wh_entrypoint *)wh_map_get(&c->entry_points, "web"))->port, 9000);
  char *want = wh_asprintf("file %s", path);
  assert_string_equal(desc, want);
  free(want);
  free(desc);
  wh_static_free(c);
  free(path);
}

static void test_search_path_home_config(void **state) {
  (void)state;
  need_clean_machine();
  char *dir = wh_asprintf("%s/.config", tmpdir);
  assert_int_equal(mkdir(dir, 0700), 0);
  char *path = write_file(".config/traefik.yml", "log:\n  level: info\n");
  char *desc = NULL;
  wh_static_config *c = load_ok(NULL, NULL, &desc);
  assert_string_equal(c->log->level, "info");
  assert_non_null(strstr(desc, ".config/traefik.yml"));
  /* a flag next to a found file is an error, not silently ignored */
  const char *args[] = {"--log.level=DEBUG", NULL};
  load_fails(args, NULL, "flags other than --configFile cannot be combined");
  unlink(path);
  rmdir(dir);
  free(desc);
  wh_static_free(c);
  free(path);
  free(dir);
}

static void test_missing_config_file(void **state) {
  (void)state;
  const char *args[] = {"--configFile=/nonexistent/wharf.yml", NULL};
  load_fails(args, NULL, "--configFile: /nonexistent/wharf.yml: no such file");
  const char *args2[] = {"--configFile", NULL};
  load_fails(args2, NULL, "--configFile: a file name is required");
}

static void test_flags_with_config_file(void **state) {
  (void)state;
  char *path = write_file("b.yml", "entryPoints:\n  web:\n    address: \":80\"\n");
  char *cf = wh_asprintf("--configFile=%s", path);
  const char *args[] = {cf, "--entryPoints.web.address=:81", NULL};
  load_fails(args, NULL,
             "--entryPoints.web.address=:81: flags other than --configFile cannot be "
             "combined with the configuration file");
  free(cf);
  free(path);
}

static void test_toml_rejected(void **state) {
  (void)state;
  char *path = write_file("conf.toml", "[entryPoints]\n");
  char *cf = wh_asprintf("--configFile=%s", path);
  const char *args[] = {cf, NULL};
  load_fails(args, NULL, "TOML static configuration is not supported; use YAML");
  free(cf);
  unlink(path);
  /* found by the search: an error too, rather than silently using flags */
  if (!system_config_present()) {
    free(path);
    path = write_file("traefik.toml", "[entryPoints]\n");
    const char *flags[] = {"--log.level=INFO", NULL};
    load_fails(flags, NULL, "./traefik.toml: TOML static configuration is not supported");
    unlink(path);
  }
  free(path);
}

static void test_yaml_syntax_error(void **state) {
  (void)state;
  char *path = write_file("bad.yml", "entryPoints:\n  web: [\n");
  char *cf = wh_asprintf("--configFile=%s", path);
  const char *args[] = {cf, NULL};
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(load(args, NULL, &errs, NULL));
  assert_true(errs.n >= 1);
  wh_errlist_free(&errs);
  free(cf);
  free(path);
}

static void test_positional_argument_rejected(void **state) {
  (void)state;
  const char *args[] = {"--log.level=DEBUG", "stray", NULL};
  load_fails(args, NULL, "unexpected argument \"stray\"");
}

/* ---- keys and values ---- */

static void test_unknown_key_suggestion(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.web.adress=:80", NULL};
  load_fails(args, NULL, "entryPoints.web.adress: unknown key (did you mean \"address\"?)");
  const char *args2[] = {"--provders.docker", NULL};
  load_fails(args2, NULL, "provders: unknown key (did you mean \"providers\"?)");
}

static void test_bad_addresses(void **state) {
  (void)state;
  static const char *const bad[] = {
      "--entryPoints.web.address=:99999", "--entryPoints.web.address=1.2.3.4",
      "--entryPoints.web.address=::1:80", "--entryPoints.web.address=:80/sctp",
      "--entryPoints.web.address=:0",     "--entryPoints.web.address=[::1]80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *args[] = {bad[i], NULL};
    load_fails(args, NULL, "entryPoints.web: address: invalid address");
  }
  const char *args[] = {"--entryPoints.web.asDefault=true", NULL};
  load_fails(args, NULL, "entryPoints.web: address: required");
}

static void test_good_addresses(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.a.address=[::1]:8443/udp",
                        "--entryPoints.b.address=0.0.0.0:80/TCP",
                        "--entryPoints.c.address=localhost:81", NULL};
  wh_static_config *c = load_ok(args, NULL, NULL);
  const wh_entrypoint *a = wh_map_get(&c->entry_points, "a");
  assert_string_equal(a->host, "::1");
  assert_int_equal(a->port, 8443);
  assert_true(a->is_udp);
  const wh_entrypoint *b = wh_map_get(&c->entry_points, "b");
  assert_string_equal(b->host, "0.0.0.0");
  assert_false(b->is_udp);
  assert_string_equal(((wh_entrypoint *)wh_map_get(&c->entry_points, "c"))->host, "localhost");
  wh_static_free(c);
}

static void test_duplicate_address(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.a.address=:80", "--entryPoints.b.address=:80", NULL};
  load_fails(args, NULL, "entryPoints.b.address: same address as entry point \"a\"");
  /* same port, other protocol: fine */
  const char *ok[] = {"--entryPoints.a.address=:53", "--entryPoints.b.address=:53/udp", NULL};
  wh_static_free(load_ok(ok, NULL, NULL));
}

static void test_bad_duration(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.web.address=:80",
                        "--entryPoints.web.transport.respondingTimeouts.readTimeout=abc", NULL};
  load_fails(args, NULL,
             "entryPoints.web.transport.respondingTimeouts.readTimeout: invalid duration \"abc\"");
}

static void test_bad_trusted_ips(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.web.address=:80",
                        "--entryPoints.web.forwardedHeaders.trustedIPs=10.0.0.0/33", NULL};
  load_fails(args, NULL, "trustedIPs: invalid IP address or CIDR range \"10.0.0.0/33\"");
}

static void test_redirection_to_required_and_known(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.web.address=:80",
                        "--entryPoints.web.http.redirections.entryPoint.scheme=https", NULL};
  load_fails(args, NULL, "to: the target entry point");
  const char *args2[] = {"--entryPoints.web.address=:80",
                         "--entryPoints.web.http.redirections.entryPoint.to=nowhere", NULL};
  load_fails(args2, NULL,
             "entryPoints.web.http.redirections.entryPoint.to: entry point \"nowhere\" does not "
             "exist");
  const char *ok[] = {"--entryPoints.web.address=:80",
                      "--entryPoints.web.http.redirections.entryPoint.to=:443", NULL};
  wh_static_free(load_ok(ok, NULL, NULL));
}

static void test_log_level_and_format(void **state) {
  (void)state;
  const char *args[] = {"--log.level=verbose", NULL};
  load_fails(args, NULL, "log: level: invalid value \"verbose\"");
  const char *args2[] = {"--log.format=xml", NULL};
  load_fails(args2, NULL, "log: format: invalid value \"xml\"");
  const char *ok[] = {"--log.level=warn", NULL};
  wh_static_config *c = load_ok(ok, NULL, NULL);
  assert_string_equal(c->log->format, "common");
  wh_static_free(c);
}

static void test_access_log_validation(void **state) {
  (void)state;
  const char *a1[] = {"--accessLog.format=CLF", NULL};
  load_fails(a1, NULL, "accessLog: format: invalid value \"CLF\"");
  const char *a2[] = {"--accessLog.fields.headers.names.User-Agent=hide", NULL};
  load_fails(a2, NULL, "names.User-Agent: invalid value \"hide\"");
  const char *a3[] = {"--accessLog.filters.statusCodes=200,500-400", NULL};
  load_fails(a3, NULL, "statusCodes: invalid entry \"500-400\"");
  const char *a4[] = {"--accessLog.fields.defaultMode=maybe", NULL};
  load_fails(a4, NULL, "defaultMode: invalid value \"maybe\"");
  const char *ok[] = {"--accessLog", NULL};
  wh_static_config *c = load_ok(ok, NULL, NULL);
  assert_non_null(c->access_log);
  assert_string_equal(c->access_log->format, "common");
  wh_static_free(c);
}

static void test_acme_validation(void **state) {
  (void)state;
  const char *a1[] = {"--certificatesResolvers.le.acme.keyType=RSA1024",
                      "--certificatesResolvers.le.acme.tlsChallenge=true", NULL};
  load_fails(a1, NULL, "keyType: invalid value \"RSA1024\"");
  const char *a2[] = {"--certificatesResolvers.le.acme.email=a@b.c", NULL};
  load_fails(a2, NULL,
             "certificatesResolvers.le.acme: one of httpChallenge, tlsChallenge or dnsChallenge "
             "is required");
  const char *a3[] = {"--certificatesResolvers.le.acme.dnsChallenge.resolvers=1.1.1.1", NULL};
  load_fails(a3, NULL, "dnsChallenge: provider: required");
  const char *a4[] = {"--entryPoints.web.address=:80",
                      "--certificatesResolvers.le.acme.httpChallenge.entryPoint=webz", NULL};
  load_fails(a4, NULL,
             "certificatesResolvers.le.acme.httpChallenge.entryPoint: entry point \"webz\" does "
             "not exist");
  const char *ok[] = {"--certificatesResolvers.le.acme.tlsChallenge", NULL};
  wh_static_config *c = load_ok(ok, NULL, NULL);
  const wh_cert_resolver *r = wh_map_get(&c->certificates_resolvers, "le");
  assert_non_null(r->acme->tls_challenge);
  assert_string_equal(r->acme->storage, "acme.json");
  assert_int_equal(r->acme->certificates_duration, (wh_duration)2160 * 3600 * WH_SEC);
  wh_static_free(c);
}

/* Traefik v3.3+'s propagation options and caSystemCertPool: names, defaults,
 * an empty propagation section, and a negative delay refused. */
static void test_acme_propagation_and_ca_options(void **state) {
  (void)state;
  const char *args[] = {
      "--certificatesResolvers.le.acme.caCertificates=/etc/ca.pem",
      "--certificatesResolvers.le.acme.caSystemCertPool=true",
      "--certificatesResolvers.le.acme.dnsChallenge.provider=rfc2136",
      "--certificatesResolvers.le.acme.dnsChallenge.propagation.disableANSChecks=true",
      "--certificatesresolvers.le.acme.dnschallenge.propagation.requireallrns=true",
      NULL};
  wh_static_config *c = load_ok(args, NULL, NULL);
  const wh_cert_resolver *r = wh_map_get(&c->certificates_resolvers, "le");
  assert_true(r->acme->ca_system_cert_pool);
  const wh_acme_propagation *p = r->acme->dns_challenge->propagation;
  assert_non_null(p);
  assert_true(p->disable_ans_checks);
  assert_true(p->require_all_rns);
  assert_false(p->disable_checks);
  assert_int_equal(p->delay_before_checks, 0);
  wh_static_free(c);

  /* defaults: all off; no propagation section at all */
  const char *none[] = {"--certificatesResolvers.le.acme.dnsChallenge.provider=exec", NULL};
  c = load_ok(none, NULL, NULL);
  r = wh_map_get(&c->certificates_resolvers, "le");
  assert_false(r->acme->ca_system_cert_pool);
  assert_null(r->acme->dns_challenge->propagation);
  wh_static_free(c);

  /* an empty section exists (Traefik's allowEmpty) with every check on */
  const char *empty_flag[] = {"--certificatesResolvers.le.acme.dnsChallenge.provider=exec",
                              "--certificatesResolvers.le.acme.dnsChallenge.propagation", NULL};
  c = load_ok(empty_flag, NULL, NULL);
  r = wh_map_get(&c->certificates_resolvers, "le");
  p = r->acme->dns_challenge->propagation;
  assert_non_null(p);
  assert_false(p->disable_ans_checks);
  assert_false(p->require_all_rns);
  wh_static_free(c);

  /* environment spelling */
  const char *env[] = {
      "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_DNSCHALLENGE_PROVIDER=exec",
      "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_DNSCHALLENGE_PROPAGATION_DISABLEANSCHECKS="
      "true",
      "TRAEFIK_CERTIFICATESRESOLVERS_LE_ACME_CASYSTEMCERTPOOL=true", NULL};
  c = load_ok(NULL, env, NULL);
  r = wh_map_get(&c->certificates_resolvers, "le");
  assert_true(r->acme->ca_system_cert_pool);
  assert_true(r->acme->dns_challenge->propagation->disable_ans_checks);
  wh_static_free(c);

  const char *neg[] = {
      "--certificatesResolvers.le.acme.dnsChallenge.provider=exec",
      "--certificatesResolvers.le.acme.dnsChallenge.propagation.delayBeforeChecks=-5s", NULL};
  load_fails(neg, NULL, "propagation: delayBeforeChecks: must not be negative");
  const char *bad[] = {"--certificatesResolvers.le.acme.tlsChallenge",
                       "--certificatesResolvers.le.acme.caSystemCertPool=maybe", NULL};
  load_fails(bad, NULL, "caSystemCertPool");
}

static void test_entrypoint_cert_resolver_must_exist(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.web.address=:443",
                        "--entryPoints.web.http.tls.certResolver=nope", NULL};
  load_fails(args, NULL, "certificate resolver \"nope\" does not exist");
}

static void test_docker_endpoint(void **state) {
  (void)state;
  const char *args[] = {"--providers.docker.endpoint=/var/run/docker.sock", NULL};
  load_fails(args, NULL, "providers.docker: endpoint: invalid endpoint");
  const char *ok[] = {"--providers.docker.endpoint=tcp://127.0.0.1:2375", NULL};
  wh_static_free(load_ok(ok, NULL, NULL));
}

static void test_docker_false_disables(void **state) {
  (void)state;
  const char *args[] = {"--providers.docker=false", "--providers.file.filename=/x.yml", NULL};
  wh_static_config *c = load_ok(args, NULL, NULL);
  assert_null(c->providers->docker);
  assert_non_null(c->providers->file);
  wh_static_free(c);
}

static void test_file_provider_needs_target(void **state) {
  (void)state;
  const char *args[] = {"--providers.file.watch=true", NULL};
  load_fails(args, NULL, "providers.file: filename or directory is required");
}

static void test_api_base_path(void **state) {
  (void)state;
  const char *args[] = {"--api.basePath=api", NULL};
  load_fails(args, NULL, "api: basePath: must start with \"/\"");
  const char *ok[] = {"--api", NULL};
  wh_static_config *c = load_ok(ok, NULL, NULL);
  assert_non_null(c->api);
  assert_true(c->api->dashboard);
  assert_string_equal(c->api->base_path, "/");
  assert_null(wh_map_get(&c->entry_points, "traefik")); /* not insecure: no internal ep */
  wh_static_free(c);
}

static void test_core_rule_syntax(void **state) {
  (void)state;
  const char *args[] = {"--core.defaultRuleSyntax=v1", NULL};
  load_fails(args, NULL, "core: defaultRuleSyntax: invalid value \"v1\"");
}

static void test_ping_entrypoint_must_exist(void **state) {
  (void)state;
  const char *args[] = {"--entryPoints.web.address=:80", "--ping.entryPoint=health", NULL};
  load_fails(args, NULL, "ping.entryPoint: entry point \"health\" does not exist");
  const char *args2[] = {"--entryPoints.web.address=:80", "--metrics.prometheus.entryPoint=m",
                         NULL};
  load_fails(args2, NULL, "metrics.prometheus.entryPoint: entry point \"m\" does not exist");
  /* manual routing: the entry point is not used */
  const char *ok[] = {"--entryPoints.web.address=:80", "--ping.entryPoint=health",
                      "--ping.manualRouting=true", NULL};
  wh_static_free(load_ok(ok, NULL, NULL));
}

static void test_internal_ep_loopback_outside_containers(void **state) {
  (void)state;
  assert_string_equal(wh_static_internal_ep_address(false), "127.0.0.1:8080");
  assert_string_equal(wh_static_internal_ep_address(true), ":8080");
  char dir[] = "/tmp/wh-root-XXXXXX";
  assert_non_null(mkdtemp(dir));
  assert_false(wh_static_in_container(dir));
  char p[256];
  snprintf(p, sizeof(p), "%s/.dockerenv", dir);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fclose(f);
  assert_true(wh_static_in_container(dir)); /* Docker */
  unlink(p);
  snprintf(p, sizeof(p), "%s/run", dir);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof(p), "%s/run/.containerenv", dir);
  f = fopen(p, "w");
  assert_non_null(f);
  fclose(f);
  assert_true(wh_static_in_container(dir)); /* Podman */
  unlink(p);
  snprintf(p, sizeof(p), "%s/run", dir);
  rmdir(p);
  rmdir(dir);
}

static void test_implicit_traefik_entrypoint(void **state) {
  (void)state;
  /* ping with its default entry point creates "traefik" next to user ones */
  const char *args[] = {"--entryPoints.web.address=:80", "--ping", NULL};
  wh_static_config *c = load_ok(args, NULL, NULL);
  assert_int_equal(c->entry_points.n, 2);
  const wh_entrypoint *tr = wh_map_get(&c->entry_points, "traefik");
  assert_int_equal(tr->port, 8080);
  /* loopback unless in a container (where a published port must reach it) */
  assert_string_equal(tr->address, wh_static_internal_ep_address(wh_static_in_container("")));
  wh_static_free(c);
  /* a user-defined "traefik" is kept as written */
  const char *args2[] = {"--entryPoints.traefik.address=:9090", "--api.insecure", NULL};
  c = load_ok(args2, NULL, NULL);
  assert_int_equal(c->entry_points.n, 1);
  assert_int_equal(((wh_entrypoint *)wh_map_get(&c->entry_points, "traefik"))->port, 9090);
  wh_static_free(c);
  /* none defined and api.insecure: both http and traefik */
  const char *args3[] = {"--api.insecure=true", NULL};
  c = load_ok(args3, NULL, NULL);
  assert_int_equal(c->entry_points.n, 2);
  assert_non_null(wh_map_get(&c->entry_points, "http"));
  wh_static_free(c);
}

static void test_prometheus_buckets(void **state) {
  (void)state;
  const char *args[] = {"--metrics.prometheus.buckets=1,0.5", NULL};
  load_fails(args, NULL, "buckets: must be in strictly increasing order");
  const char *args2[] = {"--metrics.prometheus.buckets=0.1,x", NULL};
  load_fails(args2, NULL, "invalid number \"x\"");
  const char *ok[] = {"--metrics.prometheus", NULL};
  wh_static_config *c = load_ok(ok, NULL, NULL);
  assert_int_equal(c->metrics->prometheus->buckets.n, 4);
  assert_true(c->metrics->prometheus->buckets.v[3] == 5.0);
  wh_static_free(c);
}

static void test_secrets_not_encoded(void **state) {
  (void)state;
  const char *args[] = {"--providers.docker.password=hunter2",
                        "--certificatesResolvers.le.acme.eab.hmacEncoded=c2VjcmV0",
                        "--certificatesResolvers.le.acme.eab.kid=k1",
                        "--certificatesResolvers.le.acme.tlsChallenge=true", NULL};
  wh_static_config *c = load_ok(args, NULL, NULL);
  assert_string_equal(c->providers->docker->password, "hunter2");
  char *j = encode(c);
  assert_null(strstr(j, "hunter2"));
  assert_null(strstr(j, "c2VjcmV0"));
  assert_non_null(strstr(j, "\"kid\":\"k1\""));
  free(j);
  wh_static_free(c);
}

static void test_env_configfile_key_ignored(void **state) {
  (void)state;
  need_clean_machine();
  const char *env[] = {"TRAEFIK_CONFIGFILE=/nowhere.yml", "TRAEFIK_LOG_LEVEL=INFO", NULL};
  wh_static_config *c = load_ok(NULL, env, NULL);
  assert_string_equal(c->log->level, "INFO");
  wh_static_free(c);
}

static void test_finish_on_hand_built_config(void **state) {
  (void)state;
  wh_static_config *c = wh_schema_new(&wh_schema_static_config);
  assert_non_null(c);
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_int_equal(wh_static_finish(c, &errs), 0);
  assert_int_equal(c->entry_points.n, 1);
  assert_int_equal(((wh_entrypoint *)wh_map_get(&c->entry_points, "http"))->port, 80);
  /* idempotent */
  assert_int_equal(wh_static_finish(c, &errs), 0);
  assert_int_equal(c->entry_points.n, 1);
  wh_errlist_free(&errs);
  wh_static_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_config_from_yaml_flags_env),
      cmocka_unit_test(test_defaults_when_no_source),
      cmocka_unit_test(test_wharf_env_prefix),
      cmocka_unit_test(test_flags_win_over_env),
      cmocka_unit_test(test_config_file_space_form_and_case),
      cmocka_unit_test(test_search_path_home_config),
      cmocka_unit_test(test_missing_config_file),
      cmocka_unit_test(test_flags_with_config_file),
      cmocka_unit_test(test_toml_rejected),
      cmocka_unit_test(test_yaml_syntax_error),
      cmocka_unit_test(test_positional_argument_rejected),
      cmocka_unit_test(test_unknown_key_suggestion),
      cmocka_unit_test(test_bad_addresses),
      cmocka_unit_test(test_good_addresses),
      cmocka_unit_test(test_duplicate_address),
      cmocka_unit_test(test_bad_duration),
      cmocka_unit_test(test_bad_trusted_ips),
      cmocka_unit_test(test_redirection_to_required_and_known),
      cmocka_unit_test(test_log_level_and_format),
      cmocka_unit_test(test_access_log_validation),
      cmocka_unit_test(test_acme_validation),
      cmocka_unit_test(test_acme_propagation_and_ca_options),
      cmocka_unit_test(test_entrypoint_cert_resolver_must_exist),
      cmocka_unit_test(test_docker_endpoint),
      cmocka_unit_test(test_docker_false_disables),
      cmocka_unit_test(test_file_provider_needs_target),
      cmocka_unit_test(test_api_base_path),
      cmocka_unit_test(test_core_rule_syntax),
      cmocka_unit_test(test_ping_entrypoint_must_exist),
      cmocka_unit_test(test_implicit_traefik_entrypoint),
      cmocka_unit_test(test_prometheus_buckets),
      cmocka_unit_test(test_secrets_not_encoded),
      cmocka_unit_test(test_env_configfile_key_ignored),
      cmocka_unit_test(test_finish_on_hand_built_config),
      cmocka_unit_test(test_internal_ep_loopback_outside_containers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
