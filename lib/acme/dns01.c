/* The DNS-01 provider front: name → provider, the operation lifecycle
 * shared by all providers, the TXT value, and lego-style environment
 * reading. */
#include "lib/acme/dns01.h"
#include "lib/acme/jws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/acme/dns01_provider.h"
#include "lib/acme/jws.h"
#include "lib/core/err.h"
#include "lib/core/str.h"

void wh_dns01_value(const char *key_auth, char out[WH_DNS01_VALUE_SIZE]) {
  /* one definition of the value (lib/acme/jws.c), copied into a fixed buffer */
  char *v = wh_acme_dns01_value(key_auth);
  snprintf(out, WH_DNS01_VALUE_SIZE, "%s", v ? v : "");
  free(v);
}

char *wh_dns01_fqdn(const char *domain) {
  if (wh_str_has_prefix(domain, "*."))
    domain += 2;
  size_t len = strlen(domain);
  bool dot = len > 0 && domain[len - 1] == '.';
  return wh_asprintf("_acme-challenge.%s%s", domain, dot ? "" : ".");
}

/* ---- environment ---- */

static const char *env_lookup(char **envp, const char *name) {
  size_t nl = strlen(name);
  for (char **e = envp; e && *e; e++)
    if (strncmp(*e, name, nl) == 0 && (*e)[nl] == '=')
      return *e + nl + 1;
  return NULL;
}

static char *read_small_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  wh_strbuf b = {0};
  char buf[4096];
  size_t r;
  bool ok = true;
  while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
    if (b.len + r > 1 << 20 || wh_strbuf_append(&b, buf, r) != 0) {
      ok = false;
      break;
    }
  fclose(f);
  if (!ok) {
    wh_strbuf_free(&b);
    return NULL;
  }
  char *s = wh_strbuf_take(&b);
  if (!s)
    return wh_strdup("");
  size_t len = strlen(s);
  if (len > 0 && s[len - 1] == '\n')
    s[len - 1] = '\0';
  return s;
}

char *wh_dns01_env(char **envp, const char *name) {
  const char *v = env_lookup(envp, name);
  if (v && *v)
    return wh_strdup(v);
  char *fname = wh_asprintf("%s_FILE", name);
  const char *path = fname ? env_lookup(envp, fname) : NULL;
  free(fname);
  if (!path || !*path)
    return NULL;
  char *s = read_small_file(path);
  if (s && !*s) {
    free(s);
    return NULL;
  }
  return s;
}

char *wh_dns01_env_any(char **envp, const char *const *names) {
  for (; *names; names++) {
    char *v = wh_dns01_env(envp, *names);
    if (v)
      return v;
  }
  return NULL;
}

