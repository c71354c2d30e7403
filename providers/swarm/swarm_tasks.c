/* From Swarm services and tasks to wh_docker_container values: pure
 * functions of the Engine API payloads (TRAEFIK-COMPAT.md §1 "Swarm"). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "providers/swarm/swarm_provider.h"

static const cJSON *jget(const cJSON *o, const char *k) {
  return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = jget(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- networks ---- */

void wh_swarm_netmap_free(wh_swarm_netmap *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->ids[i]);
    free(m->names[i]);
  }
  free(m->ids);
  free(m->names);
  memset(m, 0, sizeof(*m));
}

int wh_swarm_netmap_parse(const cJSON *networks, wh_swarm_netmap *m) {
  memset(m, 0, sizeof(*m));
  size_t cap = (size_t)cJSON_GetArraySize(networks);
  if (!cJSON_IsArray(networks) || cap == 0)
    return 0;
  m->ids = calloc(cap, sizeof(char *));
  m->names = calloc(cap, sizeof(char *));
  if (!m->ids || !m->names)
    return WH_ENOMEM;
  const cJSON *it;
  cJSON_ArrayForEach(it, networks) {
    const char *id = jstr(it, "Id"), *name = jstr(it, "Name");
    const char *scope = jstr(it, "Scope"), *driver = jstr(it, "Driver");
    if (!id || !name || (scope && strcmp(scope, "swarm") != 0) ||
        (driver && strcmp(driver, "overlay") != 0))
      continue;
    m->ids[m->n] = wh_strdup(id);
    m->names[m->n] = wh_strdup(name);
    m->n++;
    if (!m->ids[m->n - 1] || !m->names[m->n - 1])
      return WH_ENOMEM;
  }
  return 0;
}

static const char *net_name(const wh_swarm_netmap *m, const char *id) {
  for (size_t i = 0; id && i < m->n; i++)
    if (strcmp(m->ids[i], id) == 0)
      return m->names[i];
  return NULL;
}

/* ---- provider labels ---- */

/* Go's strconv.ParseBool. */
static int parse_bool(const char *v) {
  static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
  static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
  for (size_t i = 0; i < 6; i++) {
    if (strcmp(v, t[i]) == 0)
      return 1;
    if (strcmp(v, f[i]) == 0)
      return 0;
  }
  return -1;
}

typedef struct plabels {
  const char *network; /* borrowed */
  bool lbswarm;
} plabels;

static bool is_swarm_key(const char *k) {
  return wh_str_has_caseprefix(k, "traefik.swarm.");
}

/* traefik.docker.{network,lbswarm}: the deprecated spellings of the swarm
 * provider labels (other traefik.docker.* keys are left to the docker
 * decoder, which reports unknown ones). */
static bool is_docker_plabel(const char *k) {
  return strcasecmp(k, "traefik.docker.network") == 0 ||
         strcasecmp(k, "traefik.docker.lbswarm") == 0;
}

/* Returns an allocated error, or NULL. */
static char *read_plabels(const cJSON *labels, plabels *pl) {
  memset(pl, 0, sizeof(*pl));
  bool swarm = false, docker = false;
  const cJSON *it;
  cJSON_ArrayForEach(it, labels) {
    if (!cJSON_IsString(it))
      continue;
    const char *k = it->string, *v = it->valuestring;
    if (is_swarm_key(k))
      swarm = true;
    else if (wh_str_has_caseprefix(k, "traefik.docker."))
      docker = true;
    else
      continue;
    const char *sub = strchr(k + strlen("traefik."), '.') + 1;
    if (strcasecmp(sub, "network") == 0) {
      pl->network = v;
    } else if (strcasecmp(sub, "lbswarm") == 0) {
      int b = parse_bool(v);
      if (b < 0)
        return wh_asprintf("label %.200s: invalid boolean \"%.200s\"", k, v);
      pl->lbswarm = b == 1;
    } else if (is_swarm_key(k)) {
      return wh_asprintf(
          "label %.200s: unknown key (known: traefik.swarm.network, traefik.swarm.lbswarm)", k);
    }
  }
  if (swarm && docker)
    return wh_strdup("both traefik.swarm.* and the deprecated traefik.docker.* provider labels "
                     "are set: use traefik.swarm.* only");
  return NULL;
}

bool wh_swarm_service_lbswarm(const cJSON *service, char **err) {
  plabels pl;
  *err = read_plabels(jget(jget(service, "Spec"), "Labels"), &pl);
  return !*err && pl.lbswarm;
}

/* ---- containers ---- */

