/* `wharf explain`: asks the running instance's /api/debug/explain which router would serve a
 * request, and prints the answer (docs/operations/explain.md). Exit 0 when a router would serve
 * it, 1 when none would (404), 2 on a usage, configuration or connection error. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/wharf/api_client.h"
#include "cmd/wharf/commands.h"
#include "cmd/wharf/setup.h"
#include "lib/core/log.h"
#include "lib/core/str.h"

#define EXIT_SERVED 0
#define EXIT_NOT_SERVED 1
#define EXIT_ERROR 2

static void usage(FILE *f) {
  fprintf(f,
          "usage: wharf explain --host H [--path P] [--method M] [--header Name:Value]...\n"
          "                     [--query Q] [--entrypoint E] [--tls] [--client IP] [--json]\n"
          "                     [--api-url http://HOST:PORT] [static configuration flags]\n"
          "Asks the running wharf (its API on the traefik entry point, api.insecure, found from\n"
          "the same static configuration as `wharf run`; or --api-url) which router would serve\n"
          "the request and why every other router would not.\n"
          "Exit status: 0 a router serves the request, 1 none does (404), 2 usage or connection\n"
          "error.\n");
}

typedef struct opts {
  const char *host, *path, *method, *entrypoint, *client, *query, *api_url;
  const char *headers[64];
  size_t nheaders;
  bool tls, json;
} opts;

/* --name VALUE or --name=VALUE; *i advances past what was consumed. NULL when argv[*i] is not
 * this option; *missing when it is but has no value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0)
    return NULL;
  if (a[n] == '=')
    return a + n + 1;
  if (a[n] != '\0')
    return NULL;
  /* "--path --json": a value never starts with "--", a forgotten one is a usage error */
  if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

/* Splits argv into explain's own options and the static configuration flags (into rest).
 * -1 on a usage error (printed). */
static int parse_args(int argc, char **argv, opts *o, char **rest, int *nrest) {
  memset(o, 0, sizeof(*o));
  *nrest = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v;
    bool missing = false;
    if (strcmp(a, "--tls") == 0 || strcmp(a, "--tls=true") == 0) {
      o->tls = true;
    } else if (strcmp(a, "--json") == 0) {
      o->json = true;
    } else if ((v = opt_value(argc, argv, &i, "--host", &missing))) {
      o->host = v;
    } else if ((v = opt_value(argc, argv, &i, "--path", &missing))) {
      o->path = v;
    } else if ((v = opt_value(argc, argv, &i, "--method", &missing))) {
      o->method = v;
    } else if ((v = opt_value(argc, argv, &i, "--entrypoint", &missing))) {
      o->entrypoint = v;
    } else if ((v = opt_value(argc, argv, &i, "--client", &missing))) {
      o->client = v;
    } else if ((v = opt_value(argc, argv, &i, "--query", &missing))) {
      o->query = v;
    } else if ((v = opt_value(argc, argv, &i, "--api-url", &missing))) {
      o->api_url = v;
    } else if ((v = opt_value(argc, argv, &i, "--header", &missing))) {
      if (o->nheaders == sizeof(o->headers) / sizeof(o->headers[0])) {
        fprintf(stderr, "wharf explain: too many --header options\n");
        return -1;
      }
      if (!strchr(v, ':')) {
        fprintf(stderr, "wharf explain: --header \"%s\": expected Name:Value\n", v);
        return -1;
      }
      o->headers[o->nheaders++] = v;
    } else if (missing) {
      fprintf(stderr, "wharf explain: %s needs a value\n", a);
      return -1;
    } else {
      rest[(*nrest)++] = argv[i];
      continue;
    }
    if (missing) {
      fprintf(stderr, "wharf explain: %s needs a value\n", a);
      return -1;
    }
  }
  if ((!o->host || !*o->host) && (!o->path || !*o->path)) {
    fprintf(stderr, "wharf explain: --host or --path is required\n");
    return -1;
  }
  return 0;
}

