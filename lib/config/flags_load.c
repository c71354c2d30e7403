/* Traefik-style command-line flags -> wh_node (see load.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

/* An empty segment would silently become a key "" and then an unknown-key
 * error far from its cause; reject it here, naming the flag. */
static bool has_empty_segment(const char *name, size_t len) {
  if (!len || name[0] == '.' || name[len - 1] == '.')
    return true;
  for (size_t i = 1; i < len; i++)
    if (name[i] == '.' && name[i - 1] == '.')
      return true;
  return false;
}

wh_node *wh_flags_parse(int argc, char **argv, wh_errlist *errs) {
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  if (!root) {
    wh_errlist_add(errs, "flags: out of memory");
    return NULL;
  }
  root->source = "flags";
  bool failed = false;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (!arg)
      continue;
    if (strncmp(arg, "--", 2) != 0 || !arg[2] || arg[2] == '=' || arg[2] == '-') {
      wh_errlist_add(errs, "unexpected argument \"%s\"", arg);
      failed = true;
      continue;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    if (nlen == strlen("configFile") && strncasecmp(name, "configFile", nlen) == 0)
      continue; /* read by wh_static_load before the flags */
    if (has_empty_segment(name, nlen)) {
      wh_errlist_add(errs, "flag \"%s\": empty key segment", arg);
      failed = true;
      continue;
    }
    char *key = wh_strndup(name, nlen);
    if (!key) {
      failed = true;
      wh_errlist_add(errs, "flags: out of memory");
      break;
    }
    int rc = wh_node_set_dotted(root, key, eq ? eq + 1 : NULL, "flags", 0);
    if (rc == WH_ENOMEM) {
      wh_errlist_add(errs, "flags: out of memory");
      failed = true;
    } else if (rc != WH_OK) {
      wh_errlist_add(errs, "flag \"%s\": invalid key, or it conflicts with an earlier flag", arg);
      failed = true;
    }
    free(key);
  }
  if (failed) {
    wh_node_free(root);
    return NULL;
  }
  return root;
}
