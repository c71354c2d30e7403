#include "providers/docker/naming.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"

/* ---------------------------------------------------------------------------
 * normalize */

/* Decodes one UTF-8 rune at s (len bytes left). Returns its length and the
 * code point, or length 1 and U+FFFD for a bad sequence (as Go does). */
static size_t utf8_rune(const unsigned char *s, size_t len, uint32_t *cp) {
  *cp = 0xFFFD;
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  size_t n;
  uint32_t v, min;
  if ((s[0] & 0xE0) == 0xC0) {
    n = 2, v = s[0] & 0x1F, min = 0x80;
  } else if ((s[0] & 0xF0) == 0xE0) {
    n = 3, v = s[0] & 0x0F, min = 0x800;
  } else if ((s[0] & 0xF8) == 0xF0) {
    n = 4, v = s[0] & 0x07, min = 0x10000;
  } else {
    return 1;
  }
  if (len < n)
    return 1;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 1;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return 1;
  *cp = v;
  return n;
}

/* Letters and numbers, approximately Go's unicode.IsLetter || IsNumber:
 * exact for ASCII and Latin-1; above that the well-known punctuation,
 * symbol and space blocks separate and everything else is a letter. */
static bool is_letter_or_number(uint32_t cp) {
  if (cp < 0x80)
    return isalnum((int)cp) != 0;
  if (cp < 0xC0) /* Latin-1: ª ² ³ µ ¹ º ¼ ½ ¾ are letters or numbers */
    return cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
           (cp >= 0xBC && cp <= 0xBE);
  if (cp == 0xD7 || cp == 0xF7) /* × ÷ */
    return false;
  static const uint32_t seps[][2] = {
      {0x02C2, 0x02C5},   {0x02D2, 0x02DF}, {0x037E, 0x037E}, {0x0387, 0x0387}, {0x055A, 0x055F},
      {0x0589, 0x058A},   {0x1680, 0x1680}, {0x2000, 0x206F}, {0x20A0, 0x20CF}, {0x2100, 0x2101},
      {0x2190, 0x245F},   {0x2500, 0x2775}, {0x2794, 0x2BFF}, {0x2E00, 0x2E7F}, {0x3000, 0x3004},
      {0x3008, 0x3020},   {0x3030, 0x3030}, {0xFE10, 0xFE1F}, {0xFE30, 0xFE6F}, {0xFEFF, 0xFEFF},
      {0xFF01, 0xFF0F},   {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65}, {0xFFF0, 0xFFFF},
      {0x1F000, 0x1FAFF},
  };
  for (size_t i = 0; i < sizeof seps / sizeof seps[0]; i++)
    if (cp >= seps[i][0] && cp <= seps[i][1])
      return false;
  return true;
}

char *wh_docker_normalize(const char *name) {
  wh_strbuf b = {0};
  const unsigned char *s = (const unsigned char *)(name ? name : "");
  size_t len = strlen((const char *)s);
  bool pending_sep = false;
  int rc = 0;
  for (size_t i = 0; i < len && !rc;) {
    uint32_t cp;
    size_t n = utf8_rune(s + i, len - i, &cp);
    if (!is_letter_or_number(cp)) {
      pending_sep = b.len > 0;
    } else {
      if (pending_sep)
        rc = wh_strbuf_putc(&b, '-');
      pending_sep = false;
      if (!rc)
        rc = wh_strbuf_append(&b, (const char *)s + i, n);
    }
    i += n;
  }
  if (rc) {
    wh_strbuf_free(&b);
    return NULL;
  }
  return wh_strbuf_take(&b);
}

const char *wh_docker_label(const wh_docker_container *c, const char *key) {
  for (size_t i = 0; c && i < c->nlabels; i++)
    if (strcmp(c->label_keys[i], key) == 0)
      return c->label_values[i];
  return NULL;
}

char *wh_docker_service_name(const wh_docker_container *c) {
  const char *svc = wh_docker_label(c, "com.docker.compose.service");
  const char *proj = wh_docker_label(c, "com.docker.compose.project");
  if (svc && *svc && proj && *proj) {
    char *base = wh_asprintf("%s_%s", svc, proj);
    if (!base)
      return NULL;
    char *out = wh_docker_normalize(base);
    free(base);
    return out;
  }
  return wh_docker_normalize(c->service_name ? c->service_name : c->name);
}

