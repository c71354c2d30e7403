/* Incremental reader of a TLS ClientHello, for routing a TCP connection by SNI and ALPN before
 * any TLS library sees its bytes (TLS passthrough, TCP routers, choosing the certificate and
 * options for termination). The reader never allocates: the handshake message is reassembled
 * into a buffer inside the reader, so its size is bounded by WH_CH_MAX whatever the client sends
 * (HARDENING 22-23). The reader only looks at bytes: the caller keeps every byte it fed and
 * replays them to the backend or to OpenSSL. */
#ifndef WH_TLS_CLIENT_HELLO_H
#define WH_TLS_CLIENT_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Cap on the bytes fed before the hello is complete (records including their headers). */
#define WH_CH_MAX 16384
/* Largest record length accepted (TLSCiphertext allows 2^14 + 256; a hello needs no more). */
#define WH_CH_MAX_RECORD (16384 + 256)
/* At most this many ALPN protocols are kept, in client order. */
#define WH_CH_MAX_ALPN 16

typedef enum { WH_CH_MORE, WH_CH_DONE, WH_CH_NOT_TLS, WH_CH_BAD } wh_ch_status;

typedef struct wh_client_hello {
  bool has_sni;
  char sni[256]; /* host_name: lowercased, one trailing dot removed; "" when none */
  bool has_alpn; /* the ALPN extension was present (possibly with nothing kept) */
  size_t nalpn;
  /* Protocols offered, NUL-terminated, in client order. Names containing a NUL byte are not
   * kept (no configured name can match them, and a C-string compare would see a prefix). */
  char alpn[WH_CH_MAX_ALPN][256];
  bool alpn_truncated;     /* more than WH_CH_MAX_ALPN protocols were offered */
  uint16_t legacy_version; /* ClientHello.legacy_version */
  bool tls13;              /* supported_versions lists 0x0304 */
} wh_client_hello;

/* Reader state. Fields are private: use the functions below. Embed it in the connection (it is
 * about WH_CH_MAX bytes); it owns no memory and needs no cleanup. */
typedef struct wh_ch_reader {
  wh_ch_status status;
  const char *reason; /* static text: why BAD or NOT_TLS */
  size_t fed;         /* bytes consumed so far, never more than WH_CH_MAX */
  uint8_t rec_hdr[5];
  uint8_t rec_hdr_got;
  size_t rec_left; /* body bytes of the current record still to come */
  size_t msg_len;  /* handshake message bytes reassembled into msg */
  size_t msg_need; /* full message length (header included) once its header is known, else 0 */
  uint8_t msg[WH_CH_MAX];
} wh_ch_reader;

void wh_ch_reader_init(wh_ch_reader *r);

/* Feeds the next len bytes of the connection (borrowed; data may be NULL when len is 0).
 * Returns MORE until the whole ClientHello handshake message has been seen, then DONE with *out
 * filled (out may be NULL; it is written only when DONE is returned). NOT_TLS is decided on the
 * first byte (not a handshake record, 0x16), so plaintext is never delayed. BAD: malformed
 * hello, a non-handshake record before the hello is complete, a record version major != 3, a
 * record length over WH_CH_MAX_RECORD or zero, or more than WH_CH_MAX bytes fed without
 * completing. After DONE, NOT_TLS or BAD, further feeds return the same status (DONE fills *out
 * again). Bytes after the end of the hello are not examined. Work per feed is proportional to
 * the bytes fed, plus one parse of the message when it completes. */
wh_ch_status wh_ch_reader_feed(wh_ch_reader *r, const uint8_t *data, size_t len,
                               wh_client_hello *out);

/* Why the reader said BAD or NOT_TLS (static text, for logs), or NULL. */
const char *wh_ch_reader_reason(const wh_ch_reader *r);

/* Bytes of the stream consumed: all bytes fed while MORE; after DONE, the offset just past the
 * ClientHello message. After BAD or NOT_TLS it is only bounded (never more than was fed). */
size_t wh_ch_reader_consumed(const wh_ch_reader *r);

/* One-shot parse of one complete ClientHello handshake message (type 1, 24-bit length, body;
 * len must be exactly the message), without record framing (msg borrowed; out may be NULL to
 * only validate). Returns DONE or BAD; *reason (may be NULL) gets a static text on BAD, NULL
 * on DONE. Used by the reader; exposed for callers that already have the message (e.g. an
 * OpenSSL client-hello callback). */
wh_ch_status wh_ch_parse_message(const uint8_t *msg, size_t len, wh_client_hello *out,
                                 const char **reason);

#endif
