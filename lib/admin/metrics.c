#include "lib/admin/metrics.h"

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "lib/lb/lb.h"
#include "lib/observe/metrics_store.h"
#include "lib/observe/observe.h"
#include "lib/tls/cert_store.h"
#include "lib/tls/certificate.h"
#include "lib/tls/server.h"

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
  wh_metrics_label_value(b, subject_cn(c, cn, sizeof(cn)));
  wh_strbuf_puts(b, "\",sans=\"");
  for (size_t i = 0; i < c->nnames; i++) {
    if (i)
      wh_strbuf_puts(b, ",");
    wh_metrics_label_value(b, c->names[i]);
  }
  wh_strbuf_puts(b, "\",serial=\"");
  wh_metrics_label_value(b, serial ? serial : "");
  wh_strbuf_printf(b, "\"} %lld\n", (long long)c->not_after);
  free(serial);
}

/* traefik_service_server_up: what the API shows as serverStatus (api.c):
 * the balancer's health cells when the service has one, else what the
 * runtime recorded. */
static void server_up(wh_strbuf *b, const wh_snapshot *snap) {
  const wh_rt_list *l = snap->rt ? &snap->rt->elems[WH_KIND_HTTP_SERVICE] : NULL;
  bool head = false;
  for (size_t i = 0; l && i < l->n; i++) {
    const wh_rt_elem *el = l->v[i];
    const struct wh_lb *lb = wh_snapshot_lb(snap, el->name);
    size_t n = lb ? wh_lb_nservers(lb) : el->server_status.n;
    for (size_t j = 0; j < n; j++) {
      const wh_lb_server *srv = lb ? wh_lb_server_at(lb, j) : NULL;
      const char *url = srv ? srv->url : el->server_status.keys[j];
      bool up = srv ? wh_lb_server_up(srv) : wh_streq(el->server_status.vals[j], "UP");
      if (!head)
        wh_strbuf_puts(b, "# HELP traefik_service_server_up service server is up, described by "
                          "gauge value of 0 or 1.\n"
                          "# TYPE traefik_service_server_up gauge\n");
      head = true;
      wh_strbuf_puts(b, "traefik_service_server_up{service=\"");
      wh_metrics_label_value(b, el->name);
      wh_strbuf_puts(b, "\",url=\"");
      wh_metrics_label_value(b, url ? url : "");
      wh_strbuf_printf(b, "\"} %d\n", up ? 1 : 0);
    }
  }
}

static void certs(wh_strbuf *b, const wh_snapshot *snap) {
  const wh_cert_store *st = snap->tls ? wh_tls_server_store(snap->tls) : NULL;
  size_t n = st ? wh_cert_store_count(st) : 0;
  bool head = false;
  for (size_t i = 0; st && i <= n; i++) {
    const wh_cert_group *g = i < n ? wh_cert_store_at(st, i) : wh_cert_store_default(st);
    const wh_cert *c[2] = {g ? g->rsa : NULL, g ? g->ec : NULL};
    for (int k = 0; k < 2; k++) {
      if (!c[k])
        continue;
      if (!head)
        wh_strbuf_puts(b, "# HELP traefik_tls_certs_not_after Certificate expiration timestamp\n"
                          "# TYPE traefik_tls_certs_not_after gauge\n");
      head = true;
      cert_gauge(b, c[k]);
    }
  }
}

/* A family's text: from its HELP line to the next one. */
typedef struct block {
  const char *p;
  size_t len;
  const char *name; /* after "# HELP " */
  size_t nlen;
} block;

static int cmp_block(const void *a, const void *b) {
  const block *x = a, *y = b;
  size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
  int c = memcmp(x->name, y->name, n);
  return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* The store's families and the snapshot's come from two writers; one sort
 * by family name puts them in a single deterministic order. */
static void sort_families(const char *text, wh_strbuf *out) {
  size_t cap = 0, n = 0;
  block *v = NULL;
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    const char *eol = nl ? nl + 1 : p + strlen(p);
    if (strncmp(p, "# HELP ", 7) == 0 || n == 0) {
      if (n == cap) {
        cap = cap ? cap * 2 : 32;
        block *nv = realloc(v, cap * sizeof(*v));
        if (!nv) {
          free(v);
          wh_strbuf_puts(out, text);
          return;
        }
        v = nv;
      }
      const char *name = strncmp(p, "# HELP ", 7) == 0 ? p + 7 : p;
      v[n++] = (block){p, 0, name, strcspn(name, " \n")};
    }
    v[n - 1].len += (size_t)(eol - p);
    p = eol;
  }
  if (n)
    qsort(v, n, sizeof(*v), cmp_block);
  for (size_t i = 0; i < n; i++)
    wh_strbuf_append(out, v[i].p, v[i].len);
  free(v);
}

void wh_metrics_handle(const wh_snapshot *snap, wh_http_resp *resp) {
  wh_strbuf raw = {0}, b = {0};
  wh_metrics_store_write(wh_observe_metrics(wh_observe_global()), &raw);
  const wh_prometheus *prom =
      snap && snap->stat && snap->stat->metrics ? snap->stat->metrics->prometheus : NULL;
  /* Traefik registers server_up with the other service families */
  if (snap && (!prom || prom->add_services_labels))
    server_up(&raw, snap);
  if (snap)
    certs(&raw, snap);
  sort_families(wh_strbuf_cstr(&raw), &b);
  wh_http_resp_text(resp, 200, wh_strbuf_cstr(&b));
  /* the exposition format's content type, after the text default */
  for (size_t i = 0; i < resp->nheaders; i++)
    if (strcasecmp(resp->hdr_names[i], "Content-Type") == 0) {
      free(resp->hdr_values[i]);
      resp->hdr_values[i] = wh_strdup("text/plain; version=0.0.4; charset=utf-8");
    }
  wh_strbuf_free(&raw);
  wh_strbuf_free(&b);
}
