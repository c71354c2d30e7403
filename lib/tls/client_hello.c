#include "lib/tls/client_hello.h"

#include <string.h>

#define REC_HANDSHAKE 0x16
#define HS_CLIENT_HELLO 1
#define HS_HDR 4
#define REC_HDR 5

#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43

/* A bounds-checked read cursor: every get fails instead of reading past end. */
typedef struct {
  const uint8_t *p;
  size_t left;
} cur;

static bool get_u8(cur *c, unsigned *v) {
  if (c->left < 1)
    return false;
  *v = c->p[0];
  c->p++;
  c->left--;
  return true;
}

static bool get_u16(cur *c, unsigned *v) {
  if (c->left < 2)
    return false;
  *v = (unsigned)c->p[0] << 8 | c->p[1];
  c->p += 2;
  c->left -= 2;
  return true;
}

static bool get_bytes(cur *c, size_t n, cur *sub) {
  if (c->left < n)
    return false;
  sub->p = c->p;
  sub->left = n;
  c->p += n;
  c->left -= n;
  return true;
}

/* A vector with a 1- or 2-byte length prefix. */
static bool get_vec8(cur *c, cur *sub) {
  unsigned n;
  return get_u8(c, &n) && get_bytes(c, n, sub);
}

static bool get_vec16(cur *c, cur *sub) {
  unsigned n;
  return get_u16(c, &n) && get_bytes(c, n, sub);
}

/* Validates a host_name and stores it lowercased without its trailing dot. Only letters, digits,
 * '-', '.', '_' (underscore is common in real names) and no empty label: the result is compared
 * with HostSNI rules and certificate names, so anything odd is refused rather than normalised. */
static bool take_host_name(const uint8_t *p, size_t n, char out[256]) {
  if (n < 1 || n > 255)
    return false;
  if (p[n - 1] == '.')
    n--;
  if (n == 0)
    return false;
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t ch = p[i];
    if (ch == '.') {
      if (label == 0)
        return false;
      label = 0;
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
      label++;
    } else if (ch >= 'A' && ch <= 'Z') {
      ch = (uint8_t)(ch - 'A' + 'a');
      label++;
    } else {
      return false;
    }
    out[i] = (char)ch;
  }
  if (label == 0)
    return false; /* "a.." leaves an empty last label */
  out[n] = '\0';
  return true;
}

/* RFC 6066: a list of (name_type, opaque name<1..2^16-1>); at most one host_name. OpenSSL
 * refuses anything but a single host_name; other types are skipped here as the RFC allows. */
static const char *parse_server_name(cur ext, wh_client_hello *out) {
  cur list;
  if (!get_vec16(&ext, &list) || ext.left != 0)
    return "server_name: list length mismatch";
  if (list.left == 0)
    return "server_name: empty list";
  while (list.left > 0) {
    unsigned type;
    cur name;
    if (!get_u8(&list, &type) || !get_vec16(&list, &name))
      return "server_name: truncated entry";
    if (type != 0)
      continue;
    if (out->has_sni)
      return "server_name: two host_name entries";
    if (!take_host_name(name.p, name.left, out->sni))
      return "server_name: invalid host_name";
    out->has_sni = true;
  }
  return NULL;
}

static const char *parse_alpn(cur ext, wh_client_hello *out) {
  cur list;
  if (!get_vec16(&ext, &list) || ext.left != 0)
    return "alpn: list length mismatch";
  if (list.left == 0)
    return "alpn: empty list";
  out->has_alpn = true;
  while (list.left > 0) {
    cur name;
    if (!get_vec8(&list, &name))
      return "alpn: truncated protocol name";
    if (name.left == 0)
      return "alpn: empty protocol name";
    if (memchr(name.p, '\0', name.left))
      continue;
    if (out->nalpn == WH_CH_MAX_ALPN) {
      out->alpn_truncated = true;
      continue; /* keep validating the rest */
    }
    memcpy(out->alpn[out->nalpn], name.p, name.left);
    out->alpn[out->nalpn][name.left] = '\0';
    out->nalpn++;
  }
  return NULL;
}

