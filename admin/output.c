/* Tables, key/value lines and JSON for redressctl (see output.h). */
#include "output.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct OutTable {
    size_t ncols;
    size_t nrows, cap; /* rows, not counting the header */
    char **cells;      /* (nrows + 1) * ncols, header first */
};

static char *out_printable(const char *s)
{
    char *c = xstrdup(s ? s : "");
    for (unsigned char *p = (unsigned char *)c; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = (*p == '\n' || *p == '\t') ? ' ' : '?';
    return c;
}

OutTable *out_table_new(const char *const *headers, size_t ncols)
{
    OutTable *t = xcalloc(1, sizeof *t);
    t->ncols = ncols;
    t->cap = 16;
    t->cells = xcalloc(t->cap * ncols, sizeof *t->cells);
    for (size_t i = 0; i < ncols; i++)
        t->cells[i] = out_printable(headers[i]);
    return t;
}

void out_table_add(OutTable *t, const char *const *cells)
{
    if (t->nrows + 1 >= t->cap) {
        t->cap *= 2;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    char **row = t->cells + (t->nrows + 1) * t->ncols;
    for (size_t i = 0; i < t->ncols; i++)
        row[i] = out_printable(cells[i]);
    t->nrows++;
}

/* Display width in code points (close enough for a terminal table). */
static size_t out_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

void out_table_print(const OutTable *t, FILE *fp)
{
    size_t *w = xcalloc(t->ncols, sizeof *w);
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = out_width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            fputs(cell, fp);
            if (c + 1 < t->ncols)
                fprintf(fp, "%*s", (int)(w[c] - out_width(cell) + 2), "");
        }
        fputc('\n', fp);
        if (r == 0) {
            for (size_t c = 0; c < t->ncols; c++) {
                for (size_t k = 0; k < w[c]; k++)
                    fputc('-', fp);
                if (c + 1 < t->ncols)
                    fputs("  ", fp);
            }
            fputc('\n', fp);
        }
    }
    if (t->nrows == 0)
        fputs("(none)\n", fp);
    free(w);
}

void out_table_free(OutTable *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void out_json_print(FILE *fp, const json_t *v)
{
    json_dumpf(v, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    fputc('\n', fp);
}

void out_text(FILE *fp, const char *s, int keep_nl)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '\n' && keep_nl)
            fputc('\n', fp);
        else if (*p < 0x20 || *p == 0x7f)
            fputc(*p == '\t' || *p == '\n' ? ' ' : '?', fp);
        else
            fputc(*p, fp);
    }
}

void out_kv(FILE *fp, const char *key, const char *value)
{
    fprintf(fp, "  %-18s ", key);
    out_text(fp, value && *value ? value : "-", 0);
    fputc('\n', fp);
}

const char *out_json_cell(const json_t *v, char *buf, size_t len)
{
    if (!v || json_is_null(v))
        return "";
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, len, "%.2f", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "yes" : "no";
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, len, "%s", s ? s : "");
    free(s);
    return buf;
}
