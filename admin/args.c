/* Option and positional parsing for the subcommands (see args.h). No getopt: the table form keeps
 * each handler's options next to its code and the error messages uniform. */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ArgOpt *args_find(ArgOpt *opts, size_t nopts, const char *name, size_t len)
{
    for (size_t i = 0; i < nopts; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
        if (opts[i].alias && strlen(opts[i].alias) == len && strncmp(opts[i].alias, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

int args_parse(int argc, char **argv, ArgOpt *opts, size_t nopts, size_t min_pos, size_t max_pos,
               ArgPos *pos, char *err, size_t errlen)
{
    bool options_done = false;
    pos->npos = 0;
    for (size_t i = 0; i < nopts; i++) {
        opts[i].value = NULL;
        opts[i].seen = false;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            const char *name = a + 1;
            bool is_long = a[1] == '-';
            if (is_long)
                name = a + 2;
            const char *eq = is_long ? strchr(name, '=') : NULL;
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (!is_long && len != 1) {
                snprintf(err, errlen, "unknown option %s", a);
                return -1;
            }
            ArgOpt *o = args_find(opts, nopts, name, len);
            if (!o || (is_long && len == 1) ||
                (!is_long && strlen(o->name) != 1 && !(o->alias && strlen(o->alias) == 1))) {
                snprintf(err, errlen, "unknown option %s", a);
                return -1;
            }
            if (!o->takes_value) {
                if (eq) {
                    snprintf(err, errlen, "option --%s takes no value", o->name);
                    return -1;
                }
                o->seen = true;
                continue;
            }
            if (o->seen) {
                snprintf(err, errlen, "option %s%s given twice", strlen(o->name) == 1 ? "-" : "--",
                         o->name);
                return -1;
            }
            if (eq) {
                o->value = eq + 1;
            } else if (i + 1 < argc) {
                o->value = argv[++i];
            } else {
                snprintf(err, errlen, "option %s needs a value", a);
                return -1;
            }
            o->seen = true;
            continue;
        }
        if (pos->npos >= max_pos || pos->npos >= ARGS_MAX_POS) {
            snprintf(err, errlen, "unexpected argument '%s'", a);
            return -1;
        }
        pos->pos[pos->npos++] = a;
    }
    if (pos->npos < min_pos) {
        snprintf(err, errlen, "missing argument%s (%zu needed, %zu given)",
                 min_pos - pos->npos > 1 ? "s" : "", min_pos, pos->npos);
        return -1;
    }
    return 0;
}

const char *args_value(const ArgOpt *opts, size_t nopts, const char *name)
{
    for (size_t i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].value;
    return NULL;
}

bool args_flag(const ArgOpt *opts, size_t nopts, const char *name)
{
    for (size_t i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].seen;
    return false;
}

int args_long(const char *s, long min, long max, long *out)
{
    char *end;
    if (!s || *s == '\0')
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

bool args_one_of(const char *s, const char *const *words)
{
    for (size_t i = 0; s && words[i]; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}
