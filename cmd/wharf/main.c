/* wharf: argv and subcommands; wiring only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/wharf/commands.h"

static void usage(FILE *f) {
  fprintf(f, "usage: wharf [run] [--configFile=FILE | --flag=value ...]\n"
             "       wharf check [--configFile=FILE | --flag=value ...]\n"
             "       wharf healthcheck [same configuration]  (exit 0 when /ping answers 200)\n"
             "       wharf explain --host H [--path P] [--method M] [--header K:V]... [--json]\n"
             "             [--entrypoint E] [--tls] [--client IP] [same configuration]\n"
             "             (which router serves a request; exit 0 served, 1 404, 2 error)\n"
             "       wharf version\n"
             "Static configuration is read as Traefik reads it: a YAML file (--configFile or\n"
             "the default paths), else --flags, else TRAEFIK_* / WHARF_* environment variables.\n");
}

int main(int argc, char **argv, char **envp) {
  const char *cmd = "run";
  int first = 1;
  if (argc > 1 && argv[1][0] != '-') {
    cmd = argv[1];
    first = 2;
  }
  int rest_c = argc - first;
  char **rest_v = argv + first;
  if (strcmp(cmd, "run") == 0)
    return wh_cmd_run(rest_c, rest_v, envp);
  if (strcmp(cmd, "check") == 0)
    return wh_cmd_check(rest_c, rest_v, envp);
  if (strcmp(cmd, "healthcheck") == 0)
    return wh_cmd_healthcheck(rest_c, rest_v, envp);
  if (strcmp(cmd, "explain") == 0)
    return wh_cmd_explain(rest_c, rest_v, envp);
  if (strcmp(cmd, "version") == 0) {
    printf("wharf %s (libuv %s)\n", WH_VERSION, uv_version_string());
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "wharf: unknown command \"%s\"\n", cmd);
  usage(stderr);
  return 2;
}
