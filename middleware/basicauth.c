#include "middleware/basicauth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/htpasswd.h"
#include "middleware/option_check.h"

/* "user:hash" with exactly one colon, as Traefik's basicUserParser wants
 * (strings.Split into two parts); the user part may be empty in a file. */
static bool entry_valid(const char *u, bool allow_empty_parts) {
  const char *colon = u ? strchr(u, ':') : NULL;
  if (!colon || strchr(colon + 1, ':'))
    return false;
  return allow_empty_parts || (colon != u && colon[1] != '\0');
}

static int basicauth_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_basicauth_conf *c = obj;
  int n = 0;
  if (c->users.n == 0 && !(c->users_file && *c->users_file)) {
    wh_mw_opt_error(errs, path, NULL, "users or usersFile required");
    n++;
  }
  for (size_t i = 0; i < c->users.n; i++) {
    if (entry_valid(c->users.v[i], false))
      continue;
    /* the entry holds a password hash: name its index, never its text */
    char name[32];
    snprintf(name, sizeof name, "users[%zu]", i);
    wh_mw_opt_error(errs, path, name, "expected \"user:hash\"");
    n++;
  }
  return n ? WH_EINVAL : 0;
}

static const wh_field basicauth_fields[] = {
    WH_MW_FIELD(wh_mw_basicauth_conf, users, "users", WH_F_STRLIST, .flags = WH_FF_SECRET),
    WH_MW_FIELD(wh_mw_basicauth_conf, users_file, "usersFile", WH_F_STRING),
    WH_MW_FIELD(wh_mw_basicauth_conf, realm, "realm", WH_F_STRING, .dflt = "traefik"),
    WH_MW_FIELD(wh_mw_basicauth_conf, remove_header, "removeHeader", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_basicauth_conf, header_field, "headerField", WH_F_STRING),
};

static const wh_schema basicauth_schema = {
    .name = "basicAuth",
    .size = sizeof(wh_mw_basicauth_conf),
    .fields = basicauth_fields,
    .nfields = WH_MW_NFIELDS(basicauth_fields),
    .validate = basicauth_validate,
};

/* ---- runtime ---- */

typedef struct creds {
  char *buf; /* decoded "user:password", NUL at the colon; owned, wiped on free */
  size_t cap, len;
  const char *user, *password;
  size_t user_len;
} creds;

static int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Go's req.BasicAuth(): "Basic " (case-insensitive) then standard base64
 * with padding, split at the first colon. Credentials holding a NUL byte or,
 * in the user part, any control character are refused as well: no
 * configured entry can match them, and the user name may be copied into a
 * request header (headerField). */
static bool parse_basic(const char *auth, creds *cr) {
  memset(cr, 0, sizeof *cr);
  if (!auth || !wh_str_has_caseprefix(auth, "Basic "))
    return false;
  const char *b = auth + 6;
  size_t n = strlen(b);
  if (n % 4 != 0)
    return false;
  size_t pad = 0;
  for (size_t i = 0; i < n; i++) {
    if (b[i] == '=' && i >= n - 2) {
      pad++;
      continue;
    }
    if (pad || b64val((unsigned char)b[i]) < 0)
      return false;
  }
  if (pad == 2 && b[n - 2] != '=')
    return false;
  cr->cap = n / 4 * 3 + 1;
  cr->buf = malloc(cr->cap);
  if (!cr->buf)
    return false;
  int got = n ? EVP_DecodeBlock((unsigned char *)cr->buf, (const unsigned char *)b, (int)n) : 0;
  if (got < 0 || (size_t)got < pad)
    return false;
  cr->len = (size_t)got - pad;
  cr->buf[cr->len] = '\0';
  char *colon = memchr(cr->buf, ':', cr->len);
  if (!colon || memchr(cr->buf, '\0', cr->len))
    return false;
  *colon = '\0';
  cr->user = cr->buf;
  cr->user_len = (size_t)(colon - cr->buf);
  cr->password = colon + 1;
  for (size_t i = 0; i < cr->user_len; i++)
    if ((unsigned char)cr->user[i] < 0x20 || cr->user[i] == 0x7f)
      return false;
  return true;
}

static void creds_free(creds *cr) {
  if (cr->buf) {
    OPENSSL_cleanse(cr->buf, cr->cap);
    free(cr->buf);
  }
  memset(cr, 0, sizeof *cr);
}

/* The hash of user in entries (last entry wins, as Traefik's map built in
 * order does), NULL when absent. */
static const char *find_hash(char *const *v, size_t n, const char *user, size_t ul) {
  for (size_t i = n; i-- > 0;) {
    const char *colon = strchr(v[i], ':');
    if (colon && (size_t)(colon - v[i]) == ul && memcmp(v[i], user, ul) == 0)
      return colon + 1;
  }
  return NULL;
}

static const char *first_supported(char *const *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *colon = strchr(v[i], ':');
    if (colon && wh_htpasswd_kind_of(colon + 1) != WH_HTPASSWD_UNSUPPORTED)
      return colon + 1;
  }
  return NULL;
}

static int answer_500(wh_mw_exchange *x) {
  wh_http_resp_free(x->resp);
  wh_http_resp_text(x->resp, 500, "Internal Server Error");
  return WH_MW_DONE;
}

/* go-http-auth's RequireAuth. */
static int answer_401(wh_mw_exchange *x, const char *realm) {
  wh_http_resp_free(x->resp);
  x->resp->status = 401;
  wh_http_resp_header(x->resp, "Content-Type", "text/plain");
  char *v = wh_asprintf("Basic realm=\"%s\"", realm ? realm : "");
  if (v) {
    /* Go's header writer turns CR and LF into spaces */
    for (char *p = v; *p; p++)
      if (*p == '\r' || *p == '\n')
        *p = ' ';
    wh_http_resp_header(x->resp, "WWW-Authenticate", v);
    free(v);
  }
  wh_strbuf_puts(&x->resp->body, "401 Unauthorized\n");
  return WH_MW_DONE;
}

