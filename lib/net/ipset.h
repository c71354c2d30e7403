/* A set of IP addresses and CIDR ranges (IPv4 and IPv6), for trustedIPs,
 * allow lists and rate-limit exclusions. An IPv4-mapped IPv6 address is
 * treated as the IPv4 address (HARDENING 18). Immutable after parse. */
#ifndef WH_NET_IPSET_H
#define WH_NET_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct wh_ipset wh_ipset;

/* entries: "10.0.0.0/8", "::1", "192.168.1.5". Returns NULL and sets *bad to
 * the first invalid entry (borrowed) when one does not parse. An empty list
 * gives an empty set (contains nothing). */
wh_ipset *wh_ipset_parse(char *const *entries, size_t n, const char **bad);
void wh_ipset_free(wh_ipset *s);
bool wh_ipset_contains(const wh_ipset *s, const struct sockaddr *sa);
bool wh_ipset_contains_str(const wh_ipset *s, const char *ip);

#endif
