#include "middleware/cb_expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens (Go's lexical rules, restricted to what can appear) ---- */

typedef enum {
  T_EOF = 0,
  T_IDENT,
  T_INT,
  T_FLOAT,
  T_STRING,
  T_LPAREN,
  T_RPAREN,
  T_COMMA,
  T_AND, /* && */
  T_OR,  /* || */
  T_EQ,
  T_NE,
  T_LT,
  T_LE,
  T_GT,
  T_GE,
  T_OTHER_OP, /* a Go operator oxy has no use for: ! + - * / % & | ^ << >> &^ */
  T_ERROR     /* lexical error, message already set */
} tok_kind;

typedef struct tok {
  tok_kind kind;
  size_t pos, len;
  int64_t ival;
  double fval;
} tok;

typedef struct parser {
  const char *src;
  size_t off;
  tok t; /* current token */
  wh_cb_expr_error *err;
  bool failed;
  int depth; /* parentheses open: bounded, the parser recurses */
} parser;

__attribute__((format(printf, 3, 4))) static void fail(parser *p, size_t pos, const char *fmt,
                                                       ...) {
  if (p->failed)
    return;
  p->failed = true;
  if (!p->err)
    return;
  p->err->pos = pos;
  int n = snprintf(p->err->msg, sizeof p->err->msg, "col %zu: ", pos + 1);
  if (n < 0 || (size_t)n >= sizeof p->err->msg)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err->msg + n, sizeof p->err->msg - (size_t)n, fmt, ap);
  va_end(ap);
}

/* How a token reads in a message: its text, or 'EOF'. */
static void tok_text(const parser *p, const tok *t, char *buf, size_t n) {
  if (t->kind == T_EOF) {
    snprintf(buf, n, "EOF");
    return;
  }
  size_t len = t->len > 32 ? 32 : t->len;
  snprintf(buf, n, "'%.*s%s'", (int)len, p->src + t->pos, t->len > 32 ? "..." : "");
}

static bool is_ident_start(int c) {
  return isalpha(c) || c == '_';
}

static void lex_number(parser *p, tok *t) {
  const char *s = p->src + t->pos;
  size_t i = 0;
  bool is_float = false, bad = false;
  /* Take the whole literal-looking run, then classify: anything but plain
   * decimal digits or a decimal float (hex, octal-looking floats with
   * letters, underscores) is refused, as strconv.Atoi/ParseFloat do. */
  for (;;) {
    char c = s[i];
    if (isdigit((unsigned char)c)) {
      i++;
    } else if (c == '.') {
      is_float = true;
      i++;
    } else if ((c == 'e' || c == 'E') && !(i > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
      is_float = true;
      i++;
      if (s[i] == '+' || s[i] == '-')
        i++;
    } else if (isalnum((unsigned char)c) || c == '_') {
      bad = true;
      i++;
    } else {
      break;
    }
  }
  t->len = i;
  char buf[64];
  if (bad || i >= sizeof buf) {
    fail(p, t->pos, "invalid number literal '%.*s'", (int)(i > 40 ? 40 : i), s);
    t->kind = T_ERROR;
    return;
  }
  memcpy(buf, s, i);
  buf[i] = '\0';
  char *end = NULL;
  errno = 0;
  if (!is_float) {
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) {
      fail(p, t->pos, "integer literal %s out of range", buf);
      t->kind = T_ERROR;
      return;
    }
    t->kind = T_INT;
    t->ival = v;
    return;
  }
  /* Shape check first: strtod would also take "1e" as 1 or "." as error
   * in ways that differ from Go's scanner. */
  size_t j = 0, mant = 0;
  while (isdigit((unsigned char)buf[j]))
    j++, mant++;
  if (buf[j] == '.') {
    j++;
    while (isdigit((unsigned char)buf[j]))
      j++, mant++;
  }
  bool ok = mant > 0;
  if (ok && (buf[j] == 'e' || buf[j] == 'E')) {
    j++;
    if (buf[j] == '+' || buf[j] == '-')
      j++;
    size_t d = j;
    while (isdigit((unsigned char)buf[j]))
      j++;
    ok = j > d;
  }
  ok = ok && buf[j] == '\0';
  double v = ok ? strtod(buf, &end) : 0;
  if (!ok || *end || errno == ERANGE || !isfinite(v)) {
    fail(p, t->pos, "invalid float literal '%s'", buf);
    t->kind = T_ERROR;
    return;
  }
  t->kind = T_FLOAT;
  t->fval = v;
}