/* ---------------------------------------------------------------------------
 * defaultRule templates */

typedef enum { V_STR, V_LABELS } vkind;

typedef struct {
  vkind kind;
  char *s;   /* owned, V_STR */
  bool data; /* derived from names or labels (not from the admin's template) */
} tval;

typedef enum { T_EOF, T_STR, T_FIELD, T_IDENT, T_LPAREN, T_RPAREN, T_PIPE, T_BAD } ttype;

typedef struct {
  ttype type;
  const char *p; /* start */
  size_t n;
} ttok;

typedef struct {
  const char *p, *end;
  ttok tok;
  const char *service_name;
  const wh_docker_container *c;
  wh_errlist *errs;
  bool failed;
  int depth;
} tpl;

__attribute__((format(printf, 2, 3))) static void tfail(tpl *t, const char *fmt, ...) {
  if (t->failed)
    return;
  t->failed = true;
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(t->errs, fmt, ap);
  va_end(ap);
}

static bool tspace(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void tnext(tpl *t) {
  while (t->p < t->end && tspace(*t->p))
    t->p++;
  ttok *k = &t->tok;
  k->p = t->p;
  k->n = 0;
  if (t->p >= t->end) {
    k->type = T_EOF;
    return;
  }
  char ch = *t->p;
  if (ch == '(' || ch == ')' || ch == '|') {
    k->type = ch == '(' ? T_LPAREN : ch == ')' ? T_RPAREN : T_PIPE;
    k->n = 1;
    t->p++;
    return;
  }
  if (ch == '"' || ch == '`') {
    const char *q = t->p + 1;
    for (; q < t->end && *q != ch; q++)
      if (ch == '"' && *q == '\\' && q + 1 < t->end)
        q++;
    if (q >= t->end) {
      k->type = T_BAD;
      k->n = (size_t)(t->end - t->p);
      t->p = t->end;
      return;
    }
    k->type = T_STR;
    k->n = (size_t)(q + 1 - t->p);
    t->p = q + 1;
    return;
  }
  const char *q = t->p;
  if (ch == '.')
    q++;
  while (q < t->end && (isalnum((unsigned char)*q) || *q == '_'))
    q++;
  if (q == t->p || (ch == '.' && q == t->p + 1)) {
    k->type = T_BAD;
    k->n = 1;
    t->p++;
    return;
  }
  k->type = ch == '.' ? T_FIELD : T_IDENT;
  k->n = (size_t)(q - t->p);
  t->p = q;
}

static bool tok_is(const ttok *k, const char *w) {
  return strlen(w) == k->n && memcmp(k->p, w, k->n) == 0;
}

/* Go string literal -> text. Double-quoted strings support the common
 * escapes; anything else is an error. */
static char *unquote(tpl *t, const ttok *k) {
  if (k->p[0] == '`')
    return wh_strndup(k->p + 1, k->n - 2);
  wh_strbuf b = {0};
  for (size_t i = 1; i + 1 < k->n; i++) {
    char ch = k->p[i];
    if (ch == '\\') {
      char e = k->p[++i];
      const char *m = strchr("n\nt\tr\r\\\\\"\"", e);
      if (!m || e == '\0' || (m - "n\nt\tr\r\\\\\"\"") % 2) {
        tfail(t, "defaultRule: unsupported escape \"\\%c\" in a string literal", e);
        wh_strbuf_free(&b);
        return NULL;
      }
      ch = m[1];
    }
    if (wh_strbuf_putc(&b, ch)) {
      wh_strbuf_free(&b);
      return NULL;
    }
  }
  return wh_strbuf_take(&b);
}

static void tval_free(tval *v) {
  free(v->s);
  v->s = NULL;
}

static tval tpipeline(tpl *t);

static char *apply_fn(const char *fn, const char *arg) {
  if (strcmp(fn, "normalize") == 0)
    return wh_docker_normalize(arg);
  char *s = wh_strdup(arg);
  if (!s)
    return NULL;
  if (strcmp(fn, "lower") == 0) {
    for (char *p = s; *p; p++)
      *p = (char)tolower((unsigned char)*p);
  } else if (strcmp(fn, "upper") == 0) {
    for (char *p = s; *p; p++)
      *p = (char)toupper((unsigned char)*p);
  } else { /* trim */
    char *b = s;
    while (tspace(*b))
      b++;
    size_t n = strlen(b);
    while (n && tspace(b[n - 1]))
      n--;
    memmove(s, b, n);
    s[n] = '\0';
  }
  return s;
}

static bool is_fn(const ttok *k) {
  return tok_is(k, "normalize") || tok_is(k, "lower") || tok_is(k, "upper") || tok_is(k, "trim");
}

/* operand := string | .Name | .ContainerName | .Labels | ( pipeline ) */
static tval toperand(tpl *t) {
  tval v = {V_STR, NULL, false};
  ttok k = t->tok;
  if (k.type == T_STR) {
    v.s = unquote(t, &k);
    if (!v.s && !t->failed)
      tfail(t, "out of memory");
    tnext(t);
  } else if (k.type == T_FIELD) {
    v.data = true;
    if (tok_is(&k, ".Name")) {
      v.s = wh_strdup(t->service_name ? t->service_name : "");
    } else if (tok_is(&k, ".ContainerName")) {
      v.s = wh_strdup(t->c && t->c->name ? t->c->name : "");
    } else if (tok_is(&k, ".Labels")) {
      v.kind = V_LABELS;
    } else {
      tfail(t, "defaultRule: unsupported field \"%.*s\" (known: .Name, .ContainerName, .Labels)",
            (int)k.n, k.p);
      return v;
    }
    if (v.kind == V_STR && !v.s)
      tfail(t, "out of memory");
    tnext(t);
  } else if (k.type == T_LPAREN) {
    if (++t->depth > 16) {
      tfail(t, "defaultRule: parentheses nested too deeply");
      return v;
    }
    tnext(t);
    v = tpipeline(t);
    t->depth--;
    if (t->failed)
      return v;
    if (t->tok.type != T_RPAREN) {
      tfail(t, "defaultRule: missing \")\"");
      return v;
    }
    tnext(t);
  } else if (k.type == T_BAD && (k.p[0] == '"' || k.p[0] == '`')) {
    tfail(t, "defaultRule: unterminated string literal");
  } else if (k.type == T_EOF) {
    tfail(t, "defaultRule: missing operand");
  } else {
    tfail(t, "defaultRule: unsupported template syntax \"%.*s\"", (int)k.n, k.p);
  }
  return v;
}

static bool at_cmd_end(const tpl *t) {
  return t->tok.type == T_EOF || t->tok.type == T_PIPE || t->tok.type == T_RPAREN;
}

/* cmd := operand | fn operand? | index .Labels string; piped holds the value
 * of the previous command (appended as the last argument). */
static tval tcommand(tpl *t, tval *piped) {
  tval none = {V_STR, NULL, false};
  ttok k = t->tok;
  if (k.type == T_IDENT) {
    tnext(t);
    if (tok_is(&k, "index")) {
      tval m = at_cmd_end(t) ? none : toperand(t);
      tval key = none;
      if (!t->failed && !at_cmd_end(t))
        key = toperand(t);
      else if (piped) {
        key = *piped;
        piped->s = NULL;
      }
      if (!t->failed && (m.kind != V_LABELS || key.kind != V_STR || !key.s))
        tfail(t, "defaultRule: index takes .Labels and a string key");
      tval v = none;
      if (!t->failed) {
        const char *val = wh_docker_label(t->c, key.s);
        if (!(v.s = wh_strdup(val ? val : "")))
          tfail(t, "out of memory");
        v.data = true;
      }
      tval_free(&m);
      tval_free(&key);
      return v;
    }
    if (!is_fn(&k)) {
      tfail(t,
            "defaultRule: unsupported function \"%.*s\" (known: normalize, index, lower, "
            "upper, trim)",
            (int)k.n, k.p);
      return none;
    }
    tval arg = none;
    if (!at_cmd_end(t)) {
      arg = toperand(t);
      if (!t->failed && piped && piped->s) {
        tfail(t, "defaultRule: %.*s takes one argument", (int)k.n, k.p);
      }
    } else if (piped) {
      arg = *piped;
      piped->s = NULL;
    }
    if (!t->failed && (arg.kind != V_STR || !arg.s))
      tfail(t, "defaultRule: %.*s takes one string argument", (int)k.n, k.p);
    tval v = none;
    if (!t->failed) {
      char fn[16];
      snprintf(fn, sizeof fn, "%.*s", (int)k.n, k.p);
      if (!(v.s = apply_fn(fn, arg.s)))
        tfail(t, "out of memory");
      /* normalize leaves only letters, numbers and '-': clean data. */
      v.data = arg.data && strcmp(fn, "normalize") != 0;
    }
    tval_free(&arg);
    return v;
  }
  if (piped && piped->s) {
    tfail(t, "defaultRule: only a function can follow \"|\"");
    return none;
  }
  return toperand(t);
}

static tval tpipeline(tpl *t) {
  tval v = tcommand(t, NULL);
  while (!t->failed && t->tok.type == T_PIPE) {
    tnext(t);
    tval nv = tcommand(t, &v);
    tval_free(&v);
    v = nv;
  }
  return v;
}

/* Data that could close the rule's string literal or start a new token. */
static bool safe_data(const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '`' || ch == '"' || ch == '\'' || ch == '\\' || ch < 0x20 || ch == 0x7F)
      return false;
  }
  return true;
}

