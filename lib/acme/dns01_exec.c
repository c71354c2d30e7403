/* DNS-01 through an external program, as lego's exec provider: EXEC_PATH
 * is run as "<program> present|cleanup <fqdn> <value>" (fqdn absolute, with
 * its trailing dot), or with EXEC_MODE=RAW as "<program> present|cleanup --
 * <domain> <token> <key authorization>". Exit status 0 is success; anything
 * else fails with what the program printed. It runs with uv_spawn, its
 * output read on the loop, and is killed once the propagation timeout
 * (EXEC_PROPAGATION_TIMEOUT) has passed: lego lets it run as long as it
 * likes, a control loop cannot wait for ever. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/acme/dns01_provider.h"
#include "lib/core/err.h"
#include "lib/core/str.h"

#define LEGO_PROPAGATION_MS 60000
#define LEGO_POLLING_MS 2000
#define OUTPUT_CAP 4096 /* enough for an error message */

typedef struct run run;

typedef struct exec_provider {
  wh_dns01_provider base;
  char *program;
  bool raw;
  char **env; /* a copy of envp for the child; NULL: inherit wharf's */
  size_t nenv;
  run *runs; /* running programs, to kill them in wh_dns01_free */
} exec_provider;

struct run {
  wh_dns01_op *op;
  run *next, **prev;
  uv_process_t proc;
  uv_pipe_t out, err;
  uv_timer_t timer;
  int open_handles;
  int open_streams;
  bool exited, timed_out, spawn_failed, closing;
  int64_t exit_status;
  int term_signal;
  char spawn_error[128];
  wh_strbuf output;
  char rbuf[4096];
};

static void on_closed(uv_handle_t *h) {
  run *r = h->data;
  if (--r->open_handles > 0)
    return;
  wh_dns01_op *op = r->op;
  const char *cmd = op->present ? "present" : "cleanup";
  char *msg = NULL;
  int status = 0;
  if (r->spawn_failed) {
    msg = wh_asprintf("exec: start command %s: %s", cmd, r->spawn_error);
    status = WH_ERR;
  } else if (r->timed_out || r->term_signal || r->exit_status != 0) {
    const exec_provider *e = (const exec_provider *)op->p;
    char what[96];
    if (r->timed_out)
      snprintf(what, sizeof(what), "killed after %llu s (EXEC_PROPAGATION_TIMEOUT)",
               (unsigned long long)(e->base.timeout_ms / 1000));
    else if (r->term_signal)
      snprintf(what, sizeof(what), "signal: %s", strsignal(r->term_signal));
    else
      snprintf(what, sizeof(what), "exit status %lld", (long long)r->exit_status);
    /* the program's last line break is not part of the message */
    char *o = (char *)wh_strbuf_cstr(&r->output);
    size_t ol = strlen(o);
    while (ol > 0 && (o[ol - 1] == '\n' || o[ol - 1] == '\r'))
      o[--ol] = '\0';
    msg =
        wh_asprintf("exec: %s %s: wait command: %s%s%s", e->program, cmd, what, ol ? ": " : "", o);
    status = WH_ERR;
  }
  if (r->next)
    r->next->prev = r->prev;
  *r->prev = r->next;
  wh_strbuf_free(&r->output);
  free(r);
  wh_dns01_op_finish(op, status, msg ? msg : "exec: out of memory");
  free(msg);
}

