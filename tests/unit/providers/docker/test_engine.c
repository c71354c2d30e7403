/* The Docker engine client and provider against a fake engine: an HTTP
 * server on a Unix socket in a temporary directory, run by a thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/config/schema.h"
#include "lib/core/str.h"
#include "providers/docker/docker_provider.h"
#include "providers/docker/engine.h"

/* ---- the fake engine ---- */

#define MAXC 8
#define MAXEV 256

typedef struct fake {
  char dir[32], sock[100];
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool want_up, quit;
  int lfd;
  atomic_int conns; /* connection threads alive */
  /* state, under mu */
  char ids[MAXC][65];
  char *inspect[MAXC]; /* NULL: 404 */
  int nc;
  int n_version, n_list, n_events, n_inspect[MAXC], n_inspect_unknown;
  int version_status;   /* answer of /version */
  const char *list_raw; /* replaces the list body when set */
  char *evq[MAXEV];
  int nev;
  int events_gen; /* bumped to end the current event streams */
  char user_agent[128];
  uint64_t version_ms[16];
  int nversion_ms;
} fake;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void respond(int fd, int status, const char *body) {
  char head[256];
  size_t n = strlen(body);
  int h = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, n);
  write_all(fd, head, (size_t)h);
  write_all(fd, body, n);
}

static char *list_body(fake *f) {
  wh_strbuf b = {0};
  wh_strbuf_putc(&b, '[');
  for (int i = 0; i < f->nc; i++)
    wh_strbuf_printf(&b, "%s{\"Id\":\"%s\",\"State\":\"running\"}", i ? "," : "", f->ids[i]);
  wh_strbuf_putc(&b, ']');
  return wh_strbuf_take(&b);
}

static void serve_events(fake *f, int fd) {
  const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n";
  write_all(fd, head, strlen(head));
  pthread_mutex_lock(&f->mu);
  int gen = f->events_gen;
  while (!f->quit && f->events_gen == gen) {
    while (f->nev) {
      char *ev = f->evq[0];
      memmove(&f->evq[0], &f->evq[1], (size_t)(f->nev - 1) * sizeof(char *));
      f->nev--;
      pthread_mutex_unlock(&f->mu);
      char chunk[64];
      int h = snprintf(chunk, sizeof(chunk), "%zx\r\n", strlen(ev));
      write_all(fd, chunk, (size_t)h);
      write_all(fd, ev, strlen(ev));
      write_all(fd, "\r\n", 2);
      free(ev);
      pthread_mutex_lock(&f->mu);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&f->cv, &f->mu, &ts);
  }
  pthread_mutex_unlock(&f->mu);
  /* Ends without the last chunk: the engine died. */
}

typedef struct conn_arg {
  fake *f;
  int fd;
} conn_arg;

static void *conn_main(void *arg) {
  conn_arg *ca = arg;
  fake *f = ca->f;
  int fd = ca->fd;
  free(ca);
  char req[8192];
  size_t n = 0;
  while (n < sizeof(req) - 1) {
    ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
    if (r <= 0)
      break;
    n += (size_t)r;
    req[n] = '\0';
    if (strstr(req, "\r\n\r\n"))
      break;
  }
  req[n] = '\0';
  char path[1024] = "";
  sscanf(req, "GET %1023s", path);
  pthread_mutex_lock(&f->mu);
  const char *ua = strstr(req, "User-Agent: ");
  if (ua)
    sscanf(ua + 12, "%127[^\r\n]", f->user_agent);
  if (strcmp(path, "/version") == 0) {
    f->n_version++;
    if (f->nversion_ms < 16)
      f->version_ms[f->nversion_ms++] = now_ms();
    int st = f->version_status;
    pthread_mutex_unlock(&f->mu);
    respond(fd, st, st == 200 ? "{\"Version\":\"99.0\",\"ApiVersion\":\"1.99\"}" : "{}");
  } else if (strcmp(path, "/containers/json?all=1") == 0) {
    f->n_list++;
    char *body = f->list_raw ? strdup(f->list_raw) : list_body(f);
    pthread_mutex_unlock(&f->mu);
    respond(fd, 200, body);
    free(body);
  } else if (strncmp(path, "/events?", 8) == 0) {
    f->n_events++;
    pthread_mutex_unlock(&f->mu);
    serve_events(f, fd);
  } else if (strncmp(path, "/containers/", 12) == 0) {
    char id[128] = "";
    sscanf(path + 12, "%127[^/]", id);
    int i;
    for (i = 0; i < f->nc && strcmp(f->ids[i], id) != 0; i++)
      ;
    char *body = NULL;
    if (i < f->nc) {
      f->n_inspect[i]++;
      body = f->inspect[i] ? strdup(f->inspect[i]) : NULL;
    } else {
      f->n_inspect_unknown++;
    }
    pthread_mutex_unlock(&f->mu);
    if (body)
      respond(fd, 200, body);
    else
      respond(fd, 404, "{\"message\":\"No such container\"}");
    free(body);
  } else {
    pthread_mutex_unlock(&f->mu);
    respond(fd, 404, "{}");
  }
  close(fd);
  atomic_fetch_sub(&f->conns, 1);
  return NULL;
}

