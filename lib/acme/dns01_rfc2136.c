/* DNS-01 through RFC 2136 dynamic updates signed with TSIG (RFC 8945), as
 * lego's rfc2136 ("dnsupdate") provider: present replaces the TXT RRset of
 * the challenge name by the value (lego removes leftovers first, so two
 * challenges of one name must run one after the other: the sequence
 * interval), cleanup deletes that one record. The exchange (zone lookup and
 * UPDATE) is blocking libldns, so it runs as a thread-pool job. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/acme/dns01_provider.h"
#include "lib/core/err.h"
#include "lib/core/str.h"

#define LEGO_DEFAULT_TTL 120
#define LEGO_PROPAGATION_MS 60000
#define LEGO_POLLING_MS 2000
#define LEGO_DNS_TIMEOUT_MS 10000
#define TSIG_FUDGE 300

typedef struct rfc2136 {
  wh_dns01_provider base;
  char *nameserver; /* "host:port" */
  char *key;        /* canonical (lower case, absolute); NULL: unsigned updates */
  char *secret;     /* base64 */
  char *algorithm;  /* absolute, "hmac-sha1." */
  char **zones;     /* DNSUPDATE_ZONES, longest first */
  size_t nzones;
  long ttl;
  uint64_t dns_timeout_ms;
} rfc2136;

typedef struct job {
  uv_work_t work;
  wh_dns01_op *op;
  int status;
  char *why;
} job;

/* lego reads DNSUPDATE_<X> first, then its former name RFC2136_<X> */
#define NAMES(x)                                                                                   \
  (const char *const[]) {                                                                          \
    "DNSUPDATE_" x, "RFC2136_" x, NULL                                                             \
  }

static size_t label_count(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += *s == '.';
  return n;
}

