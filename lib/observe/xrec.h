/* What the data plane saw of one finished HTTP exchange: the record the
 * access log and the request metrics are made from. Filled by lib/proxy/conn.c
 * on the worker's loop just before the exchange's state is released; every
 * pointer is borrowed for the duration of the wh_observe_exchange() call only
 * (consumers copy what they keep). Loop thread only. */
#ifndef WH_OBSERVE_XREC_H
#define WH_OBSERVE_XREC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/http/headers.h"

/* Traefik's `protocol` metric label */
typedef enum {
  WH_XPROTO_HTTP = 0,
  WH_XPROTO_WEBSOCKET,
  WH_XPROTO_SSE,
  WH_XPROTO_GRPC,
  WH_XPROTO_GRPC_WEB,
} wh_xproto;

typedef struct wh_xrec {
  /* when: wall clock at the request's dispatch (StartUTC), and durations
   * measured on the monotonic clock */
  int64_t start_unix_ns;
  uint64_t duration_ns;        /* dispatch to the last byte written (Duration) */
  uint64_t origin_duration_ns; /* upstream dial to its last byte; 0 when none */
  /* who */
  const char *entrypoint;      /* the entry point's name */
  const struct sockaddr *peer; /* the socket's peer (after a trusted PROXY header) */
  bool fwd_trusted;            /* the peer's X-Forwarded-* are believed */
  const char *username;        /* ClientUsername (basicAuth), NULL when none */
  /* the request as received */
  const char *method;             /* "GET"; never NULL */
  const char *target;             /* the request-target as sent ("/a?b=1") */
  int http_major, http_minor;     /* 1.1 → 1, 1 */
  bool tls;                       /* the client connection is TLS */
  const char *tls_version;        /* "1.3" as Traefik prints it, NULL without TLS */
  const char *tls_cipher;         /* OpenSSL's IANA-style name, NULL without TLS */
  const char *tls_client_subject; /* the client certificate's subject (RFC 2253), NULL without */
  const char *host;               /* Host (or the absolute-form authority) */
  const wh_headers *req_headers;  /* as sent on (middlewares' and forwarded headers applied) */
  const char *xff;                /* X-Forwarded-For as received (before wharf appended
                                     the peer); NULL when absent */
  uint64_t req_bytes;             /* request body bytes read (RequestContentSize) */
  wh_xproto protocol;
  /* routing */
  const char *router;       /* qualified ("web@docker"); NULL when none matched */
  const char *service;      /* qualified; NULL when none */
  const char *service_url;  /* the server chosen ("http://10.0.0.3:80"), else NULL */
  const char *service_addr; /* its host:port, else NULL */
  unsigned retries;         /* retry middleware's extra attempts (RetryAttempts) */
  bool internal;            /* answered by an @internal service (api, ping, ...) */
  /* the response */
  int origin_status;              /* 0 when nothing came from a backend */
  uint64_t origin_bytes;          /* body bytes received from the backend */
  int status;                     /* sent to the client (DownstreamStatus); 0 if none */
  uint64_t resp_bytes;            /* body bytes sent to the client */
  const char *grpc_status;        /* the response head's Grpc-Status, NULL when none */
  const wh_headers *resp_headers; /* the response head sent; NULL unless asked for */
  uint64_t conn_request_index;    /* 1 for the connection's first request */
  uint64_t request_count;         /* process-wide running count (RequestCount); filled by
                                     lib/observe/observe.c only when an access log wants it */
} wh_xrec;

#endif
