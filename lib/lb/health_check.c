#include "lib/lb/health_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/lb/health_store.h"
#include "lib/net/curl_uv.h"
#include "lib/tls/certificate.h"
#include "lib/tls/client.h"

/* Set once by wh_health_checker_new, before any other curl call here. */
static const wh_curl_api *curl_api;
#define CURLAPI curl_api

/* The TLS side of a service's probes: its serversTransport (or the static
 * default), with the files it names read when the configuration is applied,
 * as the snapshot reads them (a probe never reads a runtime, which may be
 * freed by then). Shared by the targets of one service; loop thread only. */
typedef struct probe_tls {
  int refs;
  char *server_name; /* NULL: the URL's host */
  bool insecure;
  char *peer_cert_uri;
  char *ca_path; /* a single rootCAs file: CURLOPT_CAINFO */
  char *ca_pem;  /* else the rootCAs PEM, concatenated: CURLOPT_CAINFO_BLOB */
  size_t ca_len;
  char *cert_path, *key_path; /* certificates[0] given as paths */
  char *cert_pem, *key_pem;   /* ... or as inline PEM */
  char *error;                /* the transport cannot be used: the probes fail with this */
} probe_tls;

/* Probe settings of one target; replaced as a whole on reconfiguration.
 * Reference counted: a probe in flight keeps the settings it started with
 * (libcurl reads the header and connect-to lists during the transfer). */
typedef struct settings {
  int refs;
  char *probe_url;
  char *method;
  struct curl_slist *headers;    /* including Host when healthCheck.hostname or serverName is set */
  struct curl_slist *connect_to; /* serverName: the URL names it, the socket goes to the host */
  int64_t timeout_ms, interval_ms, unhealthy_ms, status;
  bool follow, h2c;
  probe_tls *tls;
  char *fingerprint; /* everything above but tls (tls_equal), to tell a changed target */
} settings;

typedef struct target {
  wh_health_checker *hc;
  char *service, *url;
  settings *set;
  settings *probe_set; /* the settings of the probe in flight */
  wh_health_cell *cell;
  uv_timer_t timer; /* initialised once the target is live */
  bool live, taken;
  CURL *easy; /* the probe in flight */
  char errbuf[CURL_ERROR_SIZE];
} target;

struct wh_health_checker {
  uv_loop_t *loop;
  wh_health_store *store;
  wh_curl_uv *curl; /* the probes' transfers */
  target **t;
  size_t n;
  target **pending;
  size_t npending, cappending;
  int open_handles; /* target timers not yet closed */
  bool closing;
};

static void tls_unref(probe_tls *p) {
  if (!p || --p->refs > 0)
    return;
  free(p->server_name);
  free(p->peer_cert_uri);
  free(p->ca_path);
  free(p->ca_pem);
  free(p->cert_path);
  free(p->key_path);
  free(p->cert_pem);
  if (p->key_pem) {
    explicit_bzero(p->key_pem, strlen(p->key_pem));
    free(p->key_pem);
  }
  free(p->error);
  free(p);
}

static bool tls_equal(const probe_tls *a, const probe_tls *b) {
  if (a == b)
    return true;
  if (!a || !b)
    return false;
  return wh_streq(a->server_name, b->server_name) && a->insecure == b->insecure &&
         wh_streq(a->peer_cert_uri, b->peer_cert_uri) && wh_streq(a->ca_path, b->ca_path) &&
         a->ca_len == b->ca_len && (!a->ca_pem) == (!b->ca_pem) &&
         (!a->ca_pem || memcmp(a->ca_pem, b->ca_pem, a->ca_len) == 0) &&
         wh_streq(a->cert_path, b->cert_path) && wh_streq(a->key_path, b->key_path) &&
         wh_streq(a->cert_pem, b->cert_pem) && wh_streq(a->key_pem, b->key_pem) &&
         wh_streq(a->error, b->error);
}

