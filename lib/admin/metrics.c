#include "lib/admin/metrics.h"

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "lib/tls/cert_store.h"
#include "lib/tls/certificate.h"
#include "lib/tls/server.h"

/* A label value in the text format: backslash, double quote and newline
 * escaped. */
static void label_value(wh_strbuf *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      wh_strbuf_printf(b, "\\%c", *v);
    else if (*v == '\n')
      wh_strbuf_puts(b, "\\n");
    else
      wh_strbuf_append(b, v, 1);
  }
}

/* The leaf's serial number in decimal, as Go's big.Int prints it. */
static char *serial_decimal(const wh_cert *c) {
  const ASN1_INTEGER *sn = X509_get0_serialNumber(c->x509);
  BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
  char *dec = bn ? BN_bn2dec(bn) : NULL;
  BN_free(bn);
  char *out = wh_strdup(dec ? dec : "");
  OPENSSL_free(dec);
  return out;
}

static const char *subject_cn(const wh_cert *c, char *buf, size_t cap) {
  buf[0] = '\0';
  X509_NAME *n = X509_get_subject_name(c->x509);
  if (n)
    X509_NAME_get_text_by_NID(n, NID_commonName, buf, (int)cap);
  return buf;
}

static void cert_gauge(wh_strbuf *b, const wh_cert *c) {
  char cn[256];
  char *serial = serial_decimal(c);
  wh_strbuf_puts(b, "traefik_tls_certs_not_after{cn=\"");
  label_value(b, subject_cn(c, cn, sizeof(cn)));
  wh_strbuf_puts(b, "\",sans=\"");
  for (size_t i = 0; i < c->nnames; i++) {
    if (i)
      wh_strbuf_puts(b, ",");
    label_value(b, c->names[i]);
  }
  wh_strbuf_puts(b, "\",serial=\"");
  label_value(b, serial ? serial : "");
  wh_strbuf_printf(b, "\"} %lld\n", (long long)c->not_after);
  free(serial);
}

void wh_metrics_handle(const wh_snapshot *snap, wh_http_resp *resp) {
  wh_strbuf b = {0};
  wh_strbuf_puts(&b, "# HELP traefik_tls_certs_not_after Certificate expiration timestamp\n"
                     "# TYPE traefik_tls_certs_not_after gauge\n");
  const wh_cert_store *st = snap && snap->tls ? wh_tls_server_store(snap->tls) : NULL;
  size_t n = st ? wh_cert_store_count(st) : 0;
  for (size_t i = 0; st && i <= n; i++) {
    const wh_cert_group *g = i < n ? wh_cert_store_at(st, i) : wh_cert_store_default(st);
    if (g && g->rsa)
      cert_gauge(&b, g->rsa);
    if (g && g->ec)
      cert_gauge(&b, g->ec);
  }
  wh_http_resp_text(resp, 200, wh_strbuf_cstr(&b));
  /* the exposition format's content type, after the text default */
  for (size_t i = 0; i < resp->nheaders; i++)
    if (strcasecmp(resp->hdr_names[i], "Content-Type") == 0) {
      free(resp->hdr_values[i]);
      resp->hdr_values[i] = wh_strdup("text/plain; version=0.0.4; charset=utf-8");
    }
  wh_strbuf_free(&b);
}
