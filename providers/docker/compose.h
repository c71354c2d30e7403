/* `wharf check --compose FILE`: the containers a docker-compose file would
 * create, as the docker provider would see them (labels, compose naming,
 * networks, exposed ports), so label errors show before anything is deployed. */
#ifndef WH_PROVIDERS_DOCKER_COMPOSE_H
#define WH_PROVIDERS_DOCKER_COMPOSE_H

#include <stddef.h>

#include "lib/core/err.h"
#include "providers/docker/docker_config.h"

/* Reads a compose file (v2/v3 syntax: services.<name>.labels as a map or a
 * list of "k=v", deploy.labels, networks, ports, expose). The project name
 * is the top-level `name`, else the file's directory name, normalised as
 * docker-compose does. *out is a malloc'd array of containers (free each
 * with wh_docker_container_free, then the array). Returns 0, or -1 with
 * errs filled. */
int wh_docker_compose_load(const char *path, wh_docker_container ***out, size_t *n,
                           wh_errlist *errs);

#endif