static void settings_unref(settings *s) {
  if (!s || --s->refs > 0)
    return;
  free(s->probe_url);
  free(s->method);
  CURLAPI->slist_free_all(s->headers);
  CURLAPI->slist_free_all(s->connect_to);
  tls_unref(s->tls);
  free(s->fingerprint);
  free(s);
}

static bool settings_equal(const settings *a, const settings *b) {
  return strcmp(a->fingerprint, b->fingerprint) == 0 && tls_equal(a->tls, b->tls);
}

static void maybe_finish(wh_health_checker *hc) {
  if (hc->closing && hc->open_handles == 0) {
    wh_health_store_free(hc->store);
    free(hc->t);
    free(hc->pending);
    free(hc);
  }
}

/* ---- probes ---- */

static size_t discard(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

static void on_probe_timer(uv_timer_t *t);
static void on_probe_done(void *arg, CURL *easy, CURLcode rc);

static void schedule(target *t) {
  bool up = atomic_load(&t->cell->up) != 0;
  uv_timer_start(&t->timer, on_probe_timer,
                 (uint64_t)(up ? t->set->interval_ms : t->set->unhealthy_ms), 0);
}

static void set_state(target *t, bool up, const char *reason) {
  int old = atomic_exchange(&t->cell->up, up ? 1 : 0);
  if (old && !up)
    wh_log_warn("service %s: server %s is DOWN: %s", t->service, t->url, reason);
  else if (!old && up)
    wh_log_info("service %s: server %s is UP", t->service, t->url);
}

static void set_blob(CURL *e, CURLoption opt, const char *data, size_t len) {
  /* copied: the settings may be replaced while the transfer runs */
  struct curl_blob b = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};
  CURLAPI->easy_setopt(e, opt, &b);
}

/* The serversTransport's TLS settings, as Traefik's probe gets them by
 * using the service's own transport. */
static void set_tls(CURL *e, const probe_tls *p) {
  if (p->insecure) {
    /* peerCertURI still verifies the chain (as the data plane does) */
    CURLAPI->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, p->peer_cert_uri ? 1L : 0L);
    CURLAPI->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  /* rootCAs replace the system roots, as in Go: no CA directory beside them */
  if (p->ca_path) {
    CURLAPI->easy_setopt(e, CURLOPT_CAINFO, p->ca_path);
    CURLAPI->easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
    /* read on every probe, so that a CA file replaced under the same name
     * counts from the next probe as it does in the data plane after a reload
     * (libcurl would keep the parsed store for a day) */
    CURLAPI->easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
  } else if (p->ca_pem) {
    set_blob(e, CURLOPT_CAINFO_BLOB, p->ca_pem, p->ca_len);
    CURLAPI->easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
  }
  if (p->cert_path || p->cert_pem) {
    if (p->cert_path)
      CURLAPI->easy_setopt(e, CURLOPT_SSLCERT, p->cert_path);
    else
      set_blob(e, CURLOPT_SSLCERT_BLOB, p->cert_pem, strlen(p->cert_pem));
    CURLAPI->easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (p->key_path || p->key_pem) {
    if (p->key_path)
      CURLAPI->easy_setopt(e, CURLOPT_SSLKEY, p->key_path);
    else
      set_blob(e, CURLOPT_SSLKEY_BLOB, p->key_pem, strlen(p->key_pem));
    CURLAPI->easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (p->peer_cert_uri)
    CURLAPI->easy_setopt(e, CURLOPT_CERTINFO, 1L);
}

static void on_probe_timer(uv_timer_t *tm) {
  target *t = tm->data;
  wh_health_checker *hc = t->hc;
  if (t->easy || hc->closing)
    return;
  settings *s = t->set;
  if (s->tls && s->tls->error) {
    /* the transport cannot be used (its routers are disabled anyway) */
    set_state(t, false, s->tls->error);
    schedule(t);
    return;
  }
  CURL *e = CURLAPI->easy_init();
  if (!e) {
    schedule(t);
    return;
  }
  t->errbuf[0] = '\0';
  CURLAPI->easy_setopt(e, CURLOPT_URL, s->probe_url);
  CURLAPI->easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  CURLAPI->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  CURLAPI->easy_setopt(e, CURLOPT_NOPROXY, "*");
  CURLAPI->easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  CURLAPI->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLAPI->easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  CURLAPI->easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  CURLAPI->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
  CURLAPI->easy_setopt(e, CURLOPT_FOLLOWLOCATION, s->follow ? 1L : 0L);
  CURLAPI->easy_setopt(e, CURLOPT_MAXREDIRS, 10L); /* Go's client stops after 10 */
  if (s->headers)
    CURLAPI->easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
  if (s->connect_to)
    CURLAPI->easy_setopt(e, CURLOPT_CONNECT_TO, s->connect_to);
  if (strcasecmp(s->method, "HEAD") == 0)
    CURLAPI->easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcasecmp(s->method, "GET") != 0)
    CURLAPI->easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->method);
  if (s->tls)
    set_tls(e, s->tls);
  if (s->h2c)
    CURLAPI->easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  t->easy = e;
  s->refs++;
  t->probe_set = s;
  if (wh_curl_uv_add(hc->curl, e, on_probe_done, t) != 0) {
    t->easy = NULL;
    t->probe_set = NULL;
    settings_unref(s);
    CURLAPI->easy_cleanup(e);
    schedule(t);
  }
}

