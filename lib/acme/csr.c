#include "lib/acme/csr.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/core/err.h"
#include "lib/core/str.h"

static bool domain_ok(const char *d) {
  size_t len = d ? strlen(d) : 0;
  if (len == 0 || len > 253)
    return false;
  for (const char *p = d; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == ',')
      return false;
  return true;
}

int wh_acme_csr(EVP_PKEY *key, const char *const *domains, size_t n, unsigned char **der,
                size_t *der_len) {
  *der = NULL;
  *der_len = 0;
  if (!key || n == 0)
    return WH_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!domain_ok(domains[i]))
      return WH_EINVAL;
  int rc = WH_ERR;
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = X509_NAME_new();
  GENERAL_NAMES *sans = GENERAL_NAMES_new();
  STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
  if (!req || !name || !sans || !exts || !X509_REQ_set_version(req, 0))
    goto done;
  /* The CN is limited to 64 characters (RFC 5280 ub-common-name); a longer
   * first name is only in the SANs, which is all ACME servers look at. */
  if (strlen(domains[0]) <= 64 &&
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)domains[0], -1,
                                  -1, 0))
    goto done;
  if (!X509_REQ_set_subject_name(req, name))
    goto done;
  for (size_t i = 0; i < n; i++) {
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    if (!gn || !ia5 || !ASN1_STRING_set(ia5, domains[i], (int)strlen(domains[i]))) {
      GENERAL_NAME_free(gn);
      ASN1_IA5STRING_free(ia5);
      goto done;
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    if (!sk_GENERAL_NAME_push(sans, gn)) {
      GENERAL_NAME_free(gn);
      goto done;
    }
  }
  X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, sans);
  if (!ext || !sk_X509_EXTENSION_push(exts, ext)) {
    X509_EXTENSION_free(ext);
    goto done;
  }
  if (!X509_REQ_add_extensions(req, exts) || !X509_REQ_set_pubkey(req, key) ||
      X509_REQ_sign(req, key, EVP_sha256()) <= 0)
    goto done;
  unsigned char *buf = NULL;
  int len = i2d_X509_REQ(req, &buf);
  if (len <= 0)
    goto done;
  *der = malloc((size_t)len);
  if (*der) {
    memcpy(*der, buf, (size_t)len);
    *der_len = (size_t)len;
    rc = 0;
  } else {
    rc = WH_ENOMEM;
  }
  OPENSSL_free(buf);
done:
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  GENERAL_NAMES_free(sans);
  X509_NAME_free(name);
  X509_REQ_free(req);
  return rc;
}