static bool parse_long(const char *s, long *out) {
  if (!s || !*s)
    return false;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

uint64_t wh_dns01_env_seconds(char **envp, const char *const *names, uint64_t def_ms) {
  char *s = wh_dns01_env_any(envp, names);
  long v;
  bool ok = parse_long(s, &v) && v >= 0 && v <= 100000000L;
  free(s);
  return ok ? (uint64_t)v * 1000 : def_ms;
}

long wh_dns01_env_int(char **envp, const char *const *names, long def) {
  char *s = wh_dns01_env_any(envp, names);
  long v;
  bool ok = parse_long(s, &v);
  free(s);
  return ok ? v : def;
}

/* ---- providers ---- */

wh_dns01_provider *wh_dns01_new(const char *name, uv_loop_t *loop, char **envp, char *err,
                                size_t n) {
  wh_dns01_provider *p = NULL;
  if (n)
    err[0] = '\0';
  if (!name || !loop) {
    snprintf(err, n, "dns01: no provider name");
    return NULL;
  }
  if (strcmp(name, "rfc2136") == 0 || strcmp(name, "dnsupdate") == 0)
    p = wh_dns01_rfc2136_new(envp, err, n);
  else if (strcmp(name, "cloudflare") == 0)
    p = wh_dns01_cloudflare_new(loop, envp, err, n);
  else if (strcmp(name, "exec") == 0)
    p = wh_dns01_exec_new(envp, err, n);
  else {
    snprintf(err, n,
             "dns01: unknown DNS challenge provider %s (this build has cloudflare, rfc2136, "
             "exec)",
             name);
    return NULL;
  }
  if (p)
    p->loop = loop;
  else if (n && !err[0])
    snprintf(err, n, "%s: out of memory", name);
  return p;
}

void wh_dns01_op_free(wh_dns01_op *op) {
  if (!op)
    return;
  free(op->domain);
  free(op->fqdn);
  free(op->value);
  free(op->token);
  free(op->key_auth);
  free(op);
}

void wh_dns01_op_finish(wh_dns01_op *op, int status, const char *message) {
  wh_dns01_provider *p = op->p;
  if (!p->freed && op->done)
    op->done(op->arg, status, status == 0 || !message ? "" : message);
  wh_dns01_op_free(op);
  p->pending--;
  if (p->freed && p->pending == 0)
    p->ops->destroy(p);
}

typedef struct later {
  uv_work_t work;
  wh_dns01_op *op;
  int status;
  char *message;
} later;

static void later_work(uv_work_t *w) {
  (void)w;
}

static void later_after(uv_work_t *w, int status) {
  (void)status;
  later *l = (later *)w;
  wh_dns01_op_finish(l->op, l->status, l->message);
  free(l->message);
  free(l);
}

/* Through the thread pool with a job that does nothing: the loop then
 * calls back on a later turn, with no handle to close. */
int wh_dns01_op_finish_later(wh_dns01_op *op, int status, const char *message) {
  later *l = calloc(1, sizeof(*l));
  if (!l || !(l->message = wh_strdup(message ? message : ""))) {
    free(l);
    return WH_ENOMEM;
  }
  l->op = op;
  l->status = status;
  if (uv_queue_work(op->p->loop, &l->work, later_work, later_after) != 0) {
    free(l->message);
    free(l);
    return WH_ERR;
  }
  return 0;
}

static int start_op(wh_dns01_provider *p, bool present, const char *domain, const char *token,
                    const char *key_auth, wh_dns01_done_fn done, void *arg) {
  if (!p || p->freed || !domain || !*domain || !key_auth || !done)
    return WH_EINVAL;
  wh_dns01_op *op = calloc(1, sizeof(*op));
  if (!op)
    return WH_ENOMEM;
  char value[WH_DNS01_VALUE_SIZE];
  wh_dns01_value(key_auth, value);
  op->p = p;
  op->present = present;
  op->domain = wh_strdup(domain);
  op->fqdn = wh_dns01_fqdn(domain);
  op->value = wh_strdup(value);
  op->token = wh_strdup(token ? token : "");
  op->key_auth = wh_strdup(key_auth);
  op->done = done;
  op->arg = arg;
  if (!op->domain || !op->fqdn || !op->value || !op->token || !op->key_auth) {
    wh_dns01_op_free(op);
    return WH_ENOMEM;
  }
  p->pending++;
  int rc = p->ops->start(op);
  if (rc != 0) {
    p->pending--;
    wh_dns01_op_free(op);
  }
  return rc;
}

int wh_dns01_present(wh_dns01_provider *p, const char *domain, const char *token,
                     const char *key_auth, wh_dns01_done_fn done, void *arg) {
  return start_op(p, true, domain, token, key_auth, done, arg);
}

int wh_dns01_cleanup(wh_dns01_provider *p, const char *domain, const char *token,
                     const char *key_auth, wh_dns01_done_fn done, void *arg) {
  return start_op(p, false, domain, token, key_auth, done, arg);
}

void wh_dns01_timing(const wh_dns01_provider *p, uint64_t *timeout_ms, uint64_t *interval_ms) {
  if (timeout_ms)
    *timeout_ms = p->timeout_ms;
  if (interval_ms)
    *interval_ms = p->interval_ms;
}

uint64_t wh_dns01_sequence_interval(const wh_dns01_provider *p) {
  return p->sequence_ms;
}

const char *wh_dns01_name(const wh_dns01_provider *p) {
  return p->ops->name;
}

void wh_dns01_free(wh_dns01_provider *p) {
  if (!p || p->freed)
    return;
  p->freed = true;
  /* abandon may finish operations right away: the extra count keeps p
   * alive until it returns */
  p->pending++;
  if (p->ops->abandon)
    p->ops->abandon(p);
  if (--p->pending == 0)
    p->ops->destroy(p);
}
