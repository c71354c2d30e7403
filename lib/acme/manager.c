#include "lib/acme/manager.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/acme/challenges.h"
#include "lib/acme/client.h"
#include "lib/acme/dns01.h"
#include "lib/acme/domains.h"
#include "lib/acme/keys.h"
#include "lib/acme/renewal.h"
#include "lib/acme/storage.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/tls/cert_store.h"
#include "lib/tls/server.h"

/* One storage file, shared by the resolvers that name it. */
typedef struct fstore {
  char *path;
  wh_acme_store *store;
} fstore;

/* One domain set to order. */
typedef struct job {
  char **names; /* names[0] is the main domain */
  size_t n;
  bool renewal; /* a stored certificate due for renewal, wanted or not */
  bool wanted;  /* seen in the newest configuration */
  bool active;  /* the order is running */
  unsigned failures;
  uint64_t next_ms; /* loop time before which it is not tried again */
} job;

typedef struct resolver resolver;

/* A DNS-01 present in progress: publish, wait, check propagation. */
typedef struct dns_op {
  resolver *r;
  wh_acme_solver_handle *handle;
  char *fqdn;
  char *domain, *token, *key_auth; /* for a present delayed by the sequence interval */
  char value[WH_DNS01_VALUE_SIZE];
  uv_timer_t timer;
  wh_dns01_check *check;
  bool presenting; /* the provider's present has not answered yet */
  struct dns_op *next;
} dns_op;

struct resolver {
  wh_acme_manager *m;
  const char *name; /* borrowed from stat */
  const wh_acme *cfg;
  fstore *fs;
  wh_acme_key_type key_type;
  int64_t period_s, interval_s;
  const char *types[3];
  size_t ntypes;
  wh_dns01_provider *dns;
  EVP_PKEY *account_key;
  bool key_work; /* the account key is being made on the thread pool */
  uv_work_t work;
  EVP_PKEY *work_key;
  wh_acme_client *client;
  job **jobs;
  size_t njobs;
  job *current;
  bool registering;
  bool disabled; /* cannot order at all (logged once) */
  uv_timer_t pump_timer;
  uv_timer_t renew_timer;
  dns_op *dns_ops;
  /* lego's Sequential(): no DNS-01 present of the running order before this
   * loop time (set by each cleanup from the provider's sequence interval) */
  uint64_t dns_not_before_ms;
};

struct wh_acme_manager {
  uv_loop_t *loop;
  const wh_static_config *stat;
  wh_provider_emit_fn emit;
  void *emit_ctx;
  fstore *stores;
  size_t nstores;
  resolver *rs;
  size_t nrs;
  bool started; /* a configuration was seen: orders may start */
  bool closing;
  int pending;       /* handle closes and thread pool works before the free */
  wh_strlist logged; /* configuration problems logged for the previous build */
};

static void pump(resolver *r);
static void pump_soon(resolver *r);
static void on_pump_timer(uv_timer_t *t);

/* ---- small helpers ---- */

static char *join_names(char *const *names, size_t n) {
  wh_strbuf b = {0};
  for (size_t i = 0; i < n; i++) {
    if (i)
      wh_strbuf_putc(&b, ',');
    wh_strbuf_puts(&b, names[i]);
  }
  char *s = wh_strbuf_take(&b);
  return s ? s : wh_strdup("");
}

static char **copy_names(char *const *names, size_t n) {
  char **v = calloc(n ? n : 1, sizeof(*v));
  for (size_t i = 0; v && i < n; i++)
    if (!(v[i] = wh_strdup(names[i]))) {
      wh_strv_free(v, i);
      return NULL;
    }
  return v;
}

static void job_free(job *j) {
  if (!j)
    return;
  wh_strv_free(j->names, j->n);
  free(j);
}

static job *job_add(resolver *r, char *const *names, size_t n) {
  job **v = realloc(r->jobs, (r->njobs + 1) * sizeof(*v));
  if (!v)
    return NULL;
  r->jobs = v;
  job *j = calloc(1, sizeof(*j));
  if (!j || !(j->names = copy_names(names, n))) {
    free(j);
    return NULL;
  }
  j->n = n;
  r->jobs[r->njobs++] = j;
  return j;
}

static job *job_find(resolver *r, char *const *names, size_t n) {
  for (size_t i = 0; i < r->njobs; i++)
    if (wh_acme_names_equal((const char *const *)r->jobs[i]->names, r->jobs[i]->n,
                            (const char *const *)names, n))
      return r->jobs[i];
  return NULL;
}

