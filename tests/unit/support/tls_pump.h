/* Unit-test TLS pumping: two in-memory wh_tls_stream ends run against each
 * other, the way the worker loop moves bytes between a socket and its
 * session, keeping the plaintext each end receives. Header-only (static
 * functions): every tests/unit/ file is its own executable. Include after
 * <cmocka.h>. */
#ifndef WH_TESTS_UNIT_SUPPORT_TLS_PUMP_H
#define WH_TESTS_UNIT_SUPPORT_TLS_PUMP_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lib/tls/tls_stream.h"

/* One end: its session and the plaintext it received. Zero it before
 * initialising s. */
typedef struct tls_peer {
  wh_tls_stream s;
  char *got;
  size_t ngot, cap;
  ssize_t last; /* the last read result <= 0 */
} tls_peer;

/* Frees the session (no close_notify) and the plaintext. */
static inline void tls_peer_free(tls_peer *p) {
  wh_tls_stream_free(&p->s);
  free(p->got);
  p->got = NULL;
  p->ngot = p->cap = 0;
}

/* Reads until the session has nothing more, keeping the plaintext; returns
 * the last read result (<= 0). */
static inline ssize_t tls_peer_drain(tls_peer *p) {
  char buf[4096];
  for (;;) {
    ssize_t r = wh_tls_stream_read(&p->s, buf, sizeof(buf));
    if (r <= 0) {
      p->last = r;
      return r;
    }
    if (p->ngot + (size_t)r > p->cap) {
      p->cap = (p->ngot + (size_t)r) * 2;
      p->got = realloc(p->got, p->cap);
      assert_non_null(p->got);
    }
    memcpy(p->got + p->ngot, buf, (size_t)r);
    p->ngot += (size_t)r;
  }
}

/* Moves what from produced to to, chunk bytes per feed (0: all at once),
 * reading after each feed; a session that failed is fed nothing more (the
 * worker closes its socket). False when from had nothing to send. */
static inline bool tls_peer_move(tls_peer *from, tls_peer *to, size_t chunk) {
  const char *d = NULL;
  size_t n = wh_tls_stream_output(&from->s, &d);
  if (n == 0)
    return false;
  char *copy = malloc(n);
  assert_non_null(copy);
  memcpy(copy, d, n);
  wh_tls_stream_consumed(&from->s);
  for (size_t off = 0; off < n;) {
    size_t step = chunk && chunk < n - off ? chunk : n - off;
    if (!to->s.failed)
      assert_int_equal(wh_tls_stream_feed(&to->s, copy + off, step), 0);
    off += step;
    tls_peer_drain(to);
  }
  free(copy);
  return true;
}

/* Runs both ends until neither has anything to send, each reading what it
 * receives on the way (after a handshake: TLS 1.3 session tickets too). */
static inline void tls_pump(tls_peer *a, tls_peer *b, size_t chunk) {
  tls_peer_drain(a);
  tls_peer_drain(b);
  for (int i = 0; i < 1000; i++) {
    bool m1 = tls_peer_move(a, b, chunk);
    bool m2 = tls_peer_move(b, a, chunk);
    if (!m1 && !m2)
      return;
  }
  fail_msg("the sessions never went quiet");
}

#endif
