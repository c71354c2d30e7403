/* The shapes every /api handler answers with (lib/admin/api.c, explain.c,
 * containers.c), written once so that they cannot drift apart. */
#ifndef WH_ADMIN_REPLY_H
#define WH_ADMIN_REPLY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config/schema.h"
#include "lib/http/request.h"

/* Body as Go's json.Encoder writes it: compact, newline-terminated. Takes j
 * (NULL, or a failed print, answers 500). */
void wh_api_reply_json(wh_http_resp *resp, int status, cJSON *j);
/* Traefik's writeError goes through http.Error: {"message": ...} sent as
 * text/plain with nosniff and a trailing newline. */
void wh_api_reply_error(wh_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A JSON array of the strings (caller owns it; NULL on OOM). */
cJSON *wh_api_strlist_json(const wh_strlist *l);
/* Sets key to v printed exactly (cJSON numbers are doubles: MaxInt-1 would
 * come out rounded), replacing a previous value. */
void wh_api_set_int64(cJSON *o, const char *key, int64_t v);
/* Percent-decodes n bytes of s (plus_space: '+' means ' ' as in forms).
 * NULL on a malformed escape or OOM. Caller frees. */
char *wh_api_pct_decode(const char *s, size_t n, bool plus_space);
/* First value of key in a raw query string (decoded, caller frees), NULL when
 * absent. Like Go's url.Values.Get, a malformed pair is skipped. */
char *wh_api_query_get(const char *query, const char *key);

#endif
