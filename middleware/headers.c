#include "middleware/headers.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "lib/http/forwarded.h"
#include "middleware/option_check.h"

static int headers_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_headers_conf *c = obj;
  int n = 0;
  if (c->sts_seconds < 0) {
    wh_mw_opt_error(errs, path, "stsSeconds", "must be >= 0 (got %lld)", (long long)c->sts_seconds);
    n++;
  }
  n += wh_mw_check_regex_list(errs, path, "accessControlAllowOriginListRegex",
                              &c->access_control_allow_origin_list_regex);
  return n ? WH_EINVAL : 0;
}

#define HF(member, name, type, ...) WH_MW_FIELD(wh_mw_headers_conf, member, name, type, __VA_ARGS__)

static const wh_field headers_fields[] = {
    HF(custom_request_headers, "customRequestHeaders", WH_F_STRMAP, .flags = WH_FF_HEADER_VALUES),
    HF(custom_response_headers, "customResponseHeaders", WH_F_STRMAP, .flags = WH_FF_HEADER_VALUES),
    HF(access_control_allow_credentials, "accessControlAllowCredentials", WH_F_BOOL),
    HF(access_control_allow_headers, "accessControlAllowHeaders", WH_F_STRLIST),
    HF(access_control_allow_methods, "accessControlAllowMethods", WH_F_STRLIST),
    HF(access_control_allow_origin_list, "accessControlAllowOriginList", WH_F_STRLIST),
    HF(access_control_allow_origin_list_regex, "accessControlAllowOriginListRegex", WH_F_STRLIST),
    HF(access_control_expose_headers, "accessControlExposeHeaders", WH_F_STRLIST),
    HF(access_control_max_age, "accessControlMaxAge", WH_F_INT),
    HF(add_vary_header, "addVaryHeader", WH_F_BOOL),
    HF(allowed_hosts, "allowedHosts", WH_F_STRLIST),
    HF(hosts_proxy_headers, "hostsProxyHeaders", WH_F_STRLIST),
    HF(ssl_proxy_headers, "sslProxyHeaders", WH_F_STRMAP),
    HF(sts_seconds, "stsSeconds", WH_F_INT),
    HF(sts_include_subdomains, "stsIncludeSubdomains", WH_F_BOOL),
    HF(sts_preload, "stsPreload", WH_F_BOOL),
    HF(force_sts_header, "forceSTSHeader", WH_F_BOOL),
    HF(frame_deny, "frameDeny", WH_F_BOOL),
    HF(custom_frame_options_value, "customFrameOptionsValue", WH_F_STRING),
    HF(content_type_nosniff, "contentTypeNosniff", WH_F_BOOL),
    HF(browser_xss_filter, "browserXssFilter", WH_F_BOOL),
    HF(custom_browser_xss_value, "customBrowserXSSValue", WH_F_STRING),
    HF(content_security_policy, "contentSecurityPolicy", WH_F_STRING),
    HF(content_security_policy_report_only, "contentSecurityPolicyReportOnly", WH_F_STRING),
    HF(public_key, "publicKey", WH_F_STRING),
    HF(referrer_policy, "referrerPolicy", WH_F_STRING),
    HF(permissions_policy, "permissionsPolicy", WH_F_STRING),
    HF(is_development, "isDevelopment", WH_F_BOOL),
    HF(ssl_redirect, "sslRedirect", WH_F_BOOL, .flags = WH_FF_DEPRECATED),
    HF(ssl_temporary_redirect, "sslTemporaryRedirect", WH_F_BOOL, .flags = WH_FF_DEPRECATED),
    HF(ssl_host, "sslHost", WH_F_STRING, .flags = WH_FF_DEPRECATED),
    HF(ssl_force_host, "sslForceHost", WH_F_BOOL, .flags = WH_FF_DEPRECATED),
    HF(feature_policy, "featurePolicy", WH_F_STRING, .flags = WH_FF_DEPRECATED),
};

static const wh_schema headers_schema = {
    .name = "headers",
    .size = sizeof(wh_mw_headers_conf),
    .fields = headers_fields,
    .nfields = WH_MW_NFIELDS(headers_fields),
    .validate = headers_validate,
};

/* ---- runtime ----
 *
 * Traefik builds this middleware as two handlers, Header (custom headers and
 * CORS) wrapping Secure (allowed hosts and the security headers), and the
 * order of effects below follows that nesting: the CORS preflight is answered
 * before anything else, custom request headers are applied before the Secure
 * checks see the request, and the Secure response headers are set before the
 * custom response headers and CORS headers (which therefore win). */

