#include "lib/acme/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "lib/core/log.h"
#include "lib/core/str.h"

/* Thousands of certificates stay far below this; the cap only keeps a
 * mistyped storage path (a disk image, a log) from being slurped. */
#define STORE_FILE_MAX ((size_t)64 << 20)

typedef struct resolver {
  char *name;
  wh_acme_store_account *account; /* NULL: "Account": null */
  wh_acme_store_cert **certs;
  size_t ncerts, cap;
  /* Go writes a nil slice as null and an empty one as []; remembering which
   * keeps a rewrite of a Traefik file identical. */
  bool certs_array;
  bool null_entry; /* the resolver's value was null and nothing was set since */
} resolver;

struct wh_acme_store {
  resolver **res;
  size_t nres, cap;
  bool read_only;
  char *error;
  wh_errlist warnings;
};

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (!errbuf || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

/* ---- base64, as Go's encoding/base64.StdEncoding (the []byte JSON encoding) ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *in, size_t n) {
  char *out = malloc((n + 2) / 3 * 4 + 1);
  if (!out)
    return NULL;
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = B64[(v >> 6) & 63];
    out[o++] = B64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

static int b64_val(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Padded standard alphabet; CR and LF are skipped as Go skips them. Returns a
 * malloc'd buffer with a NUL after *outlen bytes, or NULL (bad input or OOM,
 * told apart by *oom). */
static unsigned char *b64_decode(const char *s, size_t *outlen, bool *oom) {
  *oom = false;
  size_t n = strlen(s);
  unsigned char *out = malloc(n / 4 * 3 + 4);
  if (!out) {
    *oom = true;
    return NULL;
  }
  size_t o = 0;
  int quad[4], q = 0, pad = 0;
  bool done = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\r' || c == '\n')
      continue;
    if (done)
      goto bad; /* data after the padded final quantum */
    int v;
    if (c == '=') {
      if (q < 2)
        goto bad;
      pad++;
      v = 0;
    } else {
      if (pad || (v = b64_val(c)) < 0)
        goto bad;
    }
    quad[q++] = v;
    if (q == 4) {
      unsigned char b[3] = {(unsigned char)(quad[0] << 2 | quad[1] >> 4),
                            (unsigned char)(quad[1] << 4 | quad[2] >> 2),
                            (unsigned char)(quad[2] << 6 | quad[3])};
      memcpy(out + o, b, (size_t)(3 - pad));
      o += (size_t)(3 - pad);
      done = pad > 0;
      q = 0;
    }
  }
  if (q != 0)
    goto bad;
  out[o] = '\0';
  *outlen = o;
  return out;
bad:
  free(out);
  return NULL;
}

/* ---- JSON output as Go's json.MarshalIndent(v, "", "  ") ---- */

typedef struct gw {
  wh_strbuf b;
  bool oom;
} gw;

static void gw_put(gw *w, const char *s, size_t n) {
  if (!w->oom && wh_strbuf_append(&w->b, s, n) != 0)
    w->oom = true;
}

static void gw_puts(gw *w, const char *s) {
  gw_put(w, s, strlen(s));
}

static void gw_nl(gw *w, int depth) {
  gw_put(w, "\n", 1);
  for (int i = 0; i < depth; i++)
    gw_put(w, "  ", 2);
}

/* Go escapes HTML-significant characters, U+2028/U+2029 and control
 * characters, and turns invalid UTF-8 into U+FFFD. */
static void gw_string(gw *w, const char *str) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)(str ? str : "");
  size_t n = strlen((const char *)s);
  gw_put(w, "\"", 1);
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    size_t len = wh_utf8_seq(s + i, n - i, &cp);
    if (len == 0) {
      gw_puts(w, "\\ufffd");
      i++;
      continue;
    }
    char esc[8];
    if (cp == '"' || cp == '\\') {
      esc[0] = '\\', esc[1] = (char)cp;
      gw_put(w, esc, 2);
    } else if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\b' || cp == '\f') {
      esc[0] = '\\';
      esc[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' : cp == '\b' ? 'b' : 'f';
      gw_put(w, esc, 2);
    } else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&') {
      snprintf(esc, sizeof(esc), "\\u00%c%c", hex[cp >> 4], hex[cp & 15]);
      gw_put(w, esc, 6);
    } else if (cp == 0x2028 || cp == 0x2029) {
      gw_puts(w, cp == 0x2028 ? "\\u2028" : "\\u2029");
    } else {
      gw_put(w, (const char *)s + i, len);
    }
    i += len;
  }
  gw_put(w, "\"", 1);
}

static void gw_key(gw *w, int depth, bool *first, const char *key) {
  if (!*first)
    gw_put(w, ",", 1);
  *first = false;
  gw_nl(w, depth);
  gw_string(w, key);
  gw_put(w, ": ", 2);
}

static void gw_value(gw *w, const cJSON *v, int depth) {
  char num[64];
  if (cJSON_IsNull(v) || !v) {
    gw_puts(w, "null");
  } else if (cJSON_IsTrue(v)) {
    gw_puts(w, "true");
  } else if (cJSON_IsFalse(v)) {
    gw_puts(w, "false");
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == (double)(long long)d && d > -9007199254740992.0 && d < 9007199254740992.0)
      snprintf(num, sizeof(num), "%lld", (long long)d);
    else
      snprintf(num, sizeof(num), "%.17g", d);
    gw_puts(w, num);
  } else if (cJSON_IsString(v)) {
    gw_string(w, v->valuestring);
  } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
    bool obj = cJSON_IsObject(v);
    gw_put(w, obj ? "{" : "[", 1);
    bool first = true;
    for (const cJSON *c = v->child; c; c = c->next) {
      if (obj) {
        gw_key(w, depth + 1, &first, c->string);
      } else {
        if (!first)
          gw_put(w, ",", 1);
        first = false;
        gw_nl(w, depth + 1);
      }
      gw_value(w, c, depth + 1);
    }
    if (!first)
      gw_nl(w, depth);
    gw_put(w, obj ? "}" : "]", 1);
  } else {
    gw_puts(w, "null");
  }
}

