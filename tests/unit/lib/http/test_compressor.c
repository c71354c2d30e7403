/* lib/http/compressor.c: streams encoded in pieces decode to the input, each
 * write is decodable on its own (flushed), names parse both ways. br is
 * decoded by the brotli command in tests/integration/test_mw_compress.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "lib/http/compressor.h"

static unsigned char *sample(size_t n) {
  unsigned char *b = malloc(n);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    /* half text-like (compressible), half noise */
    b[i] = (i / 4096) % 2 ? (unsigned char)(x >> 24) : (unsigned char)("abcdefgh"[(x >> 28) & 7]);
  }
  return b;
}

static size_t gunzip(const char *in, size_t n, unsigned char *out, size_t cap, bool *ended) {
  z_stream z;
  memset(&z, 0, sizeof(z));
  assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int rc = inflate(&z, Z_SYNC_FLUSH);
  *ended = rc == Z_STREAM_END;
  assert_true(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
  size_t got = cap - z.avail_out;
  inflateEnd(&z);
  return got;
}

static void roundtrip(wh_encoding e, size_t n, size_t piece) {
  unsigned char *in = sample(n);
  wh_compressor *z = wh_compressor_new(e);
  assert_non_null(z);
  wh_strbuf out = {0};
  for (size_t off = 0; off < n; off += piece) {
    size_t len = n - off < piece ? n - off : piece;
    assert_int_equal(wh_compressor_write(z, in + off, len, &out), 0);
  }
  assert_int_equal(wh_compressor_finish(z, &out), 0);
  wh_compressor_free(z);
  unsigned char *dec = malloc(n + 16);
  size_t got;
  if (e == WH_ENC_GZIP) {
    bool ended;
    got = gunzip(out.data, out.len, dec, n + 16, &ended);
    assert_true(ended);
  } else {
    got = ZSTD_decompress(dec, n + 16, out.data, out.len);
    assert_false(ZSTD_isError(got));
  }
  assert_int_equal(got, n);
  assert_memory_equal(dec, in, n);
  free(dec);
  free(in);
  wh_strbuf_free(&out);
}

static void test_gzip_roundtrip(void **state) {
  (void)state;
  roundtrip(WH_ENC_GZIP, 300000, 65536);
  roundtrip(WH_ENC_GZIP, 1000, 7);
  roundtrip(WH_ENC_GZIP, 0, 1);
}

static void test_zstd_roundtrip(void **state) {
  (void)state;
  roundtrip(WH_ENC_ZSTD, 300000, 65536);
  roundtrip(WH_ENC_ZSTD, 1000, 13);
}

/* What one write produced decodes to that write's bytes before the stream
 * ends: a streamed response is never held back by the encoder. */
static void test_each_write_is_flushed(void **state) {
  (void)state;
  wh_compressor *z = wh_compressor_new(WH_ENC_GZIP);
  wh_strbuf out = {0};
  assert_int_equal(wh_compressor_write(z, "data: hello\n\n", 13, &out), 0);
  unsigned char dec[64];
  bool ended;
  size_t got = gunzip(out.data, out.len, dec, sizeof(dec), &ended);
  assert_false(ended);
  assert_int_equal(got, 13);
  assert_memory_equal(dec, "data: hello\n\n", 13);
  wh_compressor_free(z);
  wh_strbuf_free(&out);
}

static void test_text_shrinks(void **state) {
  (void)state;
  char text[20000];
  for (size_t i = 0; i < sizeof(text); i++)
    text[i] = "the quick brown fox "[i % 20];
  for (wh_encoding e = WH_ENC_GZIP; e <= WH_ENC_ZSTD; e++) {
    wh_compressor *z = wh_compressor_new(e);
    wh_strbuf out = {0};
    assert_int_equal(wh_compressor_write(z, text, sizeof(text), &out), 0);
    assert_int_equal(wh_compressor_finish(z, &out), 0);
    assert_true(out.len < sizeof(text) / 10);
    wh_compressor_free(z);
    wh_strbuf_free(&out);
  }
}

static void test_names(void **state) {
  (void)state;
  assert_int_equal(wh_encoding_parse("gzip", 4), WH_ENC_GZIP);
  assert_int_equal(wh_encoding_parse("GZIP", 4), WH_ENC_GZIP);
  assert_int_equal(wh_encoding_parse("br", 2), WH_ENC_BR);
  assert_int_equal(wh_encoding_parse("zstd", 4), WH_ENC_ZSTD);
  assert_int_equal(wh_encoding_parse("deflate", 7), WH_ENC_NONE);
  assert_int_equal(wh_encoding_parse("gzipx", 5), WH_ENC_NONE);
  assert_int_equal(wh_encoding_parse("", 0), WH_ENC_NONE);
  assert_string_equal(wh_encoding_name(WH_ENC_BR), "br");
  assert_null(wh_encoding_name(WH_ENC_NONE));
  assert_null(wh_compressor_new(WH_ENC_NONE));
  wh_compressor_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gzip_roundtrip),
      cmocka_unit_test(test_zstd_roundtrip),
      cmocka_unit_test(test_each_write_is_flushed),
      cmocka_unit_test(test_text_shrinks),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
