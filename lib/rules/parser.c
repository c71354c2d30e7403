/* Recursive-descent parser: or := and ('||' and)*; and := unary ('&&' unary)*;
 * unary := '!' unary | '(' or ')' | Matcher '(' string (',' string)* ')'.
 * Chains of one operator become one n-ary node, so evaluation depth only grows with '(' and '!',
 * which are capped; nothing recursive can overflow the stack on hostile input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/rules/matchers.h"
#include "lib/rules/rules_internal.h"

typedef struct parser {
  wh_rules_lexer lx;
  wh_rules_tok tok; /* current token */
  wh_rule_proto proto;
  wh_rule_syntax syntax;
  wh_rule_error *err;
  unsigned depth;
} parser;

static int advance(parser *p) {
  free(p->tok.str);
  p->tok.str = NULL;
  return wh_rules_lexer_next(&p->lx, &p->tok, p->err);
}

static void unexpected(parser *p) {
  const wh_rules_tok *t = &p->tok;
  switch (t->kind) {
  case WH_RTOK_EOF:
    wh_rules_set_error(p->err, t->pos, "unexpected end of rule");
    break;
  case WH_RTOK_IDENT:
    wh_rules_set_error(p->err, t->pos, "unexpected identifier \"%.*s\"",
                       (int)(t->len > 64 ? 64 : t->len), p->lx.src + t->pos);
    break;
  case WH_RTOK_STRING:
    wh_rules_set_error(p->err, t->pos, "unexpected string");
    break;
  case WH_RTOK_LPAREN:
    wh_rules_set_error(p->err, t->pos, "unexpected '('");
    break;
  case WH_RTOK_RPAREN:
    wh_rules_set_error(p->err, t->pos, "unexpected ')'");
    break;
  case WH_RTOK_COMMA:
    wh_rules_set_error(p->err, t->pos, "unexpected ','");
    break;
  case WH_RTOK_AND:
    wh_rules_set_error(p->err, t->pos, "unexpected '&&'");
    break;
  case WH_RTOK_OR:
    wh_rules_set_error(p->err, t->pos, "unexpected '||'");
    break;
  case WH_RTOK_NOT:
    wh_rules_set_error(p->err, t->pos, "unexpected '!'");
    break;
  }
}

static wh_rules_node *new_node(parser *p, wh_rules_nkind kind, size_t pos) {
  wh_rules_node *n = calloc(1, sizeof *n);
  if (!n)
    wh_rules_set_error(p->err, pos, "out of memory");
  else
    n->kind = kind, n->pos = pos;
  return n;
}

void wh_rules_node_free(wh_rules_node *n) {
  if (!n)
    return;
  for (size_t i = 0; i < n->nargs; i++)
    wh_rules_arg_free(&n->args[i]);
  free(n->args);
  free(n->key);
  for (size_t i = 0; i < n->nkids; i++)
    wh_rules_node_free(n->kids[i]);
  free(n->kids);
  free(n);
}

static wh_rules_node *parse_or(parser *p);

