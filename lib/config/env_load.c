/* TRAEFIK_* / WHARF_* environment variables -> wh_node (see load.h). */
#include <stdlib.h>
#include <string.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

/* Applies every variable of one prefix. Returns false when one was bad. */
static bool apply_prefix(wh_node *root, char **envp, const char *prefix, wh_errlist *errs) {
  bool ok = true;
  size_t plen = strlen(prefix);
  for (char **e = envp; *e; e++) {
    /* Traefik matches its prefix case-sensitively */
    if (strncmp(*e, prefix, plen) != 0)
      continue;
    const char *name = *e + plen;
    const char *eq = strchr(name, '=');
    if (!eq || eq == name)
      continue; /* "TRAEFIK_=x" or no value at all: nothing to set */
    size_t nlen = (size_t)(eq - name);
    char *key = wh_strndup(name, nlen);
    if (!key) {
      wh_errlist_add(errs, "environment: out of memory");
      return false;
    }
    bool empty_seg = key[0] == '_' || key[nlen - 1] == '_' || strstr(key, "__");
    wh_str_lower(key);
    for (char *p = key; *p; p++)
      if (*p == '_')
        *p = '.';
    int rc = empty_seg ? WH_EINVAL : wh_node_set_dotted(root, key, eq + 1, "env", 0);
    if (rc == WH_ENOMEM) {
      wh_errlist_add(errs, "environment: out of memory");
      ok = false;
    } else if (empty_seg) {
      wh_errlist_add(errs, "environment variable %.*s: empty key segment", (int)(eq - *e), *e);
      ok = false;
    } else if (rc != WH_OK) {
      wh_errlist_add(errs,
                     "environment variable %.*s: invalid key, or it conflicts with another "
                     "variable",
                     (int)(eq - *e), *e);
      ok = false;
    }
    free(key);
  }
  return ok;
}

wh_node *wh_env_parse(char **envp, const char *const *prefixes, size_t nprefixes,
                      wh_errlist *errs) {
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  if (!root) {
    wh_errlist_add(errs, "environment: out of memory");
    return NULL;
  }
  root->source = "env";
  bool ok = true;
  /* later prefixes are applied last, so WHARF_ overrides TRAEFIK_ when the
   * caller lists them in that order */
  for (size_t i = 0; envp && i < nprefixes; i++)
    if (prefixes[i] && *prefixes[i])
      ok = apply_prefix(root, envp, prefixes[i], errs) && ok;
  if (!ok) {
    wh_node_free(root);
    return NULL;
  }
  return root;
}
