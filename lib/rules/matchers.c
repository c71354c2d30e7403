/* The matcher catalogue and the per-argument validation/compilation done at parse time, so that
 * matching never fails and never allocates for anything but query strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/rules/matchers.h"

#define HTTP (1u << WH_RULE_HTTP)
#define TCP (1u << WH_RULE_TCP)
#define V2 (1u << 2)
#define V3 (1u << 3)

static const wh_rules_mdef defs[] = {
    /* name, kind, protos, syntaxes, min3, max3, min2, max2, alias_of */
    {"Host", WH_RM_HOST, HTTP, V2 | V3, 1, 1, 1, -1, NULL},
    {"HostHeader", WH_RM_HOST, HTTP, V2, 0, 0, 1, -1, "Host"},
    {"HostRegexp", WH_RM_HOSTREGEXP, HTTP, V2 | V3, 1, 1, 1, -1, NULL},
    {"Path", WH_RM_PATH, HTTP, V2 | V3, 1, 1, 1, -1, NULL},
    {"PathPrefix", WH_RM_PATHPREFIX, HTTP, V2 | V3, 1, 1, 1, -1, NULL},
    {"PathRegexp", WH_RM_PATHREGEXP, HTTP, V3, 1, 1, 0, 0, NULL},
    {"Method", WH_RM_METHOD, HTTP, V2 | V3, 1, 1, 1, -1, NULL},
    {"Header", WH_RM_HEADER, HTTP, V3, 2, 2, 0, 0, NULL},
    {"HeaderRegexp", WH_RM_HEADERREGEXP, HTTP, V3, 2, 2, 0, 0, NULL},
    {"Headers", WH_RM_HEADER, HTTP, V2, 0, 0, 2, 2, "Header"},
    {"HeadersRegexp", WH_RM_HEADERREGEXP, HTTP, V2, 0, 0, 2, 2, "HeaderRegexp"},
    {"Query", WH_RM_QUERY, HTTP, V2 | V3, 1, 2, 1, -1, NULL},
    {"QueryRegexp", WH_RM_QUERYREGEXP, HTTP, V3, 2, 2, 0, 0, NULL},
    {"ClientIP", WH_RM_CLIENTIP, HTTP | TCP, V2 | V3, 1, 1, 1, -1, NULL},
    {"HostSNI", WH_RM_HOSTSNI, TCP, V2 | V3, 1, 1, 1, -1, NULL},
    {"HostSNIRegexp", WH_RM_HOSTSNIREGEXP, TCP, V2 | V3, 1, 1, 1, -1, NULL},
    {"ALPN", WH_RM_ALPN, TCP, V2 | V3, 1, 1, 1, -1, NULL},
};
#define NDEFS (sizeof defs / sizeof defs[0])

/* Traefik registers each matcher as written, lower-case, upper-case and Title-case. */
static bool name_matches(const char *canon, const char *name, size_t len) {
  if (strlen(canon) != len || strncasecmp(canon, name, len) != 0)
    return false;
  if (strncmp(canon, name, len) == 0)
    return true;
  bool all_lower = true, all_upper = true, title = name[0] >= 'A' && name[0] <= 'Z';
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      all_lower = false;
      if (i > 0)
        title = false;
    } else if (c >= 'a' && c <= 'z') {
      all_upper = false;
    }
  }
  return all_lower || all_upper || title;
}

int wh_rules_lookup(const char *name, size_t len, wh_rule_proto proto, wh_rule_syntax syntax,
                    size_t pos, const wh_rules_mdef **out, wh_rule_error *err) {
  const wh_rules_mdef *other_proto = NULL, *other_syntax = NULL;
  for (size_t i = 0; i < NDEFS; i++) {
    if (!name_matches(defs[i].name, name, len))
      continue;
    if (!(defs[i].protos & (1u << proto))) {
      other_proto = &defs[i];
      continue;
    }
    if (!(defs[i].syntaxes & (1u << syntax))) {
      other_syntax = &defs[i];
      continue;
    }
    *out = &defs[i];
    return 0;
  }
  if (other_syntax) {
    if (syntax == WH_RULE_V3 && other_syntax->alias_of)
      wh_rules_set_error(err, pos, "%s: not available in v3 rule syntax, use %s (or ruleSyntax v2)",
                         other_syntax->name, other_syntax->alias_of);
    else
      wh_rules_set_error(err, pos, "%s: not available in %s rule syntax", other_syntax->name,
                         syntax == WH_RULE_V2 ? "v2" : "v3");
    return -1;
  }
  if (other_proto) {
    wh_rules_set_error(err, pos, "%s: not a%s matcher", other_proto->name,
                       proto == WH_RULE_TCP ? " TCP" : "n HTTP");
    return -1;
  }
  const char *cands[NDEFS];
  size_t nc = 0;
  for (size_t i = 0; i < NDEFS; i++)
    if ((defs[i].protos & (1u << proto)) && (defs[i].syntaxes & (1u << syntax)))
      cands[nc++] = defs[i].name;
  char word[64];
  snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), name);
  const char *sugg = len < 64 ? wh_str_suggest(word, cands, nc) : NULL;
  if (sugg)
    wh_rules_set_error(err, pos, "unknown matcher \"%s\" (did you mean \"%s\"?)", word, sugg);
  else
    wh_rules_set_error(err, pos, "unknown matcher \"%s\"", word);
  return -1;
}

