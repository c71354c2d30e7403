#include "lib/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/err.h"
#include "lib/core/str.h"

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN",
                                          "ERROR", "FATAL", "PANIC"};
static const char *const level_short[] = {"TRC", "DBG", "INF", "WRN", "ERR", "FTL", "PNC"};
/* the JSON format spells levels as zerolog (Traefik v3's logger) does */
static const char *const level_json[] = {"trace", "debug", "info", "warn",
                                         "error", "fatal", "panic"};

/* The log may be written from any thread; configuration happens once at
 * start-up and on SIGUSR1 reopen, guarded by a mutex. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static wh_log_level cur_level = WH_LOG_INFO;
static wh_log_format cur_format = WH_LOG_FORMAT_COMMON;
static int log_fd = 2;
static char *log_path;

/* Lines logged before the first wh_log_configure (e.g. while the static
 * configuration that holds `log` is being read) wait here, so that they come
 * out with the configured level, format and file rather than on stderr
 * regardless (Traefik likewise hides the lines before its logger is set
 * up). Never configured: written to stderr at exit. Guarded by log_mu. */
#define PENDING_MAX 64
typedef struct pending_line {
  wh_log_level level;
  time_t when;
  char *msg;
} pending_line;
static bool configured;
static bool atexit_set;
static pending_line pending[PENDING_MAX];
static size_t npending;
static void replay_pending(void);

int wh_log_parse_level(const char *name, wh_log_level *out) {
  for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
    if (name && strcasecmp(name, level_names[i]) == 0) {
      *out = (wh_log_level)i;
      return WH_OK;
    }
  }
  if (name && strcasecmp(name, "WARNING") == 0) {
    *out = WH_LOG_WARN;
    return WH_OK;
  }
  return WH_EINVAL;
}

static int open_path(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int wh_log_configure(wh_log_level level, wh_log_format format, const char *path) {
  int fd = 2;
  if (path && *path) {
    fd = open_path(path);
    if (fd < 0)
      return WH_EIO;
  }
  pthread_mutex_lock(&log_mu);
  if (log_fd > 2)
    close(log_fd);
  log_fd = fd;
  free(log_path);
  log_path = (path && *path) ? strdup(path) : NULL;
  cur_level = level;
  cur_format = format;
  configured = true;
  replay_pending();
  pthread_mutex_unlock(&log_mu);
  return WH_OK;
}

int wh_log_reopen(void) {
  int rc = WH_OK;
  pthread_mutex_lock(&log_mu);
  if (log_path) {
    int fd = open_path(log_path);
    if (fd >= 0) {
      close(log_fd);
      log_fd = fd;
    } else {
      rc = WH_EIO;
    }
  }
  pthread_mutex_unlock(&log_mu);
  return rc;
}

wh_log_level wh_log_get_level(void) {
  return cur_level;
}

static void json_escape(wh_strbuf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      wh_strbuf_putc(b, '\\');
      wh_strbuf_putc(b, (char)c);
    } else if (c == '\n') {
      wh_strbuf_puts(b, "\\n");
    } else if (c < 0x20) {
      wh_strbuf_printf(b, "\\u%04x", c);
    } else {
      wh_strbuf_putc(b, (char)c);
    }
  }
}

/* Formats and writes one line; log_mu held. */
static void emit(wh_log_level level, time_t when, const char *msg) {
  if (level < cur_level)
    return;
  struct tm tm;
  gmtime_r(&when, &tm);
  char ts[40];
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

  wh_strbuf b = {0};
  if (cur_format == WH_LOG_FORMAT_JSON) {
    wh_strbuf_printf(&b, "{\"level\":\"%s\",\"time\":\"%s\",\"message\":\"", level_json[level], ts);
    json_escape(&b, msg);
    wh_strbuf_puts(&b, "\"}\n");
  } else {
    wh_strbuf_printf(&b, "%s %s %s\n", ts, level_short[level], msg);
  }
  if (b.data) {
    ssize_t off = 0;
    while ((size_t)off < b.len) {
      ssize_t w = write(log_fd, b.data + off, b.len - (size_t)off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break;
      off += w;
    }
  }
  wh_strbuf_free(&b);
}

/* log_mu held */
static void replay_pending(void) {
  for (size_t i = 0; i < npending; i++) {
    emit(pending[i].level, pending[i].when, pending[i].msg);
    free(pending[i].msg);
  }
  npending = 0;
}

static void flush_pending_at_exit(void) {
  pthread_mutex_lock(&log_mu);
  replay_pending();
  pthread_mutex_unlock(&log_mu);
}

void wh_log(wh_log_level level, const char *fmt, ...) {
  if (configured && level < cur_level)
    return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);

  pthread_mutex_lock(&log_mu);
  if (!configured) {
    if (!atexit_set)
      atexit_set = atexit(flush_pending_at_exit) == 0;
    char *copy = strdup(msg);
    if (npending < PENDING_MAX && copy) {
      pending[npending++] = (pending_line){level, time(NULL), copy};
    } else {
      free(copy);
      emit(level, time(NULL), msg);
    }
  } else {
    emit(level, time(NULL), msg);
  }
  pthread_mutex_unlock(&log_mu);
}
