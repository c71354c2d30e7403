/* The file provider against a real uv loop and real temporary directories. */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config/dynamic.h"
#include "lib/config/provider.h"
#include "lib/core/err.h"
#include "lib/core/str.h"
#include "providers/file/file_provider.h"

/* Generous: the debounce is 100 ms, but CI machines under ASan are slow. */
#define DEADLINE_MS 3000

typedef struct capture {
  int emits;
  int null_emits;
  wh_dyn_config *cfg; /* last non-NULL config, owned */
  wh_errlist errs;    /* errors of the last emit */
  bool last_null;
  wh_provider *stop_on_emit; /* stop this provider from inside the callback */
} capture;

typedef struct fixture {
  uv_loop_t loop;
  char dir[64];
  capture cap;
  wh_static_config stat;
  wh_providers providers;
  wh_file_provider opts;
  wh_provider *p;
} fixture;

static void on_emit(void *ctx, const char *provider, wh_dyn_config *cfg, const wh_errlist *errors) {
  capture *c = ctx;
  assert_string_equal(provider, "file");
  c->emits++;
  wh_errlist_free(&c->errs);
  wh_errlist_init(&c->errs);
  if (errors)
    wh_errlist_copy(&c->errs, errors);
  c->last_null = cfg == NULL;
  if (!cfg) {
    c->null_emits++;
  } else {
    wh_dyn_config_free(c->cfg);
    c->cfg = cfg;
  }
  if (c->stop_on_emit) {
    wh_provider *p = c->stop_on_emit;
    c->stop_on_emit = NULL;
    wh_provider_file.stop(p);
  }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  strcpy(f->dir, "/tmp/wh-file-provider-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  wh_errlist_init(&f->cap.errs);
  f->stat.providers = &f->providers;
  f->providers.file = &f->opts;
  *state = f;
  return 0;
}

static void drain(uv_loop_t *loop) {
  /* Let close callbacks run; every handle must be gone afterwards. */
  for (int i = 0; i < 100 && uv_loop_alive(loop); i++)
    uv_run(loop, UV_RUN_NOWAIT);
}

static int teardown(void **state) {
  fixture *f = *state;
  if (f->p)
    wh_provider_file.stop(f->p);
  drain(&f->loop);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  wh_dyn_config_free(f->cap.cfg);
  wh_errlist_free(&f->cap.errs);
  free(f->opts.filename);
  free(f->opts.directory);
  free(f);
  return 0;
}

/* Writes dir/rel (creating parent directories) in place. */
static void write_file(const fixture *f, const char *rel, const char *content) {
  char *path = wh_asprintf("%s/%s", f->dir, rel);
  assert_non_null(path);
  for (char *s = path + strlen(f->dir) + 1; (s = strchr(s, '/')); s++) {
    *s = '\0';
    if (mkdir(path, 0700) != 0)
      assert_int_equal(errno, EEXIST);
    *s = '/';
  }
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  assert_int_equal(fwrite(content, 1, strlen(content), fp), strlen(content));
  assert_int_equal(fclose(fp), 0);
  free(path);
}

static char *path_of(const fixture *f, const char *rel) {
  char *p = wh_asprintf("%s/%s", f->dir, rel);
  assert_non_null(p);
  return p;
}

static void start(fixture *f) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  f->p = wh_provider_file.start(&f->loop, &f->stat, on_emit, &f->cap, &errs);
  assert_int_equal(errs.n, 0);
  assert_non_null(f->p);
  wh_errlist_free(&errs);
}

static void deadline_cb(uv_timer_t *t) {
  *(bool *)t->data = true;
}

