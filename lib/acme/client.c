#include "lib/acme/client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/acme/csr.h"
#include "lib/acme/jws.h"
#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/net/curl_uv.h"

/* Set by wh_acme_client_new before any other curl call here. */
static const wh_curl_api *curl_api;
#define CURLAPI curl_api

#define NONCE_POOL 8
/* pebble rejects 5 % of good nonces by default, Let's Encrypt a few: one
 * retry would leave a long issuance a real chance of failing on this alone;
 * lego retries for up to 20 s. */
#define MAX_NONCE_RETRIES 5
#define MAX_BODY (2u << 20)
#define DEFAULT_POLL_MS 1000
#define MAX_ALTERNATES 8

#define P_TRANSPORT "urn:wharf:acme:transport"
#define P_PROTOCOL "urn:wharf:acme:protocol"
#define P_SOLVER "urn:wharf:acme:solver"
#define P_ACME "urn:ietf:params:acme:error:"

typedef struct req req;
typedef struct op op;
typedef void (*req_fn)(op *o, req *r, const wh_acme_problem *p);

enum { M_GET, M_HEAD, M_POST };

struct req {
  wh_acme_client *c;
  req *prev, *next; /* the client's live requests */
  op *o;            /* the operation it serves (NULL for a nonce fetch) */
  req *parent;      /* a nonce fetch: the POST waiting for it */
  int method;
  char *url, *payload; /* payload NULL: POST-as-GET */
  bool use_jwk, pem;
  int nonce_retries;
  CURL *easy;
  struct curl_slist *hdrs;
  char *jws;
  wh_strbuf body;
  char *location, *retry_after, *ctype;
  char *alt[MAX_ALTERNATES];
  size_t nalt;
  long status;
  bool headers_done, header_timeout, too_big;
  uint64_t start_ns;
  cJSON *json;
  char errbuf[CURL_ERROR_SIZE];
  req_fn cb;
};

struct wh_acme_solver_handle {
  op *o;
};

/* The certificate key, made on the loop's thread pool: RSA 4096 takes about
 * a second the control loop must not spend. When its op ends first (the
 * client is freed), the work is orphaned and only frees itself. */
typedef struct keygen {
  uv_work_t work;
  op *o; /* NULL once orphaned */
  wh_acme_key_type type;
  EVP_PKEY *key;
} keygen;

enum { OP_ACCOUNT, OP_OBTAIN };

struct op {
  wh_acme_client *c; /* NULL once orphaned by wh_acme_client_free */
  op *prev, *next;
  int kind;
  bool only_existing;
  wh_acme_account_fn acct_done;
  wh_acme_obtain_fn done;
  void *arg;
  /* obtain */
  char **domains;
  size_t n;
  wh_acme_key_type key_type;
  wh_acme_solver solver;
  char *order_url, *finalize_url, *cert_url;
  char **authz;
  size_t nauthz, i;
  char *ch_type, *ch_url, *ch_token, *ch_domain, *ka;
  bool presented, waiting_solver;
  wh_acme_solver_handle handle;
  uv_timer_t *timer;
  void (*on_timer)(op *o);
  uint64_t deadline;
  EVP_PKEY *key;
  keygen *keygen; /* the key is being made */
  char *cert_pem;
  char *alt[MAX_ALTERNATES];
  size_t nalt, alt_i;
};

struct wh_acme_client {
  uv_loop_t *loop;
  wh_curl_uv *curl;
  char *dir_url;
  EVP_PKEY *key;
  char *kid;
  char *new_nonce, *new_account, *new_order;
  bool dir_loaded;
  char *nonces[NONCE_POOL];
  size_t nnonces;
  unsigned nonce_retries;
  char *ca_blob;
  size_t ca_blob_len;
  bool ca_keep_system;
  int64_t timeout_ms, header_timeout_ms, poll_timeout_ms;
  char *email, *eab_kid, *eab_hmac, *preferred_chain, *user_agent;
  req *reqs;
  op *ops;
  uv_timer_t *watchdog; /* clientResponseHeaderTimeout, while requests run */
  int depth;            /* inside one of our callbacks: destruction waits */
  bool closing;
};

/* ---- small helpers ---- */

static void enter(wh_acme_client *c) {
  c->depth++;
}

static void on_timer_closed(uv_handle_t *h) {
  free(h);
}

static void destroy(wh_acme_client *c) {
  if (c->watchdog) {
    uv_timer_stop(c->watchdog);
    uv_close((uv_handle_t *)c->watchdog, on_timer_closed);
  }
  wh_curl_uv_close(c->curl);
  free(c->dir_url);
  EVP_PKEY_free(c->key);
  free(c->kid);
  free(c->new_nonce);
  free(c->new_account);
  free(c->new_order);
  for (size_t i = 0; i < c->nnonces; i++)
    free(c->nonces[i]);
  free(c->ca_blob);
  free(c->email);
  free(c->eab_kid);
  free(c->eab_hmac);
  free(c->preferred_chain);
  free(c->user_agent);
  free(c);
}

static void leave(wh_acme_client *c) {
  if (--c->depth == 0 && c->closing)
    destroy(c);
}