static wh_rules_node *parse_matcher(parser *p) {
  size_t pos = p->tok.pos;
  const wh_rules_mdef *def;
  if (wh_rules_lookup(p->lx.src + pos, p->tok.len, p->proto, p->syntax, pos, &def, p->err) != 0)
    return NULL;
  if (advance(p) != 0)
    return NULL;
  if (p->tok.kind != WH_RTOK_LPAREN) {
    wh_rules_set_error(p->err, p->tok.pos, "expected '(' after %s", def->name);
    return NULL;
  }
  wh_rules_node *n = new_node(p, WH_RN_LEAF, pos);
  if (!n)
    return NULL;
  n->def = def;
  size_t cap = 0, *argpos = NULL;
  if (advance(p) != 0)
    goto fail;
  if (p->tok.kind != WH_RTOK_RPAREN) {
    for (;;) {
      if (p->tok.kind != WH_RTOK_STRING) {
        if (p->tok.kind == WH_RTOK_IDENT || p->tok.kind == WH_RTOK_EOF)
          wh_rules_set_error(p->err, p->tok.pos, "%s: expected a string argument", def->name);
        else
          unexpected(p);
        goto fail;
      }
      if (n->nargs == cap) {
        size_t ncap = cap ? cap * 2 : 2;
        wh_rules_arg *na = realloc(n->args, ncap * sizeof *na);
        if (na)
          n->args = na;
        size_t *np = na ? realloc(argpos, ncap * sizeof *np) : NULL;
        if (!na || !np) {
          wh_rules_set_error(p->err, p->tok.pos, "out of memory");
          goto fail;
        }
        argpos = np;
        cap = ncap;
      }
      memset(&n->args[n->nargs], 0, sizeof n->args[0]);
      n->args[n->nargs].raw = p->tok.str;
      p->tok.str = NULL;
      argpos[n->nargs++] = p->tok.pos;
      if (advance(p) != 0)
        goto fail;
      if (p->tok.kind == WH_RTOK_RPAREN)
        break;
      if (p->tok.kind != WH_RTOK_COMMA) {
        if (p->tok.kind == WH_RTOK_EOF)
          wh_rules_set_error(p->err, p->tok.pos, "%s: missing ')'", def->name);
        else
          unexpected(p);
        goto fail;
      }
      if (advance(p) != 0)
        goto fail;
    }
  }
  if (wh_rules_compile_leaf(n, argpos, p->proto, p->syntax, p->err) != 0)
    goto fail;
  free(argpos);
  if (advance(p) != 0) {
    wh_rules_node_free(n);
    return NULL;
  }
  return n;
fail:
  free(argpos);
  wh_rules_node_free(n);
  return NULL;
}

static wh_rules_node *parse_unary(parser *p) {
  size_t pos = p->tok.pos;
  if (p->tok.kind == WH_RTOK_NOT || p->tok.kind == WH_RTOK_LPAREN) {
    if (++p->depth > WH_RULE_MAX_DEPTH) {
      wh_rules_set_error(p->err, pos, "rule nesting too deep (max %u)", WH_RULE_MAX_DEPTH);
      return NULL;
    }
    bool is_not = p->tok.kind == WH_RTOK_NOT;
    if (advance(p) != 0)
      return NULL;
    wh_rules_node *inner = is_not ? parse_unary(p) : parse_or(p);
    if (!inner)
      return NULL;
    p->depth--;
    if (!is_not) {
      if (p->tok.kind != WH_RTOK_RPAREN) {
        if (p->tok.kind == WH_RTOK_EOF)
          wh_rules_set_error(p->err, pos, "unclosed '('");
        else
          unexpected(p);
        wh_rules_node_free(inner);
        return NULL;
      }
      if (advance(p) != 0) {
        wh_rules_node_free(inner);
        return NULL;
      }
      return inner;
    }
    wh_rules_node *n = new_node(p, WH_RN_NOT, pos);
    wh_rules_node **kids = n ? malloc(sizeof *kids) : NULL;
    if (!kids) {
      free(n);
      wh_rules_set_error(p->err, pos, "out of memory");
      wh_rules_node_free(inner);
      return NULL;
    }
    kids[0] = inner;
    n->kids = kids;
    n->nkids = 1;
    return n;
  }
  if (p->tok.kind == WH_RTOK_IDENT)
    return parse_matcher(p);
  unexpected(p);
  return NULL;
}

/* One n-ary node for a run of the same operator. */
static wh_rules_node *parse_chain(parser *p, wh_rules_tok_kind op) {
  wh_rules_node *first = op == WH_RTOK_OR ? parse_chain(p, WH_RTOK_AND) : parse_unary(p);
  if (!first || p->tok.kind != op)
    return first;
  wh_rules_node *n = new_node(p, op == WH_RTOK_OR ? WH_RN_OR : WH_RN_AND, first->pos);
  if (!n) {
    wh_rules_node_free(first);
    return NULL;
  }
  size_t cap = 4;
  n->kids = malloc(cap * sizeof *n->kids);
  if (!n->kids) {
    wh_rules_node_free(first);
    goto oom;
  }
  n->kids[n->nkids++] = first;
  while (p->tok.kind == op) {
    if (advance(p) != 0)
      goto fail;
    wh_rules_node *k = op == WH_RTOK_OR ? parse_chain(p, WH_RTOK_AND) : parse_unary(p);
    if (!k)
      goto fail;
    if (n->nkids == cap) {
      wh_rules_node **nk = realloc(n->kids, cap * 2 * sizeof *nk);
      if (!nk) {
        wh_rules_node_free(k);
        goto oom;
      }
      n->kids = nk;
      cap *= 2;
    }
    n->kids[n->nkids++] = k;
  }
  return n;
oom:
  wh_rules_set_error(p->err, n->pos, "out of memory");
fail:
  wh_rules_node_free(n);
  return NULL;
}

