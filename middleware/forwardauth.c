#include "middleware/forwardauth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "lib/net/curl_uv.h"
#include "middleware/forwardauth_msg.h"
#include "middleware/option_check.h"

static int forwardauth_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_forwardauth_conf *c = obj;
  int n = wh_mw_check_required(errs, path, "address", c->address);
  if (!n && !wh_mw_http_url_valid(c->address)) {
    wh_mw_opt_error(errs, path, "address", "expected an http:// or https:// URL, got \"%s\"",
                    c->address);
    n++;
  }
  n += wh_mw_check_regex(errs, path, "authResponseHeadersRegex", c->auth_response_headers_regex);
  return n ? WH_EINVAL : 0;
}

#define FA(member, name, type, ...)                                                                \
  WH_MW_FIELD(wh_mw_forwardauth_conf, member, name, type, __VA_ARGS__)

static const wh_field forwardauth_fields[] = {
    FA(address, "address", WH_F_STRING),
    FA(tls, "tls", WH_F_STRUCT_PTR, .sub = &wh_mw_schema_client_tls),
    FA(trust_forward_header, "trustForwardHeader", WH_F_BOOL),
    FA(auth_response_headers, "authResponseHeaders", WH_F_STRLIST),
    FA(auth_response_headers_regex, "authResponseHeadersRegex", WH_F_STRING),
    FA(auth_request_headers, "authRequestHeaders", WH_F_STRLIST),
    FA(add_auth_cookies_to_response, "addAuthCookiesToResponse", WH_F_STRLIST),
    FA(header_field, "headerField", WH_F_STRING),
    FA(forward_body, "forwardBody", WH_F_BOOL),
    FA(max_body_size, "maxBodySize", WH_F_INT, .dflt = "-1"),
    FA(max_response_body_size, "maxResponseBodySize", WH_F_INT, .dflt = "-1"),
    FA(preserve_location_header, "preserveLocationHeader", WH_F_BOOL),
    FA(preserve_request_method, "preserveRequestMethod", WH_F_BOOL),
    FA(auth_signin_url, "authSigninURL", WH_F_STRING),
};

static const wh_schema forwardauth_schema = {
    .name = "forwardAuth",
    .size = sizeof(wh_mw_forwardauth_conf),
    .fields = forwardauth_fields,
    .nfields = WH_MW_NFIELDS(forwardauth_fields),
    .validate = forwardauth_validate,
};

/* ---- runtime ---- */

/* Traefik's http.Client timeout for the call to the auth server. */
#define FA_TIMEOUT_MS 30000L
/* How much of an auth answer's body is buffered when maxResponseBodySize is
 * not set: Traefik then reads it whole, wharf never reads a body it buffers
 * without a bound (HARDENING 36). */
#define FA_DEFAULT_BODY_CAP ((int64_t)1 << 20)
/* The answer's head, whatever the body cap. */
#define FA_HEAD_CAP ((size_t)256 << 10)

/* One libcurl multi per worker loop, made on the loop's first auth call and
 * kept for the process lifetime (its idle connections are reused; an idle
 * multi holds no uv handle, so the loop can still end). The lock guards the
 * registry only: a multi is used on its own loop's thread. */
typedef struct loop_multi {
  uv_loop_t *loop;
  wh_curl_uv *m;
} loop_multi;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static loop_multi *reg;
static size_t nreg, capreg;

static wh_curl_uv *multi_for(uv_loop_t *loop) {
  wh_curl_uv *m = NULL;
  pthread_mutex_lock(&reg_mu);
  for (size_t i = 0; i < nreg && !m; i++)
    if (reg[i].loop == loop)
      m = reg[i].m;
  if (!m && nreg == capreg) {
    size_t cap = capreg ? capreg * 2 : 8;
    loop_multi *v = realloc(reg, cap * sizeof(*v));
    if (v) {
      reg = v;
      capreg = cap;
    }
  }
  if (!m && nreg < capreg && (m = wh_curl_uv_new(loop)) != NULL)
    reg[nreg++] = (loop_multi){loop, m};
  pthread_mutex_unlock(&reg_mu);
  return m;
}

static char server_name[256];
static pthread_once_t server_once = PTHREAD_ONCE_INIT;

/* X-Forwarded-Server, as the entry point sets it (os.Hostname). */
static void init_server_name(void) {
  if (gethostname(server_name, sizeof(server_name) - 1) != 0 || !server_name[0])
    strcpy(server_name, "localhost");
}

/* Traefik answers its own failures with a bare status. */
static int answer_status(wh_mw_exchange *x, int status) {
  wh_http_resp_free(x->resp);
  x->resp->status = status;
  return WH_MW_DONE;
}

typedef struct job {
  wh_mw_async *a;
  const wh_mw_forwardauth_conf *c; /* in the snapshot the suspended exchange holds */
  const wh_curl_api *api;
  CURL *easy;
  struct curl_slist *hdrs;
  wh_headers head; /* the answer's fields */
  wh_strbuf body;
  size_t head_bytes;
  int64_t cap;
  bool explicit_cap, body_too_large, head_too_large, oom;
  char *mw;
  char errbuf[CURL_ERROR_SIZE];
} job;