static void gw_json_text(gw *w, const char *text, int depth) {
  cJSON *v = cJSON_Parse(text);
  if (!v && text) {
    w->oom = true; /* stored texts are always valid: only OOM gets here */
    return;
  }
  gw_value(w, v, depth);
  cJSON_Delete(v);
}

/* ---- decoding helpers with Go's encoding/json leniency ---- */

/* Go matches object keys to struct fields ignoring case, the last key wins. */
static const cJSON *field(const cJSON *obj, const char *name) {
  const cJSON *found = NULL;
  for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next)
    if (c->string && strcasecmp(c->string, name) == 0)
      found = c;
  /* null leaves a Go field at its zero value: same as absent */
  return found && !cJSON_IsNull(found) ? found : NULL;
}

static bool known_field(const char *key, const char *const *names) {
  for (; *names; names++)
    if (strcasecmp(key, *names) == 0)
      return true;
  return false;
}

static void note_unknown(const cJSON *obj, const char *const *names, const char *where) {
  for (const cJSON *c = obj->child; c; c = c->next)
    if (c->string && !known_field(c->string, names))
      wh_log_debug("acme storage: %s: ignoring unknown key \"%s\" (not kept when rewritten)", where,
                   c->string);
}

/* lego's acme.Account, the type of Registration.body, in its field order. */
static const char *const BODY_FIELDS[] = {"status",
                                          "contact",
                                          "termsOfServiceAgreed",
                                          "orders",
                                          "onlyReturnExisting",
                                          "externalAccountBinding",
                                          NULL};

/* The body as Traefik would write it back: lego's fields only, in lego's
 * order, empty ones omitted (omitempty). NULL with a message on a field of
 * the wrong type; *oom on OOM. Caller owns the compact text. */
static char *body_normalize(const cJSON *in, char *msg, size_t msglen, bool *oom) {
  *oom = false;
  if (!cJSON_IsObject(in)) {
    snprintf(msg, msglen, "must be an object");
    return NULL;
  }
  cJSON *out = cJSON_CreateObject();
  if (!out)
    goto nomem;
  const char *bad = NULL;
  for (int i = 0; BODY_FIELDS[i]; i++) {
    const char *name = BODY_FIELDS[i];
    const cJSON *raw = NULL;
    for (const cJSON *c = in->child; c; c = c->next)
      if (c->string && strcasecmp(c->string, name) == 0)
        raw = c;
    if (!raw)
      continue;
    /* i indexes BODY_FIELDS: 0 status, 1 contact, 2 termsOfServiceAgreed,
     * 3 orders, 4 onlyReturnExisting, 5 externalAccountBinding */
    if (i == 5) {
      /* a json.RawMessage: kept as it is, null included */
      cJSON *dup = cJSON_Duplicate(raw, true);
      if (!dup || !cJSON_AddItemToObject(out, name, dup)) {
        cJSON_Delete(dup);
        goto nomem;
      }
      continue;
    }
    if (cJSON_IsNull(raw))
      continue;
    const cJSON *v = raw;
    bad = name;
    cJSON *item = NULL;
    if (i == 0 || i == 3) {
      if (!cJSON_IsString(v))
        goto type;
      if (!*v->valuestring)
        continue;
      item = cJSON_CreateString(v->valuestring);
    } else if (i == 2 || i == 4) {
      if (!cJSON_IsBool(v))
        goto type;
      if (!cJSON_IsTrue(v))
        continue;
      item = cJSON_CreateTrue();
    } else {
      if (!cJSON_IsArray(v))
        goto type;
      if (!v->child)
        continue;
      item = cJSON_CreateArray();
      for (const cJSON *e = v->child; item && e; e = e->next) {
        if (!cJSON_IsString(e) && !cJSON_IsNull(e)) {
          cJSON_Delete(item);
          goto type;
        }
        cJSON *s = cJSON_CreateString(cJSON_IsString(e) ? e->valuestring : "");
        if (!s || !cJSON_AddItemToArray(item, s)) {
          cJSON_Delete(s);
          cJSON_Delete(item);
          item = NULL;
        }
      }
    }
    if (!item || !cJSON_AddItemToObject(out, name, item)) {
      cJSON_Delete(item);
      goto nomem;
    }
  }
  char *text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  if (!text)
    *oom = true;
  return text;
type:
  snprintf(msg, msglen, "\"%s\" has the wrong type", bad ? bad : "");
  cJSON_Delete(out);
  return NULL;
nomem:
  cJSON_Delete(out);
  *oom = true;
  return NULL;
}

/* ---- model ---- */

static void account_free(wh_acme_store_account *a) {
  if (!a)
    return;
  free(a->email);
  free(a->reg_uri);
  free(a->reg_body);
  free(a->private_key);
  free(a->key_type);
  free(a);
}

static void cert_free(wh_acme_store_cert *c) {
  if (!c)
    return;
  free(c->main);
  wh_strv_free(c->sans, c->nsans);
  free(c->store);
  if (c->cert_pem)
    OPENSSL_cleanse(c->cert_pem, strlen(c->cert_pem));
  free(c->cert_pem);
  if (c->key_pem)
    OPENSSL_cleanse(c->key_pem, strlen(c->key_pem));
  free(c->key_pem);
  wh_cert_unref(c->parsed);
  free(c);
}

static void resolver_free(resolver *r) {
  if (!r)
    return;
  free(r->name);
  account_free(r->account);
  for (size_t i = 0; i < r->ncerts; i++)
    cert_free(r->certs[i]);
  free(r->certs);
  free(r);
}

