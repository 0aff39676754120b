/* Array literals and JSON string arrays (sqlarray.h). Every text element is double-quoted with
 * '"' and '\' escaped, so no value can break out of its element. */
#include "sqlarray.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void sqlarray_init(SqlArray *a)
{
    a->cap = 256;
    a->buf = xmalloc(a->cap);
    sqlarray_reset(a);
}

void sqlarray_free(SqlArray *a)
{
    free(a->buf);
    a->buf = NULL;
}

void sqlarray_reset(SqlArray *a)
{
    a->buf[0] = '{';
    a->len = 1;
    a->n = 0;
}

static void sqlarray_reserve(SqlArray *a, size_t more)
{
    if (a->len + more + 2 <= a->cap)
        return;
    while (a->len + more + 2 > a->cap)
        a->cap *= 2;
    a->buf = xrealloc(a->buf, a->cap);
}

static void sqlarray_sep(SqlArray *a)
{
    sqlarray_reserve(a, 1);
    if (a->n++ > 0)
        a->buf[a->len++] = ',';
}

void sqlarray_add_text(SqlArray *a, const char *s)
{
    sqlarray_sep(a);
    if (!s) {
        sqlarray_reserve(a, 4);
        memcpy(a->buf + a->len, "NULL", 4);
        a->len += 4;
        return;
    }
    size_t n = strlen(s);
    sqlarray_reserve(a, 2 * n + 2);
    a->buf[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            a->buf[a->len++] = '\\';
        a->buf[a->len++] = s[i];
    }
    a->buf[a->len++] = '"';
}

static void sqlarray_addf(SqlArray *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sqlarray_addf(SqlArray *a, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        abort();
    sqlarray_sep(a);
    sqlarray_reserve(a, (size_t)n);
    memcpy(a->buf + a->len, tmp, (size_t)n);
    a->len += (size_t)n;
}

void sqlarray_add_int(SqlArray *a, long long v)
{
    sqlarray_addf(a, "%lld", v);
}

void sqlarray_add_double(SqlArray *a, double v)
{
    sqlarray_addf(a, "%.17g", v);
}

void sqlarray_add_fixed2(SqlArray *a, double v)
{
    sqlarray_addf(a, "%.2f", v);
}

void sqlarray_add_bool(SqlArray *a, int v)
{
    sqlarray_addf(a, "%s", v ? "t" : "f");
}

const char *sqlarray_text(SqlArray *a)
{
    sqlarray_reserve(a, 2);
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

int sqlarray_strings_parse(const char *json, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json || strcmp(json, "null") == 0 || strcmp(json, "[]") == 0)
        return 0;
    json_t *arr = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!arr || !json_is_array(arr)) {
        json_decref(arr);
        return -1;
    }
    size_t len = json_array_size(arr);
    char **v = xcalloc(len ? len : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s)
            v[k++] = xstrdup(s);
    }
    json_decref(arr);
    *out = v;
    *n = k;
    return 0;
}

void sqlarray_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}
