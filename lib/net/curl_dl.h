/* libcurl, loaded on first use. wharf links no libcurl: the library and
 * what it pulls in (a second TLS stack, Kerberos, LDAP, PKCS#11 ...) cost
 * about 3 MiB of resident memory at start-up, which a proxy with no health
 * checks (and, later, no Docker provider or ACME) must not pay. The calls are
 * the same libcurl calls through a table filled by dlopen/dlsym. */
#ifndef WH_NET_CURL_DL_H
#define WH_NET_CURL_DL_H

#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK /* the calls go through function pointers */
#endif
#include <curl/curl.h>

typedef struct wh_curl_api {
  CURLcode (*global_init)(long flags);
  void (*global_cleanup)(void);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
  CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
  void (*easy_cleanup)(CURL *h);
  const char *(*easy_strerror)(CURLcode c);
  struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
  void (*slist_free_all)(struct curl_slist *l);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
  CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
  CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
  CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
  CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
  CURLMsg *(*multi_info_read)(CURLM *m, int *left);
  CURLMcode (*multi_cleanup)(CURLM *m);
} wh_curl_api;

/* Loads libcurl.so.4 once (thread-safe) and returns its table, or NULL
 * (with the reason logged once) when it cannot be loaded. */
const wh_curl_api *wh_curl_load(void);

#endif
