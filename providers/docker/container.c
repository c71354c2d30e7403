/* GET /containers/{id}/json -> wh_docker_container. Only the fields the
 * label semantics use are kept; sizes are capped so that a hostile image
 * LABEL cannot make the provider hold unbounded memory. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "providers/docker/docker_config.h"

#define MAX_LABEL_BYTES (1024 * 1024)
#define MAX_LABELS 10000

static const cJSON *jget(const cJSON *o, const char *k) {
  return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = jget(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

void wh_docker_container_free(wh_docker_container *c) {
  if (!c)
    return;
  free(c->id);
  free(c->name);
  free(c->status);
  free(c->health);
  free(c->network_mode);
  free(c->service_name);
  for (size_t i = 0; i < c->nlabels; i++) {
    free(c->label_keys[i]);
    free(c->label_values[i]);
  }
  free(c->label_keys);
  free(c->label_values);
  for (size_t i = 0; i < c->nports; i++) {
    free(c->ports[i].proto);
    free(c->ports[i].host_ip);
    free(c->ports[i].host_port);
  }
  free(c->ports);
  for (size_t i = 0; i < c->nnetworks; i++) {
    free(c->networks[i].name);
    free(c->networks[i].ip);
    free(c->networks[i].ip6);
  }
  free(c->networks);
  free(c->node_ip);
  free(c);
}

typedef struct {
  char *k, *v;
} kv;

static int kv_cmp(const void *a, const void *b) {
  return strcmp(((const kv *)a)->k, ((const kv *)b)->k);
}

static int port_cmp(const void *a, const void *b) {
  const wh_docker_port *x = a, *y = b;
  if (x->port != y->port)
    return x->port < y->port ? -1 : 1;
  return strcmp(x->proto, y->proto);
}

static int net_cmp(const void *a, const void *b) {
  return strcmp(((const wh_docker_network *)a)->name, ((const wh_docker_network *)b)->name);
}

static int parse_labels(wh_docker_container *c, const cJSON *labels, wh_errlist *errs) {
  if (!labels || cJSON_IsNull(labels))
    return 0;
  if (!cJSON_IsObject(labels)) {
    wh_errlist_add(errs, "container %s: Config.Labels is not an object", c->id);
    return WH_EINVAL;
  }
  size_t n = (size_t)cJSON_GetArraySize(labels);
  if (n > MAX_LABELS) {
    wh_errlist_add(errs, "container %s: %zu labels (at most %d are accepted)", c->id, n,
                   MAX_LABELS);
    return WH_EINVAL;
  }
  if (!n)
    return 0;
  kv *v = calloc(n, sizeof *v);
  c->label_keys = calloc(n, sizeof *c->label_keys);
  c->label_values = calloc(n, sizeof *c->label_values);
  if (!v || !c->label_keys || !c->label_values) {
    free(v);
    wh_errlist_add(errs, "out of memory");
    return WH_ENOMEM;
  }
  size_t i = 0;
  int rc = 0;
  for (const cJSON *it = labels->child; it && i < n; it = it->next) {
    if (!cJSON_IsString(it) || !it->string) {
      wh_errlist_add(errs, "container %s: label \"%s\" is not a string", c->id,
                     it->string ? it->string : "");
      rc = WH_EINVAL;
      break;
    }
    if (strlen(it->string) > MAX_LABEL_BYTES || strlen(it->valuestring) > MAX_LABEL_BYTES) {
      wh_errlist_add(errs, "container %s: label \"%.64s\" is larger than 1 MiB: refused", c->id,
                     it->string);
      rc = WH_EINVAL;
      break;
    }
    v[i].k = it->string;
    v[i].v = it->valuestring;
    i++;
  }
  if (!rc) {
    qsort(v, i, sizeof *v, kv_cmp);
    for (size_t j = 0; j < i; j++) {
      c->label_keys[j] = wh_strdup(v[j].k);
      c->label_values[j] = wh_strdup(v[j].v);
      c->nlabels++;
      if (!c->label_keys[j] || !c->label_values[j]) {
        wh_errlist_add(errs, "out of memory");
        rc = WH_ENOMEM;
        break;
      }
    }
  }
  free(v);
  return rc;
}

/* "80/tcp" -> 80, "tcp". */
static int parse_port_key(const char *k, int *port, const char **proto) {
  char *end;
  long p = strtol(k, &end, 10);
  if (end == k || p < 1 || p > 65535 || (*end && *end != '/'))
    return WH_EINVAL;
  *port = (int)p;
  *proto = *end == '/' ? end + 1 : "tcp";
  return **proto ? 0 : WH_EINVAL;
}

