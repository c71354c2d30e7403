/* libFuzzer target for the PROXY protocol codec. Beyond "no crash", it checks
 * what the accept path relies on: a verdict on a prefix never changes as bytes
 * are appended (MORE until DONE, and ABSENT/BAD/DONE are final), *out is only
 * written on DONE, header_len stays within the input and the caps, and every
 * parsed address survives wh_pp_write -> wh_pp_parse in both versions. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/net/proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok) {
  if (!ok)
    __builtin_trap();
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family)
    return false;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
    return x->sin_port == y->sin_port && memcmp(&x->sin_addr, &y->sin_addr, 4) == 0;
  }
  const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a,
                            *y = (const struct sockaddr_in6 *)b;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static void roundtrip(const wh_pp_result *r) {
  for (int v = 1; v <= 2; v++) {
    uint8_t buf[WH_PP_V1_WRITE_MAX];
    int n = wh_pp_write(v, (const struct sockaddr *)&r->src, (const struct sockaddr *)&r->dst, buf,
                        sizeof buf);
    check(n > 0 && (size_t)n <= (v == 1 ? WH_PP_V1_WRITE_MAX : WH_PP_V2_WRITE_MAX));
    wh_pp_result back;
    check(wh_pp_parse(buf, (size_t)n, &back) == WH_PP_DONE);
    check(!back.local && back.header_len == (size_t)n);
    check(same_addr(&back.src, &r->src) && same_addr(&back.dst, &r->dst));
    /* one byte short of room must fail cleanly */
    check(wh_pp_write(v, (const struct sockaddr *)&r->src, (const struct sockaddr *)&r->dst, buf,
                      (size_t)n - 1) < 0);
  }
}

static wh_pp_status parse_guarded(const uint8_t *data, size_t len, wh_pp_result *r) {
  wh_pp_result before;
  memset(r, 0x5a, sizeof *r);
  before = *r;
  wh_pp_status st = wh_pp_parse(data, len, r);
  check(st == WH_PP_MORE || st == WH_PP_DONE || st == WH_PP_ABSENT || st == WH_PP_BAD);
  if (st != WH_PP_DONE)
    check(memcmp(r, &before, sizeof *r) == 0);
  return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > WH_PP_MAX_HEADER + 64)
    return 0;
  /* A copy of exactly size bytes, so ASan catches any read past the end. */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);

  wh_pp_result full;
  wh_pp_status st = parse_guarded(copy, size, &full);
  if (st == WH_PP_DONE) {
    check(full.header_len > 0 && full.header_len <= size);
    check(full.header_len <= WH_PP_MAX_HEADER);
    if (copy[0] == 'P')
      check(full.header_len <= WH_PP_V1_MAX_LEN);
    if (!full.local) {
      check(full.src.ss_family == AF_INET || full.src.ss_family == AF_INET6);
      check(full.src.ss_family == full.dst.ss_family);
      roundtrip(&full);
    }
  }
  if (st == WH_PP_ABSENT || st == WH_PP_BAD || st == WH_PP_DONE)
    check(size > 0);

  /* Prefixes: every one is MORE or already carries the final verdict. The
   * first bytes are where decisions happen; past them only a few lengths. */
  size_t dense = size < 200 ? size : 200;
  for (size_t k = 0; k <= size; k = k < dense ? k + 1 : k + 1 + (size - k) / 4) {
    wh_pp_result r;
    wh_pp_status sk = parse_guarded(copy, k, &r);
    if (st == WH_PP_DONE && k < full.header_len) {
      check(sk == WH_PP_MORE);
      continue;
    }
    if (sk != WH_PP_MORE) {
      check(sk == st);
      if (sk == WH_PP_DONE)
        check(r.header_len == full.header_len && r.local == full.local);
    }
  }
  free(copy);
  return 0;
}