static const char *jstr(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_str(char **dst, const char *v) {
  free(*dst);
  *dst = wh_strdup(v);
}

static int64_t parse_retry_after(const char *v) {
  if (!v)
    return 0;
  while (*v == ' ')
    v++;
  if (isdigit((unsigned char)*v)) {
    long long s = strtoll(v, NULL, 10);
    return s > 0 && s < 86400 ? s : 0;
  }
  struct tm tm = {0};
  if (strptime(v, "%a, %d %b %Y %H:%M:%S", &tm)) {
    int64_t d = (int64_t)timegm(&tm) - (int64_t)time(NULL);
    return d > 0 && d < 86400 ? d : 0;
  }
  return 0;
}

static void problem_init(wh_acme_problem *p, const char *type, const char *detail, int status) {
  memset(p, 0, sizeof(*p));
  p->type = type ? type : "about:blank";
  p->detail = detail ? detail : "";
  p->status = status;
  p->rate_limited = wh_streq(p->type, P_ACME "rateLimited");
}

/* ---- requests ---- */

static void req_unlink(req *r) {
  wh_acme_client *c = r->c;
  if (!r->prev && c->reqs != r)
    return;
  if (r->prev)
    r->prev->next = r->next;
  else
    c->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void req_link(req *r) {
  wh_acme_client *c = r->c;
  r->prev = NULL;
  r->next = c->reqs;
  if (c->reqs)
    c->reqs->prev = r;
  c->reqs = r;
}

static void req_reset_response(req *r) {
  if (r->easy)
    CURLAPI->easy_cleanup(r->easy);
  r->easy = NULL;
  CURLAPI->slist_free_all(r->hdrs);
  r->hdrs = NULL;
  free(r->jws);
  r->jws = NULL;
  wh_strbuf_free(&r->body);
  free(r->location);
  free(r->retry_after);
  free(r->ctype);
  r->location = r->retry_after = r->ctype = NULL;
  for (size_t i = 0; i < r->nalt; i++)
    free(r->alt[i]);
  r->nalt = 0;
  r->status = 0;
  r->headers_done = r->header_timeout = r->too_big = false;
  cJSON_Delete(r->json);
  r->json = NULL;
  r->errbuf[0] = '\0';
}

static void req_free(req *r) {
  req_reset_response(r);
  free(r->url);
  free(r->payload);
  free(r);
}

static req *req_new(wh_acme_client *c, op *o, int method, const char *url, const char *payload,
                    req_fn cb) {
  req *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->c = c;
  r->o = o;
  r->method = method;
  r->cb = cb;
  r->url = wh_strdup(url);
  r->payload = payload ? wh_strdup(payload) : NULL;
  if (!r->url || (payload && !r->payload)) {
    req_free(r);
    return NULL;
  }
  return r;
}

static void push_nonce(wh_acme_client *c, const char *v) {
  char *n = wh_strdup(v);
  if (!n)
    return;
  if (c->nnonces == NONCE_POOL) {
    free(c->nonces[0]);
    memmove(c->nonces, c->nonces + 1, (NONCE_POOL - 1) * sizeof(char *));
    c->nnonces--;
  }
  c->nonces[c->nnonces++] = n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  req *r = ud;
  size_t len = size * n;
  if (r->body.len + len > MAX_BODY) {
    r->too_big = true;
    return 0;
  }
  return wh_strbuf_append(&r->body, p, len) == 0 ? len : 0;
}

/* The value of a Link header's rel="alternate" entries (RFC 8555 §7.4.2). */
static void parse_link(req *r, const char *v) {
  while (*v) {
    const char *lt = strchr(v, '<');
    if (!lt)
      return;
    const char *gt = strchr(lt, '>');
    if (!gt)
      return;
    const char *end = strchr(gt, ',');
    size_t plen = end ? (size_t)(end - gt) : strlen(gt);
    char *params = wh_strndup(gt, plen);
    if (params && (strstr(params, "rel=\"alternate\"") || strstr(params, "rel=alternate")) &&
        r->nalt < MAX_ALTERNATES) {
      char *u = wh_strndup(lt + 1, (size_t)(gt - lt - 1));
      if (u)
        r->alt[r->nalt++] = u;
    }
    free(params);
    if (!end)
      return;
    v = end + 1;
  }
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  req *r = ud;
  size_t len = size * n;
  char *line = wh_strndup(p, len);
  if (!line)
    return 0;
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
    line[--len] = '\0';
  if (strncmp(line, "HTTP/", 5) == 0) {
    const char *sp = strchr(line, ' ');
    r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
  } else if (len == 0) {
    if (r->status >= 200)
      r->headers_done = true;
  } else {
    char *colon = strchr(line, ':');
    if (colon) {
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      if (strcasecmp(line, "Replay-Nonce") == 0 && *v)
        push_nonce(r->c, v);
      else if (strcasecmp(line, "Location") == 0)
        set_str(&r->location, v);
      else if (strcasecmp(line, "Retry-After") == 0)
        set_str(&r->retry_after, v);
      else if (strcasecmp(line, "Content-Type") == 0)
        set_str(&r->ctype, v);
      else if (strcasecmp(line, "Link") == 0)
        parse_link(r, v);
    }
  }
  free(line);
  return size * n;
}

/* clientResponseHeaderTimeout: libcurl has no such bound. Its progress
 * callback catches a late head while data moves; the watchdog timer below
 * catches a server that sends nothing (libcurl is then not called at all). */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  req *r = ud;
  if (r->headers_done || r->c->header_timeout_ms <= 0)
    return 0;
  if ((uv_hrtime() - r->start_ns) / 1000000 > (uint64_t)r->c->header_timeout_ms) {
    r->header_timeout = true;
    return 1;
  }
  return 0;
}

static void on_req_done(void *arg, CURL *easy, CURLcode rc);
static int req_send(req *r);

static void req_deliver(req *r, const wh_acme_problem *p) {
  req_unlink(r);
  r->cb(r->o, r, p);
  req_free(r);
}

#define WATCHDOG_MS 250

static void on_watchdog(uv_timer_t *t) {
  wh_acme_client *c = t->data;
  enter(c);
  bool again = true;
  while (again && !c->closing) {
    again = false;
    uint64_t now = uv_hrtime();
    for (req *r = c->reqs; r; r = r->next) {
      if (r->easy && !r->headers_done &&
          (now - r->start_ns) / 1000000 > (uint64_t)c->header_timeout_ms) {
        CURL *e = r->easy;
        wh_curl_uv_cancel(c->curl, e);
        r->header_timeout = true;
        on_req_done(r, e, CURLE_OPERATION_TIMEDOUT);
        again = true; /* the list may have changed */
        break;
      }
    }
  }
  if (!c->closing) {
    bool running = false;
    for (req *r = c->reqs; r && !running; r = r->next)
      running = r->easy != NULL;
    if (!running)
      uv_timer_stop(t);
  }
  leave(c);
}

static void watchdog_arm(wh_acme_client *c) {
  if (c->header_timeout_ms <= 0)
    return;
  if (!c->watchdog) {
    c->watchdog = malloc(sizeof(*c->watchdog));
    if (!c->watchdog || uv_timer_init(c->loop, c->watchdog) != 0) {
      free(c->watchdog);
      c->watchdog = NULL;
      return;
    }
    c->watchdog->data = c;
  }
  if (!uv_is_active((uv_handle_t *)c->watchdog))
    uv_timer_start(c->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS);
}

static void on_nonce(op *o, req *n, const wh_acme_problem *p) {
  req *r = n->parent;
  if (p) {
    req_deliver(r, p);
    return;
  }
  if (r->c->nnonces == 0) {
    wh_acme_problem q;
    problem_init(&q, P_PROTOCOL, "the server's newNonce gave no Replay-Nonce", 0);
    req_deliver(r, &q);
    return;
  }
  if (req_send(r) != 0) {
    wh_acme_problem q;
    problem_init(&q, P_TRANSPORT, "cannot start a request", 0);
    req_deliver(r, &q);
  }
}

/* Starts r (in the live list). 0, or an error (r not started, still the
 * caller's). */
static int req_send(req *r) {
  wh_acme_client *c = r->c;
  req_reset_response(r);
  if (r->method == M_POST) {
    if (c->nnonces == 0) {
      if (!c->new_nonce)
        return WH_ERR;
      req *n = req_new(c, NULL, M_HEAD, c->new_nonce, NULL, on_nonce);
      if (!n)
        return WH_ENOMEM;
      n->parent = r;
      req_link(n);
      if (req_send(n) != 0) {
        req_unlink(n);
        req_free(n);
        return WH_ERR;
      }
      return 0;
    }
    char *nonce = c->nonces[--c->nnonces];
    r->jws = wh_acme_jws(c->key, r->use_jwk ? NULL : c->kid, nonce, r->url, r->payload);
    free(nonce);
    if (!r->jws)
      return WH_ERR;
  }
  CURL *e = CURLAPI->easy_init();
  if (!e)
    return WH_ENOMEM;
  r->easy = e;
  CURLAPI->easy_setopt(e, CURLOPT_URL, r->url);
  CURLAPI->easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  CURLAPI->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  CURLAPI->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLAPI->easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
  CURLAPI->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  CURLAPI->easy_setopt(e, CURLOPT_WRITEDATA, r);
  CURLAPI->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  CURLAPI->easy_setopt(e, CURLOPT_HEADERDATA, r);
  CURLAPI->easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  CURLAPI->easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  CURLAPI->easy_setopt(e, CURLOPT_XFERINFODATA, r);
  CURLAPI->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
  CURLAPI->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                       (long)(c->timeout_ms < 30000 ? c->timeout_ms : 30000));
  CURLAPI->easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (c->ca_blob) {
    struct curl_blob blob = {.data = c->ca_blob, .len = c->ca_blob_len, .flags = CURL_BLOB_COPY};
    CURLAPI->easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    if (!c->ca_keep_system)
      CURLAPI->easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
  }
  struct curl_slist *h = CURLAPI->slist_append(
      NULL, r->pem ? "Accept: application/pem-certificate-chain" : "Accept: */*");
  if (h && r->method == M_POST) {
    struct curl_slist *h2 = CURLAPI->slist_append(h, "Content-Type: application/jose+json");
    if (h2)
      h = h2;
  }
  r->hdrs = h;
  if (h)
    CURLAPI->easy_setopt(e, CURLOPT_HTTPHEADER, h);
  if (r->method == M_HEAD) {
    CURLAPI->easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (r->method == M_POST) {
    CURLAPI->easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->jws));
    CURLAPI->easy_setopt(e, CURLOPT_POSTFIELDS, r->jws);
  }
  r->start_ns = uv_hrtime();
  if (wh_curl_uv_add(c->curl, e, on_req_done, r) != 0) {
    CURLAPI->easy_cleanup(e);
    r->easy = NULL;
    return WH_ERR;
  }
  watchdog_arm(c);
  return 0;
}

