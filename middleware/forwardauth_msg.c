#include "middleware/forwardauth_msg.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"
#include "lib/core/str.h"
#include "lib/http/forwarded.h"

/* Traefik's forward.go hopHeaders: Proxy-Authorization is deliberately
 * kept, the auth server may be the one to check it (RFC 7235 §4.4). Host
 * and Content-Length are the HTTP client's (no body is sent). */
static const char *const not_sent[] = {
    "Connection",        "Keep-Alive", "TE",   "Trailer",
    "Transfer-Encoding", "Upgrade",    "Host", "Content-Length",
};

/* forwardedheaders.XHeadersSet */
static const char *const managed_x[] = {
    "X-Forwarded-Proto",
    "X-Forwarded-Scheme",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Server",
    "X-Forwarded-Uri",
    "X-Forwarded-Method",
    "X-Forwarded-Prefix",
    "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
    "X-Scheme",
    "X-Real-Ip",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *name, const char *const *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(name, v[i]) == 0)
      return true;
  return false;
}

/* isManagedXHeader: '_' counts as '-' (Go's server keeps X_Forwarded_Proto
 * as a distinct key; a backend may not). */
static bool is_managed_x(const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < NELEM(managed_x); i++) {
    const char *m = managed_x[i];
    if (strlen(m) != n)
      continue;
    size_t k = 0;
    for (; k < n; k++) {
      char a = name[k] == '_' ? '-' : name[k];
      if (tolower((unsigned char)a) != tolower((unsigned char)m[k]))
        break;
    }
    if (k == n)
      return true;
  }
  return false;
}

