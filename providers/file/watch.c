#include "providers/file/watch.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "providers/file/scan.h"

typedef struct dir_watch {
  uv_fs_event_t h;
  wh_file_watch *owner;
  char *path;
  dev_t dev;
  ino_t ino;
} dir_watch;

struct wh_file_watch {
  uv_loop_t *loop;
  char *root;
  char *only_name; /* NULL: recursive directory mode */
  uint64_t debounce_ms;
  wh_file_watch_fn fn;
  void *ctx;
  uv_timer_t timer;
  dir_watch **dirs; /* live watches; closing ones are no longer listed */
  size_t n, cap;
  size_t open_handles; /* initialised, not yet closed: the timer and every dir_watch */
  bool stopping;
};

static void watch_release(wh_file_watch *w) {
  if (--w->open_handles > 0)
    return;
  free(w->dirs);
  free(w->root);
  free(w->only_name);
  free(w);
}

static void timer_closed(uv_handle_t *h) {
  watch_release(h->data);
}

static void dir_closed(uv_handle_t *h) {
  dir_watch *d = h->data;
  wh_file_watch *w = d->owner;
  free(d->path);
  free(d);
  watch_release(w);
}

static void dir_close(dir_watch *d) {
  uv_fs_event_stop(&d->h);
  uv_close((uv_handle_t *)&d->h, dir_closed);
}

/* A ConfigMap update swaps the "..data" symlink; the visible names do not change. */
static bool is_configmap_swap(const char *name) {
  return wh_str_has_prefix(name, "..data");
}

static bool relevant(const wh_file_watch *w, const char *name) {
  if (!name)
    return true; /* the platform did not say which entry: assume ours */
  if (is_configmap_swap(name))
    return true;
  if (w->only_name)
    return strcmp(name, w->only_name) == 0;
  return !wh_file_name_is_ignored(name);
}

static void timer_fired(uv_timer_t *t);

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  (void)events;
  dir_watch *d = h->data;
  wh_file_watch *w = d->owner;
  if (w->stopping)
    return;
  if (status < 0)
    wh_log_warn("file provider: watching %s: %s", d->path, uv_strerror(status));
  else if (!relevant(w, filename))
    return;
  /* Restarting the timer on every event coalesces a burst (an editor's
   * write + rename + chmod) into one reload. */
  uv_timer_start(&w->timer, timer_fired, w->debounce_ms, 0);
}

static int dir_add(wh_file_watch *w, const char *path, wh_errlist *errs) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 8;
    dir_watch **v = realloc(w->dirs, cap * sizeof(*v));
    if (!v)
      return WH_ENOMEM;
    w->dirs = v;
    w->cap = cap;
  }
  dir_watch *d = calloc(1, sizeof(*d));
  if (!d || !(d->path = wh_strdup(path))) {
    free(d);
    return WH_ENOMEM;
  }
  struct stat st;
  if (stat(path, &st) == 0) {
    d->dev = st.st_dev;
    d->ino = st.st_ino;
  }
  d->owner = w;
  int rc = uv_fs_event_init(w->loop, &d->h);
  if (rc < 0) {
    wh_errlist_add(errs, "%s: cannot watch: %s", path, uv_strerror(rc));
    free(d->path);
    free(d);
    return WH_EIO;
  }
  d->h.data = d;
  w->open_handles++;
  rc = uv_fs_event_start(&d->h, on_fs_event, path, 0);
  if (rc < 0) {
    wh_errlist_add(errs, "%s: cannot watch: %s", path, uv_strerror(rc));
    uv_close((uv_handle_t *)&d->h, dir_closed);
    return WH_EIO;
  }
  w->dirs[w->n++] = d;
  return WH_OK;
}

static bool same_dir(const dir_watch *d, const char *path) {
  if (strcmp(d->path, path) != 0)
    return false;
  struct stat st;
  /* A directory removed and recreated under the same name needs a new watch:
   * the old one follows the deleted inode. */
  return stat(path, &st) == 0 && st.st_dev == d->dev && st.st_ino == d->ino;
}

