#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/tls/client_hello.h"

/* Captured from `openssl s_client -servername A.Example. -alpn h2,http/1.1` (OpenSSL 3.0). */
static const uint8_t real_hello[] = {
    0x16, 0x03, 0x01, 0x01, 0x49, 0x01, 0x00, 0x01, 0x45, 0x03, 0x03, 0x68, 0x8a, 0x7e, 0x7a, 0xc0,
    0xdc, 0x1c, 0x37, 0x43, 0x92, 0xde, 0x19, 0x73, 0x34, 0x28, 0x32, 0x3d, 0x45, 0xf0, 0x7a, 0xa5,
    0xd6, 0x2c, 0xbc, 0x47, 0x5f, 0xaf, 0x46, 0x22, 0xcb, 0xe0, 0x9e, 0x20, 0x98, 0x27, 0x58, 0xf7,
    0xdf, 0xb0, 0x94, 0x7e, 0x76, 0xbe, 0xd0, 0xcd, 0x9e, 0x53, 0x0a, 0x4b, 0x8f, 0xc7, 0x0f, 0x37,
    0x19, 0x8b, 0x11, 0xbb, 0x47, 0x54, 0x9e, 0x49, 0x3e, 0x5e, 0x0f, 0x99, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xbe,
    0x00, 0x00, 0x00, 0x0f, 0x00, 0x0d, 0x00, 0x00, 0x0a, 0x41, 0x2e, 0x45, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x2e, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00,
    0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01,
    0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02,
    0x68, 0x32, 0x08, 0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00,
    0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08,
    0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04,
    0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06,
    0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d,
    0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xcc, 0x4a,
    0x31, 0x7f, 0xd0, 0x21, 0xef, 0xa2, 0x83, 0x67, 0xf4, 0x75, 0x1f, 0x3b, 0x36, 0x28, 0x6e, 0x1e,
    0x00, 0x68, 0x19, 0x4a, 0x73, 0x4a, 0x5e, 0xb4, 0x81, 0xb9, 0x63, 0x65, 0xbc, 0x24,
};

/* `openssl s_client -noservername`. */
static const uint8_t nosni_hello[] = {
    0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0xe7, 0xd1, 0x50, 0x7a, 0x0b,
    0x3b, 0xd2, 0xd8, 0x3e, 0xb6, 0xbc, 0xfd, 0x59, 0x2f, 0x8f, 0xee, 0x28, 0xee, 0xb9, 0xd6, 0xb9,
    0xf9, 0xd5, 0x48, 0x8b, 0x7c, 0xea, 0xbd, 0xf2, 0xbd, 0x55, 0x0f, 0x20, 0x04, 0xce, 0xe7, 0x48,
    0xef, 0x15, 0x6d, 0x9d, 0x31, 0x3c, 0xa6, 0x03, 0x5c, 0xfd, 0x57, 0x63, 0xdd, 0xdd, 0x19, 0x98,
    0x99, 0xd7, 0x70, 0xbf, 0xf9, 0xcf, 0xb7, 0x79, 0xa1, 0x00, 0xac, 0x7b, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
    0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
    0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x6a, 0x8d, 0x1b, 0x55, 0xb8, 0xae, 0xa1,
    0x9f, 0x2d, 0xc2, 0x81, 0x40, 0x3c, 0x4e, 0xc8, 0x86, 0xfa, 0x97, 0xc7, 0x1b, 0xec, 0xcb, 0xd5,
    0x93, 0xc5, 0x7e, 0x59, 0x6c, 0x43, 0xf2, 0x15, 0x56,
};

/* `openssl s_client -servername backend.example.com -tls1_2`: no supported_versions. */
static const uint8_t tls12_hello[] = {
    0x16, 0x03, 0x01, 0x00, 0xd3, 0x01, 0x00, 0x00, 0xcf, 0x03, 0x03, 0xf4, 0xeb, 0x54, 0x3b, 0x24,
    0xa6, 0x95, 0xd6, 0xad, 0xae, 0x02, 0x5b, 0x25, 0x61, 0x92, 0x28, 0xfb, 0x0c, 0xb8, 0x4d, 0x12,
    0x4c, 0x22, 0xf9, 0xa0, 0x03, 0x8a, 0x6e, 0xe1, 0xb6, 0xfc, 0x35, 0x00, 0x00, 0x38, 0xc0, 0x2c,
    0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14,
    0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
    0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6e, 0x00, 0x00, 0x00, 0x18, 0x00, 0x16,
    0x00, 0x00, 0x13, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a,
    0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00, 0x23,
    0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28,
    0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b,
    0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
    0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
  uint8_t b[40000];
  size_t n;
} buf;

static void put(buf *o, const void *p, size_t n) {
  assert_true(o->n + n <= sizeof o->b);
  if (n == 0)
    return; /* p may be NULL */
  memcpy(o->b + o->n, p, n);
  o->n += n;
}

static void put8(buf *o, unsigned v) {
  uint8_t x = (uint8_t)v;
  put(o, &x, 1);
}

