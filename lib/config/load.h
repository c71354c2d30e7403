/* Sources -> wh_node trees. Each loader only builds maps, lists and scalars;
 * meaning comes from lib/config/schema.h. */
#ifndef WH_CONFIG_LOAD_H
#define WH_CONFIG_LOAD_H

#include <stddef.h>

#include "lib/config/tree.h"
#include "lib/core/err.h"

/* YAML (and therefore JSON, which libyaml reads as YAML) text -> tree with
 * line/column on every node. Anchors and aliases are resolved (with a cap on
 * expansion); merge keys ("<<") are supported. An empty document gives an
 * empty map. On a syntax error returns NULL and appends
 * "<source>:<line>:<col>: <problem>" to errs. source is copied/borrowed for
 * the nodes' source field: it must outlive the tree (pass a string literal or
 * one owned by the caller for the tree's lifetime). */
wh_node *wh_yaml_parse(const char *text, size_t len, const char *source, wh_errlist *errs);

/* Reads a file and parses it as YAML/JSON; file errors go to errs. */
wh_node *wh_yaml_parse_file(const char *path, wh_errlist *errs);

/* Traefik-style flags: "--a.b.c=v", "--a.b.c v" is NOT accepted (ambiguous
 * with bare booleans), "--a.b" alone is a bare flag (value NULL = true).
 * Keys keep their spelling (the schema matches case-insensitively).
 * "--configFile=..." is skipped (it is read by wh_static_load). Arguments
 * that do not start with "--" are errors. Returns a map (empty when no flag). */
wh_node *wh_flags_parse(int argc, char **argv, wh_errlist *errs);

/* Environment: variables starting with one of prefixes (e.g. "TRAEFIK_",
 * "WHARF_"), the prefix removed, lowercased, '_' -> '.', so
 * TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=:80 sets entrypoints.web.address and
 * TRAEFIK_ENTRYPOINTS_WEB_HTTP_TLS_DOMAINS_0_MAIN sets ...domains.0.main.
 * Returns a map (empty when none). */
wh_node *wh_env_parse(char **envp, const char *const *prefixes, size_t nprefixes, wh_errlist *errs);

/* Renders the Go-template subset Traefik users write in dynamic files:
 * {{ env "NAME" }}, {{ env `NAME` }}, {{ "literal" }}, Go template comments,
 * trimming markers {{- -}}, and "| default "x"" after env. Anything else
 * inside {{ }} is an error "<source>:<line>: unsupported template action ..."
 * (never silently passed through). Returns a malloc'd string or NULL. */
char *wh_template_render(const char *text, const char *source, wh_errlist *errs);

#endif
