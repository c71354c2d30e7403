/* The recording half of the diagnose API; build.c calls these where it
 * decides. The diagnosis is a copy, not a view of the containers: the
 * provider's cache changes with every event while a reader may still hold
 * an older diagnosis. */
#include "providers/docker/diagnose.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/schema.h"
#include "lib/core/str.h"

int wh_docker_diag_identify(wh_container_diag *dc, const wh_docker_container *c, const char *svc) {
  dc->name = wh_strdup(c->name ? c->name : "");
  dc->id = wh_strndup(c->id ? c->id : "", 12);
  dc->state = wh_strdup(c->status ? c->status : "unknown");
  dc->health = wh_strdup(c->health && *c->health ? c->health : "none");
  dc->service_name = wh_strdup(svc ? svc : "");
  if (!dc->name || !dc->id || !dc->state || !dc->health || !dc->service_name)
    return WH_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < c->nlabels; i++)
    n += wh_str_has_caseprefix(c->label_keys[i], "traefik.");
  if (!n)
    return 0;
  dc->label_keys = calloc(n, sizeof *dc->label_keys);
  dc->label_values = calloc(n, sizeof *dc->label_values);
  if (!dc->label_keys || !dc->label_values)
    return WH_ENOMEM;
  /* c's labels are sorted by key, so these are too. */
  for (size_t i = 0; i < c->nlabels; i++) {
    if (!wh_str_has_caseprefix(c->label_keys[i], "traefik."))
      continue;
    size_t k = dc->nlabels++;
    dc->label_keys[k] = wh_strdup(c->label_keys[i]);
    dc->label_values[k] = wh_strdup(c->label_values[i]);
    if (!dc->label_keys[k] || !dc->label_values[k])
      return WH_ENOMEM;
  }
  return 0;
}

wh_container_server *wh_docker_diag_server(wh_container_diag *dc, const char *section,
                                           const char *service) {
  if (!dc)
    return NULL;
  wh_container_server *v = realloc(dc->servers, (dc->nservers + 1) * sizeof *v);
  if (!v)
    return NULL;
  dc->servers = v;
  wh_container_server *s = &v[dc->nservers];
  memset(s, 0, sizeof *s);
  s->section = wh_strdup(section);
  s->service = wh_strdup(service);
  if (!s->section || !s->service) {
    free(s->section);
    free(s->service);
    return NULL;
  }
  dc->nservers++;
  return s;
}

static int add_elem(wh_container_diag *dc, const char *section, const char *name) {
  wh_container_elem *v = realloc(dc->elems, (dc->nelems + 1) * sizeof *v);
  if (!v)
    return WH_ENOMEM;
  dc->elems = v;
  v[dc->nelems].section = wh_strdup(section);
  v[dc->nelems].name = wh_strdup(name);
  if (!v[dc->nelems].section || !v[dc->nelems].name) {
    free(v[dc->nelems].section);
    free(v[dc->nelems].name);
    return WH_ENOMEM;
  }
  dc->nelems++;
  return 0;
}

int wh_docker_diag_elements(wh_container_diag *dc, const wh_dyn_config *cfg) {
  if (!dc || !cfg)
    return 0;
  /* Walked through the schema, as the merge does, so that a section added
   * to the model is diagnosed without a change here. */
  const wh_schema *root = &wh_schema_dyn_config;
  for (size_t t = 0; t < root->nfields; t++) {
    const wh_field *tf = &root->fields[t];
    const void *sec =
        tf->type == WH_F_STRUCT_PTR ? *(void *const *)((const char *)cfg + tf->offset) : NULL;
    for (size_t f = 0; sec && f < tf->sub->nfields; f++) {
      const wh_field *ef = &tf->sub->fields[f];
      if (ef->type != WH_F_MAP)
        continue;
      const wh_map *m = (const wh_map *)((const char *)sec + ef->offset);
      if (!m->n)
        continue;
      char *section = wh_asprintf("%s.%s", tf->name, ef->name);
      if (!section)
        return WH_ENOMEM;
      for (size_t i = 0; i < m->n; i++)
        if (add_elem(dc, section, m->keys[i])) {
          free(section);
          return WH_ENOMEM;
        }
      free(section);
    }
  }
  return 0;
}