static bool is_token_char(unsigned char c) {
  return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

char *wh_fwdauth_canonical_key(const char *name) {
  char *k = wh_strdup(name);
  if (!k)
    return NULL;
  for (const char *p = k; *p; p++)
    if (!is_token_char((unsigned char)*p))
      return k;
  bool upper = true;
  for (char *p = k; *p; p++) {
    *p = upper ? (char)toupper((unsigned char)*p) : (char)tolower((unsigned char)*p);
    upper = *p == '-';
  }
  return k;
}

/* ---- the request to the auth server ---- */

static bool value_has_token(const char *v, const char *tok) {
  return v && wh_header_value_has_token(v, strlen(v), tok, strlen(tok));
}

char *wh_fwdauth_request_uri(const wh_mw_exchange *x) {
  const wh_http_req *r = x->req;
  bool rewritten = !x->path || !r->path || strcmp(x->path, r->path) != 0;
  if (!rewritten && r->target && r->target[0] == '/')
    return wh_strdup(r->target);
  const char *p = x->path ? x->path : (r->path ? r->path : "/");
  return wh_asprintf("%s%s%s", p, r->query ? "?" : "", r->query ? r->query : "");
}

/* Go's net.SplitHostPort(host) port, or NULL. */
static char *host_port(const char *host) {
  if (!host)
    return NULL;
  const char *colon;
  if (host[0] == '[') {
    const char *e = strchr(host, ']');
    if (!e || e[1] != ':')
      return NULL;
    colon = e + 1;
  } else {
    colon = strchr(host, ':');
    if (!colon || strchr(colon + 1, ':'))
      return NULL;
  }
  return colon[1] ? wh_strdup(colon + 1) : NULL;
}

static int keep_only_allowed(const wh_mw_forwardauth_conf *c, wh_headers *h) {
  if (c->auth_request_headers.n == 0)
    return 0;
  wh_headers kept;
  wh_headers_init(&kept);
  for (size_t i = 0; i < h->n; i++) {
    const char *name = h->v[i].name;
    bool ok =
        in_list(name, (const char *const *)c->auth_request_headers.v, c->auth_request_headers.n) ||
        (c->trust_forward_header && in_list(name, managed_x, NELEM(managed_x)));
    if (ok && wh_headers_add(&kept, name, h->v[i].name_len, h->v[i].value, h->v[i].value_len) < 0) {
      wh_headers_free(&kept);
      return WH_ENOMEM;
    }
  }
  wh_headers_free(h);
  *h = kept;
  return 0;
}

static int set_if_absent(wh_headers *h, const char *name, const char *value) {
  if (wh_headers_get(h, name))
    return 0;
  return wh_headers_set(h, name, value ? value : "");
}

int wh_fwdauth_request_headers(const wh_mw_forwardauth_conf *c, const wh_mw_exchange *x,
                               const char *server, wh_headers *out) {
  const wh_http_req *r = x->req;
  wh_headers *h = out;
  /* the request as received, then what its entry point makes of it */
  for (size_t i = 0; i < r->nheaders; i++)
    if (wh_headers_add_cstr(h, r->hdr_names[i], r->hdr_values[i]) < 0)
      return WH_ENOMEM;
  const char *conn = wh_http_req_header(r, "Connection");
  wh_fwd_ctx fc = {
      .client = (const struct sockaddr *)&r->peer,
      .trusted = x->fwd_trusted,
      .is_tls = x->is_tls,
      .is_websocket = value_has_token(conn, "upgrade") &&
                      value_has_token(wh_http_req_header(r, "Upgrade"), "websocket"),
      .host = r->host,
      .server = server,
      .not_append_xff = true, /* the reverse proxy appends it, not the entry point */
  };
  if (wh_forwarded_apply(h, &fc) < 0)
    return WH_ENOMEM;
  /* then what the middlewares before this one changed */
  for (size_t i = 0; i < x->set_headers.n; i++) {
    wh_headers_remove(h, x->set_headers.keys[i]);
    if (x->set_headers.vals[i] &&
        wh_headers_add_cstr(h, x->set_headers.keys[i], x->set_headers.vals[i]) < 0)
      return WH_ENOMEM;
  }

  /* RemoveConnectionHeaders, then the hop-by-hop list */
  const char *cv = wh_headers_get(h, "Connection");
  if (cv) {
    char *list = wh_strdup(cv);
    if (!list)
      return WH_ENOMEM;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ' || *t == '\t')
        t++;
      size_t n = strlen(t);
      while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        t[--n] = '\0';
      if (*t)
        wh_headers_remove(h, t);
    }
    free(list);
  }
  for (size_t i = 0; i < NELEM(not_sent); i++)
    wh_headers_remove(h, not_sent[i]);
  if (!c->trust_forward_header) {
    for (size_t i = 0; i < h->n;) {
      if (is_managed_x(h->v[i].name))
        wh_headers_remove(h, h->v[i].name);
      else
        i++;
    }
  }
  if (keep_only_allowed(c, h) < 0)
    return WH_ENOMEM;

  char ip[64];
  wh_addr_ip_string((const struct sockaddr *)&r->peer, ip, sizeof ip);
  wh_strbuf xff = {0};
  for (size_t i = 0; i < h->n; i++) {
    if (strcasecmp(h->v[i].name, "X-Forwarded-For") != 0)
      continue;
    if (xff.len)
      wh_strbuf_puts(&xff, ", ");
    wh_strbuf_puts(&xff, h->v[i].value);
  }
  if (xff.len)
    wh_strbuf_puts(&xff, ", ");
  wh_strbuf_puts(&xff, ip);
  int rc = xff.data ? wh_headers_set(h, "X-Forwarded-For", xff.data) : WH_ENOMEM;
  wh_strbuf_free(&xff);
  if (rc < 0)
    return WH_ENOMEM;

  const char *host = r->host ? r->host : "";
  char *uri = wh_fwdauth_request_uri(x);
  char *port = host_port(host);
  if (!uri || set_if_absent(h, "X-Forwarded-Method", r->method) < 0 ||
      set_if_absent(h, "X-Forwarded-Proto", x->is_tls ? "https" : "http") < 0)
    rc = WH_ENOMEM;
  if (rc == 0 && !wh_headers_get(h, "X-Forwarded-Port")) {
    const char *proto = wh_headers_get(h, "X-Forwarded-Proto");
    const char *p = port ? port
                    : (wh_strcaseeq(proto, "https") || wh_strcaseeq(proto, "wss") || x->is_tls)
                        ? "443"
                        : "80";
    rc = wh_headers_set(h, "X-Forwarded-Port", p);
  }
  if (rc == 0 && (set_if_absent(h, "X-Forwarded-Host", host) < 0 ||
                  set_if_absent(h, "X-Forwarded-Uri", uri) < 0))
    rc = WH_ENOMEM;
  free(uri);
  free(port);
  return rc;
}

/* ---- the answer ---- */

int wh_fwdauth_parse_header_line(wh_headers *h, const char *line, size_t len) {
  while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
    len--;
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    wh_headers_clear(h);
    return 0;
  }
  if (!len || line[0] == ' ' || line[0] == '\t')
    return 0; /* end of head, or an obsolete fold: ignored */
  const char *colon = memchr(line, ':', len);
  if (!colon || colon == line)
    return 0;
  size_t nlen = (size_t)(colon - line);
  for (size_t i = 0; i < nlen; i++)
    if (!is_token_char((unsigned char)line[i]))
      return 0;
  const char *v = colon + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  return wh_headers_add(h, line, nlen, v, (size_t)(end - v)) < 0 ? WH_ENOMEM : 0;
}