static void on_req_done(void *arg, CURL *easy, CURLcode rc) {
  req *r = arg;
  wh_acme_client *c = r->c;
  enter(c);
  wh_acme_problem p;
  char detail[CURL_ERROR_SIZE + 256];
  const wh_acme_problem *prob = NULL;
  if (rc != CURLE_OK) {
    if (r->header_timeout)
      snprintf(detail, sizeof(detail), "%s: no response head within %lld ms", r->url,
               (long long)c->header_timeout_ms);
    else if (r->too_big)
      snprintf(detail, sizeof(detail), "%s: response larger than %u bytes", r->url, MAX_BODY);
    else
      snprintf(detail, sizeof(detail), "%s: %s", r->url,
               r->errbuf[0] ? r->errbuf : CURLAPI->easy_strerror(rc));
    problem_init(&p, P_TRANSPORT, detail, 0);
    prob = &p;
  } else {
    long code = 0;
    CURLAPI->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    r->status = code;
    bool is_json = r->ctype && (strstr(r->ctype, "json") != NULL);
    if (is_json && r->body.len)
      r->json = cJSON_ParseWithLength(r->body.data, r->body.len);
    if (code >= 400) {
      const char *type = r->json ? jstr(r->json, "type") : NULL;
      const char *d = r->json ? jstr(r->json, "detail") : NULL;
      if (wh_streq(type, P_ACME "badNonce") && r->method == M_POST &&
          r->nonce_retries < MAX_NONCE_RETRIES) {
        r->nonce_retries++;
        c->nonce_retries++;
        wh_log_debug("acme: %s: badNonce, retrying", r->url);
        if (req_send(r) == 0) {
          leave(c);
          return;
        }
      }
      if (!d) {
        snprintf(detail, sizeof(detail), "%s: HTTP %ld", r->url, code);
        d = detail;
      }
      problem_init(&p, type ? type : P_PROTOCOL, d, (int)code);
      p.retry_after_s = parse_retry_after(r->retry_after);
      prob = &p;
    } else if (code < 200 || code >= 300) {
      snprintf(detail, sizeof(detail), "%s: unexpected HTTP %ld", r->url, code);
      problem_init(&p, P_PROTOCOL, detail, (int)code);
      prob = &p;
    } else if (r->method != M_HEAD && !r->pem && !r->json) {
      snprintf(detail, sizeof(detail), "%s: the response is not JSON", r->url);
      problem_init(&p, P_PROTOCOL, detail, (int)code);
      prob = &p;
    }
  }
  req_deliver(r, prob);
  leave(c);
}

