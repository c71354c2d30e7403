/* The DNS-01 pre-check: is the TXT record visible yet? Each attempt is a
 * series of blocking libldns queries run as one thread-pool job; between
 * attempts a uv timer waits for the polling interval, until the timeout.
 *
 * An attempt follows lego's default checkDNSPropagation: a recursive TXT
 * query at the resolvers (its CNAME answer, if any, gives the name to
 * check), then the zone's authoritative nameservers (SOA then NS queries at
 * the resolvers) are each asked, without recursion, for the TXT record. Two
 * things differ, both for private resolvers: the nameservers' addresses are
 * asked of the resolvers first (lego asks the system), and with
 * require_all_resolvers each resolver is asked with recursion desired (lego
 * clears RD there, which only reads their caches). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/acme/dns01_provider.h"
#include "lib/core/err.h"
#include "lib/core/str.h"

#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_INTERVAL_MS 2000
#define DEFAULT_DNS_TIMEOUT_MS 10000

struct wh_dns01_check {
  uv_loop_t *loop;
  char *fqdn, *value;
  char **resolvers;
  size_t nresolvers;
  wh_dns01_check_opts o; /* resolvers not used from here */
  wh_dns01_done_fn done;
  void *arg;
  uint64_t deadline;
  uv_timer_t timer;
  uv_work_t work;
  bool in_work, cancelled, finished;
  bool found; /* the last attempt's verdict */
  char *why;  /* and its reason when not found */
};

/* A TXT record's strings joined, as lego's strings.Join(txt.Txt, ""). */
static char *txt_value(const ldns_rr *rr) {
  wh_strbuf b = {0};
  for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
    const ldns_rdf *d = ldns_rr_rdf(rr, i);
    const uint8_t *p = ldns_rdf_data(d);
    size_t sz = ldns_rdf_size(d);
    if (sz >= 1 && (size_t)p[0] + 1 <= sz)
      wh_strbuf_append(&b, (const char *)p + 1, p[0]);
  }
  char *s = wh_strbuf_take(&b);
  return s ? s : wh_strdup("");
}

static const char *rcode_name(ldns_pkt_rcode rc) {
  ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rc);
  return lt ? lt->name : "unknown rcode";
}

/* lego's checkNameserversPropagation for one server. */
static bool has_value_at(const wh_dns01_check *c, const char *server, const char *shown,
                         const char *fqdn, bool recursive, char **why) {
  ldns_pkt *r = NULL;
  if (wh_dns01_query(server, fqdn, LDNS_RR_TYPE_TXT, recursive, c->o.dns_timeout_ms, &r, why) != 0)
    return false;
  if (ldns_pkt_get_rcode(r) != LDNS_RCODE_NOERROR) {
    wh_str_setf(why, "NS %s returned %s for %s", shown, rcode_name(ldns_pkt_get_rcode(r)), fqdn);
    ldns_pkt_free(r);
    return false;
  }
  wh_strbuf seen = {0};
  bool found = false;
  const ldns_rr_list *a = ldns_pkt_answer(r);
  for (size_t i = 0; a && i < ldns_rr_list_rr_count(a) && !found; i++) {
    ldns_rr *rr = ldns_rr_list_rr(a, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT)
      continue;
    char *v = txt_value(rr);
    if (v) {
      found = strcmp(v, c->value) == 0;
      if (seen.len)
        wh_strbuf_puts(&seen, " ,");
      wh_strbuf_puts(&seen, v);
      free(v);
    }
  }
  if (!found)
    wh_str_setf(why, "NS %s did not return the expected TXT record [fqdn: %s, value: %s]: %s",
                shown, fqdn, c->value, wh_strbuf_cstr(&seen));
  wh_strbuf_free(&seen);
  ldns_pkt_free(r);
  return found;
}

/* lego's updateDomainWithCName: the CNAME chain from fqdn in the answer. */
static char *follow_cname(const ldns_pkt *r, const char *fqdn) {
  char *cur = wh_strdup(fqdn);
  const ldns_rr_list *a = ldns_pkt_answer(r);
  size_t n = a ? ldns_rr_list_rr_count(a) : 0;
  for (size_t hops = 0; cur && hops < n; hops++) {
    bool moved = false;
    for (size_t i = 0; i < n && !moved; i++) {
      ldns_rr *rr = ldns_rr_list_rr(a, i);
      if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME || ldns_rr_rd_count(rr) < 1)
        continue;
      char *owner = ldns_rdf2str(ldns_rr_owner(rr));
      if (owner && wh_strcaseeq(owner, cur)) {
        char *target = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        if (target) {
          free(cur);
          cur = target;
          moved = true;
        }
      }
      free(owner);
    }
    if (!moved)
      break;
  }
  return cur;
}

