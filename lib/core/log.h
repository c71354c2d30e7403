/* Application log. Thread-safe: one line is written with one write(2). */
#ifndef WH_CORE_LOG_H
#define WH_CORE_LOG_H

typedef enum {
  WH_LOG_TRACE = 0,
  WH_LOG_DEBUG,
  WH_LOG_INFO,
  WH_LOG_WARN,
  WH_LOG_ERROR,
  WH_LOG_FATAL,
  WH_LOG_PANIC,
} wh_log_level;

typedef enum { WH_LOG_FORMAT_COMMON = 0, WH_LOG_FORMAT_JSON } wh_log_format;

/* level names as Traefik spells them: TRACE DEBUG INFO WARN ERROR FATAL PANIC
 * (case-insensitive). Returns 0, or WH_EINVAL for an unknown name. */
int wh_log_parse_level(const char *name, wh_log_level *out);
/* Configure; path NULL or "" means stderr. Returns 0 or a negative error. */
int wh_log_configure(wh_log_level level, wh_log_format format, const char *path);
/* Reopen the log file (SIGUSR1). */
int wh_log_reopen(void);
wh_log_level wh_log_get_level(void);

void wh_log(wh_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define wh_log_debug(...) wh_log(WH_LOG_DEBUG, __VA_ARGS__)
#define wh_log_info(...) wh_log(WH_LOG_INFO, __VA_ARGS__)
#define wh_log_warn(...) wh_log(WH_LOG_WARN, __VA_ARGS__)
#define wh_log_error(...) wh_log(WH_LOG_ERROR, __VA_ARGS__)

#endif