/* RFC 9110 token characters: a header name made of anything else would
 * corrupt the message it is written into. */
static bool is_token(const char *s) {
  if (!*s)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (!(*p > 0x20 && *p < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", *p)))
      return false;
  return true;
}

/* No CR, LF, NUL or other control byte but HTAB: a value that cannot split
 * the message. */
static bool is_field_value(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
      return false;
  return true;
}

static bool map_valid(const wh_strmap *m) {
  for (size_t i = 0; i < m->n; i++)
    if (!is_token(m->keys[i]) || !is_field_value(m->vals[i]))
      return false;
  return true;
}

static bool has_str(const char *s) {
  return s && *s;
}

static bool list_contains(const wh_strlist *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0)
      return true;
  return false;
}

static bool has_cors(const wh_mw_headers_conf *c) {
  return c->access_control_allow_credentials || c->access_control_allow_headers.n ||
         c->access_control_allow_methods.n || c->access_control_allow_origin_list.n ||
         c->access_control_allow_origin_list_regex.n || c->access_control_expose_headers.n ||
         c->access_control_max_age != 0 || c->add_vary_header;
}

/* Options of Traefik v2 that v3 no longer honours and this runtime does not
 * implement: a router relying on them must not be served as if they held. */
static bool has_v2_redirect(const wh_mw_headers_conf *c) {
  return c->ssl_redirect || c->ssl_temporary_redirect || c->ssl_force_host || has_str(c->ssl_host);
}

/* Headers the data plane rebuilds for a peer outside forwardedHeaders.trustedIPs
 * (lib/http/forwarded.c). Traefik's middlewares see them after the entry point
 * has done so; the data plane does it only after the middlewares. So, unless
 * the peer is trusted (x->fwd_trusted), their client-sent values are not
 * believed here (a spoofed X-Forwarded-Host must not pass allowedHosts, a
 * spoofed X-Forwarded-Proto must not count as HTTPS): they are read as an
 * untrusted peer's request would have them. */
static const char *const fwd_managed[] = {
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Server",
    "X-Forwarded-Uri",
    "X-Forwarded-Method",
    "X-Forwarded-Prefix",
    "X-Forwarded-Scheme",
    "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
    "X-Scheme",
    "X-Real-Ip",
};

/* Underscore spellings (X_Forwarded_Proto) are dropped for untrusted peers too. */
static bool name_eq_fwd(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char ca = *a == '_' ? '-' : *a, cb = *b == '_' ? '-' : *b;
    if (ca >= 'A' && ca <= 'Z')
      ca = (char)(ca - 'A' + 'a');
    if (cb >= 'A' && cb <= 'Z')
      cb = (char)(cb - 'A' + 'a');
    if (ca != cb)
      return false;
  }
  return !*a && !*b;
}

static const char *host_port_part(const char *host) {
  if (!host)
    return NULL;
  const char *p = host;
  if (*p == '[') {
    p = strchr(p, ']');
    if (!p)
      return NULL;
    p++;
  } else {
    p = strchr(p, ':');
  }
  return p && *p == ':' && p[1] ? p + 1 : NULL;
}

/* Value of a request header as the Secure part of Traefik's middleware would
 * read it (see fwd_managed). buf holds computed values. */
static const char *secure_view(const wh_mw_exchange *x, const char *name, char *buf, size_t len) {
  for (size_t i = 0; i < x->set_headers.n; i++)
    if (strcasecmp(x->set_headers.keys[i], name) == 0)
      return x->set_headers.vals[i];
  if (x->fwd_trusted)
    return wh_http_req_header(x->req, name); /* a trusted proxy's word is kept */
  size_t k = 0;
  while (k < sizeof(fwd_managed) / sizeof(fwd_managed[0]) && !name_eq_fwd(fwd_managed[k], name))
    k++;
  if (k == sizeof(fwd_managed) / sizeof(fwd_managed[0]))
    return wh_http_req_header(x->req, name);
  const char *canon = fwd_managed[k];
  if (!strcmp(canon, "X-Forwarded-Proto")) {
    const char *up = wh_http_req_header(x->req, "Upgrade");
    bool ws = up && strcasecmp(up, "websocket") == 0;
    return ws ? (x->is_tls ? "wss" : "ws") : (x->is_tls ? "https" : "http");
  }
  if (!strcmp(canon, "X-Forwarded-Host"))
    return has_str(x->req->host) ? x->req->host : NULL;
  if (!strcmp(canon, "X-Forwarded-Port")) {
    const char *p = host_port_part(x->req->host);
    return p ? p : (x->is_tls ? "443" : "80");
  }
  if (!strcmp(canon, "X-Real-Ip") || !strcmp(canon, "X-Forwarded-For")) {
    wh_addr_ip_string((const struct sockaddr *)&x->req->peer, buf, len);
    return buf[0] ? buf : NULL;
  }
  return NULL;
}