/* peerCertURI: the first URI SAN of the leaf, from libcurl's certificate
 * information ("X509v3 Subject Alternative Name:DNS:a,URI:spiffe://..."; the
 * entries are separated by commas, with or without spaces depending on the
 * libcurl version). true when it matches; else why says why. */
static bool check_peer_uri(CURL *e, const char *want, char *why, size_t cap) {
  struct curl_certinfo *ci = NULL;
  if (CURLAPI->easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1) {
    snprintf(why, cap, "no peer certificate (peerCertURI \"%s\")", want);
    return false;
  }
  static const char label[] = "X509v3 Subject Alternative Name:";
  const char *uri = NULL;
  size_t len = 0;
  for (struct curl_slist *l = ci->certinfo[0]; l && !uri; l = l->next) {
    if (strncasecmp(l->data, label, sizeof(label) - 1) != 0)
      continue;
    const char *p = l->data + sizeof(label) - 1;
    while (*p && !uri) {
      while (*p == ' ' || *p == ',')
        p++;
      size_t n = strcspn(p, ",");
      if (n > 4 && strncmp(p, "URI:", 4) == 0) {
        uri = p + 4;
        len = n - 4;
        while (len && uri[len - 1] == ' ')
          len--;
      }
      p += n;
    }
  }
  if (!uri) {
    snprintf(why, cap, "peer certificate has no URI SAN (peerCertURI \"%s\")", want);
    return false;
  }
  if (!wh_tls_uri_matches(want, uri, len)) {
    snprintf(why, cap, "peer certificate URI \"%.*s\" does not match peerCertURI \"%s\"",
             len > 200 ? 200 : (int)len, uri, want);
    return false;
  }
  return true;
}

static void probe_done(target *t, const settings *s, CURLcode rc) {
  long code = 0;
  CURLAPI->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  char reason[CURL_ERROR_SIZE + 512];
  bool up;
  if (rc != CURLE_OK) {
    up = false;
    snprintf(reason, sizeof(reason), "%s", t->errbuf[0] ? t->errbuf : CURLAPI->easy_strerror(rc));
  } else if (s->tls && s->tls->peer_cert_uri &&
             !check_peer_uri(t->easy, s->tls->peer_cert_uri, reason, sizeof(reason))) {
    up = false; /* Go fails the handshake: no status is looked at */
  } else if (s->status) {
    up = code == s->status;
    snprintf(reason, sizeof(reason), "received status code %ld (expected %lld)", code,
             (long long)s->status);
  } else {
    up = code >= 200 && code < 400;
    snprintf(reason, sizeof(reason), "received error status code %ld", code);
  }
  set_state(t, up, reason);
}

