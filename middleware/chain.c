#include "middleware/chain.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "lib/config/runtime.h"
#include "lib/core/log.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"

static int chain_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_chain_conf *c = obj;
  return wh_mw_check_nonempty(errs, path, "middlewares", &c->middlewares) ? WH_EINVAL : 0;
}

static const wh_field chain_fields[] = {
    WH_MW_FIELD(wh_mw_chain_conf, middlewares, "middlewares", WH_F_STRLIST),
};

static const wh_schema chain_schema = {
    .name = "chain",
    .size = sizeof(wh_mw_chain_conf),
    .fields = chain_fields,
    .nfields = WH_MW_NFIELDS(chain_fields),
    .validate = chain_validate,
};

/* The runtime already disables a chain that contains itself (runtime.c
 * check_chains); this bound is the data plane's own guard, so that a cycle
 * that got through anyway costs a 500, not the worker's stack. */
enum { CHAIN_MAX_DEPTH = 32 };
static _Thread_local unsigned chain_depth;

static int chain_fail(wh_mw_exchange *x, const char *why) {
  static _Atomic bool logged;
  if (!atomic_exchange(&logged, true))
    wh_log_error("middleware \"%s\": %s; answering 500", x->mw_name ? x->mw_name : "chain", why);
  wh_http_resp_free(x->resp);
  wh_http_resp_text(x->resp, 500, "Internal Server Error");
  return WH_MW_DONE;
}

/* Members are qualified with the chain's provider unless already
 * qualified ("auth@file"), then run in order as the router's own list. */
static int chain_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_chain_conf *c = cfg;
  if (chain_depth >= CHAIN_MAX_DEPTH)
    return chain_fail(x, "chains nested too deep (a chain includes itself)");
  char *small[8];
  char **names = c->middlewares.n <= 8 ? small : calloc(c->middlewares.n, sizeof *names);
  if (!names)
    return chain_fail(x, "out of memory");
  size_t n = 0;
  for (; n < c->middlewares.n; n++) {
    names[n] = wh_qualify(c->middlewares.v[n], x->mw_provider ? x->mw_provider : "");
    if (!names[n])
      break;
  }
  int rc;
  if (n < c->middlewares.n) {
    rc = chain_fail(x, "out of memory");
  } else {
    chain_depth++;
    rc = wh_mw_run_list(x, names, n);
    chain_depth--;
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  if (names != small)
    free(names);
  return rc;
}

/* The data plane expands a chain in place (so that a member can suspend the
 * exchange and resume there); chain_on_request serves callers that run a
 * list themselves (wh_mw_run_list). */
static const wh_strlist *chain_members(const void *cfg) {
  return &((const wh_mw_chain_conf *)cfg)->middlewares;
}

const wh_mw_type wh_mw_chain = {
    .on_request = chain_on_request,
    .members = chain_members,
    .name = "chain",
    .proto = WH_MW_HTTP,
    .schema = &chain_schema,
};
