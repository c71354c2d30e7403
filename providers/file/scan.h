/* Which files and directories the file provider looks at. Shared by the
 * loader (files) and the watcher (directories) so that both agree on what is
 * ignored. */
#ifndef WH_PROVIDERS_FILE_SCAN_H
#define WH_PROVIDERS_FILE_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/core/err.h"

typedef enum {
  WH_FILE_KIND_IGNORED = 0, /* not a configuration file, or hidden / editor temp file */
  WH_FILE_KIND_YAML,        /* .yaml, .yml, .json (libyaml reads JSON) */
  WH_FILE_KIND_TOML,        /* recognised so that it can be reported, never read */
} wh_file_kind;

/* Classifies a base name (no directory part); extension case does not matter. */
wh_file_kind wh_file_kind_of(const char *name);
/* Hidden files ('.' prefix) and editor leftovers ('~' suffix, ".swp"). */
bool wh_file_name_is_ignored(const char *name);

/* A list of malloc'd paths; owned by the list. Zero-initialised is empty. */
typedef struct wh_pathlist {
  char **v;
  size_t n, cap;
} wh_pathlist;

void wh_pathlist_free(wh_pathlist *l);

/* Walks dir recursively the way Traefik does (entries of each directory
 * sorted by name, depth first), so that "first file wins" is deterministic.
 * Symlinks to files are followed; symlinks to directories and hidden
 * directories are not entered (no loops, and a Kubernetes ConfigMap's
 * "..data" directory is not read twice). Configuration files (YAML and TOML
 * kinds) are appended to files, directories (dir itself first) to dirs;
 * either may be NULL. Errors ("<path>: <reason>") go to errs. Returns 0, or
 * WH_EIO when some directory could not be read (what could be read is still
 * listed), WH_ENOMEM. */
int wh_file_scan(const char *dir, wh_pathlist *files, wh_pathlist *dirs, wh_errlist *errs);

#endif