static void job_remove(resolver *r, job *j) {
  for (size_t i = 0; i < r->njobs; i++)
    if (r->jobs[i] == j) {
      memmove(&r->jobs[i], &r->jobs[i + 1], (r->njobs - i - 1) * sizeof(*r->jobs));
      r->njobs--;
      break;
    }
  job_free(j);
}

/* The host of an http(s) URL, for comparing an account's URL with caServer
 * (Traefik's isAccountMatchingCaServer). Caller frees. */
static char *url_host(const char *url) {
  const char *p = url ? strstr(url, "://") : NULL;
  if (!p)
    return NULL;
  p += 3;
  const char *at = strpbrk(p, "@/");
  if (at && *at == '@')
    p = at + 1;
  size_t len;
  if (*p == '[') {
    const char *e = strchr(p, ']');
    len = e ? (size_t)(e - p + 1) : strlen(p);
  } else {
    len = strcspn(p, ":/?#");
  }
  char *h = wh_strndup(p, len);
  if (h)
    wh_str_lower(h);
  return h;
}

static void fmt_time(time_t t, char buf[32]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- publishing ---- */

/* The "acme" fragment: every certificate of every configured resolver. */
static void publish(wh_acme_manager *m) {
  if (m->closing)
    return;
  wh_dyn_config *cfg = wh_schema_new(&wh_schema_dyn_config);
  if (cfg)
    cfg->tls = wh_schema_new(&wh_schema_tls_config);
  size_t total = 0;
  for (size_t i = 0; i < m->nrs; i++)
    total += wh_acme_store_cert_count(m->rs[i].fs->store, m->rs[i].name);
  wh_tls_certificate *items = total ? calloc(total, sizeof(*items)) : NULL;
  if (!cfg || !cfg->tls || (total && !items)) {
    free(items);
    wh_dyn_config_free(cfg);
    wh_log_error("acme: certificates not published (out of memory)");
    return;
  }
  cfg->tls->certificates.items = items;
  bool ok = true;
  for (size_t i = 0; i < m->nrs; i++) {
    const resolver *r = &m->rs[i];
    size_t n = wh_acme_store_cert_count(r->fs->store, r->name);
    for (size_t k = 0; k < n; k++) {
      const wh_acme_store_cert *sc = wh_acme_store_cert_at(r->fs->store, r->name, k);
      wh_tls_certificate *c = &items[cfg->tls->certificates.n++];
      c->cert_file = wh_strdup(sc->cert_pem);
      c->key_file = wh_strdup(sc->key_pem);
      if (!c->cert_file || !c->key_file ||
          wh_strlist_push(&c->stores, sc->store && *sc->store ? sc->store : "default") != 0)
        ok = false;
    }
  }
  if (!ok) {
    wh_dyn_config_free(cfg);
    wh_log_error("acme: certificates not published (out of memory)");
    return;
  }
  m->emit(m->emit_ctx, WH_ACME_PROVIDER, cfg, NULL);
}

/* ---- the solver ---- */

static void manager_free_if_done(wh_acme_manager *m);

static void dns_op_closed(uv_handle_t *h) {
  dns_op *op = h->data;
  wh_acme_manager *m = op->r->m;
  free(op->fqdn);
  free(op->domain);
  free(op->token);
  free(op->key_auth);
  free(op);
  m->pending--;
  manager_free_if_done(m);
}

static void dns_op_unlink(dns_op *op) {
  for (dns_op **p = &op->r->dns_ops; *p; p = &(*p)->next)
    if (*p == op) {
      *p = op->next;
      break;
    }
}

static void dns_op_finish(dns_op *op, const char *error) {
  dns_op_unlink(op);
  wh_acme_solver_handle *h = op->handle;
  op->handle = NULL;
  op->r->m->pending++;
  uv_close((uv_handle_t *)&op->timer, dns_op_closed);
  if (h)
    wh_acme_solver_done(h, error);
}

static void dns_checked(void *arg, int status, const char *message) {
  dns_op *op = arg;
  op->check = NULL;
  if (status != 0) {
    char *e = wh_asprintf("DNS propagation of %s: %s", op->fqdn, message);
    dns_op_finish(op, e ? e : "DNS propagation check failed");
    free(e);
    return;
  }
  dns_op_finish(op, NULL);
}

static bool checks_disabled(const wh_acme_dns_challenge *d) {
  return d->disable_propagation_check || (d->propagation && d->propagation->disable_checks);
}

/* Traefik applies its propagation options only when the section exists (the
 * v2 delayBeforeCheck makes one); without it lego's defaults hold: every
 * resolver and the authoritative nameservers must have the record. */
static void check_opts(const wh_acme_dns_challenge *d, wh_dns01_check_opts *o) {
  o->resolvers = (const char *const *)d->resolvers.v;
  o->n_resolvers = d->resolvers.n;
  if (d->propagation) {
    o->require_all_resolvers = d->propagation->require_all_rns;
    o->skip_authoritative = d->propagation->disable_ans_checks;
  } else {
    o->require_all_resolvers = d->delay_before_check <= 0;
  }
}

static void dns_delay_done(uv_timer_t *t) {
  dns_op *op = t->data;
  const wh_acme_dns_challenge *d = op->r->cfg->dns_challenge;
  if (checks_disabled(d)) {
    dns_op_finish(op, NULL);
    return;
  }
  wh_dns01_check_opts o = {0};
  check_opts(d, &o);
  wh_dns01_timing(op->r->dns, &o.timeout_ms, &o.interval_ms);
  wh_log_info("acme: resolver \"%s\": waiting for the DNS propagation of %s (up to %llu s)",
              op->r->name, op->fqdn, (unsigned long long)(o.timeout_ms / 1000));
  op->check = wh_dns01_check_propagation(op->r->m->loop, op->fqdn, op->value, &o, dns_checked, op);
  if (!op->check)
    dns_op_finish(op, "DNS propagation check could not start");
}

static void dns_presented(void *arg, int status, const char *message) {
  dns_op *op = arg;
  op->presenting = false;
  if (status != 0) {
    char *e = wh_asprintf("DNS provider %s: %s", wh_dns01_name(op->r->dns), message);
    dns_op_finish(op, e ? e : "DNS provider failed");
    free(e);
    return;
  }
  const wh_acme_dns_challenge *d = op->r->cfg->dns_challenge;
  /* propagation.delayBeforeChecks (v3), else delayBeforeCheck (v2) */
  wh_duration delay = d->propagation && d->propagation->delay_before_checks > 0
                          ? d->propagation->delay_before_checks
                          : d->delay_before_check;
  uv_timer_start(&op->timer, dns_delay_done, delay > 0 ? (uint64_t)(delay / WH_MS) : 0, 0);
}

static void dns_start_present(dns_op *op) {
  op->presenting = true;
  if (wh_dns01_present(op->r->dns, op->domain, op->token, op->key_auth, dns_presented, op) != 0) {
    op->presenting = false;
    dns_op_finish(op, "DNS-01 challenge not started");
  }
}

static void dns_sequence_done(uv_timer_t *t) {
  dns_start_present(t->data);
}

static void solver_present(void *ctx, const char *type, const char *domain, const char *token,
                           const char *key_auth, wh_acme_solver_handle *handle) {
  resolver *r = ctx;
  if (strcmp(type, "http-01") == 0) {
    int rc = wh_acme_chal_http_add(token, key_auth);
    wh_acme_solver_done(handle, rc == 0 ? NULL : "HTTP-01 challenge not registered");
    return;
  }
  if (strcmp(type, "tls-alpn-01") == 0) {
    int rc = wh_acme_chal_tls_add(domain, key_auth);
    wh_acme_solver_done(handle, rc == 0 ? NULL : "TLS-ALPN-01 challenge not registered");
    return;
  }
  dns_op *op = calloc(1, sizeof(*op));
  if (!op || !r->dns || !(op->fqdn = wh_dns01_fqdn(domain)) || !(op->domain = wh_strdup(domain)) ||
      !(op->token = wh_strdup(token)) || !(op->key_auth = wh_strdup(key_auth))) {
    if (op) {
      free(op->fqdn);
      free(op->domain);
      free(op->token);
      free(op);
    }
    wh_acme_solver_done(handle, "DNS-01 challenge not started");
    return;
  }
  op->r = r;
  op->handle = handle;
  wh_dns01_value(key_auth, op->value);
  uv_timer_init(r->m->loop, &op->timer);
  op->timer.data = op;
  op->next = r->dns_ops;
  r->dns_ops = op;
  uint64_t now = uv_now(r->m->loop);
  if (r->dns_not_before_ms > now) {
    uint64_t wait = r->dns_not_before_ms - now;
    wh_log_info("acme: resolver \"%s\": DNS-01 for %s in %llu ms (the %s provider's sequence "
                "interval)",
                r->name, domain, (unsigned long long)wait, wh_dns01_name(r->dns));
    uv_timer_start(&op->timer, dns_sequence_done, wait, 0);
    return;
  }
  dns_start_present(op);
}

static void dns_cleaned(void *arg, int status, const char *message) {
  resolver *r = arg;
  if (status != 0)
    wh_log_warn("acme: resolver \"%s\": DNS-01 record not removed: %s", r->name, message);
}

static void solver_cleanup(void *ctx, const char *type, const char *domain, const char *token,
                           const char *key_auth) {
  resolver *r = ctx;
  if (strcmp(type, "http-01") == 0)
    wh_acme_chal_http_remove(token);
  else if (strcmp(type, "tls-alpn-01") == 0)
    wh_acme_chal_tls_remove(domain);
  else if (r->dns && !r->m->closing) {
    if (wh_dns01_cleanup(r->dns, domain, token, key_auth, dns_cleaned, r) != 0)
      wh_log_warn("acme: resolver \"%s\": DNS-01 record for %s not removed", r->name, domain);
    /* providers whose records of one name overwrite each other wait
     * before the next challenge of the order, as lego does */
    uint64_t seq = wh_dns01_sequence_interval(r->dns);
    if (seq)
      r->dns_not_before_ms = uv_now(r->m->loop) + seq;
  }
}

/* ---- storage ---- */

static void save(resolver *r, const char *what) {
  char err[256];
  if (wh_acme_store_read_only(r->fs->store)) {
    wh_log_error("acme: resolver \"%s\": %s not saved: %s is not overwritten because it could "
                 "not be loaded (%s); served from memory only",
                 r->name, what, r->fs->path, wh_acme_store_error(r->fs->store));
    return;
  }
  if (wh_acme_store_save(r->fs->store, r->fs->path, err, sizeof(err)) != 0)
    wh_log_error("acme: resolver \"%s\": %s not saved: %s; served from memory only", r->name, what,
                 err);
}

/* ---- orders ---- */

static void fail_job(resolver *r, job *j, const char *detail, int64_t retry_after_s) {
  j->active = false;
  j->failures++;
  int64_t wait = wh_acme_backoff_s(j->failures, retry_after_s);
  j->next_ms = uv_now(r->m->loop) + (uint64_t)wait * 1000;
  char *names = join_names(j->names, j->n);
  wh_log_error("acme: resolver \"%s\": unable to obtain a certificate for domains \"%s\": %s; "
               "next attempt in %llds",
               r->name, names ? names : "", detail, (long long)wait);
  free(names);
}

static void on_obtained(void *arg, wh_acme_certificate *cert, const wh_acme_problem *problem) {
  resolver *r = arg;
  job *j = r->current;
  r->current = NULL;
  if (!j || r->m->closing)
    return;
  if (problem) {
    char *d = wh_asprintf("%s: %s", problem->type, problem->detail);
    fail_job(r, j, d ? d : problem->detail, problem->retry_after_s);
    free(d);
    pump_soon(r);
    return;
  }
  char err[256];
  char *names = join_names(j->names, j->n);
  if (wh_acme_store_put_cert(r->fs->store, r->name, j->names[0], (const char *const *)j->names + 1,
                             j->n - 1, cert->cert_pem, cert->key_pem, "default", err,
                             sizeof(err)) != 0) {
    fail_job(r, j, err, 0);
    free(names);
    pump_soon(r);
    return;
  }
  char until[32];
  fmt_time(cert->not_after, until);
  wh_log_info("acme: resolver \"%s\": certificate obtained for domains \"%s\" (valid until %s)",
              r->name, names ? names : "", until);
  char *what = wh_asprintf("certificate for domains \"%s\"", names ? names : "");
  save(r, what ? what : "certificate");
  free(what);
  free(names);
  job_remove(r, j);
  publish(r->m);
  pump_soon(r);
}

static void on_account(void *arg, const wh_acme_account_info *acct,
                       const wh_acme_problem *problem) {
  resolver *r = arg;
  r->registering = false;
  if (r->m->closing)
    return;
  job *j = r->current;
  r->current = NULL;
  if (problem) {
    char *d = wh_asprintf("account registration: %s: %s", problem->type, problem->detail);
    if (j)
      fail_job(r, j, d ? d : problem->detail, problem->retry_after_s);
    free(d);
    pump_soon(r);
    return;
  }
  char *b64 = wh_acme_key_to_der_b64(r->account_key);
  wh_acme_store_account a = {.email = r->cfg->email ? r->cfg->email : "",
                             .reg_uri = (char *)acct->url,
                             .reg_body = (char *)acct->body,
                             .private_key = b64};
  char err[256];
  bool stored = b64 && wh_acme_store_set_account(r->fs->store, r->name, &a, err, sizeof(err)) == 0;
  wh_log_info("acme: resolver \"%s\": account registered (%s)", r->name, acct->url);
  if (stored)
    save(r, "account");
  else
    wh_log_error("acme: resolver \"%s\": account not stored: %s", r->name,
                 b64 ? err : "out of memory");
  free(b64);
  pump_soon(r);
}

static void key_work(uv_work_t *w) {
  resolver *r = w->data;
  /* Traefik's account keys are always RSA 4096, whatever keyType says. */
  r->work_key = wh_acme_key_generate(WH_ACME_KEY_RSA4096);
}

static void key_work_done(uv_work_t *w, int status) {
  resolver *r = w->data;
  wh_acme_manager *m = r->m;
  r->key_work = false;
  m->pending--;
  if (m->closing || status != 0) {
    EVP_PKEY_free(r->work_key);
    r->work_key = NULL;
    manager_free_if_done(m);
    return;
  }
  r->account_key = r->work_key;
  r->work_key = NULL;
  if (!r->account_key) {
    wh_log_error("acme: resolver \"%s\": the account key could not be made", r->name);
    r->disabled = true;
    return;
  }
  pump(r);
}

/* The stored account's key, when it is usable for this caServer. */
static EVP_PKEY *stored_account(resolver *r, bool *registered) {
  *registered = false;
  const wh_acme_store_account *a = wh_acme_store_get_account(r->fs->store, r->name);
  if (!a || !a->private_key)
    return NULL;
  if (a->reg_uri) {
    char *h1 = url_host(a->reg_uri), *h2 = url_host(r->cfg->ca_server);
    bool same = h1 && h2 && strcmp(h1, h2) == 0;
    free(h1);
    free(h2);
    if (!same) {
      wh_log_info("acme: resolver \"%s\": the stored account belongs to another CA than %s; a "
                  "new account is made",
                  r->name, r->cfg->ca_server);
      return NULL;
    }
  }
  EVP_PKEY *k = wh_acme_key_from_der_b64(a->private_key);
  if (!k) {
    wh_log_error("acme: resolver \"%s\": the stored account key does not parse; a new account "
                 "is made",
                 r->name);
    return NULL;
  }
  *registered = a->reg_uri && *a->reg_uri;
  return k;
}

static bool make_client(resolver *r) {
  const wh_acme *c = r->cfg;
  wh_acme_client_opts o = {0};
  o.ca_certificates = (const char *const *)c->ca_certificates.v;
  o.n_ca_certificates = c->ca_certificates.n;
  o.timeout_ms = c->client_timeout / WH_MS;
  o.response_header_timeout_ms = c->client_response_header_timeout / WH_MS;
  o.email = c->email;
  if (c->eab) {
    o.eab_kid = c->eab->kid;
    o.eab_hmac = c->eab->hmac_encoded;
  }
  o.ca_system_cert_pool = c->ca_system_cert_pool;
  o.preferred_chain = c->preferred_chain;
  char err[256];
  r->client = wh_acme_client_new(r->m->loop, c->ca_server, r->account_key, &o, err, sizeof(err));
  if (!r->client) {
    wh_log_error("acme: resolver \"%s\": no ACME client: %s", r->name, err);
    r->disabled = true;
    return false;
  }
  return true;
}

/* Account first (stored, or a new key made off the loop), then the first
 * job whose backoff has passed. */
static void pump(resolver *r) {
  wh_acme_manager *m = r->m;
  if (m->closing || !m->started || r->disabled || r->current || r->key_work || r->registering ||
      r->njobs == 0)
    return;
  uint64_t now = uv_now(m->loop), wake = 0;
  job *j = NULL;
  for (size_t i = 0; i < r->njobs; i++) {
    if (r->jobs[i]->next_ms <= now) {
      j = r->jobs[i];
      break;
    }
    if (!wake || r->jobs[i]->next_ms < wake)
      wake = r->jobs[i]->next_ms;
  }
  if (!j) {
    uv_timer_start(&r->pump_timer, on_pump_timer, wake - now, 0);
    return;
  }
  bool registered = false;
  if (!r->account_key) {
    r->account_key = stored_account(r, &registered);
    if (!r->account_key) {
      r->key_work = true;
      r->work.data = r;
      m->pending++;
      if (uv_queue_work(m->loop, &r->work, key_work, key_work_done) != 0) {
        m->pending--;
        r->key_work = false;
        wh_log_error("acme: resolver \"%s\": the account key could not be made", r->name);
        r->disabled = true;
      }
      return;
    }
  }
  if (!r->client) {
    if (!make_client(r))
      return;
    if (registered)
      wh_acme_client_set_account_url(r->client,
                                     wh_acme_store_get_account(r->fs->store, r->name)->reg_uri);
  }
  if (!wh_acme_client_account_url(r->client)) {
    r->registering = true;
    r->current = j;
    if (wh_acme_account(r->client, false, on_account, r) != 0) {
      r->registering = false;
      r->current = NULL;
      fail_job(r, j, "out of memory", 0);
    }
    return;
  }
  char *names = join_names(j->names, j->n);
  wh_log_info("acme: resolver \"%s\": %s a certificate for domains \"%s\"", r->name,
              j->renewal ? "renewing" : "ordering", names ? names : "");
  free(names);
  j->active = true;
  r->current = j;
  r->dns_not_before_ms = 0; /* the sequence interval is between one order's challenges */
  if (wh_acme_obtain(r->client, (const char *const *)j->names, j->n, r->key_type,
                     &(wh_acme_solver){r->types, r->ntypes, solver_present, solver_cleanup, r},
                     on_obtained, r) != 0) {
    r->current = NULL;
    fail_job(r, j, "the order could not start", 0);
    pump_soon(r);
  }
}

static void on_pump_timer(uv_timer_t *t) {
  pump(t->data);
}

/* On the next loop iteration: never re-enter the client from its own
 * callback. */
static void pump_soon(resolver *r) {
  if (!r->m->closing)
    uv_timer_start(&r->pump_timer, on_pump_timer, 0, 0);
}

/* ---- renewal ---- */

static void renewal_check(resolver *r) {
  time_t now = time(NULL);
  size_t n = wh_acme_store_cert_count(r->fs->store, r->name);
  for (size_t i = 0; i < n; i++) {
    const wh_acme_store_cert *sc = wh_acme_store_cert_at(r->fs->store, r->name, i);
    if (!sc->main || !*sc->main)
      continue;
    if (sc->parsed && !wh_acme_renewal_due(sc->parsed->not_after, now, r->period_s))
      continue;
    size_t nn = 1 + sc->nsans;
    char **names = calloc(nn, sizeof(*names));
    if (!names)
      return;
    names[0] = sc->main;
    for (size_t k = 0; k < sc->nsans; k++)
      names[1 + k] = sc->sans[k];
    job *j = job_find(r, names, nn);
    if (!j)
      j = job_add(r, names, nn);
    if (j && !j->renewal) {
      char until[32];
      fmt_time(sc->parsed ? sc->parsed->not_after : 0, until);
      wh_log_info("acme: resolver \"%s\": the certificate for domain \"%s\" expires on %s: "
                  "renewal queued",
                  r->name, sc->main, until);
      j->renewal = true;
    }
    free(names);
  }
  pump(r);
}

static void on_renew_timer(uv_timer_t *t) {
  resolver *r = t->data;
  wh_log_info("acme: resolver \"%s\": testing certificate renewal", r->name);
  renewal_check(r);
}

/* ---- configuration ---- */

/* Whether name is covered without a new order: by the served TLS store, by
 * a stored certificate of the resolver, or by a queued order. */
static bool covered(const resolver *r, const wh_cert_store *served, const char *name) {
  if (served && wh_cert_store_lookup(served, name))
    return true;
  size_t n = wh_acme_store_cert_count(r->fs->store, r->name);
  for (size_t i = 0; i < n; i++) {
    const wh_acme_store_cert *sc = wh_acme_store_cert_at(r->fs->store, r->name, i);
    if (sc->parsed && wh_cert_covers(sc->parsed, name))
      return true;
  }
  for (size_t i = 0; i < r->njobs; i++)
    for (size_t k = 0; k < r->jobs[i]->n; k++)
      if (wh_acme_name_matches(name, r->jobs[i]->names[k]))
        return true;
  return false;
}

static resolver *find_resolver(wh_acme_manager *m, const char *name) {
  for (size_t i = 0; i < m->nrs; i++)
    if (strcmp(m->rs[i].name, name) == 0)
      return &m->rs[i];
  return NULL;
}

static void want(resolver *r, const wh_cert_store *served, const wh_acme_want *w) {
  job *j = job_find(r, w->names, w->n);
  if (j) {
    j->wanted = true;
    return;
  }
  /* Traefik orders only the names nothing covers yet. */
  char **left = calloc(w->n, sizeof(*left));
  size_t nl = 0;
  if (!left)
    return;
  for (size_t i = 0; i < w->n; i++)
    if (!covered(r, served, w->names[i]))
      left[nl++] = w->names[i];
  if (nl) {
    j = job_find(r, left, nl);
    if (!j)
      j = job_add(r, left, nl);
    if (j)
      j->wanted = true;
  }
  free(left);
}

void wh_acme_manager_update(wh_acme_manager *m, const wh_snapshot *snap) {
  if (!m || m->closing || !snap || !snap->rt)
    return;
  m->started = true;
  wh_acme_wants wants = {0};
  wh_errlist errs;
  wh_errlist_init(&errs);
  if (wh_acme_domains_collect(m->stat, snap->rt, &wants, &errs) != 0)
    wh_log_error("acme: domains not collected (out of memory)");
  /* A problem is logged once, while it lasts. */
  wh_strlist now = {0};
  for (size_t i = 0; i < errs.n; i++) {
    if (!wh_strlist_contains(&m->logged, errs.items[i]))
      wh_log_error("acme: %s", errs.items[i]);
    wh_strlist_push(&now, errs.items[i]);
  }
  wh_strlist_free(&m->logged);
  m->logged = now;
  wh_errlist_free(&errs);

  const wh_cert_store *served = snap->tls ? wh_tls_server_store(snap->tls) : NULL;
  for (size_t i = 0; i < m->nrs; i++)
    for (size_t k = 0; k < m->rs[i].njobs; k++)
      m->rs[i].jobs[k]->wanted = false;
  for (size_t i = 0; i < wants.n; i++) {
    resolver *r = find_resolver(m, wants.v[i].resolver);
    if (r && !r->disabled)
      want(r, served, &wants.v[i]);
  }
  wh_acme_wants_free(&wants);
  for (size_t i = 0; i < m->nrs; i++) {
    resolver *r = &m->rs[i];
    for (size_t k = r->njobs; k-- > 0;) {
      job *j = r->jobs[k];
      if (!j->wanted && !j->renewal && !j->active && j != r->current)
        job_remove(r, j);
    }
    pump(r);
  }
}

/* ---- life cycle ---- */

static fstore *store_for(wh_acme_manager *m, const char *path) {
  for (size_t i = 0; i < m->nstores; i++)
    if (strcmp(m->stores[i].path, path) == 0)
      return &m->stores[i];
  fstore *fs = &m->stores[m->nstores];
  fs->path = wh_strdup(path);
  if (!fs->path)
    return NULL;
  char err[512];
  if (wh_acme_store_load(path, &fs->store, err, sizeof(err)) != 0)
    wh_log_error("acme: %s; new certificates are kept in memory only", err);
  if (!fs->store) {
    free(fs->path);
    return NULL;
  }
  const wh_errlist *w = wh_acme_store_warnings(fs->store);
  for (size_t i = 0; w && i < w->n; i++)
    wh_log_warn("acme: storage %s: %s", path, w->items[i]);
  m->nstores++;
  return fs;
}

static bool init_resolver(wh_acme_manager *m, resolver *r, const char *name, const wh_acme *cfg,
                          char **envp) {
  r->m = m;
  r->name = name;
  r->cfg = cfg;
  uv_timer_init(m->loop, &r->pump_timer);
  r->pump_timer.data = r;
  uv_timer_init(m->loop, &r->renew_timer);
  r->renew_timer.data = r;
  m->pending += 2;
  r->fs = store_for(m, cfg->storage && *cfg->storage ? cfg->storage : "acme.json");
  if (!r->fs)
    return false;
  if (wh_acme_key_type_parse(cfg->key_type, &r->key_type) != 0)
    r->key_type = WH_ACME_KEY_RSA4096;
  wh_acme_renewal_durations(cfg->certificates_duration, &r->period_s, &r->interval_s);
  /* lego tries the challenges it has solvers for in this order */
  if (cfg->tls_challenge)
    r->types[r->ntypes++] = "tls-alpn-01";
  if (cfg->http_challenge)
    r->types[r->ntypes++] = "http-01";
  if (cfg->dns_challenge) {
    char err[256];
    r->dns = wh_dns01_new(cfg->dns_challenge->provider, m->loop, envp, err, sizeof(err));
    if (r->dns)
      r->types[r->ntypes++] = "dns-01";
    else
      wh_log_error("acme: resolver \"%s\": dnsChallenge: %s", name, err);
  }
  if (!r->ntypes) {
    wh_log_error("acme: resolver \"%s\": no usable challenge; no certificate will be ordered",
                 name);
    r->disabled = true;
  }
  size_t n = wh_acme_store_cert_count(r->fs->store, name);
  wh_log_info("acme: resolver \"%s\": %zu certificate(s) loaded from %s", name, n, r->fs->path);
  return true;
}

wh_acme_manager *wh_acme_manager_new(uv_loop_t *loop, const wh_static_config *stat, char **envp,
                                     wh_provider_emit_fn emit, void *emit_ctx) {
  const wh_map *rm = &stat->certificates_resolvers;
  size_t n = 0;
  for (size_t i = 0; i < rm->n; i++) {
    const wh_cert_resolver *cr = rm->vals[i];
    if (cr && cr->acme)
      n++;
  }
  if (!n)
    return NULL;
  wh_acme_manager *m = calloc(1, sizeof(*m));
  if (m) {
    m->rs = calloc(n, sizeof(*m->rs));
    m->stores = calloc(n, sizeof(*m->stores));
  }
  if (!m || !m->rs || !m->stores) {
    if (m) {
      free(m->rs);
      free(m->stores);
    }
    free(m);
    wh_log_error("acme: out of memory; certificatesResolvers are not served");
    return NULL;
  }
  m->loop = loop;
  m->stat = stat;
  m->emit = emit;
  m->emit_ctx = emit_ctx;
  for (size_t i = 0; i < rm->n; i++) {
    const wh_cert_resolver *cr = rm->vals[i];
    if (!cr || !cr->acme)
      continue;
    if (!init_resolver(m, &m->rs[m->nrs], rm->keys[i], cr->acme, envp)) {
      wh_log_error("acme: out of memory; certificatesResolvers are not served");
      m->nrs++; /* its timers may be initialised */
      wh_acme_manager_close(m);
      return NULL;
    }
    m->nrs++;
  }
  publish(m);
  for (size_t i = 0; i < m->nrs; i++) {
    resolver *r = &m->rs[i];
    uint64_t iv = (uint64_t)r->interval_s * 1000;
    uv_timer_start(&r->renew_timer, on_renew_timer, iv, iv);
    renewal_check(r);
  }
  return m;
}

size_t wh_acme_manager_pending(const wh_acme_manager *m) {
  size_t n = 0;
  for (size_t i = 0; m && i < m->nrs; i++)
    n += m->rs[i].njobs;
  return n;
}

static void manager_free_if_done(wh_acme_manager *m) {
  if (!m->closing || m->pending > 0)
    return;
  for (size_t i = 0; i < m->nrs; i++) {
    resolver *r = &m->rs[i];
    for (size_t k = 0; k < r->njobs; k++)
      job_free(r->jobs[k]);
    free(r->jobs);
    EVP_PKEY_free(r->account_key);
  }
  for (size_t i = 0; i < m->nstores; i++) {
    free(m->stores[i].path);
    wh_acme_store_free(m->stores[i].store);
  }
  free(m->stores);
  free(m->rs);
  wh_strlist_free(&m->logged);
  free(m);
}

static void on_closed(uv_handle_t *h) {
  resolver *r = h->data;
  wh_acme_manager *m = r->m;
  m->pending--;
  manager_free_if_done(m);
}

void wh_acme_manager_close(wh_acme_manager *m) {
  if (!m || m->closing)
    return;
  m->closing = true;
  /* dns_op_closed frees ops; route its count through on_closed's check */
  for (size_t i = 0; i < m->nrs; i++) {
    resolver *r = &m->rs[i];
    wh_acme_client_free(r->client);
    r->client = NULL;
    r->current = NULL;
    /* Abandons the provider's operations: their callbacks never come. */
    wh_dns01_free(r->dns);
    r->dns = NULL;
    while (r->dns_ops) {
      dns_op *op = r->dns_ops;
      if (op->check)
        wh_dns01_check_cancel(op->check);
      op->check = NULL;
      dns_op_finish(op, "shutting down");
    }
    if (r->key_work)
      uv_cancel((uv_req_t *)&r->work);
    uv_timer_stop(&r->pump_timer);
    uv_timer_stop(&r->renew_timer);
    uv_close((uv_handle_t *)&r->pump_timer, on_closed);
    uv_close((uv_handle_t *)&r->renew_timer, on_closed);
  }
  wh_acme_chal_clear();
}