/* ---- URL references (RFC 3986 §5.2) ---- */

typedef struct url_parts {
  const char *scheme, *auth, *path, *query, *frag; /* pointers into the text */
  size_t scheme_len, auth_len, path_len, query_len, frag_len;
  bool has_auth, has_query, has_frag;
} url_parts;

static void split_url(const char *s, url_parts *u) {
  memset(u, 0, sizeof(*u));
  const char *p = s;
  if (isalpha((unsigned char)*p)) {
    const char *q = p;
    while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.')
      q++;
    if (*q == ':') {
      u->scheme = p;
      u->scheme_len = (size_t)(q - p);
      p = q + 1;
    }
  }
  if (p[0] == '/' && p[1] == '/') {
    u->has_auth = true;
    u->auth = p + 2;
    p += 2;
    while (*p && *p != '/' && *p != '?' && *p != '#')
      p++;
    u->auth_len = (size_t)(p - u->auth);
  }
  u->path = p;
  while (*p && *p != '?' && *p != '#')
    p++;
  u->path_len = (size_t)(p - u->path);
  if (*p == '?') {
    u->has_query = true;
    u->query = ++p;
    while (*p && *p != '#')
      p++;
    u->query_len = (size_t)(p - u->query);
  }
  if (*p == '#') {
    u->has_frag = true;
    u->frag = p + 1;
    u->frag_len = strlen(p + 1);
  }
}

/* Go's url.Parse refuses control bytes and malformed %-escapes. */
static bool ref_valid(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      return false;
    if (*p == '%' && !(isxdigit(p[1]) && isxdigit(p[2])))
      return false;
  }
  return true;
}

/* Go's resolvePath: base's directory joined with ref, "." and ".."
 * segments removed, never above the root; the result starts with '/'. */
static int resolve_path(wh_strbuf *out, const char *base, size_t blen, const char *ref,
                        size_t rlen) {
  wh_strbuf full = {0};
  if (rlen == 0) {
    wh_strbuf_append(&full, base, blen);
  } else if (ref[0] == '/') {
    wh_strbuf_append(&full, ref, rlen);
  } else {
    size_t dir = blen;
    while (dir && base[dir - 1] != '/')
      dir--;
    wh_strbuf_append(&full, base, dir);
    wh_strbuf_append(&full, ref, rlen);
  }
  if (!full.data && (blen || rlen))
    return WH_ENOMEM;
  const char *s = wh_strbuf_cstr(&full);
  wh_strbuf res = {0};
  wh_strbuf_putc(&res, '/');
  const char *p = s;
  if (*p == '/')
    p++;
  /* "." and ".." as the last segment leave the '/' they imply */
  while (1) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 1 && p[0] == '.') {
      /* nothing */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      /* drop the last segment written */
      if (res.len > 1) {
        size_t k = res.len - 1; /* res ends with '/' */
        while (k > 0 && res.data[k - 1] != '/')
          k--;
        res.len = k;
        res.data[k] = '\0';
      }
    } else {
      wh_strbuf_append(&res, p, n);
      if (e)
        wh_strbuf_putc(&res, '/');
    }
    if (!e)
      break;
    p = e + 1;
  }
  wh_strbuf_free(&full);
  if (!res.data)
    return WH_ENOMEM;
  int rc = wh_strbuf_append(out, res.data, res.len);
  wh_strbuf_free(&res);
  return rc;
}

char *wh_fwdauth_resolve_url(const char *base, const char *ref, bool *bad) {
  *bad = false;
  if (!base || !ref || !ref_valid(ref)) {
    *bad = true;
    return NULL;
  }
  url_parts b, r;
  split_url(base, &b);
  split_url(ref, &r);
  if (r.scheme)
    return wh_strdup(ref);
  wh_strbuf o = {0};
  wh_strbuf_append(&o, b.scheme, b.scheme_len);
  wh_strbuf_putc(&o, ':');
  if (r.has_auth) {
    wh_strbuf_puts(&o, ref);
    return wh_strbuf_take(&o);
  }
  if (b.has_auth) {
    wh_strbuf_puts(&o, "//");
    wh_strbuf_append(&o, b.auth, b.auth_len);
  }
  if (r.path_len == 0 && !r.has_query) {
    /* "" or "#frag": the base's path and query */
    wh_strbuf_append(&o, b.path, b.path_len);
    if (b.has_query) {
      wh_strbuf_putc(&o, '?');
      wh_strbuf_append(&o, b.query, b.query_len);
    }
  } else {
    if (resolve_path(&o, b.path, b.path_len, r.path, r.path_len) < 0) {
      wh_strbuf_free(&o);
      return NULL;
    }
    if (r.has_query) {
      wh_strbuf_putc(&o, '?');
      wh_strbuf_append(&o, r.query, r.query_len);
    }
  }
  if (r.has_frag) {
    wh_strbuf_putc(&o, '#');
    wh_strbuf_append(&o, r.frag, r.frag_len);
  }
  return o.data ? wh_strbuf_take(&o) : NULL;
}

