/* `wharf healthcheck`: exit 0 when /ping on the ping entry point answers 200,
 * 1 otherwise (for Docker's HEALTHCHECK, as `traefik healthcheck`). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cmd/wharf/commands.h"
#include "cmd/wharf/setup.h"
#include "lib/core/log.h"

static int probe(const char *host, int port) {
  char portstr[16];
  snprintf(portstr, sizeof(portstr), "%d", port);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res)
    return -1;
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  struct timeval tv = {5, 0};
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  int status = -1;
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET /ping HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
    char buf[64] = {0};
    if (write(fd, req, (size_t)n) == n && read(fd, buf, sizeof(buf) - 1) > 12 &&
        strncmp(buf, "HTTP/1.", 7) == 0)
      status = atoi(buf + 9);
  }
  if (fd >= 0)
    close(fd);
  freeaddrinfo(res);
  return status;
}

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
    const wh_entrypoint *ep = wh_map_get(&stat->entry_points, epname);
    if (!ep) {
      fprintf(stderr, "wharf healthcheck: entry point \"%s\" does not exist\n", epname);
    } else {
      const char *host = ep->host && *ep->host ? ep->host : "127.0.0.1";
      if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
      else if (strcmp(host, "::") == 0)
        host = "::1";
      int status = probe(host, ep->port);
      if (status == 200) {
        printf("OK: http://%s:%d/ping\n", host, ep->port);
        rc = 0;
      } else if (status < 0) {
        fprintf(stderr, "wharf healthcheck: no answer from %s:%d\n", host, ep->port);
      } else {
        fprintf(stderr, "wharf healthcheck: /ping answered %d\n", status);
      }
    }
  }
  wh_static_free(stat);
  return rc;
}
