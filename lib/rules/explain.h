/* Why a rule does or does not match a request, for `wharf explain` and /api/debug/explain.
 *
 * The answer is always the data plane's: every leaf is decided by wh_rule_match_http /
 * wh_rule_match_tcp themselves, and And/Or/Not combine the leaves exactly as the matcher does
 * (short-circuit order included). What this adds is the sentence: the first leaf that made the
 * rule fail, written as the user wrote it, what it expected and what the request had. */
#ifndef WH_RULES_EXPLAIN_H
#define WH_RULES_EXPLAIN_H

#include <stdbool.h>

#include "lib/rules/rules.h"

typedef struct wh_rule_why {
  bool matched;
  /* The rest is NULL when matched; otherwise malloc'd and owned by the struct. */
  char *matcher; /* the deciding matcher as written, e.g. "Host(`a.example`)", "!Path(`/x`)" */
  char *request; /* what the request had for it, e.g. "host b.example", "no X-Env header" */
  char *reason;  /* one sentence: "Host(`a.example`) did not match host b.example"; for an Or,
                    every alternative's failure joined by "; " */
} wh_rule_why;

/* Evaluates r against req and fills *out (which the caller frees with wh_rule_why_free, also
 * after a failure). src, when not NULL, must be the exact text r was parsed from: matchers are
 * then quoted as written; with NULL they are quoted in canonical form. Returns 0, or -1 on OOM
 * (then out->matched is still the matcher's answer). A rule of the other protocol, like a NULL
 * rule, does not match ("not an HTTP rule"). */
int wh_rule_explain_http(const wh_rule *r, const char *src, const wh_http_req_view *req,
                         wh_rule_why *out);
int wh_rule_explain_tcp(const wh_rule *r, const char *src, const wh_tcp_conn_view *conn,
                        wh_rule_why *out);
void wh_rule_why_free(wh_rule_why *w); /* NULL-safe; leaves *w zeroed */

#endif
