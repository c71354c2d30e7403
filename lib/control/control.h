/* The control loop's configuration pipeline: providers emit fragments; the
 * control debounces them (providers.providersThrottleDuration), merges and
 * validates them into a runtime, builds an immutable snapshot and publishes
 * it. A provider that fails keeps its previous fragment serving. */
#ifndef WH_CONTROL_CONTROL_H
#define WH_CONTROL_CONTROL_H

#include <stdint.h>
#include <uv.h>

#include "lib/config/dynamic.h"
#include "lib/config/static.h"
#include "lib/router/snapshot.h"

typedef struct wh_control wh_control;

/* Called on the control loop with each new snapshot; the callee receives
 * one reference (unref it when done). */
typedef void (*wh_control_publish_fn)(void *ctx, wh_snapshot *snap);

/* stat is borrowed for the control's lifetime. internal (may be NULL) is the
 * "internal" provider's fixed fragment; ownership moves to the control.
 * Builds and publishes the first snapshot before returning. */
wh_control *wh_control_new(uv_loop_t *loop, const wh_static_config *stat, wh_dyn_config *internal,
                           wh_control_publish_fn publish, void *ctx);
/* A wh_provider_emit_fn: pass the control as ctx. */
void wh_control_emit(void *ctx, const char *provider, wh_dyn_config *cfg, const wh_errlist *errors);
/* The current snapshot, with a new reference for the caller. Never NULL
 * after wh_control_new succeeded. */
wh_snapshot *wh_control_current(wh_control *c);
/* Applies pending provider configurations now, ignoring the throttle window:
 * used once at start-up so that the entry points open on the providers'
 * first configuration rather than on an empty one. */
void wh_control_flush(wh_control *c);
uint64_t wh_control_generation(const wh_control *c);
/* Called on the control loop after each new snapshot is published (the ACME
 * manager learns the routers' domains this way); snap is borrowed for the
 * call. One hook; fn NULL removes it. */
typedef void (*wh_control_built_fn)(void *ctx, const wh_snapshot *snap);
void wh_control_on_built(wh_control *c, wh_control_built_fn fn, void *ctx);
/* Stops timers and frees the control after its handles close. */
void wh_control_close(wh_control *c);

#endif
