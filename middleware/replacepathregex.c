#include "middleware/replacepathregex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"
#include "middleware/replacepath.h"

static int replacepathregex_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_replacepathregex_conf *c = obj;
  return wh_mw_check_regex(errs, path, "regex", c->regex ? c->regex : "") ? WH_EINVAL : 0;
}

static const wh_field replacepathregex_fields[] = {
    WH_MW_FIELD(wh_mw_replacepathregex_conf, regex, "regex", WH_F_STRING),
    WH_MW_FIELD(wh_mw_replacepathregex_conf, replacement, "replacement", WH_F_STRING),
};

static const wh_schema replacepathregex_schema = {
    .name = "replacePathRegex",
    .size = sizeof(wh_mw_replacepathregex_conf),
    .fields = replacepathregex_fields,
    .nfields = WH_MW_NFIELDS(replacepathregex_fields),
    .validate = replacepathregex_validate,
};

/* ---- compiled patterns ---- */

/* The same bounds lib/rules puts on routing regexps: Go's engine is linear,
 * PCRE2 backtracks, so a pathological pattern must stop, not spin. */
enum { RE_MATCH_LIMIT = 200000, RE_DEPTH_LIMIT = 5000, RE_HEAP_LIMIT_KIB = 8192 };
enum { RE_CACHE_SLOTS = 128 };

typedef struct re_slot {
  char *pattern; /* trimmed text, the key */
  pcre2_code *code;
} re_slot;

/* Append-only: a slot is filled before the count that publishes it, and
 * never changes or goes away, so readers need no lock. */
static re_slot re_cache[RE_CACHE_SLOTS];
static atomic_size_t re_count;
static pthread_mutex_t re_fill = PTHREAD_MUTEX_INITIALIZER;
static pcre2_match_context *re_mctx;
static pthread_once_t re_once = PTHREAD_ONCE_INIT;

static void re_init(void) {
  re_mctx = pcre2_match_context_create(NULL);
  if (re_mctx) {
    pcre2_set_match_limit(re_mctx, RE_MATCH_LIMIT);
    pcre2_set_depth_limit(re_mctx, RE_DEPTH_LIMIT);
    pcre2_set_heap_limit(re_mctx, RE_HEAP_LIMIT_KIB);
  }
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *n) {
  *n = strlen(*s);
  while (*n && is_blank(**s)) {
    (*s)++;
    (*n)--;
  }
  while (*n && is_blank((*s)[*n - 1]))
    (*n)--;
}

static pcre2_code *re_compile(const char *pat, size_t n) {
  int ec;
  PCRE2_SIZE eo;
  uint32_t opts =
      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, n, opts, &ec, &eo, NULL);
  if (!code) {
    static _Atomic bool logged;
    if (!atomic_exchange(&logged, true)) {
      PCRE2_UCHAR msg[160];
      pcre2_get_error_message(ec, msg, sizeof msg);
      wh_log_error("path regex \"%.*s\" does not compile: %s; answering 500", (int)n, pat,
                   (const char *)msg);
    }
    return NULL;
  }
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* an optimisation only */
  return code;
}

/* The compiled pattern; *owned when it is a private copy the caller frees
 * (cache full). NULL when it does not compile or on OOM. */
static pcre2_code *re_get(const char *pattern, bool *owned) {
  pthread_once(&re_once, re_init);
  *owned = false;
  size_t n;
  trim(&pattern, &n);
  size_t have = atomic_load_explicit(&re_count, memory_order_acquire);
  for (size_t i = 0; i < have; i++)
    if (strlen(re_cache[i].pattern) == n && memcmp(re_cache[i].pattern, pattern, n) == 0)
      return re_cache[i].code;
  pcre2_code *code = re_compile(pattern, n);
  if (!code)
    return NULL;
  pthread_mutex_lock(&re_fill);
  have = atomic_load_explicit(&re_count, memory_order_relaxed);
  for (size_t i = 0; i < have; i++)
    if (strlen(re_cache[i].pattern) == n && memcmp(re_cache[i].pattern, pattern, n) == 0) {
      pthread_mutex_unlock(&re_fill);
      pcre2_code_free(code); /* another worker got there first */
      return re_cache[i].code;
    }
  char *key = have < RE_CACHE_SLOTS ? wh_strndup(pattern, n) : NULL;
  if (key) {
    re_cache[have] = (re_slot){key, code};
    atomic_store_explicit(&re_count, have + 1, memory_order_release);
  } else {
    *owned = true;
  }
  pthread_mutex_unlock(&re_fill);
  return code;
}

static void re_put(pcre2_code *code, bool owned) {
  if (owned)
    pcre2_code_free(code);
}

/* 1 matched, 0 not, -1 error (limits: fail closed). */
static int re_exec(const pcre2_code *code, const char *s, size_t len, size_t start,
                   pcre2_match_data *md) {
  int rc = pcre2_match(code, (PCRE2_SPTR)s, len, start, 0, md, re_mctx);
  if (rc == PCRE2_ERROR_NOMATCH)
    return 0;
  if (rc < 0) {
    static _Atomic bool logged;
    if (!atomic_exchange(&logged, true))
      wh_log_error("path regex: match failed (PCRE2 error %d, e.g. a backtracking limit); "
                   "answering 500",
                   rc);
    return -1;
  }
  return 1;
}

int wh_mw_regex_find(const char *pattern, const char *subject, size_t len, size_t *so, size_t *eo) {
  bool owned;
  pcre2_code *code = re_get(pattern, &owned);
  if (!code)
    return -1;
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  int rc = md ? re_exec(code, subject, len, 0, md) : -1;
  if (rc == 1) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *so = ov[0];
    *eo = ov[1];
  }
  pcre2_match_data_free(md);
  re_put(code, owned);
  return rc;
}

static bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A buffer that remembers a failed append: a result cut short by OOM must
 * never be taken for the rewritten path. */
typedef struct out_buf {
  wh_strbuf b;
  bool oom;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
  if (wh_strbuf_append(&o->b, s, n) < 0)
    o->oom = true;
}

static void append_group(out_buf *o, const char *s, const PCRE2_SIZE *ov, uint32_t npairs,
                         long num) {
  if (num < 0 || (uint32_t)num >= npairs || ov[2 * num] == PCRE2_UNSET)
    return;
  put(o, s + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
}

/* Go's Regexp.expand: "$$" is '$', "$name"/"${name}" a group (numeric names
 * by index, no leading zeros), anything malformed a literal '$'; a group
 * that does not exist or did not take part expands to nothing. */
static void expand(out_buf *b, const pcre2_code *code, const char *t, const char *s,
                   const PCRE2_SIZE *ov, uint32_t npairs) {
  while (*t) {
    const char *d = strchr(t, '$');
    if (!d) {
      put(b, t, strlen(t));
      return;
    }
    put(b, t, (size_t)(d - t));
    t = d + 1;
    if (*t == '$') {
      put(b, "$", 1);
      t++;
      continue;
    }
    bool brace = *t == '{';
    const char *name = t + brace;
    size_t n = 0;
    while (name_char(name[n]))
      n++;
    if (n == 0 || (brace && name[n] != '}')) {
      put(b, "$", 1);
      continue;
    }
    t = name + n + brace;
    long num = 0;
    for (size_t i = 0; i < n && num >= 0; i++)
      num = name[i] >= '0' && name[i] <= '9' && num < 100000000 ? num * 10 + (name[i] - '0') : -1;
    if (name[0] == '0' && n > 1)
      num = -1;
    if (num < 0) {
      char key[128];
      if (n >= sizeof key)
        continue;
      memcpy(key, name, n);
      key[n] = '\0';
      int idx = pcre2_substring_number_from_name(code, (PCRE2_SPTR)key);
      num = idx > 0 ? idx : -1;
    }
    append_group(b, s, ov, npairs, num);
  }
}

/* Bytes of the UTF-8 sequence at s (1 for an invalid byte, as Go steps). */
static size_t utf8_width(const unsigned char *s, size_t left) {
  if (left == 0)
    return 0;
  size_t w = s[0] < 0x80             ? 1
             : (s[0] & 0xe0) == 0xc0 ? 2
             : (s[0] & 0xf0) == 0xe0 ? 3
             : (s[0] & 0xf8) == 0xf0 ? 4
                                     : 1;
  if (w > left)
    return 1;
  for (size_t i = 1; i < w; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 1;
  return w;
}

int wh_mw_regex_replace_all(const char *pattern, const char *subject, const char *templ,
                            char **out) {
  *out = NULL;
  bool owned;
  pcre2_code *code = re_get(pattern, &owned);
  if (!code)
    return -1;
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
  if (!md) {
    re_put(code, owned);
    return -1;
  }
  uint32_t npairs = pcre2_get_ovector_count(md);
  const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
  size_t len = strlen(subject), search = 0, last_end = 0;
  out_buf b = {{0}, false};
  put(&b, "", 0);
  int rc = 0;
  /* Go's Regexp.replaceAll, step for step (empty matches included). */
  while (search <= len) {
    int m = re_exec(code, subject, len, search, md);
    if (m <= 0) {
      if (m < 0)
        rc = -1;
      break;
    }
    rc = 1;
    put(&b, subject + last_end, ov[0] - last_end);
    if (ov[1] > last_end || ov[0] == 0)
      expand(&b, code, templ, subject, ov, npairs);
    last_end = ov[1];
    size_t w = utf8_width((const unsigned char *)subject + search, len - search);
    if (search + w > ov[1])
      search += w;
    else if (search + 1 > ov[1])
      search++;
    else
      search = ov[1];
  }
  if (rc == 1)
    put(&b, subject + last_end, len - last_end);
  pcre2_match_data_free(md);
  re_put(code, owned);
  if (rc == 1 && !b.oom)
    *out = wh_strbuf_take(&b.b);
  wh_strbuf_free(&b.b);
  return rc == 1 && !*out ? -1 : rc;
}

/* ---- the middleware ---- */

static int fail(wh_mw_exchange *x) {
  wh_http_resp_free(x->resp);
  wh_http_resp_text(x->resp, 500, "Internal Server Error");
  return WH_MW_DONE;
}

/* Traefik matches the escaped path (URL.EscapedPath), keeps it in
 * X-Replaced-Path, unescapes the result, and refuses (400) a result that
 * path cleaning would change. */
static int replacepathregex_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_replacepathregex_conf *c = cfg;
  const char *repl = c->replacement ? c->replacement : "";
  size_t rn;
  trim(&repl, &rn);
  char *templ = wh_strndup(repl, rn);
  char *cur = wh_mw_path_escaped(x->path);
  char *np = NULL;
  int m = templ && cur ? wh_mw_regex_replace_all(c->regex ? c->regex : "", cur, templ, &np) : -1;
  int rc = WH_MW_NEXT;
  if (m < 0)
    rc = fail(x);
  else if (m == 1 && wh_mw_exchange_set_header(x, "X-Replaced-Path", cur) < 0)
    rc = fail(x);
  else if (m == 1)
    rc = wh_mw_path_install(x, np, strlen(np), WH_MW_PATH_CLEAN);
  free(np);
  free(cur);
  free(templ);
  return rc;
}

const wh_mw_type wh_mw_replacepathregex = {
    .on_request = replacepathregex_on_request,
    .name = "replacePathRegex",
    .proto = WH_MW_HTTP,
    .schema = &replacepathregex_schema,
};
