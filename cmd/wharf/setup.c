#include "cmd/wharf/setup.h"

#include <stdlib.h>

#include "lib/config/dynamic.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "middleware/registry.h"

wh_static_config *wh_setup_static(int argc, char **argv, char **envp, FILE *out) {
  if (wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len) != 0) {
    fprintf(out, "wharf: cannot register middleware types\n");
    return NULL;
  }
  wh_errlist errs;
  wh_errlist_init(&errs);
  char *src = NULL;
  wh_static_config *stat = wh_static_load(argc, argv, envp, &errs, &src);
  for (size_t i = 0; i < errs.n; i++)
    fprintf(out, "static configuration: %s\n", errs.items[i]);
  if (!stat && errs.n == 0)
    fprintf(out, "static configuration: could not be loaded\n");
  if (stat && src)
    wh_log_info("static configuration from %s", src);
  free(src);
  wh_errlist_free(&errs);
  return stat;
}

int wh_setup_log(const wh_static_config *stat) {
  wh_log_level level = WH_LOG_ERROR; /* Traefik's default */
  wh_log_format fmt = WH_LOG_FORMAT_COMMON;
  const char *path = NULL;
  if (stat->log) {
    if (stat->log->level)
      wh_log_parse_level(stat->log->level, &level);
    if (stat->log->format && wh_strcaseeq(stat->log->format, "json"))
      fmt = WH_LOG_FORMAT_JSON;
    path = stat->log->file_path;
  }
  if (wh_log_configure(level, fmt, path) != 0) {
    fprintf(stderr, "wharf: cannot open log file %s\n", path);
    return -1;
  }
  return 0;
}
