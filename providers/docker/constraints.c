#include "providers/docker/constraints.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "providers/docker/naming.h"

typedef enum { K_TRUE, K_LABEL, K_REGEX, K_NOT, K_AND, K_OR } kkind;

typedef struct knode {
  kkind kind;
  char *key, *value;
  pcre2_code *re;
  struct knode *a, *b;
} knode;

struct wh_docker_constraints {
  knode *root;
};

typedef enum { C_EOF, C_IDENT, C_STR, C_LP, C_RP, C_COMMA, C_AND, C_OR, C_NOT, C_BAD } ctype;

typedef struct {
  const char *p;
  ctype type;
  const char *tp;
  size_t tn;
  char *str; /* unquoted C_STR, owned */
  wh_errlist *errs;
  bool failed;
  int depth;
} kparser;

__attribute__((format(printf, 2, 3))) static void kfail(kparser *k, const char *fmt, ...) {
  if (k->failed)
    return;
  k->failed = true;
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(k->errs, fmt, ap);
  va_end(ap);
}

/* Go string literal: `raw` or "with \escapes". */
static char *kunquote(kparser *k, const char *s, size_t n) {
  if (s[0] == '`')
    return wh_strndup(s + 1, n - 2);
  wh_strbuf b = {0};
  for (size_t i = 1; i + 1 < n; i++) {
    char ch = s[i];
    if (ch == '\\') {
      char e = s[++i];
      switch (e) {
      case 'n':
        ch = '\n';
        break;
      case 't':
        ch = '\t';
        break;
      case 'r':
        ch = '\r';
        break;
      case '\\':
        ch = '\\';
        break;
      case '"':
        ch = '"';
        break;
      default:
        kfail(k, "constraints: unsupported escape \"\\%c\"", e);
        wh_strbuf_free(&b);
        return NULL;
      }
    }
    if (wh_strbuf_putc(&b, ch)) {
      wh_strbuf_free(&b);
      return NULL;
    }
  }
  return wh_strbuf_take(&b);
}

static void knext(kparser *k) {
  free(k->str);
  k->str = NULL;
  while (*k->p && isspace((unsigned char)*k->p))
    k->p++;
  k->tp = k->p;
  k->tn = 1;
  char ch = *k->p;
  if (!ch) {
    k->type = C_EOF;
    k->tn = 0;
    return;
  }
  if (ch == '(' || ch == ')' || ch == ',' || ch == '!') {
    k->type = ch == '(' ? C_LP : ch == ')' ? C_RP : ch == ',' ? C_COMMA : C_NOT;
    k->p++;
    return;
  }
  if ((ch == '&' || ch == '|') && k->p[1] == ch) {
    k->type = ch == '&' ? C_AND : C_OR;
    k->tn = 2;
    k->p += 2;
    return;
  }
  if (ch == '`' || ch == '"') {
    const char *q = k->p + 1;
    for (; *q && *q != ch; q++)
      if (ch == '"' && *q == '\\' && q[1])
        q++;
    if (!*q) {
      kfail(k, "constraints: unterminated string literal");
      k->type = C_BAD;
      return;
    }
    k->tn = (size_t)(q + 1 - k->p);
    k->str = kunquote(k, k->p, k->tn);
    k->type = k->str ? C_STR : C_BAD;
    if (!k->str)
      kfail(k, "out of memory");
    k->p = q + 1;
    return;
  }
  if (isalpha((unsigned char)ch)) {
    const char *q = k->p;
    while (isalnum((unsigned char)*q) || *q == '_')
      q++;
    k->type = C_IDENT;
    k->tn = (size_t)(q - k->p);
    k->p = q;
    return;
  }
  k->type = C_BAD;
  kfail(k, "constraints: unexpected character '%c'", ch);
}

static void knode_free(knode *n) {
  if (!n)
    return;
  knode_free(n->a);
  knode_free(n->b);
  free(n->key);
  free(n->value);
  pcre2_code_free(n->re);
  free(n);
}

static knode *knew(kparser *k, kkind kind) {
  knode *n = calloc(1, sizeof *n);
  if (!n)
    kfail(k, "out of memory");
  else
    n->kind = kind;
  return n;
}

static knode *kor(kparser *k);

static bool ident_is(const kparser *k, const char *w) {
  return strlen(w) == k->tn && memcmp(k->tp, w, k->tn) == 0;
}