static void *accept_main(void *arg) {
  fake *f = arg;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    bool quit = f->quit, up = f->want_up;
    pthread_mutex_unlock(&f->mu);
    if (quit)
      break;
    if (up && f->lfd < 0) {
      int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_un a = {.sun_family = AF_UNIX};
      snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->sock);
      unlink(f->sock);
      if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 64) == 0)
        f->lfd = fd;
      else
        close(fd);
    } else if (!up && f->lfd >= 0) {
      close(f->lfd);
      f->lfd = -1;
      unlink(f->sock);
    }
    if (f->lfd < 0) {
      usleep(5000);
      continue;
    }
    struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 10) <= 0)
      continue;
    int c = accept(f->lfd, NULL, NULL);
    if (c < 0)
      continue;
    conn_arg *ca = malloc(sizeof(*ca));
    ca->f = f;
    ca->fd = c;
    atomic_fetch_add(&f->conns, 1);
    pthread_t t;
    pthread_create(&t, NULL, conn_main, ca);
    pthread_detach(t);
  }
  if (f->lfd >= 0)
    close(f->lfd);
  return NULL;
}

static char *inspect_json(const char *id, const char *name, const char *router, const char *ip) {
  return wh_asprintf(
      "{\"Id\":\"%s\",\"Name\":\"/%s\",\"State\":{\"Status\":\"running\",\"Running\":true},"
      "\"Config\":{\"Labels\":{\"traefik.http.routers.%s.rule\":\"Host(`%s.example`)\"}},"
      "\"HostConfig\":{\"NetworkMode\":\"bridge\"},\"NetworkSettings\":{\"Ports\":{\"80/tcp\":"
      "null},\"Networks\":{\"bridge\":{\"IPAddress\":\"%s\",\"GlobalIPv6Address\":\"\"}}}}",
      id, name, router, router, ip);
}

static void make_id(char out[65], char c) {
  memset(out, c, 64);
  out[64] = '\0';
}

static void fake_add(fake *f, char idc, const char *name, const char *router, const char *ip) {
  pthread_mutex_lock(&f->mu);
  make_id(f->ids[f->nc], idc);
  f->inspect[f->nc] = inspect_json(f->ids[f->nc], name, router, ip);
  f->nc++;
  pthread_mutex_unlock(&f->mu);
}

static void fake_set_inspect(fake *f, int i, char *json) {
  pthread_mutex_lock(&f->mu);
  free(f->inspect[i]);
  f->inspect[i] = json;
  pthread_mutex_unlock(&f->mu);
}