static int by_labels_desc(const void *a, const void *b) {
  size_t la = label_count(*(char *const *)a), lb = label_count(*(char *const *)b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

static char *absolute_lower(const char *s) {
  size_t len = strlen(s);
  char *r = wh_asprintf("%s%s", s, len && s[len - 1] == '.' ? "" : ".");
  if (r)
    wh_str_lower(r);
  return r;
}

/* The configured zone containing fqdn, the most specific first, matching
 * whole labels. */
static const char *configured_zone(const rfc2136 *c, const char *fqdn) {
  for (const char *d = fqdn; d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
    if (!*d)
      break;
    for (size_t i = 0; i < c->nzones; i++)
      if (wh_strcaseeq(d, c->zones[i]))
        return c->zones[i];
  }
  return NULL;
}

static ldns_rr *txt_rr(const char *fqdn, long ttl, const char *value) {
  char *s = wh_asprintf("%s %ld IN TXT \"%s\"", fqdn, ttl, value);
  ldns_rr *rr = NULL;
  if (!s || ldns_rr_new_frm_str(&rr, s, 0, NULL, NULL) != LDNS_STATUS_OK)
    rr = NULL;
  free(s);
  return rr;
}

/* "delete an RRset" (RFC 2136 §2.5.2): class ANY, TTL 0, no rdata */
static ldns_rr *delete_rrset_rr(const char *fqdn) {
  ldns_rr *rr = ldns_rr_new();
  ldns_rdf *owner = ldns_dname_new_frm_str(fqdn);
  if (!rr || !owner) {
    ldns_rr_free(rr);
    ldns_rdf_deep_free(owner);
    return NULL;
  }
  ldns_rr_set_owner(rr, owner);
  ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
  ldns_rr_set_ttl(rr, 0);
  return rr;
}

static const char *rcode_name(ldns_pkt_rcode rc) {
  ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rc);
  return lt ? lt->name : "unknown rcode";
}

static void set_why(job *j, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_why(job *j, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  free(j->why);
  if (vasprintf(&j->why, fmt, ap) < 0)
    j->why = NULL;
  va_end(ap);
  j->status = status;
}

/* The update, on a thread-pool thread. */
static void update(job *j) {
  wh_dns01_op *op = j->op;
  const rfc2136 *c = (const rfc2136 *)op->p;
  const char *action = op->present ? "insert" : "remove";
  char *why = NULL;
  char *zone = NULL;
  const char *cz = configured_zone(c, op->fqdn);
  if (c->nzones) {
    if (!cz) {
      set_why(j, WH_ERR, "rfc2136: failed to %s: zone for %s not found", action, op->fqdn);
      return;
    }
    zone = wh_strdup(cz);
  } else {
    const char *ns[] = {c->nameserver};
    zone = wh_dns01_find_zone(op->fqdn, ns, 1, c->dns_timeout_ms, &why);
    if (!zone) {
      set_why(j, WH_ERR, "rfc2136: failed to %s: [fqdn=%s] %s", action, op->fqdn,
              why ? why : "out of memory");
      free(why);
      return;
    }
  }
  ldns_rr_list *up = ldns_rr_list_new();
  ldns_rr *txt = txt_rr(op->fqdn, c->ttl, op->value);
  ldns_rr *del = op->present ? delete_rrset_rr(op->fqdn) : NULL;
  ldns_rdf *zone_rdf = zone ? ldns_dname_new_frm_str(zone) : NULL;
  ldns_pkt *pkt = NULL, *reply = NULL;
  ldns_resolver *r = NULL;
  bool ok = up && txt && (del || !op->present) && zone_rdf;
  if (ok && op->present) {
    ok = ldns_rr_list_push_rr(up, del) && ldns_rr_list_push_rr(up, txt);
    del = txt = NULL; /* the list owns them now */
  } else if (ok) {
    /* "delete an RR from an RRset" (RFC 2136 §2.5.4): class NONE, TTL 0 */
    ldns_rr_set_class(txt, LDNS_RR_CLASS_NONE);
    ldns_rr_set_ttl(txt, 0);
    ok = ldns_rr_list_push_rr(up, txt);
    txt = NULL;
  }
  if (ok) {
    pkt = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, NULL, up, NULL);
    ok = pkt != NULL;
    if (ok)
      zone_rdf = NULL; /* the packet's zone section now */
  }
  if (!ok) {
    set_why(j, WH_ENOMEM, "rfc2136: failed to %s: cannot build the update", action);
    goto out;
  }
  ldns_pkt_set_rd(pkt, false);
  ldns_pkt_set_random_id(pkt);
  if (!(r = wh_dns01_resolver(c->nameserver, c->dns_timeout_ms, &why))) {
    set_why(j, WH_ERR, "rfc2136: failed to %s: DNS update failed: %s", action, why);
    goto out;
  }
  if (c->key) {
    ldns_resolver_set_tsig_keyname(r, c->key);
    ldns_resolver_set_tsig_algorithm(r, c->algorithm);
    ldns_resolver_set_tsig_keydata(r, c->secret);
    ldns_status st = ldns_update_pkt_tsig_add(pkt, r);
    if (st != LDNS_STATUS_OK) {
      set_why(j, WH_ERR, "rfc2136: failed to %s: cannot sign the update with TSIG key %s: %s",
              action, c->key, ldns_get_errorstr_by_id(st));
      goto out;
    }
  }
  /* ldns_send, not ldns_resolver_send_pkt: the latter drops the reply when
   * its signature does not verify, and with it the rcode that says why */
  ldns_status st = ldns_send(&reply, r, pkt);
  if (reply && ldns_pkt_get_rcode(reply) != LDNS_RCODE_NOERROR) {
    ldns_pkt_rcode rc = ldns_pkt_get_rcode(reply);
    set_why(j, WH_ERR, "rfc2136: failed to %s: DNS update failed: server %s replied %s for %s %s%s",
            action, c->nameserver, rcode_name(rc), op->present ? "INSERT" : "REMOVE", zone,
            rc == LDNS_RCODE_NOTAUTH && c->key
                ? " (the TSIG signature was refused: check the key name, secret and algorithm)"
                : "");
  } else if (st != LDNS_STATUS_OK || !reply) {
    set_why(j, WH_ERR, "rfc2136: failed to %s: DNS update failed: %s (server %s)", action,
            st == LDNS_STATUS_CRYPTO_TSIG_BOGUS ? "the answer's TSIG signature does not verify"
                                                : ldns_get_errorstr_by_id(st),
            c->nameserver);
  }
out:
  if (zone_rdf)
    ldns_rdf_deep_free(zone_rdf);
  ldns_rr_free(txt);
  ldns_rr_free(del);
  ldns_rr_list_deep_free(up);
  if (pkt)
    ldns_pkt_free(pkt);
  if (reply)
    ldns_pkt_free(reply);
  if (r)
    ldns_resolver_deep_free(r);
  free(zone);
  free(why);
}

static void work_cb(uv_work_t *w) {
  update((job *)w);
}

static void after_cb(uv_work_t *w, int status) {
  job *j = (job *)w;
  if (status == UV_ECANCELED && j->status == 0)
    set_why(j, WH_ERR, "rfc2136: cancelled");
  wh_dns01_op_finish(j->op, j->status, j->why ? j->why : "rfc2136: out of memory");
  free(j->why);
  free(j);
}

static int rfc2136_start(wh_dns01_op *op) {
  job *j = calloc(1, sizeof(*j));
  if (!j)
    return WH_ENOMEM;
  j->op = op;
  if (uv_queue_work(op->p->loop, &j->work, work_cb, after_cb) != 0) {
    free(j);
    return WH_ERR;
  }
  return 0;
}

static void rfc2136_destroy(wh_dns01_provider *p) {
  rfc2136 *c = (rfc2136 *)p;
  free(c->nameserver);
  free(c->key);
  free(c->secret);
  free(c->algorithm);
  wh_strv_free(c->zones, c->nzones);
  free(c);
}

static const wh_dns01_ops rfc2136_ops = {
    .name = "rfc2136",
    .start = rfc2136_start,
    .destroy = rfc2136_destroy,
};

wh_dns01_provider *wh_dns01_rfc2136_new(char **envp, char *err, size_t n) {
  rfc2136 *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->base.ops = &rfc2136_ops;
  char *ns = wh_dns01_env_any(envp, NAMES("NAMESERVER"));
  char *key = wh_dns01_env_any(envp, NAMES("TSIG_KEY"));
  char *secret = wh_dns01_env_any(envp, NAMES("TSIG_SECRET"));
  char *alg = wh_dns01_env_any(envp, NAMES("TSIG_ALGORITHM"));
  char *zones = wh_dns01_env_any(envp, NAMES("ZONES"));
  char *tsig_file = wh_dns01_env_any(envp, NAMES("TSIG_FILE"));
  char *host = NULL;
  uint16_t port = 0;
  bool ok = false;
  if (!ns) {
    snprintf(err, n,
             "rfc2136: some credentials information are missing: RFC2136_NAMESERVER (or "
             "DNSUPDATE_NAMESERVER)");
  } else if (wh_dns01_split_hostport(ns, 53, &host, &port) != 0) {
    snprintf(err, n, "rfc2136: RFC2136_NAMESERVER: invalid address %s (host or host:port)", ns);
  } else if (tsig_file) {
    snprintf(err, n,
             "rfc2136: RFC2136_TSIG_FILE is not supported by wharf; set RFC2136_TSIG_KEY, "
             "RFC2136_TSIG_SECRET and RFC2136_TSIG_ALGORITHM");
  } else {
    c->nameserver =
        strchr(host, ':') ? wh_asprintf("[%s]:%u", host, port) : wh_asprintf("%s:%u", host, port);
    c->algorithm = absolute_lower(alg ? alg : "hmac-sha1.");
    static const char *const algs[] = {"hmac-sha1.", "hmac-sha224.", "hmac-sha256.", "hmac-sha384.",
                                       "hmac-sha512."};
    bool known = false;
    for (size_t i = 0; c->algorithm && i < sizeof(algs) / sizeof(*algs); i++)
      known |= strcmp(c->algorithm, algs[i]) == 0;
    if (!c->nameserver || !c->algorithm) {
      snprintf(err, n, "rfc2136: out of memory");
    } else if (!known) {
      snprintf(err, n,
               "rfc2136: RFC2136_TSIG_ALGORITHM: unsupported TSIG algorithm: %s (hmac-sha1., "
               "hmac-sha224., hmac-sha256., hmac-sha384., hmac-sha512.)",
               c->algorithm);
    } else {
      ok = true;
      /* lego signs only with both; one alone means unsigned updates */
      if (key && secret) {
        c->key = absolute_lower(key);
        c->secret = secret;
        secret = NULL;
        ok = c->key != NULL;
      }
      if (ok && zones) {
        ok = wh_str_split(zones, ',', &c->zones, &c->nzones) == 0;
        for (size_t i = 0; ok && i < c->nzones; i++) {
          char *z = absolute_lower(c->zones[i]);
          ok = z != NULL;
          if (ok) {
            free(c->zones[i]);
            c->zones[i] = z;
          }
        }
        if (ok)
          qsort(c->zones, c->nzones, sizeof(*c->zones), by_labels_desc);
      }
      if (!ok)
        snprintf(err, n, "rfc2136: out of memory");
    }
  }
  c->ttl = wh_dns01_env_int(envp, NAMES("TTL"), LEGO_DEFAULT_TTL);
  c->dns_timeout_ms = wh_dns01_env_seconds(envp, NAMES("DNS_TIMEOUT"), LEGO_DNS_TIMEOUT_MS);
  c->base.timeout_ms = wh_dns01_env_seconds(envp,
                                            (const char *const[]){"DNSUPDATE_PROPAGATION_TIMEOUT",
                                                                  "RFC2136_PROPAGATION_TIMEOUT",
                                                                  "DNSUPDATE_TIMEOUT", NULL},
                                            LEGO_PROPAGATION_MS);
  c->base.interval_ms = wh_dns01_env_seconds(envp, NAMES("POLLING_INTERVAL"), LEGO_POLLING_MS);
  c->base.sequence_ms = wh_dns01_env_seconds(envp, NAMES("SEQUENCE_INTERVAL"), LEGO_PROPAGATION_MS);
  if (c->dns_timeout_ms == 0)
    c->dns_timeout_ms = LEGO_DNS_TIMEOUT_MS;
  free(ns);
  free(key);
  free(secret);
  free(alg);
  free(zones);
  free(tsig_file);
  free(host);
  if (!ok) {
    rfc2136_destroy(&c->base);
    return NULL;
  }
  return &c->base;
}