/* ---- effects on the exchange ---- */

/* Every value of name in h joined with ", " (Go keeps them as separate
 * values; the next handler sees one field). NULL when absent. */
static char *joined(const wh_headers *h, const char *name, int *err) {
  wh_strbuf b = {0};
  bool any = false;
  for (size_t i = 0; i < h->n; i++) {
    if (strcasecmp(h->v[i].name, name) != 0)
      continue;
    if (any)
      wh_strbuf_puts(&b, ", ");
    wh_strbuf_puts(&b, h->v[i].value);
    any = true;
  }
  if (!any)
    return NULL;
  char *s = wh_strbuf_take(&b);
  if (!s)
    *err = WH_ENOMEM;
  return s;
}

static int copy_named(wh_mw_exchange *x, const wh_headers *auth, const char *key) {
  if (wh_mw_exchange_set_header(x, key, NULL) < 0)
    return WH_ENOMEM;
  int err = 0;
  char *v = joined(auth, key, &err);
  if (v)
    err = wh_mw_exchange_set_header(x, key, v);
  free(v);
  return err;
}

static bool re_match(pcre2_code *re, pcre2_match_data *md, const char *s) {
  return pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) >= 0;
}

static int apply_regex(const wh_mw_forwardauth_conf *c, wh_mw_exchange *x, const wh_headers *auth) {
  int errc;
  PCRE2_SIZE off;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)c->auth_response_headers_regex, PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF, &errc, &off, NULL);
  if (!re)
    return WH_EINVAL; /* validated at decoding: not reached */
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  int rc = md ? 0 : WH_ENOMEM;
  /* the request's matching fields go first (Go matches canonical keys) */
  const wh_http_req *r = x->req;
  size_t nreq = r->nheaders, nset = x->set_headers.n;
  for (size_t i = 0; rc == 0 && i < nreq + nset; i++) {
    const char *name = i < nreq ? r->hdr_names[i] : x->set_headers.keys[i - nreq];
    if (i < nreq && wh_strcaseeq(name, "Host"))
      continue;
    char *key = wh_fwdauth_canonical_key(name);
    if (!key)
      rc = WH_ENOMEM;
    else if (re_match(re, md, key) && wh_mw_exchange_set_header(x, key, NULL) < 0)
      rc = WH_ENOMEM;
    free(key);
  }
  for (size_t i = 0; rc == 0 && i < auth->n; i++) {
    char *key = wh_fwdauth_canonical_key(auth->v[i].name);
    if (!key)
      rc = WH_ENOMEM;
    else if (re_match(re, md, key) && wh_mw_exchange_header(x, key) == NULL) {
      int err = 0;
      char *v = joined(auth, key, &err);
      rc = v ? wh_mw_exchange_set_header(x, key, v) : err;
      free(v);
    }
    free(key);
  }
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc;
}

int wh_fwdauth_apply_allowed(const wh_mw_forwardauth_conf *c, wh_mw_exchange *x,
                             const wh_headers *auth) {
  for (size_t i = 0; i < c->auth_response_headers.n; i++) {
    char *key = wh_fwdauth_canonical_key(c->auth_response_headers.v[i]);
    int rc = key ? copy_named(x, auth, key) : WH_ENOMEM;
    free(key);
    if (rc < 0)
      return rc;
  }
  if (c->auth_response_headers_regex && *c->auth_response_headers_regex)
    return apply_regex(c, x, auth);
  return 0;
}

/* The name of a Set-Cookie value into name (false when it has none). */
static bool set_cookie_name(const char *v, char *name, size_t cap) {
  const char *eq = strchr(v, '=');
  const char *semi = strchr(v, ';');
  if (!eq || (semi && semi < eq))
    return false;
  const char *s = v, *e = eq;
  while (s < e && (*s == ' ' || *s == '\t'))
    s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  if ((size_t)(e - s) >= cap || e == s)
    return false;
  memcpy(name, s, (size_t)(e - s));
  name[e - s] = '\0';
  return true;
}

