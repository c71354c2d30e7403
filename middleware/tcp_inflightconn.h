/* TCP inFlightConn: caps simultaneous connections per client IP. */
#ifndef WH_MW_TCP_INFLIGHTCONN_H
#define WH_MW_TCP_INFLIGHTCONN_H

#include <stdint.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_tcp_inflightconn_conf {
  int64_t amount; /* "amount" (> 0) */
} wh_mw_tcp_inflightconn_conf;

extern const wh_mw_type wh_mw_tcp_inflightconn;

#endif
