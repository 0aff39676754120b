/* Leveled logging to stderr; see log.h for what may never be logged. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_program = "redress";
static LogLevel log_max = LOG_LEVEL_INFO;
static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *program, LogLevel level)
{
    log_program = program;
    log_max = level;
}

bool log_level_parse(const char *name, LogLevel *out)
{
    for (size_t i = 0; i < sizeof log_level_names / sizeof log_level_names[0]; i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            *out = (LogLevel)i;
            return true;
        }
    }
    return false;
}

bool log_enabled(LogLevel level)
{
    return level <= log_max;
}

void log_write(LogLevel level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_program, log_level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so threads do not interleave. */
    size_t len = strlen(line);
    if (len < sizeof line - 1)
        line[len++] = '\n';
    else
        line[sizeof line - 2] = '\n';
    fwrite(line, 1, len, stderr);
}
