/* replacePathRegex: rewrites the path with a regex and a Go-style
 * replacement ("${1}"), keeping the old one in X-Replaced-Path.
 *
 * Also the regex helpers the path middlewares share (stripPrefixRegex):
 * Traefik's patterns are Go regexps, run here through PCRE2 with Go's
 * matching options (UTF-8 with invalid bytes tolerated, '$' only at the very
 * end, no \C) and bounded backtracking. */
#ifndef WH_MW_REPLACEPATHREGEX_H
#define WH_MW_REPLACEPATHREGEX_H

#include <stddef.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_replacepathregex_conf {
  char *regex;       /* "regex" (must compile) */
  char *replacement; /* "replacement" */
} wh_mw_replacepathregex_conf;

extern const wh_mw_type wh_mw_replacepathregex;

/* pattern has its surrounding blanks ignored (Traefik trims it). Compiled
 * forms are kept by pattern text for the process lifetime (up to a fixed
 * number; past that a pattern is compiled per call), shared by all
 * threads: the text is the key, so a reloaded configuration can never get
 * another pattern's code. */

/* Leftmost match in subject[0..len): 1 with [*so, *eo), 0 when none, -1 when
 * the pattern does not compile or a match limit was hit (callers fail
 * closed). */
int wh_mw_regex_find(const char *pattern, const char *subject, size_t len, size_t *so, size_t *eo);

/* Go's Regexp.ReplaceAllString(subject, templ): every non-overlapping match
 * replaced by templ with $1, ${1}, $name, ${name} expanded and "$$" a
 * literal '$'. 1 with *out (caller frees) when something matched, 0 when
 * nothing did (*out NULL), -1 on error (as above, or OOM). */
int wh_mw_regex_replace_all(const char *pattern, const char *subject, const char *templ,
                            char **out);

#endif