static void fake_event(fake *f, const char *action, const char *id) {
  pthread_mutex_lock(&f->mu);
  if (f->nev < MAXEV)
    f->evq[f->nev++] = wh_asprintf("{\"Type\":\"container\",\"Action\":\"%s\",\"Actor\":{\"ID\":"
                                   "\"%s\",\"Attributes\":{}},\"time\":1}\n",
                                   action, id);
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

static void fake_raw_event(fake *f, const char *text) {
  pthread_mutex_lock(&f->mu);
  if (f->nev < MAXEV)
    f->evq[f->nev++] = strdup(text);
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

static void fake_set_up(fake *f, bool up) {
  pthread_mutex_lock(&f->mu);
  f->want_up = up;
  if (!up)
    f->events_gen++;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  /* Wait for the listener to follow. */
  for (int i = 0; i < 200 && (up ? f->lfd < 0 : f->lfd >= 0); i++)
    usleep(5000);
}

static fake *fake_start(void) {
  fake *f = calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/wh-dockerXXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->sock, sizeof(f->sock), "%s/docker.sock", f->dir);
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  f->lfd = -1;
  f->want_up = true;
  f->version_status = 200;
  pthread_create(&f->th, NULL, accept_main, f);
  fake_set_up(f, true);
  return f;
}

static void fake_stop(fake *f) {
  pthread_mutex_lock(&f->mu);
  f->quit = true;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  pthread_join(f->th, NULL);
  while (atomic_load(&f->conns) > 0)
    usleep(2000);
  unlink(f->sock);
  rmdir(f->dir);
  for (int i = 0; i < f->nc; i++)
    free(f->inspect[i]);
  for (int i = 0; i < f->nev; i++)
    free(f->evq[i]);
  pthread_mutex_destroy(&f->mu);
  pthread_cond_destroy(&f->cv);
  free(f);
}

static int fake_get(fake *f, const int *field) {
  pthread_mutex_lock(&f->mu);
  int v = *field;
  pthread_mutex_unlock(&f->mu);
  return v;
}

/* ---- the provider under test ---- */

typedef struct harness {
  uv_loop_t loop;
  fake *f;
  wh_docker_provider dcfg;
  wh_providers provs;
  wh_static_config stat;
  wh_provider *p;
  int emits;
  uint64_t emit_ms[64];
  wh_dyn_config *last;
} harness;

static void on_emit(void *ctx, const char *provider, wh_dyn_config *cfg, const wh_errlist *errors) {
  (void)errors;
  harness *h = ctx;
  assert_string_equal(provider, "docker");
  assert_non_null(cfg); /* the provider never emits "no configuration" */
  if (h->emits < 64)
    h->emit_ms[h->emits] = now_ms();
  h->emits++;
  wh_dyn_config_free(h->last);
  h->last = cfg;
}

static bool has_router(harness *h, const char *name) {
  if (!h->last || !h->last->http)
    return false;
  return wh_map_get(&h->last->http->routers, name) != NULL;
}

typedef bool (*cond_fn)(harness *h);

static void on_tick(uv_timer_t *t) {
  harness *h = t->data;
  cond_fn c = (cond_fn)(uintptr_t)h->loop.data;
  if (c && c(h))
    uv_stop(&h->loop);
}

static void on_deadline(uv_timer_t *t) {
  uv_stop(t->loop);
}

/* Runs the loop until c holds (checked every 5 ms) or ms pass; NULL c runs
 * for the whole ms. Returns whether c held. */
static bool run_until(harness *h, cond_fn c, uint64_t ms) {
  uv_timer_t tick, deadline;
  uv_timer_init(&h->loop, &tick);
  uv_timer_init(&h->loop, &deadline);
  tick.data = h;
  h->loop.data = (void *)(uintptr_t)c;
  uv_timer_start(&tick, on_tick, 5, 5);
  uv_timer_start(&deadline, on_deadline, ms, 0);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&h->loop, UV_RUN_NOWAIT);
  return c ? c(h) : true;
}

static harness *harness_new(fake *f, bool watch) {
  harness *h = calloc(1, sizeof(*h));
  uv_loop_init(&h->loop);
  h->f = f;
  h->dcfg.endpoint = wh_asprintf("unix://%s", f->sock);
  h->dcfg.exposed_by_default = true;
  h->dcfg.watch = watch;
  h->dcfg.default_rule = "Host(`{{ normalize .Name }}`)";
  h->provs.docker = &h->dcfg;
  h->stat.providers = &h->provs;
  return h;
}

