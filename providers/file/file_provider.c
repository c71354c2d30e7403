#include "providers/file/file_provider.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config/load.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "providers/file/combine.h"
#include "providers/file/scan.h"
#include "providers/file/watch.h"

struct wh_provider {
  uv_loop_t *loop;
  char *filename;  /* set in filename mode only */
  char *directory; /* set in directory mode only (it wins when both are configured) */
  bool debug_template;
  wh_provider_emit_fn emit;
  void *ctx;
  wh_file_watch *watch; /* NULL when not watching */
  /* Hash of the last emitted inputs (paths and rendered texts); emits are
   * skipped while it does not change. Cleared by a failed load so that the
   * load after a fix always emits. */
  uint64_t hash;
  bool have_hash;
  bool stopped;
  /* The emit callback may stop the provider; freeing waits until the load
   * that called it has unwound. */
  int busy;
  bool free_pending;
};

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t hash_add(uint64_t h, const void *data, size_t n) {
  const unsigned char *s = data;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= FNV_PRIME;
  }
  /* A separator so that ("ab","c") and ("a","bc") differ. */
  h ^= 0xff;
  return h * FNV_PRIME;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Reads a whole file, NUL-terminated. Returns NULL with the reason in errs. */
static char *read_file(const char *path, size_t *len, wh_errlist *errs) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    wh_errlist_add(errs, "%s: cannot read: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    wh_errlist_add(errs, "%s: cannot read: not a regular file", path);
    close(fd);
    return NULL;
  }
  if ((uint64_t)st.st_size > WH_FILE_PROVIDER_MAX_FILE) {
    wh_errlist_add(errs, "%s: file is larger than %u MiB", path,
                   WH_FILE_PROVIDER_MAX_FILE / (1024u * 1024u));
    close(fd);
    return NULL;
  }
  /* The size may change while reading (a writer in progress): read up to
   * the cap plus one byte and judge by what was read. */
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    if (n == cap) {
      if (cap > WH_FILE_PROVIDER_MAX_FILE)
        break;
      size_t ncap =
          cap * 2 > WH_FILE_PROVIDER_MAX_FILE + 1 ? WH_FILE_PROVIDER_MAX_FILE + 1 : cap * 2;
      char *nb = realloc(buf, ncap + 1);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      wh_errlist_add(errs, "%s: cannot read: %s", path, strerror(errno));
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  if (!buf) {
    wh_errlist_add(errs, "%s: out of memory", path);
    return NULL;
  }
  if (n > WH_FILE_PROVIDER_MAX_FILE) {
    wh_errlist_add(errs, "%s: file is larger than %u MiB", path,
                   WH_FILE_PROVIDER_MAX_FILE / (1024u * 1024u));
    free(buf);
    return NULL;
  }
  if (memchr(buf, '\0', n)) {
    wh_errlist_add(errs, "%s: contains a NUL byte (not a text file)", path);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Read, render and parse one file. Returns the tree, or NULL with errors. */
static wh_node *load_one(wh_provider *p, const char *path, uint64_t *hash, wh_errlist *errs) {
  size_t len = 0;
  char *text = read_file(path, &len, errs);
  if (!text)
    return NULL;
  char *rendered = wh_template_render(text, path, errs);
  free(text);
  if (!rendered)
    return NULL;
  if (p->debug_template)
    wh_log_debug("file provider: rendered %s:\n%s", path, rendered);
  *hash = hash_add(*hash, rendered, strlen(rendered));
  wh_node *root = wh_yaml_parse(rendered, strlen(rendered), path, errs);
  free(rendered);
  if (root && root->kind != WH_NODE_MAP) {
    wh_errlist_add(errs, "%s:%d:%d: the top level must be a map (http, tcp, udp, tls)", path,
                   root->line, root->col);
    wh_node_free(root);
    return NULL;
  }
  return root;
}

static void log_errors(const wh_errlist *errs) {
  for (size_t i = 0; i < errs->n; i++)
    wh_log_error("file provider: %s", errs->items[i]);
}

static void do_emit(wh_provider *p, wh_dyn_config *cfg, const wh_errlist *errs) {
  if (p->stopped) {
    wh_dyn_config_free(cfg);
    return;
  }
  p->emit(p->ctx, wh_provider_file.name, cfg, errs->n ? errs : NULL);
}

static void provider_free(wh_provider *p) {
  free(p->filename);
  free(p->directory);
  free(p);
}

static void load(wh_provider *p, bool force) {
  if (p->stopped)
    return;
  p->busy++;
  const char *where = p->directory ? p->directory : p->filename;
  wh_errlist errs, warnings;
  wh_errlist_init(&errs);
  wh_errlist_init(&warnings);
  wh_pathlist files = {0};
  wh_node **trees = NULL;
  wh_node *combined = NULL;
  bool fatal = false;
  uint64_t h = FNV_OFFSET;

  if (p->directory) {
    /* A directory that cannot be read in full would drop part of the
     * configuration: keep the previous one instead. */
    if (wh_file_scan(p->directory, &files, NULL, &errs) != WH_OK)
      fatal = true;
  } else {
    files.v = malloc(sizeof(*files.v));
    if (files.v && (files.v[0] = wh_strdup(p->filename)))
      files.n = files.cap = 1;
    else
      fatal = true;
  }
  if (files.n && !(trees = calloc(files.n, sizeof(*trees))))
    fatal = true;

  size_t nloaded = 0;
  for (size_t i = 0; i < files.n && trees; i++) {
    const char *path = files.v[i];
    h = hash_add(h, path, strlen(path));
    if (wh_file_kind_of(base_name(path)) == WH_FILE_KIND_TOML) {
      wh_errlist_add(&errs, "%s: TOML is not supported; convert %s to YAML", path, path);
      /* In a directory the other files still load; a single TOML file is the
       * whole configuration, so that is a failed load. */
      if (p->filename)
        fatal = true;
      continue;
    }
    /* Keep going after a failure so that every broken file is reported. */
    if ((trees[i] = load_one(p, path, &h, &errs)))
      nloaded++;
    else
      fatal = true;
  }
  if (errs.n == 0 && fatal)
    wh_errlist_add(&errs, "%s: out of memory", where);

  if (fatal) {
    log_errors(&errs);
    wh_log_error("file provider: configuration from %s not loaded; the previous one stays", where);
    p->have_hash = false;
    do_emit(p, NULL, &errs);
    goto out;
  }
  if (!force && p->have_hash && p->hash == h) {
    wh_log_debug("file provider: %s unchanged, nothing to emit", where);
    goto out;
  }

  combined = wh_node_new(WH_NODE_MAP, NULL, NULL);
  if (!combined) {
    wh_errlist_add(&errs, "%s: out of memory", where);
    goto fail;
  }
  for (size_t i = 0; i < files.n; i++) {
    if (trees[i] && wh_file_combine(combined, trees[i], &warnings) != WH_OK) {
      wh_errlist_add(&errs, "%s: out of memory", where);
      goto fail;
    }
  }
  for (size_t i = 0; i < warnings.n; i++)
    wh_log_warn("file provider: %s", warnings.items[i]);

  /* Errors outside any element (an unknown section) ride along with the
   * config, like element errors: they do not block the rest. */
  wh_dyn_config *cfg = wh_dyn_config_decode(combined, wh_provider_file.name, &errs);
  if (!cfg) {
    wh_errlist_add(&errs, "%s: out of memory", where);
    goto fail;
  }
  log_errors(&errs);
  wh_log_info("file provider: loaded %zu file(s) from %s", nloaded, where);
  p->hash = h;
  p->have_hash = true;
  do_emit(p, cfg, &errs);
  goto out;

fail:
  log_errors(&errs);
  p->have_hash = false;
  do_emit(p, NULL, &errs);
out:
  /* Trees borrow their source strings from files: free them first. */
  wh_node_free(combined);
  for (size_t i = 0; trees && i < files.n; i++)
    wh_node_free(trees[i]);
  free(trees);
  wh_pathlist_free(&files);
  wh_errlist_free(&errs);
  wh_errlist_free(&warnings);
  if (--p->busy == 0 && p->free_pending)
    provider_free(p);
}

static void on_change(void *ctx) {
  load(ctx, false);
}

void wh_provider_file_reload(wh_provider *p) {
  if (p)
    load(p, true);
}

/* Splits a file path into its directory and base name (both malloc'd). */
static int split_path(const char *path, char **dir, char **name) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    *dir = wh_strdup(".");
    *name = wh_strdup(path);
  } else {
    *dir = slash == path ? wh_strdup("/") : wh_strndup(path, (size_t)(slash - path));
    *name = wh_strdup(slash + 1);
  }
  if (!*dir || !*name) {
    free(*dir);
    free(*name);
    return WH_ENOMEM;
  }
  return WH_OK;
}

