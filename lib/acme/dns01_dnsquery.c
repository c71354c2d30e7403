/* Blocking DNS exchanges through libldns for the DNS-01 code. They run on
 * the uv thread pool (uv_queue_work), never on the loop: libldns has no
 * non-blocking interface, and a thread-pool job keeps the control loop free
 * for the few seconds a slow nameserver can take. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/acme/dns01_provider.h"
#include "lib/core/err.h"
#include "lib/core/str.h"

int wh_dns01_split_hostport(const char *s, uint16_t def_port, char **host, uint16_t *port) {
  *host = NULL;
  const char *h = s, *p = NULL;
  size_t hl;
  if (!s || !*s)
    return WH_EINVAL;
  if (s[0] == '[') {
    const char *e = strchr(s, ']');
    if (!e)
      return WH_EINVAL;
    h = s + 1;
    hl = (size_t)(e - h);
    if (e[1] == ':')
      p = e + 2;
    else if (e[1])
      return WH_EINVAL;
  } else {
    const char *c = strchr(s, ':');
    if (c && strchr(c + 1, ':')) /* a bare IPv6 address */
      hl = strlen(s);
    else {
      hl = c ? (size_t)(c - s) : strlen(s);
      p = c ? c + 1 : NULL;
    }
  }
  long v = def_port;
  if (p) {
    char *end;
    v = strtol(p, &end, 10);
    if (!*p || *end || v <= 0 || v > 65535)
      return WH_EINVAL;
  }
  if (hl == 0)
    return WH_EINVAL;
  *host = wh_strndup(h, hl);
  if (!*host)
    return WH_ENOMEM;
  *port = (uint16_t)v;
  return 0;
}

/* A resolver for one server name: every address of host, at port. */
static ldns_resolver *resolver_for(const char *server, bool recursive, uint64_t timeout_ms,
                                   char **why) {
  char *host;
  uint16_t port;
  if (wh_dns01_split_hostport(server, 53, &host, &port) != 0) {
    wh_str_setf(why, "invalid nameserver address %s", server);
    return NULL;
  }
  ldns_resolver *r = ldns_resolver_new();
  if (!r) {
    free(host);
    wh_str_setf(why, "out of memory");
    return NULL;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  struct addrinfo *ai = NULL;
  int gai = getaddrinfo(host, NULL, &hints, &ai);
  if (gai != 0) {
    wh_str_setf(why, "cannot resolve nameserver %s: %s", host, gai_strerror(gai));
    free(host);
    ldns_resolver_deep_free(r);
    return NULL;
  }
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    char ip[INET6_ADDRSTRLEN];
    ldns_rdf *ns = NULL;
    if (a->ai_family == AF_INET &&
        inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, ip, sizeof(ip)))
      ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, ip);
    else if (a->ai_family == AF_INET6 &&
             inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, ip, sizeof(ip)))
      ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, ip);
    if (ns) {
      ldns_resolver_push_nameserver(r, ns);
      ldns_rdf_deep_free(ns);
    }
  }
  freeaddrinfo(ai);
  free(host);
  if (ldns_resolver_nameserver_count(r) == 0) {
    wh_str_setf(why, "no address for nameserver %s", server);
    ldns_resolver_deep_free(r);
    return NULL;
  }
  ldns_resolver_set_port(r, port);
  struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                       .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
  ldns_resolver_set_timeout(r, tv);
  ldns_resolver_set_retry(r, 1);
  ldns_resolver_set_retrans(r, 1);
  ldns_resolver_set_edns_udp_size(r, 4096);
  ldns_resolver_set_fallback(r, true); /* TCP when the answer is truncated */
  ldns_resolver_set_random(r, false);
  ldns_resolver_set_recursive(r, recursive);
  ldns_resolver_set_dnssec(r, false);
  return r;
}

ldns_resolver *wh_dns01_resolver(const char *server, uint64_t timeout_ms, char **why) {
  return resolver_for(server, false, timeout_ms, why);
}

int wh_dns01_query(const char *server, const char *name, ldns_rr_type type, bool recursive,
                   uint64_t timeout_ms, ldns_pkt **reply, char **why) {
  *reply = NULL;
  ldns_resolver *r = resolver_for(server, recursive, timeout_ms, why);
  if (!r)
    return WH_ERR;
  ldns_rdf *qname = ldns_dname_new_frm_str(name);
  if (!qname) {
    ldns_resolver_deep_free(r);
    wh_str_setf(why, "invalid name %s", name);
    return WH_EINVAL;
  }
  ldns_status st =
      ldns_resolver_send(reply, r, qname, type, LDNS_RR_CLASS_IN, recursive ? LDNS_RD : 0);
  ldns_rdf_deep_free(qname);
  ldns_resolver_deep_free(r);
  if (st != LDNS_STATUS_OK || !*reply) {
    char *t = ldns_rr_type2str(type);
    wh_str_setf(why, "DNS call error: %s [ns=%s, question='%s IN %s']", ldns_get_errorstr_by_id(st),
                server, name, t ? t : "?");
    free(t);
    if (*reply) {
      ldns_pkt_free(*reply);
      *reply = NULL;
    }
    return WH_EIO;
  }
  return 0;
}