static knode *kcall(kparser *k) {
  bool regex = ident_is(k, "LabelRegex");
  if (!regex && !ident_is(k, "Label")) {
    kfail(k, "constraints: unknown matcher \"%.*s\" (expected Label or LabelRegex)", (int)k->tn,
          k->tp);
    return NULL;
  }
  knode *n = knew(k, regex ? K_REGEX : K_LABEL);
  if (!n)
    return NULL;
  const char *fname = regex ? "LabelRegex" : "Label";
  knext(k);
  char *args[2] = {NULL, NULL};
  if (k->type != C_LP) {
    kfail(k, "constraints: expected \"(\" after %s", fname);
    goto fail;
  }
  knext(k);
  for (int i = 0; i < 2; i++) {
    if (k->type != C_STR) {
      kfail(k, "constraints: %s takes two string arguments", fname);
      goto fail;
    }
    args[i] = k->str;
    k->str = NULL;
    knext(k);
    if (i == 0) {
      if (k->type != C_COMMA) {
        kfail(k, "constraints: %s takes two string arguments", fname);
        goto fail;
      }
      knext(k);
    }
  }
  if (k->type != C_RP) {
    kfail(k, "constraints: %s takes two string arguments", fname);
    goto fail;
  }
  knext(k);
  n->key = args[0];
  n->value = args[1];
  if (regex) {
    int ec;
    PCRE2_SIZE off;
    n->re = pcre2_compile((PCRE2_SPTR)n->value, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!n->re) {
      PCRE2_UCHAR msg[160];
      pcre2_get_error_message(ec, msg, sizeof msg);
      kfail(k, "constraints: LabelRegex(`%s`): bad regular expression at offset %zu: %s", n->key,
            (size_t)off, (const char *)msg);
      knode_free(n);
      return NULL;
    }
  }
  return n;
fail:
  free(args[0]);
  free(args[1]);
  knode_free(n);
  return NULL;
}

static knode *kunary(kparser *k) {
  if (++k->depth > 64) {
    kfail(k, "constraints: expression nested too deeply");
    return NULL;
  }
  knode *r = NULL;
  if (k->type == C_NOT) {
    knext(k);
    knode *a = kunary(k);
    if (a && (r = knew(k, K_NOT)))
      r->a = a;
    else
      knode_free(a);
  } else if (k->type == C_LP) {
    knext(k);
    r = kor(k);
    if (r && k->type != C_RP) {
      kfail(k, "constraints: missing \")\"");
      knode_free(r);
      r = NULL;
    } else if (r) {
      knext(k);
    }
  } else if (k->type == C_IDENT) {
    r = kcall(k);
  } else if (!k->failed) {
    if (k->type == C_EOF)
      kfail(k, "constraints: unexpected end of expression");
    else
      kfail(k, "constraints: unexpected \"%.*s\"", (int)k->tn, k->tp);
  }
  k->depth--;
  return r;
}

static knode *kbin(kparser *k, kkind kind, ctype op, knode *(*sub)(kparser *)) {
  knode *l = sub(k);
  while (l && k->type == op) {
    knext(k);
    knode *r = sub(k);
    knode *n = r ? knew(k, kind) : NULL;
    if (!n) {
      knode_free(l);
      knode_free(r);
      return NULL;
    }
    n->a = l;
    n->b = r;
    l = n;
  }
  return l;
}

static knode *kand(kparser *k) {
  return kbin(k, K_AND, C_AND, kunary);
}

static knode *kor(kparser *k) {
  return kbin(k, K_OR, C_OR, kand);
}

wh_docker_constraints *wh_docker_constraints_compile(const char *expr, wh_errlist *errs) {
  wh_docker_constraints *c = calloc(1, sizeof *c);
  if (!c) {
    wh_errlist_add(errs, "out of memory");
    return NULL;
  }
  kparser k = {.p = expr ? expr : "", .errs = errs};
  knext(&k);
  if (k.type == C_EOF && !k.failed) {
    c->root = knew(&k, K_TRUE);
  } else {
    c->root = kor(&k);
    if (c->root && k.type != C_EOF)
      kfail(&k, "constraints: unexpected \"%.*s\"", (int)k.tn, k.tp);
  }
  free(k.str);
  if (k.failed || !c->root) {
    knode_free(c->root);
    free(c);
    return NULL;
  }
  return c;
}

static bool keval(const knode *n, const wh_docker_container *c) {
  switch (n->kind) {
  case K_TRUE:
    return true;
  case K_LABEL: {
    const char *v = wh_docker_label(c, n->key);
    return strcmp(v ? v : "", n->value) == 0;
  }
  case K_REGEX: {
    const char *v = wh_docker_label(c, n->key);
    v = v ? v : "";
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
    if (!md)
      return false; /* OOM: fail closed */
    int rc = pcre2_match(n->re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
  }
  case K_NOT:
    return !keval(n->a, c);
  case K_AND:
    return keval(n->a, c) && keval(n->b, c);
  case K_OR:
    return keval(n->a, c) || keval(n->b, c);
  }
  return false;
}

bool wh_docker_constraints_match(const wh_docker_constraints *k, const wh_docker_container *c) {
  return k && keval(k->root, c);
}

void wh_docker_constraints_free(wh_docker_constraints *k) {
  if (!k)
    return;
  knode_free(k->root);
  free(k);
}