static void harness_start(harness *h) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  h->p = wh_provider_docker.start(&h->loop, &h->stat, on_emit, h, &errs);
  assert_non_null(h->p);
  assert_int_equal(errs.n, 0);
  wh_errlist_free(&errs);
}

static void harness_free(harness *h) {
  if (h->p)
    wh_provider_docker.stop(h->p);
  int before = h->emits;
  uv_run(&h->loop, UV_RUN_DEFAULT);   /* until every handle has closed */
  assert_int_equal(h->emits, before); /* no emit after stop */
  assert_int_equal(uv_loop_close(&h->loop), 0);
  wh_dyn_config_free(h->last);
  free(h->dcfg.endpoint);
  free(h);
}

static bool emitted1(harness *h) {
  return h->emits >= 1;
}
static bool emitted2(harness *h) {
  return h->emits >= 2;
}

/* ---- tests ---- */

static void test_list_inspect_emit(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  fake_add(f, 'b', "api", "api", "10.0.0.3");
  harness *h = harness_new(f, true);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  assert_true(has_router(h, "web"));
  assert_true(has_router(h, "api"));
  run_until(h, NULL, 200);
  assert_int_equal(h->emits, 1);
  assert_int_equal(fake_get(f, &f->n_version), 1);
  assert_int_equal(fake_get(f, &f->n_list), 1);
  assert_int_equal(fake_get(f, &f->n_inspect[0]), 1);
  assert_int_equal(fake_get(f, &f->n_inspect[1]), 1);
  assert_int_equal(fake_get(f, &f->n_events), 1);
  pthread_mutex_lock(&f->mu);
  assert_true(wh_str_has_prefix(f->user_agent, "wharf/"));
  pthread_mutex_unlock(&f->mu);
  harness_free(h);
  fake_stop(f);
}

static void test_watch_false_no_events(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  harness *h = harness_new(f, false);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  run_until(h, NULL, 150);
  assert_int_equal(fake_get(f, &f->n_events), 0);
  harness_free(h);
  fake_stop(f);
}

static void test_event_reinspects_one(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  fake_add(f, 'b', "api", "api", "10.0.0.3");
  harness *h = harness_new(f, true);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  fake_set_inspect(f, 1, inspect_json(f->ids[1], "api", "api2", "10.0.0.9"));
  fake_event(f, "start", f->ids[1]);
  assert_true(run_until(h, emitted2, 5000));
  assert_true(has_router(h, "web"));
  assert_true(has_router(h, "api2"));
  assert_false(has_router(h, "api"));
  assert_int_equal(fake_get(f, &f->n_inspect[0]), 1);
  assert_int_equal(fake_get(f, &f->n_inspect[1]), 2);
  assert_int_equal(fake_get(f, &f->n_list), 1);
  /* An event that changes nothing emits nothing; an unwatched action and
   * another type are ignored without a request. */
  fake_event(f, "health_status: healthy", f->ids[0]);
  fake_raw_event(f, "{\"Type\":\"container\",\"Action\":\"exec_start: sh\",\"Actor\":{\"ID\":"
                    "\"aaaa\"}}");
  fake_raw_event(f, "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"x\"}}");
  run_until(h, NULL, 300);
  assert_int_equal(h->emits, 2);
  assert_int_equal(fake_get(f, &f->n_inspect[0]), 2);
  assert_int_equal(fake_get(f, &f->n_inspect_unknown), 0);
  harness_free(h);
  fake_stop(f);
}

static void test_destroy_drops(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  fake_add(f, 'b', "api", "api", "10.0.0.3");
  harness *h = harness_new(f, true);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  fake_event(f, "destroy", f->ids[1]);
  assert_true(run_until(h, emitted2, 5000));
  assert_true(has_router(h, "web"));
  assert_false(has_router(h, "api"));
  assert_int_equal(fake_get(f, &f->n_inspect[1]), 1); /* no inspect for a destroy */
  harness_free(h);
  fake_stop(f);
}