/* Evaluates one action body [p, end) and appends its value to out. */
static void eval_action(tpl *t, const char *p, const char *end, wh_strbuf *out) {
  while (p < end && tspace(*p))
    p++;
  if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
    const char *q = end;
    while (q > p && tspace(q[-1]))
      q--;
    if (q - p < 4 || q[-1] != '/' || q[-2] != '*')
      tfail(t, "defaultRule: unterminated comment");
    return;
  }
  t->p = p;
  t->end = end;
  t->depth = 0;
  tnext(t);
  if (t->tok.type == T_EOF) {
    tfail(t, "defaultRule: empty action {{ }}");
    return;
  }
  tval v = tpipeline(t);
  if (!t->failed && t->tok.type != T_EOF)
    tfail(t, "defaultRule: unexpected \"%.*s\"", (int)t->tok.n, t->tok.p);
  if (!t->failed && v.kind == V_LABELS)
    tfail(t, "defaultRule: .Labels is a map; use index .Labels \"key\"");
  if (!t->failed && v.data && !safe_data(v.s))
    tfail(t, "defaultRule: a value contains a quote, backslash or control character and would "
             "change the rule's structure: refused");
  if (!t->failed && wh_strbuf_puts(out, v.s))
    tfail(t, "out of memory");
  tval_free(&v);
}

