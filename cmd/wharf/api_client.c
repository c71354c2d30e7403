#include "cmd/wharf/api_client.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/core/str.h"

int wh_api_client_addr(const wh_static_config *stat, const char *epname, char *host, size_t cap,
                       int *port) {
  const wh_entrypoint *ep = wh_map_get(&stat->entry_points, epname);
  if (!ep)
    return -1;
  const char *h = ep->host && *ep->host ? ep->host : "127.0.0.1";
  if (strcmp(h, "0.0.0.0") == 0)
    h = "127.0.0.1";
  else if (strcmp(h, "::") == 0)
    h = "::1";
  snprintf(host, cap, "%s", h);
  *port = ep->port;
  return 0;
}

/* HTTP/1.0 so that the answer is never chunked: the body is whatever follows the head until the
 * server closes. */
int wh_api_client_get(const char *host, int port, const char *target, char **body) {
  if (body)
    *body = NULL;
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
  wh_strbuf in = {0};
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    bool v6 = strchr(host, ':') != NULL;
    char *req = wh_asprintf("GET %s HTTP/1.0\r\nHost: %s%s%s:%d\r\nConnection: close\r\n\r\n",
                            target, v6 ? "[" : "", host, v6 ? "]" : "", port);
    size_t n = req ? strlen(req) : 0;
    if (req && write(fd, req, n) == (ssize_t)n) {
      char buf[4096];
      ssize_t r;
      while ((r = read(fd, buf, sizeof(buf))) > 0 && in.len < (16u << 20))
        if (wh_strbuf_append(&in, buf, (size_t)r) != 0)
          break;
    }
    free(req);
  }
  const char *s = wh_strbuf_cstr(&in);
  if (in.len > 12 && strncmp(s, "HTTP/1.", 7) == 0) {
    status = atoi(s + 9);
    const char *b = strstr(s, "\r\n\r\n");
    if (body)
      *body = wh_strdup(b ? b + 4 : "");
  }
  wh_strbuf_free(&in);
  if (fd >= 0)
    close(fd);
  freeaddrinfo(res);
  return status;
}