/* Go's http.Request.Host after customRequestHeaders: the rewritten one. */
static const char *effective_host(const wh_mw_exchange *x) {
  for (size_t i = 0; i < x->set_headers.n; i++)
    if (strcasecmp(x->set_headers.keys[i], "Host") == 0 && x->set_headers.vals[i])
      return x->set_headers.vals[i];
  return x->req->host ? x->req->host : "";
}

/* Go's regexp MatchString: unanchored search. An entry that does not compile
 * (validate rejects those) never matches. */
static bool regex_search(const char *re_src, const char *s) {
  int err;
  PCRE2_SIZE off;
  pcre2_code *re =
      pcre2_compile((PCRE2_SPTR)re_src, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
  if (!re)
    return false;
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  bool ok = md && pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) >= 0;
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return ok;
}

/* Traefik's matchOrigin: the first list entry equal to the origin, or "*"
 * (the origin itself when credentials are allowed, since browsers refuse a
 * wildcard then), else the first regex that finds a match. NULL: no match. */
static const char *match_origin(const wh_mw_headers_conf *c, const char *origin) {
  const wh_strlist *l = &c->access_control_allow_origin_list;
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->v[i], origin) == 0)
      return l->v[i];
    if (strcmp(l->v[i], "*") == 0)
      return c->access_control_allow_credentials ? origin : l->v[i];
  }
  const wh_strlist *r = &c->access_control_allow_origin_list_regex;
  for (size_t i = 0; i < r->n; i++)
    if (regex_search(r->v[i], origin))
      return origin;
  return NULL;
}

/* strings.Join(l, ","). Owned; NULL on OOM. */
static char *join(const wh_strlist *l) {
  wh_strbuf b = {0};
  int rc = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (i)
      rc |= wh_strbuf_putc(&b, ',');
    rc |= wh_strbuf_puts(&b, l->v[i]);
  }
  if (rc) {
    wh_strbuf_free(&b);
    return NULL;
  }
  return wh_strbuf_take(&b);
}

typedef int (*set_fn)(void *dst, const char *name, const char *value);

static int set_local(void *dst, const char *name, const char *value) {
  return wh_http_resp_header(dst, name, value);
}

static int set_edit(void *dst, const char *name, const char *value) {
  return wh_mw_exchange_resp(dst, WH_RESP_SET, name, value);
}

/* Access-Control-Expose-Headers, left out when it is "*" with credentials
 * (the wildcard then means the literal header name "*"). */
static int put_expose(const wh_mw_headers_conf *c, set_fn set, void *dst) {
  const wh_strlist *e = &c->access_control_expose_headers;
  if (!e->n || (list_contains(e, "*") && c->access_control_allow_credentials))
    return 0;
  char *v = join(e);
  int rc = v ? set(dst, "Access-Control-Expose-Headers", v) : WH_ENOMEM;
  free(v);
  return rc;
}

/* The preflight answer, written directly (Traefik writes it to the client
 * before the Secure part and the next handler exist for this request). */
static int answer_preflight(const wh_mw_headers_conf *c, wh_mw_exchange *x, const char *origin,
                            const char *acrm) {
  wh_http_resp *r = x->resp;
  wh_http_resp_free(r);
  wh_http_resp_init(r);
  r->status = 200;
  int rc = 0;
  bool cred = c->access_control_allow_credentials;
  if (cred)
    rc |= wh_http_resp_header(r, "Access-Control-Allow-Credentials", "true");
  if (list_contains(&c->access_control_allow_headers, "*") && cred) {
    const char *acrh = wh_mw_exchange_header(x, "Access-Control-Request-Headers");
    if (has_str(acrh))
      rc |= wh_http_resp_header(r, "Access-Control-Allow-Headers", acrh);
  } else if (c->access_control_allow_headers.n) {
    char *v = join(&c->access_control_allow_headers);
    rc |= !v ? WH_ENOMEM : *v ? wh_http_resp_header(r, "Access-Control-Allow-Headers", v) : 0;
    free(v);
  }
  if (list_contains(&c->access_control_allow_methods, "*") && cred) {
    rc |= wh_http_resp_header(r, "Access-Control-Allow-Methods", acrm);
  } else if (c->access_control_allow_methods.n) {
    char *v = join(&c->access_control_allow_methods);
    rc |= !v ? WH_ENOMEM : *v ? wh_http_resp_header(r, "Access-Control-Allow-Methods", v) : 0;
    free(v);
  }
  const char *m = match_origin(c, origin);
  if (m)
    rc |= wh_http_resp_header(r, "Access-Control-Allow-Origin", m);
  if (c->access_control_max_age != 0) {
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)c->access_control_max_age);
    rc |= wh_http_resp_header(r, "Access-Control-Max-Age", n);
  }
  rc |= put_expose(c, set_local, r);
  return rc;
}