static void on_probe_done(void *arg, CURL *easy, CURLcode rc) {
  target *t = arg;
  settings *s = t->probe_set;
  probe_done(t, s, rc);
  CURLAPI->easy_cleanup(easy);
  t->easy = NULL;
  t->probe_set = NULL;
  settings_unref(s);
  if (!t->hc->closing)
    schedule(t);
}

/* ---- targets ---- */

static void target_free(target *t) {
  settings_unref(t->set);
  free(t->service);
  free(t->url);
  free(t);
}

static void on_target_closed(uv_handle_t *h) {
  target *t = h->data;
  wh_health_checker *hc = t->hc;
  target_free(t);
  hc->open_handles--;
  maybe_finish(hc);
}

static void target_drop(target *t) {
  wh_health_checker *hc = t->hc;
  if (t->easy) {
    wh_curl_uv_cancel(hc->curl, t->easy);
    CURLAPI->easy_cleanup(t->easy);
    t->easy = NULL;
  }
  settings_unref(t->probe_set);
  t->probe_set = NULL;
  wh_health_store_release(hc->store, t->cell);
  t->cell = NULL;
  if (t->live) {
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_target_closed);
    return;
  }
  target_free(t);
}

static int target_cmp(const void *a, const void *b) {
  const target *x = *(target *const *)a, *y = *(target *const *)b;
  int c = strcmp(x->service, y->service);
  return c ? c : strcmp(x->url, y->url);
}

static bool explicit_port(const char *url) {
  const char *a = strstr(url, "://");
  a = a ? a + 3 : url;
  size_t alen = strcspn(a, "/?#");
  const char *rb = memchr(a, ']', alen);
  const char *from = rb ? rb : a;
  return memchr(from, ':', alen - (size_t)(from - a)) != NULL;
}

static int add_header(struct curl_slist **list, char *line) {
  struct curl_slist *l = line ? CURLAPI->slist_append(*list, line) : NULL;
  free(line);
  if (!l)
    return WH_ENOMEM;
  *list = l;
  return 0;
}

/* A new settings object (one reference), or NULL on OOM. tls: a reference
 * is taken. */
