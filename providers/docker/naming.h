/* Names the Docker provider derives from a container: the service name, the
 * `normalize` function and the defaultRule template (TRAEFIK-COMPAT.md §1
 * "Naming"). Pure functions. */
#ifndef WH_PROVIDERS_DOCKER_NAMING_H
#define WH_PROVIDERS_DOCKER_NAMING_H

#include "lib/core/err.h"
#include "providers/docker/docker_config.h"

/* Splits on every rune that is not a letter or a number, drops empty pieces
 * and joins them with '-' ("/my_app.1" -> "my-app-1"). Caller frees; NULL
 * on OOM. Non-ASCII runes count as letters except the punctuation, symbol
 * and space blocks (Latin-1 punctuation, General Punctuation, CJK symbols,
 * ...) and invalid UTF-8, which separate, as Go's unicode tables would. */
char *wh_docker_normalize(const char *name);

/* The container's service name: normalize(<compose service>_<compose
 * project>) when both compose labels are non-empty, else normalize(Name).
 * Caller frees; NULL on OOM. */
char *wh_docker_service_name(const wh_docker_container *c);

/* The value of label key (exact match) or NULL. Borrowed. */
const char *wh_docker_label(const wh_docker_container *c, const char *key);

/* Renders a defaultRule template for container c (whose service name is
 * service_name). Supported inside {{ }} (with optional "-" trim markers and
 * comments): .Name, .ContainerName, index .Labels "k", string literals,
 * parentheses, the functions normalize, lower, upper, trim, and pipes
 * ("x | normalize"). Anything else is an error. Data from labels or names
 * that contains a quote character (` " '), a backslash or a control
 * character is refused: it could close the rule's string literal and add a
 * matcher. Returns the text (caller frees) or NULL with a message in errs. */
char *wh_docker_render_rule(const char *tmpl, const char *service_name,
                            const wh_docker_container *c, wh_errlist *errs);

#endif