/* Header's PostRequestModifyResponseHeaders, as edits on whatever response
 * the rest of the chain produces. */
static int header_response_edits(const wh_mw_headers_conf *c, wh_mw_exchange *x) {
  int rc = 0;
  const wh_strmap *m = &c->custom_response_headers;
  for (size_t i = 0; i < m->n; i++)
    rc |= wh_mw_exchange_resp(x, *m->vals[i] ? WH_RESP_SET : WH_RESP_DEL, m->keys[i], m->vals[i]);
  const char *origin = wh_mw_exchange_header(x, "Origin");
  /* Go's Header.Get gives "" for an absent Origin, and "*" matches it */
  const char *o = match_origin(c, origin ? origin : "");
  if (o)
    rc |= wh_mw_exchange_resp(x, WH_RESP_SET, "Access-Control-Allow-Origin", o);
  if (c->access_control_allow_credentials)
    rc |= wh_mw_exchange_resp(x, WH_RESP_SET, "Access-Control-Allow-Credentials", "true");
  rc |= put_expose(c, set_edit, x);
  /* Traefik appends ",Origin" unless Vary is exactly "Origin"; the framework's
   * list append also avoids repeating it when listed among others. */
  if (c->add_vary_header)
    rc |= wh_mw_exchange_resp(x, WH_RESP_APPEND, "Vary", "Origin");
  return rc;
}

/* unrolled/secure's isSSL (v1.0.9): TLS, or one sslProxyHeaders entry whose
 * value equals the header's (exactly; an absent header reads as ""). */
static bool is_ssl(const wh_mw_headers_conf *c, const wh_mw_exchange *x) {
  if (x->is_tls)
    return true;
  char buf[64];
  const wh_strmap *m = &c->ssl_proxy_headers;
  for (size_t i = 0; i < m->n; i++) {
    const char *v = secure_view(x, m->keys[i], buf, sizeof buf);
    if (strcmp(v ? v : "", m->vals[i]) == 0)
      return true;
  }
  return false;
}

static bool host_allowed(const wh_mw_headers_conf *c, const wh_mw_exchange *x) {
  if (!c->allowed_hosts.n || c->is_development)
    return true;
  const char *host = effective_host(x);
  char buf[64];
  for (size_t i = 0; i < c->hosts_proxy_headers.n; i++) {
    const char *h = secure_view(x, c->hosts_proxy_headers.v[i], buf, sizeof buf);
    if (has_str(h)) {
      host = h;
      break;
    }
  }
  for (size_t i = 0; i < c->allowed_hosts.n; i++)
    if (strcasecmp(c->allowed_hosts.v[i], host) == 0)
      return true;
  return false;
}

/* The Secure part's response headers (unrolled/secure v1.0.9, as Traefik
 * configures it), set over the backend's. */
static int secure_response_edits(const wh_mw_headers_conf *c, wh_mw_exchange *x) {
  bool ssl = is_ssl(c, x);
  int rc = 0;
  if (c->sts_seconds != 0 && (ssl || c->force_sts_header) && !c->is_development) {
    char *v = wh_asprintf("max-age=%lld%s%s", (long long)c->sts_seconds,
                          c->sts_include_subdomains ? "; includeSubDomains" : "",
                          c->sts_preload ? "; preload" : "");
    rc |= v ? wh_mw_exchange_resp(x, WH_RESP_SET, "Strict-Transport-Security", v) : WH_ENOMEM;
    free(v);
  }
  if (has_str(c->custom_frame_options_value))
    rc |= set_edit(x, "X-Frame-Options", c->custom_frame_options_value);
  else if (c->frame_deny)
    rc |= set_edit(x, "X-Frame-Options", "DENY");
  if (c->content_type_nosniff)
    rc |= set_edit(x, "X-Content-Type-Options", "nosniff");
  if (has_str(c->custom_browser_xss_value))
    rc |= set_edit(x, "X-XSS-Protection", c->custom_browser_xss_value);
  else if (c->browser_xss_filter)
    rc |= set_edit(x, "X-XSS-Protection", "1; mode=block");
  /* HPKP pins only mean something over TLS */
  if (has_str(c->public_key) && ssl && !c->is_development)
    rc |= set_edit(x, "Public-Key-Pins", c->public_key);
  if (has_str(c->content_security_policy))
    rc |= set_edit(x, "Content-Security-Policy", c->content_security_policy);
  if (has_str(c->content_security_policy_report_only))
    rc |=
        set_edit(x, "Content-Security-Policy-Report-Only", c->content_security_policy_report_only);
  if (has_str(c->referrer_policy))
    rc |= set_edit(x, "Referrer-Policy", c->referrer_policy);
  if (has_str(c->feature_policy))
    rc |= set_edit(x, "Feature-Policy", c->feature_policy);
  if (has_str(c->permissions_policy))
    rc |= set_edit(x, "Permissions-Policy", c->permissions_policy);
  return rc;
}

