/* Go regexp (RE2 syntax) on top of PCRE2.
 *
 * PCRE2 is a superset of RE2's syntax, so the job is (1) refuse what Go would refuse and PCRE2
 * would give another meaning or unbounded cost (backreferences, lookaround, atomic groups,
 * recursion, possessive quantifiers, \K and friends), (2) translate the few escapes whose meaning
 * differs (\v is a vertical-tab character in Go, a class in PCRE2), and (3) pick options that give
 * Go's semantics: UTF-8 with invalid bytes tolerated, '$' only at the very end, no \C. Match and
 * depth limits bound the backtracking that remains possible with nested quantifiers. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/rules/rules_internal.h"

enum { RE_MATCH_LIMIT = 200000, RE_DEPTH_LIMIT = 5000, RE_HEAP_LIMIT_KIB = 8192 };

struct wh_rules_re {
  pcre2_code *code;
  pcre2_match_context *mctx;
};

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Length of a "{n}", "{n,}" or "{n,m}" repetition at p, 0 when p is a literal '{' (as in Go). */
static size_t repeat_len(const char *p) {
  size_t i = 1;
  if (!is_digit(p[i]))
    return 0;
  while (is_digit(p[i]))
    i++;
  if (p[i] == ',') {
    i++;
    while (is_digit(p[i]))
      i++;
  }
  return p[i] == '}' ? i + 1 : 0;
}

/* Rewrites a Go pattern into an equivalent PCRE2 pattern, or fails with a Go-like message. */
static char *translate(const char *pat, char *errbuf, size_t errlen) {
  wh_strbuf out = {0};
  bool in_class = false, after_quant = false;
  size_t class_start = 0;
  for (size_t i = 0; pat[i];) {
    char c = pat[i];
    if (c == '\\') {
      char e = pat[i + 1];
      if (e == '\0') {
        snprintf(errbuf, errlen, "trailing backslash at end of expression");
        goto fail;
      }
      if (e == 'Q') { /* literal text up to \E, copied verbatim */
        const char *end = strstr(pat + i + 2, "\\E");
        size_t n = end ? (size_t)(end - pat) + 2 - i : strlen(pat + i);
        wh_strbuf_append(&out, pat + i, n);
        i += n;
        after_quant = false;
        continue;
      }
      if (e == 'v') {
        wh_strbuf_puts(&out, "\\x0b");
        i += 2;
        after_quant = false;
        continue;
      }
      if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '1' && e <= '9')) {
        if (!strchr("aftnrx0pPdDsSwWbBAzQE", e) || (in_class && strchr("bBAz", e))) {
          if (e >= '1' && e <= '9')
            snprintf(errbuf, errlen, "backreferences are not supported: `\\%c`", e);
          else
            snprintf(errbuf, errlen, "invalid escape sequence: `\\%c`", e);
          goto fail;
        }
      }
      size_t n = 2;
      if ((e == 'p' || e == 'P' || e == 'x') && pat[i + 2] == '{') {
        /* \p{Greek}, \x{263a}: the braces belong to the escape */
        const char *close = strchr(pat + i + 2, '}');
        if (close)
          n = (size_t)(close - (pat + i)) + 1;
      }
      wh_strbuf_append(&out, pat + i, n);
      i += n;
      after_quant = false;
      continue;
    }
    if (in_class) {
      if (c == '[' && pat[i + 1] == ':') { /* [:alpha:] */
        const char *end = strstr(pat + i + 2, ":]");
        if (end) {
          size_t n = (size_t)(end - pat) + 2 - i;
          wh_strbuf_append(&out, pat + i, n);
          i += n;
          continue;
        }
      }
      if (c == ']' && i > class_start)
        in_class = false;
      wh_strbuf_putc(&out, c);
      i++;
      continue;
    }
    switch (c) {
    case '[':
      in_class = true;
      class_start = i + 1;
      if (pat[class_start] == '^')
        class_start++;
      /* a ']' right after '[' or '[^' is literal, in Go as in PCRE2 */
      wh_strbuf_putc(&out, c);
      i++;
      after_quant = false;
      continue;
    case '(':
      if (pat[i + 1] == '?') {
        const char *g = pat + i + 2;
        bool ok = false;
        if (g[0] == ':' || (g[0] == 'P' && g[1] == '<') ||
            (g[0] == '<' && g[1] != '=' && g[1] != '!')) {
          ok = true;
        } else {
          size_t k = 0;
          while (g[k] && strchr("imsU-", g[k]))
            k++;
          ok = k > 0 && (g[k] == ':' || g[k] == ')');
        }
        if (!ok) {
          snprintf(errbuf, errlen, "invalid or unsupported Perl syntax: `(?%.*s`",
                   (int)strnlen(g, 2), g);
          goto fail;
        }
      }
      after_quant = false;
      break;
    case '*':
    case '+':
    case '?':
      if (after_quant && c != '?') {
        snprintf(errbuf, errlen, "invalid nested repetition operator");
        goto fail;
      }
      if (after_quant && c == '?') {
        /* lazy marker; a further quantifier would be nested repetition */
        wh_strbuf_putc(&out, c);
        i++;
        after_quant = true;
        if (pat[i] == '*' || pat[i] == '+' || pat[i] == '?' ||
            (pat[i] == '{' && repeat_len(pat + i))) {
          snprintf(errbuf, errlen, "invalid nested repetition operator");
          goto fail;
        }
        continue;
      }
      after_quant = true;
      wh_strbuf_putc(&out, c);
      i++;
      continue;
    case '{': {
      size_t n = repeat_len(pat + i);
      if (n) {
        if (after_quant) {
          snprintf(errbuf, errlen, "invalid nested repetition operator");
          goto fail;
        }
        wh_strbuf_append(&out, pat + i, n);
        i += n;
        after_quant = true;
        continue;
      }
      /* Go reads a lone '{' literally; PCRE2 agrees, escape it anyway for clarity. */
      wh_strbuf_puts(&out, "\\{");
      i++;
      after_quant = false;
      continue;
    }
    default:
      after_quant = false;
      break;
    }
    wh_strbuf_putc(&out, c);
    i++;
  }
  if (in_class) {
    snprintf(errbuf, errlen, "missing closing ]");
    goto fail;
  }
  char *res = wh_strbuf_take(&out);
  if (!res)
    snprintf(errbuf, errlen, "out of memory");
  return res;