static const char *parse_supported_versions(cur ext, wh_client_hello *out) {
  cur list;
  if (!get_vec8(&ext, &list) || ext.left != 0)
    return "supported_versions: length mismatch";
  if (list.left == 0 || list.left % 2 != 0)
    return "supported_versions: bad list length";
  unsigned v;
  while (get_u16(&list, &v))
    if (v == 0x0304)
      out->tls13 = true;
  return NULL;
}

static const char *parse_extensions(cur c, wh_client_hello *out) {
  cur exts;
  if (!get_vec16(&c, &exts) || c.left != 0)
    return "extensions length mismatch";
  /* One bit per extension type: a hello of up to 16 KiB can hold thousands of extensions, so
   * a pairwise duplicate check would be quadratic. */
  uint8_t seen[65536 / 8];
  memset(seen, 0, sizeof seen);
  while (exts.left > 0) {
    unsigned type;
    cur data;
    if (!get_u16(&exts, &type) || !get_vec16(&exts, &data))
      return "truncated extension";
    if (seen[type >> 3] & (1u << (type & 7)))
      return "duplicate extension";
    seen[type >> 3] |= (uint8_t)(1u << (type & 7));
    const char *err = NULL;
    switch (type) {
    case EXT_SERVER_NAME:
      err = parse_server_name(data, out);
      break;
    case EXT_ALPN:
      err = parse_alpn(data, out);
      break;
    case EXT_SUPPORTED_VERSIONS:
      err = parse_supported_versions(data, out);
      break;
    default:
      break;
    }
    if (err)
      return err;
  }
  return NULL;
}

static const char *parse_message(const uint8_t *msg, size_t len, wh_client_hello *out) {
  memset(out, 0, sizeof *out);
  cur c = {msg, len};
  unsigned type, hi, lo, v;
  cur body, skip;
  if (!get_u8(&c, &type) || type != HS_CLIENT_HELLO)
    return "not a client_hello";
  if (!get_u8(&c, &hi) || !get_u16(&c, &lo))
    return "truncated handshake header";
  if (!get_bytes(&c, (size_t)hi << 16 | lo, &body) || c.left != 0)
    return "handshake length mismatch";
  if (!get_u16(&body, &v))
    return "truncated legacy_version";
  if (v >> 8 != 3)
    return "legacy_version major is not 3";
  out->legacy_version = (uint16_t)v;
  if (!get_bytes(&body, 32, &skip))
    return "truncated random";
  if (!get_vec8(&body, &skip))
    return "truncated session_id";
  if (skip.left > 32)
    return "session_id over 32 bytes";
  if (!get_vec16(&body, &skip))
    return "truncated cipher_suites";
  if (skip.left < 2 || skip.left % 2 != 0)
    return "bad cipher_suites length";
  if (!get_vec8(&body, &skip))
    return "truncated compression_methods";
  if (skip.left < 1)
    return "no compression method";
  if (body.left == 0)
    return NULL; /* extensions are optional (pre-TLS 1.2 clients) */
  return parse_extensions(body, out);
}

wh_ch_status wh_ch_parse_message(const uint8_t *msg, size_t len, wh_client_hello *out,
                                 const char **reason) {
  wh_client_hello scratch;
  const char *err = parse_message(msg, len, out ? out : &scratch);
  if (reason)
    *reason = err;
  if (err && out)
    memset(out, 0, sizeof *out); /* never hand out half a hello */
  return err ? WH_CH_BAD : WH_CH_DONE;
}

void wh_ch_reader_init(wh_ch_reader *r) {
  /* Only the header fields: msg is written before it is read, and clearing 16 KiB per
   * connection would be wasted work. */
  r->status = WH_CH_MORE;
  r->reason = NULL;
  r->fed = 0;
  r->rec_hdr_got = 0;
  r->rec_left = 0;
  r->msg_len = 0;
  r->msg_need = 0;
}

static wh_ch_status fail(wh_ch_reader *r, wh_ch_status st, const char *why) {
  r->status = st;
  r->reason = why;
  return st;
}