static void test_debounce_burst(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  fake_add(f, 'b', "api", "api", "10.0.0.3");
  harness *h = harness_new(f, true);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  fake_set_inspect(f, 0, inspect_json(f->ids[0], "web", "web2", "10.0.0.7"));
  for (int i = 0; i < 100; i++) {
    fake_event(f, i % 2 ? "die" : "start", f->ids[0]);
    fake_event(f, "start", f->ids[1]);
  }
  run_until(h, NULL, 1200);
  assert_true(h->emits >= 2);
  assert_true(has_router(h, "web2"));
  for (int i = 2; i < h->emits && i < 64; i++)
    assert_true(h->emit_ms[i] - h->emit_ms[i - 1] >= WH_DOCKER_DEBOUNCE_MS - 5);
  /* The burst settles into few emits: the fragment changed once. */
  assert_int_equal(h->emits, 2);
  harness_free(h);
  fake_stop(f);
}

static void test_bad_payloads(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  fake_add(f, 'b', "api", "api", "10.0.0.3");
  fake_add(f, 'c', "deep", "deep", "10.0.0.4");
  fake_add(f, 'd', "trunc", "trunc", "10.0.0.5");
  /* 2000 levels of nesting and a truncated object */
  wh_strbuf b = {0};
  for (int i = 0; i < 2000; i++)
    wh_strbuf_puts(&b, "[");
  for (int i = 0; i < 2000; i++)
    wh_strbuf_puts(&b, "]");
  fake_set_inspect(f, 2, wh_strbuf_take(&b));
  fake_set_inspect(f, 3, strdup("{\"Id\":\"dddd\",\"Name\":\"/tr"));
  harness *h = harness_new(f, true);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  assert_true(has_router(h, "web"));
  assert_true(has_router(h, "api"));
  assert_false(has_router(h, "deep"));
  assert_false(has_router(h, "trunc"));
  /* Bad event lines are ignored; the stream goes on. */
  fake_raw_event(f, "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\n");
  wh_strbuf d = {0};
  for (int i = 0; i < 2000; i++)
    wh_strbuf_puts(&d, "{\"a\":");
  wh_strbuf_puts(&d, "1");
  for (int i = 0; i < 2000; i++)
    wh_strbuf_puts(&d, "}");
  wh_strbuf_putc(&d, '\n');
  fake_raw_event(f, wh_strbuf_cstr(&d));
  wh_strbuf_free(&d);
  fake_raw_event(f, "not json at all\n");
  fake_raw_event(f, "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"../../x\"}}");
  fake_set_inspect(f, 1, inspect_json(f->ids[1], "api", "api3", "10.0.0.3"));
  fake_event(f, "start", f->ids[1]);
  assert_true(run_until(h, emitted2, 5000));
  assert_true(has_router(h, "api3"));
  assert_int_equal(fake_get(f, &f->n_events), 1);
  assert_int_equal(fake_get(f, &f->n_inspect_unknown), 0);
  harness_free(h);
  fake_stop(f);
}

static void test_malformed_list_retries(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  f->list_raw = "[{\"Id\":\"aaaa\"";
  harness *h = harness_new(f, true);
  harness_start(h);
  run_until(h, NULL, 300);
  assert_int_equal(h->emits, 0);
  assert_int_equal(fake_get(f, &f->n_list), 1);
  pthread_mutex_lock(&f->mu);
  f->list_raw = NULL;
  pthread_mutex_unlock(&f->mu);
  assert_true(run_until(h, emitted1, 3000));
  assert_true(has_router(h, "web"));
  assert_int_equal(fake_get(f, &f->n_list), 2);
  harness_free(h);
  fake_stop(f);
}

static void test_engine_gone_then_back(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  fake_add(f, 'b', "api", "api", "10.0.0.3");
  harness *h = harness_new(f, true);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  fake_set_up(f, false);
  run_until(h, NULL, 1000);
  assert_int_equal(h->emits, 1); /* nothing emitted while the engine is away */
  assert_true(has_router(h, "web"));
  /* While away, b went and a changed: the resync must see both. */
  pthread_mutex_lock(&f->mu);
  f->nc = 1;
  free(f->inspect[1]);
  f->inspect[1] = NULL;
  pthread_mutex_unlock(&f->mu);
  fake_set_inspect(f, 0, inspect_json(f->ids[0], "web", "web9", "10.0.0.8"));
  fake_set_up(f, true);
  assert_true(run_until(h, emitted2, 5000));
  assert_true(has_router(h, "web9"));
  assert_false(has_router(h, "api"));
  assert_int_equal(fake_get(f, &f->n_list), 2);
  assert_int_equal(fake_get(f, &f->n_events), 2);
  harness_free(h);
  fake_stop(f);
}