/* A wrong user costs a verification against another entry's hash. */
static bool verify_now(const char *hash, const char *dummy, const char *password) {
  if (hash)
    return wh_htpasswd_verify(hash, password);
  if (dummy)
    (void)wh_htpasswd_verify(dummy, password);
  return false;
}

/* The answer once the password is checked. */
static int conclude(const wh_mw_basicauth_conf *c, wh_mw_exchange *x, const char *mw, bool ok,
                    const creds *cr) {
  if (!ok) {
    wh_log_debug("middleware \"%s\": authentication failed", mw);
    return answer_401(x, c->realm);
  }
  if (c->header_field && *c->header_field &&
      wh_mw_exchange_set_header(x, c->header_field, cr->user) != 0)
    return answer_500(x);
  if (c->remove_header && wh_mw_exchange_set_header(x, "Authorization", NULL) != 0)
    return answer_500(x);
  /* the access log's ClientUsername (Traefik sets it for every basicAuth) */
  char *u = wh_strndup(cr->user, cr->user_len);
  if (u) {
    free(x->username);
    x->username = u;
  }
  return WH_MW_NEXT;
}

/* A bcrypt verification on the thread pool. The configuration (c, hash,
 * dummy) lives in the snapshot the suspended exchange holds; f is a
 * reference on the users file released here. */
typedef struct job {
  uv_work_t work;
  wh_mw_async *a;
  const wh_mw_basicauth_conf *c;
  wh_htpasswd_file *f;
  creds cr;
  const char *hash, *dummy, *mw;
  bool ok;
} job;

static void verify_work(uv_work_t *w) {
  job *j = w->data;
  j->ok = verify_now(j->hash, j->dummy, j->cr.password);
}

static void verify_done(uv_work_t *w, int status) {
  job *j = w->data;
  wh_mw_exchange *x = j->a->x;
  int rc = status == 0 ? conclude(j->c, x, j->mw, j->ok, &j->cr) : answer_500(x);
  creds_free(&j->cr);
  wh_htpasswd_file_release(j->f);
  wh_mw_async *a = j->a;
  free(j);
  wh_mw_async_done(a, rc);
}

/* Users come from usersFile's lines followed by the users option, the
 * later entry of a name winning (Traefik's getUsers). A usersFile that cannot
 * be read, or that holds a malformed line, fails closed with 500 for every
 * request (Traefik refuses to build the middleware). An unknown user costs
 * a verification against another entry's hash, so that wrong user and wrong
 * password take the same time. */
static int basicauth_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_basicauth_conf *c = cfg;
  const char *mw = x->mw_name ? x->mw_name : "basicAuth";
  wh_htpasswd_file *f = NULL;
  if (c->users_file && *c->users_file) {
    int err = 0;
    f = wh_htpasswd_file_get(c->users_file, &err);
    if (!f)
      return answer_500(x); /* logged by the users file cache */
    for (size_t i = 0; i < f->n; i++) {
      if (entry_valid(f->lines[i], true))
        continue;
      if (!atomic_exchange(&f->reported, true))
        wh_log_error("middleware \"%s\": usersFile \"%s\" line %u: expected \"user:hash\"; "
                     "every request answered 500",
                     mw, c->users_file, f->lineno[i]);
      wh_htpasswd_file_release(f);
      return answer_500(x);
    }
  }
  char *const *fv = f ? f->lines : NULL;
  size_t fn = f ? f->n : 0;

  creds cr;
  bool ok = parse_basic(wh_mw_exchange_header(x, "Authorization"), &cr);
  const char *hash = NULL, *dummy = NULL;
  if (ok) {
    hash = find_hash(c->users.v, c->users.n, cr.user, cr.user_len);
    if (!hash)
      hash = find_hash(fv, fn, cr.user, cr.user_len);
    if (!hash) {
      dummy = first_supported(c->users.v, c->users.n);
      if (!dummy)
        dummy = first_supported(fv, fn);
    }
    /* bcrypt costs tens of milliseconds: off the worker loop, on libuv's
     * thread pool, so the worker's other connections are not held up */
    const char *h = hash ? hash : dummy;
    if (h && wh_htpasswd_kind_of(h) == WH_HTPASSWD_BCRYPT) {
      job *j = calloc(1, sizeof(*j));
      wh_mw_async *a = j ? wh_mw_exchange_suspend(x) : NULL;
      if (a) {
        j->a = a;
        j->c = c;
        j->f = f;
        j->cr = cr;
        j->hash = hash;
        j->dummy = dummy;
        j->mw = mw;
        j->work.data = j;
        if (uv_queue_work(a->loop, &j->work, verify_work, verify_done) == 0)
          return WH_MW_ASYNC;
        /* no thread pool: verify here after all (the data plane drops a
         * suspension the hook did not return WH_MW_ASYNC for) */
        cr = j->cr;
      }
      free(j);
    }
  }
  ok = ok && verify_now(hash, dummy, cr.password);
  int rc = conclude(c, x, mw, ok, &cr);
  creds_free(&cr);
  wh_htpasswd_file_release(f);
  return rc;
}

const wh_mw_type wh_mw_basicauth = {
    .name = "basicAuth",
    .proto = WH_MW_HTTP,
    .schema = &basicauth_schema,
    .on_request = basicauth_on_request,
};
