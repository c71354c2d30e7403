#include "providers/docker/compose.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

/* docker-compose 1.x: lowercase, keep [a-z0-9], drop the rest. */
static char *project_name(const wh_node *root, const char *path) {
  const wh_node *n = wh_node_get(root, "name", false);
  const char *src = n && n->kind == WH_NODE_SCALAR && n->value ? n->value : NULL;
  char *copy = NULL;
  if (!src) {
    copy = realpath(path, NULL);
    if (!copy)
      copy = wh_strdup(path);
    src = copy ? basename(dirname(copy)) : "default";
  }
  wh_strbuf b = {0};
  for (const char *p = src; *p; p++)
    if (isalnum((unsigned char)*p))
      wh_strbuf_putc(&b, (char)tolower((unsigned char)*p));
  free(copy);
  return b.len ? wh_strbuf_take(&b) : (wh_strbuf_free(&b), wh_strdup("default"));
}

/* labels as a map, or a list of "k=v" (a bare "k" means an empty value). */
static void add_labels(cJSON *labels, const wh_node *n) {
  if (!n)
    return;
  for (size_t i = 0; i < n->n; i++) {
    const wh_node *c = n->children[i];
    if (n->kind == WH_NODE_MAP && c->key) {
      cJSON_DeleteItemFromObjectCaseSensitive(labels, c->key);
      cJSON_AddStringToObject(labels, c->key, c->value ? c->value : "");
    } else if (n->kind == WH_NODE_LIST && c->kind == WH_NODE_SCALAR && c->value) {
      const char *eq = strchr(c->value, '=');
      char *k = wh_strndup(c->value, eq ? (size_t)(eq - c->value) : strlen(c->value));
      if (k) {
        cJSON_DeleteItemFromObjectCaseSensitive(labels, k);
        cJSON_AddStringToObject(labels, k, eq ? eq + 1 : "");
      }
      free(k);
    }
  }
}

/* "8080:80", "127.0.0.1:8080:80/udp", "80", 80 -> "80/tcp" (the container side). */
static void add_port(cJSON *ports, const char *spec) {
  const char *last = strrchr(spec, ':');
  const char *p = last ? last + 1 : spec;
  int port = atoi(p);
  if (port <= 0 || port > 65535)
    return;
  const char *slash = strchr(p, '/');
  char key[32];
  snprintf(key, sizeof(key), "%d/%s", port, slash ? slash + 1 : "tcp");
  if (!cJSON_GetObjectItemCaseSensitive(ports, key))
    cJSON_AddNullToObject(ports, key);
}

static void add_ports(cJSON *ports, const wh_node *n) {
  for (size_t i = 0; n && n->kind == WH_NODE_LIST && i < n->n; i++) {
    const wh_node *c = n->children[i];
    if (c->kind == WH_NODE_SCALAR && c->value)
      add_port(ports, c->value);
    else if (c->kind == WH_NODE_MAP) { /* long syntax: target: 80 */
      const wh_node *t = wh_node_get(c, "target", false);
      if (t && t->value)
        add_port(ports, t->value);
    }
  }
}

int wh_docker_compose_load(const char *path, wh_docker_container ***out, size_t *n,
                           wh_errlist *errs) {
  *out = NULL;
  *n = 0;
  wh_node *root = wh_yaml_parse_file(path, errs);
  if (!root)
    return -1;
  const wh_node *services = wh_node_get(root, "services", false);
  if (!services || services->kind != WH_NODE_MAP) {
    wh_errlist_add(errs, "%s: no services section", path);
    wh_node_free(root);
    return -1;
  }
  char *project = project_name(root, path);
  wh_docker_container **v = calloc(services->n ? services->n : 1, sizeof(*v));
  int rc = v ? 0 : -1;
  for (size_t i = 0; v && i < services->n; i++) {
    const wh_node *svc = services->children[i];
    cJSON *j = cJSON_CreateObject();
    char id[65];
    snprintf(id, sizeof(id), "%064zx", i + 1);
    cJSON_AddStringToObject(j, "Id", id);
    char *name = wh_asprintf("/%s_%s_1", project, svc->key);
    cJSON_AddStringToObject(j, "Name", name ? name : "/unknown");
    free(name);
    cJSON *state = cJSON_AddObjectToObject(j, "State");
    cJSON_AddStringToObject(state, "Status", "running");
    cJSON *config = cJSON_AddObjectToObject(j, "Config");
    cJSON *labels = cJSON_AddObjectToObject(config, "Labels");
    cJSON_AddStringToObject(labels, "com.docker.compose.project", project);
    cJSON_AddStringToObject(labels, "com.docker.compose.service", svc->key);
    add_labels(labels, wh_node_get(svc, "labels", false));
    const wh_node *deploy = wh_node_get(svc, "deploy", false);
    if (deploy)
      add_labels(labels, wh_node_get(deploy, "labels", false));
    cJSON *ns = cJSON_AddObjectToObject(j, "NetworkSettings");
    cJSON *ports = cJSON_AddObjectToObject(ns, "Ports");
    add_ports(ports, wh_node_get(svc, "ports", false));
    add_ports(ports, wh_node_get(svc, "expose", false));
    cJSON *nets = cJSON_AddObjectToObject(ns, "Networks");
    const wh_node *sn = wh_node_get(svc, "networks", false);
    const wh_node *mode = wh_node_get(svc, "network_mode", false);
    cJSON *hc = cJSON_AddObjectToObject(j, "HostConfig");
    char *first = NULL;
    for (size_t k = 0; sn && k < sn->n; k++) {
      const wh_node *c = sn->children[k];
      const char *nn = sn->kind == WH_NODE_MAP ? c->key : c->value;
      if (!nn)
        continue;
      char *full = wh_asprintf("%s_%s", project, nn);
      cJSON *e = cJSON_AddObjectToObject(nets, full ? full : nn);
      char ip[32];
      snprintf(ip, sizeof(ip), "10.0.%zu.%zu", k % 250, i % 250 + 2);
      cJSON_AddStringToObject(e, "IPAddress", ip);
      if (!first)
        first = full;
      else
        free(full);
    }
    if (!sn || sn->n == 0) {
      first = wh_asprintf("%s_default", project);
      cJSON *e = cJSON_AddObjectToObject(nets, first ? first : "default");
      char ip[32];
      snprintf(ip, sizeof(ip), "10.0.0.%zu", i % 250 + 2);
      cJSON_AddStringToObject(e, "IPAddress", ip);
    }
    cJSON_AddStringToObject(hc, "NetworkMode",
                            mode && mode->value ? mode->value : (first ? first : "default"));
    free(first);
    wh_errlist perr;
    wh_errlist_init(&perr);
    v[*n] = wh_docker_container_parse(j, &perr);
    for (size_t e = 0; e < perr.n; e++)
      wh_errlist_add(errs, "%s: service %s: %s", path, svc->key, perr.items[e]);
    wh_errlist_free(&perr);
    if (v[*n])
      (*n)++;
    cJSON_Delete(j);
  }
  free(project);
  wh_node_free(root);
  *out = v;
  return rc;
}