static void put16(buf *o, unsigned v) {
  put8(o, v >> 8);
  put8(o, v);
}

static void put24(buf *o, size_t v) {
  put8(o, (unsigned)(v >> 16));
  put16(o, (unsigned)(v & 0xffff));
}

static void ext(buf *exts, unsigned type, const void *data, size_t n) {
  put16(exts, type);
  put16(exts, (unsigned)n);
  put(exts, data, n);
}

/* server_name extension data holding one host_name. */
static void ext_sni_n(buf *exts, const char *name, size_t n) {
  buf d = {.n = 0};
  put16(&d, (unsigned)(n + 3));
  put8(&d, 0);
  put16(&d, (unsigned)n);
  put(&d, name, n);
  ext(exts, 0, d.b, d.n);
}

static void ext_sni(buf *exts, const char *name) {
  ext_sni_n(exts, name, strlen(name));
}

/* ALPN extension from a NULL-terminated list of names. */
static void ext_alpn(buf *exts, const char *const *names) {
  buf l = {.n = 0}, d = {.n = 0};
  for (size_t i = 0; names[i]; i++) {
    put8(&l, (unsigned)strlen(names[i]));
    put(&l, names[i], strlen(names[i]));
  }
  put16(&d, (unsigned)l.n);
  put(&d, l.b, l.n);
  ext(exts, 16, d.b, d.n);
}

typedef struct {
  unsigned legacy_version; /* 0 → 0x0303 */
  size_t sid_len;
  size_t cipher_bytes; /* 0 → 4 */
  size_t ncomp;        /* 0 → 1 */
  bool no_cipher, no_comp;
  const buf *exts; /* NULL: the message ends after compression_methods */
} spec;

/* A ClientHello handshake message (header included). */
static void hello_msg(buf *m, const spec *s) {
  buf b = {.n = 0};
  put16(&b, s->legacy_version ? s->legacy_version : 0x0303);
  for (int i = 0; i < 32; i++)
    put8(&b, (unsigned)i);
  put8(&b, (unsigned)s->sid_len);
  for (size_t i = 0; i < s->sid_len; i++)
    put8(&b, 0xaa);
  size_t cb = s->no_cipher ? 0 : s->cipher_bytes ? s->cipher_bytes : 4;
  put16(&b, (unsigned)cb);
  for (size_t i = 0; i < cb; i++)
    put8(&b, 0x13);
  size_t nc = s->no_comp ? 0 : s->ncomp ? s->ncomp : 1;
  put8(&b, (unsigned)nc);
  for (size_t i = 0; i < nc; i++)
    put8(&b, 0);
  if (s->exts) {
    put16(&b, (unsigned)s->exts->n);
    put(&b, s->exts->b, s->exts->n);
  }
  m->n = 0;
  put8(m, 1);
  put24(m, b.n);
  put(m, b.b, b.n);
}

/* Wraps msg in records whose bodies have the given sizes (0-terminated; the last record gets the
 * rest). */
static void records(buf *out, const uint8_t *msg, size_t n, const size_t *sizes) {
  out->n = 0;
  size_t off = 0;
  for (size_t i = 0; off < n; i++) {
    size_t k = sizes && sizes[i] ? sizes[i] : n - off;
    if (k > n - off)
      k = n - off;
    put8(out, 0x16);
    put16(out, 0x0301);
    put16(out, (unsigned)k);
    put(out, msg + off, k);
    off += k;
  }
}

static void one_record(buf *out, const buf *msg) {
  records(out, msg->b, msg->n, NULL);
}

/* Feeds the stream in pieces of chunk bytes; every piece but the deciding one must give MORE. */
static wh_ch_status feed_chunks(const uint8_t *p, size_t n, size_t chunk, wh_client_hello *out,
                                size_t *consumed) {
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  wh_ch_status st = WH_CH_MORE;
  size_t off = 0;
  while (off < n && st == WH_CH_MORE) {
    size_t k = n - off < chunk ? n - off : chunk;
    st = wh_ch_reader_feed(&r, p + off, k, out);
    off += k;
  }
  if (st == WH_CH_BAD || st == WH_CH_NOT_TLS)
    assert_non_null(wh_ch_reader_reason(&r));
  if (consumed)
    *consumed = wh_ch_reader_consumed(&r);
  return st;
}

/* Parses the stream whole, byte by byte and in 7-byte pieces: all three must agree. */
static wh_ch_status run(const uint8_t *p, size_t n, wh_client_hello *out) {
  static wh_client_hello a, b;
  memset(out, 0, sizeof *out);
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  wh_ch_status st = feed_chunks(p, n, n ? n : 1, out, NULL);
  assert_int_equal(feed_chunks(p, n, 1, &a, NULL), st);
  assert_int_equal(feed_chunks(p, n, 7, &b, NULL), st);
  assert_memory_equal(out, &a, sizeof a);
  assert_memory_equal(out, &b, sizeof b);
  return st;
}

