#include "lib/net/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "lib/core/log.h"

static wh_curl_api api;
static const wh_curl_api *loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The library stays loaded for the process lifetime: handles created from it
 * may live until exit. */
static void load(void) {
  void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    wh_log_error("libcurl could not be loaded: %s", dlerror());
    return;
  }
  struct {
    void **slot;
    const char *name;
  } syms[] = {
      {(void **)&api.global_init, "curl_global_init"},
      {(void **)&api.global_cleanup, "curl_global_cleanup"},
      {(void **)&api.easy_init, "curl_easy_init"},
      {(void **)&api.easy_setopt, "curl_easy_setopt"},
      {(void **)&api.easy_getinfo, "curl_easy_getinfo"},
      {(void **)&api.easy_cleanup, "curl_easy_cleanup"},
      {(void **)&api.easy_strerror, "curl_easy_strerror"},
      {(void **)&api.slist_append, "curl_slist_append"},
      {(void **)&api.slist_free_all, "curl_slist_free_all"},
      {(void **)&api.multi_init, "curl_multi_init"},
      {(void **)&api.multi_setopt, "curl_multi_setopt"},
      {(void **)&api.multi_add_handle, "curl_multi_add_handle"},
      {(void **)&api.multi_remove_handle, "curl_multi_remove_handle"},
      {(void **)&api.multi_socket_action, "curl_multi_socket_action"},
      {(void **)&api.multi_assign, "curl_multi_assign"},
      {(void **)&api.multi_info_read, "curl_multi_info_read"},
      {(void **)&api.multi_cleanup, "curl_multi_cleanup"},
  };
  for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
    *syms[i].slot = dlsym(h, syms[i].name);
    if (!*syms[i].slot) {
      wh_log_error("libcurl.so.4 lacks %s", syms[i].name);
      dlclose(h);
      return;
    }
  }
  loaded = &api;
}

const wh_curl_api *wh_curl_load(void) {
  pthread_once(&once, load);
  return loaded;
}
