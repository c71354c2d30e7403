/* PROXY protocol codec, versions 1 (text) and 2 (binary), per HAProxy's
 * proxy-protocol.txt. Parsing is for entry points whose
 * proxyProtocol.trustedIPs (or insecure) let a peer announce the real client;
 * writing is for TCP services with proxyProtocol.version. Pure functions over
 * caller-owned buffers: no allocation, no I/O, no state between calls. */
#ifndef WH_NET_PROXY_PROTOCOL_H
#define WH_NET_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest v1 line, CRLF included (spec section 2.1). */
#define WH_PP_V1_MAX_LEN 107
/* Largest v2 header accepted (16-byte fixed part, addresses and TLVs). The
 * wire allows 16 + 65535; the cap bounds what a peer can make us buffer, and a
 * caller's buffer of this size always suffices to reach DONE or BAD. */
#define WH_PP_MAX_HEADER (16 * 1024)
/* Output sizes that always suffice for wh_pp_write (no TLVs are written). */
#define WH_PP_V1_WRITE_MAX 108
#define WH_PP_V2_WRITE_MAX 52

typedef enum { WH_PP_MORE, WH_PP_DONE, WH_PP_ABSENT, WH_PP_BAD } wh_pp_status;

typedef struct wh_pp_result {
  bool local; /* v2 LOCAL command, or UNSPEC/UNIX family, or v1 "UNKNOWN": keep the socket's
                 own addresses */
  struct sockaddr_storage src, dst; /* when !local: AF_INET or AF_INET6 with ports */
  size_t header_len;                /* bytes of the header, to skip before the payload */
} wh_pp_result;

/* Parses the start of a connection's bytes; buf (borrowed) holds everything
 * received so far, and the caller calls again with more bytes on MORE.
 *   MORE:   what is there is a prefix of a header that may still be valid.
 *   DONE:   *out filled; the payload starts at buf + out->header_len.
 *   ABSENT: the bytes cannot begin a header (neither "PROXY " nor the v2
 *           signature), decided from the first differing byte, so that a
 *           trusted peer sending no header can be served as a plain connection.
 *   BAD:    a malformed header: drop the connection.
 * The verdict for a prefix never changes as bytes are appended (a MORE can
 * only become DONE, BAD or stay MORE). Exact v1 syntax is required: single
 * spaces, canonical IPv4 without leading zeros, ports 0..65535 without leading
 * zeros, CRLF within 107 bytes. v2 TLVs after an IPv4/IPv6 address block are
 * bounds-checked and skipped; the CRC32C TLV is not verified. *out is written
 * only on DONE. */
wh_pp_status wh_pp_parse(const uint8_t *buf, size_t len, wh_pp_result *out);

/* Writes a header announcing src -> dst into out (cap bytes, caller-owned).
 * Both AF_INET gives TCP4 / family 0x11, otherwise an AF_INET address is
 * mapped to IPv4-mapped IPv6 and TCP6 / 0x21 is used. When either address is
 * NULL or neither AF_INET nor AF_INET6, the header says "unknown" (v1
 * "PROXY UNKNOWN\r\n", v2 LOCAL with UNSPEC family), as the spec asks of a
 * sender that cannot fill the addresses. v2 uses the PROXY command, STREAM
 * transport and no TLVs. Returns the length written, or -1 when version is not
 * 1 or 2 or cap is too small (WH_PP_V1_WRITE_MAX / WH_PP_V2_WRITE_MAX always
 * suffice). Nothing is NUL-terminated. */
int wh_pp_write(int version, const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out,
                size_t cap);

#endif
