#include "middleware/redirectscheme.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "middleware/option_check.h"
#include "middleware/request_url.h"

static int redirectscheme_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_redirectscheme_conf *c = obj;
  return wh_mw_check_required(errs, path, "scheme", c->scheme) ? WH_EINVAL : 0;
}

static const wh_field redirectscheme_fields[] = {
    WH_MW_FIELD(wh_mw_redirectscheme_conf, scheme, "scheme", WH_F_STRING),
    WH_MW_FIELD(wh_mw_redirectscheme_conf, port, "port", WH_F_STRING),
    WH_MW_FIELD(wh_mw_redirectscheme_conf, permanent, "permanent", WH_F_BOOL),
};

static const wh_schema redirectscheme_schema = {
    .name = "redirectScheme",
    .size = sizeof(wh_mw_redirectscheme_conf),
    .fields = redirectscheme_fields,
    .nfields = WH_MW_NFIELDS(redirectscheme_fields),
    .validate = redirectscheme_validate,
};

/* X-Forwarded-Proto as Traefik's middleware reads it: the entry point has
 * already replaced an untrusted peer's value by one built from the
 * connection (which says no more than is_tls), so the client's own value
 * counts only from a trusted peer (HARDENING 16); a value an earlier
 * middleware set wins. ws / wss are an upgrade's http / https. */
static const char *current_scheme(const wh_mw_exchange *x) {
  const char *scheme = x->is_tls ? "https" : "http";
  const char *xfp = NULL;
  bool set = false;
  for (size_t i = 0; i < x->set_headers.n && !set; i++)
    if (strcasecmp(x->set_headers.keys[i], "X-Forwarded-Proto") == 0) {
      xfp = x->set_headers.vals[i];
      set = true;
    }
  if (!set && x->fwd_trusted)
    xfp = wh_http_req_header(x->req, "X-Forwarded-Proto");
  if (xfp && (strcasecmp(xfp, "http") == 0 || strcasecmp(xfp, "ws") == 0))
    scheme = "http";
  else if (xfp && (strcasecmp(xfp, "https") == 0 || strcasecmp(xfp, "wss") == 0))
    scheme = "https";
  return scheme;
}

/* Traefik's clientRequestURL: scheme://host[:port]<RequestURI>, the port
 * left out when it is the scheme's default. hl is the length of the host
 * without its port; *uri points into the result. Caller frees. */
static char *current_url(const wh_mw_exchange *x, size_t hl, const char **uri) {
  const char *scheme = current_scheme(x);
  const char *host = x->req->host ? x->req->host : "";
  const char *port = host[hl] == ':' ? host + hl : "";
  if ((strcmp(scheme, "http") == 0 && strcmp(port, ":80") == 0) ||
      (strcmp(scheme, "https") == 0 && strcmp(port, ":443") == 0))
    port = "";
  /* RequestURI: the target as received for origin-form, path+query otherwise. */
  const char *t = x->req->target;
  bool origin = t && t[0] == '/';
  const char *q = origin ? NULL : x->req->query;
  char *cur = wh_asprintf("%s://%.*s%s%s%s%s", scheme, (int)hl, host, port,
                          origin ? t : x->req->path, q ? "?" : "", q ? q : "");
  if (cur)
    *uri = cur + strlen(scheme) + 3 + hl + strlen(port);
  return cur;
}

/* Target scheme://<host without port>[:port]<uri>; the port is dropped for
 * 80/http and 443/https, the original port always (TRAEFIK-COMPAT §4). */
static int redirectscheme_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_redirectscheme_conf *c = cfg;
  const char *host = x->req->host ? x->req->host : "";
  size_t hl = strlen(host);
  if (host[0] == '[') {
    const char *rb = strchr(host, ']');
    hl = rb ? (size_t)(rb - host) + 1 : hl;
  } else {
    const char *colon = strrchr(host, ':');
    if (colon)
      hl = (size_t)(colon - host);
  }
  const char *uri = NULL;
  char *cur = current_url(x, hl, &uri);
  const char *port = c->port && *c->port ? c->port : NULL;
  if (port && ((strcasecmp(c->scheme, "http") == 0 && strcmp(port, "80") == 0) ||
               (strcasecmp(c->scheme, "https") == 0 && strcmp(port, "443") == 0)))
    port = NULL;
  char *target = cur ? wh_asprintf("%s://%.*s%s%s%s", c->scheme, (int)hl, host, port ? ":" : "",
                                   port ? port : "", *uri ? uri : "/")
                     : NULL;
  int rc = WH_MW_NEXT;
  if (!target) {
    /* OOM: never serve what should have been redirected (fail closed) */
    wh_http_resp_free(x->resp);
    wh_http_resp_text(x->resp, 500, "Internal Server Error");
    rc = WH_MW_DONE;
  } else if (strcmp(target, cur) != 0) {
    wh_mw_redirect(x, target, c->permanent);
    rc = WH_MW_DONE;
  }
  free(target);
  free(cur);
  return rc;
}

const wh_mw_type wh_mw_redirectscheme = {
    .on_request = redirectscheme_on_request,
    .name = "redirectScheme",
    .proto = WH_MW_HTTP,
    .schema = &redirectscheme_schema,
};
