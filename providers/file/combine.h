/* Combining several dynamic-configuration files into one tree, Traefik's
 * way: no deep merge; within each named section (http.routers, ...,
 * tls.options, tls.stores) the first file to define a name wins, and
 * tls.certificates lists are concatenated. */
#ifndef WH_PROVIDERS_FILE_COMBINE_H
#define WH_PROVIDERS_FILE_COMBINE_H

#include "lib/config/tree.h"
#include "lib/core/err.h"

/* Adds what src defines to dst (both maps; dst starts as an empty map).
 * src is left untouched: dst gets clones, whose source/line still point at
 * src's file, so src's source string must outlive dst. A name already in dst
 * is skipped with a message naming both files appended to warnings. Keys
 * the schema does not know are carried over (first file wins) so that the
 * decoder reports them. Returns 0 or WH_ENOMEM. */
int wh_file_combine(wh_node *dst, const wh_node *src, wh_errlist *warnings);

#endif