/* Runs the loop until the emit count reaches want or timeout_ms passes. */
static void run_until_emits(fixture *f, int want, uint64_t timeout_ms) {
  uv_timer_t t;
  bool expired = false;
  uv_timer_init(&f->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, deadline_cb, timeout_ms, 0);
  while (!expired && f->cap.emits < want)
    uv_run(&f->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

static const wh_http_router *router(const capture *c, const char *name) {
  if (!c->cfg || !c->cfg->http)
    return NULL;
  return wh_map_get(&c->cfg->http->routers, name);
}

static bool errs_contain(const wh_errlist *l, const char *needle) {
  for (size_t i = 0; i < l->n; i++)
    if (strstr(l->items[i], needle))
      return true;
  return false;
}

static void print_errs(const wh_errlist *l) {
  for (size_t i = 0; i < l->n; i++)
    fprintf(stderr, "  error: %s\n", l->items[i]);
}

static const char *R1 = "http:\n"
                        "  routers:\n"
                        "    r1:\n"
                        "      rule: \"Host(`a.example`)\"\n"
                        "      service: s1\n"
                        "  services:\n"
                        "    s1:\n"
                        "      loadBalancer:\n"
                        "        servers:\n"
                        "          - url: \"http://10.0.0.1:80\"\n";

static const char *R1_R2 = "http:\n"
                           "  routers:\n"
                           "    r1:\n"
                           "      rule: \"Host(`a.example`)\"\n"
                           "      service: s1\n"
                           "    r2:\n"
                           "      rule: \"Host(`b.example`)\"\n"
                           "      service: s1\n"
                           "  services:\n"
                           "    s1:\n"
                           "      loadBalancer:\n"
                           "        servers:\n"
                           "          - url: \"http://10.0.0.1:80\"\n";

static void test_filename_loads_routers(void **state) {
  fixture *f = *state;
  write_file(f, "dyn.yml", R1);
  f->opts.filename = path_of(f, "dyn.yml");
  start(f);
  /* The first load is synchronous from start. */
  assert_int_equal(f->cap.emits, 1);
  assert_false(f->cap.last_null);
  print_errs(&f->cap.errs);
  assert_int_equal(f->cap.errs.n, 0);
  const wh_http_router *r = router(&f->cap, "r1");
  assert_non_null(r);
  assert_string_equal(r->rule, "Host(`a.example`)");
  assert_string_equal(r->service, "s1");
  assert_non_null(wh_map_get(&f->cap.cfg->http->services, "s1"));
}

static void test_json_file(void **state) {
  fixture *f = *state;
  write_file(f, "dyn.JSON",
             "{\"http\":{\"routers\":{\"j1\":{\"rule\":\"Path(`/j`)\",\"service\":\"s\"}}}}");
  f->opts.filename = path_of(f, "dyn.JSON");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_non_null(router(&f->cap, "j1"));
}

static void test_directory_recursive_first_wins(void **state) {
  fixture *f = *state;
  /* Traefik's order: entries of each directory sorted, depth first:
   * a.yaml, sub/b.yaml, z.yaml. */
  write_file(f, "conf/a.yaml",
             "http:\n  routers:\n    r1:\n      rule: \"Host(`from-a`)\"\n      service: s\n"
             "tls:\n  certificates:\n    - certFile: /a.pem\n      keyFile: /a.key\n");
  write_file(f, "conf/sub/b.yaml",
             "http:\n  routers:\n    r1:\n      rule: \"Host(`from-b`)\"\n      service: s\n"
             "    r2:\n      rule: \"Host(`only-b`)\"\n      service: s\n"
             "tls:\n  certificates:\n    - certFile: /b.pem\n      keyFile: /b.key\n");
  write_file(f, "conf/z.yaml",
             "http:\n  routers:\n    r2:\n      rule: \"Host(`from-z`)\"\n      service: s\n"
             "    r3:\n      rule: \"Host(`only-z`)\"\n      service: s\n");
  f->opts.directory = path_of(f, "conf");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_false(f->cap.last_null);
  assert_string_equal(router(&f->cap, "r1")->rule, "Host(`from-a`)");
  assert_string_equal(router(&f->cap, "r2")->rule, "Host(`only-b`)");
  assert_string_equal(router(&f->cap, "r3")->rule, "Host(`only-z`)");
  assert_int_equal(f->cap.cfg->http->routers.n, 3);
  /* Certificate lists add up instead of first-wins. */
  assert_non_null(f->cap.cfg->tls);
  assert_int_equal(f->cap.cfg->tls->certificates.n, 2);
  const wh_tls_certificate *certs = f->cap.cfg->tls->certificates.items;
  assert_string_equal(certs[0].cert_file, "/a.pem");
  assert_string_equal(certs[1].cert_file, "/b.pem");
}

static void test_directory_ignores_hidden_and_temp(void **state) {
  fixture *f = *state;
  write_file(f, "d/ok.YML", "http:\n  routers:\n    ok:\n      rule: \"Path(`/`)\"\n");
  write_file(f, "d/.hidden.yaml", "http:\n  routers:\n    hidden:\n      rule: \"Path(`/`)\"\n");
  write_file(f, "d/backup.yaml~", "http:\n  routers:\n    tilde:\n      rule: \"Path(`/`)\"\n");
  write_file(f, "d/x.yaml.swp", "http:\n  routers:\n    swp:\n      rule: \"Path(`/`)\"\n");
  write_file(f, "d/README.md", "not: [yaml\n");
  write_file(f, "d/.git/inner.yaml", "http:\n  routers:\n    git:\n      rule: \"Path(`/`)\"\n");
  f->opts.directory = path_of(f, "d");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_false(f->cap.last_null);
  print_errs(&f->cap.errs);
  assert_int_equal(f->cap.errs.n, 0);
  assert_non_null(router(&f->cap, "ok"));
  assert_int_equal(f->cap.cfg->http->routers.n, 1);
}

static void test_directory_wins_over_filename(void **state) {
  fixture *f = *state;
  write_file(f, "single.yaml", "http:\n  routers:\n    fromfile:\n      rule: \"Path(`/`)\"\n");
  write_file(f, "d/x.yaml", "http:\n  routers:\n    fromdir:\n      rule: \"Path(`/`)\"\n");
  f->opts.filename = path_of(f, "single.yaml");
  f->opts.directory = path_of(f, "d");
  start(f);
  assert_non_null(router(&f->cap, "fromdir"));
  assert_null(router(&f->cap, "fromfile"));
}

static void test_env_templating(void **state) {
  fixture *f = *state;
  setenv("WH_FILE_PROVIDER_TEST_HOST", "templated.example", 1);
  write_file(f, "t.yaml",
             "http:\n  routers:\n    t:\n"
             "      rule: \"Host(`{{ env \"WH_FILE_PROVIDER_TEST_HOST\" }}`)\"\n"
             "      service: s\n");
  f->opts.filename = path_of(f, "t.yaml");
  f->opts.debug_log_generated_template = true;
  start(f);
  unsetenv("WH_FILE_PROVIDER_TEST_HOST");
  assert_int_equal(f->cap.emits, 1);
  assert_false(f->cap.last_null);
  assert_string_equal(router(&f->cap, "t")->rule, "Host(`templated.example`)");
}

static void test_unsupported_template_emits_null(void **state) {
  fixture *f = *state;
  write_file(f, "t.yaml", "http:\n  routers:\n    t:\n      rule: \"{{ .Foo }}\"\n");
  f->opts.filename = path_of(f, "t.yaml");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_true(f->cap.last_null);
  assert_true(errs_contain(&f->cap.errs, f->opts.filename));
}

static void test_syntax_error_emits_null_with_position(void **state) {
  fixture *f = *state;
  write_file(f, "bad.yaml", "http:\n  routers:\n    r1:\n      rule: [unclosed\n");
  f->opts.filename = path_of(f, "bad.yaml");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_true(f->cap.last_null);
  assert_null(f->cap.cfg);
  assert_true(f->cap.errs.n >= 1);
  char *prefix = wh_asprintf("%s:", f->opts.filename);
  bool found = false;
  for (size_t i = 0; i < f->cap.errs.n; i++) {
    const char *e = f->cap.errs.items[i];
    /* "<path>:<line>:<col>: ..." with a real line number */
    if (wh_str_has_prefix(e, prefix) && e[strlen(prefix)] >= '1' && e[strlen(prefix)] <= '9')
      found = true;
  }
  free(prefix);
  print_errs(&f->cap.errs);
  assert_true(found);
}

static void test_fix_after_error_then_reload(void **state) {
  fixture *f = *state;
  write_file(f, "dyn.yaml", "http: {routers: {r1: {rule: \"Path(`/`)\"\n");
  f->opts.filename = path_of(f, "dyn.yaml");
  f->opts.watch = false;
  start(f);
  assert_int_equal(f->cap.null_emits, 1);
  write_file(f, "dyn.yaml", R1);
  wh_provider_file_reload(f->p); /* SIGHUP */
  assert_int_equal(f->cap.emits, 2);
  assert_false(f->cap.last_null);
  assert_int_equal(f->cap.errs.n, 0);
  assert_non_null(router(&f->cap, "r1"));
  /* A forced reload emits even when nothing changed. */
  wh_provider_file_reload(f->p);
  assert_int_equal(f->cap.emits, 3);
}

static void test_missing_file_emits_null(void **state) {
  fixture *f = *state;
  f->opts.filename = path_of(f, "nope.yaml");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_true(f->cap.last_null);
  assert_true(errs_contain(&f->cap.errs, f->opts.filename));
}

static void test_top_level_list_is_an_error(void **state) {
  fixture *f = *state;
  write_file(f, "l.yaml", "- a\n- b\n");
  f->opts.filename = path_of(f, "l.yaml");
  start(f);
  assert_true(f->cap.last_null);
  assert_true(errs_contain(&f->cap.errs, f->opts.filename));
  assert_true(errs_contain(&f->cap.errs, "top level"));
}

static void test_toml_reported_others_load(void **state) {
  fixture *f = *state;
  write_file(f, "d/a.yaml", R1);
  write_file(f, "d/b.toml", "[http.routers.t]\nrule = \"Path(`/`)\"\n");
  f->opts.directory = path_of(f, "d");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_false(f->cap.last_null);
  assert_non_null(router(&f->cap, "r1"));
  assert_null(router(&f->cap, "t"));
  assert_true(errs_contain(&f->cap.errs, "TOML is not supported"));
  assert_true(errs_contain(&f->cap.errs, "b.toml"));
}

static void test_toml_as_single_file_emits_null(void **state) {
  fixture *f = *state;
  write_file(f, "c.toml", "[http]\n");
  f->opts.filename = path_of(f, "c.toml");
  start(f);
  assert_true(f->cap.last_null);
  assert_true(errs_contain(&f->cap.errs, "TOML is not supported"));
}

static void test_element_errors_do_not_block(void **state) {
  fixture *f = *state;
  write_file(f, "e.yaml",
             "http:\n  routers:\n    good:\n      rule: \"Path(`/`)\"\n      service: s\n"
             "    bad:\n      rule: \"Path(`/b`)\"\n      servce: s\n");
  f->opts.filename = path_of(f, "e.yaml");
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_false(f->cap.last_null);
  assert_non_null(router(&f->cap, "good"));
  assert_true(f->cap.cfg->n_elem_errors >= 1);
  bool bad = false;
  for (size_t i = 0; i < f->cap.cfg->n_elem_errors; i++)
    bad = bad || wh_streq(f->cap.cfg->elem_errors[i].name, "bad");
  assert_true(bad);
}

static void test_watch_write_is_picked_up(void **state) {
  fixture *f = *state;
  write_file(f, "w.yaml", R1);
  f->opts.filename = path_of(f, "w.yaml");
  f->opts.watch = true;
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_null(router(&f->cap, "r2"));
  write_file(f, "w.yaml", R1_R2);
  run_until_emits(f, 2, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 2);
  assert_non_null(router(&f->cap, "r2"));
}

static void test_watch_rename_over_is_picked_up(void **state) {
  fixture *f = *state;
  write_file(f, "w.yaml", R1);
  f->opts.filename = path_of(f, "w.yaml");
  f->opts.watch = true;
  start(f);
  /* What editors, `mv` and ConfigMap updates do: a new inode replaces the old. */
  write_file(f, ".w.yaml.tmp", R1_R2);
  char *tmp = path_of(f, ".w.yaml.tmp");
  assert_int_equal(rename(tmp, f->opts.filename), 0);
  free(tmp);
  run_until_emits(f, 2, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 2);
  assert_non_null(router(&f->cap, "r2"));
  /* The watch survives the replacement: a second change is seen too. */
  write_file(f, "w.yaml", "http:\n  routers:\n    r9:\n      rule: \"Path(`/9`)\"\n");
  run_until_emits(f, 3, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 3);
  assert_non_null(router(&f->cap, "r9"));
  assert_null(router(&f->cap, "r1"));
}

static void test_watch_new_subdirectory(void **state) {
  fixture *f = *state;
  write_file(f, "d/a.yaml", R1);
  f->opts.directory = path_of(f, "d");
  f->opts.watch = true;
  start(f);
  assert_int_equal(f->cap.emits, 1);
  write_file(f, "d/new/deeper/n.yaml", "http:\n  routers:\n    n:\n      rule: \"Path(`/n`)\"\n");
  run_until_emits(f, 2, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 2);
  assert_non_null(router(&f->cap, "n"));
  assert_non_null(router(&f->cap, "r1"));
  /* The new directories are watched now. */
  write_file(f, "d/new/deeper/n.yaml", "http:\n  routers:\n    n2:\n      rule: \"Path(`/n`)\"\n");
  run_until_emits(f, 3, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 3);
  assert_non_null(router(&f->cap, "n2"));
  assert_null(router(&f->cap, "n"));
}

static void test_watch_unchanged_content_not_emitted(void **state) {
  fixture *f = *state;
  write_file(f, "w.yaml", R1);
  f->opts.filename = path_of(f, "w.yaml");
  f->opts.watch = true;
  start(f);
  write_file(f, "w.yaml", R1); /* same bytes: nothing to rebuild */
  run_until_emits(f, 2, 600);
  assert_int_equal(f->cap.emits, 1);
  write_file(f, "w.yaml", R1_R2);
  run_until_emits(f, 2, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 2);
}

static void test_watch_broken_then_fixed(void **state) {
  fixture *f = *state;
  write_file(f, "w.yaml", R1);
  f->opts.filename = path_of(f, "w.yaml");
  f->opts.watch = true;
  start(f);
  write_file(f, "w.yaml", "http: [\n");
  run_until_emits(f, 2, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 2);
  assert_true(f->cap.last_null);
  /* Back to the very same content as before the break: still emitted, the
   * consumer must learn the file is fine again. */
  write_file(f, "w.yaml", R1);
  run_until_emits(f, 3, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 3);
  assert_false(f->cap.last_null);
  assert_non_null(router(&f->cap, "r1"));
}

static void test_stop_with_pending_change(void **state) {
  fixture *f = *state;
  write_file(f, "d/a.yaml", R1);
  write_file(f, "d/s1/s2/b.yaml", "{}\n");
  f->opts.directory = path_of(f, "d");
  f->opts.watch = true;
  start(f);
  write_file(f, "d/a.yaml", R1_R2);
  /* Let the event arrive (it arms the debounce timer) but not the reload. */
  run_until_emits(f, 2, 30);
  int before = f->cap.emits;
  wh_provider_file.stop(f->p);
  f->p = NULL;
  drain(&f->loop);
  /* No handle left, nothing emitted after stop; ASan checks the frees. */
  assert_false(uv_loop_alive(&f->loop));
  assert_int_equal(f->cap.emits, before);
}

static void test_stop_from_emit_callback(void **state) {
  fixture *f = *state;
  write_file(f, "w.yaml", R1);
  f->opts.filename = path_of(f, "w.yaml");
  f->opts.watch = true;
  start(f);
  f->cap.stop_on_emit = f->p;
  write_file(f, "w.yaml", R1_R2);
  run_until_emits(f, 2, DEADLINE_MS);
  assert_int_equal(f->cap.emits, 2);
  f->p = NULL; /* stopped by the callback */
  drain(&f->loop);
  assert_false(uv_loop_alive(&f->loop));
}

static void test_misconfigured_start_fails(void **state) {
  fixture *f = *state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_provider_file.start(&f->loop, &f->stat, on_emit, &f->cap, &errs));
  assert_true(errs_contain(&errs, "filename or directory"));
  wh_errlist_free(&errs);
  wh_errlist_init(&errs);
  wh_static_config empty = {0};
  assert_null(wh_provider_file.start(&f->loop, &empty, on_emit, &f->cap, &errs));
  assert_int_equal(errs.n, 1);
  wh_errlist_free(&errs);
  assert_int_equal(f->cap.emits, 0);
}

static void test_missing_directory_emits_null(void **state) {
  fixture *f = *state;
  f->opts.directory = path_of(f, "absent");
  f->opts.watch = true; /* cannot watch either: logged, not fatal */
  start(f);
  assert_int_equal(f->cap.emits, 1);
  assert_true(f->cap.last_null);
  assert_true(errs_contain(&f->cap.errs, f->opts.directory));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  wh_dynamic_register_middleware_types(NULL, 0);
  const struct CMUnitTest tests[] = {
      T(test_filename_loads_routers),          T(test_json_file),
      T(test_directory_recursive_first_wins),  T(test_directory_ignores_hidden_and_temp),
      T(test_directory_wins_over_filename),    T(test_env_templating),
      T(test_unsupported_template_emits_null), T(test_syntax_error_emits_null_with_position),
      T(test_fix_after_error_then_reload),     T(test_missing_file_emits_null),
      T(test_top_level_list_is_an_error),      T(test_toml_reported_others_load),
      T(test_toml_as_single_file_emits_null),  T(test_element_errors_do_not_block),
      T(test_watch_write_is_picked_up),        T(test_watch_rename_over_is_picked_up),
      T(test_watch_new_subdirectory),          T(test_watch_unchanged_content_not_emitted),
      T(test_watch_broken_then_fixed),         T(test_stop_with_pending_change),
      T(test_stop_from_emit_callback),         T(test_misconfigured_start_fails),
      T(test_missing_directory_emits_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
