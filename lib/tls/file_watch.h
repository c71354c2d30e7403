/* The certificate, key and CA files a TLS build read, as they were then, so
 * that a renewed file written in place (certbot, a cron job, a short-lived
 * client certificate rotated by step-ca or cert-manager) is noticed by
 * polling stat() rather than waiting for a provider event. Inline PEM values
 * are not files and are skipped. Built and polled on the control thread. */
#ifndef WH_TLS_FILE_WATCH_H
#define WH_TLS_FILE_WATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wh_file_watch wh_file_watch;

wh_file_watch *wh_file_watch_new(void);    /* NULL on OOM */
void wh_file_watch_free(wh_file_watch *w); /* NULL-safe */
/* Records path's current state (once per path; NULL, "" and inline PEM are
 * ignored). Best effort: out of memory only means that file is not watched. */
void wh_file_watch_add(wh_file_watch *w, const char *path);
/* True when a recorded file changed (mtime, size, inode), appeared or went
 * away since it was recorded. NULL-safe (false). */
bool wh_file_watch_changed(const wh_file_watch *w);
size_t wh_file_watch_count(const wh_file_watch *w);

#endif