static void test_backoff_doubles(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  f->version_status = 500;
  harness *h = harness_new(f, true);
  harness_start(h);
  run_until(h, NULL, 3800); /* attempts at 0, 0.5, 1.5, 3.5 s */
  assert_int_equal(h->emits, 0);
  pthread_mutex_lock(&f->mu);
  int n = f->nversion_ms;
  uint64_t t[16];
  memcpy(t, f->version_ms, sizeof(t));
  f->version_status = 200;
  pthread_mutex_unlock(&f->mu);
  assert_int_equal(n, 4);
  uint64_t want[] = {500, 1000, 2000};
  for (int i = 1; i < n; i++) {
    uint64_t gap = t[i] - t[i - 1];
    assert_true(gap >= want[i - 1] - 20 && gap <= want[i - 1] + 300);
  }
  assert_true(run_until(h, emitted1, 6000)); /* next attempt 4 s later */
  assert_true(has_router(h, "web"));
  harness_free(h);
  fake_stop(f);
}

static void test_stop_before_sync(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  harness *h = harness_new(f, true);
  harness_start(h);
  harness_free(h); /* stop while /version is in flight: no emit, no leak */
  fake_stop(f);
}

static void test_stop_while_live(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  harness *h = harness_new(f, true);
  harness_start(h);
  assert_true(run_until(h, emitted1, 5000));
  fake_event(f, "start", f->ids[0]);
  run_until(h, NULL, 20);
  harness_free(h);
  fake_stop(f);
}

static void test_bad_endpoints(void **state) {
  (void)state;
  const char *bad[] = {"ssh://user@host", "ftp://x", "unix://"};
  for (size_t i = 0; i < 3; i++) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    wh_docker_provider d = {.endpoint = (char *)bad[i], .watch = true};
    wh_providers ps = {.docker = &d};
    wh_static_config st = {.providers = &ps};
    wh_errlist errs;
    wh_errlist_init(&errs);
    wh_provider *p = wh_provider_docker.start(&loop, &st, on_emit, NULL, &errs);
    assert_null(p);
    assert_true(errs.n >= 1);
    if (i == 0)
      assert_non_null(strstr(errs.items[0], "not supported"));
    wh_errlist_free(&errs);
    assert_int_equal(uv_loop_close(&loop), 0);
  }
}

static void test_parse_json(void **state) {
  (void)state;
  const char *why = NULL;
  const char *ok = "{\"a\":[1,{\"b\":\"[[[[\"}]}\n";
  cJSON *j = wh_engine_parse_json(ok, strlen(ok), &why);
  assert_non_null(j);
  cJSON_Delete(j);
  const char *esc = "{\"a\":[1,{\"b\":\"[[\\\"[[\"}]}";
  assert_int_equal(wh_engine_json_depth(esc, strlen(esc), 64), 3);
  assert_null(wh_engine_parse_json("{\"a\":1", 6, &why));
  assert_non_null(strstr(why, "malformed"));
  assert_null(wh_engine_parse_json("{} x", 4, &why));
  assert_null(wh_engine_parse_json("", 0, &why));
  /* exactly 64 levels pass, 65 do not */
  char deep[200];
  memset(deep, '[', 64);
  memset(deep + 64, ']', 64);
  j = wh_engine_parse_json(deep, 128, &why);
  assert_non_null(j);
  cJSON_Delete(j);
  memset(deep, '[', 65);
  memset(deep + 65, ']', 65);
  assert_null(wh_engine_parse_json(deep, 130, &why));
  assert_non_null(strstr(why, "deeper"));
}

typedef struct get_result {
  int done;
  long status;
  char *err;
  size_t len;
} get_result;

