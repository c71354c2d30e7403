/* Private to lib/rules: tokens, AST and the helpers the parser and matchers share. */
#ifndef WH_RULES_INTERNAL_H
#define WH_RULES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/rules/rules.h"

/* ---- lexer ---- */
typedef enum {
  WH_RTOK_EOF,
  WH_RTOK_IDENT,
  WH_RTOK_STRING,
  WH_RTOK_LPAREN,
  WH_RTOK_RPAREN,
  WH_RTOK_COMMA,
  WH_RTOK_AND,
  WH_RTOK_OR,
  WH_RTOK_NOT,
} wh_rules_tok_kind;

typedef struct wh_rules_tok {
  wh_rules_tok_kind kind;
  size_t pos, len; /* span in the source */
  char *str;       /* STRING: decoded value, malloc'd, owned by whoever takes it; else NULL */
} wh_rules_tok;

typedef struct wh_rules_lexer {
  const char *src;
  size_t len, pos;
} wh_rules_lexer;

void wh_rules_lexer_init(wh_rules_lexer *lx, const char *src, size_t len);
/* 0 with *tok filled, or -1 with *err filled (tok->str is then NULL). */
int wh_rules_lexer_next(wh_rules_lexer *lx, wh_rules_tok *tok, wh_rule_error *err);
/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), 0 when invalid. */
size_t wh_rules_utf8_len(const unsigned char *s, size_t n);
void wh_rules_set_error(wh_rule_error *err, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- regex (PCRE2 with Go RE2 semantics) ---- */
typedef struct wh_rules_re wh_rules_re;
/* Compiles a Go-syntax regexp. NULL with a message in errbuf on failure. */
wh_rules_re *wh_rules_re_compile(const char *pattern, bool caseless, char *errbuf, size_t errlen);
/* Unanchored search unless the pattern anchors itself. Thread-safe. */
bool wh_rules_re_match(const wh_rules_re *re, const char *subject, size_t len);
void wh_rules_re_free(wh_rules_re *re);
/* gorilla/mux template ("{name:re}" parts, literal text quoted) to a Go regexp:
 * "^...$" (or "^..." when !anchor_end), caller frees; NULL with errbuf on failure. */
char *wh_rules_template_regex(const char *tpl, const char *default_pattern, bool anchor_end,
                              char *errbuf, size_t errlen);

/* ---- IP ranges ---- */
typedef struct wh_rules_ipnet {
  int family; /* AF_INET or AF_INET6; v4-mapped IPv6 is stored as AF_INET */
  uint8_t addr[16];
  unsigned prefix;
} wh_rules_ipnet;
int wh_rules_ipnet_parse(const char *s, wh_rules_ipnet *out); /* 0 or -1 */
bool wh_rules_ipnet_contains(const wh_rules_ipnet *n, const struct sockaddr *sa);

/* ---- AST ---- */
typedef enum {
  WH_RM_HOST,
  WH_RM_HOSTREGEXP,
  WH_RM_PATH,
  WH_RM_PATHPREFIX,
  WH_RM_PATHREGEXP,
  WH_RM_METHOD,
  WH_RM_HEADER,
  WH_RM_HEADERREGEXP,
  WH_RM_QUERY,
  WH_RM_QUERYREGEXP,
  WH_RM_CLIENTIP,
  WH_RM_HOSTSNI,
  WH_RM_HOSTSNIREGEXP,
  WH_RM_ALPN,
} wh_rules_mkind;

typedef struct wh_rules_mdef {
  const char *name; /* canonical spelling */
  wh_rules_mkind kind;
  unsigned protos;      /* bit (1 << wh_rule_proto) */
  unsigned syntaxes;    /* bit 2 = v2, bit 3 = v3 */
  int min3, max3;       /* argument counts in v3 */
  int min2, max2;       /* argument counts in v2; max -1 = variadic */
  const char *alias_of; /* v2-only names: the v3 matcher to use instead */
} wh_rules_mdef;

typedef enum { WH_RN_LEAF, WH_RN_AND, WH_RN_OR, WH_RN_NOT } wh_rules_nkind;

/* Per-argument compiled form. Which fields are set depends on the matcher. */
typedef struct wh_rules_arg {
  char *raw;       /* as written (decoded string literal) */
  char *val;       /* canonical value: lowercased host, uppercased method, query key... */
  char *val2;      /* second value: query value */
  wh_rules_re *re; /* compiled regexp, when the argument is one */
  wh_rules_ipnet net;
  bool present_only; /* v2 Query(`k`) / Headers(k, ``): presence test */
  bool wildcard;     /* Host(`*.x`) / HostSNI(`*.x`): val is ".x" suffix */
  bool any;          /* Host(`*`) / HostSNI(`*`) */
} wh_rules_arg;

typedef struct wh_rules_node wh_rules_node;
struct wh_rules_node {
  wh_rules_nkind kind;
  size_t pos;
  /* LEAF */
  const wh_rules_mdef *def;
  wh_rules_arg *args;
  size_t nargs;
  char *key; /* Header/HeaderRegexp/QueryRegexp (v3) and Headers* (v2) key */
  /* AND/OR: children; NOT: one child */
  wh_rules_node **kids;
  size_t nkids;
};

struct wh_rule {
  wh_rules_node *root;
  wh_rule_proto proto;
  wh_rule_syntax syntax;
  char **exact_hosts;
  size_t nexact;
};

void wh_rules_node_free(wh_rules_node *n);
/* Fills r->exact_hosts from the AST. 0 or -1 on OOM. */
int wh_rules_compute_exact_hosts(wh_rule *r);

/* Host helpers shared by HTTP and TCP matching. */
/* Canonical request host: trimmed, lowercased, port and IPv6 brackets removed, into buf
 * (cap bytes); returns its length, or (size_t)-1 when it does not fit. */
size_t wh_rules_canon_host(const char *raw, char *buf, size_t cap);
/* Traefik's Host comparison: equal, or equal once a trailing dot is removed from either side. */
bool wh_rules_host_eq(const char *rule, size_t rlen, const char *req, size_t qlen);
/* "*.x" wildcard: req is exactly one non-empty label followed by suffix (".x"), trailing dots
 * tolerated. */
bool wh_rules_host_wild(const char *suffix, const char *req, size_t qlen);

#endif