fail:
  wh_strbuf_free(&out);
  return NULL;
}

wh_rules_re *wh_rules_re_compile(const char *pattern, bool caseless, char *errbuf, size_t errlen) {
  char *pat = translate(pattern, errbuf, errlen);
  if (!pat)
    return NULL;
  wh_rules_re *re = calloc(1, sizeof *re);
  if (!re) {
    free(pat);
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
                  PCRE2_NEVER_BACKSLASH_C | (caseless ? PCRE2_CASELESS : 0);
  int ec;
  PCRE2_SIZE eo;
  re->code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
  free(pat);
  if (!re->code) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(ec, msg, sizeof msg);
    snprintf(errbuf, errlen, "%s", (const char *)msg);
    free(re);
    return NULL;
  }
  /* JIT is an optimisation only: a failure leaves the interpreter in charge. */
  (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
  re->mctx = pcre2_match_context_create(NULL);
  if (!re->mctx) {
    pcre2_code_free(re->code);
    free(re);
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  pcre2_set_match_limit(re->mctx, RE_MATCH_LIMIT);
  pcre2_set_depth_limit(re->mctx, RE_DEPTH_LIMIT);
  pcre2_set_heap_limit(re->mctx, RE_HEAP_LIMIT_KIB);
  return re;
}

/* One small match data per thread: rules are matched concurrently, and a match needs no
 * captures, so a single ovector pair serves every pattern (a too-small ovector still reports the
 * match, with rc 0). */
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static bool md_key_ok;

static void md_destroy(void *p) {
  pcre2_match_data_free(p);
}

static void md_init(void) {
  md_key_ok = pthread_key_create(&md_key, md_destroy) == 0;
}

static pcre2_match_data *md_get(bool *owned) {
  pthread_once(&md_once, md_init);
  *owned = false;
  if (md_key_ok) {
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (md)
      return md;
    md = pcre2_match_data_create(1, NULL);
    if (md && pthread_setspecific(md_key, md) == 0)
      return md;
    if (md)
      pcre2_match_data_free(md);
  }
  *owned = true;
  return pcre2_match_data_create(1, NULL);
}

bool wh_rules_re_match(const wh_rules_re *re, const char *subject, size_t len) {
  bool owned;
  pcre2_match_data *md = md_get(&owned);
  if (!md)
    return false;
  int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, md, re->mctx);
  if (owned)
    pcre2_match_data_free(md);
  /* Limits exceeded or any other error: fail closed, no match. */
  return rc >= 0;
}

void wh_rules_re_free(wh_rules_re *re) {
  if (!re)
    return;
  pcre2_match_context_free(re->mctx);
  pcre2_code_free(re->code);
  free(re);
}

/* gorilla/mux braceIndices: positions of balanced top-level {...}. */
char *wh_rules_template_regex(const char *tpl, const char *default_pattern, bool anchor_end,
                              char *errbuf, size_t errlen) {
  wh_strbuf out = {0};
  wh_strbuf_putc(&out, '^');
  size_t level = 0, open = 0, lit = 0;
  for (size_t i = 0; tpl[i]; i++) {
    if (tpl[i] == '{') {
      if (level++ == 0) {
        for (size_t k = lit; k < i; k++) { /* Go's regexp.QuoteMeta */
          if (strchr("\\.+*?()|[]{}^$", tpl[k]))
            wh_strbuf_putc(&out, '\\');
          wh_strbuf_putc(&out, tpl[k]);
        }
        open = i;
      }
    } else if (tpl[i] == '}') {
      if (level == 0) {
        snprintf(errbuf, errlen, "unbalanced braces in %s", tpl);
        goto fail;
      }
      if (--level == 0) {
        const char *inner = tpl + open + 1;
        size_t n = i - open - 1;
        const char *colon = memchr(inner, ':', n);
        size_t namelen = colon ? (size_t)(colon - inner) : n;
        const char *patt = colon ? colon + 1 : default_pattern;
        size_t pattlen = colon ? n - namelen - 1 : strlen(default_pattern);
        if (namelen == 0 || pattlen == 0) {
          snprintf(errbuf, errlen, "missing name or pattern in %.*s", (int)(n + 2), tpl + open);
          goto fail;
        }
        wh_strbuf_puts(&out, "(?:");
        wh_strbuf_append(&out, patt, pattlen);
        wh_strbuf_putc(&out, ')');
        lit = i + 1;
      }
    }
  }
  if (level != 0) {
    snprintf(errbuf, errlen, "unbalanced braces in %s", tpl);
    goto fail;
  }
  for (size_t k = lit; tpl[k]; k++) {
    if (strchr("\\.+*?()|[]{}^$", tpl[k]))
      wh_strbuf_putc(&out, '\\');
    wh_strbuf_putc(&out, tpl[k]);
  }
  if (anchor_end)
    wh_strbuf_putc(&out, '$');
  char *res = wh_strbuf_take(&out);
  if (!res)
    snprintf(errbuf, errlen, "out of memory");
  return res;
fail:
  wh_strbuf_free(&out);
  return NULL;
}
