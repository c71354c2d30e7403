#include "middleware/digestauth.h"

#include <stdio.h>
#include <string.h>

#include "middleware/option_check.h"

/* htdigest lines: user:realm:hash, user and hash non-empty. */
static bool digest_user_valid(const char *u) {
  const char *c1 = u ? strchr(u, ':') : NULL;
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  return c2 && c1 != u && c2[1] != '\0';
}

static int digestauth_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_digestauth_conf *c = obj;
  int n = 0;
  if (c->users.n == 0 && !(c->users_file && *c->users_file)) {
    wh_mw_opt_error(errs, path, NULL, "users or usersFile required");
    n++;
  }
  for (size_t i = 0; i < c->users.n; i++) {
    if (digest_user_valid(c->users.v[i]))
      continue;
    char name[32];
    snprintf(name, sizeof name, "users[%zu]", i);
    wh_mw_opt_error(errs, path, name, "expected \"user:realm:hash\"");
    n++;
  }
  return n ? WH_EINVAL : 0;
}

static const wh_field digestauth_fields[] = {
    WH_MW_FIELD(wh_mw_digestauth_conf, users, "users", WH_F_STRLIST, .flags = WH_FF_SECRET),
    WH_MW_FIELD(wh_mw_digestauth_conf, users_file, "usersFile", WH_F_STRING),
    WH_MW_FIELD(wh_mw_digestauth_conf, remove_header, "removeHeader", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_digestauth_conf, realm, "realm", WH_F_STRING, .dflt = "traefik"),
    WH_MW_FIELD(wh_mw_digestauth_conf, header_field, "headerField", WH_F_STRING),
};

static const wh_schema digestauth_schema = {
    .name = "digestAuth",
    .size = sizeof(wh_mw_digestauth_conf),
    .fields = digestauth_fields,
    .nfields = WH_MW_NFIELDS(digestauth_fields),
    .validate = digestauth_validate,
};

const wh_mw_type wh_mw_digestauth = {
    .name = "digestAuth",
    .proto = WH_MW_HTTP,
    .schema = &digestauth_schema,
};
