#include "lib/tls/cert_store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"

typedef struct group {
  wh_cert_group pub;
  const char **names; /* sorted, unique; strings borrowed from the first cert, which the group
                         keeps for its whole life (the first added always wins) */
  size_t nnames;
  uint32_t hash; /* of the name set */
  char *key;     /* pub.key */
} group;

/* One name of the lookup index; name == NULL marks an empty slot. */
typedef struct slot {
  const char *name; /* borrowed from a group */
  uint32_t hash;
  uint32_t group;
} slot;

struct wh_cert_store {
  group **groups; /* in the order of their first add */
  size_t n, cap;
  group *def;
  /* Build time only: name set -> group index + 1 (0 = empty), open addressing. */
  uint32_t *sets;
  size_t sets_cap;
  /* After finish: every name of every group -> first group carrying it. */
  slot *slots;
  size_t slots_mask;
  bool finished;
};

/* FNV-1a: names come from configuration, not from clients, so flooding the
 * table is not a concern; an SNI only ever probes it. */
static uint32_t hash_bytes(uint32_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

#define HASH_SEED 2166136261u

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *kind_name(wh_key_kind k) {
  return k == WH_KEY_RSA ? "RSA" : k == WH_KEY_EC ? "ECDSA" : "non-RSA";
}

static wh_cert **slot_for(group *g, const wh_cert *c) {
  return c->kind == WH_KEY_RSA ? &g->pub.rsa : &g->pub.ec;
}

static void group_free(group *g) {
  if (!g)
    return;
  wh_cert_unref(g->pub.rsa);
  wh_cert_unref(g->pub.ec);
  free(g->names);
  free(g->key);
  free(g);
}

/* A group for c's name set, holding no certificate yet. */
static group *group_new(const wh_cert *c) {
  group *g = calloc(1, sizeof(*g));
  if (!g)
    return NULL;
  g->names = malloc((c->nnames ? c->nnames : 1) * sizeof(*g->names));
  if (!g->names)
    goto fail;
  for (size_t i = 0; i < c->nnames; i++)
    g->names[i] = c->names[i];
  qsort(g->names, c->nnames, sizeof(*g->names), cmp_str);
  size_t n = 0;
  for (size_t i = 0; i < c->nnames; i++)
    if (n == 0 || strcmp(g->names[n - 1], g->names[i]) != 0)
      g->names[n++] = g->names[i];
  g->nnames = n;
  wh_strbuf kb = {0};
  g->hash = HASH_SEED;
  for (size_t i = 0; i < n; i++) {
    /* the terminating NUL separates names, so {"a,b"} and {"a","b"} differ */
    g->hash = hash_bytes(g->hash, g->names[i], strlen(g->names[i]) + 1);
    if ((i && wh_strbuf_putc(&kb, ',') != 0) || wh_strbuf_puts(&kb, g->names[i]) != 0) {
      wh_strbuf_free(&kb);
      goto fail;
    }
  }
  if (!(g->key = wh_strbuf_take(&kb)))
    goto fail;
  g->pub.key = g->key;
  return g;
fail:
  group_free(g);
  return NULL;
}

static bool same_names(const group *a, const group *b) {
  if (a->hash != b->hash || a->nnames != b->nnames)
    return false;
  for (size_t i = 0; i < a->nnames; i++)
    if (strcmp(a->names[i], b->names[i]) != 0)
      return false;
  return true;
}

/* The index in s->sets where a group with probe's names is, or the empty slot
 * where it would go. */
static size_t sets_find(const wh_cert_store *s, const group *probe) {
  size_t mask = s->sets_cap - 1, i = probe->hash & mask;
  while (s->sets[i] && !same_names(s->groups[s->sets[i] - 1], probe))
    i = (i + 1) & mask;
  return i;
}

static int sets_grow(wh_cert_store *s) {
  if (s->sets_cap && (s->n + 1) * 2 <= s->sets_cap)
    return 0;
  size_t ncap = s->sets_cap ? s->sets_cap * 2 : 16;
  uint32_t *old = s->sets;
  size_t oldcap = s->sets_cap;
  s->sets = calloc(ncap, sizeof(*s->sets));
  if (!s->sets) {
    s->sets = old;
    return WH_ENOMEM;
  }
  s->sets_cap = ncap;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i])
      s->sets[sets_find(s, s->groups[old[i] - 1])] = old[i];
  free(old);
  return 0;
}

wh_cert_store *wh_cert_store_new(void) {
  return calloc(1, sizeof(wh_cert_store));
}

