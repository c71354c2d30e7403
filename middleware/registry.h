/* Every middleware type wharf knows, HTTP and TCP, listed explicitly (no
 * constructor magic) so that the set is visible in one place. Passed as is
 * to wh_dynamic_register_middleware_types at start-up. Static data: nothing
 * to free. */
#ifndef WH_MW_REGISTRY_H
#define WH_MW_REGISTRY_H

#include <stddef.h>

#include "lib/config/dynamic.h"

extern const wh_mw_type *const wh_mw_registry[];
extern const size_t wh_mw_registry_len;

#endif
