/* The PKCS#10 certificate request sent to an ACME order's finalize URL. */
#ifndef WH_ACME_CSR_H
#define WH_ACME_CSR_H

#include <stddef.h>

#include <openssl/evp.h>

/* A CSR for domains[0..n) signed with key (SHA-256): subject CN = the first
 * domain when it fits (64 characters), every domain in subjectAltName as a
 * dNSName (wildcards as given, "*.example.com"). *der is the caller's
 * (free()). 0, WH_EINVAL (no domain, a domain too long or not ASCII), or
 * WH_ERR. */
int wh_acme_csr(EVP_PKEY *key, const char *const *domains, size_t n, unsigned char **der,
                size_t *der_len);

#endif