/* The address of nameserver name: an A, else AAAA, record from the
 * resolvers; else the name itself (the system resolves it). */
static char *ns_address(const wh_dns01_check *c, const char *name, uint16_t port) {
  const ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
  for (size_t t = 0; t < 2; t++) {
    ldns_pkt *r = NULL;
    char *why = NULL;
    if (wh_dns01_query_any((const char *const *)c->resolvers, c->nresolvers, name, types[t], true,
                           c->o.dns_timeout_ms, &r, &why) == 0) {
      const ldns_rr_list *a = ldns_pkt_answer(r);
      for (size_t i = 0; a && i < ldns_rr_list_rr_count(a); i++) {
        ldns_rr *rr = ldns_rr_list_rr(a, i);
        if (ldns_rr_get_type(rr) == types[t] && ldns_rr_rd_count(rr) == 1) {
          char *ip = ldns_rdf2str(ldns_rr_rdf(rr, 0));
          char *s =
              ip ? (t == 0 ? wh_asprintf("%s:%u", ip, port) : wh_asprintf("[%s]:%u", ip, port))
                 : NULL;
          free(ip);
          ldns_pkt_free(r);
          free(why);
          return s;
        }
      }
      ldns_pkt_free(r);
    }
    free(why);
  }
  size_t len = strlen(name);
  return wh_asprintf("%.*s:%u", (int)(len && name[len - 1] == '.' ? len - 1 : len), name, port);
}

static bool check_authoritative(const wh_dns01_check *c, const char *fqdn, char **why) {
  const char *const *rs = (const char *const *)c->resolvers;
  char *zone = wh_dns01_find_zone(fqdn, rs, c->nresolvers, c->o.dns_timeout_ms, why);
  if (!zone) {
    char *prev = *why;
    *why = NULL;
    wh_str_setf(why, "could not find zone: [fqdn=%s] %s", fqdn, prev ? prev : "out of memory");
    free(prev);
    return false;
  }
  ldns_pkt *r = NULL;
  if (wh_dns01_query_any(rs, c->nresolvers, zone, LDNS_RR_TYPE_NS, true, c->o.dns_timeout_ms, &r,
                         why) != 0) {
    char *prev = *why;
    *why = NULL;
    wh_str_setf(why, "NS call failed: %s", prev ? prev : "");
    free(prev);
    free(zone);
    return false;
  }
  bool ok = true;
  size_t checked = 0;
  uint16_t port = c->o.authoritative_port ? c->o.authoritative_port : 53;
  const ldns_rr_list *a = ldns_pkt_answer(r);
  for (size_t i = 0; ok && a && i < ldns_rr_list_rr_count(a); i++) {
    ldns_rr *rr = ldns_rr_list_rr(a, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || ldns_rr_rd_count(rr) < 1)
      continue;
    char *name = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    char *addr = name ? (wh_str_lower(name), ns_address(c, name, port)) : NULL;
    char *shown = name ? wh_asprintf("%.*s:%u", (int)strlen(name) - 1, name, port) : NULL;
    ok = addr && shown && has_value_at(c, addr, shown, fqdn, false, why);
    if (!addr || !shown)
      wh_str_setf(why, "out of memory");
    checked++;
    free(name);
    free(addr);
    free(shown);
  }
  if (ok && checked == 0) {
    wh_str_setf(why, "[zone=%s] could not determine authoritative nameservers", zone);
    ok = false;
  }
  if (!ok) {
    char *prev = *why;
    *why = NULL;
    wh_str_setf(why, "authoritative nameservers: %s", prev ? prev : "");
    free(prev);
  }
  ldns_pkt_free(r);
  free(zone);
  return ok;
}

/* One attempt, on a thread-pool thread: c is read only, why written. */
static bool attempt(const wh_dns01_check *c, char **why) {
  const char *const *rs = (const char *const *)c->resolvers;
  ldns_pkt *r = NULL;
  if (wh_dns01_query_any(rs, c->nresolvers, c->fqdn, LDNS_RR_TYPE_TXT, true, c->o.dns_timeout_ms,
                         &r, why) != 0) {
    char *prev = *why;
    *why = NULL;
    wh_str_setf(why, "initial recursive nameserver: %s", prev ? prev : "");
    free(prev);
    return false;
  }
  char *fqdn =
      ldns_pkt_get_rcode(r) == LDNS_RCODE_NOERROR ? follow_cname(r, c->fqdn) : wh_strdup(c->fqdn);
  ldns_pkt_free(r);
  if (!fqdn) {
    wh_str_setf(why, "out of memory");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; ok && c->o.require_all_resolvers && i < c->nresolvers; i++) {
    ok = has_value_at(c, c->resolvers[i], c->resolvers[i], fqdn, true, why);
    if (!ok) {
      char *prev = *why;
      *why = NULL;
      wh_str_setf(why, "recursive nameservers: %s", prev ? prev : "");
      free(prev);
    }
  }
  if (ok && !c->o.skip_authoritative)
    ok = check_authoritative(c, fqdn, why);
  free(fqdn);
  return ok;
}