static void store_clear(wh_acme_store *s) {
  for (size_t i = 0; i < s->nres; i++)
    resolver_free(s->res[i]);
  free(s->res);
  s->res = NULL;
  s->nres = s->cap = 0;
}

wh_acme_store *wh_acme_store_new(void) {
  wh_acme_store *s = calloc(1, sizeof(*s));
  if (s)
    wh_errlist_init(&s->warnings);
  return s;
}

void wh_acme_store_free(wh_acme_store *s) {
  if (!s)
    return;
  store_clear(s);
  free(s->error);
  wh_errlist_free(&s->warnings);
  free(s);
}

static resolver *find_resolver(const wh_acme_store *s, const char *name) {
  for (size_t i = 0; s && name && i < s->nres; i++)
    if (strcmp(s->res[i]->name, name) == 0)
      return s->res[i];
  return NULL;
}

static resolver *add_resolver(wh_acme_store *s, const char *name) {
  resolver *r = find_resolver(s, name);
  if (r)
    return r;
  if (s->nres == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4;
    resolver **res = realloc(s->res, cap * sizeof(*res));
    if (!res)
      return NULL;
    s->res = res, s->cap = cap;
  }
  r = calloc(1, sizeof(*r));
  if (!r || !(r->name = strdup(name))) {
    free(r);
    return NULL;
  }
  s->res[s->nres++] = r;
  return r;
}

static int resolver_append(resolver *r, wh_acme_store_cert *c) {
  if (r->ncerts == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 4;
    wh_acme_store_cert **certs = realloc(r->certs, cap * sizeof(*certs));
    if (!certs)
      return WH_ENOMEM;
    r->certs = certs, r->cap = cap;
  }
  r->certs[r->ncerts++] = c;
  return 0;
}

static bool sans_equal(char *const *a, size_t na, const char *const *b, size_t nb) {
  for (size_t i = 0; i < na; i++) {
    bool found = false;
    for (size_t j = 0; j < nb && !found; j++)
      found = wh_strcaseeq(a[i], b[j]);
    if (!found)
      return false;
  }
  for (size_t j = 0; j < nb; j++) {
    bool found = false;
    for (size_t i = 0; i < na && !found; i++)
      found = wh_strcaseeq(a[i], b[j]);
    if (!found)
      return false;
  }
  return true;
}

static ssize_t find_cert_index(const resolver *r, const char *main, const char *const *sans,
                               size_t nsans) {
  for (size_t i = 0; r && i < r->ncerts; i++) {
    const wh_acme_store_cert *c = r->certs[i];
    if (wh_strcaseeq(c->main, main ? main : "") && sans_equal(c->sans, c->nsans, sans, nsans))
      return (ssize_t)i;
  }
  return -1;
}

/* The PEM pair parsed. A decoded value that is not PEM is refused here, as
 * wh_cert_load would take it for a file path. */
static wh_cert *parse_pair(const char *cert_pem, const char *key_pem, char *msg, size_t msglen) {
  if (!strstr(cert_pem, "-----BEGIN")) {
    snprintf(msg, msglen, "certificate is not PEM");
    return NULL;
  }
  if (!strstr(key_pem, "-----BEGIN")) {
    snprintf(msg, msglen, "key is not PEM");
    return NULL;
  }
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(cert_pem, key_pem, &errs);
  if (!c)
    snprintf(msg, msglen, "%s", errs.n ? errs.items[0] : "cannot be parsed");
  wh_errlist_free(&errs);
  return c;
}

/* ---- load ---- */

typedef struct loader {
  wh_acme_store *s;
  const char *path;
  char msg[512]; /* the shape error, when one is found */
  bool oom;
} loader;

