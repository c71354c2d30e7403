/* Watching the file provider's inputs: uv_fs_event handles on directories
 * (never on files: editors, `mv` and Kubernetes ConfigMap updates replace a
 * file, which would orphan a watch on the file itself), with a debounce. */
#ifndef WH_PROVIDERS_FILE_WATCH_H
#define WH_PROVIDERS_FILE_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lib/core/err.h"

typedef struct wh_file_watch wh_file_watch;

/* Called once the inputs have been quiet for the debounce period after a
 * relevant change. Runs on the loop; never after wh_file_watch_stop. */
typedef void (*wh_file_watch_fn)(void *ctx);

/* Two modes:
 * - only_name non-NULL: watch the single directory dir and
 *   report changes to the entry only_name (plus "..data*", the symlink a
 *   ConfigMap update swaps);
 * - only_name NULL: watch dir and, recursively, every subdirectory the
 *   loader would enter (wh_file_scan), re-scanning them on each change so
 *   new directories get a watch and removed ones lose theirs.
 * dir and only_name are copied. Returns NULL with a message in errs when
 * the directory cannot be watched. Must be stopped with wh_file_watch_stop. */
wh_file_watch *wh_file_watch_start(uv_loop_t *loop, const char *dir, const char *only_name,
                                   uint64_t debounce_ms, wh_file_watch_fn fn, void *ctx,
                                   wh_errlist *errs);

/* Closes every handle; the watch frees itself in the last close callback
 * (run the loop to let that happen). fn is never called after this. */
void wh_file_watch_stop(wh_file_watch *w);

#endif