void wh_swarm_containers_free(wh_swarm_containers *l) {
  for (size_t i = 0; i < l->n; i++)
    wh_docker_container_free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

static int push(wh_swarm_containers *l, wh_docker_container *c) {
  wh_docker_container **v = realloc(l->v, (l->n + 1) * sizeof(*v));
  if (!v) {
    wh_docker_container_free(c);
    return WH_ENOMEM;
  }
  l->v = v;
  l->v[l->n++] = c;
  return 0;
}

typedef struct kv {
  char *k, *v;
} kv;

static int kv_cmp(const void *a, const void *b) {
  return strcmp(((const kv *)a)->k, ((const kv *)b)->k);
}

/* The service labels for the docker build: provider labels replaced by
 * traefik.docker.network when a network was chosen. */
static int set_labels(wh_docker_container *c, const cJSON *labels, const char *network) {
  size_t cap = (size_t)cJSON_GetArraySize(labels) + 1;
  kv *tmp = calloc(cap, sizeof(*tmp));
  if (!tmp)
    return WH_ENOMEM;
  size_t n = 0;
  int rc = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, labels) {
    if (!cJSON_IsString(it) || !it->string || is_swarm_key(it->string) ||
        is_docker_plabel(it->string))
      continue;
    tmp[n].k = wh_strdup(it->string);
    tmp[n].v = wh_strdup(it->valuestring);
    n++;
    if (!tmp[n - 1].k || !tmp[n - 1].v)
      rc = WH_ENOMEM;
  }
  if (network && *network) {
    tmp[n].k = wh_strdup("traefik.docker.network");
    tmp[n].v = wh_strdup(network);
    n++;
    if (!tmp[n - 1].k || !tmp[n - 1].v)
      rc = WH_ENOMEM;
  }
  qsort(tmp, n, sizeof(*tmp), kv_cmp);
  c->label_keys = calloc(n ? n : 1, sizeof(char *));
  c->label_values = calloc(n ? n : 1, sizeof(char *));
  if (!c->label_keys || !c->label_values)
    rc = WH_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (rc == 0) {
      c->label_keys[i] = tmp[i].k;
      c->label_values[i] = tmp[i].v;
    } else {
      free(tmp[i].k);
      free(tmp[i].v);
    }
  }
  if (rc == 0)
    c->nlabels = n;
  free(tmp);
  return rc;
}

/* "10.0.1.5/24" → "10.0.1.5". */
static char *cidr_ip(const char *addr) {
  const char *slash = strchr(addr, '/');
  return slash ? wh_strndup(addr, (size_t)(slash - addr)) : wh_strdup(addr);
}

static int net_cmp(const void *a, const void *b) {
  return strcmp(((const wh_docker_network *)a)->name, ((const wh_docker_network *)b)->name);
}

/* Adds network name with address addr (CIDR) to c; a second address on the
 * same network replaces the first, as in Traefik. */
static int add_net(wh_docker_container *c, const char *name, const char *addr) {
  char *ip = cidr_ip(addr);
  if (!ip)
    return WH_ENOMEM;
  if (!*ip) {
    free(ip);
    return 0;
  }
  bool v6 = strchr(ip, ':') != NULL;
  for (size_t i = 0; i < c->nnetworks; i++) {
    wh_docker_network *w = &c->networks[i];
    if (strcmp(w->name, name) == 0) {
      free(v6 ? w->ip6 : w->ip);
      if (v6)
        w->ip6 = ip;
      else
        w->ip = ip;
      return 0;
    }
  }
  wh_docker_network *v = realloc(c->networks, (c->nnetworks + 1) * sizeof(*v));
  if (!v) {
    free(ip);
    return WH_ENOMEM;
  }
  c->networks = v;
  wh_docker_network *w = &v[c->nnetworks];
  w->name = wh_strdup(name);
  w->ip = v6 ? wh_strdup("") : ip;
  w->ip6 = v6 ? ip : wh_strdup("");
  c->nnetworks++;
  if (!w->name || !w->ip || !w->ip6)
    return WH_ENOMEM;
  return 0;
}

static wh_docker_container *new_container(const char *id, const char *name, const char *svc,
                                          const cJSON *labels, const char *network) {
  wh_docker_container *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->id = wh_strdup(id);
  c->name = wh_strdup(name);
  c->service_name = wh_strdup(svc);
  c->status = wh_strdup("running");
  if (!c->id || !c->name || !c->service_name || !c->status || set_labels(c, labels, network) != 0) {
    wh_docker_container_free(c);
    return NULL;
  }
  return c;
}

