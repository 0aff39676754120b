/* CSV input through libcsv (see csvread.h). The file is fed to the parser one physical line at a
 * time, so the callbacks know which line a record started on. */
#include "csvread.h"

#include <csv.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct {
    char *fields[CSVREAD_MAX_FIELDS];
    size_t nfields;
    long line;     /* line being fed to the parser */
    long row_line; /* line the current record's first field was seen on */
    bool stop;     /* callback asked to stop */
    char *err;
    size_t errlen;
    bool failed; /* a limit was broken */
    CsvReadRowFn fn;
    void *user;
} CsvRead;

static void csvread_clear(CsvRead *r)
{
    for (size_t i = 0; i < r->nfields; i++)
        free(r->fields[i]);
    r->nfields = 0;
}

static void csvread_field_cb(void *data, size_t len, void *user)
{
    CsvRead *r = user;
    if (r->stop || r->failed)
        return;
    if (r->nfields == 0)
        r->row_line = r->line;
    if (r->nfields >= CSVREAD_MAX_FIELDS) {
        snprintf(r->err, r->errlen, "line %ld: more than %d fields", r->row_line,
                 CSVREAD_MAX_FIELDS);
        r->failed = true;
        return;
    }
    const char *s = data ? data : "";
    if (len > CSVREAD_MAX_FIELD || memchr(s, '\0', len)) {
        snprintf(r->err, r->errlen, "line %ld, field %zu: %s", r->row_line, r->nfields + 1,
                 len > CSVREAD_MAX_FIELD ? "cell too long" : "NUL byte in cell");
        r->failed = true;
        return;
    }
    r->fields[r->nfields++] = xstrndup(s, len);
}

static void csvread_row_cb(int c, void *user)
{
    (void)c;
    CsvRead *r = user;
    if (!r->stop && !r->failed && r->nfields > 0 &&
        r->fn(r->user, r->fields, r->nfields, r->row_line) < 0)
        r->stop = true;
    csvread_clear(r);
}

int csvread_file(const char *path, CsvReadRowFn fn, void *user, char *err, size_t errlen)
{
    struct csv_parser p;
    CsvRead r = {.fn = fn, .user = user, .err = err, .errlen = errlen};
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = -1;
    err[0] = '\0';
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        snprintf(err, errlen, "out of memory");
        fclose(fp);
        return -1;
    }
    while (!r.stop && !r.failed && (n = getline(&buf, &cap, fp)) > 0) {
        const char *s = buf;
        r.line++;
        if (r.line == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
            s += 3;
            n -= 3;
        }
        if (csv_parse(&p, s, (size_t)n, csvread_field_cb, csvread_row_cb, &r) != (size_t)n) {
            snprintf(err, errlen, "%s: line %ld: malformed CSV (%s)", path, r.line,
                     csv_strerror(csv_error(&p)));
            goto fail;
        }
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!r.stop && !r.failed && csv_fini(&p, csvread_field_cb, csvread_row_cb, &r) != 0) {
        snprintf(err, errlen, "%s: line %ld: malformed CSV (unterminated quoted field)", path,
                 r.line);
        goto fail;
    }
    rc = (r.stop || r.failed) ? -1 : 0;
fail:
    csvread_clear(&r);
    csv_free(&p);
    free(buf);
    fclose(fp);
    return rc;
}

int csvread_split(char *s, char sep, char **items, int max)
{
    int n = 0;
    char *p = s;
    while (p) {
        char *next = strchr(p, sep);
        if (next)
            *next++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            p[--len] = '\0';
        if (len) {
            if (n >= max)
                return -1;
            items[n++] = p;
        }
        p = next;
    }
    return n;
}
