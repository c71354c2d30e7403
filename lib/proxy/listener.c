/* SO_REUSEPORT listening sockets: one per worker and entry point, so the
 * kernel spreads connections across workers without an accept lock. libuv
 * 1.44 has no UV_TCP_REUSEPORT, so the socket is built here and handed to
 * libuv with uv_tcp_open (PERFORMANCE.md, "libuv mapping"). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/proxy/conn.h"
#include "lib/proxy/worker.h"

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *slen,
                   char *err, size_t errlen) {
  memset(ss, 0, sizeof(*ss));
  char buf[256];
  size_t n = host ? strlen(host) : 0;
  if (n >= sizeof(buf)) {
    snprintf(err, errlen, "host too long");
    return -1;
  }
  if (n == 0) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_any;
    a->sin6_port = htons((uint16_t)port);
    *slen = sizeof(*a);
    return 0;
  }
  if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
  } else {
    memcpy(buf, host, n + 1);
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(buf, NULL, &hints, &res);
  if (rc != 0 || !res) {
    snprintf(err, errlen, "cannot resolve %s: %s", buf, gai_strerror(rc));
    return -1;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *slen = res->ai_addrlen;
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

static int make_socket(const struct sockaddr_storage *ss, socklen_t slen, bool dual, char *err,
                       size_t errlen) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
    snprintf(err, errlen, "SO_REUSEPORT: %s", strerror(errno));
    close(fd);
    return -1;
  }
  if (dual)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  /* Wake the worker only when the first request bytes arrive. */
  int defer = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
  if (bind(fd, (const struct sockaddr *)ss, slen) < 0 || listen(fd, 511) < 0) {
    snprintf(err, errlen, "%s", strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int wh_listener_socket(const char *host, int port, char *err, size_t errlen) {
  if (port < 0 || port > 65535) {
    snprintf(err, errlen, "invalid port %d", port);
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t slen = 0;
  if (resolve(host, port, &ss, &slen, err, errlen) < 0)
    return -1;
  bool any = !host || !*host;
  int fd = make_socket(&ss, slen, any, err, errlen);
  if (fd < 0 && any && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
    /* No IPv6 on this host: all IPv4 addresses instead. */
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof(ss));
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_ANY);
    a->sin_port = htons((uint16_t)port);
    fd = make_socket(&ss, sizeof(*a), false, err, errlen);
  }
  return fd;
}

int wh_listener_start(wh_listener *l, wh_worker *w) {
  l->w = w;
  int rc = uv_tcp_init(&w->loop, &l->tcp);
  if (rc < 0)
    return rc;
  l->tcp.data = l;
  l->open = true;
  rc = uv_tcp_open(&l->tcp, l->fd);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&l->tcp, 511, wh_conn_on_accept);
  return rc;
}

void wh_listener_close(wh_listener *l) {
  if (!l->open)
    return;
  l->open = false;
  uv_close((uv_handle_t *)&l->tcp, NULL);
}
