/* DNS-01 through the Cloudflare API (v4), as lego's cloudflare provider:
 * credentials are an API token (CLOUDFLARE_DNS_API_TOKEN, optionally a
 * second one for zone reads, CLOUDFLARE_ZONE_API_TOKEN) or a global key
 * (CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY), each also under its CF_* alias.
 *
 * present: the zone id (GET /zones?name=<zone>&per_page=50), then a TXT
 * record (POST /zones/<id>/dns_records) whose id is remembered; cleanup:
 * DELETE /zones/<id>/dns_records/<record id>. lego finds the zone with a
 * DNS SOA lookup through the system's resolvers before asking the API; this
 * provider asks the API for each parent of the challenge name in turn (the
 * first with exactly one zone wins), so it needs no DNS and sees the zones
 * the token can see. HTTP runs on the loop through lib/net/curl_uv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/acme/dns01_provider.h"
#include "lib/core/err.h"
#include "lib/core/str.h"
#include "lib/net/curl_uv.h"

#define CF_DEFAULT_BASE_URL "https://api.cloudflare.com/client/v4"
#define CF_MIN_TTL 120
#define CF_PROPAGATION_MS 120000
#define CF_POLLING_MS 2000
#define CF_HTTP_TIMEOUT_MS 30000
#define CF_BODY_CAP (1 << 20)

typedef struct record {
  struct record *next;
  char *key; /* fqdn " " value */
  char *zone_id, *record_id;
} record;

typedef struct req req;

typedef struct cloudflare {
  wh_dns01_provider base;
  wh_curl_uv *multi;
  char *base_url; /* without a trailing slash */
  char *email, *api_key;
  char *dns_token, *zone_token; /* zone_token: reads; NULL means dns_token */
  long ttl;
  uint64_t http_timeout_ms;
  record *records; /* created and not yet deleted */
  req *reqs;       /* transfers running */
} cloudflare;

typedef enum { STEP_ZONE, STEP_CREATE, STEP_DELETE } step;

/* One operation: its current transfer and where the zone walk is. */
struct req {
  req *next, **prev;
  wh_dns01_op *op;
  step step;
  const char *zone_name; /* points into op->fqdn */
  char *zone_id;
  record *rec; /* cleanup: the record being deleted */
  CURL *easy;
  struct curl_slist *hdrs;
  char *body_out;
  wh_strbuf body;
  char errbuf[CURL_ERROR_SIZE];
};

static cloudflare *cf_of(const req *r) {
  return (cloudflare *)r->op->p;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  req *r = ud;
  size_t n = size * nmemb;
  if (r->body.len + n > CF_BODY_CAP || wh_strbuf_append(&r->body, ptr, n) != 0)
    return 0; /* ends the transfer with CURLE_WRITE_ERROR */
  return n;
}

static void req_release_transfer(req *r) {
  const wh_curl_api *api = wh_curl_uv_api(cf_of(r)->multi);
  if (r->easy)
    api->easy_cleanup(r->easy);
  if (r->hdrs)
    api->slist_free_all(r->hdrs);
  r->easy = NULL;
  r->hdrs = NULL;
  free(r->body_out);
  r->body_out = NULL;
  wh_strbuf_free(&r->body);
}

static void req_finish(req *r, int status, const char *msg) {
  req_release_transfer(r);
  if (r->next)
    r->next->prev = r->prev;
  *r->prev = r->next;
  wh_dns01_op *op = r->op;
  free(r->zone_id);
  free(r);
  wh_dns01_op_finish(op, status, msg);
}

static void req_fail(req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void req_fail(req *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *m = NULL;
  if (vasprintf(&m, fmt, ap) < 0)
    m = NULL;
  va_end(ap);
  req_finish(r, WH_ERR, m ? m : "cloudflare: out of memory");
  free(m);
}

static char *url_escape(const char *s) {
  wh_strbuf b = {0};
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~')
      wh_strbuf_putc(&b, (char)c);
    else
      wh_strbuf_printf(&b, "%%%02X", c);
  }
  char *r = wh_strbuf_take(&b);
  return r ? r : wh_strdup("");
}

static void on_done(void *arg, CURL *easy, CURLcode rc);

/* Starts the transfer for r's step: method on base_url + path, json (NULL
 * or a body) sent as application/json. false when it cannot start. */