static void put_param(wh_strbuf *b, const char *key, const char *val) {
  wh_strbuf_printf(b, "%s%s=", b->len ? "&" : "", key);
  for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-._~", *p))
      wh_strbuf_putc(b, (char)*p);
    else
      wh_strbuf_printf(b, "%%%02X", *p);
  }
}

/* "http://host:port[/...]" -> host, port. */
static int parse_api_url(const char *url, char *host, size_t cap, int *port) {
  if (strncmp(url, "http://", 7) != 0)
    return -1;
  const char *h = url + 7, *end = h + strcspn(h, "/");
  const char *colon = NULL;
  if (*h == '[') {
    const char *rb = memchr(h, ']', (size_t)(end - h));
    if (!rb)
      return -1;
    if (rb + 1 < end && rb[1] == ':')
      colon = rb + 1;
    snprintf(host, cap, "%.*s", (int)(rb - h - 1), h + 1);
  } else {
    colon = memchr(h, ':', (size_t)(end - h));
    snprintf(host, cap, "%.*s", (int)((colon ? colon : end) - h), h);
  }
  *port = colon ? atoi(colon + 1) : 80;
  return *host && *port > 0 && *port < 65536 ? 0 : -1;
}

static const char *jstr(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void print_list(const cJSON *o, const char *key) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *e;
  int n = 0;
  cJSON_ArrayForEach(e, a) {
    if (cJSON_IsString(e))
      printf("%s%s", n++ ? ", " : "", e->valuestring);
  }
  if (!n)
    printf("(none)");
  printf("\n");
}

static const char *verdict_text(const char *v) {
  static const struct {
    const char *key, *text;
  } map[] = {{"noMatch", "no match"},
             {"tlsMismatch", "TLS"},
             {"lowerPriority", "shadowed"},
             {"disabled", "disabled"},
             {"otherEntryPoint", "elsewhere"}};
  for (size_t i = 0; v && i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(map[i].key, v) == 0)
      return map[i].text;
  return v ? v : "";
}

static void print_router(const cJSON *r) {
  const cJSON *prio = cJSON_GetObjectItemCaseSensitive(r, "priority");
  const cJSON *tls = cJSON_GetObjectItemCaseSensitive(r, "tls");
  printf("  rule:         %s\n", jstr(r, "rule") ? jstr(r, "rule") : "");
  /* priorityStr is exact where the JSON number (a double here) is not */
  if (jstr(r, "priorityStr"))
    printf("  priority:     %s\n", jstr(r, "priorityStr"));
  else
    printf("  priority:     %.0f\n", cJSON_IsNumber(prio) ? prio->valuedouble : 0);
  printf("  middlewares:  ");
  print_list(r, "middlewares");
  printf("  service:      %s\n", jstr(r, "service") ? jstr(r, "service") : "");
  printf("  entry points: ");
  print_list(r, "entryPoints");
  printf("  tls:          %s\n", cJSON_IsTrue(tls) ? "yes" : "no");
}

static int print_human(const char *body) {
  cJSON *j = cJSON_Parse(body);
  if (!j) {
    fprintf(stderr, "wharf explain: the API answered something that is not JSON\n");
    return EXIT_ERROR;
  }
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(j, "request");
  const cJSON *router = cJSON_GetObjectItemCaseSensitive(j, "router");
  const cJSON *tcp = cJSON_GetObjectItemCaseSensitive(j, "tcpRouter");
  bool served = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "served"));
  const char *q = jstr(req, "query");
  printf("%s %s%s%s%s on entry point %s (%s)\n", jstr(req, "method") ? jstr(req, "method") : "",
         jstr(req, "host") ? jstr(req, "host") : "", jstr(req, "path") ? jstr(req, "path") : "",
         q ? "?" : "", q ? q : "", jstr(j, "entryPoint") ? jstr(j, "entryPoint") : "",
         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "tls")) ? "TLS" : "plaintext");
  if (cJSON_IsObject(router)) {
    printf("Served by router %s\n", jstr(router, "name"));
    print_router(router);
  } else if (cJSON_IsObject(tcp)) {
    printf("Taken by TCP router %s before HTTP routing\n", jstr(tcp, "name"));
    print_router(tcp);
  } else {
    printf("No router matches: the request gets 404 page not found\n");
  }
  const cJSON *cands = cJSON_GetObjectItemCaseSensitive(j, "candidates"), *c;
  if (cJSON_GetArraySize(cands) > 0)
    printf("%s\n", served ? "Other routers:" : "Candidates:");
  cJSON_ArrayForEach(c, cands) {
    printf("  %s [%s]: %s\n", jstr(c, "name") ? jstr(c, "name") : "",
           verdict_text(jstr(c, "verdict")), jstr(c, "reason") ? jstr(c, "reason") : "");
  }
  cJSON_Delete(j);
  return served ? EXIT_SERVED : EXIT_NOT_SERVED;
}