static wh_ch_status run_buf(const buf *s, wh_client_hello *out) {
  return run(s->b, s->n, out);
}

/* A well-formed hello whose only extension block is exts, in one record. */
static wh_ch_status run_exts(const buf *exts, wh_client_hello *out) {
  static buf m, s;
  spec sp = {.sid_len = 32, .exts = exts};
  hello_msg(&m, &sp);
  one_record(&s, &m);
  return run_buf(&s, out);
}

static wh_ch_status run_sni(const char *name, wh_client_hello *out) {
  static buf e;
  e.n = 0;
  ext_sni(&e, name);
  return run_exts(&e, out);
}

static void check_real(const wh_client_hello *h) {
  assert_true(h->has_sni);
  assert_string_equal(h->sni, "a.example");
  assert_true(h->has_alpn);
  assert_int_equal(h->nalpn, 2);
  assert_string_equal(h->alpn[0], "h2");
  assert_string_equal(h->alpn[1], "http/1.1");
  assert_false(h->alpn_truncated);
  assert_int_equal(h->legacy_version, 0x0303);
  assert_true(h->tls13);
}

static wh_client_hello h; /* 4 KiB: kept off the test stacks */

/* ---- real ClientHellos ------------------------------------------------------------------- */

static void test_real_whole(void **state) {
  (void)state;
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  assert_int_equal(wh_ch_reader_feed(&r, real_hello, sizeof real_hello, &h), WH_CH_DONE);
  check_real(&h);
  assert_int_equal(wh_ch_reader_consumed(&r), sizeof real_hello);
  assert_null(wh_ch_reader_reason(&r));
}

static void test_real_one_byte_pieces(void **state) {
  (void)state;
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  for (size_t i = 0; i + 1 < sizeof real_hello; i++)
    assert_int_equal(wh_ch_reader_feed(&r, real_hello + i, 1, &h), WH_CH_MORE);
  assert_int_equal(wh_ch_reader_feed(&r, real_hello + sizeof real_hello - 1, 1, &h), WH_CH_DONE);
  check_real(&h);
}

static void test_real_every_piece_size(void **state) {
  (void)state;
  for (size_t chunk = 1; chunk <= sizeof real_hello; chunk++) {
    memset(&h, 0, sizeof h);
    size_t used;
    assert_int_equal(feed_chunks(real_hello, sizeof real_hello, chunk, &h, &used), WH_CH_DONE);
    assert_int_equal(used, sizeof real_hello);
    check_real(&h);
  }
}

static void test_real_two_records_every_split(void **state) {
  (void)state;
  static buf s;
  const uint8_t *msg = real_hello + 5;
  size_t n = sizeof real_hello - 5;
  for (size_t split = 1; split < n; split++) {
    size_t sizes[] = {split, 0};
    records(&s, msg, n, sizes);
    assert_int_equal(s.n, sizeof real_hello + 5);
    memset(&h, 0, sizeof h);
    assert_int_equal(feed_chunks(s.b, s.n, split % 13 + 1, &h, NULL), WH_CH_DONE);
    check_real(&h);
  }
}

static void test_real_three_records(void **state) {
  (void)state;
  static buf s;
  size_t sizes[] = {3, 100, 0}; /* the first record ends inside the handshake header */
  records(&s, real_hello + 5, sizeof real_hello - 5, sizes);
  assert_int_equal(s.n, sizeof real_hello + 10);
  assert_int_equal(run_buf(&s, &h), WH_CH_DONE);
  check_real(&h);
}

static void test_real_one_byte_records(void **state) {
  (void)state;
  static buf s;
  size_t sizes[400];
  for (size_t i = 0; i < 400; i++)
    sizes[i] = 1;
  records(&s, real_hello + 5, sizeof real_hello - 5, sizes);
  assert_int_equal(run_buf(&s, &h), WH_CH_DONE);
  check_real(&h);
}

static void test_no_sni(void **state) {
  (void)state;
  assert_int_equal(run(nosni_hello, sizeof nosni_hello, &h), WH_CH_DONE);
  assert_false(h.has_sni);
  assert_string_equal(h.sni, "");
  assert_false(h.has_alpn);
  assert_int_equal(h.nalpn, 0);
  assert_true(h.tls13);
}

static void test_tls12_only(void **state) {
  (void)state;
  assert_int_equal(run(tls12_hello, sizeof tls12_hello, &h), WH_CH_DONE);
  assert_string_equal(h.sni, "backend.example.com");
  assert_false(h.tls13);
  assert_int_equal(h.legacy_version, 0x0303);
}

static void test_bytes_after_hello_not_consumed(void **state) {
  (void)state;
  static buf s;
  s.n = 0;
  put(&s, real_hello, sizeof real_hello);
  put(&s, "\x17\x03\x03\xff\xffjunk", 9); /* would be BAD if examined */
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  assert_int_equal(wh_ch_reader_feed(&r, s.b, s.n, &h), WH_CH_DONE);
  assert_int_equal(wh_ch_reader_consumed(&r), sizeof real_hello);
  check_real(&h);
}