static int parse_ports(wh_docker_container *c, const cJSON *ports, wh_errlist *errs) {
  if (!ports || cJSON_IsNull(ports))
    return 0;
  if (!cJSON_IsObject(ports)) {
    wh_errlist_add(errs, "container %s: NetworkSettings.Ports is not an object", c->id);
    return WH_EINVAL;
  }
  size_t n = (size_t)cJSON_GetArraySize(ports);
  if (!n)
    return 0;
  if (!(c->ports = calloc(n, sizeof *c->ports))) {
    wh_errlist_add(errs, "out of memory");
    return WH_ENOMEM;
  }
  for (const cJSON *it = ports->child; it && c->nports < n; it = it->next) {
    int port;
    const char *proto;
    if (!it->string || parse_port_key(it->string, &port, &proto)) {
      wh_errlist_add(errs, "container %s: NetworkSettings.Ports: bad port \"%s\"", c->id,
                     it->string ? it->string : "");
      return WH_EINVAL;
    }
    wh_docker_port *p = &c->ports[c->nports++];
    p->port = port;
    p->proto = wh_strdup(proto);
    if (!p->proto)
      goto oom;
    const cJSON *b0 = cJSON_IsArray(it) ? cJSON_GetArrayItem(it, 0) : NULL;
    if (b0) {
      const char *hip = jstr(b0, "HostIp"), *hport = jstr(b0, "HostPort");
      if ((hip && !(p->host_ip = wh_strdup(hip))) || (hport && !(p->host_port = wh_strdup(hport))))
        goto oom;
    }
  }
  qsort(c->ports, c->nports, sizeof *c->ports, port_cmp);
  return 0;
oom:
  wh_errlist_add(errs, "out of memory");
  return WH_ENOMEM;
}

static int parse_networks(wh_docker_container *c, const cJSON *nets, wh_errlist *errs) {
  if (!nets || cJSON_IsNull(nets))
    return 0;
  if (!cJSON_IsObject(nets)) {
    wh_errlist_add(errs, "container %s: NetworkSettings.Networks is not an object", c->id);
    return WH_EINVAL;
  }
  size_t n = (size_t)cJSON_GetArraySize(nets);
  if (!n)
    return 0;
  if (!(c->networks = calloc(n, sizeof *c->networks))) {
    wh_errlist_add(errs, "out of memory");
    return WH_ENOMEM;
  }
  for (const cJSON *it = nets->child; it && c->nnetworks < n; it = it->next) {
    if (!it->string)
      continue;
    wh_docker_network *w = &c->networks[c->nnetworks++];
    const char *ip = jstr(it, "IPAddress"), *ip6 = jstr(it, "GlobalIPv6Address");
    w->name = wh_strdup(it->string);
    w->ip = wh_strdup(ip ? ip : "");
    w->ip6 = wh_strdup(ip6 ? ip6 : "");
    if (!w->name || !w->ip || !w->ip6) {
      wh_errlist_add(errs, "out of memory");
      return WH_ENOMEM;
    }
  }
  qsort(c->networks, c->nnetworks, sizeof *c->networks, net_cmp);
  return 0;
}

wh_docker_container *wh_docker_container_parse(const cJSON *inspect, wh_errlist *errs) {
  const char *id = jstr(inspect, "Id");
  if (!id || !*id) {
    wh_errlist_add(errs, "not a container: no \"Id\"");
    return NULL;
  }
  wh_docker_container *c = calloc(1, sizeof *c);
  if (!c) {
    wh_errlist_add(errs, "out of memory");
    return NULL;
  }
  const char *name = jstr(inspect, "Name");
  name = name ? name : "";
  if (*name == '/')
    name++;
  const cJSON *state = jget(inspect, "State");
  const char *status = jstr(state, "Status");
  if (!status) {
    const cJSON *running = jget(state, "Running");
    status = cJSON_IsTrue(running) ? "running" : "exited";
  }
  const char *health = jstr(jget(state, "Health"), "Status");
  const char *mode = jstr(jget(inspect, "HostConfig"), "NetworkMode");
  c->id = wh_strdup(id);
  c->name = wh_strdup(name);
  c->status = wh_strdup(status);
  c->network_mode = wh_strdup(mode ? mode : "");
  if (!c->id || !c->name || !c->status || !c->network_mode ||
      (health && *health && !(c->health = wh_strdup(health)))) {
    wh_errlist_add(errs, "out of memory");
    wh_docker_container_free(c);
    return NULL;
  }
  const cJSON *ns = jget(inspect, "NetworkSettings");
  if (parse_labels(c, jget(jget(inspect, "Config"), "Labels"), errs) ||
      parse_ports(c, jget(ns, "Ports"), errs) || parse_networks(c, jget(ns, "Networks"), errs)) {
    wh_docker_container_free(c);
    return NULL;
  }
  return c;
}
