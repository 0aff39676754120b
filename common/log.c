/* Leveled logging to stderr, as text or JSON lines; see log.h for what may never be logged. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "redress";
static LogLevel log_max = LOG_LEVEL_INFO;
static LogFormat log_format = LOG_FORMAT_TEXT;
static __thread int log_tid = -1;
static const char *const log_level_names[] = {"error", "warn", "info", "debug"};
static const char *const log_format_names[] = {"text", "json"};

void log_init(const char *program, LogLevel level)
{
    log_program = program;
    log_max = level;
}

static bool log_name_parse(const char *name, const char *const *names, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (int)i;
            return true;
        }
    }
    return false;
}

bool log_level_parse(const char *name, LogLevel *out)
{
    int v;
    if (!log_name_parse(name, log_level_names, 4, &v))
        return false;
    *out = (LogLevel)v;
    return true;
}

bool log_format_parse(const char *name, LogFormat *out)
{
    int v;
    if (!log_name_parse(name, log_format_names, 2, &v))
        return false;
    *out = (LogFormat)v;
    return true;
}

void log_set_format(LogFormat format)
{
    log_format = format;
}

void log_thread_id(int id)
{
    log_tid = id;
}

bool log_enabled(LogLevel level)
{
    return level <= log_max;
}

/* One write per line so threads do not interleave. */
static void log_emit(char *line, size_t len, size_t cap)
{
    if (len < cap - 1)
        line[len++] = '\n';
    else
        line[(len = cap - 1) - 1] = '\n';
    fwrite(line, 1, len, stderr);
}

static void log_write_json(const char *stamp, LogLevel level, const char *event)
{
    json_t *obj = json_pack("{s:s, s:s, s:s, s:i}", "time", stamp, "level", log_level_names[level],
                            "program", log_program, "pid", (int)getpid());
    if (!obj)
        return;
    if (log_tid >= 0)
        json_object_set_new(obj, "worker", json_integer(log_tid));
    json_t *ev = json_string(event);
    if (!ev) { /* not UTF-8 (a library's message): keep the ASCII, mark the rest */
        char safe[1024];
        size_t i = 0;
        for (; i < sizeof safe - 1 && event[i]; i++)
            safe[i] = (unsigned char)event[i] < 0x80 ? event[i] : '?';
        safe[i] = '\0';
        ev = json_string(safe);
    }
    json_object_set_new(obj, "event", ev);
    char *text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(obj);
    if (!text)
        return;
    size_t len = strlen(text);
    char *line = realloc(text, len + 1);
    if (!line) {
        free(text);
        return;
    }
    line[len] = '\n';
    fwrite(line, 1, len + 1, stderr);
    free(line);
}

void log_write(LogLevel level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char stamp[64], event[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(event, sizeof event, fmt, ap);
    va_end(ap);
    if (log_format == LOG_FORMAT_JSON) {
        log_write_json(stamp, level, event);
        return;
    }
    char line[1200];
    int n = snprintf(line, sizeof line, "%s %s %s: %s", stamp, log_program, log_level_names[level],
                     event);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    log_emit(line, len, sizeof line);
}