static void lex_string(parser *p, tok *t) {
  const char *s = p->src + t->pos;
  char q = s[0];
  size_t i = 1;
  while (s[i] && s[i] != q && (q == '`' || s[i] != '\n')) {
    if (s[i] == '\\' && q != '`' && s[i + 1])
      i++;
    i++;
  }
  if (s[i] != q) {
    fail(p, t->pos, "string literal not terminated");
    t->kind = T_ERROR;
    t->len = i;
    return;
  }
  t->kind = T_STRING;
  t->len = i + 1;
}

static void next(parser *p) {
  const char *s = p->src;
  while (s[p->off] == ' ' || s[p->off] == '\t' || s[p->off] == '\n' || s[p->off] == '\r')
    p->off++;
  tok *t = &p->t;
  memset(t, 0, sizeof *t);
  t->pos = p->off;
  char c = s[p->off], d = c ? s[p->off + 1] : '\0';
  if (!c) {
    t->kind = T_EOF;
    return;
  }
  if (is_ident_start((unsigned char)c)) {
    size_t i = p->off;
    while (is_ident_start((unsigned char)s[i]) || isdigit((unsigned char)s[i]))
      i++;
    t->kind = T_IDENT;
    t->len = i - p->off;
  } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)d))) {
    lex_number(p, t);
  } else if (c == '"' || c == '`' || c == '\'') {
    lex_string(p, t);
  } else {
    static const struct {
      const char *text;
      tok_kind kind;
    } ops[] = {
        {"&&", T_AND},      {"||", T_OR},      {"==", T_EQ},       {"!=", T_NE},
        {"<=", T_LE},       {">=", T_GE},      {"<<", T_OTHER_OP}, {">>", T_OTHER_OP},
        {"&^", T_OTHER_OP}, {"<", T_LT},       {">", T_GT},        {"(", T_LPAREN},
        {")", T_RPAREN},    {",", T_COMMA},    {"!", T_OTHER_OP},  {"+", T_OTHER_OP},
        {"-", T_OTHER_OP},  {"*", T_OTHER_OP}, {"/", T_OTHER_OP},  {"%", T_OTHER_OP},
        {"&", T_OTHER_OP},  {"|", T_OTHER_OP}, {"^", T_OTHER_OP},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
      size_t n = strlen(ops[i].text);
      if (strncmp(s + p->off, ops[i].text, n) == 0) {
        t->kind = ops[i].kind;
        t->len = n;
        break;
      }
    }
    if (!t->len) {
      if (c == '=')
        fail(p, t->pos, "unexpected '=' (use == to compare)");
      else if (isprint((unsigned char)c))
        fail(p, t->pos, "illegal character '%c'", c);
      else
        fail(p, t->pos, "illegal character 0x%02x", (unsigned char)c);
      t->kind = T_ERROR;
      t->len = 1;
    }
  }
  p->off = t->pos + t->len;
}

/* ---- typed values while parsing ---- */

typedef enum {
  V_PRED,     /* a condition: node */
  V_FN_FLOAT, /* NetworkErrorRatio(), ResponseCodeRatio(...) */
  V_FN_INT,   /* LatencyAtQuantileMS(q), RequestThreshold() */
  V_INT,      /* integer literal */
  V_FLOAT,    /* float literal */
  V_STRING    /* string literal: never valid, kept for the message */
} vtype;

typedef enum { N_AND, N_OR, N_CMP } nkind;
typedef enum { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE } cmpop;

struct wh_cb_expr {
  nkind kind;
  wh_cb_expr *l, *r; /* AND, OR */
  wh_cb_call call;   /* CMP */
  cmpop op;
  double lit;
};

typedef struct val {
  vtype type;
  size_t pos, end; /* source span, for messages */
  wh_cb_expr *node;
  wh_cb_call call;
  int64_t ival;
  double fval;
} val;

