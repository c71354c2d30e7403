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

int wh_cmd_check(int argc, char **argv, char **envp) {
  /* Only errors from the loaders reach the log; check prints its own report. */
  wh_log_configure(WH_LOG_FATAL, WH_LOG_FORMAT_COMMON, NULL);
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

  wh_fragment frags[2];
  size_t n = 0;
  if (internal)
    frags[n++] = (wh_fragment){"internal", internal};
  if (cap.cfg)
    frags[n++] = (wh_fragment){"file", cap.cfg};
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