static void start_watch(wh_provider *p) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  if (p->directory) {
    p->watch = wh_file_watch_start(p->loop, p->directory, NULL, WH_FILE_PROVIDER_DEBOUNCE_MS,
                                   on_change, p, &errs);
  } else {
    char *dir = NULL, *name = NULL;
    if (split_path(p->filename, &dir, &name) == WH_OK) {
      p->watch = wh_file_watch_start(p->loop, dir, name, WH_FILE_PROVIDER_DEBOUNCE_MS, on_change, p,
                                     &errs);
      free(dir);
      free(name);
    } else {
      wh_errlist_add(&errs, "out of memory");
    }
  }
  /* Not fatal: the configuration still loads, and SIGHUP still reloads. */
  for (size_t i = 0; i < errs.n; i++)
    wh_log_error("file provider: not watching for changes: %s", errs.items[i]);
  wh_errlist_free(&errs);
}

static bool nonempty(const char *s) {
  return s && *s;
}

static wh_provider *file_start(uv_loop_t *loop, const wh_static_config *stat,
                               wh_provider_emit_fn emit, void *ctx, wh_errlist *errs) {
  const wh_file_provider *o = stat && stat->providers ? stat->providers->file : NULL;
  if (!o) {
    wh_errlist_add(errs, "providers.file: not configured");
    return NULL;
  }
  if (!nonempty(o->filename) && !nonempty(o->directory)) {
    wh_errlist_add(errs, "providers.file: one of filename or directory is required");
    return NULL;
  }
  if (!emit) {
    wh_errlist_add(errs, "providers.file: no emit callback");
    return NULL;
  }
  wh_provider *p = calloc(1, sizeof(*p));
  if (!p) {
    wh_errlist_add(errs, "providers.file: out of memory");
    return NULL;
  }
  p->loop = loop;
  p->emit = emit;
  p->ctx = ctx;
  p->debug_template = o->debug_log_generated_template;
  if (nonempty(o->directory)) {
    if (nonempty(o->filename))
      wh_log_info("file provider: both filename and directory are set; using directory %s",
                  o->directory);
    p->directory = wh_strdup(o->directory);
  } else {
    p->filename = wh_strdup(o->filename);
  }
  if (!p->directory && !p->filename) {
    provider_free(p);
    wh_errlist_add(errs, "providers.file: out of memory");
    return NULL;
  }
  /* Watch before the first read so that a change racing with it is not lost. */
  if (o->watch)
    start_watch(p);
  load(p, true);
  return p;
}

static void file_stop(wh_provider *p) {
  if (!p || p->stopped)
    return;
  p->stopped = true;
  wh_file_watch_stop(p->watch);
  p->watch = NULL;
  if (p->busy)
    p->free_pending = true;
  else
    provider_free(p);
}

const wh_provider_type wh_provider_file = {
    .name = "file",
    .start = file_start,
    .stop = file_stop,
};
