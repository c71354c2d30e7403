/* providers.docker.constraints: an expression over container labels,
 * Label(`k`,`v`) (exact) and LabelRegex(`k`,`re`) (PCRE2, unanchored, a
 * missing label reads as ""), combined with && || ! and parentheses. */
#ifndef WH_PROVIDERS_DOCKER_CONSTRAINTS_H
#define WH_PROVIDERS_DOCKER_CONSTRAINTS_H

#include <stdbool.h>

#include "lib/core/err.h"
#include "providers/docker/docker_config.h"

typedef struct wh_docker_constraints wh_docker_constraints;

/* Compiles expr (NULL or blank: matches everything). NULL with a message in
 * errs on a syntax error, an unknown matcher or a bad regex (or OOM). Free
 * with wh_docker_constraints_free. */
wh_docker_constraints *wh_docker_constraints_compile(const char *expr, wh_errlist *errs);
bool wh_docker_constraints_match(const wh_docker_constraints *k, const wh_docker_container *c);
void wh_docker_constraints_free(wh_docker_constraints *k);

#endif