static bool send_req(req *r, const char *method, const char *path, char *json, bool zone_read) {
  cloudflare *c = cf_of(r);
  const wh_curl_api *api = wh_curl_uv_api(c->multi);
  char *url = wh_asprintf("%s%s", c->base_url, path);
  r->body_out = json;
  r->errbuf[0] = '\0';
  r->easy = url ? api->easy_init() : NULL;
  bool ok = r->easy != NULL;
  const char *token = zone_read && c->zone_token ? c->zone_token : c->dns_token;
  char *h1 = token ? wh_asprintf("Authorization: Bearer %s", token)
                   : wh_asprintf("X-Auth-Email: %s", c->email);
  char *h2 = token ? NULL : wh_asprintf("X-Auth-Key: %s", c->api_key);
  const char *lines[] = {h1, h2, "Accept: application/json",
                         json ? "Content-Type: application/json" : NULL, "User-Agent: wharf"};
  ok = ok && h1 && (token || h2);
  for (size_t i = 0; ok && i < sizeof(lines) / sizeof(*lines); i++) {
    if (!lines[i])
      continue;
    struct curl_slist *nl = api->slist_append(r->hdrs, lines[i]);
    ok = nl != NULL;
    if (ok)
      r->hdrs = nl;
  }
  free(h1);
  free(h2);
  if (ok) {
    CURL *h = r->easy;
    api->easy_setopt(h, CURLOPT_URL, url);
    api->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json) {
      api->easy_setopt(h, CURLOPT_POSTFIELDS, json);
      api->easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    }
    api->easy_setopt(h, CURLOPT_HTTPHEADER, r->hdrs);
    api->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    api->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    api->easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->http_timeout_ms);
    api->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    api->easy_setopt(h, CURLOPT_WRITEDATA, r);
    api->easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
    ok = wh_curl_uv_add(c->multi, h, on_done, r) == 0;
  }
  free(url);
  if (!ok)
    req_release_transfer(r);
  return ok;
}

/* Cloudflare's error list, "code: message" joined by "; " (lego's
 * Errors.Error with a separator), the error chain included. */
static char *api_errors(const cJSON *root) {
  const cJSON *errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
  wh_strbuf b = {0};
  const cJSON *e;
  cJSON_ArrayForEach(e, errs) {
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (b.len)
      wh_strbuf_puts(&b, "; ");
    wh_strbuf_printf(&b, "%d: %s", cJSON_IsNumber(code) ? code->valueint : 0,
                     cJSON_IsString(msg) ? msg->valuestring : "");
    const cJSON *link;
    cJSON_ArrayForEach(link, cJSON_GetObjectItemCaseSensitive(e, "error_chain")) {
      const cJSON *lc = cJSON_GetObjectItemCaseSensitive(link, "code");
      const cJSON *lm = cJSON_GetObjectItemCaseSensitive(link, "message");
      wh_strbuf_printf(&b, "; %d: %s", cJSON_IsNumber(lc) ? lc->valueint : 0,
                       cJSON_IsString(lm) ? lm->valuestring : "");
    }
  }
  return wh_strbuf_take(&b);
}

static bool next_step(req *r);

