#include "lib/http/compressor.h"

#include <brotli/encode.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#include "lib/core/err.h"

/* Levels: fast ones, as a proxy compresses on the request path (Traefik's
 * defaults are gzip 5-ish, brotli 4-ish; nginx gzip_comp_level 1). */
#define GZIP_LEVEL 5
#define BR_QUALITY 4
#define ZSTD_LEVEL 3
#define OUT_STEP 16384

struct wh_compressor {
  wh_encoding enc;
  z_stream z;
  BrotliEncoderState *br;
  ZSTD_CCtx *zs;
};

wh_encoding wh_encoding_parse(const char *name, size_t len) {
  if (len == 4 && strncasecmp(name, "gzip", 4) == 0)
    return WH_ENC_GZIP;
  if (len == 2 && strncasecmp(name, "br", 2) == 0)
    return WH_ENC_BR;
  if (len == 4 && strncasecmp(name, "zstd", 4) == 0)
    return WH_ENC_ZSTD;
  return WH_ENC_NONE;
}

const char *wh_encoding_name(wh_encoding e) {
  switch (e) {
  case WH_ENC_GZIP:
    return "gzip";
  case WH_ENC_BR:
    return "br";
  case WH_ENC_ZSTD:
    return "zstd";
  default:
    return NULL;
  }
}

wh_compressor *wh_compressor_new(wh_encoding e) {
  wh_compressor *z = calloc(1, sizeof(*z));
  if (!z)
    return NULL;
  z->enc = e;
  switch (e) {
  case WH_ENC_GZIP:
    /* 15 + 16: a gzip wrapper, as Content-Encoding: gzip means */
    if (deflateInit2(&z->z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      goto fail;
    return z;
  case WH_ENC_BR:
    z->br = BrotliEncoderCreateInstance(NULL, NULL, NULL);
    if (!z->br)
      goto fail;
    BrotliEncoderSetParameter(z->br, BROTLI_PARAM_QUALITY, BR_QUALITY);
    return z;
  case WH_ENC_ZSTD:
    z->zs = ZSTD_createCCtx();
    if (!z->zs)
      goto fail;
    ZSTD_CCtx_setParameter(z->zs, ZSTD_c_compressionLevel, ZSTD_LEVEL);
    return z;
  default:
    break;
  }
fail:
  free(z);
  return NULL;
}

/* Makes room for at least OUT_STEP more bytes at the end of out. */
static int reserve(wh_strbuf *out) {
  return wh_strbuf_reserve(out, OUT_STEP) < 0 ? WH_ENOMEM : 0;
}

/* The room after len, keeping the strbuf's NUL slot. */
static size_t room_of(const wh_strbuf *out) {
  return out->cap - out->len - 1;
}

static int gzip_run(wh_compressor *z, const void *in, size_t len, int flush, wh_strbuf *out) {
  z->z.next_in = (Bytef *)in;
  z->z.avail_in = (uInt)len;
  for (;;) {
    if (reserve(out) < 0)
      return WH_ENOMEM;
    size_t room = room_of(out);
    z->z.next_out = (Bytef *)out->data + out->len;
    z->z.avail_out = (uInt)room;
    int rc = deflate(&z->z, flush);
    out->len += room - z->z.avail_out;
    if (rc == Z_STREAM_END)
      return 0;
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return WH_ERR;
    /* done when deflate left output space unused: all input taken, flushed */
    if (z->z.avail_out != 0 && z->z.avail_in == 0)
      return 0;
  }
}

static int br_run(wh_compressor *z, const void *in, size_t len, BrotliEncoderOperation op,
                  wh_strbuf *out) {
  size_t avail_in = len;
  const uint8_t *next_in = in;
  for (;;) {
    if (reserve(out) < 0)
      return WH_ENOMEM;
    size_t avail_out = room_of(out);
    uint8_t *next_out = (uint8_t *)out->data + out->len;
    size_t before = avail_out;
    if (!BrotliEncoderCompressStream(z->br, op, &avail_in, &next_in, &avail_out, &next_out, NULL))
      return WH_ERR;
    out->len += before - avail_out;
    if (avail_in == 0 && !BrotliEncoderHasMoreOutput(z->br))
      return 0;
  }
}

static int zstd_run(wh_compressor *z, const void *in, size_t len, ZSTD_EndDirective op,
                    wh_strbuf *out) {
  ZSTD_inBuffer ib = {in, len, 0};
  for (;;) {
    if (reserve(out) < 0)
      return WH_ENOMEM;
    ZSTD_outBuffer ob = {out->data + out->len, room_of(out), 0};
    size_t left = ZSTD_compressStream2(z->zs, &ob, &ib, op);
    if (ZSTD_isError(left))
      return WH_ERR;
    out->len += ob.pos;
    if (left == 0 && ib.pos == ib.size)
      return 0;
  }
}

int wh_compressor_write(wh_compressor *z, const void *in, size_t len, wh_strbuf *out) {
  switch (z->enc) {
  case WH_ENC_GZIP:
    return gzip_run(z, in, len, Z_SYNC_FLUSH, out);
  case WH_ENC_BR:
    return br_run(z, in, len, BROTLI_OPERATION_FLUSH, out);
  case WH_ENC_ZSTD:
    return zstd_run(z, in, len, ZSTD_e_flush, out);
  default:
    return WH_EINVAL;
  }
}

int wh_compressor_finish(wh_compressor *z, wh_strbuf *out) {
  switch (z->enc) {
  case WH_ENC_GZIP:
    return gzip_run(z, "", 0, Z_FINISH, out);
  case WH_ENC_BR:
    return br_run(z, "", 0, BROTLI_OPERATION_FINISH, out);
  case WH_ENC_ZSTD:
    return zstd_run(z, "", 0, ZSTD_e_end, out);
  default:
    return WH_EINVAL;
  }
}

void wh_compressor_free(wh_compressor *z) {
  if (!z)
    return;
  if (z->enc == WH_ENC_GZIP)
    deflateEnd(&z->z);
  if (z->br)
    BrotliEncoderDestroyInstance(z->br);
  if (z->zs)
    ZSTD_freeCCtx(z->zs);
  free(z);
}
