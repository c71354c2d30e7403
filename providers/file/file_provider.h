/* The file provider: dynamic configuration from YAML/JSON files
 * (providers.file.filename or providers.file.directory), Traefik's
 * pkg/provider/file. See docs/internals/file-provider.md.
 *
 * Every emit carries the whole combined configuration of all files. When a
 * file cannot be read, rendered or parsed, the emit carries cfg == NULL and
 * the errors, so that the previous configuration keeps serving. */
#ifndef WH_PROVIDERS_FILE_FILE_PROVIDER_H
#define WH_PROVIDERS_FILE_FILE_PROVIDER_H

#include "lib/config/provider.h"

extern const wh_provider_type wh_provider_file;

/* Re-reads every file now and emits, even when nothing changed (SIGHUP:
 * certificate files referenced by path may have changed on disk while the
 * YAML did not). p must come from wh_provider_file.start and not be stopped.
 * Runs on p's loop. */
void wh_provider_file_reload(wh_provider *p);

/* Debounce after the last filesystem event before reloading, in ms. */
#define WH_FILE_PROVIDER_DEBOUNCE_MS 100
/* Files larger than this are an error, not a configuration. */
#define WH_FILE_PROVIDER_MAX_FILE (16u * 1024u * 1024u)

#endif