/* A request for o; its cb runs exactly once unless the client is freed.
 * On a start failure the problem goes to cb at once. */
static void start(op *o, int method, const char *url, const char *payload, bool use_jwk, bool pem,
                  req_fn cb) {
  wh_acme_client *c = o->c;
  req *r = req_new(c, o, method, url, payload, cb);
  if (r) {
    r->use_jwk = use_jwk;
    r->pem = pem;
    req_link(r);
    if (req_send(r) == 0)
      return;
    req_unlink(r);
    req_free(r);
  }
  wh_acme_problem p;
  problem_init(&p, P_TRANSPORT, "cannot start a request to the ACME server", 0);
  cb(o, NULL, &p);
}

/* ---- operations ---- */

static void op_unlink(op *o) {
  wh_acme_client *c = o->c;
  if (!c || (!o->prev && c->ops != o))
    return;
  if (o->prev)
    o->prev->next = o->next;
  else
    c->ops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  o->prev = o->next = NULL;
}

static void clear_challenge(op *o) {
  free(o->ch_type);
  free(o->ch_url);
  free(o->ch_token);
  free(o->ch_domain);
  free(o->ka);
  o->ch_type = o->ch_url = o->ch_token = o->ch_domain = o->ka = NULL;
  o->presented = false;
}

static void solver_cleanup(op *o) {
  if (o->presented && o->solver.cleanup)
    o->solver.cleanup(o->solver.ctx, o->ch_type, o->ch_domain, o->ch_token, o->ka);
  clear_challenge(o);
}

static void op_free(op *o) {
  if (o->keygen) {
    o->keygen->o = NULL;
    uv_cancel((uv_req_t *)&o->keygen->work);
    o->keygen = NULL;
  }
  if (o->timer) {
    uv_timer_stop(o->timer);
    uv_close((uv_handle_t *)o->timer, on_timer_closed);
  }
  clear_challenge(o);
  wh_strv_free(o->domains, o->n);
  wh_strv_free(o->authz, o->nauthz);
  for (size_t i = 0; i < o->nalt; i++)
    free(o->alt[i]);
  free(o->order_url);
  free(o->finalize_url);
  free(o->cert_url);
  free(o->cert_pem);
  EVP_PKEY_free(o->key);
  free(o);
}

/* Ends o with a problem: the solver's cleanup first, then the caller. */
static void fail(op *o, const wh_acme_problem *p) {
  solver_cleanup(o);
  op_unlink(o);
  if (o->kind == OP_ACCOUNT)
    o->acct_done(o->arg, NULL, p);
  else
    o->done(o->arg, NULL, p);
  op_free(o);
}

