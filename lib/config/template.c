/* The Go-template subset Traefik users put in dynamic files (see load.h).
 * Anything outside the subset is an error: passing "{{ .Foo }}" through
 * verbatim would turn a template the user expected to be evaluated into a
 * silently wrong rule or address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

typedef struct {
  const char *source;
  wh_errlist *errs;
  bool failed;
} tctx;

static const char *tsrc(const tctx *c) {
  return c->source ? c->source : "template";
}

__attribute__((format(printf, 3, 4))) static void terr(tctx *c, int line, const char *fmt, ...) {
  c->failed = true;
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  wh_errlist_add(c->errs, "%s:%d: %s", tsrc(c), line, msg ? msg : "out of memory");
  free(msg);
}

static bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int count_lines(const char *s, const char *e) {
  int n = 0;
  for (; s < e; s++)
    n += *s == '\n';
  return n;
}

/* Skips a quoted ("..." or `...`) string starting at p; returns the char
 * after it, or NULL when it is not terminated (Go forbids newlines in "..."). */
static const char *skip_string(const char *p) {
  char q = *p++;
  for (; *p; p++) {
    if (q == '"' && *p == '\\' && p[1]) {
      p++;
      continue;
    }
    if (q == '"' && *p == '\n')
      return NULL;
    if (*p == q)
      return p + 1;
  }
  return NULL;
}

typedef enum { TOK_END, TOK_IDENT, TOK_STRING, TOK_PIPE, TOK_OTHER } tok_kind;

typedef struct {
  tok_kind kind;
  const char *s; /* start in the action */
  size_t len;
} token;

static token next_token(const char **pp, const char *end) {
  const char *p = *pp;
  while (p < end && is_space(*p))
    p++;
  token t = {TOK_END, p, 0};
  if (p >= end) {
    *pp = p;
    return t;
  }
  if (*p == '"' || *p == '`') {
    const char *e = skip_string(p);
    t.kind = TOK_STRING;
    t.len = (size_t)((e && e <= end ? e : end) - p);
  } else if (*p == '|') {
    t.kind = TOK_PIPE;
    t.len = 1;
  } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_') {
    const char *e = p;
    while (e < end && ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') ||
                       (*e >= '0' && *e <= '9') || *e == '_'))
      e++;
    t.kind = TOK_IDENT;
    t.len = (size_t)(e - p);
  } else {
    t.kind = TOK_OTHER;
    t.len = 1;
  }
  *pp = p + t.len;
  return t;
}

