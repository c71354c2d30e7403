/* `wharf healthcheck`: exit 0 when /ping on the ping entry point answers 200,
 * 1 otherwise (for Docker's HEALTHCHECK, as `traefik healthcheck`). */
#include <stdio.h>
#include <string.h>

#include "cmd/wharf/api_client.h"
#include "cmd/wharf/commands.h"
#include "cmd/wharf/setup.h"
#include "lib/core/log.h"

int wh_cmd_healthcheck(int argc, char **argv, char **envp) {
  wh_log_configure(WH_LOG_FATAL, WH_LOG_FORMAT_COMMON, NULL);
  wh_static_config *stat = wh_setup_static(argc, argv, envp, stderr);
  if (!stat)
    return 1;
  int rc = 1;
  if (!stat->ping) {
    fprintf(stderr, "wharf healthcheck: ping is not enabled (set ping: {} or --ping)\n");
  } else {
    const char *epname = stat->ping->entry_point ? stat->ping->entry_point : "traefik";
    char host[256];
    int port;
    if (wh_api_client_addr(stat, epname, host, sizeof(host), &port) != 0) {
      fprintf(stderr, "wharf healthcheck: entry point \"%s\" does not exist\n", epname);
    } else {
      int status = wh_api_client_get(host, port, "/ping", NULL);
      if (status == 200) {
        printf("OK: http://%s:%d/ping\n", host, port);
        rc = 0;
      } else if (status < 0) {
        fprintf(stderr, "wharf healthcheck: no answer from %s:%d\n", host, port);
      } else {
        fprintf(stderr, "wharf healthcheck: /ping answered %d\n", status);
      }
    }
  }
  wh_static_free(stat);
  return rc;
}