static settings *make_settings(const wh_health_check *h, const wh_lb_server *srv, probe_tls *tls) {
  settings *out = calloc(1, sizeof(*out));
  if (!out)
    return NULL;
  out->refs = 1;
  out->tls = tls;
  if (tls)
    tls->refs++;
  const char *scheme = h->scheme && *h->scheme ? h->scheme : srv->scheme;
  out->h2c = strcasecmp(scheme, "h2c") == 0;
  if (out->h2c)
    scheme = "http";
  /* the authority: the one Go's probe puts in its URL and Host header */
  bool v6 = strchr(srv->host, ':') != NULL;
  int port = 0;
  if (h->port > 0)
    port = (int)h->port;
  else if (explicit_port(srv->url))
    port = srv->port;
  wh_strbuf auth = {0};
  wh_strbuf_printf(&auth, "%s%s%s", v6 ? "[" : "", srv->host, v6 ? "]" : "");
  if (port)
    wh_strbuf_printf(&auth, ":%d", port);
  char *authority = wh_strbuf_take(&auth);
  /* serverName: the URL names it, so that libcurl sends it as SNI and
   * verifies it, and CURLOPT_CONNECT_TO sends the socket to the server's
   * host; the Host header stays the server's authority */
  const char *sni =
      tls && tls->server_name && strcasecmp(scheme, "https") == 0 ? tls->server_name : NULL;
  bool sni6 = sni && strchr(sni, ':') != NULL;
  const char *path = h->path ? h->path : "";
  wh_strbuf b = {0};
  if (sni) {
    int eff = port ? port : (srv->port > 0 ? srv->port : 443);
    wh_strbuf_printf(&b, "%s://%s%s%s:%d", scheme, sni6 ? "[" : "", sni, sni6 ? "]" : "", eff);
    char *ct = wh_asprintf("%s%s%s:%d:%s%s%s:%d", sni6 ? "[" : "", sni, sni6 ? "]" : "", eff,
                           v6 ? "[" : "", srv->host, v6 ? "]" : "", eff);
    if (add_header(&out->connect_to, ct) != 0)
      goto oom;
  } else {
    wh_strbuf_printf(&b, "%s://%s", scheme, authority ? authority : "");
  }
  if (*path && *path != '/')
    wh_strbuf_putc(&b, '/');
  wh_strbuf_puts(&b, path);
  out->probe_url = wh_strbuf_take(&b);
  out->method = wh_strdup(h->method && *h->method ? h->method : "GET");
  if (!authority || !out->probe_url || !out->method)
    goto oom;
  for (size_t i = 0; i < h->headers.n; i++) {
    if (strcasecmp(h->headers.keys[i], "Host") == 0)
      continue; /* as in Go, only healthCheck.hostname sets Host */
    if (add_header(&out->headers, wh_asprintf("%s: %s", h->headers.keys[i], h->headers.vals[i])))
      goto oom;
  }
  if (h->hostname && *h->hostname) {
    if (add_header(&out->headers, wh_asprintf("Host: %s", h->hostname)) != 0)
      goto oom;
  } else if (sni) {
    if (add_header(&out->headers, wh_asprintf("Host: %s", authority)) != 0)
      goto oom;
  }
  out->interval_ms = h->interval > 0 ? h->interval / WH_MS : 30000;
  if (out->interval_ms <= 0)
    out->interval_ms = 1;
  out->unhealthy_ms = h->unhealthy_interval > 0 ? h->unhealthy_interval / WH_MS : out->interval_ms;
  if (out->unhealthy_ms <= 0)
    out->unhealthy_ms = 1;
  out->timeout_ms = h->timeout > 0 ? h->timeout / WH_MS : 5000;
  if (out->timeout_ms <= 0)
    out->timeout_ms = 1;
  out->status = h->status;
  out->follow = h->follow_redirects;
  wh_strbuf f = {0};
  wh_strbuf_printf(&f, "%s\n%s\n%lld %lld %lld %lld %d%d\n", out->probe_url, out->method,
                   (long long)out->timeout_ms, (long long)out->interval_ms,
                   (long long)out->unhealthy_ms, (long long)out->status, out->follow, out->h2c);
  for (struct curl_slist *l = out->headers; l; l = l->next)
    wh_strbuf_printf(&f, "%s\n", l->data);
  for (struct curl_slist *l = out->connect_to; l; l = l->next)
    wh_strbuf_printf(&f, "connect-to %s\n", l->data);
  out->fingerprint = wh_strbuf_take(&f);
  if (!out->fingerprint)
    goto oom;
  free(authority);
  return out;
oom:
  free(authority);
  settings_unref(out);
  return NULL;
}

/* ---- the TLS files ---- */

static bool looks_pem(const char *v) {
  return strstr(v, "-----BEGIN") != NULL;
}

/* A whole regular file of at most 1 MiB (lib/tls's reader, the one the data
 * plane's transports use), appended to out (NULL: only checked). NULL, or a
 * static reason. */
static const char *read_capped(const char *path, wh_strbuf *out) {
  char *data = NULL;
  size_t len = 0;
  const char *why = wh_cert_read_file(path, &data, &len);
  if (!why && out && wh_strbuf_append(out, data, len) != 0)
    why = "out of memory";
  if (data) {
    OPENSSL_cleanse(data, len); /* may be a key */
    free(data);
  }
  return why;
}

