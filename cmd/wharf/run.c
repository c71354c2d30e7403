/* `wharf run`: the control loop, its providers, and the worker threads that
 * serve the entry points. Wiring only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/wharf/commands.h"
#include "cmd/wharf/setup.h"
#include "lib/acme/manager.h"
#include "lib/control/control.h"
#include "lib/core/log.h"
#include "lib/http/headers.h"
#include "lib/observe/observe.h"
#include "lib/proxy/worker.h"
#include "providers/docker/docker_provider.h"
#include "providers/file/file_provider.h"
#include "providers/internal/internal.h"
#include "providers/swarm/swarm_provider.h"

typedef struct app {
  uv_loop_t *loop;
  wh_static_config *stat;
  wh_control *control;
  wh_workers *workers;
  wh_observe *observe;
  bool draining;
  wh_provider *file;
  wh_provider *docker;
  wh_provider *swarm;
  wh_acme_manager *acme; /* certificatesResolvers; NULL without any */
  uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
  int exit_code;
} app;

static void publish(void *ctx, wh_snapshot *snap) {
  app *a = ctx;
  if (a->workers)
    wh_workers_publish(a->workers, snap);
  else
    wh_snapshot_unref(snap); /* the first build: the workers start from current */
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void acme_on_built(void *ctx, const wh_snapshot *snap) {
  wh_acme_manager_update(ctx, snap);
}

/* Everything but the workers, which are joined by then. */
static void shutdown_app(app *a) {
  if (a->acme) {
    wh_control_on_built(a->control, NULL, NULL);
    wh_acme_manager_close(a->acme);
    a->acme = NULL;
  }
  if (a->file) {
    wh_provider_file.stop(a->file);
    a->file = NULL;
  }
  if (a->docker) {
    wh_provider_docker.stop(a->docker);
    a->docker = NULL;
  }
  if (a->swarm) {
    wh_provider_swarm.stop(a->swarm);
    a->swarm = NULL;
  }
  if (a->control) {
    wh_control_close(a->control);
    a->control = NULL;
  }
  uv_signal_stop(&a->sig_int);
  uv_signal_stop(&a->sig_term);
  uv_signal_stop(&a->sig_hup);
  uv_signal_stop(&a->sig_usr1);
  uv_close((uv_handle_t *)&a->sig_int, NULL);
  uv_close((uv_handle_t *)&a->sig_term, NULL);
  uv_close((uv_handle_t *)&a->sig_hup, NULL);
  uv_close((uv_handle_t *)&a->sig_usr1, NULL);
}

static void on_drained(void *ctx) {
  app *a = ctx;
  wh_log_info("shutting down");
  shutdown_app(a);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  switch (signum) {
  case SIGHUP:
    wh_log_info("SIGHUP: reloading file configuration");
    if (a->file)
      wh_provider_file_reload(a->file);
    break;
  case SIGUSR1:
    /* log rotation: both logs move to a fresh file of the same name */
    wh_log_reopen();
    if (wh_observe_reopen(a->observe) != 0)
      wh_log_error("SIGUSR1: the access log file could not be reopened");
    break;
  default:
    if (a->draining)
      break;
    a->draining = true;
    if (a->workers) {
      wh_log_info("shutting down: draining connections");
      wh_workers_drain(a->workers, a->loop, on_drained, a);
    } else {
      shutdown_app(a);
    }
    break;
  }
}

static int start_workers(app *a) {
  for (size_t i = 0; i < a->stat->entry_points.n; i++) {
    const wh_entrypoint *ep = a->stat->entry_points.vals[i];
    if (ep->is_udp)
      wh_log_warn("entry point \"%s\": UDP entry points are not served by this build",
                  a->stat->entry_points.keys[i]);
  }
  char err[256];
  wh_snapshot *snap = wh_control_current(a->control);
  int n = a->stat->wharf ? (int)a->stat->wharf->workers : 0;
  a->workers = wh_workers_start(a->stat, n, snap, err, sizeof(err));
  wh_snapshot_unref(snap);
  if (!a->workers) {
    wh_log_error("cannot serve the entry points: %s", err);
    return -1;
  }
  for (size_t i = 0; i < a->stat->entry_points.n; i++) {
    const wh_entrypoint *ep = a->stat->entry_points.vals[i];
    if (!ep->is_udp)
      wh_log_info("entry point \"%s\" listening on %s", a->stat->entry_points.keys[i], ep->address);
  }
  return 0;
}

int wh_cmd_run(int argc, char **argv, char **envp) {
  app a;
  memset(&a, 0, sizeof(a));
  a.stat = wh_setup_static(argc, argv, envp, stderr);
  if (!a.stat)
    return 1;
  if (wh_setup_log(a.stat) != 0) {
    wh_static_free(a.stat);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  a.loop = uv_default_loop();

  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *internal = wh_internal_config(a.stat, &errs);
  for (size_t i = 0; i < errs.n; i++)
    wh_log_error("%s", errs.items[i]);
  if (!internal) {
    wh_errlist_free(&errs);
    wh_static_free(a.stat);
    return 1;
  }
  /* before the first build (it counts as a reload) and the workers */
  int nworkers = a.stat->wharf ? (int)a.stat->wharf->workers : 0;
  if (nworkers <= 0)
    nworkers = (int)uv_available_parallelism();
  char oerr[256];
  a.observe = wh_observe_new(a.stat, nworkers, oerr, sizeof(oerr));
  if (!a.observe) {
    wh_log_error("accessLog/metrics: %s", oerr);
    wh_dyn_config_free(internal);
    wh_errlist_free(&errs);
    wh_static_free(a.stat);
    return 1;
  }
  a.control = wh_control_new(a.loop, a.stat, internal, publish, &a);
  if (!a.control) {
    wh_observe_free(a.observe);
    wh_log_error("cannot build the initial configuration");
    wh_errlist_free(&errs);
    wh_static_free(a.stat);
    return 1;
  }
  /* Stored certificates are emitted now, so the first snapshot serves them;
   * orders start with the first build that follows. */
  a.acme = wh_acme_manager_new(a.loop, a.stat, envp, wh_control_emit, a.control);
  if (a.acme)
    wh_control_on_built(a.control, acme_on_built, a.acme);
  uv_signal_t *sigs[] = {&a.sig_int, &a.sig_term, &a.sig_hup, &a.sig_usr1};
  int nums[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
  for (int i = 0; i < 4; i++) {
    uv_signal_init(a.loop, sigs[i]);
    sigs[i]->data = &a;
    uv_signal_start(sigs[i], on_signal, nums[i]);
  }

  /* Providers first: their initial configuration is applied before the
   * entry points open, so the first request already sees it. */
  const wh_providers *p = a.stat->providers;
  if (p && p->file) {
    wh_errlist_free(&errs);
    wh_errlist_init(&errs);
    a.file = wh_provider_file.start(a.loop, a.stat, wh_control_emit, a.control, &errs);
    for (size_t i = 0; i < errs.n; i++)
      wh_log_error("provider file: %s", errs.items[i]);
  }
  if (p && p->docker) {
    wh_errlist_free(&errs);
    wh_errlist_init(&errs);
    a.docker = wh_provider_docker.start(a.loop, a.stat, wh_control_emit, a.control, &errs);
    for (size_t i = 0; i < errs.n; i++)
      wh_log_error("provider docker: %s", errs.items[i]);
  }
  if (p && p->swarm) {
    wh_errlist_free(&errs);
    wh_errlist_init(&errs);
    a.swarm = wh_provider_swarm.start(a.loop, a.stat, wh_control_emit, a.control, &errs);
    for (size_t i = 0; i < errs.n; i++)
      wh_log_error("provider swarm: %s", errs.items[i]);
  }
  wh_control_flush(a.control);
  if (start_workers(&a) != 0) {
    a.exit_code = 1;
    shutdown_app(&a);
  }
  wh_errlist_free(&errs);

  uv_run(a.loop, UV_RUN_DEFAULT);
  uv_walk(a.loop, close_walk, NULL);
  uv_run(a.loop, UV_RUN_DEFAULT);
  uv_loop_close(a.loop);
  wh_workers_free(a.workers);
  wh_observe_free(a.observe); /* after the workers: it flushes their buffered lines */
  wh_static_free(a.stat);
  wh_headers_thread_cleanup();
  return a.exit_code;
}
