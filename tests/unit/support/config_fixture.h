/* Unit-test fixtures: a static configuration loaded the way wharf loads
 * one (a YAML file through wh_static_load) and a dynamic configuration
 * decoded from YAML, for tests that build runtimes, snapshots or route
 * tables. Header-only (static functions): every tests/unit/ file is its own
 * executable. Include after <cmocka.h>. */
#ifndef WH_TESTS_UNIT_SUPPORT_CONFIG_FIXTURE_H
#define WH_TESTS_UNIT_SUPPORT_CONFIG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config/dynamic.h"
#include "lib/config/load.h"
#include "lib/config/static.h"
#include "lib/config/tree.h"

/* The static configuration of a YAML text; the test fails on any error
 * (printed first). Caller frees with wh_static_free. */
static inline wh_static_config *stat_from(const char *yaml) {
  char path[] = "/tmp/wh_test_static_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
  close(fd);
  char *arg = NULL;
  assert_true(asprintf(&arg, "--configFile=%s", path) > 0);
  char *argv[] = {arg};
  char *envp[] = {NULL};
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_static_config *s = wh_static_load(1, argv, envp, &errs, NULL);
  for (size_t i = 0; i < errs.n; i++)
    fprintf(stderr, "static: %s\n", errs.items[i]);
  assert_non_null(s);
  wh_errlist_free(&errs);
  free(arg);
  unlink(path);
  return s;
}

/* The dynamic configuration of a YAML text, which must decode without an
 * error (printed first). Caller frees with wh_dyn_config_free. */
static inline wh_dyn_config *dyn_from(const char *yaml) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_node *root = wh_yaml_parse(yaml, strlen(yaml), "test", &errs);
  for (size_t i = 0; i < errs.n; i++)
    fprintf(stderr, "dynamic: %s\n", errs.items[i]);
  assert_non_null(root);
  wh_dyn_config *c = wh_dyn_config_decode(root, "test", &errs);
  for (size_t i = 0; i < errs.n; i++)
    fprintf(stderr, "dynamic: %s\n", errs.items[i]);
  assert_non_null(c);
  assert_int_equal(errs.n, 0);
  wh_node_free(root);
  wh_errlist_free(&errs);
  return c;
}

#endif
