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

/* Target scheme://<host without port>[:port]<uri>; the port is dropped for
 * 80/http and 443/https, the original port always (TRAEFIK-COMPAT §4). */
static int redirectscheme_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_redirectscheme_conf *c = cfg;
  const char *cur_scheme = NULL;
  char *cur = wh_mw_request_url(x, &cur_scheme);
  if (!cur)
    return WH_MW_NEXT;
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
  const char *port = c->port && *c->port ? c->port : NULL;
  if (port && ((strcasecmp(c->scheme, "http") == 0 && strcmp(port, "80") == 0) ||
               (strcasecmp(c->scheme, "https") == 0 && strcmp(port, "443") == 0)))
    port = NULL;
  const char *uri = strstr(cur, "://");
  uri = uri ? strchr(uri + 3, '/') : NULL;
  char *target = wh_asprintf("%s://%.*s%s%s%s", c->scheme, (int)hl, host, port ? ":" : "",
                             port ? port : "", uri ? uri : "/");
  int rc = WH_MW_NEXT;
  if (target && strcmp(target, cur) != 0) {
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