static void close_all(run *r) {
  if (r->closing)
    return;
  r->closing = true;
  uv_close((uv_handle_t *)&r->proc, on_closed);
  uv_close((uv_handle_t *)&r->out, on_closed);
  uv_close((uv_handle_t *)&r->err, on_closed);
  uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void maybe_done(run *r) {
  if (r->exited && r->open_streams == 0)
    close_all(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  run *r = h->data;
  *buf = uv_buf_init(r->rbuf, sizeof(r->rbuf)); /* consumed by on_read before the next read */
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  run *r = s->data;
  if (nread > 0) {
    size_t room = r->output.len < OUTPUT_CAP ? OUTPUT_CAP - r->output.len : 0;
    size_t take = (size_t)nread < room ? (size_t)nread : room;
    if (take)
      wh_strbuf_append(&r->output, buf->base, take);
  } else if (nread < 0) {
    uv_read_stop(s);
    r->open_streams--;
    maybe_done(r);
  }
}

static void on_grace(uv_timer_t *t) {
  close_all(t->data);
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal) {
  run *r = p->data;
  r->exited = true;
  r->exit_status = exit_status;
  r->term_signal = term_signal;
  uv_timer_stop(&r->timer);
  if (r->open_streams > 0)
    /* a child of the program may hold the pipes open: what is already in
     * them is read during the grace period, then the run ends */
    uv_timer_start(&r->timer, on_grace, 200, 0);
  maybe_done(r);
}

static void on_timeout(uv_timer_t *t) {
  run *r = t->data;
  r->timed_out = true;
  uv_process_kill(&r->proc, SIGKILL);
}

static int exec_start(wh_dns01_op *op) {
  exec_provider *e = (exec_provider *)op->p;
  uv_loop_t *loop = e->base.loop;
  run *r = calloc(1, sizeof(*r));
  if (!r)
    return WH_ENOMEM;
  r->op = op;
  const char *cmd = op->present ? "present" : "cleanup";
  char *args[7];
  if (e->raw) {
    char *v[] = {e->program, (char *)cmd, "--", op->domain, op->token, op->key_auth, NULL};
    memcpy(args, v, sizeof(v));
  } else {
    char *v[] = {e->program, (char *)cmd, op->fqdn, op->value, NULL, NULL, NULL};
    memcpy(args, v, sizeof(v));
  }
  uv_pipe_init(loop, &r->out, 0);
  uv_pipe_init(loop, &r->err, 0);
  uv_timer_init(loop, &r->timer);
  r->out.data = r->err.data = r->timer.data = r->proc.data = r;
  r->open_handles = 4;
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->err},
  };
  uv_process_options_t po = {
      .exit_cb = on_exit_cb,
      .file = e->program,
      .args = args,
      .env = e->env,
      .stdio_count = 3,
      .stdio = stdio,
  };
  r->prev = &e->runs;
  r->next = e->runs;
  if (e->runs)
    e->runs->prev = &r->next;
  e->runs = r;
  int rc = uv_spawn(loop, &r->proc, &po);
  if (rc != 0) {
    /* reported from the close callbacks: never from inside present */
    r->spawn_failed = true;
    snprintf(r->spawn_error, sizeof(r->spawn_error), "%s: %s", e->program, uv_strerror(rc));
    close_all(r);
    return 0;
  }
  r->open_streams = 2;
  uv_read_start((uv_stream_t *)&r->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&r->err, on_alloc, on_read);
  if (e->base.timeout_ms)
    uv_timer_start(&r->timer, on_timeout, e->base.timeout_ms, 0);
  return 0;
}

static void exec_abandon(wh_dns01_provider *p) {
  exec_provider *e = (exec_provider *)p;
  for (run *r = e->runs; r; r = r->next)
    if (!r->exited && !r->spawn_failed)
      uv_process_kill(&r->proc, SIGKILL);
}

static void exec_destroy(wh_dns01_provider *p) {
  exec_provider *e = (exec_provider *)p;
  free(e->program);
  if (e->env)
    wh_strv_free(e->env, e->nenv);
  free(e);
}

static const wh_dns01_ops exec_ops = {
    .name = "exec",
    .start = exec_start,
    .abandon = exec_abandon,
    .destroy = exec_destroy,
};

wh_dns01_provider *wh_dns01_exec_new(char **envp, char *err, size_t n) {
  char *program = wh_dns01_env(envp, "EXEC_PATH");
  if (!program) {
    snprintf(err, n, "exec: some credentials information are missing: EXEC_PATH");
    return NULL;
  }
  exec_provider *e = calloc(1, sizeof(*e));
  if (!e) {
    free(program);
    return NULL;
  }
  e->base.ops = &exec_ops;
  e->program = program;
  char *mode = wh_dns01_env(envp, "EXEC_MODE");
  e->raw = mode && strcmp(mode, "RAW") == 0;
  free(mode);
  e->base.timeout_ms = wh_dns01_env_seconds(
      envp, (const char *const[]){"EXEC_PROPAGATION_TIMEOUT", NULL}, LEGO_PROPAGATION_MS);
  e->base.interval_ms = wh_dns01_env_seconds(
      envp, (const char *const[]){"EXEC_POLLING_INTERVAL", NULL}, LEGO_POLLING_MS);
  e->base.sequence_ms = wh_dns01_env_seconds(
      envp, (const char *const[]){"EXEC_SEQUENCE_INTERVAL", NULL}, LEGO_PROPAGATION_MS);
  if (envp) {
    size_t cnt = 0;
    while (envp[cnt])
      cnt++;
    e->env = calloc(cnt + 1, sizeof(*e->env));
    bool ok = e->env != NULL;
    for (size_t i = 0; ok && i < cnt; i++, e->nenv++)
      ok = (e->env[i] = wh_strdup(envp[i])) != NULL;
    if (!ok) {
      exec_destroy(&e->base);
      return NULL;
    }
  }
  return &e->base;
}
