/* DNS-01 providers and the propagation check against real stand-ins: a
 * knotd on a loopback port (rfc2136 + propagation), a python3 HTTP server
 * playing the three Cloudflare endpoints, and a shell script for exec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "lib/acme/dns01.h"
#include "lib/acme/dns01_provider.h"
#include "lib/core/err.h"
#include "lib/core/str.h"

/* ---- helpers ---- */

static bool in_ci(void) {
  const char *ci = getenv("CI");
  return ci && strcmp(ci, "true") == 0;
}

static bool have_program(const char *path) {
  return access(path, X_OK) == 0;
}

#define REQUIRE_PROGRAM(path)                                                                      \
  do {                                                                                             \
    if (!have_program(path)) {                                                                     \
      if (in_ci())                                                                                 \
        fail_msg("%s is missing (CI=true)", path);                                                 \
      skip();                                                                                      \
    }                                                                                              \
  } while (0)

typedef struct result {
  bool called;
  int calls;
  int status;
  char msg[2048];
} result;

static void on_done(void *arg, int status, const char *message) {
  result *r = arg;
  r->called = true;
  r->calls++;
  r->status = status;
  snprintf(r->msg, sizeof(r->msg), "%s", message);
}

static void tick(uv_timer_t *t) {
  (void)t;
}

/* Runs loop until r->called, at most ms. */
static void run_until(uv_loop_t *loop, result *r, int ms) {
  uv_timer_t guard;
  uv_timer_init(loop, &guard);
  uv_timer_start(&guard, tick, 20, 20);
  uint64_t end = uv_now(loop) + (uint64_t)ms;
  while (!r->called && uv_now(loop) < end)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  assert_true(r->called);
  assert_int_equal(r->calls, 1);
}

static void loop_finish(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(loop), 0);
}

static char *make_tmpdir(void) {
  char tmpl[] = "/tmp/wh_dns01_XXXXXX";
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return wh_strdup(d);
}

static void rm_rf(const char *dir) {
  char *cmd = wh_asprintf("rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(cmd);
}

static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return wh_strdup("");
  wh_strbuf b = {0};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
    wh_strbuf_append(&b, buf, n);
  fclose(f);
  char *s = wh_strbuf_take(&b);
  return s ? s : wh_strdup("");
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  socklen_t al = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  return ntohs(a.sin_port);
}

/* children still running, stopped after each test even when it failed */
static pid_t children[8];