static void job_free(job *j) {
  if (j->easy)
    j->api->easy_cleanup(j->easy);
  if (j->hdrs)
    j->api->slist_free_all(j->hdrs);
  wh_headers_free(&j->head);
  wh_strbuf_free(&j->body);
  free(j->mw);
  free(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  job *j = ud;
  size_t len = size * n;
  if ((int64_t)(j->body.len + len) > j->cap) {
    j->body_too_large = true;
    return 0; /* aborts the transfer: nothing more is read */
  }
  if (wh_strbuf_append(&j->body, p, len) < 0) {
    j->oom = true;
    return 0;
  }
  return len;
}

static size_t on_head(char *p, size_t size, size_t n, void *ud) {
  job *j = ud;
  size_t len = size * n;
  j->head_bytes += len;
  if (j->head_bytes > FA_HEAD_CAP) {
    j->head_too_large = true;
    return 0;
  }
  if (wh_fwdauth_parse_header_line(&j->head, p, len) < 0) {
    j->oom = true;
    return 0;
  }
  return len;
}

static void log_once(atomic_bool *flag, wh_log_level level, const char *mw, const char *what) {
  if (!atomic_exchange(flag, true))
    wh_log(level, "middleware \"%s\": %s", mw, what);
}

/* What the auth server's answer makes of the exchange. */
static int conclude(job *j, wh_mw_exchange *x, CURLcode rc) {
  const wh_mw_forwardauth_conf *c = j->c;
  long status = 0;
  j->api->easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
  if (j->body_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    wh_log_debug("middleware \"%s\": response body of %s is too large (cap %lld bytes)", j->mw,
                 c->address, (long long)j->cap);
    /* Traefik's answer when maxResponseBodySize is exceeded; over wharf's
     * own cap it is an internal failure */
    return answer_status(x, j->explicit_cap ? 401 : 500);
  }
  if (j->head_too_large || j->oom)
    return answer_status(x, 500);
  if (rc != CURLE_OK || status < 100) {
    wh_log_error("middleware \"%s\": error calling %s: %s", j->mw, c->address,
                 j->errbuf[0] ? j->errbuf : j->api->easy_strerror(rc));
    return answer_status(x, 500);
  }
  if (status == 401 && c->auth_signin_url && *c->auth_signin_url)
    return wh_fwdauth_fill_signin(x, c->auth_signin_url) == 0 ? WH_MW_DONE : answer_status(x, 500);
  if (status < 200 || status >= 300) {
    wh_log_debug("middleware \"%s\": remote error %s: status %ld", j->mw, c->address, status);
    int err = wh_fwdauth_fill_denied(c, x, (int)status, &j->head, j->body.data, j->body.len);
    if (err == WH_EINVAL)
      wh_log_debug("middleware \"%s\": invalid Location from %s", j->mw, c->address);
    return err == 0 ? WH_MW_DONE : answer_status(x, 500);
  }
  /* addAuthCookiesToResponse: each listed cookie of the auth answer goes to
   * the client's response as a field of its own, replacing the backend's
   * cookie of the same name */
  if (wh_fwdauth_add_cookies(c, x, &j->head) < 0)
    return answer_status(x, 500);
  if (wh_fwdauth_apply_allowed(c, x, &j->head) < 0)
    return answer_status(x, 500);
  return WH_MW_NEXT;
}

static void on_auth_done(void *arg, CURL *easy, CURLcode rc) {
  (void)easy;
  job *j = arg;
  wh_mw_async *a = j->a;
  int out = conclude(j, a->x, rc);
  job_free(j);
  wh_mw_async_done(a, out);
}

/* ca / cert / key: a file when one exists at that path, PEM text otherwise
 * (Traefik's ClientTLS). */
static bool is_file(const char *s) {
  struct stat st;
  return stat(s, &st) == 0 && S_ISREG(st.st_mode);
}

static bool set_pem(const wh_curl_api *api, CURL *h, CURLoption path_opt, CURLoption blob_opt,
                    const char *v) {
  if (is_file(v))
    return api->easy_setopt(h, path_opt, v) == CURLE_OK;
  struct curl_blob b = {.data = (void *)v, .len = strlen(v), .flags = CURL_BLOB_COPY};
  return api->easy_setopt(h, blob_opt, &b) == CURLE_OK;
}

static bool setup_tls(const wh_curl_api *api, CURL *h, const wh_mw_client_tls *t) {
  if (!t)
    return true;
  if (t->ca && *t->ca && !set_pem(api, h, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB, t->ca))
    return false;
  bool cert = t->cert && *t->cert, key = t->key && *t->key;
  if (cert != key)
    return false;
  if (cert && (!set_pem(api, h, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB, t->cert) ||
               !set_pem(api, h, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB, t->key)))
    return false;
  if (t->insecure_skip_verify) {
    api->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    api->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return true;
}

/* The header list for libcurl: "Name: value", "Name;" for an empty value,
 * and "Accept:" to keep libcurl's default out when the client sent none. */
static struct curl_slist *to_slist(const wh_curl_api *api, const wh_headers *h) {
  struct curl_slist *l = NULL;
  bool accept = false;
  for (size_t i = 0; i < h->n; i++) {
    const wh_header *f = &h->v[i];
    accept = accept || strcasecmp(f->name, "Accept") == 0;
    char *line =
        f->value_len ? wh_asprintf("%s: %s", f->name, f->value) : wh_asprintf("%s;", f->name);
    struct curl_slist *nl = line ? api->slist_append(l, line) : NULL;
    free(line);
    if (!nl) {
      api->slist_free_all(l);
      return NULL;
    }
    l = nl;
  }
  if (!accept) {
    struct curl_slist *nl = api->slist_append(l, "Accept:");
    if (!nl) {
      api->slist_free_all(l);
      return NULL;
    }
    l = nl;
  }
  return l;
}

static bool setup_easy(job *j, const wh_mw_exchange *x) {
  const wh_curl_api *api = j->api;
  const wh_mw_forwardauth_conf *c = j->c;
  CURL *h = j->easy;
  const char *method = c->preserve_request_method ? x->req->method : "GET";
  if (strcmp(method, "HEAD") == 0)
    api->easy_setopt(h, CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET") != 0)
    api->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  api->easy_setopt(h, CURLOPT_URL, c->address);
  api->easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  api->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  api->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  api->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  api->easy_setopt(h, CURLOPT_TIMEOUT_MS, FA_TIMEOUT_MS);
  api->easy_setopt(h, CURLOPT_HTTPHEADER, j->hdrs);
  api->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  api->easy_setopt(h, CURLOPT_WRITEDATA, j);
  api->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_head);
  api->easy_setopt(h, CURLOPT_HEADERDATA, j);
  api->easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
  /* a declared length over the cap stops the transfer before any byte */
  api->easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)j->cap);
  return setup_tls(api, h, c->tls);
}

