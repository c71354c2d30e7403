/* The dashboard page (api.dashboard), embedded in the binary: no CDN, works
 * offline. It reads the same /api the operator can query. The page's source
 * is lib/admin/dashboard.html; CMake turns it into the bytes the binary
 * carries (wh_dashboard_page, generated in the build directory). */
#ifndef WH_ADMIN_DASHBOARD_H
#define WH_ADMIN_DASHBOARD_H

#include "lib/http/request.h"

/* path is what reaches the dashboard service after the internal
 * dashboard_stripprefix middleware ("/" for /dashboard/). Fills resp (the
 * caller owns it); safe on any thread. */
void wh_dashboard_handle(const char *method, const char *path, wh_http_resp *resp);

/* The Content-Security-Policy sent with the page: its one inline style and
 * one inline script are allowed by their SHA-256 and nothing else is, apart
 * from requests to the page's own origin. Static storage; never NULL. */
const char *wh_dashboard_csp(void);

#endif