static void failf(op *o, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failf(op *o, const char *type, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  wh_acme_problem p;
  problem_init(&p, type, buf, 0);
  fail(o, &p);
}

static void on_op_timer(uv_timer_t *t) {
  op *o = t->data;
  wh_acme_client *c = o->c;
  enter(c);
  o->on_timer(o);
  leave(c);
}

/* Runs fn(o) after the server's Retry-After (or a second); a problem once
 * the deadline has passed. */
static void later(op *o, const req *r, void (*fn)(op *), const char *what) {
  uint64_t now = uv_now(o->c->loop);
  if (now >= o->deadline) {
    failf(o, P_PROTOCOL, "%s: still not done after %lld ms", what,
          (long long)o->c->poll_timeout_ms);
    return;
  }
  int64_t ra = r ? parse_retry_after(r->retry_after) : 0;
  uint64_t ms = ra > 0 ? (uint64_t)ra * 1000 : DEFAULT_POLL_MS;
  if (now + ms > o->deadline)
    ms = o->deadline - now;
  if (!o->timer) {
    o->timer = malloc(sizeof(*o->timer));
    if (!o->timer || uv_timer_init(o->c->loop, o->timer) != 0) {
      free(o->timer);
      o->timer = NULL;
      failf(o, P_PROTOCOL, "cannot arm a timer");
      return;
    }
    o->timer->data = o;
  }
  o->on_timer = fn;
  uv_timer_start(o->timer, on_op_timer, ms, 0);
}

static void step(op *o);

static void on_directory(op *o, req *r, const wh_acme_problem *p) {
  if (p) {
    fail(o, p);
    return;
  }
  wh_acme_client *c = o->c;
  const char *nn = jstr(r->json, "newNonce"), *na = jstr(r->json, "newAccount"),
             *no = jstr(r->json, "newOrder");
  if (!nn || !na || !no) {
    failf(o, P_PROTOCOL, "%s is not an ACME directory (no newNonce/newAccount/newOrder)",
          c->dir_url);
    return;
  }
  set_str(&c->new_nonce, nn);
  set_str(&c->new_account, na);
  set_str(&c->new_order, no);
  c->dir_loaded = c->new_nonce && c->new_account && c->new_order;
  if (!c->dir_loaded) {
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  step(o);
}

static void on_account(op *o, req *r, const wh_acme_problem *p) {
  if (p) {
    fail(o, p);
    return;
  }
  wh_acme_client *c = o->c;
  if (!r->location) {
    failf(o, P_PROTOCOL, "newAccount answered without the account's Location");
    return;
  }
  set_str(&c->kid, r->location);
  if (o->kind == OP_ACCOUNT) {
    char *body = cJSON_PrintUnformatted(r->json);
    wh_acme_account_info info = {.url = c->kid,
                                 .status =
                                     jstr(r->json, "status") ? jstr(r->json, "status") : "valid",
                                 .body = body ? body : "{}"};
    op_unlink(o);
    o->acct_done(o->arg, &info, NULL);
    free(body);
    op_free(o);
    return;
  }
  step(o);
}

static void start_account(op *o) {
  wh_acme_client *c = o->c;
  cJSON *pl = cJSON_CreateObject();
  bool ok = pl != NULL;
  if (ok && o->only_existing) {
    ok = cJSON_AddBoolToObject(pl, "onlyReturnExisting", 1) != NULL;
  } else if (ok) {
    ok = cJSON_AddBoolToObject(pl, "termsOfServiceAgreed", 1) != NULL;
    if (ok && c->email && *c->email) {
      char *m = wh_asprintf("mailto:%s", c->email);
      cJSON *arr = cJSON_AddArrayToObject(pl, "contact");
      ok = m && arr && cJSON_AddItemToArray(arr, cJSON_CreateString(m));
      free(m);
    }
    if (ok && c->eab_kid) {
      cJSON *eab = wh_acme_eab_jws(c->key, c->eab_kid, c->eab_hmac, c->new_account);
      if (!eab) {
        cJSON_Delete(pl);
        failf(o, P_PROTOCOL, "externalAccountBinding: the HMAC key is not base64url");
        return;
      }
      cJSON_AddItemToObject(pl, "externalAccountBinding", eab);
    }
  }
  char *txt = ok ? cJSON_PrintUnformatted(pl) : NULL;
  cJSON_Delete(pl);
  if (!txt) {
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  start(o, M_POST, c->new_account, txt, true, false, on_account);
  free(txt);
}

static void start_order(op *o);

/* What o needs next: the directory, an account, then its own work. */
static void step(op *o) {
  wh_acme_client *c = o->c;
  if (!c->dir_loaded)
    start(o, M_GET, c->dir_url, NULL, false, false, on_directory);
  else if (o->kind == OP_ACCOUNT || !c->kid)
    start_account(o);
  else
    start_order(o);
}

/* ---- issuance ---- */

static void authz_step(op *o);
static void finalize(op *o);
static void download(op *o);

static int take_strings(const cJSON *arr, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  int cnt = cJSON_GetArraySize(arr);
  if (!cJSON_IsArray(arr) || cnt <= 0)
    return WH_EINVAL;
  char **v = calloc((size_t)cnt, sizeof(char *));
  if (!v)
    return WH_ENOMEM;
  const cJSON *it;
  size_t i = 0;
  cJSON_ArrayForEach(it, arr) {
    if (!cJSON_IsString(it) || !(v[i] = wh_strdup(it->valuestring))) {
      wh_strv_free(v, i);
      return WH_EINVAL;
    }
    i++;
  }
  *out = v;
  *n = i;
  return 0;
}

static void order_problem(op *o, const cJSON *order) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(order, "error");
  if (cJSON_IsObject(e)) {
    wh_acme_problem p;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "status");
    problem_init(&p, jstr(e, "type"), jstr(e, "detail"), cJSON_IsNumber(st) ? st->valueint : 0);
    fail(o, &p);
    return;
  }
  failf(o, P_ACME "orderNotReady", "order %s is %s", o->order_url ? o->order_url : "",
        jstr(order, "status") ? jstr(order, "status") : "in an unknown state");
}

static void on_order(op *o, req *r, const wh_acme_problem *p) {
  if (p) {
    fail(o, p);
    return;
  }
  if (r->location && !o->order_url)
    o->order_url = wh_strdup(r->location);
  const char *st = jstr(r->json, "status"), *fin = jstr(r->json, "finalize");
  if (!o->order_url || !fin ||
      take_strings(cJSON_GetObjectItemCaseSensitive(r->json, "authorizations"), &o->authz,
                   &o->nauthz) != 0) {
    failf(o, P_PROTOCOL, "newOrder: malformed order (no Location, finalize or authorizations)");
    return;
  }
  set_str(&o->finalize_url, fin);
  if (wh_streq(st, "invalid")) {
    order_problem(o, r->json);
    return;
  }
  o->i = 0;
  authz_step(o);
}

static void start_order(op *o) {
  cJSON *pl = cJSON_CreateObject();
  cJSON *ids = pl ? cJSON_AddArrayToObject(pl, "identifiers") : NULL;
  bool ok = ids != NULL;
  for (size_t i = 0; ok && i < o->n; i++) {
    cJSON *id = cJSON_CreateObject();
    ok = id && cJSON_AddItemToArray(ids, id) && cJSON_AddStringToObject(id, "type", "dns") &&
         cJSON_AddStringToObject(id, "value", o->domains[i]);
  }
  char *txt = ok ? cJSON_PrintUnformatted(pl) : NULL;
  cJSON_Delete(pl);
  if (!txt) {
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  start(o, M_POST, o->c->new_order, txt, false, false, on_order);
  free(txt);
}

static void on_authz(op *o, req *r, const wh_acme_problem *p);

static void poll_authz(op *o) {
  start(o, M_POST, o->authz[o->i], NULL, false, false, on_authz);
}

static void on_challenge(op *o, req *r, const wh_acme_problem *p) {
  if (p) {
    fail(o, p);
    return;
  }
  poll_authz(o);
}

void wh_acme_solver_done(wh_acme_solver_handle *h, const char *error) {
  op *o = h->o;
  o->waiting_solver = false;
  wh_acme_client *c = o->c;
  if (!c) { /* the client went while the solver worked */
    if (!error)
      o->presented = true;
    solver_cleanup(o);
    op_free(o);
    return;
  }
  enter(c);
  if (error) {
    failf(o, P_SOLVER, "%s challenge for %s: %s", o->ch_type, o->ch_domain, error);
  } else {
    o->presented = true;
    o->deadline = uv_now(c->loop) + (uint64_t)c->poll_timeout_ms;
    start(o, M_POST, o->ch_url, "{}", false, false, on_challenge);
  }
  leave(c);
}

static void challenge_failed(op *o, const cJSON *authz) {
  const cJSON *chs = cJSON_GetObjectItemCaseSensitive(authz, "challenges"), *ch;
  cJSON_ArrayForEach(ch, chs) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ch, "error");
    if (cJSON_IsObject(e)) {
      const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "status");
      char detail[1024];
      snprintf(detail, sizeof(detail), "%s: %s", jstr(ch, "type") ? jstr(ch, "type") : "?",
               jstr(e, "detail") ? jstr(e, "detail") : "challenge failed");
      wh_acme_problem q;
      problem_init(&q, jstr(e, "type"), detail, cJSON_IsNumber(st) ? st->valueint : 0);
      fail(o, &q);
      return;
    }
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(authz, "identifier");
  failf(o, P_ACME "unauthorized", "authorization for %s is %s",
        jstr(id, "value") ? jstr(id, "value") : "?", jstr(authz, "status"));
}