/* The hook: the request to the auth server is built from the exchange, the
 * exchange suspended, and the call made on the worker loop's multi; the
 * answer resumes the exchange (on_auth_done). */
static int forwardauth_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_forwardauth_conf *c = cfg;
  const char *mw = x->mw_name ? x->mw_name : "forwardAuth";
  if (c->forward_body) {
    /* the request body is not available to middlewares yet: sending the
     * request without it would let the auth server decide on less than
     * it was configured to see */
    static atomic_bool logged;
    log_once(&logged, WH_LOG_ERROR, mw,
             "forwardBody is not supported by this build yet; answering 500");
    return answer_status(x, 500);
  }
  if (c->header_field && *c->header_field) {
    static atomic_bool logged;
    log_once(&logged, WH_LOG_WARN, mw,
             "headerField only names the access log's ClientUsername, which this build does "
             "not fill from forwardAuth yet");
  }
  if (c->tls && (!c->tls->cert || !*c->tls->cert) != (!c->tls->key || !*c->tls->key)) {
    static atomic_bool logged;
    log_once(&logged, WH_LOG_ERROR, mw, "tls: cert and key must be given together; answering 500");
    return answer_status(x, 500);
  }
  pthread_once(&server_once, init_server_name);
  const wh_curl_api *api = wh_curl_load();
  job *j = api ? calloc(1, sizeof(*j)) : NULL;
  if (!j) {
    if (!api) {
      static atomic_bool logged;
      log_once(&logged, WH_LOG_ERROR, mw, "libcurl cannot be loaded; answering 500");
    }
    return answer_status(x, 500);
  }
  j->api = api;
  j->c = c;
  wh_headers_init(&j->head);
  j->explicit_cap = c->max_response_body_size >= 0;
  j->cap = j->explicit_cap ? c->max_response_body_size : FA_DEFAULT_BODY_CAP;
  j->mw = wh_strdup(mw);
  wh_headers out;
  wh_headers_init(&out);
  bool ok = j->mw && wh_fwdauth_request_headers(c, x, server_name, &out) == 0 &&
            (j->hdrs = to_slist(api, &out)) != NULL && (j->easy = api->easy_init()) != NULL;
  wh_headers_free(&out);
  if (!ok || !setup_easy(j, x)) {
    if (ok) {
      static atomic_bool logged;
      log_once(&logged, WH_LOG_ERROR, mw, "tls: cannot use ca, cert or key; answering 500");
    }
    job_free(j);
    return answer_status(x, 500);
  }
  wh_mw_async *a = wh_mw_exchange_suspend(x);
  wh_curl_uv *m = a ? multi_for(a->loop) : NULL;
  j->a = a;
  if (!m || wh_curl_uv_add(m, j->easy, on_auth_done, j) != 0) {
    /* the data plane drops a suspension not followed by WH_MW_ASYNC */
    job_free(j);
    return answer_status(x, 500);
  }
  return WH_MW_ASYNC;
}

const wh_mw_type wh_mw_forwardauth = {
    .name = "forwardAuth",
    .proto = WH_MW_HTTP,
    .schema = &forwardauth_schema,
    .on_request = forwardauth_on_request,
};