/* lego's dnsQuery: the servers in order until one answers with records;
 * the last reply otherwise. */
int wh_dns01_query_any(const char *const *servers, size_t n, const char *name, ldns_rr_type type,
                       bool recursive, uint64_t timeout_ms, ldns_pkt **reply, char **why) {
  *reply = NULL;
  if (n == 0) {
    wh_str_setf(why, "empty list of nameservers");
    return WH_EINVAL;
  }
  int rc = WH_ERR;
  for (size_t i = 0; i < n; i++) {
    ldns_pkt *r = NULL;
    rc = wh_dns01_query(servers[i], name, type, recursive, timeout_ms, &r, why);
    if (rc != 0)
      continue;
    if (*reply)
      ldns_pkt_free(*reply);
    *reply = r;
    if (ldns_pkt_ancount(r) > 0)
      return 0;
  }
  return *reply ? 0 : rc;
}

static bool has_type(const ldns_pkt *p, ldns_rr_type t) {
  const ldns_rr_list *a = ldns_pkt_answer(p);
  for (size_t i = 0; a && i < ldns_rr_list_rr_count(a); i++)
    if (ldns_rr_get_type(ldns_rr_list_rr(a, i)) == t)
      return true;
  return false;
}

char *wh_dns01_find_zone(const char *fqdn, const char *const *servers, size_t n,
                         uint64_t timeout_ms, char **why) {
  /* every suffix of fqdn down to the TLD, as lego's DomainsSeq */
  for (const char *d = fqdn; d && *d && strcmp(d, ".") != 0;) {
    ldns_pkt *r = NULL;
    if (wh_dns01_query_any(servers, n, d, LDNS_RR_TYPE_SOA, true, timeout_ms, &r, why) == 0) {
      ldns_pkt_rcode rc = ldns_pkt_get_rcode(r);
      if (rc == LDNS_RCODE_NOERROR && !has_type(r, LDNS_RR_TYPE_CNAME)) {
        const ldns_rr_list *a = ldns_pkt_answer(r);
        for (size_t i = 0; a && i < ldns_rr_list_rr_count(a); i++) {
          ldns_rr *rr = ldns_rr_list_rr(a, i);
          if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
            char *zone = ldns_rdf2str(ldns_rr_owner(rr));
            ldns_pkt_free(r);
            if (zone)
              wh_str_lower(zone);
            else
              wh_str_setf(why, "out of memory");
            return zone;
          }
        }
      } else if (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN) {
        ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rc);
        wh_str_setf(why, "unexpected response for '%s' [code=%s]", d, lt ? lt->name : "?");
        ldns_pkt_free(r);
        return NULL;
      }
      ldns_pkt_free(r);
    }
    const char *dot = strchr(d, '.');
    d = dot ? dot + 1 : NULL;
  }
  char *prev = why ? *why : NULL;
  if (why)
    *why = NULL;
  wh_str_setf(why, "could not find the start of authority for '%s'%s%s", fqdn, prev ? ": " : "",
              prev ? prev : "");
  free(prev);
  return NULL;
}

int wh_dns01_system_resolvers(char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  char **v = NULL;
  size_t cnt = 0;
  FILE *f = fopen("/etc/resolv.conf", "r");
  char line[512];
  while (f && fgets(line, sizeof(line), f)) {
    char addr[256];
    if (sscanf(line, " nameserver %255s", addr) != 1)
      continue;
    char *pct = strchr(addr, '%'); /* a link-local zone is not for ldns */
    if (pct)
      *pct = '\0';
    char **nv = realloc(v, (cnt + 1) * sizeof(*v));
    char *s = strchr(addr, ':') ? wh_asprintf("[%s]:53", addr) : wh_asprintf("%s:53", addr);
    if (!nv || !s) {
      free(s);
      v = nv ? nv : v;
      wh_strv_free(v, cnt);
      fclose(f);
      return WH_ENOMEM;
    }
    v = nv;
    v[cnt++] = s;
  }
  if (f)
    fclose(f);
  if (cnt == 0) {
    static const char *const defaults[] = {"google-public-dns-a.google.com:53",
                                           "google-public-dns-b.google.com:53"};
    v = calloc(2, sizeof(*v));
    if (!v)
      return WH_ENOMEM;
    for (; cnt < 2; cnt++)
      if (!(v[cnt] = wh_strdup(defaults[cnt]))) {
        wh_strv_free(v, cnt);
        return WH_ENOMEM;
      }
  }
  *out = v;
  *n = cnt;
  return 0;
}