static int shape_err(loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shape_err(loader *l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
  va_end(ap);
  return WH_EINVAL;
}

/* A string field: *out a copy ("" when absent or null). */
static int get_string(loader *l, const cJSON *obj, const char *name, const char *where, char **out,
                      bool *present) {
  const cJSON *v = field(obj, name);
  if (present)
    *present = v != NULL;
  if (v && !cJSON_IsString(v))
    return shape_err(l, "%s.%s: expected a string", where, name);
  *out = strdup(v ? v->valuestring : "");
  if (!*out) {
    l->oom = true;
    return WH_ENOMEM;
  }
  return 0;
}

static const char *const ACCOUNT_FIELDS[] = {"Email", "Registration", "PrivateKey", "KeyType",
                                             NULL};
static const char *const REG_FIELDS[] = {"body", "uri", NULL};

static int load_account(loader *l, const cJSON *v, const char *where, wh_acme_store_account **out) {
  *out = NULL;
  if (!cJSON_IsObject(v))
    return shape_err(l, "%s: expected an object", where);
  note_unknown(v, ACCOUNT_FIELDS, where);
  wh_acme_store_account *a = calloc(1, sizeof(*a));
  if (!a) {
    l->oom = true;
    return WH_ENOMEM;
  }
  int rc;
  bool present;
  if ((rc = get_string(l, v, "Email", where, &a->email, NULL)) != 0)
    goto fail;
  const cJSON *reg = field(v, "Registration");
  if (reg) {
    if (!cJSON_IsObject(reg)) {
      rc = shape_err(l, "%s.Registration: expected an object", where);
      goto fail;
    }
    note_unknown(reg, REG_FIELDS, where);
    char *uri = NULL;
    if ((rc = get_string(l, reg, "uri", where, &uri, &present)) != 0)
      goto fail;
    if (*uri)
      a->reg_uri = uri;
    else
      free(uri);
    const cJSON *body = field(reg, "body");
    char bmsg[128];
    bool oom;
    a->reg_body = body ? body_normalize(body, bmsg, sizeof(bmsg), &oom) : strdup("{}");
    if (!a->reg_body) {
      if (!body || oom) {
        l->oom = true;
        rc = WH_ENOMEM;
      } else {
        rc = shape_err(l, "%s.Registration.body: %s", where, bmsg);
      }
      goto fail;
    }
  }
  const cJSON *pk = field(v, "PrivateKey");
  if (pk) {
    if (!cJSON_IsString(pk)) {
      rc = shape_err(l, "%s.PrivateKey: expected a string", where);
      goto fail;
    }
    size_t n;
    bool oom;
    unsigned char *der = b64_decode(pk->valuestring, &n, &oom);
    if (!der) {
      rc = oom ? WH_ENOMEM : shape_err(l, "%s.PrivateKey: not base64", where);
      l->oom = oom;
      goto fail;
    }
    /* re-encoded as Go would write it (no line breaks); "" stays "" */
    a->private_key = b64_encode(der, n);
    OPENSSL_cleanse(der, n);
    free(der);
    if (!a->private_key) {
      l->oom = true;
      rc = WH_ENOMEM;
      goto fail;
    }
  }
  char *kt = NULL;
  if ((rc = get_string(l, v, "KeyType", where, &kt, &present)) != 0)
    goto fail;
  if (present)
    a->key_type = kt;
  else
    free(kt);
  *out = a;
  return 0;
fail:
  account_free(a);
  return rc;
}

static void drop(loader *l, const char *resolver_name, const char *domain, bool debug,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void drop(loader *l, const char *resolver_name, const char *domain, bool debug,
                 const char *fmt, ...) {
  char why[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  wh_errlist_add(&l->s->warnings, "resolver %s: certificate %s: %s", resolver_name,
                 domain && *domain ? domain : "(no domain)", why);
  wh_log(debug ? WH_LOG_DEBUG : WH_LOG_WARN,
         "acme storage %s: resolver %s: dropping certificate %s: %s", l->path, resolver_name,
         domain && *domain ? domain : "(no domain)", why);
}

/* Decodes a base64 PEM value; NULL (with why) when empty or not base64. */
static char *decode_pem(loader *l, const char *b64, const char *what, char *why, size_t whylen,
                        bool *empty) {
  *empty = false;
  if (!*b64) {
    *empty = true;
    snprintf(why, whylen, "%s is empty", what);
    return NULL;
  }
  size_t n;
  bool oom;
  unsigned char *raw = b64_decode(b64, &n, &oom);
  if (!raw) {
    l->oom = oom;
    snprintf(why, whylen, "%s is not base64", what);
    return NULL;
  }
  if (n == 0) {
    *empty = true;
    snprintf(why, whylen, "%s is empty", what);
    free(raw);
    return NULL;
  }
  if (memchr(raw, '\0', n)) {
    snprintf(why, whylen, "%s is not PEM", what);
    OPENSSL_cleanse(raw, n);
    free(raw);
    return NULL;
  }
  return (char *)raw;
}

static const char *const CERT_FIELDS[] = {"domain", "certificate", "key", "Store", NULL};
static const char *const DOMAIN_FIELDS[] = {"main", "sans", NULL};

/* One "Certificates" entry: 0 with *out set, 0 with *out NULL when dropped,
 * or an error for a shape Go's decoder refuses. */
static int load_cert(loader *l, const resolver *r, const cJSON *v, size_t idx,
                     wh_acme_store_cert **out) {
  *out = NULL;
  char where[300];
  snprintf(where, sizeof(where), "%s.Certificates[%zu]", r->name, idx);
  if (cJSON_IsNull(v)) {
    drop(l, r->name, NULL, false, "entry %zu is null", idx);
    return 0;
  }
  if (!cJSON_IsObject(v))
    return shape_err(l, "%s: expected an object", where);
  note_unknown(v, CERT_FIELDS, where);
  wh_acme_store_cert *c = calloc(1, sizeof(*c));
  if (!c) {
    l->oom = true;
    return WH_ENOMEM;
  }
  int rc;
  const cJSON *dom = field(v, "domain");
  if (dom && !cJSON_IsObject(dom)) {
    rc = shape_err(l, "%s.domain: expected an object", where);
    goto fail;
  }
  if (dom)
    note_unknown(dom, DOMAIN_FIELDS, where);
  if ((rc = get_string(l, dom, "main", where, &c->main, NULL)) != 0)
    goto fail;
  const cJSON *sans = field(dom, "sans");
  if (sans) {
    if (!cJSON_IsArray(sans)) {
      rc = shape_err(l, "%s.domain.sans: expected an array", where);
      goto fail;
    }
    size_t n = (size_t)cJSON_GetArraySize(sans);
    c->sans = n ? calloc(n, sizeof(char *)) : NULL;
    if (n && !c->sans)
      goto nomem;
    for (const cJSON *e = sans->child; e; e = e->next) {
      if (!cJSON_IsString(e) && !cJSON_IsNull(e)) {
        rc = shape_err(l, "%s.domain.sans: expected strings", where);
        goto fail;
      }
      if (!(c->sans[c->nsans] = strdup(cJSON_IsString(e) ? e->valuestring : "")))
        goto nomem;
      c->nsans++;
    }
  }
  char *cert_b64 = NULL, *key_b64 = NULL;
  if ((rc = get_string(l, v, "certificate", where, &cert_b64, NULL)) != 0)
    goto fail;
  if ((rc = get_string(l, v, "key", where, &key_b64, NULL)) != 0) {
    free(cert_b64);
    goto fail;
  }
  if ((rc = get_string(l, v, "Store", where, &c->store, NULL)) != 0) {
    free(cert_b64);
    free(key_b64);
    goto fail;
  }
  char why[256];
  bool empty_cert, empty_key;
  c->cert_pem = decode_pem(l, cert_b64, "certificate", why, sizeof(why), &empty_cert);
  if (c->cert_pem)
    c->key_pem = decode_pem(l, key_b64, "key", why, sizeof(why), &empty_key);
  OPENSSL_cleanse(key_b64, strlen(key_b64));
  free(cert_b64);
  free(key_b64);
  if (l->oom)
    goto nomem;
  if (!c->cert_pem || !c->key_pem) {
    /* Traefik drops empty entries quietly (debug); anything else is news */
    drop(l, r->name, c->main, c->cert_pem ? empty_key : empty_cert, "%s", why);
    cert_free(c);
    return 0;
  }
  if (!(c->parsed = parse_pair(c->cert_pem, c->key_pem, why, sizeof(why)))) {
    drop(l, r->name, c->main, false, "%s", why);
    cert_free(c);
    return 0;
  }
  *out = c;
  return 0;
nomem:
  l->oom = true;
  rc = WH_ENOMEM;
fail:
  cert_free(c);
  return rc;
}

static const char *const RESOLVER_FIELDS[] = {"Account", "Certificates", NULL};

static int load_resolver(loader *l, const cJSON *v) {
  resolver *r = add_resolver(l->s, v->string);
  if (!r) {
    l->oom = true;
    return WH_ENOMEM;
  }
  /* a repeated key replaces the earlier value, as in a Go map */
  account_free(r->account);
  r->account = NULL;
  for (size_t i = 0; i < r->ncerts; i++)
    cert_free(r->certs[i]);
  r->ncerts = 0;
  r->certs_array = r->null_entry = false;
  if (cJSON_IsNull(v)) {
    r->null_entry = true;
    return 0;
  }
  if (!cJSON_IsObject(v))
    return shape_err(l, "%s: expected an object", r->name);
  note_unknown(v, RESOLVER_FIELDS, r->name);
  int rc;
  const cJSON *acc = field(v, "Account");
  if (acc) {
    char where[300];
    snprintf(where, sizeof(where), "%s.Account", r->name);
    if ((rc = load_account(l, acc, where, &r->account)) != 0)
      return rc;
  }
  const cJSON *certs = field(v, "Certificates");
  if (!certs)
    return 0;
  if (!cJSON_IsArray(certs))
    return shape_err(l, "%s.Certificates: expected an array", r->name);
  r->certs_array = true;
  size_t idx = 0;
  bool dropped = false;
  for (const cJSON *e = certs->child; e; e = e->next, idx++) {
    wh_acme_store_cert *c;
    if ((rc = load_cert(l, r, e, idx, &c)) != 0)
      return rc;
    if (!c) {
      dropped = true;
      continue;
    }
    if (resolver_append(r, c) != 0) {
      cert_free(c);
      l->oom = true;
      return WH_ENOMEM;
    }
  }
  /* Traefik rebuilds the list from nil when it drops entries */
  if (dropped && r->ncerts == 0)
    r->certs_array = false;
  return 0;
}

/* line:column of a byte offset, for a message an operator can act on */
static void position(const char *buf, size_t off, size_t *line, size_t *col) {
  *line = 1, *col = 1;
  for (size_t i = 0; i < off; i++) {
    if (buf[i] == '\n')
      (*line)++, *col = 1;
    else
      (*col)++;
  }
}

static int load_fail(wh_acme_store *s, int rc, char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int load_fail(wh_acme_store *s, int rc, char *errbuf, size_t errlen, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  store_clear(s);
  /* entries dropped before the refusal are moot: nothing of the file is used */
  wh_errlist_free(&s->warnings);
  wh_errlist_init(&s->warnings);
  s->read_only = true;
  free(s->error);
  s->error = strdup(msg);
  set_err(errbuf, errlen, "%s", msg);
  return rc;
}

static int read_all(int fd, size_t size_hint, char **out, size_t *outlen) {
  size_t cap = size_hint + 1, len = 0;
  char *buf = malloc(cap + 1);
  if (!buf)
    return WH_ENOMEM;
  for (;;) {
    if (len == cap) {
      if (cap >= STORE_FILE_MAX) {
        free(buf);
        errno = EFBIG;
        return WH_EIO;
      }
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb) {
        free(buf);
        return WH_ENOMEM;
      }
      buf = nb;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      free(buf);
      errno = e;
      return WH_EIO;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  *out = buf;
  *outlen = len;
  return 0;
}

int wh_acme_store_load(const char *path, wh_acme_store **out, char *errbuf, size_t errlen) {
  wh_acme_store *s = wh_acme_store_new();
  *out = s;
  if (!s) {
    set_err(errbuf, errlen, "acme storage %s: out of memory", path);
    return WH_ENOMEM;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0; /* created on first save */
    return load_fail(s, WH_EIO, errbuf, errlen, "acme storage %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return load_fail(s, WH_EIO, errbuf, errlen, "acme storage %s: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return load_fail(s, WH_EINVAL, errbuf, errlen, "acme storage %s: not a regular file", path);
  }
  /* Traefik's rule and words (local_store_unix.go CheckFile) */
  if (st.st_mode & 077) {
    close(fd);
    return load_fail(s, WH_EINVAL, errbuf, errlen,
                     "permissions %o for %s are too open, please use 600",
                     (unsigned)(st.st_mode & 0777), path);
  }
  char *buf = NULL;
  size_t len = 0;
  int rc = read_all(
      fd, st.st_size > 0 && (size_t)st.st_size < STORE_FILE_MAX ? (size_t)st.st_size : 4096, &buf,
      &len);
  int e = errno;
  close(fd);
  if (rc == WH_ENOMEM)
    return load_fail(s, rc, errbuf, errlen, "acme storage %s: out of memory", path);
  if (rc != 0)
    return load_fail(s, rc, errbuf, errlen, "acme storage %s: %s", path,
                     e == EFBIG ? "larger than 64 MiB" : strerror(e));
  if (len == 0) {
    free(buf);
    return 0; /* Traefik creates the file empty */
  }
  if (memchr(buf, '\0', len)) {
    free(buf);
    return load_fail(s, WH_EINVAL, errbuf, errlen,
                     "acme storage %s: corrupt: contains a NUL byte; the file is left as it "
                     "is and will not be written",
                     path);
  }
  const char *end = NULL;
  /* len + 1: the terminating NUL proves nothing follows the value */
  cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
  if (!root) {
    size_t line, col;
    size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : len;
    position(buf, off, &line, &col);
    free(buf);
    return load_fail(s, WH_EINVAL, errbuf, errlen,
                     "acme storage %s: corrupt: invalid JSON at line %zu, column %zu; the "
                     "file is left as it is and will not be written",
                     path, line, col);
  }
  free(buf);
  loader l = {.s = s, .path = path};
  rc = 0;
  if (cJSON_IsObject(root)) {
    for (const cJSON *v = root->child; v && rc == 0; v = v->next)
      rc = load_resolver(&l, v);
  } else if (!cJSON_IsNull(root)) {
    rc = shape_err(&l, "expected an object keyed by resolver name");
  }
  cJSON_Delete(root);
  if (l.oom)
    return load_fail(s, WH_ENOMEM, errbuf, errlen, "acme storage %s: out of memory", path);
  if (rc != 0)
    return load_fail(s, WH_EINVAL, errbuf, errlen,
                     "acme storage %s: corrupt: %s; the file is left as it is and will not be "
                     "written",
                     path, l.msg);
  return 0;
}

/* ---- serialise ---- */

static void write_account(gw *w, const wh_acme_store_account *a, int depth) {
  if (!a) {
    gw_puts(w, "null");
    return;
  }
  bool first = true;
  gw_put(w, "{", 1);
  gw_key(w, depth + 1, &first, "Email");
  gw_string(w, a->email);
  gw_key(w, depth + 1, &first, "Registration");
  if (a->reg_body || a->reg_uri) {
    bool rfirst = true;
    gw_put(w, "{", 1);
    gw_key(w, depth + 2, &rfirst, "body");
    gw_json_text(w, a->reg_body ? a->reg_body : "{}", depth + 2);
    if (a->reg_uri && *a->reg_uri) {
      gw_key(w, depth + 2, &rfirst, "uri");
      gw_string(w, a->reg_uri);
    }
    gw_nl(w, depth + 1);
    gw_put(w, "}", 1);
  } else {
    gw_puts(w, "null");
  }
  gw_key(w, depth + 1, &first, "PrivateKey");
  if (a->private_key) /* Go: a nil []byte is null, an empty one "" */
    gw_string(w, a->private_key);
  else
    gw_puts(w, "null");
  if (a->key_type) {
    gw_key(w, depth + 1, &first, "KeyType");
    gw_string(w, a->key_type);
  }
  gw_nl(w, depth);
  gw_put(w, "}", 1);
}

static void write_b64(gw *w, const char *s) {
  char *b = b64_encode((const unsigned char *)s, strlen(s));
  if (!b) {
    w->oom = true;
    return;
  }
  gw_string(w, b);
  OPENSSL_cleanse(b, strlen(b));
  free(b);
}

static void write_cert(gw *w, const wh_acme_store_cert *c, int depth) {
  bool first = true;
  gw_put(w, "{", 1);
  gw_key(w, depth + 1, &first, "domain");
  /* types.Domain: main and sans are omitempty */
  bool dfirst = true;
  gw_put(w, "{", 1);
  if (c->main && *c->main) {
    gw_key(w, depth + 2, &dfirst, "main");
    gw_string(w, c->main);
  }
  if (c->nsans) {
    gw_key(w, depth + 2, &dfirst, "sans");
    gw_put(w, "[", 1);
    for (size_t i = 0; i < c->nsans; i++) {
      if (i)
        gw_put(w, ",", 1);
      gw_nl(w, depth + 3);
      gw_string(w, c->sans[i]);
    }
    gw_nl(w, depth + 2);
    gw_put(w, "]", 1);
  }
  if (!dfirst)
    gw_nl(w, depth + 1);
  gw_put(w, "}", 1);
  /* certificate and key are omitempty; stored entries never are empty */
  gw_key(w, depth + 1, &first, "certificate");
  write_b64(w, c->cert_pem);
  gw_key(w, depth + 1, &first, "key");
  write_b64(w, c->key_pem);
  gw_key(w, depth + 1, &first, "Store");
  gw_string(w, c->store);
  gw_nl(w, depth);
  gw_put(w, "}", 1);
}

static void write_resolver(gw *w, const resolver *r, int depth) {
  if (r->null_entry) {
    gw_puts(w, "null");
    return;
  }
  bool first = true;
  gw_put(w, "{", 1);
  gw_key(w, depth + 1, &first, "Account");
  write_account(w, r->account, depth + 1);
  gw_key(w, depth + 1, &first, "Certificates");
  if (r->ncerts == 0) {
    gw_puts(w, r->certs_array ? "[]" : "null");
  } else {
    gw_put(w, "[", 1);
    for (size_t i = 0; i < r->ncerts; i++) {
      if (i)
        gw_put(w, ",", 1);
      gw_nl(w, depth + 2);
      write_cert(w, r->certs[i], depth + 2);
    }
    gw_nl(w, depth + 1);
    gw_put(w, "]", 1);
  }
  gw_nl(w, depth);
  gw_put(w, "}", 1);
}

static int cmp_resolver(const void *a, const void *b) {
  /* Go sorts map keys bytewise */
  return strcmp((*(resolver *const *)a)->name, (*(resolver *const *)b)->name);
}

char *wh_acme_store_to_json(const wh_acme_store *s) {
  resolver **sorted = NULL;
  if (s->nres) {
    sorted = malloc(s->nres * sizeof(*sorted));
    if (!sorted)
      return NULL;
    memcpy(sorted, s->res, s->nres * sizeof(*sorted));
    qsort(sorted, s->nres, sizeof(*sorted), cmp_resolver);
  }
  gw w = {0};
  bool first = true;
  gw_put(&w, "{", 1);
  for (size_t i = 0; i < s->nres; i++) {
    gw_key(&w, 1, &first, sorted[i]->name);
    write_resolver(&w, sorted[i], 1);
  }
  if (!first)
    gw_nl(&w, 0);
  gw_put(&w, "}", 1);
  free(sorted);
  if (w.oom) {
    if (w.b.data)
      OPENSSL_cleanse(w.b.data, w.b.len);
    wh_strbuf_free(&w.b);
    return NULL;
  }
  return wh_strbuf_take(&w.b);
}

/* ---- save ---- */

static int write_full(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w, n -= (size_t)w;
  }
  return 0;
}

/* Rewrites target where it is: for a file that cannot be replaced by rename
 * (a bind mount), which is how Traefik always writes. */
static int write_in_place(const char *target, const char *doc, size_t len) {
  int fd = open(target, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  int rc = fchmod(fd, 0600) == 0 && write_full(fd, doc, len) == 0 && fsync(fd) == 0 ? 0 : -1;
  int e = errno;
  if (close(fd) != 0 && rc == 0)
    return -1;
  errno = e;
  return rc;
}

int wh_acme_store_save(const wh_acme_store *s, const char *path, char *errbuf, size_t errlen) {
  if (s->read_only) {
    set_err(errbuf, errlen,
            "acme storage %s: not written: it was loaded from a file that was refused (%s)", path,
            s->error ? s->error : "unknown error");
    return WH_EINVAL;
  }
  char *doc = wh_acme_store_to_json(s);
  if (!doc) {
    set_err(errbuf, errlen, "acme storage %s: out of memory", path);
    return WH_ENOMEM;
  }
  size_t len = strlen(doc);
  int rc = WH_EIO;
  char *target = NULL, *tmp = NULL;
  int fd = -1;
  const char *step = "write";

  /* Replacing a symlink would cut it from its target (a mounted secret, a
   * shared volume): write next to the target instead. */
  struct stat lst;
  if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
    target = realpath(path, NULL);
  if (!target && !(target = strdup(path)))
    goto nomem;
  const char *slash = strrchr(target, '/');
  const char *base = slash ? slash + 1 : target;
  int dirlen = slash ? (slash == target ? 1 : (int)(slash - target)) : 1;
  const char *dir = slash ? target : ".";
  if (!(tmp = wh_asprintf("%.*s/.%s.tmp-XXXXXX", dirlen, dir, base)))
    goto nomem;
  if (slash == target) /* "/acme.json": "/" + "/.acme..." would double the slash */
    memmove(tmp + 1, tmp + 2, strlen(tmp + 2) + 1);

  step = "create temporary file";
  if ((fd = mkstemp(tmp)) < 0) {
    free(tmp);
    tmp = NULL;
    goto ioerr;
  }
  step = "write";
  if (fchmod(fd, 0600) != 0 || write_full(fd, doc, len) != 0)
    goto ioerr;
  step = "fsync";
  if (fsync(fd) != 0)
    goto ioerr;
  step = "close";
  int cfd = fd;
  fd = -1;
  if (close(cfd) != 0)
    goto ioerr;
  step = "rename";
  if (rename(tmp, target) != 0) {
    if (errno != EBUSY && errno != EXDEV)
      goto ioerr;
    wh_log_warn("acme storage %s: cannot be replaced atomically (%s: a bind-mounted file?); "
                "rewriting it in place",
                target, strerror(errno));
    step = "write in place";
    if (write_in_place(target, doc, len) != 0)
      goto ioerr;
    unlink(tmp);
  }
  free(tmp);
  tmp = NULL;
  /* the rename itself must reach the disk, or a crash can bring back the old file */
  char *dpath = wh_asprintf("%.*s", dirlen, dir);
  if (dpath) {
    int dfd = open(dpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      if (fsync(dfd) != 0 && errno != EINVAL)
        wh_log_debug("acme storage %s: fsync of the directory: %s", target, strerror(errno));
      close(dfd);
    }
    free(dpath);
  }
  rc = 0;
  goto out;
nomem:
  rc = WH_ENOMEM;
  set_err(errbuf, errlen, "acme storage %s: out of memory", path);
  goto out;
ioerr:
  set_err(errbuf, errlen, "acme storage %s: %s: %s; the file is unchanged", path, step,
          strerror(errno));
  rc = WH_EIO;
out:
  if (fd >= 0)
    close(fd);
  if (tmp)
    unlink(tmp);
  free(tmp);
  free(target);
  OPENSSL_cleanse(doc, len);
  free(doc);
  return rc;
}

/* ---- accessors ---- */

bool wh_acme_store_read_only(const wh_acme_store *s) {
  return s->read_only;
}

const char *wh_acme_store_error(const wh_acme_store *s) {
  return s->error;
}

const wh_errlist *wh_acme_store_warnings(const wh_acme_store *s) {
  return &s->warnings;
}

size_t wh_acme_store_resolver_count(const wh_acme_store *s) {
  return s->nres;
}

const char *wh_acme_store_resolver_name(const wh_acme_store *s, size_t i) {
  return i < s->nres ? s->res[i]->name : NULL;
}

const wh_acme_store_account *wh_acme_store_get_account(const wh_acme_store *s,
                                                       const char *resolver_name) {
  const resolver *r = find_resolver(s, resolver_name);
  return r ? r->account : NULL;
}

int wh_acme_store_set_account(wh_acme_store *s, const char *resolver_name,
                              const wh_acme_store_account *a, char *errbuf, size_t errlen) {
  if (!resolver_name) {
    set_err(errbuf, errlen, "acme storage: no resolver name");
    return WH_EINVAL;
  }
  wh_acme_store_account *copy = NULL;
  if (a) {
    if (!(copy = calloc(1, sizeof(*copy))))
      return WH_ENOMEM;
    bool oom = false;
    if (!(copy->email = strdup(a->email ? a->email : "")))
      oom = true;
    if (a->reg_uri && *a->reg_uri && !(copy->reg_uri = strdup(a->reg_uri)))
      oom = true;
    if (a->key_type && !(copy->key_type = strdup(a->key_type)))
      oom = true;
    if (!oom && a->reg_body) {
      cJSON *body = cJSON_Parse(a->reg_body);
      char msg[128];
      if (!body) {
        account_free(copy);
        set_err(errbuf, errlen, "acme storage: resolver %s: registration body is not JSON",
                resolver_name);
        return WH_EINVAL;
      }
      copy->reg_body = body_normalize(body, msg, sizeof(msg), &oom);
      cJSON_Delete(body);
      if (!copy->reg_body && !oom) {
        account_free(copy);
        set_err(errbuf, errlen, "acme storage: resolver %s: registration body %s", resolver_name,
                msg);
        return WH_EINVAL;
      }
    }
    if (!oom && !a->reg_body && copy->reg_uri && !(copy->reg_body = strdup("{}")))
      oom = true;
    if (!oom && a->private_key) {
      size_t n;
      unsigned char *der = b64_decode(a->private_key, &n, &oom);
      if (!der && !oom) {
        account_free(copy);
        set_err(errbuf, errlen, "acme storage: resolver %s: private key is not base64",
                resolver_name);
        return WH_EINVAL;
      }
      if (der) {
        if (!(copy->private_key = b64_encode(der, n)))
          oom = true;
        OPENSSL_cleanse(der, n);
        free(der);
      }
    }
    if (oom) {
      account_free(copy);
      return WH_ENOMEM;
    }
  }
  resolver *r = add_resolver(s, resolver_name);
  if (!r) {
    account_free(copy);
    return WH_ENOMEM;
  }
  account_free(r->account);
  r->account = copy;
  r->null_entry = false;
  return 0;
}

size_t wh_acme_store_cert_count(const wh_acme_store *s, const char *resolver_name) {
  const resolver *r = find_resolver(s, resolver_name);
  return r ? r->ncerts : 0;
}

const wh_acme_store_cert *wh_acme_store_cert_at(const wh_acme_store *s, const char *resolver_name,
                                                size_t i) {
  const resolver *r = find_resolver(s, resolver_name);
  return r && i < r->ncerts ? r->certs[i] : NULL;
}

const wh_acme_store_cert *wh_acme_store_find_cert(const wh_acme_store *s, const char *resolver_name,
                                                  const char *main, const char *const *sans,
                                                  size_t nsans) {
  const resolver *r = find_resolver(s, resolver_name);
  ssize_t i = find_cert_index(r, main, sans, nsans);
  return i >= 0 ? r->certs[i] : NULL;
}

int wh_acme_store_put_cert(wh_acme_store *s, const char *resolver_name, const char *main,
                           const char *const *sans, size_t nsans, const char *cert_pem,
                           const char *key_pem, const char *store, char *errbuf, size_t errlen) {
  if (!resolver_name || !cert_pem || !key_pem || !*cert_pem || !*key_pem) {
    set_err(errbuf, errlen, "acme storage: a certificate needs a resolver, a PEM and a key");
    return WH_EINVAL;
  }
  char why[256];
  wh_cert *parsed = parse_pair(cert_pem, key_pem, why, sizeof(why));
  if (!parsed) {
    set_err(errbuf, errlen, "acme storage: resolver %s: certificate %s: %s", resolver_name,
            main ? main : "", why);
    return WH_EINVAL;
  }
  wh_acme_store_cert *c = calloc(1, sizeof(*c));
  if (!c) {
    wh_cert_unref(parsed);
    return WH_ENOMEM;
  }
  c->parsed = parsed;
  bool oom = !(c->main = strdup(main ? main : "")) ||
             !(c->store = strdup(store ? store : "default")) || !(c->cert_pem = strdup(cert_pem)) ||
             !(c->key_pem = strdup(key_pem));
  if (!oom && nsans) {
    if (!(c->sans = calloc(nsans, sizeof(char *))))
      oom = true;
    for (size_t i = 0; !oom && i < nsans; i++, c->nsans++)
      if (!(c->sans[i] = strdup(sans[i] ? sans[i] : "")))
        oom = true;
  }
  resolver *r = oom ? NULL : add_resolver(s, resolver_name);
  if (!r) {
    cert_free(c);
    return WH_ENOMEM;
  }
  ssize_t i = find_cert_index(r, main, sans, nsans);
  if (i >= 0) {
    cert_free(r->certs[i]);
    r->certs[i] = c;
  } else if (resolver_append(r, c) != 0) {
    cert_free(c);
    return WH_ENOMEM;
  }
  r->certs_array = true;
  r->null_entry = false;
  return 0;
}

int wh_acme_store_remove_cert(wh_acme_store *s, const char *resolver_name, const char *main,
                              const char *const *sans, size_t nsans) {
  resolver *r = find_resolver(s, resolver_name);
  ssize_t i = find_cert_index(r, main, sans, nsans);
  if (i < 0)
    return WH_ENOENT;
  cert_free(r->certs[i]);
  memmove(r->certs + i, r->certs + i + 1, (r->ncerts - (size_t)i - 1) * sizeof(*r->certs));
  r->ncerts--;
  return 0;
}
