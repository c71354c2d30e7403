/* A streaming response-body encoder (gzip through zlib, br through
 * libbrotli, zstd through libzstd) for the compress middleware. Each write
 * is flushed so that what the backend streams (server-sent events, long
 * polls) reaches the client without waiting for more: a little ratio traded
 * for never holding bytes back. Loop thread of one exchange. */
#ifndef WH_HTTP_COMPRESSOR_H
#define WH_HTTP_COMPRESSOR_H

#include <stddef.h>

#include "lib/core/str.h"

typedef enum { WH_ENC_NONE = 0, WH_ENC_GZIP, WH_ENC_BR, WH_ENC_ZSTD } wh_encoding;

typedef struct wh_compressor wh_compressor;

/* "gzip", "br", "zstd" (and back); WH_ENC_NONE / NULL for anything else. */
wh_encoding wh_encoding_parse(const char *name, size_t len);
const char *wh_encoding_name(wh_encoding e);

/* NULL on OOM or WH_ENC_NONE. */
wh_compressor *wh_compressor_new(wh_encoding e);
/* Appends the encoded form of in (flushed) to out. 0 or <0. */
int wh_compressor_write(wh_compressor *z, const void *in, size_t len, wh_strbuf *out);
/* Appends the end of the stream to out. 0 or <0. */
int wh_compressor_finish(wh_compressor *z, wh_strbuf *out);
void wh_compressor_free(wh_compressor *z); /* NULL-safe */

#endif