static const char *const fn_names[] = {
    [WH_CB_NETWORK_ERROR_RATIO] = "NetworkErrorRatio",
    [WH_CB_RESPONSE_CODE_RATIO] = "ResponseCodeRatio",
    [WH_CB_LATENCY_AT_QUANTILE_MS] = "LatencyAtQuantileMS",
    [WH_CB_REQUEST_THRESHOLD] = "RequestThreshold",
};

static const char *vtype_name(vtype t) {
  switch (t) {
  case V_PRED:
    return "a condition";
  case V_FN_FLOAT:
    return "a float-valued function";
  case V_FN_INT:
    return "an integer-valued function";
  case V_INT:
    return "an integer literal";
  case V_FLOAT:
    return "a float literal";
  case V_STRING:
    return "a string literal";
  }
  return "?";
}

static bool parse_or(parser *p, val *out);

static void val_drop(val *v) {
  if (v->type == V_PRED)
    wh_cb_expr_free(v->node);
  v->node = NULL;
}

/* Name(args...) with the current token just past the name. */
static bool parse_call(parser *p, const tok *name, val *out) {
  int fn = -1;
  for (size_t i = 0; i < sizeof fn_names / sizeof fn_names[0]; i++)
    if (strlen(fn_names[i]) == name->len &&
        strncmp(p->src + name->pos, fn_names[i], name->len) == 0)
      fn = (int)i;
  if (fn < 0) {
    fail(p, name->pos,
         "unsupported function %.*s (NetworkErrorRatio, ResponseCodeRatio, LatencyAtQuantileMS, "
         "RequestThreshold)",
         (int)(name->len > 40 ? 40 : name->len), p->src + name->pos);
    return false;
  }
  next(p); /* '(' */
  tok args[5];
  size_t n = 0;
  if (p->t.kind != T_RPAREN) {
    for (;;) {
      if (p->t.kind == T_ERROR)
        return false;
      if (p->t.kind != T_INT && p->t.kind != T_FLOAT && p->t.kind != T_STRING) {
        char b[48];
        tok_text(p, &p->t, b, sizeof b);
        fail(p, p->t.pos, "arguments of %s must be literals, found %s", fn_names[fn], b);
        return false;
      }
      if (n < 5)
        args[n] = p->t;
      n++;
      next(p);
      if (p->t.kind == T_COMMA) {
        next(p);
        continue;
      }
      if (p->t.kind == T_RPAREN)
        break;
      if (p->t.kind != T_ERROR) {
        char b[48];
        tok_text(p, &p->t, b, sizeof b);
        fail(p, p->t.pos, "expected ',' or ')' in the arguments of %s, found %s", fn_names[fn], b);
      }
      return false;
    }
  }
  size_t rparen_end = p->t.pos + 1;
  memset(out, 0, sizeof *out);
  out->pos = name->pos;
  out->end = rparen_end;
  out->call.fn = (wh_cb_fn)fn;
  switch ((wh_cb_fn)fn) {
  case WH_CB_NETWORK_ERROR_RATIO:
  case WH_CB_REQUEST_THRESHOLD:
    if (n) {
      fail(p, args[0].pos, "%s takes no argument", fn_names[fn]);
      return false;
    }
    out->type = fn == WH_CB_NETWORK_ERROR_RATIO ? V_FN_FLOAT : V_FN_INT;
    break;
  case WH_CB_RESPONSE_CODE_RATIO:
    if (n != 4) {
      fail(p, name->pos,
           "ResponseCodeRatio takes 4 integer arguments (startA, endA, startB, endB), got %zu", n);
      return false;
    }
    for (size_t i = 0; i < 4; i++) {
      if (args[i].kind != T_INT) {
        fail(p, args[i].pos, "argument %zu of ResponseCodeRatio must be an integer like 500",
             i + 1);
        return false;
      }
      out->call.args[i] = args[i].ival;
    }
    out->type = V_FN_FLOAT;
    break;
  case WH_CB_LATENCY_AT_QUANTILE_MS:
    if (n != 1) {
      fail(p, name->pos,
           "LatencyAtQuantileMS takes 1 float argument (a percentile like 50.0), got %zu", n);
      return false;
    }
    if (args[0].kind != T_FLOAT) {
      /* oxy's function takes a float64, which an integer literal is not. */
      fail(p, args[0].pos, "the argument of LatencyAtQuantileMS must be a float literal like 50.0");
      return false;
    }
    out->call.quantile = args[0].fval;
    out->type = V_FN_INT;
    break;
  }
  next(p); /* past ')' */
  return true;
}

