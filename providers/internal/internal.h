/* The "internal" provider: the routers, middlewares and services that the
 * static configuration implies (api, dashboard, ping, entry point
 * redirections), as Traefik's pkg/provider/traefik/internal.go creates them,
 * so that they show in the API under @internal and route like any other. */
#ifndef WH_PROVIDERS_INTERNAL_H
#define WH_PROVIDERS_INTERNAL_H

#include "lib/config/dynamic.h"
#include "lib/config/static.h"

/* Returns a new configuration (caller owns), NULL with errs on failure. */
wh_dyn_config *wh_internal_config(const wh_static_config *stat, wh_errlist *errs);

#endif