static void test_status_is_sticky(void **state) {
  (void)state;
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  assert_int_equal(wh_ch_reader_feed(&r, real_hello, sizeof real_hello, NULL), WH_CH_DONE);
  memset(&h, 0, sizeof h);
  assert_int_equal(wh_ch_reader_feed(&r, (const uint8_t *)"xx", 2, &h), WH_CH_DONE);
  check_real(&h); /* a later DONE fills out again */
  assert_int_equal(wh_ch_reader_consumed(&r), sizeof real_hello);

  wh_ch_reader_init(&r);
  assert_int_equal(wh_ch_reader_feed(&r, (const uint8_t *)"\x16\x02", 2, NULL), WH_CH_BAD);
  assert_int_equal(wh_ch_reader_feed(&r, real_hello, sizeof real_hello, &h), WH_CH_BAD);

  wh_ch_reader_init(&r);
  assert_int_equal(wh_ch_reader_feed(&r, (const uint8_t *)"G", 1, NULL), WH_CH_NOT_TLS);
  assert_int_equal(wh_ch_reader_feed(&r, real_hello, sizeof real_hello, &h), WH_CH_NOT_TLS);
}

static void test_empty_feed(void **state) {
  (void)state;
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  assert_int_equal(wh_ch_reader_feed(&r, NULL, 0, &h), WH_CH_MORE);
  assert_int_equal(wh_ch_reader_feed(&r, real_hello, 10, &h), WH_CH_MORE);
  assert_int_equal(wh_ch_reader_feed(&r, NULL, 0, &h), WH_CH_MORE);
  assert_int_equal(wh_ch_reader_feed(&r, real_hello + 10, sizeof real_hello - 10, &h), WH_CH_DONE);
}

static void test_parse_message_direct(void **state) {
  (void)state;
  const char *why = "unset";
  assert_int_equal(wh_ch_parse_message(real_hello + 5, sizeof real_hello - 5, &h, &why),
                   WH_CH_DONE);
  assert_null(why);
  check_real(&h);
  assert_int_equal(wh_ch_parse_message(real_hello + 5, sizeof real_hello - 6, &h, &why), WH_CH_BAD);
  assert_non_null(strstr(why, "handshake length"));
  assert_false(h.has_sni); /* never half a hello */
}

/* ---- not TLS, wrong framing -------------------------------------------------------------- */

static void test_plaintext_http_decided_on_first_byte(void **state) {
  (void)state;
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  h.has_sni = true;
  assert_int_equal(wh_ch_reader_feed(&r, (const uint8_t *)"G", 1, &h), WH_CH_NOT_TLS);
  assert_true(h.has_sni); /* out untouched */
  wh_ch_reader_init(&r);
  const char *get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  assert_int_equal(wh_ch_reader_feed(&r, (const uint8_t *)get, strlen(get), NULL), WH_CH_NOT_TLS);
  assert_non_null(wh_ch_reader_reason(&r));
}

static void test_sslv2_and_other_first_bytes_not_tls(void **state) {
  (void)state;
  /* SSLv2-style hello, application data, alert, change_cipher_spec, NUL */
  const uint8_t firsts[] = {0x80, 0x17, 0x15, 0x14, 0x00, 0xff};
  for (size_t i = 0; i < sizeof firsts; i++) {
    wh_ch_reader r;
    wh_ch_reader_init(&r);
    assert_int_equal(wh_ch_reader_feed(&r, &firsts[i], 1, NULL), WH_CH_NOT_TLS);
  }
}

static void test_junk_after_0x16(void **state) {
  (void)state;
  const char *junk = "\x16GET / HTTP/1.1\r\n";
  assert_int_equal(run((const uint8_t *)junk, strlen(junk), &h), WH_CH_BAD);
  /* record version major 3 but the handshake is not a client_hello */
  const uint8_t server_hello[] = {0x16, 3, 3, 0, 4, 2, 0, 0, 0};
  assert_int_equal(run(server_hello, sizeof server_hello, &h), WH_CH_BAD);
  /* decided on the handshake type byte, not later */
  assert_int_equal(feed_chunks(server_hello, 6, 1, &h, NULL), WH_CH_BAD);
}

static void test_record_version_major(void **state) {
  (void)state;
  static buf s;
  put(&s, real_hello, sizeof real_hello);
  s.b[1] = 2;
  assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
  s.b[1] = 4;
  assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
  s.b[1] = 3;
  s.b[2] = 4; /* the minor version is not checked */
  assert_int_equal(run_buf(&s, &h), WH_CH_DONE);
}