static bool parse_primary(parser *p, val *out) {
  tok t = p->t;
  char b[48];
  memset(out, 0, sizeof *out);
  out->pos = t.pos;
  out->end = t.pos + t.len;
  switch (t.kind) {
  case T_ERROR:
    return false;
  case T_LPAREN: {
    if (++p->depth > 64) {
      fail(p, t.pos, "parentheses nested too deeply");
      return false;
    }
    next(p);
    bool inner = parse_or(p, out);
    p->depth--;
    if (!inner)
      return false;
    if (p->t.kind != T_RPAREN) {
      if (p->t.kind != T_ERROR) {
        tok_text(p, &p->t, b, sizeof b);
        fail(p, p->t.pos, "expected ')', found %s", b);
      }
      val_drop(out);
      return false;
    }
    out->pos = t.pos;
    out->end = p->t.pos + 1;
    next(p);
    return true;
  }
  case T_IDENT:
    next(p);
    if (p->t.kind == T_LPAREN)
      return parse_call(p, &t, out);
    fail(p, t.pos, "%.*s is not defined (functions are called: %.*s())",
         (int)(t.len > 40 ? 40 : t.len), p->src + t.pos, (int)(t.len > 40 ? 40 : t.len),
         p->src + t.pos);
    return false;
  case T_INT:
    out->type = V_INT;
    out->ival = t.ival;
    next(p);
    return true;
  case T_FLOAT:
    out->type = V_FLOAT;
    out->fval = t.fval;
    next(p);
    return true;
  case T_STRING:
    out->type = V_STRING;
    next(p);
    return true;
  case T_OTHER_OP:
    /* Unary !, - and + parse in Go, but oxy defines no operator for them:
     * "-0.5" and "!(...)" are refused there too. */
    fail(p, t.pos, "operator %.*s is not supported", (int)t.len, p->src + t.pos);
    return false;
  default:
    tok_text(p, &t, b, sizeof b);
    fail(p, t.pos, "expected operand, found %s", b);
    return false;
  }
}

static bool cmp_tok(tok_kind k, cmpop *op) {
  switch (k) {
  case T_EQ:
    *op = C_EQ;
    return true;
  case T_NE:
    *op = C_NE;
    return true;
  case T_LT:
    *op = C_LT;
    return true;
  case T_LE:
    *op = C_LE;
    return true;
  case T_GT:
    *op = C_GT;
    return true;
  case T_GE:
    *op = C_GE;
    return true;
  default:
    return false;
  }
}

/* Reports an operator Go would parse but oxy does not know, where a binary
 * operator may stand. */
static bool other_binary_op(parser *p) {
  if (p->t.kind != T_OTHER_OP)
    return false;
  fail(p, p->t.pos, "operator %.*s is not supported", (int)p->t.len, p->src + p->t.pos);
  return true;
}

static bool parse_cmp(parser *p, val *out) {
  if (!parse_primary(p, out))
    return false;
  cmpop op;
  while (cmp_tok(p->t.kind, &op)) {
    tok optok = p->t;
    next(p);
    val rhs;
    if (!parse_primary(p, &rhs)) {
      val_drop(out);
      return false;
    }
    const char *opname = p->src + optok.pos;
    int oplen = (int)optok.len;
    bool ok = true;
    if (out->type != V_FN_FLOAT && out->type != V_FN_INT) {
      fail(p, out->pos,
           "the left side of %.*s must be a function such as NetworkErrorRatio(), not %s", oplen,
           opname, vtype_name(out->type));
      ok = false;
    } else if (out->type == V_FN_FLOAT && rhs.type != V_FLOAT) {
      fail(p, rhs.pos, "%s() compares with a float literal (like 0.5 or 1.0), not %s",
           fn_names[out->call.fn], vtype_name(rhs.type));
      ok = false;
    } else if (out->type == V_FN_INT && rhs.type != V_INT) {
      fail(p, rhs.pos, "%s() compares with an integer literal (like 100), not %s",
           fn_names[out->call.fn], vtype_name(rhs.type));
      ok = false;
    }
    if (!ok) {
      val_drop(out);
      val_drop(&rhs);
      return false;
    }
    wh_cb_expr *n = calloc(1, sizeof *n);
    if (!n) {
      fail(p, optok.pos, "out of memory");
      return false;
    }
    n->kind = N_CMP;
    n->call = out->call;
    n->op = op;
    n->lit = rhs.type == V_FLOAT ? rhs.fval : (double)rhs.ival;
    out->type = V_PRED;
    out->node = n;
    out->end = rhs.end;
  }
  if (other_binary_op(p)) {
    val_drop(out);
    return false;
  }
  return true;
}