static void on_done(void *arg, CURL *easy, CURLcode rc) {
  req *r = arg;
  cloudflare *c = cf_of(r);
  const wh_curl_api *api = wh_curl_uv_api(c->multi);
  const char *what = r->step == STEP_ZONE     ? "failed to find zone"
                     : r->step == STEP_CREATE ? "failed to create TXT record"
                                              : "failed to delete TXT record";
  if (rc != CURLE_OK) {
    req_fail(r, "cloudflare: %s: %s%s%s", what, api->easy_strerror(rc), r->errbuf[0] ? ": " : "",
             r->errbuf);
    return;
  }
  long status = 0;
  api->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  const char *text = wh_strbuf_cstr(&r->body);
  cJSON *root = cJSON_Parse(text);
  if (status / 100 != 2) {
    char *errs = root ? api_errors(root) : NULL;
    if (errs && *errs)
      req_fail(r, "cloudflare: %s: [status code %ld] %s", what, status, errs);
    else
      req_fail(r, "cloudflare: %s: unexpected status code: [status code: %ld] body: %.200s", what,
               status, text);
    free(errs);
    cJSON_Delete(root);
    return;
  }
  if (r->step == STEP_DELETE) {
    cJSON_Delete(root);
    record *rec = r->rec;
    for (record **pp = &c->records; *pp; pp = &(*pp)->next)
      if (*pp == rec) {
        *pp = rec->next;
        break;
      }
    free(rec->key);
    free(rec->zone_id);
    free(rec->record_id);
    free(rec);
    req_finish(r, 0, "");
    return;
  }
  const cJSON *result = root ? cJSON_GetObjectItemCaseSensitive(root, "result") : NULL;
  if (r->step == STEP_ZONE) {
    int n = cJSON_IsArray(result) ? cJSON_GetArraySize(result) : -1;
    if (n < 0) {
      req_fail(r, "cloudflare: %s %s: unexpected answer: %.200s", what, r->zone_name, text);
    } else if (n > 1) {
      req_fail(r, "cloudflare: %s %s: ambiguous zone name; an account ID might help", what,
               r->zone_name);
    } else if (n == 1) {
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(result, 0), "id");
      if (!cJSON_IsString(id) || !(r->zone_id = wh_strdup(id->valuestring)))
        req_fail(r, "cloudflare: %s %s: zone without an id", what, r->zone_name);
      else {
        req_release_transfer(r);
        r->step = STEP_CREATE;
        if (!next_step(r))
          req_fail(r, "cloudflare: cannot start the HTTP request");
      }
    } else {
      /* not this name: its parent, while it still has two labels */
      const char *dot = strchr(r->zone_name, '.');
      const char *parent = dot ? dot + 1 : "";
      const char *pdot = strchr(parent, '.');
      if (!pdot || !pdot[1])
        req_fail(r, "cloudflare: could not find zone for domain %s: zone could not be found",
                 r->op->domain);
      else {
        req_release_transfer(r);
        r->zone_name = parent;
        if (!next_step(r))
          req_fail(r, "cloudflare: cannot start the HTTP request");
      }
    }
    cJSON_Delete(root);
    return;
  }
  /* STEP_CREATE */
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(result, "id");
  record *rec = cJSON_IsString(id) ? calloc(1, sizeof(*rec)) : NULL;
  if (rec) {
    rec->key = wh_asprintf("%s %s", r->op->fqdn, r->op->value);
    rec->zone_id = wh_strdup(r->zone_id);
    rec->record_id = wh_strdup(id->valuestring);
  }
  cJSON_Delete(root);
  if (!rec || !rec->key || !rec->zone_id || !rec->record_id) {
    if (rec) {
      free(rec->key);
      free(rec->zone_id);
      free(rec->record_id);
      free(rec);
    }
    req_fail(r, "cloudflare: %s: no record id in the answer", what);
    return;
  }
  rec->next = c->records;
  c->records = rec;
  req_finish(r, 0, "");
}

/* The name without the trailing dot, as Cloudflare writes names. */
static char *unfqdn(const char *s) {
  size_t len = strlen(s);
  return wh_strndup(s, len && s[len - 1] == '.' ? len - 1 : len);
}

/* Starts the transfer of r's step; false (nothing started) when it cannot. */
static bool next_step(req *r) {
  cloudflare *c = cf_of(r);
  bool ok = false;
  if (r->step == STEP_ZONE) {
    char *name = unfqdn(r->zone_name);
    char *q = name ? url_escape(name) : NULL;
    char *path = q ? wh_asprintf("/zones?name=%s&per_page=50", q) : NULL;
    ok = path && send_req(r, "GET", path, NULL, true);
    free(name);
    free(q);
    free(path);
  } else if (r->step == STEP_CREATE) {
    cJSON *o = cJSON_CreateObject();
    char *name = unfqdn(r->op->fqdn);
    char *content = wh_asprintf("\"%s\"", r->op->value); /* lego quotes the TXT content */
    char *json = NULL;
    if (o && name && content && cJSON_AddStringToObject(o, "type", "TXT") &&
        cJSON_AddStringToObject(o, "name", name) &&
        cJSON_AddStringToObject(o, "content", content) &&
        cJSON_AddNumberToObject(o, "ttl", (double)c->ttl))
      json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(name);
    free(content);
    char *path = wh_asprintf("/zones/%s/dns_records", r->zone_id);
    ok = json && path && send_req(r, "POST", path, json, false);
    if (!ok && !r->body_out)
      free(json);
    free(path);
  } else {
    char *path = wh_asprintf("/zones/%s/dns_records/%s", r->rec->zone_id, r->rec->record_id);
    ok = path && send_req(r, "DELETE", path, NULL, false);
    free(path);
  }
  return ok;
}

static int cf_start(wh_dns01_op *op) {
  cloudflare *c = (cloudflare *)op->p;
  record *rec = NULL;
  if (!op->present) {
    char *key = wh_asprintf("%s %s", op->fqdn, op->value);
    if (!key)
      return WH_ENOMEM;
    for (rec = c->records; rec && strcmp(rec->key, key) != 0; rec = rec->next)
      ;
    free(key);
    if (!rec) {
      char *m = wh_asprintf("cloudflare: unknown record ID for '%s'", op->fqdn);
      int rc = m ? wh_dns01_op_finish_later(op, WH_ERR, m) : WH_ENOMEM;
      free(m);
      return rc;
    }
  }
  req *r = calloc(1, sizeof(*r));
  if (!r)
    return WH_ENOMEM;
  r->op = op;
  if (op->present) {
    r->step = STEP_ZONE;
    /* the challenge name's parent first: "_acme-challenge" is no zone */
    const char *dot = strchr(op->fqdn, '.');
    r->zone_name = dot ? dot + 1 : op->fqdn;
  } else {
    r->step = STEP_DELETE;
    r->rec = rec;
  }
  if (!next_step(r)) {
    free(r);
    return WH_ENOMEM;
  }
  r->prev = &c->reqs;
  r->next = c->reqs;
  if (c->reqs)
    c->reqs->prev = &r->next;
  c->reqs = r;
  return 0;
}