/* Called when the record header is complete. */
static const char *check_record(const wh_ch_reader *r) {
  const uint8_t *h = r->rec_hdr;
  size_t rlen = (size_t)h[3] << 8 | h[4];
  if (h[0] != REC_HANDSHAKE)
    return "non-handshake record before the client_hello is complete";
  if (h[1] != 3)
    return "record version major is not 3";
  if (rlen > WH_CH_MAX_RECORD)
    return "record too long";
  if (rlen == 0)
    return "empty handshake record"; /* RFC 8446 5.1 forbids them */
  return NULL;
}

/* Called as message bytes arrive: rejects as soon as the type or length is known to be wrong. */
static const char *check_message_header(wh_ch_reader *r) {
  if (r->msg_len >= 1 && r->msg[0] != HS_CLIENT_HELLO)
    return "first handshake message is not a client_hello";
  if (r->msg_len == HS_HDR && r->msg_need == 0) {
    size_t body = (size_t)r->msg[1] << 16 | (size_t)r->msg[2] << 8 | r->msg[3];
    /* The message plus at least one record header must fit in WH_CH_MAX, or it never will. */
    if (body > WH_CH_MAX - REC_HDR - HS_HDR)
      return "client_hello longer than the buffer";
    r->msg_need = HS_HDR + body;
  }
  return NULL;
}

wh_ch_status wh_ch_reader_feed(wh_ch_reader *r, const uint8_t *data, size_t len,
                               wh_client_hello *out) {
  if (r->status == WH_CH_DONE && out)
    (void)wh_ch_parse_message(r->msg, r->msg_len, out, NULL);
  if (r->status != WH_CH_MORE)
    return r->status;
  while (len > 0) {
    if (r->fed == WH_CH_MAX)
      return fail(r, WH_CH_BAD, "client_hello not complete within WH_CH_MAX bytes");
    size_t room = WH_CH_MAX - r->fed;
    size_t n;
    if (r->rec_hdr_got < REC_HDR) {
      if (r->fed == 0 && data[0] != REC_HANDSHAKE)
        return fail(r, WH_CH_NOT_TLS, "first byte is not a TLS handshake record");
      n = REC_HDR - r->rec_hdr_got;
      n = n < len ? n : len;
      n = n < room ? n : room;
      memcpy(r->rec_hdr + r->rec_hdr_got, data, n);
      r->rec_hdr_got = (uint8_t)(r->rec_hdr_got + n);
      /* Type and version are checked as soon as their bytes arrive, so junk after a 0x16 is
       * refused at once rather than after a record header's worth of it. */
      if (r->rec_hdr[0] != REC_HANDSHAKE)
        return fail(r, WH_CH_BAD, "non-handshake record before the client_hello is complete");
      if (r->rec_hdr_got >= 2 && r->rec_hdr[1] != 3)
        return fail(r, WH_CH_BAD, "record version major is not 3");
      if (r->rec_hdr_got == REC_HDR) {
        const char *err = check_record(r);
        if (err)
          return fail(r, WH_CH_BAD, err);
        r->rec_left = (size_t)r->rec_hdr[3] << 8 | r->rec_hdr[4];
      }
    } else {
      size_t want = r->msg_need ? r->msg_need - r->msg_len : HS_HDR - r->msg_len;
      n = r->rec_left;
      n = n < len ? n : len;
      n = n < room ? n : room;
      n = n < want ? n : want;
      memcpy(r->msg + r->msg_len, data, n);
      r->msg_len += n;
      r->rec_left -= n;
      if (r->rec_left == 0)
        r->rec_hdr_got = 0;
      const char *err = check_message_header(r);
      if (err)
        return fail(r, WH_CH_BAD, err);
      if (r->msg_need && r->msg_len == r->msg_need) {
        r->fed += n;
        const char *why;
        if (wh_ch_parse_message(r->msg, r->msg_len, out, &why) != WH_CH_DONE)
          return fail(r, WH_CH_BAD, why);
        r->status = WH_CH_DONE;
        return WH_CH_DONE;
      }
    }
    r->fed += n;
    data += n;
    len -= n;
  }
  return WH_CH_MORE;
}

const char *wh_ch_reader_reason(const wh_ch_reader *r) {
  return r->reason;
}

size_t wh_ch_reader_consumed(const wh_ch_reader *r) {
  return r->fed;
}
