/* The provider interface: a provider produces complete dynamic-config
 * fragments and never touches live state. It runs on the control loop. */
#ifndef WH_CONFIG_PROVIDER_H
#define WH_CONFIG_PROVIDER_H

#include <uv.h>

#include "lib/config/dynamic.h"
#include "lib/config/static.h"

/* Called by a provider with a complete new configuration. Ownership of cfg
 * moves to the callee. errors (may be NULL) are provider-level problems
 * (a file that does not parse) for the log; when cfg is NULL the provider
 * could not produce a configuration and the previous one must keep serving. */
typedef void (*wh_provider_emit_fn)(void *ctx, const char *provider, wh_dyn_config *cfg,
                                    const wh_errlist *errors);

typedef struct wh_provider wh_provider;

typedef struct wh_provider_type {
  const char *name; /* "file", "docker", "swarm" */
  /* Creates and starts the provider on loop. It may emit synchronously
   * from start. Returns NULL (with a message in errs) when misconfigured. */
  wh_provider *(*start)(uv_loop_t *loop, const wh_static_config *stat, wh_provider_emit_fn emit,
                        void *ctx, wh_errlist *errs);
  /* Stops watching; close_cb-style: the provider frees itself once its
   * handles are closed. No emit happens after stop returns. */
  void (*stop)(wh_provider *p);
} wh_provider_type;

#endif