int wh_fwdauth_add_cookies(const wh_mw_forwardauth_conf *c, wh_mw_exchange *x,
                           const wh_headers *auth) {
  for (size_t i = 0; i < auth->n; i++) {
    if (strcasecmp(auth->v[i].name, "Set-Cookie") != 0)
      continue;
    char name[256];
    if (!set_cookie_name(auth->v[i].value, name, sizeof(name)))
      continue;
    for (size_t k = 0; k < c->add_auth_cookies_to_response.n; k++) {
      if (strcmp(c->add_auth_cookies_to_response.v[k], name) != 0)
        continue;
      if (wh_mw_exchange_resp(x, WH_RESP_DEL_COOKIE, "Set-Cookie", name) < 0 ||
          wh_mw_exchange_resp(x, WH_RESP_ADD, "Set-Cookie", auth->v[i].value) < 0)
        return -1;
      break;
    }
  }
  return 0;
}

size_t wh_fwdauth_listed_cookies(const wh_mw_forwardauth_conf *c, const wh_headers *auth) {
  size_t n = 0;
  for (size_t i = 0; i < auth->n; i++) {
    if (strcasecmp(auth->v[i].name, "Set-Cookie") != 0)
      continue;
    const char *v = auth->v[i].value;
    const char *eq = strchr(v, '=');
    const char *semi = strchr(v, ';');
    if (!eq || (semi && semi < eq))
      continue;
    const char *s = v, *e = eq;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    for (size_t k = 0; k < c->add_auth_cookies_to_response.n; k++) {
      const char *want = c->add_auth_cookies_to_response.v[k];
      if (strlen(want) == (size_t)(e - s) && memcmp(want, s, (size_t)(e - s)) == 0) {
        n++;
        break;
      }
    }
  }
  return n;
}

/* Fields a local answer must not carry (the server writes them) or that
 * only meant something on the connection to the auth server. */
static const char *const not_copied[] = {
    "Connection", "Keep-Alive",     "TE",   "Trailer", "Transfer-Encoding",
    "Upgrade",    "Content-Length", "Date",
};

int wh_fwdauth_fill_denied(const wh_mw_forwardauth_conf *c, wh_mw_exchange *x, int status,
                           const wh_headers *auth, const char *body, size_t len) {
  wh_http_resp *resp = x->resp;
  wh_http_resp_free(resp);
  const char *loc = wh_headers_get(auth, "Location");
  char *newloc = NULL;
  if (loc && *loc) {
    bool bad = false;
    newloc = c->preserve_location_header ? (ref_valid(loc) ? wh_strdup(loc) : NULL)
                                         : wh_fwdauth_resolve_url(c->address, loc, &bad);
    if (!newloc)
      return c->preserve_location_header || bad ? WH_EINVAL : WH_ENOMEM;
  }
  resp->status = status;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < auth->n; i++) {
    const char *name = auth->v[i].name;
    if (in_list(name, not_copied, NELEM(not_copied)) ||
        (newloc && strcasecmp(name, "Location") == 0))
      continue;
    rc = wh_http_resp_header(resp, name, auth->v[i].value);
  }
  if (rc == 0 && newloc)
    rc = wh_http_resp_header(resp, "Location", newloc);
  if (rc == 0 && len)
    rc = wh_strbuf_append(&resp->body, body, len);
  free(newloc);
  return rc < 0 ? WH_ENOMEM : 0;
}

/* Go's htmlReplacer */
static void html_escape(wh_strbuf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&':
      wh_strbuf_puts(b, "&amp;");
      break;
    case '<':
      wh_strbuf_puts(b, "&lt;");
      break;
    case '>':
      wh_strbuf_puts(b, "&gt;");
      break;
    case '"':
      wh_strbuf_puts(b, "&#34;");
      break;
    case '\'':
      wh_strbuf_puts(b, "&#39;");
      break;
    default:
      wh_strbuf_putc(b, *s);
    }
  }
}

int wh_fwdauth_fill_signin(wh_mw_exchange *x, const char *url) {
  wh_http_resp *resp = x->resp;
  wh_http_resp_free(resp);
  resp->status = 302;
  int rc = wh_http_resp_header(resp, "Location", url);
  if (rc == 0 && strcmp(x->req->method, "GET") == 0) {
    rc = wh_http_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
    wh_strbuf_puts(&resp->body, "<a href=\"");
    html_escape(&resp->body, url);
    if (wh_strbuf_puts(&resp->body, "\">Found</a>.\n\n") < 0)
      rc = WH_ENOMEM;
  }
  return rc < 0 ? WH_ENOMEM : 0;
}
