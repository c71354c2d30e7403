/* Recording the Docker provider's decisions for the diagnose API
 * (lib/admin/containers.h): wh_docker_build_diagnosed writes each decision
 * into the diagnosis at the point build.c makes it, so what the API says
 * can never disagree with what was built. */
#ifndef WH_PROVIDERS_DOCKER_DIAGNOSE_H
#define WH_PROVIDERS_DOCKER_DIAGNOSE_H

#include "lib/admin/containers.h"
#include "lib/config/dynamic.h"
#include "providers/docker/docker_config.h"

/* wh_docker_build (docker_config.h) that also returns, in *diag, a new
 * diagnosis of every container (refs = 1; NULL on OOM, the configuration
 * is still returned). diag may be NULL. Implemented in build.c. */
wh_dyn_config *wh_docker_build_diagnosed(const wh_docker_opts *opts, wh_docker_container *const *cs,
                                         size_t n, wh_docker_reports *reports,
                                         wh_container_diagnosis **diag);

/* Fills the identity of dc from c: name, short id, state, health, service
 * name (borrowed svc copied), and the labels whose key starts with
 * "traefik." (any case); nothing else of c is copied (other labels and the
 * environment may hold secrets). Returns 0 or WH_ENOMEM. */
int wh_docker_diag_identify(wh_container_diag *dc, const wh_docker_container *c, const char *svc);

/* Appends a server record for service (section "http.services", ...) and
 * returns it (valid until the next append), or NULL on OOM or when dc is
 * NULL. */
wh_container_server *wh_docker_diag_server(wh_container_diag *dc, const char *section,
                                           const char *service);

/* Records every element of cfg (the container's own configuration, before
 * the merge). Returns 0 or WH_ENOMEM. dc may be NULL. */
int wh_docker_diag_elements(wh_container_diag *dc, const wh_dyn_config *cfg);

#endif
