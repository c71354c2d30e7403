#include "lib/lb/sticky.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"

static bool digest_hex(const EVP_MD *type, const char *a, const char *b, char *out, size_t nhex) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, type, NULL) && EVP_DigestUpdate(ctx, a, strlen(a)) &&
            (!b || EVP_DigestUpdate(ctx, b, strlen(b))) && EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  if (!ok || nhex > 2 * (size_t)mdlen) {
    out[0] = '\0';
    return false;
  }
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < nhex; i++)
    out[i] = hex[(md[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
  out[nhex] = '\0';
  return true;
}

/* RFC 2616 token characters, the set Traefik's sanitizeName keeps. */
static bool token_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c && strchr("!#$%&'*+-.^`|~", c) != NULL;
}

char *wh_lb_sticky_name(const char *configured, const char *service) {
  if (configured && *configured) {
    char *n = wh_strdup(configured);
    if (!n)
      return NULL;
    for (char *p = n; *p; p++)
      if (!token_char((unsigned char)*p))
        *p = '_';
    return n;
  }
  char hex[6];
  if (!digest_hex(EVP_sha1(), "_TRAEFIK_BACKEND_", service ? service : "", hex, 5))
    return NULL;
  return wh_asprintf("_%s", hex);
}

void wh_lb_sticky_value(const char *url, char out[17]) {
  digest_hex(EVP_sha256(), url, NULL, out, 16);
}

void wh_lb_sticky_legacy_value(const char *url, char out[17]) {
  uint64_t h = 14695981039346656037ull;
  for (const char *p = url; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  snprintf(out, 17, "%llx", (unsigned long long)h);
}

static bool cookie_value_byte(unsigned char c) {
  return c >= 0x20 && c < 0x7f && c != '"' && c != ';' && c != '\\';
}

static bool is_space(char c) {
  return c == ' ' || c == '\t';
}

const char *wh_lb_cookie_get(const char *header, const char *name, size_t *len) {
  if (!header || !name || !*name)
    return NULL;
  size_t nl = strlen(name);
  const char *p = header;
  while (*p) {
    const char *end = strchr(p, ';');
    if (!end)
      end = p + strlen(p);
    const char *a = p, *b = end;
    while (a < b && is_space(*a))
      a++;
    while (b > a && is_space(b[-1]))
      b--;
    p = *end ? end + 1 : end;
    const char *eq = memchr(a, '=', (size_t)(b - a));
    const char *n_end = eq ? eq : b;
    if ((size_t)(n_end - a) != nl || memcmp(a, name, nl) != 0)
      continue;
    const char *v = eq ? eq + 1 : b, *ve = b;
    if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
      v++;
      ve--;
    }
    bool ok = true;
    for (const char *q = v; q < ve && ok; q++)
      ok = cookie_value_byte((unsigned char)*q);
    /* Go also refuses a value with a leading or trailing space (it would
     * have been trimmed, so only quoted values can have one). */
    if (ok && ve > v && (v[0] == ' ' || ve[-1] == ' '))
      ok = false;
    if (!ok)
      continue;
    *len = (size_t)(ve - v);
    return v;
  }
  return NULL;
}

/* Go's sanitizeCookiePath: drops ';' and control bytes. */
static void put_path(wh_strbuf *b, const char *path) {
  wh_strbuf_puts(b, "; Path=");
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p >= 0x20 && *p != 0x7f && *p != ';')
      wh_strbuf_putc(b, *p);
}

static bool valid_domain(const char *d) {
  if (!*d || strlen(d) > 255)
    return false;
  for (const char *p = d; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_'))
      return false;
  }
  return true;
}

char *wh_lb_sticky_set_cookie(const char *name, const char *value, const wh_cookie *cfg) {
  wh_strbuf b = {0};
  wh_strbuf_printf(&b, "%s=%s", name, value);
  const char *path = cfg ? cfg->path : "/";
  if (path && *path)
    put_path(&b, path);
  if (cfg && cfg->domain && *cfg->domain) {
    /* Go drops one leading dot and omits an invalid domain altogether. */
    const char *d = cfg->domain[0] == '.' ? cfg->domain + 1 : cfg->domain;
    if (valid_domain(d))
      wh_strbuf_printf(&b, "; Domain=%s", d);
  }
  if (cfg && cfg->max_age > 0)
    wh_strbuf_printf(&b, "; Max-Age=%lld", (long long)cfg->max_age);
  else if (cfg && cfg->max_age < 0)
    wh_strbuf_puts(&b, "; Max-Age=0");
  if (cfg && cfg->http_only)
    wh_strbuf_puts(&b, "; HttpOnly");
  if (cfg && cfg->secure)
    wh_strbuf_puts(&b, "; Secure");
  if (cfg && cfg->same_site) {
    if (strcasecmp(cfg->same_site, "none") == 0)
      wh_strbuf_puts(&b, "; SameSite=None");
    else if (strcasecmp(cfg->same_site, "lax") == 0)
      wh_strbuf_puts(&b, "; SameSite=Lax");
    else if (strcasecmp(cfg->same_site, "strict") == 0)
      wh_strbuf_puts(&b, "; SameSite=Strict");
  }
  return wh_strbuf_take(&b);
}
