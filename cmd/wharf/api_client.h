/* Talking to the running instance from a subcommand (`healthcheck`, `explain`): where its entry
 * points listen, found from the same static configuration it was started with, and one plain
 * HTTP GET on loopback. */
#ifndef WH_CMD_API_CLIENT_H
#define WH_CMD_API_CLIENT_H

#include <stddef.h>

#include "lib/config/static.h"

/* The address to dial for entry point epname: its host, with the wildcard addresses turned into
 * loopback ("0.0.0.0" -> 127.0.0.1, "::" -> ::1, "" -> 127.0.0.1), written to host (cap bytes),
 * and its port. -1 when the entry point does not exist. */
int wh_api_client_addr(const wh_static_config *stat, const char *epname, char *host, size_t cap,
                       int *port);

/* GET target (path and query, already %-encoded) from host:port with a 5 s timeout. Returns
 * the status code and, when body is not NULL, the malloc'd body in *body (the caller frees);
 * -1 when no HTTP answer came (connection refused, timeout, not HTTP). */
int wh_api_client_get(const char *host, int port, const char *target, char **body);

#endif