static wh_rules_node *parse_or(parser *p) {
  return parse_chain(p, WH_RTOK_OR);
}

wh_rule *wh_rule_parse(const char *text, wh_rule_proto proto, wh_rule_syntax syntax,
                       wh_rule_error *err) {
  wh_rule_error dummy;
  if (!err)
    err = &dummy;
  err->pos = 0;
  err->msg[0] = '\0';
  if ((proto != WH_RULE_HTTP && proto != WH_RULE_TCP) ||
      (syntax != WH_RULE_V2 && syntax != WH_RULE_V3)) {
    wh_rules_set_error(err, 0, "invalid protocol or rule syntax");
    return NULL;
  }
  size_t len = text ? strnlen(text, WH_RULE_MAX_LEN + 1) : 0;
  if (len > WH_RULE_MAX_LEN) {
    wh_rules_set_error(err, 0, "rule too long (max %u bytes)", WH_RULE_MAX_LEN);
    return NULL;
  }
  size_t b = 0;
  while (b < len && strchr(" \t\r\n", text[b]))
    b++;
  if (b == len) {
    err->pos = 0;
    snprintf(err->msg, sizeof err->msg, "empty rule");
    return NULL;
  }
  parser p = {.proto = proto, .syntax = syntax, .err = err};
  wh_rules_lexer_init(&p.lx, text, len);
  if (wh_rules_lexer_next(&p.lx, &p.tok, err) != 0)
    return NULL;
  wh_rules_node *root = parse_or(&p);
  if (root && p.tok.kind != WH_RTOK_EOF) {
    if (p.tok.kind == WH_RTOK_IDENT || p.tok.kind == WH_RTOK_STRING ||
        p.tok.kind == WH_RTOK_LPAREN || p.tok.kind == WH_RTOK_NOT)
      wh_rules_set_error(err, p.tok.pos, "expected '&&' or '||'");
    else
      unexpected(&p);
    wh_rules_node_free(root);
    root = NULL;
  }
  free(p.tok.str);
  if (!root)
    return NULL;
  wh_rule *r = calloc(1, sizeof *r);
  if (!r) {
    wh_rules_node_free(root);
    wh_rules_set_error(err, 0, "out of memory");
    return NULL;
  }
  r->root = root;
  r->proto = proto;
  r->syntax = syntax;
  if (wh_rules_compute_exact_hosts(r) != 0) {
    wh_rule_free(r);
    wh_rules_set_error(err, 0, "out of memory");
    return NULL;
  }
  return r;
}

void wh_rule_free(wh_rule *r) {
  if (!r)
    return;
  wh_rules_node_free(r->root);
  for (size_t i = 0; i < r->nexact; i++)
    free(r->exact_hosts[i]);
  free(r->exact_hosts);
  free(r);
}

int wh_rule_syntax_parse(const char *s, wh_rule_syntax def, wh_rule_syntax *out) {
  if (!s || !*s) {
    *out = def;
    return 0;
  }
  if (strcmp(s, "v3") == 0) {
    *out = WH_RULE_V3;
    return 0;
  }
  if (strcmp(s, "v2") == 0) {
    *out = WH_RULE_V2;
    return 0;
  }
  return -1;
}

wh_rule_syntax wh_rule_get_syntax(const wh_rule *r) {
  return r->syntax;
}
wh_rule_proto wh_rule_get_proto(const wh_rule *r) {
  return r->proto;
}
