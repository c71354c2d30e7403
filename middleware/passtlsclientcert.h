/* passTLSClientCert: forwards the client certificate (PEM) and/or selected
 * fields of it in X-Forwarded-Tls-Client-Cert(-Info). */
#ifndef WH_MW_PASSTLSCLIENTCERT_H
#define WH_MW_PASSTLSCLIENTCERT_H

#include <stdbool.h>

#include "lib/config/dynamic.h"

/* Which distinguished-name parts to include. Traefik's issuer has no
 * organizationalUnit: that field is never set for an issuer. */
typedef struct wh_mw_cert_dn_info {
  bool country;             /* "country" */
  bool province;            /* "province" */
  bool locality;            /* "locality" */
  bool organization;        /* "organization" */
  bool organizational_unit; /* "organizationalUnit" (subject only) */
  bool common_name;         /* "commonName" */
  bool serial_number;       /* "serialNumber" */
  bool domain_component;    /* "domainComponent" */
} wh_mw_cert_dn_info;

typedef struct wh_mw_cert_info {
  bool not_after;              /* "notAfter" */
  bool not_before;             /* "notBefore" */
  bool sans;                   /* "sans" */
  bool serial_number;          /* "serialNumber" */
  wh_mw_cert_dn_info *subject; /* "subject" */
  wh_mw_cert_dn_info *issuer;  /* "issuer" */
} wh_mw_cert_info;

typedef struct wh_mw_passtlsclientcert_conf {
  bool pem;              /* "pem" */
  wh_mw_cert_info *info; /* "info" */
} wh_mw_passtlsclientcert_conf;

extern const wh_mw_type wh_mw_passtlsclientcert;

#endif
