/* The dashboard page (api.dashboard), embedded in the binary: no CDN, works
 * offline. It reads the same /api the operator can query. */
#ifndef WH_ADMIN_DASHBOARD_H
#define WH_ADMIN_DASHBOARD_H

#include "lib/http/request.h"

/* path is what reaches the dashboard service after the internal
 * dashboard_stripprefix middleware ("/" for /dashboard/). */
void wh_dashboard_handle(const char *method, const char *path, wh_http_resp *resp);

#endif