static int finish(wh_docker_container *c, wh_swarm_containers *out) {
  if (c->nnetworks > 1)
    qsort(c->networks, c->nnetworks, sizeof(*c->networks), net_cmp);
  return push(out, c);
}

static int vip_container(const cJSON *service, const char *id, const char *name,
                         const cJSON *labels, const plabels *pl, const wh_swarm_netmap *nets,
                         wh_swarm_containers *out, wh_errlist *errs) {
  wh_docker_container *c = new_container(id, name, name, labels, pl->network);
  if (!c)
    return WH_ENOMEM;
  const cJSON *it;
  cJSON_ArrayForEach(it, jget(jget(service, "Endpoint"), "VirtualIPs")) {
    const char *nn = net_name(nets, jstr(it, "NetworkID"));
    const char *addr = jstr(it, "Addr");
    if (nn && addr && add_net(c, nn, addr) != 0) {
      wh_docker_container_free(c);
      return WH_ENOMEM;
    }
  }
  if (c->nnetworks == 0) {
    wh_docker_container_free(c);
    wh_errlist_add(errs,
                   "service %s: traefik.swarm.lbswarm is set but the service has no "
                   "virtual IP on a swarm network (endpoint mode dnsrr?)",
                   name);
    return WH_EINVAL;
  }
  return finish(c, out);
}

int wh_swarm_service_containers(const cJSON *service, const cJSON *tasks,
                                const wh_swarm_netmap *nets, wh_swarm_containers *out,
                                wh_errlist *errs) {
  const char *id = jstr(service, "ID");
  const cJSON *spec = jget(service, "Spec");
  const char *name = jstr(spec, "Name");
  if (!id || !name || !*id || !*name) {
    wh_errlist_add(errs, "a listed service has no ID or Spec.Name");
    return WH_EINVAL;
  }
  const cJSON *labels = jget(spec, "Labels");
  plabels pl;
  char *err = read_plabels(labels, &pl);
  if (err) {
    wh_errlist_add(errs, "service %s: %s", name, err);
    free(err);
    return WH_EINVAL;
  }
  if (pl.lbswarm)
    return vip_container(service, id, name, labels, &pl, nets, out, errs);
  bool global = jget(jget(spec, "Mode"), "Global") != NULL;
  const cJSON *t;
  size_t count = 0;
  cJSON_ArrayForEach(t, tasks) {
    if (count >= WH_SWARM_MAX_TASKS)
      break;
    const char *tid = jstr(t, "ID");
    const char *state = jstr(jget(t, "Status"), "State");
    const char *sid = jstr(t, "ServiceID");
    if (!tid || !*tid || !state || strcmp(state, "running") != 0 || (sid && strcmp(sid, id) != 0))
      continue;
    const cJSON *slot = jget(t, "Slot");
    char *cname = global || !cJSON_IsNumber(slot) ? wh_asprintf("%s.%s", name, tid)
                                                  : wh_asprintf("%s.%d", name, slot->valueint);
    wh_docker_container *c = cname ? new_container(tid, cname, name, labels, pl.network) : NULL;
    free(cname);
    if (!c)
      return WH_ENOMEM;
    const cJSON *att;
    cJSON_ArrayForEach(att, jget(t, "NetworksAttachments")) {
      const char *nn = net_name(nets, jstr(jget(att, "Network"), "ID"));
      const cJSON *a;
      cJSON_ArrayForEach(a, jget(att, "Addresses")) {
        if (nn && cJSON_IsString(a) && add_net(c, nn, a->valuestring) != 0) {
          wh_docker_container_free(c);
          return WH_ENOMEM;
        }
      }
    }
    /* A task on no swarm network cannot be reached (Traefik drops it too). */
    if (c->nnetworks == 0) {
      wh_docker_container_free(c);
      continue;
    }
    if (finish(c, out) != 0)
      return WH_ENOMEM;
    count++;
  }
  return 0;
}

void wh_swarm_docker_cfg(const wh_swarm_provider *sw, wh_docker_provider *out) {
  memset(out, 0, sizeof(*out));
  out->endpoint = sw->endpoint;
  out->exposed_by_default = sw->exposed_by_default;
  out->network = sw->network;
  out->use_bind_port_ip = sw->use_bind_port_ip;
  out->watch = false;
  out->constraints = sw->constraints;
  out->default_rule = sw->default_rule;
  out->allow_empty_services = sw->allow_empty_services;
  out->http_client_timeout = sw->http_client_timeout;
  out->tls = sw->tls;
  out->username = sw->username;
  out->password = sw->password;
}
