#include "lib/http/exchange.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int wh_mw_exchange_set_header(wh_mw_exchange *x, const char *name, const char *value) {
  wh_strmap *m = &x->set_headers;
  for (size_t i = 0; i < m->n; i++) {
    if (strcasecmp(m->keys[i], name) == 0) {
      char *v = strdup(value);
      if (!v)
        return -2;
      free(m->vals[i]);
      m->vals[i] = v;
      return 0;
    }
  }
  char **k = realloc(m->keys, (m->n + 1) * sizeof(*k));
  if (!k)
    return -2;
  m->keys = k;
  char **v = realloc(m->vals, (m->n + 1) * sizeof(*v));
  if (!v)
    return -2;
  m->vals = v;
  m->keys[m->n] = strdup(name);
  m->vals[m->n] = strdup(value);
  if (!m->keys[m->n] || !m->vals[m->n]) {
    free(m->keys[m->n]);
    free(m->vals[m->n]);
    return -2;
  }
  m->n++;
  return 0;
}

const char *wh_mw_exchange_header(const wh_mw_exchange *x, const char *name) {
  for (size_t i = 0; i < x->set_headers.n; i++)
    if (strcasecmp(x->set_headers.keys[i], name) == 0)
      return x->set_headers.vals[i];
  return wh_http_req_header(x->req, name);
}

void wh_mw_exchange_free(wh_mw_exchange *x) {
  free(x->path);
  for (size_t i = 0; i < x->set_headers.n; i++) {
    free(x->set_headers.keys[i]);
    free(x->set_headers.vals[i]);
  }
  free(x->set_headers.keys);
  free(x->set_headers.vals);
  memset(x, 0, sizeof(*x));
}