static bool string_valid(const char *s) {
  return !s || is_field_value(s);
}

/* Every value this middleware may write into a message is checked before
 * use: the config decoder accepts any string, and a CR or LF in a header
 * value would let the configuration split a message. */
static bool conf_writable(const wh_mw_headers_conf *c) {
  return map_valid(&c->custom_request_headers) && map_valid(&c->custom_response_headers) &&
         string_valid(c->custom_frame_options_value) && string_valid(c->custom_browser_xss_value) &&
         string_valid(c->content_security_policy) &&
         string_valid(c->content_security_policy_report_only) && string_valid(c->public_key) &&
         string_valid(c->referrer_policy) && string_valid(c->permissions_policy) &&
         string_valid(c->feature_policy);
}

static int fail_closed(wh_mw_exchange *x) {
  wh_http_resp_free(x->resp);
  wh_http_resp_text(x->resp, 500, "Internal Server Error");
  return WH_MW_DONE;
}

static int headers_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_headers_conf *c = cfg;
  if (has_v2_redirect(c)) {
    static _Atomic bool logged;
    if (!atomic_exchange(&logged, true))
      wh_log_error("middleware \"%s\": headers.sslRedirect/sslTemporaryRedirect/sslHost/"
                   "sslForceHost (Traefik v2 only) are not supported; answering 500 (use "
                   "redirectScheme or an entry point redirection)",
                   x->mw_name ? x->mw_name : "headers");
    return fail_closed(x);
  }
  if (!conf_writable(c)) {
    static _Atomic bool logged;
    if (!atomic_exchange(&logged, true))
      wh_log_error("middleware \"%s\": a header name or value is not valid HTTP (control "
                   "character or bad name); answering 500",
                   x->mw_name ? x->mw_name : "headers");
    return fail_closed(x);
  }

  if (has_cors(c) && strcmp(x->req->method, "OPTIONS") == 0) {
    const char *acrm = wh_mw_exchange_header(x, "Access-Control-Request-Method");
    const char *origin = wh_mw_exchange_header(x, "Origin");
    if (has_str(acrm) && has_str(origin)) {
      if (answer_preflight(c, x, origin, acrm) != 0)
        return fail_closed(x);
      return WH_MW_DONE;
    }
  }

  const wh_strmap *rq = &c->custom_request_headers;
  for (size_t i = 0; i < rq->n; i++) {
    const char *k = rq->keys[i], *v = rq->vals[i];
    /* An empty Host only deletes a header map entry in Go: the request's
     * Host stays. An empty X-Forwarded-For removes it, so none is appended. */
    if (!*v && strcasecmp(k, "Host") == 0)
      continue;
    if (wh_mw_exchange_set_header(x, k, *v ? v : NULL) != 0)
      return fail_closed(x);
  }

  if (!host_allowed(c, x)) {
    /* Secure answers inside Header: the custom response and CORS headers
     * still apply to this answer, the security headers do not. */
    if (header_response_edits(c, x) != 0)
      return fail_closed(x);
    wh_http_resp_free(x->resp);
    if (wh_http_resp_text(x->resp, 500, "Bad Host\n") != 0 ||
        wh_http_resp_header(x->resp, "X-Content-Type-Options", "nosniff") != 0)
      return fail_closed(x);
    return WH_MW_DONE;
  }
  if (secure_response_edits(c, x) != 0 || header_response_edits(c, x) != 0)
    return fail_closed(x);
  return WH_MW_NEXT;
}

const wh_mw_type wh_mw_headers = {
    .on_request = headers_on_request,
    .name = "headers",
    .proto = WH_MW_HTTP,
    .schema = &headers_schema,
};