static void cf_abandon(wh_dns01_provider *p) {
  cloudflare *c = (cloudflare *)p;
  while (c->reqs) {
    req *r = c->reqs;
    if (r->easy)
      wh_curl_uv_cancel(c->multi, r->easy);
    req_finish(r, WH_ERR, "cloudflare: abandoned");
  }
}

static void cf_destroy(wh_dns01_provider *p) {
  cloudflare *c = (cloudflare *)p;
  for (record *r = c->records, *n; r; r = n) {
    n = r->next;
    free(r->key);
    free(r->zone_id);
    free(r->record_id);
    free(r);
  }
  if (c->multi)
    wh_curl_uv_close(c->multi);
  free(c->base_url);
  free(c->email);
  free(c->api_key);
  free(c->dns_token);
  free(c->zone_token);
  free(c);
}

static const wh_dns01_ops cf_ops = {
    .name = "cloudflare",
    .start = cf_start,
    .abandon = cf_abandon,
    .destroy = cf_destroy,
};

#define NAMES(x)                                                                                   \
  (const char *const[]) {                                                                          \
    "CLOUDFLARE_" x, "CF_" x, NULL                                                                 \
  }

wh_dns01_provider *wh_dns01_cloudflare_new(uv_loop_t *loop, char **envp, char *err, size_t n) {
  cloudflare *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->base.ops = &cf_ops;
  c->email =
      wh_dns01_env_any(envp, (const char *const[]){"CLOUDFLARE_EMAIL", "CF_API_EMAIL", NULL});
  c->api_key = wh_dns01_env_any(envp, NAMES("API_KEY"));
  if (!c->email || !c->api_key) {
    /* lego prefers the global key when both forms are set */
    free(c->email);
    free(c->api_key);
    c->email = c->api_key = NULL;
    c->dns_token = wh_dns01_env_any(envp, NAMES("DNS_API_TOKEN"));
    c->zone_token = wh_dns01_env_any(envp, NAMES("ZONE_API_TOKEN"));
    if (!c->dns_token) {
      snprintf(err, n,
               "cloudflare: some credentials information are missing: "
               "CLOUDFLARE_EMAIL,CLOUDFLARE_API_KEY or some credentials information are "
               "missing: CLOUDFLARE_DNS_API_TOKEN (or their CF_* aliases CF_API_EMAIL, "
               "CF_API_KEY, CF_DNS_API_TOKEN)");
      cf_destroy(&c->base);
      return NULL;
    }
  }
  c->ttl = wh_dns01_env_int(envp, NAMES("TTL"), CF_MIN_TTL);
  if (c->ttl < CF_MIN_TTL) {
    snprintf(err, n, "cloudflare: CLOUDFLARE_TTL: invalid TTL, TTL (%ld) must be greater than %d",
             c->ttl, CF_MIN_TTL);
    cf_destroy(&c->base);
    return NULL;
  }
  char *base = wh_dns01_env(envp, "CLOUDFLARE_BASE_URL");
  if (base) {
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
      base[--len] = '\0';
  }
  c->base_url = base ? base : wh_strdup(CF_DEFAULT_BASE_URL);
  c->base.timeout_ms = wh_dns01_env_seconds(envp, NAMES("PROPAGATION_TIMEOUT"), CF_PROPAGATION_MS);
  c->base.interval_ms = wh_dns01_env_seconds(envp, NAMES("POLLING_INTERVAL"), CF_POLLING_MS);
  c->http_timeout_ms = wh_dns01_env_seconds(envp, NAMES("HTTP_TIMEOUT"), CF_HTTP_TIMEOUT_MS);
  c->multi = c->base_url ? wh_curl_uv_new(loop) : NULL;
  if (!c->multi) {
    snprintf(err, n, "cloudflare: %s",
             c->base_url ? "libcurl cannot be loaded (libcurl4 is needed for the Cloudflare API)"
                         : "out of memory");
    cf_destroy(&c->base);
    return NULL;
  }
  return &c->base;
}
