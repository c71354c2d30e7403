/* libFuzzer target for the ClientHello reader. The first input byte chooses how the rest (the
 * connection's bytes) is cut into feeds; the stream is read once whole and once in those pieces,
 * and both readings must agree. A result must also satisfy what routing relies on: a valid,
 * normalised SNI, bounded ALPN names, nothing consumed past the cap. Seeds in
 * tests/fuzz/corpus/client_hello/ therefore start with one selector byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tls/client_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1-byte pieces for selector 0, else pseudo-random sizes up to a bound taken from it. */
static size_t next_piece(uint32_t *state, uint8_t sel) {
  if (sel == 0)
    return 1;
  *state = *state * 1103515245u + 12345u;
  uint32_t bound = (sel & 0x80) ? 1u + (sel & 0x0f) : 1u + (uint32_t)sel * 64u;
  return 1 + (*state >> 8) % bound;
}

static void check_hello(const wh_client_hello *h) {
  size_t n = strnlen(h->sni, sizeof h->sni);
  if (n == sizeof h->sni || h->has_sni != (n > 0))
    __builtin_trap();
  for (size_t i = 0; i < n; i++) {
    char c = h->sni[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              (c == '.' && i > 0 && i + 1 < n && h->sni[i - 1] != '.');
    if (!ok)
      __builtin_trap();
  }
  if (h->nalpn > WH_CH_MAX_ALPN || (h->nalpn > 0 && !h->has_alpn))
    __builtin_trap();
  for (size_t i = 0; i < h->nalpn; i++) {
    size_t l = strnlen(h->alpn[i], sizeof h->alpn[i]);
    if (l == 0 || l == sizeof h->alpn[i])
      __builtin_trap();
  }
  if (h->legacy_version >> 8 != 3)
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t sel = data[0];
  const uint8_t *s = data + 1;
  size_t n = size - 1;

  static wh_ch_reader whole, pieces; /* 16 KiB each: not on the stack */
  static wh_client_hello hw, hp;
  memset(&hw, 0, sizeof hw);
  memset(&hp, 0, sizeof hp);

  wh_ch_reader_init(&whole);
  wh_ch_status sw = wh_ch_reader_feed(&whole, s, n, &hw);

  wh_ch_reader_init(&pieces);
  wh_ch_status sp = WH_CH_MORE;
  uint32_t state = sel;
  for (size_t off = 0; off < n && sp == WH_CH_MORE;) {
    size_t k = next_piece(&state, sel);
    if (k > n - off)
      k = n - off;
    sp = wh_ch_reader_feed(&pieces, s + off, k, &hp);
    off += k;
  }

  if (sw != sp)
    __builtin_trap();
  size_t used = wh_ch_reader_consumed(&whole);
  if (used > n || used > WH_CH_MAX || wh_ch_reader_consumed(&pieces) > n)
    __builtin_trap();
  if ((sw == WH_CH_MORE || sw == WH_CH_DONE) && used != wh_ch_reader_consumed(&pieces))
    __builtin_trap();
  if (n > 0 && (sw == WH_CH_NOT_TLS) != (s[0] != 0x16))
    __builtin_trap();
  if (sw == WH_CH_MORE && used != n)
    __builtin_trap();
  if ((sw == WH_CH_BAD || sw == WH_CH_NOT_TLS) != (wh_ch_reader_reason(&whole) != NULL))
    __builtin_trap();
  if (sw == WH_CH_DONE) {
    if (memcmp(&hw, &hp, sizeof hw) != 0)
      __builtin_trap();
    check_hello(&hw);
    /* a later feed repeats the answer */
    memset(&hp, 0, sizeof hp);
    if (wh_ch_reader_feed(&pieces, s, n, &hp) != WH_CH_DONE || memcmp(&hw, &hp, sizeof hw) != 0)
      __builtin_trap();
  }
  return 0;
}