static bool tok_is(const token *t, const char *word) {
  return t->kind == TOK_IDENT && t->len == strlen(word) && !memcmp(t->s, word, t->len);
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Decodes a Go string literal token. Returns a malloc'd string or NULL on a
 * bad escape (the caller reports it). */
static char *unquote(const token *t) {
  if (t->len < 2 || t->s[t->len - 1] != t->s[0])
    return NULL;
  if (t->s[0] == '`')
    return wh_strndup(t->s + 1, t->len - 2);
  wh_strbuf b = {0};
  const char *p = t->s + 1, *e = t->s + t->len - 1;
  while (p < e) {
    if (*p != '\\') {
      if (wh_strbuf_putc(&b, *p++) != WH_OK)
        goto bad;
      continue;
    }
    p++;
    char out;
    switch (*p) {
    case 'n':
      out = '\n';
      break;
    case 't':
      out = '\t';
      break;
    case 'r':
      out = '\r';
      break;
    case 'a':
      out = '\a';
      break;
    case 'b':
      out = '\b';
      break;
    case 'f':
      out = '\f';
      break;
    case 'v':
      out = '\v';
      break;
    case '\\':
      out = '\\';
      break;
    case '"':
      out = '"';
      break;
    case 'x': {
      int hi = p + 2 < e ? hexval(p[1]) : -1, lo = p + 2 < e ? hexval(p[2]) : -1;
      if (hi < 0 || lo < 0)
        goto bad;
      out = (char)(hi * 16 + lo);
      p += 2;
      break;
    }
    default:
      goto bad; /* \u, octal: not worth the code for config files */
    }
    if (wh_strbuf_putc(&b, out) != WH_OK)
      goto bad;
    p++;
  }
  return wh_strbuf_take(&b);
bad:
  wh_strbuf_free(&b);
  return NULL;
}

/* Evaluates `"lit"`, `env "X"`, each optionally followed by
 * `| default "y"`. Returns the malloc'd result or NULL (error reported). */
static char *eval_action(tctx *c, const char *body, const char *end, int line) {
  const char *p = body;
  char *val = NULL;
  token t = next_token(&p, end);
  if (t.kind == TOK_END) {
    terr(c, line, "missing value for template action");
    return NULL;
  }
  bool is_env = tok_is(&t, "env");
  if (is_env)
    t = next_token(&p, end);
  if (t.kind != TOK_STRING)
    goto unsupported;
  if (!(val = unquote(&t))) {
    terr(c, line, "invalid string literal %.*s", (int)t.len, t.s);
    return NULL;
  }
  if (is_env) {
    const char *v = getenv(val);
    free(val);
    /* sprig's env gives "" for an unset variable */
    if (!(val = wh_strdup(v ? v : "")))
      goto oom;
  }
  for (;;) {
    t = next_token(&p, end);
    if (t.kind == TOK_END)
      return val;
    if (t.kind != TOK_PIPE)
      goto unsupported;
    t = next_token(&p, end);
    if (!tok_is(&t, "default"))
      goto unsupported;
    t = next_token(&p, end);
    if (t.kind != TOK_STRING)
      goto unsupported;
    char *def = unquote(&t);
    if (!def) {
      terr(c, line, "invalid string literal %.*s", (int)t.len, t.s);
      free(val);
      return NULL;
    }
    if (!*val) {
      free(val);
      val = def;
    } else {
      free(def);
    }
  }
unsupported:
  free(val);
  while (body < end && is_space(*body))
    body++;
  while (end > body && is_space(end[-1]))
    end--;
  terr(c, line, "unsupported template action \"{{ %.*s }}\"", (int)(end - body), body);
  return NULL;
oom:
  terr(c, line, "out of memory");
  return NULL;
}

static void trim_right(wh_strbuf *b) {
  while (b->len && is_space(b->data[b->len - 1]))
    b->data[--b->len] = '\0';
}

char *wh_template_render(const char *text, const char *source, wh_errlist *errs) {
  tctx c = {.source = source, .errs = errs};
  wh_strbuf out = {0};
  if (!text)
    text = "";
  int line = 1;
  const char *p = text;
  bool trim_next = false;
  while (*p) {
    const char *open = strstr(p, "{{");
    const char *lit_end = open ? open : p + strlen(p);
    const char *lit = p;
    if (trim_next)
      while (lit < lit_end && is_space(*lit))
        lit++;
    trim_next = false;
    if (wh_strbuf_append(&out, lit, (size_t)(lit_end - lit)) != WH_OK) {
      terr(&c, line, "out of memory");
      break;
    }
    line += count_lines(p, lit_end);
    if (!open)
      break;
    int aline = line;
    const char *body = open + 2;
    /* Go needs a space after "{{-" for it to be a trim marker */
    if (body[0] == '-' && is_space(body[1])) {
      trim_right(&out);
      body += 2;
    }
    const char *q = body;
    while (is_space(*q))
      q++;
    const char *close;
    if (q[0] == '/' && q[1] == '*') {
      const char *cend = strstr(q + 2, "*/");
      if (!cend) {
        terr(&c, aline, "unclosed comment");
        break;
      }
      const char *r = cend + 2;
      if (r[0] == ' ' && r[1] == '-' && r[2] == '}' && r[3] == '}') {
        trim_next = true;
        close = r + 2;
      } else if (r[0] == '}' && r[1] == '}') {
        close = r;
      } else {
        terr(&c, aline, "comment ends before closing delimiter");
        break;
      }
    } else {
      for (close = body; *close; close++) {
        if (*close == '"' || *close == '`') {
          const char *e = skip_string(close);
          if (!e)
            break;
          close = e - 1;
        } else if (close[0] == '}' && close[1] == '}') {
          break;
        }
      }
      if (!*close) {
        terr(&c, aline, "unterminated template action (missing \"}}\")");
        break;
      }
      if (*close != '}') {
        terr(&c, aline, "unterminated quoted string in template action");
        break;
      }
      const char *bend = close;
      if (bend - body >= 2 && bend[-1] == '-' && is_space(bend[-2])) {
        trim_next = true;
        bend -= 2;
      }
      char *v = eval_action(&c, body, bend, aline);
      if (v && wh_strbuf_puts(&out, v) != WH_OK)
        terr(&c, aline, "out of memory");
      free(v);
    }
    line += count_lines(open, close);
    p = close + 2;
  }
  if (c.failed) {
    wh_strbuf_free(&out);
    return NULL;
  }
  char *res = wh_strbuf_take(&out);
  if (!res)
    wh_errlist_add(errs, "%s: out of memory", tsrc(&c));
  return res;
}
