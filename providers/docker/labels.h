/* Docker labels (TRAEFIK-COMPAT.md §2): the provider labels that steer the
 * Docker provider itself, and the dynamic-configuration labels, decoded
 * through the same schema as the file provider's YAML. */
#ifndef WH_PROVIDERS_DOCKER_LABELS_H
#define WH_PROVIDERS_DOCKER_LABELS_H

#include <stdbool.h>

#include "lib/config/dynamic.h"
#include "lib/core/err.h"
#include "providers/docker/docker_config.h"

/* traefik.enable, traefik.docker.{network,allownonrunning,lbswarm}. */
typedef struct wh_docker_plabels {
  int enable;    /* -1 when the label is absent, else 0 / 1 */
  char *network; /* owned; NULL when absent */
  bool allow_nonrunning;
  bool lbswarm;
} wh_docker_plabels;

/* Reads the provider labels of c into out (zeroed first; free with
 * wh_docker_plabels_free in every case). Any error (a bad boolean, an
 * unknown traefik.docker.* key) is appended to errs and returns WH_EINVAL:
 * the container must then be skipped. */
int wh_docker_plabels_parse(const wh_docker_container *c, wh_docker_plabels *out, wh_errlist *errs);
void wh_docker_plabels_free(wh_docker_plabels *p);

/* Decodes the dynamic-configuration labels of c (traefik.http.*,
 * traefik.tcp.*, traefik.udp.*, traefik.tls.stores.default.*) into a new
 * configuration. An error inside an element disables that element only (its
 * elem_errors entry); a key outside any element (bad prefix, empty segment,
 * unknown section) goes to errs and is otherwise ignored. Label
 * "loadbalancer.server.*" is the first (only) server of the service's
 * list. NULL only on OOM. */
wh_dyn_config *wh_docker_labels_decode(const wh_docker_container *c, wh_errlist *errs);

/* Appends an error to the elem_errors entry of (section, name), creating
 * it. section is canonical ("http.routers"). Returns 0 or WH_ENOMEM. */
int wh_docker_elem_error(wh_dyn_config *cfg, const char *section, const char *name, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

#endif