static void on_authz(op *o, req *r, const wh_acme_problem *p) {
  if (p) {
    fail(o, p);
    return;
  }
  const char *st = jstr(r->json, "status");
  if (wh_streq(st, "valid")) {
    solver_cleanup(o);
    o->i++;
    authz_step(o);
    return;
  }
  if (wh_streq(st, "invalid") || !wh_streq(st, "pending")) {
    if (wh_streq(st, "processing") && o->presented) {
      later(o, r, poll_authz, o->authz[o->i]);
      return;
    }
    challenge_failed(o, r->json);
    return;
  }
  if (o->presented) { /* responded; the server has not validated yet */
    later(o, r, poll_authz, o->authz[o->i]);
    return;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(r->json, "identifier");
  const char *domain = jstr(id, "value");
  const cJSON *chs = cJSON_GetObjectItemCaseSensitive(r->json, "challenges"), *chosen = NULL;
  for (size_t t = 0; t < o->solver.n_types && !chosen; t++) {
    const cJSON *ch;
    cJSON_ArrayForEach(ch, chs) {
      if (wh_streq(jstr(ch, "type"), o->solver.types[t]) && jstr(ch, "url") && jstr(ch, "token")) {
        chosen = ch;
        break;
      }
    }
  }
  if (!domain || !chosen) {
    failf(o, P_ACME "unsupportedIdentifier",
          "authorization for %s offers none of the challenge types configured",
          domain ? domain : "?");
    return;
  }
  clear_challenge(o);
  o->ch_type = wh_strdup(jstr(chosen, "type"));
  o->ch_url = wh_strdup(jstr(chosen, "url"));
  o->ch_token = wh_strdup(jstr(chosen, "token"));
  o->ch_domain = wh_strdup(domain);
  o->ka = wh_acme_key_authorization(o->ch_token, o->c->key);
  if (!o->ch_type || !o->ch_url || !o->ch_token || !o->ch_domain || !o->ka) {
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  o->waiting_solver = true;
  o->handle.o = o;
  /* last: present may call wh_acme_solver_done (and so end o) before returning */
  o->solver.present(o->solver.ctx, o->ch_type, o->ch_domain, o->ch_token, o->ka, &o->handle);
}

static void authz_step(op *o) {
  if (o->i >= o->nauthz) {
    finalize(o);
    return;
  }
  poll_authz(o);
}

static void on_order_poll(op *o, req *r, const wh_acme_problem *p);

static void poll_order(op *o) {
  start(o, M_POST, o->order_url, NULL, false, false, on_order_poll);
}

static void on_order_poll(op *o, req *r, const wh_acme_problem *p) {
  if (p) {
    fail(o, p);
    return;
  }
  const char *st = jstr(r->json, "status");
  if (wh_streq(st, "valid")) {
    const char *cert = jstr(r->json, "certificate");
    if (!cert) {
      failf(o, P_PROTOCOL, "order %s is valid without a certificate URL", o->order_url);
      return;
    }
    set_str(&o->cert_url, cert);
    download(o);
  } else if (wh_streq(st, "processing") || wh_streq(st, "ready") || wh_streq(st, "pending")) {
    later(o, r, poll_order, o->order_url);
  } else {
    order_problem(o, r->json);
  }
}

static void send_csr(op *o);

static void keygen_work(uv_work_t *w) {
  keygen *k = w->data;
  k->key = wh_acme_key_generate(k->type);
}

static void keygen_done(uv_work_t *w, int status) {
  keygen *k = w->data;
  op *o = k->o;
  if (!o) {
    EVP_PKEY_free(k->key);
    free(k);
    return;
  }
  o->keygen = NULL;
  o->key = status == 0 ? k->key : NULL;
  if (status != 0)
    EVP_PKEY_free(k->key);
  free(k);
  wh_acme_client *c = o->c;
  enter(c);
  send_csr(o);
  leave(c);
}

/* The new certificate key first, off the loop; then the CSR. */
static void finalize(op *o) {
  keygen *k = calloc(1, sizeof(*k));
  if (!k) {
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  k->o = o;
  k->type = o->key_type;
  k->work.data = k;
  o->keygen = k;
  if (uv_queue_work(o->c->loop, &k->work, keygen_work, keygen_done) != 0) {
    o->keygen = NULL;
    free(k);
    failf(o, P_PROTOCOL, "cannot make the %s key: no thread pool",
          wh_acme_key_type_name(o->key_type));
  }
}

static void send_csr(op *o) {
  unsigned char *der = NULL;
  size_t len = 0;
  if (!o->key || wh_acme_csr(o->key, (const char *const *)o->domains, o->n, &der, &len) != 0) {
    failf(o, P_PROTOCOL, "cannot make the %s key or the CSR", wh_acme_key_type_name(o->key_type));
    return;
  }
  char *b = wh_acme_b64url(der, len);
  free(der);
  char *pl = b ? wh_asprintf("{\"csr\":\"%s\"}", b) : NULL;
  free(b);
  if (!pl) {
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  o->deadline = uv_now(o->c->loop) + (uint64_t)o->c->poll_timeout_ms;
  start(o, M_POST, o->finalize_url, pl, false, false, on_order_poll);
  free(pl);
}

/* The issuer CN of the chain's top certificate (lego's preferredChain
 * test), and the leaf's notAfter. */
static bool chain_info(const char *pem, const char *preferred, time_t *not_after) {
  BIO *b = BIO_new_mem_buf(pem, (int)strlen(pem));
  X509 *x, *top = NULL;
  bool first = true, match = false;
  while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
    if (first && not_after) {
      struct tm tm;
      if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
        *not_after = timegm(&tm);
    }
    if (!first) {
      X509_free(top);
      top = x;
    } else {
      X509_free(x);
    }
    first = false;
  }
  ERR_clear_error();
  if (top && preferred) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_issuer_name(top), NID_commonName, cn, sizeof(cn)) > 0)
      match = strcmp(cn, preferred) == 0;
  }
  X509_free(top);
  BIO_free(b);
  return match;
}