static bool pathlist_has(const wh_pathlist *l, const char *path) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], path) == 0)
      return true;
  return false;
}

/* Brings the set of watched directories in line with what is on disk. */
static void rescan(wh_file_watch *w) {
  wh_pathlist dirs = {0};
  wh_errlist errs;
  wh_errlist_init(&errs);
  int rc = wh_file_scan(w->root, NULL, &dirs, &errs);
  if (rc == WH_ENOMEM || dirs.n == 0) {
    /* The root itself is unreadable: keep the watches we have rather than
     * go blind; the loader reports the problem. */
    wh_pathlist_free(&dirs);
    wh_errlist_free(&errs);
    return;
  }
  size_t kept = 0;
  for (size_t i = 0; i < w->n; i++) {
    dir_watch *d = w->dirs[i];
    if (pathlist_has(&dirs, d->path) && same_dir(d, d->path))
      w->dirs[kept++] = d;
    else
      dir_close(d);
  }
  w->n = kept;
  for (size_t i = 0; i < dirs.n; i++) {
    bool have = false;
    for (size_t j = 0; j < w->n && !have; j++)
      have = strcmp(w->dirs[j]->path, dirs.v[i]) == 0;
    if (!have)
      dir_add(w, dirs.v[i], &errs);
  }
  for (size_t i = 0; i < errs.n; i++)
    wh_log_warn("file provider: %s", errs.items[i]);
  wh_pathlist_free(&dirs);
  wh_errlist_free(&errs);
}

static void timer_fired(uv_timer_t *t) {
  wh_file_watch *w = t->data;
  if (w->stopping)
    return;
  if (!w->only_name)
    rescan(w);
  w->fn(w->ctx);
}

wh_file_watch *wh_file_watch_start(uv_loop_t *loop, const char *dir, const char *only_name,
                                   uint64_t debounce_ms, wh_file_watch_fn fn, void *ctx,
                                   wh_errlist *errs) {
  wh_file_watch *w = calloc(1, sizeof(*w));
  if (!w) {
    wh_errlist_add(errs, "file provider: out of memory");
    return NULL;
  }
  w->loop = loop;
  w->debounce_ms = debounce_ms;
  w->fn = fn;
  w->ctx = ctx;
  w->root = wh_strdup(dir);
  w->only_name = wh_strdup(only_name);
  if (!w->root || (only_name && !w->only_name)) {
    free(w->root);
    free(w->only_name);
    free(w);
    wh_errlist_add(errs, "file provider: out of memory");
    return NULL;
  }
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  w->open_handles = 1;

  int rc;
  if (only_name) {
    rc = dir_add(w, dir, errs);
  } else {
    /* Only the root is essential; an unreadable subdirectory is logged and
     * the rest is still watched. */
    wh_pathlist dirs = {0};
    wh_errlist sub;
    wh_errlist_init(&sub);
    rc = wh_file_scan(dir, NULL, &dirs, &sub);
    if (dirs.n == 0) {
      wh_errlist_extend(errs, &sub, NULL);
      rc = rc == WH_ENOMEM ? rc : WH_EIO;
    } else {
      rc = dir_add(w, dirs.v[0], errs);
      for (size_t i = 1; i < dirs.n && rc == WH_OK; i++)
        if (dir_add(w, dirs.v[i], &sub) == WH_ENOMEM)
          rc = WH_ENOMEM;
      for (size_t i = 0; i < sub.n; i++)
        wh_log_warn("file provider: %s", sub.items[i]);
    }
    wh_pathlist_free(&dirs);
    wh_errlist_free(&sub);
  }
  if (rc != WH_OK) {
    if (rc == WH_ENOMEM)
      wh_errlist_add(errs, "file provider: out of memory");
    wh_file_watch_stop(w);
    return NULL;
  }
  return w;
}

void wh_file_watch_stop(wh_file_watch *w) {
  if (!w || w->stopping)
    return;
  w->stopping = true;
  for (size_t i = 0; i < w->n; i++)
    dir_close(w->dirs[i]);
  w->n = 0;
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->timer, timer_closed);
}