static pid_t spawn(char *const argv[], const char *log) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid > 0)
    for (size_t i = 0; i < sizeof(children) / sizeof(*children); i++)
      if (children[i] == 0) {
        children[i] = pid;
        break;
      }
  if (pid == 0) {
    /* the test's output stays the test's: a child that outlives a failed
     * test must not hold its pipes */
    FILE *f = freopen(log ? log : "/dev/null", "w", stderr);
    FILE *o = freopen("/dev/null", "w", stdout);
    (void)f;
    (void)o;
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static void stop_child(pid_t pid) {
  for (size_t i = 0; i < sizeof(children) / sizeof(*children); i++)
    if (children[i] == pid)
      children[i] = 0;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return;
    usleep(20000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static int reap_children(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(children) / sizeof(*children); i++)
    if (children[i] > 0)
      stop_child(children[i]);
  return 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- pure helpers ---- */

static void test_value_and_fqdn(void **state) {
  (void)state;
  char v[WH_DNS01_VALUE_SIZE];
  wh_dns01_value("token.thumb", v);
  assert_string_equal(v, "lCdftpJCXapaZHkBGIZbcubeKW8RmA0jSG_aZN01zbU");
  char *f = wh_dns01_fqdn("*.example.com");
  assert_string_equal(f, "_acme-challenge.example.com.");
  free(f);
  f = wh_dns01_fqdn("www.example.com.");
  assert_string_equal(f, "_acme-challenge.www.example.com.");
  free(f);
}

static void test_env(void **state) {
  (void)state;
  char *dir = make_tmpdir();
  char *path = wh_asprintf("%s/secret", dir);
  write_file(path, "from-file\n", 0600);
  char *file_var = wh_asprintf("CF_API_KEY_FILE=%s", path);
  char *envp[] = {"A=1", "EMPTY=", "N=42", "BAD=4x", file_var, NULL};
  char *v = wh_dns01_env(envp, "A");
  assert_string_equal(v, "1");
  free(v);
  assert_null(wh_dns01_env(envp, "EMPTY"));
  assert_null(wh_dns01_env(envp, "MISSING"));
  v = wh_dns01_env_any(envp, (const char *const[]){"CLOUDFLARE_API_KEY", "CF_API_KEY", NULL});
  assert_string_equal(v, "from-file");
  free(v);
  assert_int_equal(wh_dns01_env_seconds(envp, (const char *const[]){"N", NULL}, 7), 42000);
  assert_int_equal(wh_dns01_env_seconds(envp, (const char *const[]){"BAD", NULL}, 7), 7);
  free(file_var);
  free(path);
  rm_rf(dir);
  free(dir);
}

static void test_new_errors(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[512];
  char *none[] = {NULL};
  assert_null(wh_dns01_new("route53x", &loop, none, err, sizeof(err)));
  assert_non_null(strstr(err, "unknown DNS challenge provider route53x"));
  assert_null(wh_dns01_new("rfc2136", &loop, none, err, sizeof(err)));
  assert_non_null(strstr(err, "RFC2136_NAMESERVER"));
  char *badalg[] = {"RFC2136_NAMESERVER=127.0.0.1", "RFC2136_TSIG_ALGORITHM=hmac-md4", NULL};
  assert_null(wh_dns01_new("rfc2136", &loop, badalg, err, sizeof(err)));
  assert_non_null(strstr(err, "unsupported TSIG algorithm: hmac-md4."));
  assert_null(wh_dns01_new("cloudflare", &loop, none, err, sizeof(err)));
  assert_non_null(strstr(err, "CLOUDFLARE_DNS_API_TOKEN"));
  char *lowttl[] = {"CF_DNS_API_TOKEN=x", "CLOUDFLARE_TTL=60", NULL};
  assert_null(wh_dns01_new("cloudflare", &loop, lowttl, err, sizeof(err)));
  assert_non_null(strstr(err, "TTL"));
  assert_null(wh_dns01_new("exec", &loop, none, err, sizeof(err)));
  assert_non_null(strstr(err, "EXEC_PATH"));

  /* lego's timings: defaults and overrides */
  char *rfc[] = {"RFC2136_NAMESERVER=127.0.0.1", "RFC2136_PROPAGATION_TIMEOUT=30", NULL};
  wh_dns01_provider *p = wh_dns01_new("rfc2136", &loop, rfc, err, sizeof(err));
  assert_non_null(p);
  uint64_t t, i;
  wh_dns01_timing(p, &t, &i);
  assert_int_equal(t, 30000);
  assert_int_equal(i, 2000);
  assert_int_equal(wh_dns01_sequence_interval(p), 60000);
  wh_dns01_free(p);
  char *cf[] = {"CF_DNS_API_TOKEN=x", NULL};
  p = wh_dns01_new("cloudflare", &loop, cf, err, sizeof(err));
  assert_non_null(p);
  wh_dns01_timing(p, &t, &i);
  assert_int_equal(t, 120000);
  assert_int_equal(i, 2000);
  wh_dns01_free(p);
  loop_finish(&loop);
}

/* ---- rfc2136 against knotd ---- */

#define KNOTD "/usr/sbin/knotd"
#define TSIG_SECRET "Vr8F7W5vJzU0r4Y2m4a9o1QG0mE3w6wT4n8y7fC2Zk0="

typedef struct knot {
  char *dir;
  int port;
  pid_t pid;
  char server[64];
} knot;

static void knot_start(knot *k) {
  k->dir = make_tmpdir();
  k->port = free_port();
  snprintf(k->server, sizeof(k->server), "127.0.0.1:%d", k->port);
  char *zone = wh_asprintf("%s/example.test.zone", k->dir);
  write_file(zone,
             "$ORIGIN example.test.\n$TTL 300\n"
             "@ SOA ns.example.test. admin.example.test. 1 3600 900 604800 60\n"
             "@ NS ns\nns A 127.0.0.1\nwww A 127.0.0.1\n",
             0600);
  char *conf = wh_asprintf(
      "server:\n  listen: 127.0.0.1@%d\n  rundir: %s\n"
      "control:\n  listen: %s/knot.sock\n"
      "database:\n  storage: %s\n"
      "log:\n  - target: stderr\n    any: info\n"
      "key:\n  - id: acme-key.\n    algorithm: hmac-sha256\n    secret: " TSIG_SECRET "\n"
      "acl:\n  - id: update_acl\n    key: acme-key.\n    action: update\n"
      "zone:\n  - domain: example.test\n    file: %s\n    acl: update_acl\n",
      k->port, k->dir, k->dir, k->dir, zone);
  char *conf_path = wh_asprintf("%s/knot.conf", k->dir);
  write_file(conf_path, conf, 0600);
  char *log = wh_asprintf("%s/knotd.log", k->dir);
  char *argv[] = {KNOTD, "-c", conf_path, NULL};
  k->pid = spawn(argv, log);
  /* up once it answers the zone's SOA */
  bool up = false;
  for (int i = 0; i < 100 && !up; i++) {
    ldns_pkt *r = NULL;
    char *why = NULL;
    if (wh_dns01_query(k->server, "example.test.", LDNS_RR_TYPE_SOA, false, 200, &r, &why) == 0) {
      up = ldns_pkt_get_rcode(r) == LDNS_RCODE_NOERROR && ldns_pkt_ancount(r) == 1;
      ldns_pkt_free(r);
    }
    free(why);
    if (!up)
      sleep_ms(50);
  }
  if (!up) {
    char *text = read_file(log);
    fprintf(stderr, "knotd log:\n%s\n", text);
    free(text);
  }
  assert_true(up);
  free(zone);
  free(conf);
  free(conf_path);
  free(log);
}

static void knot_stop(knot *k) {
  stop_child(k->pid);
  rm_rf(k->dir);
  free(k->dir);
}

/* The TXT values of name at the server, joined by " ". */
static char *txt_at(const knot *k, const char *name) {
  ldns_pkt *r = NULL;
  char *why = NULL;
  assert_int_equal(wh_dns01_query(k->server, name, LDNS_RR_TYPE_TXT, false, 1000, &r, &why), 0);
  wh_strbuf b = {0};
  const ldns_rr_list *a = ldns_pkt_answer(r);
  for (size_t i = 0; a && i < ldns_rr_list_rr_count(a); i++) {
    ldns_rr *rr = ldns_rr_list_rr(a, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT)
      continue;
    char *s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    if (b.len)
      wh_strbuf_putc(&b, ' ');
    wh_strbuf_puts(&b, s);
    free(s);
  }
  ldns_pkt_free(r);
  free(why);
  char *s = wh_strbuf_take(&b);
  return s ? s : wh_strdup("");
}

static void test_rfc2136_knot(void **state) {
  (void)state;
  REQUIRE_PROGRAM(KNOTD);
  knot k;
  knot_start(&k);
  uv_loop_t loop;
  uv_loop_init(&loop);
  char ns[128], err[512];
  snprintf(ns, sizeof(ns), "RFC2136_NAMESERVER=%s", k.server);
  char *envp[] = {ns,
                  "RFC2136_TSIG_KEY=acme-key",
                  "RFC2136_TSIG_SECRET=" TSIG_SECRET,
                  "RFC2136_TSIG_ALGORITHM=hmac-sha256.",
                  "RFC2136_TTL=60",
                  "RFC2136_DNS_TIMEOUT=2",
                  NULL};
  wh_dns01_provider *p = wh_dns01_new("rfc2136", &loop, envp, err, sizeof(err));
  assert_non_null(p);
  assert_string_equal(wh_dns01_name(p), "rfc2136");

  char value[WH_DNS01_VALUE_SIZE];
  wh_dns01_value("tok.thumb", value);
  result r = {0};
  assert_int_equal(wh_dns01_present(p, "*.www.example.test", "tok", "tok.thumb", on_done, &r), 0);
  assert_false(r.called); /* never from inside present */
  run_until(&loop, &r, 5000);
  assert_int_equal(r.status, 0);
  char *seen = txt_at(&k, "_acme-challenge.www.example.test.");
  char *want = wh_asprintf("\"%s\"", value);
  assert_string_equal(seen, want);
  free(seen);
  free(want);

  /* the check sees it at the resolver and at the zone's nameserver */
  const char *resolvers[] = {k.server};
  wh_dns01_check_opts o = {.resolvers = resolvers,
                           .n_resolvers = 1,
                           .require_all_resolvers = true,
                           .authoritative_port = (uint16_t)k.port,
                           .timeout_ms = 3000,
                           .interval_ms = 100,
                           .dns_timeout_ms = 1000};
  result c = {0};
  wh_dns01_check *chk =
      wh_dns01_check_propagation(&loop, "_acme-challenge.www.example.test", value, &o, on_done, &c);
  assert_non_null(chk);
  run_until(&loop, &c, 5000);
  assert_int_equal(c.status, 0);

  /* a value that is not there: the check gives up with lego's reason */
  result miss = {0};
  o.timeout_ms = 400;
  chk = wh_dns01_check_propagation(&loop, "_acme-challenge.www.example.test.", "other", &o, on_done,
                                   &miss);
  assert_non_null(chk);
  run_until(&loop, &miss, 5000);
  assert_int_equal(miss.status, WH_ERR);
  assert_non_null(strstr(miss.msg, "did not return the expected TXT record"));

  /* cancelled: no callback */
  result never = {0};
  chk = wh_dns01_check_propagation(&loop, "_acme-challenge.www.example.test.", value, &o, on_done,
                                   &never);
  wh_dns01_check_cancel(chk);

  /* cleanup removes it */
  result r2 = {0};
  assert_int_equal(wh_dns01_cleanup(p, "*.www.example.test", "tok", "tok.thumb", on_done, &r2), 0);
  run_until(&loop, &r2, 5000);
  assert_int_equal(r2.status, 0);
  seen = txt_at(&k, "_acme-challenge.www.example.test.");
  assert_string_equal(seen, "");
  free(seen);
  wh_dns01_free(p);

  /* a wrong TSIG secret: refused, and said so */
  char *bad[] = {ns, "RFC2136_TSIG_KEY=acme-key",
                 "RFC2136_TSIG_SECRET=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                 "RFC2136_TSIG_ALGORITHM=hmac-sha256", NULL};
  p = wh_dns01_new("rfc2136", &loop, bad, err, sizeof(err));
  assert_non_null(p);
  result r3 = {0};
  assert_int_equal(wh_dns01_present(p, "example.test", "t", "t.k", on_done, &r3), 0);
  run_until(&loop, &r3, 5000);
  assert_int_equal(r3.status, WH_ERR);
  assert_non_null(strstr(r3.msg, "replied NOTAUTH for INSERT example.test."));
  assert_non_null(strstr(r3.msg, "TSIG signature was refused"));
  seen = txt_at(&k, "_acme-challenge.example.test.");
  assert_string_equal(seen, "");
  free(seen);
  wh_dns01_free(p);

  /* no zone for the name at that server */
  p = wh_dns01_new("rfc2136", &loop, envp, err, sizeof(err));
  result r4 = {0};
  assert_int_equal(wh_dns01_present(p, "example.invalid", "t", "t.k", on_done, &r4), 0);
  run_until(&loop, &r4, 8000);
  assert_int_equal(r4.status, WH_ERR);
  assert_non_null(strstr(r4.msg, "rfc2136: failed to insert"));
  wh_dns01_free(p);

  loop_finish(&loop);
  assert_false(never.called);
  knot_stop(&k);
}

/* ---- cloudflare against a python3 stand-in ---- */

#define PYTHON "/usr/bin/python3"

static const char cf_server_py[] =
    "import json, sys, urllib.parse\n"
    "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
    "log_path, port_path = sys.argv[1], sys.argv[2]\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def answer(self, code, obj):\n"
    "        b = json.dumps(obj).encode()\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', 'application/json')\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "    def handle_any(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        body = self.rfile.read(n).decode() if n else ''\n"
    "        auth = self.headers.get('Authorization') or ''\n"
    "        if not auth and self.headers.get('X-Auth-Email'):\n"
    "            auth = 'key ' + self.headers['X-Auth-Email'] + ' ' + "
    "(self.headers.get('X-Auth-Key') or '')\n"
    "        with open(log_path, 'a') as f:\n"
    "            f.write(json.dumps([self.command, self.path, auth, "
    "self.headers.get('Content-Type') or '', body]) + '\\n')\n"
    "        u = urllib.parse.urlparse(self.path)\n"
    "        read = self.command == 'GET'\n"
    "        ok = auth in (('Bearer zone-token' if read else 'Bearer dns-token'), "
    "'key me@example.com good-key')\n"
    "        if not ok:\n"
    "            return self.answer(401, {'success': False, 'errors': [{'code': 10000, "
    "'message': 'Authentication error'}], 'messages': [], 'result': None})\n"
    "        if read and u.path == '/client/v4/zones':\n"
    "            q = urllib.parse.parse_qs(u.query)\n"
    "            z = [{'id': 'zone123', 'name': 'example.com'}] if q.get('name') == "
    "['example.com'] else []\n"
    "            return self.answer(200, {'success': True, 'errors': [], 'result': z})\n"
    "        if self.command == 'POST' and u.path == '/client/v4/zones/zone123/dns_records':\n"
    "            return self.answer(200, {'success': True, 'errors': [], 'result': "
    "dict(json.loads(body), id='rec456')})\n"
    "        if self.command == 'DELETE' and u.path == "
    "'/client/v4/zones/zone123/dns_records/rec456':\n"
    "            return self.answer(200, {'success': True, 'errors': [], 'result': "
    "{'id': 'rec456'}})\n"
    "        self.answer(404, {'success': False, 'errors': [{'code': 7003, 'message': "
    "'Could not route'}]})\n"
    "    do_GET = do_POST = do_DELETE = handle_any\n"
    "s = HTTPServer(('127.0.0.1', 0), H)\n"
    "with open(port_path + '.tmp', 'w') as f: f.write(str(s.server_address[1]))\n"
    "import os; os.rename(port_path + '.tmp', port_path)\n"
    "s.serve_forever()\n";

typedef struct cf_stub {
  char *dir, *log, *base_env;
  pid_t pid;
} cf_stub;

static void cf_start_stub(cf_stub *s) {
  s->dir = make_tmpdir();
  char *script = wh_asprintf("%s/cf.py", s->dir);
  char *port_path = wh_asprintf("%s/port", s->dir);
  s->log = wh_asprintf("%s/calls.log", s->dir);
  write_file(script, cf_server_py, 0600);
  char *argv[] = {PYTHON, script, s->log, port_path, NULL};
  s->pid = spawn(argv, NULL);
  char *port = NULL;
  for (int i = 0; i < 200; i++) {
    port = read_file(port_path);
    if (*port)
      break;
    free(port);
    port = NULL;
    sleep_ms(25);
  }
  assert_non_null(port);
  s->base_env = wh_asprintf("CLOUDFLARE_BASE_URL=http://127.0.0.1:%s/client/v4/", port);
  free(port);
  free(script);
  free(port_path);
}

static void cf_stop_stub(cf_stub *s) {
  stop_child(s->pid);
  rm_rf(s->dir);
  free(s->dir);
  free(s->log);
  free(s->base_env);
}

static char *cf_calls(cf_stub *s) {
  char *t = read_file(s->log);
  unlink(s->log);
  return t;
}

static void cf_flow(char **envp, cf_stub *s, const char *read_auth, const char *write_auth) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[512];
  wh_dns01_provider *p = wh_dns01_new("cloudflare", &loop, envp, err, sizeof(err));
  assert_non_null(p);
  char value[WH_DNS01_VALUE_SIZE];
  wh_dns01_value("tok.thumb", value);

  result r = {0};
  assert_int_equal(wh_dns01_present(p, "*.www.example.com", "tok", "tok.thumb", on_done, &r), 0);
  run_until(&loop, &r, 5000);
  assert_int_equal(r.status, 0);
  char *calls = cf_calls(s);
  char *want = wh_asprintf(
      "[\"GET\", \"/client/v4/zones?name=www.example.com&per_page=50\", \"%s\", \"\", \"\"]\n"
      "[\"GET\", \"/client/v4/zones?name=example.com&per_page=50\", \"%s\", \"\", \"\"]\n"
      "[\"POST\", \"/client/v4/zones/zone123/dns_records\", \"%s\", \"application/json\", "
      "\"{\\\"type\\\":\\\"TXT\\\",\\\"name\\\":\\\"_acme-challenge.www.example.com\\\","
      "\\\"content\\\":\\\"\\\\\\\"%s\\\\\\\"\\\",\\\"ttl\\\":120}\"]\n",
      read_auth, read_auth, write_auth, value);
  assert_string_equal(calls, want);
  free(calls);
  free(want);

  result r2 = {0};
  assert_int_equal(wh_dns01_cleanup(p, "*.www.example.com", "tok", "tok.thumb", on_done, &r2), 0);
  run_until(&loop, &r2, 5000);
  assert_int_equal(r2.status, 0);
  calls = cf_calls(s);
  want = wh_asprintf(
      "[\"DELETE\", \"/client/v4/zones/zone123/dns_records/rec456\", \"%s\", \"\", \"\"]\n",
      write_auth);
  assert_string_equal(calls, want);
  free(calls);
  free(want);

  /* a second cleanup: the record is not known any more */
  result r3 = {0};
  assert_int_equal(wh_dns01_cleanup(p, "*.www.example.com", "tok", "tok.thumb", on_done, &r3), 0);
  assert_false(r3.called);
  run_until(&loop, &r3, 5000);
  assert_int_equal(r3.status, WH_ERR);
  assert_non_null(strstr(r3.msg, "unknown record ID for '_acme-challenge.www.example.com.'"));

  /* a zone nobody has */
  result r4 = {0};
  assert_int_equal(wh_dns01_present(p, "a.b.example.org", "tok", "tok.thumb", on_done, &r4), 0);
  run_until(&loop, &r4, 5000);
  assert_int_equal(r4.status, WH_ERR);
  assert_non_null(strstr(r4.msg, "could not find zone for domain a.b.example.org"));
  free(cf_calls(s));

  wh_dns01_free(p);
  loop_finish(&loop);
}

static void test_cloudflare(void **state) {
  (void)state;
  REQUIRE_PROGRAM(PYTHON);
  cf_stub s;
  cf_start_stub(&s);

  char *tokens[] = {s.base_env, "CF_DNS_API_TOKEN=dns-token", "CF_ZONE_API_TOKEN=zone-token", NULL};
  cf_flow(tokens, &s, "Bearer zone-token", "Bearer dns-token");
  char *keys[] = {s.base_env, "CLOUDFLARE_EMAIL=me@example.com", "CF_API_KEY=good-key",
                  "CF_DNS_API_TOKEN=ignored-when-a-key-is-set", NULL};
  cf_flow(keys, &s, "key me@example.com good-key", "key me@example.com good-key");

  /* refused credentials: Cloudflare's own error text */
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[512];
  char *bad[] = {s.base_env, "CLOUDFLARE_DNS_API_TOKEN=wrong", NULL};
  wh_dns01_provider *p = wh_dns01_new("cloudflare", &loop, bad, err, sizeof(err));
  assert_non_null(p);
  result r = {0};
  assert_int_equal(wh_dns01_present(p, "example.com", "t", "t.k", on_done, &r), 0);
  run_until(&loop, &r, 5000);
  assert_int_equal(r.status, WH_ERR);
  assert_string_equal(r.msg, "cloudflare: failed to find zone: [status code 401] 10000: "
                             "Authentication error");

  /* freed with a call in flight: no callback, nothing leaks */
  result never = {0};
  assert_int_equal(wh_dns01_present(p, "example.com", "t", "t.k", on_done, &never), 0);
  wh_dns01_free(p);
  loop_finish(&loop);
  assert_false(never.called);
  cf_stop_stub(&s);
}

/* ---- exec ---- */

static void test_exec(void **state) {
  (void)state;
  char *dir = make_tmpdir();
  char *script = wh_asprintf("%s/hook.sh", dir);
  char *args = wh_asprintf("%s/args", dir);
  char *text = wh_asprintf("#!/bin/sh\n"
                           "echo \"$*\" >> '%s'\n"
                           "case \"$2\" in *fail*) echo 'no such zone' >&2; exit 3;; esac\n"
                           "case \"$4\" in *fail*) echo \"raw: $4\" >&2; exit 4;; esac\n"
                           "[ \"$3\" = slow.example.com ] && exec sleep 10\n"
                           "exit 0\n",
                           args);
  write_file(script, text, 0755);
  char *path_var = wh_asprintf("EXEC_PATH=%s", script);
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[512];
  char *envp[] = {path_var, NULL};
  wh_dns01_provider *p = wh_dns01_new("exec", &loop, envp, err, sizeof(err));
  assert_non_null(p);
  char value[WH_DNS01_VALUE_SIZE];
  wh_dns01_value("tok.thumb", value);

  result r = {0};
  assert_int_equal(wh_dns01_present(p, "*.example.com", "tok", "tok.thumb", on_done, &r), 0);
  run_until(&loop, &r, 5000);
  assert_int_equal(r.status, 0);
  result r2 = {0};
  assert_int_equal(wh_dns01_cleanup(p, "*.example.com", "tok", "tok.thumb", on_done, &r2), 0);
  run_until(&loop, &r2, 5000);
  assert_int_equal(r2.status, 0);
  char *got = read_file(args);
  char *want = wh_asprintf("present _acme-challenge.example.com. %s\n"
                           "cleanup _acme-challenge.example.com. %s\n",
                           value, value);
  assert_string_equal(got, want);
  free(got);
  free(want);

  result r3 = {0};
  assert_int_equal(wh_dns01_present(p, "fail.example.com", "tok", "tok.thumb", on_done, &r3), 0);
  run_until(&loop, &r3, 5000);
  assert_int_equal(r3.status, WH_ERR);
  assert_non_null(strstr(r3.msg, "exit status 3"));
  assert_non_null(strstr(r3.msg, "no such zone"));
  wh_dns01_free(p);

  /* RAW mode: "present -- <domain> <token> <key authorization>" */
  unlink(args);
  char *raw[] = {path_var, "EXEC_MODE=RAW", NULL};
  p = wh_dns01_new("exec", &loop, raw, err, sizeof(err));
  result r4 = {0};
  assert_int_equal(wh_dns01_present(p, "*.example.com", "tok", "tok.thumb", on_done, &r4), 0);
  run_until(&loop, &r4, 5000);
  assert_int_equal(r4.status, 0);
  result r5 = {0};
  assert_int_equal(wh_dns01_cleanup(p, "x.example.com", "fail", "fail.k", on_done, &r5), 0);
  run_until(&loop, &r5, 5000);
  assert_int_equal(r5.status, WH_ERR);
  assert_non_null(strstr(r5.msg, "exit status 4: raw: fail"));
  got = read_file(args);
  assert_string_equal(got, "present -- *.example.com tok tok.thumb\n"
                           "cleanup -- x.example.com fail fail.k\n");
  free(got);
  wh_dns01_free(p);

  /* the timeout kills a program that hangs */
  char *slow[] = {path_var, "EXEC_MODE=RAW", "EXEC_PROPAGATION_TIMEOUT=1", NULL};
  p = wh_dns01_new("exec", &loop, slow, err, sizeof(err));
  result r6 = {0};
  assert_int_equal(wh_dns01_present(p, "slow.example.com", "t", "t.k", on_done, &r6), 0);
  run_until(&loop, &r6, 5000);
  assert_int_equal(r6.status, WH_ERR);
  assert_non_null(strstr(r6.msg, "killed after 1 s"));
  /* freed while one runs: killed, no callback */
  result never = {0};
  assert_int_equal(wh_dns01_present(p, "slow.example.com", "t", "t.k", on_done, &never), 0);
  wh_dns01_free(p);

  /* a program that does not exist */
  char *missing[] = {"EXEC_PATH=/nonexistent/hook", NULL};
  p = wh_dns01_new("exec", &loop, missing, err, sizeof(err));
  result r7 = {0};
  assert_int_equal(wh_dns01_present(p, "example.com", "t", "t.k", on_done, &r7), 0);
  assert_false(r7.called);
  run_until(&loop, &r7, 5000);
  assert_int_equal(r7.status, WH_ERR);
  assert_non_null(strstr(r7.msg, "/nonexistent/hook"));
  wh_dns01_free(p);

  loop_finish(&loop);
  assert_false(never.called);
  free(path_var);
  free(text);
  free(args);
  free(script);
  rm_rf(dir);
  free(dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_value_and_fqdn),
      cmocka_unit_test(test_env),
      cmocka_unit_test(test_new_errors),
      cmocka_unit_test_teardown(test_rfc2136_knot, reap_children),
      cmocka_unit_test_teardown(test_cloudflare, reap_children),
      cmocka_unit_test(test_exec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