static void deliver(op *o, char *pem) {
  wh_acme_certificate cert = {
      .cert_pem = pem, .key_pem = wh_acme_key_to_pem(o->key), .cert_url = o->cert_url};
  o->cert_url = NULL;
  if (!cert.key_pem) {
    free(pem);
    free(cert.cert_url);
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  chain_info(pem, NULL, &cert.not_after);
  if (cert.not_after == 0) {
    free(cert.cert_pem);
    free(cert.key_pem);
    free(cert.cert_url);
    failf(o, P_PROTOCOL, "the certificate downloaded is not PEM");
    return;
  }
  op_unlink(o);
  o->done(o->arg, &cert, NULL);
  free(cert.cert_pem);
  free(cert.key_pem);
  free(cert.cert_url);
  op_free(o);
}

static void on_alternate(op *o, req *r, const wh_acme_problem *p) {
  if (!p && r->body.len && chain_info(wh_strbuf_cstr(&r->body), o->c->preferred_chain, NULL)) {
    free(o->cert_pem);
    deliver(o, wh_strbuf_take(&r->body));
    return;
  }
  if (++o->alt_i < o->nalt) {
    start(o, M_POST, o->alt[o->alt_i], NULL, false, true, on_alternate);
    return;
  }
  /* none matched: the default chain, as lego */
  char *pem = o->cert_pem;
  o->cert_pem = NULL;
  deliver(o, pem);
}

static void on_certificate(op *o, req *r, const wh_acme_problem *p) {
  if (p) {
    fail(o, p);
    return;
  }
  char *pem = wh_strbuf_take(&r->body);
  if (!pem) {
    failf(o, P_PROTOCOL, "out of memory");
    return;
  }
  const char *pref = o->c->preferred_chain;
  if (pref && r->nalt > 0 && !chain_info(pem, pref, NULL)) {
    o->cert_pem = pem;
    for (size_t i = 0; i < r->nalt; i++) {
      o->alt[i] = r->alt[i];
      r->alt[i] = NULL;
    }
    o->nalt = r->nalt;
    r->nalt = 0;
    o->alt_i = 0;
    start(o, M_POST, o->alt[0], NULL, false, true, on_alternate);
    return;
  }
  deliver(o, pem);
}

static void download(op *o) {
  start(o, M_POST, o->cert_url, NULL, false, true, on_certificate);
}

/* ---- public ---- */

static op *op_new(wh_acme_client *c, int kind) {
  op *o = calloc(1, sizeof(*o));
  if (!o)
    return NULL;
  o->c = c;
  o->kind = kind;
  o->next = c->ops;
  if (c->ops)
    c->ops->prev = o;
  c->ops = o;
  return o;
}

/* Starts o's first step on the next loop turn: the caller's callbacks never
 * run from inside the call that started the operation. */
static void on_first_step(op *o) {
  step(o);
}

static int kick(op *o) {
  o->timer = malloc(sizeof(*o->timer));
  if (!o->timer || uv_timer_init(o->c->loop, o->timer) != 0) {
    free(o->timer);
    o->timer = NULL;
    op_unlink(o);
    op_free(o);
    return WH_ENOMEM;
  }
  o->timer->data = o;
  o->on_timer = on_first_step;
  uv_timer_start(o->timer, on_op_timer, 0, 0);
  return 0;
}

int wh_acme_account(wh_acme_client *c, bool only_existing, wh_acme_account_fn done, void *arg) {
  if (!c || !done || c->closing)
    return WH_EINVAL;
  op *o = op_new(c, OP_ACCOUNT);
  if (!o)
    return WH_ENOMEM;
  o->only_existing = only_existing;
  o->acct_done = done;
  o->arg = arg;
  return kick(o);
}

int wh_acme_obtain(wh_acme_client *c, const char *const *domains, size_t n,
                   wh_acme_key_type key_type, const wh_acme_solver *solver, wh_acme_obtain_fn done,
                   void *arg) {
  if (!c || c->closing || !domains || n == 0 || !solver || !solver->present ||
      solver->n_types == 0 || !done)
    return WH_EINVAL;
  op *o = op_new(c, OP_OBTAIN);
  if (!o)
    return WH_ENOMEM;
  o->domains = calloc(n, sizeof(char *));
  for (size_t i = 0; o->domains && i < n; i++) {
    o->domains[i] = wh_strdup(domains[i]);
    if (!o->domains[i]) {
      wh_strv_free(o->domains, i);
      o->domains = NULL;
    } else {
      o->n = i + 1;
    }
  }
  if (!o->domains) {
    op_unlink(o);
    op_free(o);
    return WH_ENOMEM;
  }
  o->key_type = key_type;
  o->solver = *solver;
  o->done = done;
  o->arg = arg;
  return kick(o);
}

/* The PEM bundle for curl: caCertificates, else LEGO_CA_CERTIFICATES. */
static int load_ca(wh_acme_client *c, const wh_acme_client_opts *opts, char *err, size_t errlen) {
  char **files = NULL;
  size_t n = 0;
  const char *env = getenv("LEGO_CA_CERTIFICATES");
  bool keep = opts->ca_system_cert_pool;
  if (opts->n_ca_certificates > 0) {
    files = calloc(opts->n_ca_certificates, sizeof(char *));
    if (!files)
      return WH_ENOMEM;
    for (size_t i = 0; i < opts->n_ca_certificates; i++)
      if (opts->ca_certificates[i] && *opts->ca_certificates[i] &&
          !(files[n++] = wh_strdup(opts->ca_certificates[i]))) {
        wh_strv_free(files, n);
        return WH_ENOMEM;
      }
  } else if (env && *env) {
    char *norm = wh_strdup(env);
    if (!norm)
      return WH_ENOMEM;
    for (char *p = norm; *p; p++)
      if (*p == ',')
        *p = ':';
    int rc = wh_str_split(norm, ':', &files, &n);
    free(norm);
    if (rc != 0)
      return rc;
    /* as Traefik: the option goes with caCertificates, the variable with
     * LEGO_CA_CERTIFICATES */
    const char *sys = getenv("LEGO_CA_SYSTEM_CERT_POOL");
    const char *truthy[] = {"1", "t", "T", "TRUE", "true", "True"};
    keep = false;
    for (size_t i = 0; sys && i < sizeof(truthy) / sizeof(truthy[0]); i++)
      keep = keep || strcmp(sys, truthy[i]) == 0;
  }
  if (n == 0) {
    free(files);
    return 0;
  }
  wh_strbuf b = {0};
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    FILE *f = fopen(files[i], "rb");
    if (!f) {
      snprintf(err, errlen, "CA certificates %s: cannot read it", files[i]);
      rc = WH_EINVAL;
      break;
    }
    size_t start = b.len;
    char buf[8192];
    size_t got;
    while (rc == 0 && (got = fread(buf, 1, sizeof(buf), f)) > 0)
      rc = wh_strbuf_append(&b, buf, got);
    fclose(f);
    if (rc == 0 && !strstr(b.data ? b.data + start : "", "-----BEGIN CERTIFICATE-----")) {
      snprintf(err, errlen, "CA certificates %s: no PEM certificate in it", files[i]);
      rc = WH_EINVAL;
    }
    if (rc == 0)
      rc = wh_strbuf_putc(&b, '\n');
  }
  wh_strv_free(files, n);
  if (rc != 0) {
    wh_strbuf_free(&b);
    return rc;
  }
  c->ca_blob_len = b.len;
  c->ca_blob = wh_strbuf_take(&b);
  c->ca_keep_system = keep;
  return c->ca_blob ? 0 : WH_ENOMEM;
}