static void on_closed(uv_handle_t *h) {
  wh_dns01_check *c = h->data;
  free(c->fqdn);
  free(c->value);
  wh_strv_free(c->resolvers, c->nresolvers);
  free(c->why);
  free(c);
}

static void work_cb(uv_work_t *w) {
  wh_dns01_check *c = w->data;
  free(c->why);
  c->why = NULL;
  c->found = attempt(c, &c->why);
}

static void start_attempt(uv_timer_t *t);

static void after_cb(uv_work_t *w, int status) {
  wh_dns01_check *c = w->data;
  c->in_work = false;
  if (c->cancelled) {
    uv_close((uv_handle_t *)&c->timer, on_closed);
    return;
  }
  if (status == 0 && c->found) {
    c->finished = true;
    c->done(c->arg, 0, "");
    uv_close((uv_handle_t *)&c->timer, on_closed);
    return;
  }
  uint64_t now = uv_now(c->loop);
  if (now + c->o.interval_ms > c->deadline) {
    char *msg = wh_asprintf("propagation: time limit exceeded: last error: %s",
                            c->why ? c->why : "cancelled");
    c->finished = true;
    c->done(c->arg, WH_ERR, msg ? msg : "propagation: time limit exceeded");
    free(msg);
    uv_close((uv_handle_t *)&c->timer, on_closed);
    return;
  }
  uv_timer_start(&c->timer, start_attempt, c->o.interval_ms, 0);
}

static void start_attempt(uv_timer_t *t) {
  wh_dns01_check *c = t->data;
  c->work.data = c;
  if (uv_queue_work(c->loop, &c->work, work_cb, after_cb) == 0) {
    c->in_work = true;
    return;
  }
  c->finished = true;
  c->done(c->arg, WH_ERR, "propagation: cannot queue the DNS queries");
  uv_close((uv_handle_t *)&c->timer, on_closed);
}

wh_dns01_check *wh_dns01_check_propagation(uv_loop_t *loop, const char *fqdn, const char *value,
                                           const wh_dns01_check_opts *opts, wh_dns01_done_fn done,
                                           void *arg) {
  if (!loop || !fqdn || !*fqdn || !value || !done)
    return NULL;
  wh_dns01_check *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  if (opts)
    c->o = *opts;
  c->o.resolvers = NULL;
  c->o.n_resolvers = 0;
  if (!c->o.timeout_ms)
    c->o.timeout_ms = DEFAULT_TIMEOUT_MS;
  if (!c->o.interval_ms)
    c->o.interval_ms = DEFAULT_INTERVAL_MS;
  if (!c->o.dns_timeout_ms)
    c->o.dns_timeout_ms = DEFAULT_DNS_TIMEOUT_MS;
  size_t len = strlen(fqdn);
  c->fqdn = wh_asprintf("%s%s", fqdn, fqdn[len - 1] == '.' ? "" : ".");
  c->value = wh_strdup(value);
  bool ok = c->fqdn && c->value;
  if (ok && opts && opts->n_resolvers) {
    c->resolvers = calloc(opts->n_resolvers, sizeof(*c->resolvers));
    ok = c->resolvers != NULL;
    for (size_t i = 0; ok && i < opts->n_resolvers; i++, c->nresolvers++) {
      /* lego's ParseNameservers: port 53 when none is given */
      char *host = NULL;
      uint16_t port;
      ok = wh_dns01_split_hostport(opts->resolvers[i], 53, &host, &port) == 0;
      if (ok)
        ok = (c->resolvers[i] = strchr(host, ':') ? wh_asprintf("[%s]:%u", host, port)
                                                  : wh_asprintf("%s:%u", host, port)) != NULL;
      free(host);
    }
  } else if (ok) {
    ok = wh_dns01_system_resolvers(&c->resolvers, &c->nresolvers) == 0;
  }
  if (!ok) {
    free(c->fqdn);
    free(c->value);
    wh_strv_free(c->resolvers, c->nresolvers);
    free(c);
    return NULL;
  }
  wh_str_lower(c->fqdn);
  c->loop = loop;
  c->done = done;
  c->arg = arg;
  c->deadline = uv_now(loop) + c->o.timeout_ms;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  /* the first attempt right away, from the loop (never inside this call) */
  uv_timer_start(&c->timer, start_attempt, 0, 0);
  return c;
}

void wh_dns01_check_cancel(wh_dns01_check *c) {
  if (!c || c->cancelled || c->finished)
    return;
  c->cancelled = true;
  if (c->in_work)
    return; /* after_cb closes */
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_closed);
}