int wh_cmd_explain(int argc, char **argv, char **envp) {
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
  char **rest = calloc((size_t)argc + 1, sizeof(*rest));
  if (!rest)
    return EXIT_ERROR;
  opts o;
  int nrest = 0;
  if (parse_args(argc, argv, &o, rest, &nrest) != 0) {
    usage(stderr);
    free(rest);
    return EXIT_ERROR;
  }
  char host[256];
  int port = 0;
  if (o.api_url) {
    if (parse_api_url(o.api_url, host, sizeof(host), &port) != 0) {
      fprintf(stderr, "wharf explain: --api-url \"%s\": expected http://HOST:PORT\n", o.api_url);
      free(rest);
      return EXIT_ERROR;
    }
  } else {
    wh_log_configure(WH_LOG_FATAL, WH_LOG_FORMAT_COMMON, NULL);
    wh_static_config *stat = wh_setup_static(nrest, rest, envp, stderr);
    int rc = 0;
    if (!stat) {
      rc = -1;
    } else if (!stat->api || !stat->api->insecure) {
      fprintf(stderr, "wharf explain: the API is not on the traefik entry point (set api.insecure,"
                      " or pass --api-url to where api@internal is routed)\n");
      rc = -1;
    } else if (wh_api_client_addr(stat, "traefik", host, sizeof(host), &port) != 0) {
      fprintf(stderr, "wharf explain: entry point \"traefik\" does not exist\n");
      rc = -1;
    }
    wh_static_free(stat);
    if (rc != 0) {
      free(rest);
      return EXIT_ERROR;
    }
  }
  free(rest);

  wh_strbuf qs = {0};
  if (o.host)
    put_param(&qs, "host", o.host);
  if (o.path)
    put_param(&qs, "path", o.path);
  if (o.method)
    put_param(&qs, "method", o.method);
  for (size_t i = 0; i < o.nheaders; i++)
    put_param(&qs, "header", o.headers[i]);
  if (o.entrypoint)
    put_param(&qs, "entrypoint", o.entrypoint);
  if (o.tls)
    put_param(&qs, "tls", "true");
  if (o.client)
    put_param(&qs, "client", o.client);
  if (o.query)
    put_param(&qs, "query", o.query);
  char *target = wh_asprintf("/api/debug/explain?%s", wh_strbuf_cstr(&qs));
  wh_strbuf_free(&qs);
  char *body = NULL;
  int status = target ? wh_api_client_get(host, port, target, &body) : -1;
  free(target);
  int rc;
  if (status < 0) {
    fprintf(stderr, "wharf explain: no answer from the API at %s:%d\n", host, port);
    rc = EXIT_ERROR;
  } else if (status != 200) {
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    const char *msg = jstr(j, "message");
    fprintf(stderr, "wharf explain: the API answered %d: %s\n", status,
            msg ? msg : (body ? body : ""));
    cJSON_Delete(j);
    rc = EXIT_ERROR;
  } else if (o.json) {
    fputs(body ? body : "", stdout);
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    rc =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "served")) ? EXIT_SERVED : EXIT_NOT_SERVED;
    if (!j)
      rc = EXIT_ERROR;
    cJSON_Delete(j);
  } else {
    rc = print_human(body ? body : "");
  }
  free(body);
  return rc;
}
