#include "middleware/basicauth.h"

#include <stdio.h>
#include <string.h>

#include "middleware/option_check.h"

static int basicauth_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_basicauth_conf *c = obj;
  int n = 0;
  if (c->users.n == 0 && !(c->users_file && *c->users_file)) {
    wh_mw_opt_error(errs, path, NULL, "users or usersFile required");
    n++;
  }
  for (size_t i = 0; i < c->users.n; i++) {
    const char *u = c->users.v[i];
    const char *colon = u ? strchr(u, ':') : NULL;
    if (colon && colon != u && colon[1] != '\0')
      continue;
    /* the entry holds a password hash: name its index, never its text */
    char name[32];
    snprintf(name, sizeof name, "users[%zu]", i);
    wh_mw_opt_error(errs, path, name, "expected \"user:hash\"");
    n++;
  }
  return n ? WH_EINVAL : 0;
}

static const wh_field basicauth_fields[] = {
    WH_MW_FIELD(wh_mw_basicauth_conf, users, "users", WH_F_STRLIST, .flags = WH_FF_SECRET),
    WH_MW_FIELD(wh_mw_basicauth_conf, users_file, "usersFile", WH_F_STRING),
    WH_MW_FIELD(wh_mw_basicauth_conf, realm, "realm", WH_F_STRING, .dflt = "traefik"),
    WH_MW_FIELD(wh_mw_basicauth_conf, remove_header, "removeHeader", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_basicauth_conf, header_field, "headerField", WH_F_STRING),
};

static const wh_schema basicauth_schema = {
    .name = "basicAuth",
    .size = sizeof(wh_mw_basicauth_conf),
    .fields = basicauth_fields,
    .nfields = WH_MW_NFIELDS(basicauth_fields),
    .validate = basicauth_validate,
};

const wh_mw_type wh_mw_basicauth = {
    .name = "basicAuth",
    .proto = WH_MW_HTTP,
    .schema = &basicauth_schema,
};