/* A value that is neither PEM nor a plausible path may be key material: it
 * is never echoed. */
static const char *shown(const char *v) {
  for (const char *p = v; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return "(value not shown)";
  return strlen(v) > 256 ? "(value not shown)" : v;
}

static void tls_fail(probe_tls *p, const char *transport, const char *what, const char *value,
                     const char *why) {
  if (p->error)
    return; /* the first problem is enough */
  p->error = wh_asprintf("serversTransport \"%s\": %s %s: %s", transport ? transport : "default",
                         what, shown(value), why);
  if (!p->error)
    p->error = wh_strdup("serversTransport cannot be used"); /* best effort */
}

/* certFile/keyFile: a path (checked) or inline PEM (copied). */
static int cert_value(probe_tls *p, const char *transport, const char *what, const char *v,
                      char **path, char **pem) {
  if (!v || !*v)
    return 0;
  if (looks_pem(v)) {
    *pem = wh_strdup(v);
    return *pem ? 0 : WH_ENOMEM;
  }
  const char *why = read_capped(v, NULL);
  if (why)
    tls_fail(p, transport, what, v, why);
  *path = wh_strdup(v);
  return *path ? 0 : WH_ENOMEM;
}

/* A new probe_tls (one reference) from tls (NULL: the defaults), or NULL on
 * OOM. A file that cannot be read leaves the reason in ->error. */
static probe_tls *tls_load(const wh_tls_client_opts *tls, bool insecure) {
  probe_tls *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  p->refs = 1;
  p->insecure = insecure;
  if (!tls)
    return p;
  const char *tn = tls->name;
  p->insecure = tls->insecure_skip_verify;
  if ((tls->server_name && *tls->server_name && !(p->server_name = wh_strdup(tls->server_name))) ||
      (tls->peer_cert_uri && *tls->peer_cert_uri &&
       !(p->peer_cert_uri = wh_strdup(tls->peer_cert_uri))))
    goto oom;
  const wh_strlist *ca = tls->root_cas;
  /* no trust anchors to load when nothing is verified */
  bool verify_chain = !p->insecure || p->peer_cert_uri;
  if (ca && ca->n && verify_chain) {
    if (ca->n == 1 && !looks_pem(ca->v[0])) {
      const char *why = read_capped(ca->v[0], NULL);
      if (why)
        tls_fail(p, tn, "rootCAs", ca->v[0], why);
      if (!(p->ca_path = wh_strdup(ca->v[0])))
        goto oom;
    } else {
      wh_strbuf b = {0};
      for (size_t i = 0; i < ca->n && !p->error; i++) {
        const char *why = NULL;
        if (looks_pem(ca->v[i])) {
          if (wh_strbuf_puts(&b, ca->v[i]) != 0)
            why = "out of memory";
        } else {
          why = read_capped(ca->v[i], &b);
        }
        if (!why && b.len && b.data[b.len - 1] != '\n' && wh_strbuf_putc(&b, '\n') != 0)
          why = "out of memory";
        if (why && strcmp(why, "out of memory") == 0) {
          wh_strbuf_free(&b);
          goto oom;
        }
        if (why)
          tls_fail(p, tn, "rootCAs", looks_pem(ca->v[i]) ? "inline PEM" : ca->v[i], why);
      }
      p->ca_len = b.len;
      p->ca_pem = wh_strbuf_take(&b);
      if (!p->ca_pem)
        goto oom;
    }
  }
  if (tls->certificates && tls->certificates->n) {
    const wh_cert_files *cf = (const wh_cert_files *)tls->certificates->items;
    if (cert_value(p, tn, "certFile", cf->cert_file, &p->cert_path, &p->cert_pem) != 0 ||
        cert_value(p, tn, "keyFile", cf->key_file, &p->key_path, &p->key_pem) != 0)
      goto oom;
  }
  return p;
oom:
  tls_unref(p);
  return NULL;
}

wh_health_checker *wh_health_checker_new(uv_loop_t *loop, wh_health_store *store) {
  if (!store)
    return NULL;
  wh_curl_uv *curl = wh_curl_uv_new(loop);
  if (!curl)
    return NULL;
  curl_api = wh_curl_uv_api(curl);
  wh_health_checker *hc = calloc(1, sizeof(*hc));
  if (!hc) {
    wh_curl_uv_close(curl);
    return NULL;
  }
  hc->loop = loop;
  hc->curl = curl;
  hc->store = wh_health_store_ref(store);
  return hc;
}

static void clear_pending(wh_health_checker *hc) {
  for (size_t i = 0; i < hc->npending; i++)
    target_drop(hc->pending[i]);
  hc->npending = 0;
}

void wh_health_checker_begin(wh_health_checker *hc) {
  clear_pending(hc);
}

static int push_pending(wh_health_checker *hc, target *t) {
  if (hc->npending == hc->cappending) {
    size_t cap = hc->cappending ? hc->cappending * 2 : 16;
    target **v = realloc(hc->pending, cap * sizeof(*v));
    if (!v)
      return WH_ENOMEM;
    hc->pending = v;
    hc->cappending = cap;
  }
  hc->pending[hc->npending++] = t;
  return 0;
}

static int add_service(wh_health_checker *hc, const char *service, const wh_lb_service *cfg,
                       const wh_tls_client_opts *tls, bool insecure) {
  if (!cfg || !cfg->health_check)
    return 0;
  const wh_health_check *h = cfg->health_check;
  if (h->mode && strcasecmp(h->mode, "grpc") == 0) {
    wh_log_warn("service %s: healthCheck mode grpc is not supported; its servers stay UP", service);
    return 0;
  }
  probe_tls *pt = tls_load(tls, insecure);
  if (!pt)
    return WH_ENOMEM;
  int ret = 0;
  const wh_server *sv = cfg->servers.items;
  for (size_t i = 0; i < cfg->servers.n; i++) {
    if ((sv[i].weight_set && sv[i].weight <= 0) || !sv[i].url)
      continue;
    wh_lb_server srv;
    int rc = wh_lb_server_parse(&srv, sv[i].url);
    if (rc == WH_EINVAL) {
      wh_lb_server_clear(&srv);
      continue; /* the balancer reports it */
    }
    target *t = rc ? NULL : calloc(1, sizeof(*t));
    if (t) {
      t->hc = hc;
      t->service = wh_strdup(service);
      t->url = wh_strdup(sv[i].url);
      t->set = make_settings(h, &srv, pt);
    }
    wh_lb_server_clear(&srv);
    if (!t || !t->set || !t->service || !t->url || push_pending(hc, t) != 0) {
      if (t)
        target_drop(t);
      ret = WH_ENOMEM;
      break;
    }
  }
  tls_unref(pt);
  return ret;
}

int wh_health_checker_add(wh_health_checker *hc, const char *service, const wh_lb_service *cfg,
                          bool insecure) {
  return add_service(hc, service, cfg, NULL, insecure);
}

int wh_health_checker_add_tls(wh_health_checker *hc, const char *service, const wh_lb_service *cfg,
                              const wh_tls_client_opts *tls) {
  return add_service(hc, service, cfg, tls, false);
}

void wh_health_checker_commit(wh_health_checker *hc) {
  target **next = calloc(hc->npending ? hc->npending : 1, sizeof(*next));
  if (!next) {
    clear_pending(hc);
    return;
  }
  if (hc->n)
    qsort(hc->t, hc->n, sizeof(*hc->t), target_cmp);
  for (size_t i = 0; i < hc->n; i++)
    hc->t[i]->taken = false;
  size_t nn = 0;
  for (size_t i = 0; i < hc->npending; i++) {
    target *p = hc->pending[i];
    target **found = hc->n ? bsearch(&p, hc->t, hc->n, sizeof(*hc->t), target_cmp) : NULL;
    if (found && !(*found)->taken) {
      target *o = *found;
      o->taken = true;
      if (!settings_equal(o->set, p->set)) {
        /* a probe in flight keeps its own reference to the old settings */
        settings_unref(o->set);
        o->set = p->set;
        p->set = NULL;
        if (!o->easy)
          schedule(o);
      }
      target_drop(p);
      next[nn++] = o;
      continue;
    }
    p->cell = wh_health_store_acquire(hc->store, p->service, p->url);
    if (!p->cell) {
      target_drop(p);
      continue;
    }
    uv_timer_init(hc->loop, &p->timer);
    p->timer.data = p;
    p->live = true;
    hc->open_handles++;
    /* Like Traefik, the first probe comes one interval after the start. */
    schedule(p);
    next[nn++] = p;
  }
  hc->npending = 0;
  for (size_t i = 0; i < hc->n; i++)
    if (!hc->t[i]->taken)
      target_drop(hc->t[i]);
  free(hc->t);
  hc->t = next;
  hc->n = nn;
}

static const wh_rt_elem *find_transport(const wh_runtime *rt, const char *name) {
  const wh_rt_list *l = &rt->elems[WH_KIND_HTTP_TRANSPORT];
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i]->name, name) == 0)
      return l->v[i];
  return NULL;
}