wh_acme_client *wh_acme_client_new(uv_loop_t *loop, const char *directory_url,
                                   EVP_PKEY *account_key, const wh_acme_client_opts *opts,
                                   char *err, size_t errlen) {
  static const wh_acme_client_opts none = {0};
  char dummy[8];
  if (!err || errlen == 0) {
    err = dummy;
    errlen = sizeof(dummy);
  }
  err[0] = '\0';
  if (!opts)
    opts = &none;
  if (!loop || !directory_url || !*directory_url || !wh_acme_jws_alg(account_key)) {
    snprintf(err, errlen, "ACME client: no loop, directory URL or usable account key");
    return NULL;
  }
  if ((opts->eab_kid && *opts->eab_kid) != (opts->eab_hmac && *opts->eab_hmac)) {
    snprintf(err, errlen, "externalAccountBinding needs both kid and hmacEncoded");
    return NULL;
  }
  wh_acme_client *c = calloc(1, sizeof(*c));
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->loop = loop;
  c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 120000;
  c->header_timeout_ms =
      opts->response_header_timeout_ms > 0 ? opts->response_header_timeout_ms : 30000;
  c->poll_timeout_ms = opts->poll_timeout_ms > 0 ? opts->poll_timeout_ms : 120000;
  c->dir_url = wh_strdup(directory_url);
  c->email = wh_strdup(opts->email);
  if (opts->eab_kid && *opts->eab_kid) {
    c->eab_kid = wh_strdup(opts->eab_kid);
    c->eab_hmac = wh_strdup(opts->eab_hmac);
  }
  c->preferred_chain =
      opts->preferred_chain && *opts->preferred_chain ? wh_strdup(opts->preferred_chain) : NULL;
  c->user_agent =
      opts->user_agent ? wh_strdup(opts->user_agent) : wh_strdup("wharf-acme/" WH_VERSION);
  int rc = load_ca(c, opts, err, errlen);
  if (rc != 0 || !c->dir_url || !c->user_agent) {
    if (!err[0])
      snprintf(err, errlen, "out of memory");
    destroy(c);
    return NULL;
  }
  c->curl = wh_curl_uv_new(loop);
  if (!c->curl) {
    snprintf(err, errlen, "libcurl cannot be loaded");
    destroy(c);
    return NULL;
  }
  curl_api = wh_curl_uv_api(c->curl);
  EVP_PKEY_up_ref(account_key);
  c->key = account_key;
  return c;
}

void wh_acme_client_free(wh_acme_client *c) {
  if (!c || c->closing)
    return;
  c->closing = true;
  while (c->reqs) {
    req *r = c->reqs;
    req_unlink(r);
    if (r->easy)
      wh_curl_uv_cancel(c->curl, r->easy);
    req_free(r);
  }
  while (c->ops) {
    op *o = c->ops;
    op_unlink(o);
    if (o->waiting_solver) {
      /* the solver still holds the handle: o lives on until it answers */
      if (o->timer) {
        uv_timer_stop(o->timer);
        uv_close((uv_handle_t *)o->timer, on_timer_closed);
        o->timer = NULL;
      }
      o->c = NULL;
    } else {
      op_free(o);
    }
  }
  if (c->depth == 0)
    destroy(c);
}

const char *wh_acme_client_account_url(const wh_acme_client *c) {
  return c ? c->kid : NULL;
}

int wh_acme_client_set_account_url(wh_acme_client *c, const char *url) {
  if (!c || !url || !*url)
    return WH_EINVAL;
  char *k = wh_strdup(url);
  if (!k)
    return WH_ENOMEM;
  free(c->kid);
  c->kid = k;
  return 0;
}

unsigned wh_acme_client_nonce_retries(const wh_acme_client *c) {
  return c ? c->nonce_retries : 0;
}
