/* `wharf run`: the control loop, its providers and the entry points. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/wharf/commands.h"
#include "cmd/wharf/setup.h"
#include "lib/control/control.h"
#include "lib/core/log.h"
#include "lib/proxy/ep_server.h"
#include "providers/file/file_provider.h"
#include "providers/internal/internal.h"

typedef struct app {
  uv_loop_t *loop;
  wh_static_config *stat;
  wh_control *control;
  wh_ep_shared shared;
  wh_ep_server **servers;
  size_t nservers;
  wh_provider *file;
  uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
  int exit_code;
} app;

static wh_snapshot *get_snapshot(void *ctx) {
  return wh_control_current(ctx);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void shutdown_app(app *a) {
  a->shared.terminating = true;
  wh_log_info("shutting down");
  for (size_t i = 0; i < a->nservers; i++)
    wh_ep_server_stop(a->servers[i]);
  a->nservers = 0;
  if (a->file) {
    wh_provider_file.stop(a->file);
    a->file = NULL;
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

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  switch (signum) {
  case SIGHUP:
    wh_log_info("SIGHUP: reloading file configuration");
    if (a->file)
      wh_provider_file_reload(a->file);
    break;
  case SIGUSR1:
    wh_log_reopen();
    break;
  default:
    shutdown_app(a);
    break;
  }
}

static int start_servers(app *a) {
  a->servers = calloc(a->stat->entry_points.n + 1, sizeof(*a->servers));
  if (!a->servers)
    return -1;
  for (size_t i = 0; i < a->stat->entry_points.n; i++) {
    const wh_entrypoint *ep = a->stat->entry_points.vals[i];
    const char *name = a->stat->entry_points.keys[i];
    if (ep->is_udp) {
      wh_log_warn("entry point \"%s\": UDP entry points are not served by this build", name);
      continue;
    }
    char err[256];
    wh_ep_server *s = wh_ep_server_start(a->loop, name, ep, &a->shared, err, sizeof(err));
    if (!s) {
      wh_log_error("entry point \"%s\" (%s): %s", name, ep->address, err);
      return -1;
    }
    a->servers[a->nservers++] = s;
    wh_log_info("entry point \"%s\" listening on %s", name, ep->address);
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
  a.control = wh_control_new(a.loop, a.stat, internal, NULL, NULL);
  if (!a.control) {
    wh_log_error("cannot build the initial configuration");
    wh_errlist_free(&errs);
    wh_static_free(a.stat);
    return 1;
  }
  a.shared.get = get_snapshot;
  a.shared.get_ctx = a.control;

  uv_signal_t *sigs[] = {&a.sig_int, &a.sig_term, &a.sig_hup, &a.sig_usr1};
  int nums[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
  for (int i = 0; i < 4; i++) {
    uv_signal_init(a.loop, sigs[i]);
    sigs[i]->data = &a;
    uv_signal_start(sigs[i], on_signal, nums[i]);
  }

  if (start_servers(&a) != 0) {
    a.exit_code = 1;
    shutdown_app(&a);
  } else {
    const wh_providers *p = a.stat->providers;
    if (p && p->file) {
      wh_errlist_free(&errs);
      wh_errlist_init(&errs);
      a.file = wh_provider_file.start(a.loop, a.stat, wh_control_emit, a.control, &errs);
      for (size_t i = 0; i < errs.n; i++)
        wh_log_error("provider file: %s", errs.items[i]);
    }
    if (p && p->docker)
      wh_log_warn("providers.docker is configured, but this build has no Docker provider yet");
    if (p && p->swarm)
      wh_log_warn("providers.swarm is configured, but this build has no Swarm provider yet");
  }
  wh_errlist_free(&errs);

  uv_run(a.loop, UV_RUN_DEFAULT);
  uv_walk(a.loop, close_walk, NULL);
  uv_run(a.loop, UV_RUN_DEFAULT);
  uv_loop_close(a.loop);
  free(a.servers);
  wh_static_free(a.stat);
  return a.exit_code;
}