int wh_health_checker_update(wh_health_checker *hc, const wh_runtime *rt,
                             const wh_static_config *stat) {
  if (!hc || hc->closing)
    return 0;
  wh_health_checker_begin(hc);
  const wh_static_servers_transport *st = stat ? stat->servers_transport : NULL;
  const wh_tls_client_opts dflt = {
      .name = "default@internal",
      .insecure_skip_verify = st && st->insecure_skip_verify,
      .root_cas = st ? &st->root_cas : NULL,
  };
  const wh_rt_list *l = rt ? &rt->elems[WH_KIND_HTTP_SERVICE] : NULL;
  for (size_t i = 0; l && i < l->n; i++) {
    const wh_rt_elem *el = l->v[i];
    const wh_http_service *svc = el->cfg;
    if (el->status == WH_STATUS_DISABLED || !svc || !svc->load_balancer ||
        !svc->load_balancer->health_check)
      continue;
    wh_tls_client_opts tls = dflt;
    const char *ref = svc->load_balancer->servers_transport;
    char *q = NULL;
    if (ref && *ref) {
      q = wh_qualify(ref, el->provider);
      if (!q) {
        clear_pending(hc);
        return WH_ENOMEM;
      }
      const wh_rt_elem *tr = find_transport(rt, q);
      const wh_servers_transport *c = tr ? tr->cfg : NULL;
      if (c)
        tls = (wh_tls_client_opts){
            .name = q,
            .server_name = c->server_name,
            .insecure_skip_verify = c->insecure_skip_verify,
            .root_cas = &c->root_cas,
            .certificates = &c->certificates,
            .peer_cert_uri = c->peer_cert_uri,
        };
    }
    int rc = wh_health_checker_add_tls(hc, el->name, svc->load_balancer, &tls);
    free(q);
    if (rc != 0) {
      clear_pending(hc);
      return WH_ENOMEM;
    }
  }
  wh_health_checker_commit(hc);
  return 0;
}

size_t wh_health_checker_ntargets(const wh_health_checker *hc) {
  return hc ? hc->n : 0;
}

void wh_health_checker_close(wh_health_checker *hc) {
  if (!hc || hc->closing)
    return;
  hc->closing = true;
  clear_pending(hc);
  for (size_t i = 0; i < hc->n; i++)
    target_drop(hc->t[i]);
  hc->n = 0;
  /* Every probe was cancelled above: no done callback runs from here. */
  wh_curl_uv_close(hc->curl);
  hc->curl = NULL;
  /* Without targets no timer is left to close. */
  maybe_finish(hc);
}