static void test_non_handshake_record_mid_hello(void **state) {
  (void)state;
  const uint8_t types[] = {0x17, 0x15, 0x14, 0x18};
  for (size_t t = 0; t < sizeof types; t++) {
    static buf s;
    size_t sizes[] = {50, 0};
    records(&s, real_hello + 5, sizeof real_hello - 5, sizes);
    s.b[5 + 50] = types[t]; /* second record's type */
    wh_ch_reader r;
    wh_ch_reader_init(&r);
    /* decided on the type byte itself */
    assert_int_equal(wh_ch_reader_feed(&r, s.b, 55, NULL), WH_CH_MORE);
    assert_int_equal(wh_ch_reader_feed(&r, s.b + 55, 1, NULL), WH_CH_BAD);
    assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
  }
}

static void test_record_lengths(void **state) {
  (void)state;
  /* over 2^14 + 256: refused on the header alone */
  const uint8_t big[] = {0x16, 3, 1, 0x41, 0x01};
  assert_int_equal(run(big, sizeof big, &h), WH_CH_BAD);
  /* exactly 2^14 + 256 is a legal record: the hello inside decides */
  const uint8_t max[] = {0x16, 3, 1, 0x41, 0x00, 1, 0, 0};
  assert_int_equal(run(max, sizeof max, &h), WH_CH_MORE);
  /* zero-length handshake records are forbidden (RFC 8446 5.1) */
  const uint8_t empty[] = {0x16, 3, 1, 0, 0, 0x16, 3, 1, 0, 1, 1};
  assert_int_equal(run(empty, sizeof empty, &h), WH_CH_BAD);
}

static void test_truncated_stays_more(void **state) {
  (void)state;
  for (size_t n = 0; n < sizeof real_hello; n += 11) {
    size_t used;
    assert_int_equal(feed_chunks(real_hello, n, 5, &h, &used), WH_CH_MORE);
    assert_int_equal(used, n);
  }
  assert_int_equal(feed_chunks(real_hello, sizeof real_hello - 1, 3, &h, NULL), WH_CH_MORE);
}

/* ---- size caps ---------------------------------------------------------------------------- */

/* A valid hello whose message fills exactly len bytes (padding extension 21). */
static void sized_hello(buf *m, size_t len) {
  static buf e;
  spec sp = {.sid_len = 32, .exts = &e};
  e.n = 0;
  ext_sni(&e, "big.example");
  ext(&e, 21, NULL, 0);
  hello_msg(m, &sp);
  assert_true(len >= m->n);
  size_t pad = len - m->n;
  e.n -= 4;
  uint8_t *zeros = calloc(1, pad + 1);
  ext(&e, 21, zeros, pad);
  free(zeros);
  hello_msg(m, &sp);
  assert_int_equal(m->n, len);
}

static void test_largest_hello_fits(void **state) {
  (void)state;
  static buf m, s;
  sized_hello(&m, WH_CH_MAX - 5); /* one record: exactly WH_CH_MAX bytes fed */
  one_record(&s, &m);
  assert_int_equal(s.n, WH_CH_MAX);
  assert_int_equal(run_buf(&s, &h), WH_CH_DONE);
  assert_string_equal(h.sni, "big.example");
  /* the same message in two records no longer fits */
  size_t sizes[] = {100, 0};
  records(&s, m.b, m.n, sizes);
  assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
  size_t used;
  assert_int_equal(feed_chunks(s.b, WH_CH_MAX, 1000, &h, &used), WH_CH_MORE);
  assert_int_equal(used, WH_CH_MAX);
}

static void test_handshake_length_over_buffer(void **state) {
  (void)state;
  static buf m, s;
  sized_hello(&m, WH_CH_MAX - 4); /* one byte too long for any framing */
  one_record(&s, &m);
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  /* refused once the 4-byte handshake header is in, without waiting for the body */
  assert_int_equal(wh_ch_reader_feed(&r, s.b, 8, NULL), WH_CH_MORE);
  assert_int_equal(wh_ch_reader_feed(&r, s.b + 8, 1, NULL), WH_CH_BAD);
  const uint8_t huge[] = {0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff};
  assert_int_equal(run(huge, sizeof huge, &h), WH_CH_BAD);
}

static void test_oversize_tiny_records(void **state) {
  (void)state;
  /* An acceptable handshake length, but 1-byte records make the stream six times longer: the
   * reader gives up after WH_CH_MAX bytes instead of buffering on. */
  static buf m, s;
  sized_hello(&m, 4000);
  size_t *sizes = calloc(m.n + 1, sizeof *sizes);
  for (size_t i = 0; i < m.n; i++)
    sizes[i] = 1;
  records(&s, m.b, m.n, sizes);
  free(sizes);
  wh_ch_reader r;
  wh_ch_reader_init(&r);
  assert_int_equal(wh_ch_reader_feed(&r, s.b, WH_CH_MAX, NULL), WH_CH_MORE);
  assert_int_equal(wh_ch_reader_consumed(&r), WH_CH_MAX);
  assert_int_equal(wh_ch_reader_feed(&r, s.b + WH_CH_MAX, 1, NULL), WH_CH_BAD);
  assert_non_null(strstr(wh_ch_reader_reason(&r), "WH_CH_MAX"));
  assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
}

