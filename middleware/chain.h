/* chain: a named, reusable sequence of other middlewares (names qualified
 * with the chain's provider when the snapshot is built). */
#ifndef WH_MW_CHAIN_H
#define WH_MW_CHAIN_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_chain_conf {
  wh_strlist middlewares; /* "middlewares" (non-empty, in order) */
} wh_mw_chain_conf;

extern const wh_mw_type wh_mw_chain;

#endif
