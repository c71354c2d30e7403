#include "providers/file/scan.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/core/str.h"

bool wh_file_name_is_ignored(const char *name) {
  if (!name || !*name || name[0] == '.')
    return true;
  size_t n = strlen(name);
  return name[n - 1] == '~' || wh_str_has_casesuffix(name, ".swp");
}

wh_file_kind wh_file_kind_of(const char *name) {
  if (wh_file_name_is_ignored(name))
    return WH_FILE_KIND_IGNORED;
  if (wh_str_has_casesuffix(name, ".yaml") || wh_str_has_casesuffix(name, ".yml") ||
      wh_str_has_casesuffix(name, ".json"))
    return WH_FILE_KIND_YAML;
  if (wh_str_has_casesuffix(name, ".toml"))
    return WH_FILE_KIND_TOML;
  return WH_FILE_KIND_IGNORED;
}

void wh_pathlist_free(wh_pathlist *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

/* Takes ownership of s, also on failure. */
static int pathlist_push(wh_pathlist *l, char *s) {
  if (!s)
    return WH_ENOMEM;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    char **v = realloc(l->v, cap * sizeof(*v));
    if (!v) {
      free(s);
      return WH_ENOMEM;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = s;
  return WH_OK;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Bounds recursion: deeper trees are a mistake, not a configuration. */
#define SCAN_MAX_DEPTH 32

static int scan_dir(const char *dir, int depth, wh_pathlist *files, wh_pathlist *dirs,
                    wh_errlist *errs) {
  if (depth > SCAN_MAX_DEPTH) {
    wh_errlist_add(errs, "%s: directory nesting deeper than %d levels, not read", dir,
                   SCAN_MAX_DEPTH);
    return WH_EIO;
  }
  DIR *d = opendir(dir);
  if (!d) {
    wh_errlist_add(errs, "%s: cannot read directory: %s", dir, strerror(errno));
    return WH_EIO;
  }
  if (dirs && pathlist_push(dirs, wh_strdup(dir)) != WH_OK) {
    closedir(d);
    return WH_ENOMEM;
  }
  wh_pathlist names = {0};
  int rc = WH_OK;
  struct dirent *e;
  while ((e = readdir(d))) {
    /* Hidden entries are never read, whether files or directories. */
    if (e->d_name[0] == '.')
      continue;
    if ((rc = pathlist_push(&names, wh_strdup(e->d_name))) != WH_OK)
      break;
  }
  closedir(d);
  if (rc != WH_OK) {
    wh_pathlist_free(&names);
    return rc;
  }
  if (names.n > 1)
    qsort(names.v, names.n, sizeof(*names.v), cmp_names);

  for (size_t i = 0; i < names.n && rc != WH_ENOMEM; i++) {
    char *path = wh_asprintf("%s/%s", dir, names.v[i]);
    if (!path) {
      rc = WH_ENOMEM;
      break;
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
      /* Vanished between readdir and lstat: a concurrent edit, not an error. */
      free(path);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      int r = scan_dir(path, depth + 1, files, dirs, errs);
      if (r != WH_OK)
        rc = r;
      free(path);
      continue;
    }
    if (!files || wh_file_kind_of(names.v[i]) == WH_FILE_KIND_IGNORED) {
      free(path);
      continue;
    }
    /* Symlinked files count (ConfigMap mounts are symlinks); a dangling link
     * is listed so that the loader reports it. */
    if (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
      free(path);
      continue;
    }
    if (!S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode)) {
      free(path);
      continue;
    }
    if (pathlist_push(files, path) != WH_OK)
      rc = WH_ENOMEM;
  }
  wh_pathlist_free(&names);
  return rc;
}

int wh_file_scan(const char *dir, wh_pathlist *files, wh_pathlist *dirs, wh_errlist *errs) {
  /* Trailing slashes would give "dir//a.yaml" in messages. */
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/')
    n--;
  char *root = wh_strndup(dir, n);
  if (!root)
    return WH_ENOMEM;
  int rc = scan_dir(root, 0, files, dirs, errs);
  free(root);
  return rc;
}