/* ---- hello body ---------------------------------------------------------------------------- */

static wh_ch_status run_spec(const spec *sp) {
  static buf m, s;
  hello_msg(&m, sp);
  one_record(&s, &m);
  return run_buf(&s, &h);
}

static void test_no_extensions(void **state) {
  (void)state;
  spec sp = {.sid_len = 0};
  assert_int_equal(run_spec(&sp), WH_CH_DONE);
  assert_false(h.has_sni);
  assert_false(h.tls13);
  static buf empty;
  empty.n = 0;
  sp.exts = &empty; /* an empty extension block is fine too */
  assert_int_equal(run_spec(&sp), WH_CH_DONE);
}

static void test_body_field_limits(void **state) {
  (void)state;
  spec ok = {.sid_len = 32, .cipher_bytes = 2};
  assert_int_equal(run_spec(&ok), WH_CH_DONE);
  spec sid33 = {.sid_len = 33};
  assert_int_equal(run_spec(&sid33), WH_CH_BAD);
  spec odd = {.cipher_bytes = 3};
  assert_int_equal(run_spec(&odd), WH_CH_BAD);
  spec nociph = {.no_cipher = true};
  assert_int_equal(run_spec(&nociph), WH_CH_BAD);
  spec nocomp = {.no_comp = true};
  assert_int_equal(run_spec(&nocomp), WH_CH_BAD);
  spec v2 = {.legacy_version = 0x0200};
  assert_int_equal(run_spec(&v2), WH_CH_BAD);
  spec v10 = {.legacy_version = 0x0301};
  assert_int_equal(run_spec(&v10), WH_CH_DONE);
  assert_int_equal(h.legacy_version, 0x0301);
}

static void test_length_mismatches(void **state) {
  (void)state;
  static buf e, m, s;
  e.n = 0;
  ext_sni(&e, "a.example");
  spec sp = {.sid_len = 32, .exts = &e};
  hello_msg(&m, &sp);
  size_t ext_total = m.n - e.n - 2; /* offset of the extensions length */

  /* extensions total one too large / one too small */
  for (int d = -1; d <= 1; d += 2) {
    static buf mm;
    mm = m;
    unsigned v = (unsigned)(e.n + (size_t)(ptrdiff_t)d);
    mm.b[ext_total] = (uint8_t)(v >> 8);
    mm.b[ext_total + 1] = (uint8_t)v;
    one_record(&s, &mm);
    assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
  }
  /* a stray byte after the extensions, inside the handshake length */
  {
    static buf mm;
    mm = m;
    put8(&mm, 0);
    mm.b[3]++;
    one_record(&s, &mm);
    assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
  }
  /* a single byte where the extensions length should be */
  spec bare = {.sid_len = 0};
  hello_msg(&m, &bare);
  put8(&m, 0);
  m.b[3]++;
  one_record(&s, &m);
  assert_int_equal(run_buf(&s, &h), WH_CH_BAD);
  /* handshake length shorter than the fields it must hold */
  const uint8_t tiny[] = {0x16, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3};
  assert_int_equal(run(tiny, sizeof tiny, &h), WH_CH_BAD);
  /* an extension whose length runs past the block */
  e.n = 0;
  put16(&e, 0x1234);
  put16(&e, 5);
  put(&e, "abc", 3);
  assert_int_equal(run_exts(&e, &h), WH_CH_BAD);
}

static void test_duplicate_extension(void **state) {
  (void)state;
  static buf e;
  e.n = 0;
  ext_sni(&e, "a.example");
  ext_sni(&e, "b.example");
  assert_int_equal(run_exts(&e, &h), WH_CH_BAD);
  e.n = 0;
  ext(&e, 0xfe0d, "x", 1);
  ext(&e, 23, NULL, 0);
  ext(&e, 0xfe0d, "y", 1); /* unknown types are checked too */
  assert_int_equal(run_exts(&e, &h), WH_CH_BAD);
  e.n = 0;
  ext(&e, 0xfe0d, "x", 1);
  ext(&e, 0xfe0e, "x", 1);
  ext(&e, 0xffff, NULL, 0);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
}

/* ---- server_name ---------------------------------------------------------------------------- */

static void test_sni_normalised(void **state) {
  (void)state;
  assert_int_equal(run_sni("WWW.Example.COM.", &h), WH_CH_DONE);
  assert_true(h.has_sni);
  assert_string_equal(h.sni, "www.example.com");
  assert_int_equal(run_sni("a", &h), WH_CH_DONE);
  assert_string_equal(h.sni, "a");
  assert_int_equal(run_sni("_acme-challenge.x-1.example", &h), WH_CH_DONE);
  assert_string_equal(h.sni, "_acme-challenge.x-1.example");
  assert_int_equal(run_sni("10.0.0.1", &h), WH_CH_DONE);
}