static bool parse_logic(parser *p, val *out, bool is_or) {
  if (!(is_or ? parse_logic(p, out, false) : parse_cmp(p, out)))
    return false;
  tok_kind want = is_or ? T_OR : T_AND;
  while (p->t.kind == want) {
    tok optok = p->t;
    next(p);
    val rhs;
    if (!(is_or ? parse_logic(p, &rhs, false) : parse_cmp(p, &rhs))) {
      val_drop(out);
      return false;
    }
    const val *bad = out->type != V_PRED ? out : rhs.type != V_PRED ? &rhs : NULL;
    if (bad) {
      fail(p, bad->pos,
           "both sides of %s must be conditions (like NetworkErrorRatio() > 0.5), not %s",
           is_or ? "||" : "&&", vtype_name(bad->type));
      val_drop(out);
      val_drop(&rhs);
      return false;
    }
    wh_cb_expr *n = calloc(1, sizeof *n);
    if (!n) {
      fail(p, optok.pos, "out of memory");
      val_drop(out);
      val_drop(&rhs);
      return false;
    }
    n->kind = is_or ? N_OR : N_AND;
    n->l = out->node;
    n->r = rhs.node;
    out->node = n;
    out->end = rhs.end;
  }
  return true;
}

static bool parse_or(parser *p, val *out) {
  return parse_logic(p, out, true);
}

wh_cb_expr *wh_cb_expr_parse(const char *src, wh_cb_expr_error *err) {
  parser p = {.src = src ? src : "", .err = err};
  if (err) {
    err->pos = 0;
    err->msg[0] = '\0';
  }
  next(&p);
  val v;
  if (!parse_or(&p, &v))
    return NULL;
  if (p.t.kind != T_EOF) {
    if (p.t.kind != T_ERROR) {
      char b[48];
      tok_text(&p, &p.t, b, sizeof b);
      fail(&p, p.t.pos, "unexpected %s after the expression", b);
    }
    val_drop(&v);
    return NULL;
  }
  if (v.type != V_PRED) {
    fail(&p, v.pos, "the expression must be a condition such as NetworkErrorRatio() > 0.5, not %s",
         vtype_name(v.type));
    return NULL;
  }
  return v.node;
}

bool wh_cb_expr_eval(const wh_cb_expr *e, wh_cb_value_fn value, void *ctx) {
  switch (e->kind) {
  case N_AND:
    return wh_cb_expr_eval(e->l, value, ctx) && wh_cb_expr_eval(e->r, value, ctx);
  case N_OR:
    return wh_cb_expr_eval(e->l, value, ctx) || wh_cb_expr_eval(e->r, value, ctx);
  case N_CMP:
    break;
  }
  double v = value(ctx, &e->call);
  switch (e->op) {
  case C_EQ:
    return v == e->lit;
  case C_NE:
    return v != e->lit;
  case C_LT:
    return v < e->lit;
  case C_LE:
    return v <= e->lit;
  case C_GT:
    return v > e->lit;
  case C_GE:
    return v >= e->lit;
  }
  return false;
}

bool wh_cb_expr_uses(const wh_cb_expr *e, wh_cb_fn fn) {
  if (!e)
    return false;
  if (e->kind == N_CMP)
    return e->call.fn == fn;
  return wh_cb_expr_uses(e->l, fn) || wh_cb_expr_uses(e->r, fn);
}

void wh_cb_expr_free(wh_cb_expr *e) {
  if (!e)
    return;
  wh_cb_expr_free(e->l);
  wh_cb_expr_free(e->r);
  free(e);
}
