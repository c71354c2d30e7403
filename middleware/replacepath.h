/* replacePath: replaces the whole path, keeping the old one in X-Replaced-Path.
 *
 * Also the helpers every path-rewriting middleware (addPrefix, replacePath,
 * replacePathRegex, stripPrefixRegex) shares to hand its result on: a
 * rewritten path is canonicalised again (lib/http/path.h) and never reaches
 * the backend with a "." or ".." segment (HARDENING 15). */
#ifndef WH_MW_REPLACEPATH_H
#define WH_MW_REPLACEPATH_H

#include "lib/config/dynamic.h"

struct wh_mw_exchange;

typedef struct wh_mw_replacepath_conf {
  char *path; /* "path" */
} wh_mw_replacepath_conf;

extern const wh_mw_type wh_mw_replacepath;

/* What a rewrite may leave in its result once re-canonicalised. */
typedef enum {
  /* Any change cleaning would make ("." / ".." segments, "//") answers 400:
   * Traefik's own check in stripPrefixRegex and replacePathRegex. */
  WH_MW_PATH_CLEAN,
  /* A "." or ".." segment answers 400; "//" is kept (addPrefix, whose
   * result carries the client's path). */
  WH_MW_PATH_NO_DOTS,
  /* Dot segments are resolved (replacePath: the result comes from the
   * configuration alone, so resolving it cannot reach a path an attacker
   * chose). */
  WH_MW_PATH_RESOLVE,
} wh_mw_path_check;

/* Installs raw (len bytes, %-escapes allowed) as x->path after
 * canonicalising it and applying check. WH_MW_NEXT when installed;
 * WH_MW_DONE with x->resp filled otherwise: 400 for a path check, 500 with
 * Go's "invalid URL escape" message for a bad escape, 500 on OOM. */
int wh_mw_path_install(struct wh_mw_exchange *x, const char *raw, size_t len,
                       wh_mw_path_check check);

/* A canonical path the way Go's URL.EscapedPath() shows it (what Traefik
 * puts in X-Replaced-Path and matches replacePathRegex against): bytes a
 * request-target cannot carry (blanks, '"', '<', '>', '\\', '^', '`', '{',
 * '|', '}', DEL, non-ASCII) are %-escaped. Caller frees; NULL on OOM. */
char *wh_mw_path_escaped(const char *canonical);

#endif