static bool is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return false;
  return true;
}

static char *dup_case(const char *s, bool upper) {
  char *d = wh_strdup(s);
  if (!d)
    return NULL;
  for (char *p = d; *p; p++) {
    if (upper && *p >= 'a' && *p <= 'z')
      *p = (char)(*p - 32);
    else if (!upper && *p >= 'A' && *p <= 'Z')
      *p = (char)(*p + 32);
  }
  return d;
}

/* HostSNI values: "*" or ^(\*\.)?[\w.\-:]+$ (the "*." part from v3.7, v3 syntax only). */
static bool valid_sni(const char *s, bool allow_wild) {
  if (allow_wild && s[0] == '*' && s[1] == '.')
    s += 2;
  if (!*s)
    return false;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-' || c == ':'))
      return false;
  }
  return true;
}

static int compile_re(wh_rules_node *n, wh_rules_arg *a, const char *pattern, bool caseless,
                      wh_rule_error *err) {
  char emsg[160];
  a->re = wh_rules_re_compile(pattern, caseless, emsg, sizeof emsg);
  if (!a->re) {
    wh_rules_set_error(err, n->pos, "%s: invalid regular expression: %s", n->def->name, emsg);
    return -1;
  }
  return 0;
}

static int compile_template(wh_rules_node *n, wh_rules_arg *a, const char *tpl, const char *defpat,
                            bool anchor_end, bool caseless, wh_rule_error *err) {
  char emsg[160];
  char *re = wh_rules_template_regex(tpl, defpat, anchor_end, emsg, sizeof emsg);
  if (!re) {
    wh_rules_set_error(err, n->pos, "%s: invalid template: %s", n->def->name, emsg);
    return -1;
  }
  int rc = compile_re(n, a, re, caseless, err);
  free(re);
  return rc;
}

#define OOM()                                                                                      \
  do {                                                                                             \
    wh_rules_set_error(err, n->pos, "out of memory");                                              \
    return -1;                                                                                     \
  } while (0)