static void test_sni_invalid(void **state) {
  (void)state;
  const char *bad[] = {"a b", "a/b", "a:443", "[::1]", "a*.example", "*.example",   "a..b", ".a",
                       "a..", ".",   "..",    "a\\b",  "a\rb",       "exa\xc3\xa9", "a\tb", "%41"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (run_sni(bad[i], &h) != WH_CH_BAD)
      fail_msg("SNI \"%s\" accepted", bad[i]);
  static buf e;
  e.n = 0;
  ext_sni_n(&e, "a\0b", 3);
  assert_int_equal(run_exts(&e, &h), WH_CH_BAD);
  e.n = 0;
  ext_sni_n(&e, "", 0);
  assert_int_equal(run_exts(&e, &h), WH_CH_BAD);
}

static void test_sni_length_limit(void **state) {
  (void)state;
  char name[300];
  memset(name, 'a', sizeof name);
  for (size_t i = 63; i < 256; i += 64)
    name[i] = '.';
  name[255] = '\0';
  assert_int_equal(run_sni(name, &h), WH_CH_DONE);
  assert_int_equal(strlen(h.sni), 255);
  assert_memory_equal(h.sni, name, 255);
  name[254] = '.'; /* 255 bytes with the trailing dot: 254 kept */
  assert_int_equal(run_sni(name, &h), WH_CH_DONE);
  assert_int_equal(strlen(h.sni), 254);
  name[254] = 'a';
  name[255] = 'a';
  name[256] = '\0';
  assert_int_equal(run_sni(name, &h), WH_CH_BAD);
  name[255] = '.'; /* 256 with a trailing dot is still over the limit */
  assert_int_equal(run_sni(name, &h), WH_CH_BAD);
}

static void test_sni_list_forms(void **state) {
  (void)state;
  static buf e;
  buf d = {.n = 0};
  /* an unknown name type is skipped, the host_name after it taken */
  put16(&d, 3 + 2 + 3 + 11);
  put8(&d, 7);
  put16(&d, 2);
  put(&d, "zz", 2);
  put8(&d, 0);
  put16(&d, 11);
  put(&d, "B.example.c", 11);
  e.n = 0;
  ext(&e, 0, d.b, d.n);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_string_equal(h.sni, "b.example.c");
  /* only an unknown type: no SNI */
  d.n = 0;
  put16(&d, 5);
  put8(&d, 7);
  put16(&d, 2);
  put(&d, "zz", 2);
  e.n = 0;
  ext(&e, 0, d.b, d.n);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_false(h.has_sni);
  /* two host_names */
  d.n = 0;
  put16(&d, 8);
  put8(&d, 0);
  put16(&d, 1);
  put(&d, "a", 1);
  put8(&d, 0);
  put16(&d, 1);
  put(&d, "b", 1);
  e.n = 0;
  ext(&e, 0, d.b, d.n);
  assert_int_equal(run_exts(&e, &h), WH_CH_BAD);
  /* list length one short, empty list, empty extension, name running past the list */
  const uint8_t *forms[] = {(const uint8_t *)"\x00\x03\x00\x00\x01z", (const uint8_t *)"\x00\x00",
                            (const uint8_t *)"", (const uint8_t *)"\x00\x04\x00\x00\x02z"};
  const size_t lens[] = {6, 2, 0, 6};
  for (size_t i = 0; i < 4; i++) {
    e.n = 0;
    ext(&e, 0, forms[i], lens[i]);
    if (run_exts(&e, &h) != WH_CH_BAD)
      fail_msg("server_name form %zu accepted", i);
  }
}

/* ---- ALPN and supported_versions ------------------------------------------------------------ */

static void test_alpn_list(void **state) {
  (void)state;
  static buf e;
  e.n = 0;
  const char *names[] = {"http/1.1", "h2", "acme-tls/1", NULL};
  ext_alpn(&e, names);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_true(h.has_alpn);
  assert_int_equal(h.nalpn, 3);
  assert_string_equal(h.alpn[0], "http/1.1");
  assert_string_equal(h.alpn[1], "h2");
  assert_string_equal(h.alpn[2], "acme-tls/1");

  char big[256];
  memset(big, 'p', 255);
  big[255] = '\0';
  const char *one[] = {big, NULL};
  e.n = 0;
  ext_alpn(&e, one);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_string_equal(h.alpn[0], big);
}

static void test_alpn_more_than_kept(void **state) {
  (void)state;
  static buf e;
  char names[20][4];
  const char *list[21];
  for (int i = 0; i < 20; i++) {
    snprintf(names[i], sizeof names[i], "p%d", i);
    list[i] = names[i];
  }
  list[20] = NULL;
  e.n = 0;
  ext_alpn(&e, list);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_int_equal(h.nalpn, WH_CH_MAX_ALPN);
  assert_true(h.alpn_truncated);
  assert_string_equal(h.alpn[0], "p0");
  assert_string_equal(h.alpn[15], "p15");
}

static void test_alpn_malformed(void **state) {
  (void)state;
  static buf e;
  const struct {
    const char *d;
    size_t n;
  } forms[] = {
      {"\x00\x00", 2},           /* empty list */
      {"", 0},                   /* no list */
      {"\x00\x02\x02h2", 5},     /* list length one short */
      {"\x00\x04\x02h2", 5},     /* list length one long */
      {"\x00\x04\x02h2\x00", 6}, /* empty protocol name */
      {"\x00\x03\x03h2", 5},     /* name past the list */
      {"\x00\x03\x02h2\x00", 6}, /* bytes after the list */
  };
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    e.n = 0;
    ext(&e, 16, forms[i].d, forms[i].n);
    if (run_exts(&e, &h) != WH_CH_BAD)
      fail_msg("ALPN form %zu accepted", i);
  }
  /* a name with a NUL byte is valid TLS but is not kept */
  e.n = 0;
  ext(&e, 16, "\x00\x07\x03h\x00x\x02h2", 9);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_int_equal(h.nalpn, 1);
  assert_string_equal(h.alpn[0], "h2");
}