static void on_get(void *ud, long status, const char *body, size_t len, const char *err) {
  (void)body;
  get_result *r = ud;
  r->done++;
  r->status = status;
  r->len = len;
  r->err = err ? strdup(err) : NULL;
}

static bool big_done(harness *h) {
  return ((get_result *)h->last)->done > 0;
}

static void test_body_cap(void **state) {
  (void)state;
  fake *f = fake_start();
  fake_add(f, 'a', "web", "web", "10.0.0.2");
  char *big = malloc(WH_ENGINE_MAX_BODY + 2);
  memset(big, ' ', WH_ENGINE_MAX_BODY + 1);
  big[0] = '{';
  big[WH_ENGINE_MAX_BODY] = '}';
  big[WH_ENGINE_MAX_BODY + 1] = '\0';
  fake_set_inspect(f, 0, big);
  harness *h = harness_new(f, true);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_engine_opts o = {.endpoint = h->dcfg.endpoint, .user_agent = "t"};
  wh_engine *e = wh_engine_new(&h->loop, &o, &errs);
  assert_non_null(e);
  get_result r = {0};
  h->last = (wh_dyn_config *)&r; /* borrowed as the condition's context */
  char *path = wh_asprintf("/containers/%s/json", f->ids[0]);
  assert_non_null(wh_engine_get(e, path, on_get, &r));
  free(path);
  assert_true(run_until(h, big_done, 10000));
  assert_int_equal(r.done, 1);
  assert_int_equal(r.status, 0);
  assert_non_null(r.err);
  assert_non_null(strstr(r.err, "MiB"));
  free(r.err);
  /* A cancelled request never calls back. */
  get_result r2 = {0};
  wh_engine_req *q = wh_engine_get(e, "/version", on_get, &r2);
  wh_engine_cancel(q);
  run_until(h, NULL, 100);
  assert_int_equal(r2.done, 0);
  h->last = NULL;
  wh_engine_close(e, NULL, NULL);
  wh_errlist_free(&errs);
  harness_free(h);
  fake_stop(f);
}

static void test_find_self_id(void **state) {
  (void)state;
  const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char *cg = wh_asprintf("12:memory:/docker/%s\n0::/\n", id);
  char *got = wh_docker_find_self_id(cg, NULL);
  assert_string_equal(got, id);
  free(got);
  free(cg);
  cg = wh_asprintf("0::/system.slice/docker-%s.scope\n", id);
  got = wh_docker_find_self_id(cg, NULL);
  assert_string_equal(got, id);
  free(got);
  free(cg);
  char *mi = wh_asprintf("1 2 0:1 / / rw - overlay overlay rw\n"
                         "700 690 254:1 /var/lib/docker/containers/%s/hostname /etc/hostname rw "
                         "- ext4 /dev/vda1 rw\n",
                         id);
  got = wh_docker_find_self_id("0::/\n", mi);
  assert_string_equal(got, id);
  free(got);
  free(mi);
  /* 65 hex digits or none at all: not an id */
  assert_null(wh_docker_find_self_id("0::/user.slice/user-0.slice\n", "1 2 0:1 / / rw\n"));
  char *longer = wh_asprintf("0::/docker/%sa\n", id);
  assert_null(wh_docker_find_self_id(longer, NULL));
  free(longer);
  assert_null(wh_docker_find_self_id(NULL, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_json),
      cmocka_unit_test(test_find_self_id),
      cmocka_unit_test(test_bad_endpoints),
      cmocka_unit_test(test_list_inspect_emit),
      cmocka_unit_test(test_watch_false_no_events),
      cmocka_unit_test(test_event_reinspects_one),
      cmocka_unit_test(test_destroy_drops),
      cmocka_unit_test(test_debounce_burst),
      cmocka_unit_test(test_bad_payloads),
      cmocka_unit_test(test_malformed_list_retries),
      cmocka_unit_test(test_engine_gone_then_back),
      cmocka_unit_test(test_backoff_doubles),
      cmocka_unit_test(test_stop_before_sync),
      cmocka_unit_test(test_stop_while_live),
      cmocka_unit_test(test_body_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