static int compile_arg(wh_rules_node *n, wh_rules_arg *a, size_t argpos, wh_rule_proto proto,
                       wh_rule_syntax syntax, wh_rule_error *err) {
  const char *name = n->def->name;
  const char *v = a->raw;
  bool v2 = syntax == WH_RULE_V2;
  switch (n->def->kind) {
  case WH_RM_HOST:
    if (!*v) {
      wh_rules_set_error(err, argpos, "%s: empty host", name);
      return -1;
    }
    if (!is_ascii(v)) {
      wh_rules_set_error(err, argpos, "%s: non-ASCII characters are not allowed (use punycode)",
                         name);
      return -1;
    }
    if (!v2 && strcmp(v, "*") == 0) {
      a->any = true;
    } else if (!v2 && v[0] == '*' && v[1] == '.' && v[2]) {
      a->wildcard = true;
      if (!(a->val = dup_case(v + 1, false)))
        OOM();
      return 0;
    }
    if (!(a->val = dup_case(v, false)))
      OOM();
    return 0;
  case WH_RM_HOSTREGEXP:
    if (v2)
      return compile_template(n, a, v, "[^.]+", true, true, err);
    return compile_re(n, a, v, false, err);
  case WH_RM_PATH:
  case WH_RM_PATHPREFIX:
    if (v[0] != '/') {
      wh_rules_set_error(err, argpos, "%s: path must start with '/'", name);
      return -1;
    }
    if (v2 && strchr(v, '{'))
      return compile_template(n, a, v, "[^/]+", n->def->kind == WH_RM_PATH, false, err);
    return 0;
  case WH_RM_PATHREGEXP:
    return compile_re(n, a, v, false, err);
  case WH_RM_METHOD:
    if (!(a->val = dup_case(v, true)))
      OOM();
    return 0;
  case WH_RM_HEADER:
    if (v2 && !*v)
      a->present_only = true;
    return 0;
  case WH_RM_HEADERREGEXP:
  case WH_RM_QUERYREGEXP:
    return compile_re(n, a, v, false, err);
  case WH_RM_QUERY:
    if (!v2)
      return 0;
    {
      /* v2: "k=v" (v may hold {name:re} templates), "k" or "k=" = key present. */
      const char *eq = strchr(v, '=');
      if (!(a->val = eq ? wh_strndup(v, (size_t)(eq - v)) : wh_strdup(v)))
        OOM();
      if (!eq || !eq[1]) {
        a->present_only = true;
        return 0;
      }
      if (!(a->val2 = wh_strdup(eq + 1)))
        OOM();
      if (strchr(eq + 1, '{'))
        return compile_template(n, a, eq + 1, ".*", true, false, err);
      return 0;
    }
  case WH_RM_CLIENTIP:
    if (wh_rules_ipnet_parse(v, &a->net) != 0) {
      wh_rules_set_error(err, argpos, "%s: invalid IP or CIDR \"%.100s\"", name, v);
      return -1;
    }
    return 0;
  case WH_RM_HOSTSNI:
    if (strcmp(v, "*") == 0) {
      a->any = true;
      return 0;
    }
    if (!valid_sni(v, !v2)) {
      wh_rules_set_error(err, argpos, "%s: \"%.100s\" is not a valid hostname", name, v);
      return -1;
    }
    {
      const char *h = v;
      if (h[0] == '*') {
        a->wildcard = true;
        h++;
      }
      if (!(a->val = dup_case(h, false)))
        OOM();
      size_t l = strlen(a->val);
      if (l > 1 && a->val[l - 1] == '.')
        a->val[l - 1] = '\0';
    }
    return 0;
  case WH_RM_HOSTSNIREGEXP:
    if (!is_ascii(v)) {
      wh_rules_set_error(err, argpos, "%s: non-ASCII characters are not allowed (use punycode)",
                         name);
      return -1;
    }
    if (v2)
      return compile_template(n, a, v, "[^.]+", true, true, err);
    return compile_re(n, a, v, false, err);
  case WH_RM_ALPN:
    if (strcmp(v, "acme-tls/1") == 0) {
      wh_rules_set_error(err, argpos, "%s: acme-tls/1 is reserved for the TLS-ALPN-01 challenge",
                         name);
      return -1;
    }
    return 0;
  }
  (void)proto;
  return 0;
}

static void count_error(wh_rules_node *n, int min, int max, wh_rule_error *err) {
  const char *name = n->def->name;
  if (max < 0)
    wh_rules_set_error(err, n->pos, "%s: expects at least %d argument%s, got %zu", name, min,
                       min == 1 ? "" : "s", n->nargs);
  else if (min == max)
    wh_rules_set_error(err, n->pos, "%s: expects %d argument%s, got %zu", name, min,
                       min == 1 ? "" : "s", n->nargs);
  else
    wh_rules_set_error(err, n->pos, "%s: expects %d or %d arguments, got %zu", name, min, max,
                       n->nargs);
}

int wh_rules_compile_leaf(wh_rules_node *n, const size_t *argpos, wh_rule_proto proto,
                          wh_rule_syntax syntax, wh_rule_error *err) {
  bool v2 = syntax == WH_RULE_V2;
  int min = v2 ? n->def->min2 : n->def->min3, max = v2 ? n->def->max2 : n->def->max3;
  if ((int)n->nargs < min || (max >= 0 && (int)n->nargs > max)) {
    count_error(n, min, max, err);
    return -1;
  }
  size_t first = 0;
  switch (n->def->kind) {
  case WH_RM_HEADER:
  case WH_RM_HEADERREGEXP:
  case WH_RM_QUERYREGEXP:
    first = 1; /* key, then value/regexp */
    break;
  case WH_RM_QUERY:
    if (!v2)
      first = n->nargs; /* k[, v] taken as is */
    break;
  default:
    break;
  }
  for (size_t i = first; i < n->nargs; i++)
    if (compile_arg(n, &n->args[i], argpos[i], proto, syntax, err) != 0)
      return -1;
  return 0;
}

void wh_rules_arg_free(wh_rules_arg *a) {
  free(a->raw);
  free(a->val);
  free(a->val2);
  wh_rules_re_free(a->re);
}