int wh_cert_store_add(wh_cert_store *s, wh_cert *c, wh_errlist *warns) {
  if (!s || !c || s->finished)
    return WH_EINVAL;
  if (c->nnames == 0) {
    if (warns)
      wh_errlist_add(warns,
                     "tls certificate %s: names no host (no DNS or IP SAN, no CN); it can only be "
                     "a default certificate",
                     c->origin);
    return WH_EINVAL;
  }
  if (s->n >= UINT32_MAX - 1 || sets_grow(s) != 0)
    return WH_ENOMEM;
  group *probe = group_new(c);
  if (!probe)
    return WH_ENOMEM;
  size_t at = sets_find(s, probe);
  if (s->sets[at]) {
    group *g = s->groups[s->sets[at] - 1];
    group_free(probe);
    wh_cert **held = slot_for(g, c);
    if (*held) {
      if (warns)
        wh_errlist_add(
            warns,
            "tls certificate %s: another %s certificate for the same names (%s) was added "
            "first (%s); this one is ignored",
            c->origin, kind_name(c->kind), g->key, (*held)->origin);
      return 0;
    }
    *held = wh_cert_ref(c);
    return 0;
  }
  if (s->n == s->cap) {
    size_t ncap = s->cap ? s->cap * 2 : 8;
    group **v = realloc(s->groups, ncap * sizeof(*v));
    if (!v) {
      group_free(probe);
      return WH_ENOMEM;
    }
    s->groups = v;
    s->cap = ncap;
  }
  *slot_for(probe, c) = wh_cert_ref(c);
  probe->pub.index = s->n;
  s->groups[s->n++] = probe;
  s->sets[at] = (uint32_t)s->n;
  return 0;
}

void wh_cert_store_set_default(wh_cert_store *s, wh_cert *c) {
  if (!s || s->finished)
    return;
  group *g = NULL;
  if (c) {
    if (!(g = group_new(c)))
      return; /* OOM: keep the previous default rather than none */
    *slot_for(g, c) = wh_cert_ref(c);
  }
  group_free(s->def);
  s->def = g;
}

int wh_cert_store_finish(wh_cert_store *s) {
  if (!s || s->finished)
    return WH_EINVAL;
  size_t total = 0;
  for (size_t i = 0; i < s->n; i++)
    total += s->groups[i]->nnames;
  if (total) {
    size_t cap = 16;
    while (cap < total * 2)
      cap *= 2;
    slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
      return WH_ENOMEM;
    size_t mask = cap - 1;
    for (size_t gi = 0; gi < s->n; gi++) {
      const group *g = s->groups[gi];
      for (size_t k = 0; k < g->nnames; k++) {
        const char *nm = g->names[k];
        uint32_t h = hash_bytes(HASH_SEED, nm, strlen(nm));
        size_t i = h & mask;
        while (slots[i].name && !(slots[i].hash == h && strcmp(slots[i].name, nm) == 0))
          i = (i + 1) & mask;
        if (slots[i].name)
          continue; /* an earlier group has this name: it wins */
        slots[i] = (slot){.name = nm, .hash = h, .group = (uint32_t)gi};
      }
    }
    s->slots = slots;
    s->slots_mask = mask;
  }
  if (s->def)
    s->def->pub.index = s->n;
  free(s->sets);
  s->sets = NULL;
  s->sets_cap = 0;
  s->finished = true;
  return 0;
}

static const group *find(const wh_cert_store *s, const char *name, size_t len) {
  uint32_t h = hash_bytes(HASH_SEED, name, len);
  for (size_t i = h & s->slots_mask; s->slots[i].name; i = (i + 1) & s->slots_mask)
    if (s->slots[i].hash == h && strcmp(s->slots[i].name, name) == 0)
      return s->groups[s->slots[i].group];
  return NULL;
}

const wh_cert_group *wh_cert_store_lookup(const wh_cert_store *s, const char *name) {
  if (!s || !s->finished || !s->slots)
    return NULL;
  char buf[WH_CERT_NAME_MAX + 1];
  size_t n = wh_cert_name_normalize(name, buf);
  if (n == 0)
    return NULL;
  const group *g = find(s, buf, n);
  if (g)
    return &g->pub;
  /* "*.<rest>" for one non-empty first label, written in place over the end
   * of that label so that nothing is allocated. */
  char *dot = memchr(buf, '.', n);
  if (!dot || dot == buf || dot + 1 == buf + n)
    return NULL;
  char *wild = dot - 1;
  *wild = '*';
  g = find(s, wild, n - (size_t)(wild - buf));
  return g ? &g->pub : NULL;
}

const wh_cert_group *wh_cert_store_default(const wh_cert_store *s) {
  return s && s->def ? &s->def->pub : NULL;
}

size_t wh_cert_store_count(const wh_cert_store *s) {
  return s ? s->n : 0;
}

const wh_cert_group *wh_cert_store_at(const wh_cert_store *s, size_t i) {
  return s && i < s->n ? &s->groups[i]->pub : NULL;
}

void wh_cert_store_free(wh_cert_store *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    group_free(s->groups[i]);
  free(s->groups);
  group_free(s->def);
  free(s->sets);
  free(s->slots);
  free(s);
}
