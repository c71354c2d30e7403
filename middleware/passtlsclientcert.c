#include "middleware/passtlsclientcert.h"

#include "middleware/option_check.h"

#define DN(member, name) WH_MW_FIELD(wh_mw_cert_dn_info, member, name, WH_F_BOOL)

static const wh_field subject_fields[] = {
    DN(country, "country"),
    DN(province, "province"),
    DN(locality, "locality"),
    DN(organization, "organization"),
    DN(organizational_unit, "organizationalUnit"),
    DN(common_name, "commonName"),
    DN(serial_number, "serialNumber"),
    DN(domain_component, "domainComponent"),
};

/* Same struct, without organizationalUnit: Traefik's issuer type lacks it,
 * and an unknown key must stay an error for drop-in compatibility. */
static const wh_field issuer_fields[] = {
    DN(country, "country"),
    DN(province, "province"),
    DN(locality, "locality"),
    DN(organization, "organization"),
    DN(common_name, "commonName"),
    DN(serial_number, "serialNumber"),
    DN(domain_component, "domainComponent"),
};

static const wh_schema subject_schema = {
    .name = "subject",
    .size = sizeof(wh_mw_cert_dn_info),
    .fields = subject_fields,
    .nfields = WH_MW_NFIELDS(subject_fields),
};

static const wh_schema issuer_schema = {
    .name = "issuer",
    .size = sizeof(wh_mw_cert_dn_info),
    .fields = issuer_fields,
    .nfields = WH_MW_NFIELDS(issuer_fields),
};

static const wh_field info_fields[] = {
    WH_MW_FIELD(wh_mw_cert_info, not_after, "notAfter", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_cert_info, not_before, "notBefore", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_cert_info, sans, "sans", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_cert_info, subject, "subject", WH_F_STRUCT_PTR, .sub = &subject_schema),
    WH_MW_FIELD(wh_mw_cert_info, issuer, "issuer", WH_F_STRUCT_PTR, .sub = &issuer_schema),
    WH_MW_FIELD(wh_mw_cert_info, serial_number, "serialNumber", WH_F_BOOL),
};

static const wh_schema info_schema = {
    .name = "info",
    .size = sizeof(wh_mw_cert_info),
    .fields = info_fields,
    .nfields = WH_MW_NFIELDS(info_fields),
};

static const wh_field passtlsclientcert_fields[] = {
    WH_MW_FIELD(wh_mw_passtlsclientcert_conf, pem, "pem", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_passtlsclientcert_conf, info, "info", WH_F_STRUCT_PTR, .sub = &info_schema),
};

static const wh_schema passtlsclientcert_schema = {
    .name = "passTLSClientCert",
    .size = sizeof(wh_mw_passtlsclientcert_conf),
    .fields = passtlsclientcert_fields,
    .nfields = WH_MW_NFIELDS(passtlsclientcert_fields),
};

const wh_mw_type wh_mw_passtlsclientcert = {
    .name = "passTLSClientCert",
    .proto = WH_MW_HTTP,
    .schema = &passtlsclientcert_schema,
};
