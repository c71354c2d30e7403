#include "middleware/registry.h"

#include "middleware/addprefix.h"
#include "middleware/basicauth.h"
#include "middleware/buffering.h"
#include "middleware/chain.h"
#include "middleware/circuitbreaker.h"
#include "middleware/compress.h"
#include "middleware/contenttype.h"
#include "middleware/digestauth.h"
#include "middleware/errors.h"
#include "middleware/forwardauth.h"
#include "middleware/grpcweb.h"
#include "middleware/headers.h"
#include "middleware/inflightreq.h"
#include "middleware/ipallowlist.h"
#include "middleware/passtlsclientcert.h"
#include "middleware/ratelimit.h"
#include "middleware/redirectregex.h"
#include "middleware/redirectscheme.h"
#include "middleware/replacepath.h"
#include "middleware/replacepathregex.h"
#include "middleware/retry.h"
#include "middleware/stripprefix.h"
#include "middleware/stripprefixregex.h"
#include "middleware/tcp_inflightconn.h"
#include "middleware/tcp_ipallowlist.h"

/* Order is Traefik's Middleware struct order: the admin API and the
 * generated schema list types in it. */
const wh_mw_type *const wh_mw_registry[] = {
    /* HTTP */
    &wh_mw_addprefix,
    &wh_mw_stripprefix,
    &wh_mw_stripprefixregex,
    &wh_mw_replacepath,
    &wh_mw_replacepathregex,
    &wh_mw_chain,
    &wh_mw_ipwhitelist,
    &wh_mw_ipallowlist,
    &wh_mw_headers,
    &wh_mw_errors,
    &wh_mw_ratelimit,
    &wh_mw_redirectregex,
    &wh_mw_redirectscheme,
    &wh_mw_basicauth,
    &wh_mw_digestauth,
    &wh_mw_forwardauth,
    &wh_mw_inflightreq,
    &wh_mw_buffering,
    &wh_mw_circuitbreaker,
    &wh_mw_compress,
    &wh_mw_passtlsclientcert,
    &wh_mw_retry,
    &wh_mw_contenttype,
    &wh_mw_grpcweb,
    /* TCP */
    &wh_mw_tcp_inflightconn,
    &wh_mw_tcp_ipwhitelist,
    &wh_mw_tcp_ipallowlist,
};

const size_t wh_mw_registry_len = sizeof wh_mw_registry / sizeof wh_mw_registry[0];
