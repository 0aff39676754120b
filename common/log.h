/* Logging through level macros only. A log line may carry an internal id (a case id, a worker
 * number, an SQLSTATE); never an IP address, contact detail, description, receipt or database
 * error text. Lines go to stderr, one write each, as text with a UTC timestamp and the program's
 * name, or (log_format = json) as one JSON object per line for log shippers:
 *   {"time":"2026-11-22T08:26:56.123Z","level":"info","program":"redress-intake","pid":42,
 *    "worker":0,"event":"worker 0: connected to the database"}
 * "worker" is the calling thread's internal id when it set one (log_thread_id). */
#ifndef REDRESS_LOG_H
#define REDRESS_LOG_H

#include <stdbool.h>
#include <stdlib.h>

typedef enum {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
} LogLevel;

typedef enum {
    LOG_FORMAT_TEXT = 0, /* "<time> <program> <level>: <event>" */
    LOG_FORMAT_JSON,     /* one JSON object per line */
} LogFormat;

/* Sets the program name shown on each line and the most verbose level printed. */
void log_init(const char *program, LogLevel level);
/* Parses "error", "warn", "info" or "debug"; returns false for anything else. */
bool log_level_parse(const char *name, LogLevel *out);
/* Parses "text" or "json"; returns false for anything else. */
bool log_format_parse(const char *name, LogFormat *out);
void log_set_format(LogFormat format);
/* The calling thread's internal id (a worker number), shown on its lines; -1: none. */
void log_thread_id(int id);
bool log_enabled(LogLevel level);
void log_write(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_ERROR(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOG_WARN(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_DEBUG(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_DEBUG))                                                          \
            log_write(LOG_LEVEL_DEBUG, __VA_ARGS__);                                               \
    } while (0)

/* A programmer error (never bad input): logs where, then aborts. */
#define BUG(fmt, ...)                                                                              \
    do {                                                                                           \
        log_write(LOG_LEVEL_ERROR, "BUG at %s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__);       \
        abort();                                                                                   \
    } while (0)

#endif