/* End of an action starting at p (just after "{{"): the "}}" not inside a
 * string literal, or NULL. */
static const char *action_end(const char *p) {
  for (; *p; p++) {
    if (*p == '"' || *p == '`') {
      char q = *p++;
      for (; *p && *p != q; p++)
        if (q == '"' && *p == '\\' && p[1])
          p++;
      if (!*p)
        return NULL;
      continue;
    }
    if (p[0] == '}' && p[1] == '}')
      return p;
  }
  return NULL;
}

char *wh_docker_render_rule(const char *tmpl, const char *service_name,
                            const wh_docker_container *c, wh_errlist *errs) {
  tpl t = {.service_name = service_name, .c = c, .errs = errs};
  wh_strbuf out = {0};
  const char *p = tmpl ? tmpl : "";
  bool trim_next = false;
  while (*p && !t.failed) {
    const char *open = strstr(p, "{{");
    const char *text_end = open ? open : p + strlen(p);
    const char *ts = p;
    if (trim_next)
      while (ts < text_end && tspace(*ts))
        ts++;
    size_t tn = (size_t)(text_end - ts);
    bool trim_prev = open && open[2] == '-' && tspace(open[3]);
    if (trim_prev)
      while (tn && tspace(ts[tn - 1]))
        tn--;
    if (wh_strbuf_append(&out, ts, tn)) {
      tfail(&t, "out of memory");
      break;
    }
    if (!open)
      break;
    const char *body = open + 2 + (trim_prev ? 1 : 0);
    const char *close = action_end(body);
    if (!close) {
      tfail(&t, "defaultRule: unclosed action \"{{\"");
      break;
    }
    const char *body_end = close;
    trim_next = close > body && close[-1] == '-' && close - 1 > body && tspace(close[-2]);
    if (trim_next)
      body_end--;
    eval_action(&t, body, body_end, &out);
    p = close + 2;
  }
  if (t.failed) {
    wh_strbuf_free(&out);
    return NULL;
  }
  return wh_strbuf_take(&out);
}
