/* GET /api/debug/explain: which router would serve a described request, and why every other
 * candidate would not (docs/operations/explain.md). A pure function of a snapshot, like the rest
 * of the API. */
#ifndef WH_ADMIN_EXPLAIN_H
#define WH_ADMIN_EXPLAIN_H

#include "lib/http/request.h"
#include "lib/router/snapshot.h"

/* Fills resp from the raw query string (borrowed; NULL = none): host, path, method, header
 * (repeatable "Name:Value"), entrypoint, tls, client, query. 200 with the verdict as JSON, or
 * 400 with {"message": ...} for unusable input. snap may be NULL (no configuration yet). */
void wh_api_explain(const wh_snapshot *snap, const char *query, wh_http_resp *resp);

#endif
