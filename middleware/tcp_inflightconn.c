#include "middleware/tcp_inflightconn.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http/exchange.h"
#include "lib/http/forwarded.h"
#include "middleware/option_check.h"

/* Open connections per (middleware, client IP), shared by every worker and
 * kept across reloads (a reload must not reset a limit a client is at).
 * Entries live while they count at least one connection. A mutex is fine
 * here: it is taken twice per TCP connection, never per byte. */
typedef struct slot {
  struct slot *next;
  unsigned count;
  char key[]; /* name '\x01' ip */
} slot;

#define NBUCKETS 1024
static slot *buckets[NBUCKETS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static size_t hash(const char *s) {
  size_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h % NBUCKETS;
}

static int tcp_inflightconn_on_conn(const void *cfg, const char *name,
                                    const struct sockaddr *client, void **hold) {
  const wh_mw_tcp_inflightconn_conf *c = cfg;
  char ip[64];
  wh_addr_ip_string(client, ip, sizeof(ip));
  size_t nl = strlen(name), il = strlen(ip);
  char key[512];
  if (nl + il + 2 > sizeof(key))
    return WH_MW_DONE;
  memcpy(key, name, nl);
  key[nl] = '\x01';
  memcpy(key + nl + 1, ip, il + 1);
  size_t b = hash(key);
  pthread_mutex_lock(&mu);
  slot *e = buckets[b];
  while (e && strcmp(e->key, key) != 0)
    e = e->next;
  if (e && e->count >= (uint64_t)c->amount) {
    pthread_mutex_unlock(&mu);
    return WH_MW_DONE;
  }
  if (!e) {
    e = malloc(sizeof(*e) + nl + il + 2);
    if (!e) {
      pthread_mutex_unlock(&mu);
      return WH_MW_DONE;
    }
    memcpy(e->key, key, nl + il + 2);
    e->count = 0;
    e->next = buckets[b];
    buckets[b] = e;
  }
  e->count++;
  pthread_mutex_unlock(&mu);
  *hold = e;
  return WH_MW_NEXT;
}

static void tcp_inflightconn_on_conn_end(void *hold) {
  slot *e = hold;
  pthread_mutex_lock(&mu);
  if (--e->count == 0) {
    slot **pp = &buckets[hash(e->key)];
    while (*pp && *pp != e)
      pp = &(*pp)->next;
    if (*pp)
      *pp = e->next;
    free(e);
  }
  pthread_mutex_unlock(&mu);
}

static int tcp_inflightconn_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_tcp_inflightconn_conf *c = obj;
  if (c->amount > 0)
    return 0;
  wh_mw_opt_error(errs, path, "amount", "must be > 0 (got %lld)", (long long)c->amount);
  return WH_EINVAL;
}

static const wh_field tcp_inflightconn_fields[] = {
    WH_MW_FIELD(wh_mw_tcp_inflightconn_conf, amount, "amount", WH_F_INT),
};

static const wh_schema tcp_inflightconn_schema = {
    .name = "inFlightConn",
    .size = sizeof(wh_mw_tcp_inflightconn_conf),
    .fields = tcp_inflightconn_fields,
    .nfields = WH_MW_NFIELDS(tcp_inflightconn_fields),
    .validate = tcp_inflightconn_validate,
};

const wh_mw_type wh_mw_tcp_inflightconn = {
    .name = "inFlightConn",
    .proto = WH_MW_TCP,
    .schema = &tcp_inflightconn_schema,
    .on_conn = tcp_inflightconn_on_conn,
    .on_conn_end = tcp_inflightconn_on_conn_end,
};
