#include "lib/tls/file_watch.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/core/str.h"

typedef struct watched_file {
  char *path;
  bool exists;
  struct timespec mtime;
  off_t size;
  ino_t ino;
} watched_file;

struct wh_file_watch {
  watched_file *files;
  size_t n;
};

wh_file_watch *wh_file_watch_new(void) {
  return calloc(1, sizeof(wh_file_watch));
}

void wh_file_watch_free(wh_file_watch *w) {
  if (!w)
    return;
  for (size_t i = 0; i < w->n; i++)
    free(w->files[i].path);
  free(w->files);
  free(w);
}

static void file_state(const char *path, watched_file *f) {
  struct stat st;
  f->exists = stat(path, &st) == 0;
  if (f->exists) {
    f->mtime = st.st_mtim;
    f->size = st.st_size;
    f->ino = st.st_ino;
  }
}

void wh_file_watch_add(wh_file_watch *w, const char *path) {
  if (!w || !path || !*path || strstr(path, "-----BEGIN"))
    return;
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->files[i].path, path) == 0)
      return;
  watched_file *v = realloc(w->files, (w->n + 1) * sizeof(*v));
  if (!v)
    return;
  w->files = v;
  watched_file *f = &w->files[w->n];
  memset(f, 0, sizeof(*f));
  f->path = wh_strdup(path);
  if (!f->path)
    return;
  file_state(path, f);
  w->n++;
}

bool wh_file_watch_changed(const wh_file_watch *w) {
  for (size_t i = 0; w && i < w->n; i++) {
    watched_file now;
    memset(&now, 0, sizeof(now));
    file_state(w->files[i].path, &now);
    const watched_file *was = &w->files[i];
    if (now.exists != was->exists)
      return true;
    if (now.exists &&
        (now.mtime.tv_sec != was->mtime.tv_sec || now.mtime.tv_nsec != was->mtime.tv_nsec ||
         now.size != was->size || now.ino != was->ino))
      return true;
  }
  return false;
}

size_t wh_file_watch_count(const wh_file_watch *w) {
  return w ? w->n : 0;
}