static void test_supported_versions(void **state) {
  (void)state;
  static buf e;
  e.n = 0;
  ext(&e, 43, "\x04\x7f\x1c\x03\x03", 5);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_false(h.tls13);
  e.n = 0;
  ext(&e, 43, "\x06\x0a\x0a\x03\x03\x03\x04", 7);
  assert_int_equal(run_exts(&e, &h), WH_CH_DONE);
  assert_true(h.tls13);
  const struct {
    const char *d;
    size_t n;
  } bad[] = {
      {"\x03\x03\x04\x03", 4}, {"\x00", 1}, {"", 0}, {"\x04\x03\x04", 3}, {"\x02\x03\x04\x00", 4}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    e.n = 0;
    ext(&e, 43, bad[i].d, bad[i].n);
    if (run_exts(&e, &h) != WH_CH_BAD)
      fail_msg("supported_versions form %zu accepted", i);
  }
}

static void test_corrupted_real_hello_never_overreads(void **state) {
  (void)state;
  /* Every single-byte change of the real hello: the reader must not crash (ASan watches the
   * reads) and must never report a different SNI unless the SNI bytes changed. */
  static buf s;
  const size_t sni_at = 0x99; /* "A.Example." */
  assert_memory_equal(real_hello + sni_at, "A.Example.", 10);
  for (size_t i = 0; i < sizeof real_hello; i++) {
    const uint8_t deltas[] = {1, 0x80, 0xff};
    for (size_t d = 0; d < sizeof deltas; d++) {
      s.n = 0;
      put(&s, real_hello, sizeof real_hello);
      s.b[i] = (uint8_t)(s.b[i] + deltas[d]);
      memset(&h, 0, sizeof h);
      wh_ch_status st = feed_chunks(s.b, s.n, 1 + i % 5, &h, NULL);
      if (st == WH_CH_DONE && h.has_sni && (i < sni_at || i >= sni_at + 10))
        assert_string_equal(h.sni, "a.example");
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_whole),
      cmocka_unit_test(test_real_one_byte_pieces),
      cmocka_unit_test(test_real_every_piece_size),
      cmocka_unit_test(test_real_two_records_every_split),
      cmocka_unit_test(test_real_three_records),
      cmocka_unit_test(test_real_one_byte_records),
      cmocka_unit_test(test_no_sni),
      cmocka_unit_test(test_tls12_only),
      cmocka_unit_test(test_bytes_after_hello_not_consumed),
      cmocka_unit_test(test_status_is_sticky),
      cmocka_unit_test(test_empty_feed),
      cmocka_unit_test(test_parse_message_direct),
      cmocka_unit_test(test_plaintext_http_decided_on_first_byte),
      cmocka_unit_test(test_sslv2_and_other_first_bytes_not_tls),
      cmocka_unit_test(test_junk_after_0x16),
      cmocka_unit_test(test_record_version_major),
      cmocka_unit_test(test_non_handshake_record_mid_hello),
      cmocka_unit_test(test_record_lengths),
      cmocka_unit_test(test_truncated_stays_more),
      cmocka_unit_test(test_largest_hello_fits),
      cmocka_unit_test(test_handshake_length_over_buffer),
      cmocka_unit_test(test_oversize_tiny_records),
      cmocka_unit_test(test_no_extensions),
      cmocka_unit_test(test_body_field_limits),
      cmocka_unit_test(test_length_mismatches),
      cmocka_unit_test(test_duplicate_extension),
      cmocka_unit_test(test_sni_normalised),
      cmocka_unit_test(test_sni_invalid),
      cmocka_unit_test(test_sni_length_limit),
      cmocka_unit_test(test_sni_list_forms),
      cmocka_unit_test(test_alpn_list),
      cmocka_unit_test(test_alpn_more_than_kept),
      cmocka_unit_test(test_alpn_malformed),
      cmocka_unit_test(test_supported_versions),
      cmocka_unit_test(test_corrupted_real_hello_never_overreads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
