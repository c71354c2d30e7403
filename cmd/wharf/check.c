/* `wharf check`: load the static and dynamic configuration without serving,
 * print every error with its element and key path, exit 1 when anything is
 * disabled or cannot be loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/wharf/commands.h"
#include "cmd/wharf/setup.h"
#include "lib/config/runtime.h"
#include "lib/core/log.h"
#include "providers/docker/compose.h"
#include "providers/docker/docker_config.h"
#include "providers/file/file_provider.h"
#include "providers/internal/internal.h"

typedef struct capture {
  wh_dyn_config *cfg;
  wh_errlist errs;
  bool emitted;
} capture;

static void on_emit(void *ctx, const char *provider, wh_dyn_config *cfg, const wh_errlist *errors) {
  capture *c = ctx;
  (void)provider;
  wh_dyn_config_free(c->cfg);
  c->cfg = cfg;
  wh_errlist_free(&c->errs);
  wh_errlist_init(&c->errs);
  wh_errlist_copy(&c->errs, errors);
  c->emitted = true;
}

static const char *const kind_names[WH_KIND_COUNT] = {
    "router",      "service",        "middleware",           "serversTransport", "TCP router",
    "TCP service", "TCP middleware", "TCP serversTransport", "UDP router",       "UDP service"};

/* `--compose FILE` / `--compose=FILE` is check's own option: taken out of
 * argv before the static configuration sees the flags. */
static const char *take_compose(int *argc, char **argv) {
  const char *file = NULL;
  int out = 0;
  for (int i = 0; i < *argc; i++) {
    if (strcmp(argv[i], "--compose") == 0 && i + 1 < *argc) {
      file = argv[++i];
      continue;
    }
    if (strncmp(argv[i], "--compose=", 10) == 0) {
      file = argv[i] + 10;
      continue;
    }
    argv[out++] = argv[i];
  }
  *argc = out;
  return file;
}

/* The docker fragment a compose file's labels would produce; label problems
 * are printed and counted. */
static wh_dyn_config *compose_fragment(const char *file, const wh_static_config *stat,
                                       int *problems) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_docker_container **cs = NULL;
  size_t n = 0;
  wh_dyn_config *cfg = NULL;
  if (wh_docker_compose_load(file, &cs, &n, &errs) == 0) {
    wh_docker_opts opts = {.cfg = stat->providers ? stat->providers->docker : NULL};
    wh_docker_reports reps = {0};
    cfg = wh_docker_build(&opts, cs, n, &reps);
    for (size_t i = 0; i < reps.n; i++) {
      const wh_docker_report *r = &reps.v[i];
      if (r->skipped && r->reason) {
        printf("error: container \"%s\": skipped: %s\n", r->container, r->reason);
        (*problems)++;
      }
      for (size_t e = 0; e < r->errors.n; e++) {
        /* element errors are printed with their element below */
        if (!strstr(r->errors.items[e], "http.") && !strstr(r->errors.items[e], "tcp.") &&
            !strstr(r->errors.items[e], "udp.")) {
          printf("error: container \"%s\": %s\n", r->container, r->errors.items[e]);
          (*problems)++;
        }
      }
      for (size_t e = 0; e < r->warnings.n; e++)
        printf("warning: container \"%s\": %s\n", r->container, r->warnings.items[e]);
    }
    wh_docker_reports_free(&reps);
  }
  for (size_t i = 0; i < errs.n; i++, (*problems)++)
    printf("compose: %s\n", errs.items[i]);
  for (size_t i = 0; i < n; i++)
    wh_docker_container_free(cs[i]);
  free(cs);
  wh_errlist_free(&errs);
  return cfg;
}

int wh_cmd_check(int argc, char **argv, char **envp) {
  /* Only errors from the loaders reach the log; check prints its own report. */
  wh_log_configure(WH_LOG_FATAL, WH_LOG_FORMAT_COMMON, NULL);
  const char *compose = take_compose(&argc, argv);
  wh_static_config *stat = wh_setup_static(argc, argv, envp, stdout);
  if (!stat) {
    printf("configuration invalid: the static configuration has errors\n");
    return 1;
  }
  int problems = 0;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *internal = wh_internal_config(stat, &errs);
  for (size_t i = 0; i < errs.n; i++, problems++)
    printf("static configuration: %s\n", errs.items[i]);
  wh_errlist_free(&errs);

  capture cap;
  memset(&cap, 0, sizeof(cap));
  wh_errlist_init(&cap.errs);
  if (stat->providers && stat->providers->file) {
    /* One load, no watching. */
    stat->providers->file->watch = false;
    uv_loop_t loop;
    uv_loop_init(&loop);
    wh_errlist perr;
    wh_errlist_init(&perr);
    wh_provider *p = wh_provider_file.start(&loop, stat, on_emit, &cap, &perr);
    for (size_t i = 0; i < perr.n; i++, problems++)
      printf("provider file: %s\n", perr.items[i]);
    wh_errlist_free(&perr);
    if (p) {
      uv_run(&loop, UV_RUN_NOWAIT);
      for (int i = 0; i < 100 && !cap.emitted; i++)
        uv_run(&loop, UV_RUN_ONCE);
      wh_provider_file.stop(p);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    for (size_t i = 0; i < cap.errs.n; i++, problems++)
      printf("provider file: %s\n", cap.errs.items[i]);
  }

  wh_dyn_config *docker = compose ? compose_fragment(compose, stat, &problems) : NULL;
  wh_fragment frags[3];
  size_t n = 0;
  if (internal)
    frags[n++] = (wh_fragment){"internal", internal};
  if (cap.cfg)
    frags[n++] = (wh_fragment){"file", cap.cfg};
  if (docker)
    frags[n++] = (wh_fragment){"docker", docker};
  wh_runtime *rt = wh_runtime_build(stat, frags, n);
  size_t disabled = 0, warnings = 0, total = 0;
  for (int k = 0; rt && k < WH_KIND_COUNT; k++) {
    for (size_t i = 0; i < rt->elems[k].n; i++) {
      const wh_rt_elem *el = rt->elems[k].v[i];
      total++;
      if (el->status == WH_STATUS_DISABLED)
        disabled++;
      else if (el->status == WH_STATUS_WARNING)
        warnings++;
      for (size_t e = 0; e < el->errors.n; e++)
        printf("%s %s \"%s\": %s\n",
               el->status == WH_STATUS_DISABLED ? "error:" : "warning:", kind_names[k], el->name,
               el->errors.items[e]);
    }
  }
  wh_runtime_free(rt);
  wh_dyn_config_free(cap.cfg);
  wh_dyn_config_free(docker);
  wh_errlist_free(&cap.errs);
  wh_dyn_config_free(internal);
  wh_static_free(stat);
  if (disabled || problems) {
    printf("configuration invalid: %zu element(s) disabled, %d other error(s), %zu warning(s)\n",
           disabled, problems, warnings);
    return 1;
  }
  printf("configuration valid: %zu element(s), %zu warning(s)\n", total, warnings);
  return 0;
}
