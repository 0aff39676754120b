/* Moving arrays across the libpq text protocol: building PostgreSQL array literals for the
 * batched statements (one parameter per column, unnest() on the server: one statement per
 * batch instead of one per row), and reading text[] columns the server sent as JSON
 * (array_to_json(...)::text). */
#ifndef REDRESS_TRIAGE_SQLARRAY_H
#define REDRESS_TRIAGE_SQLARRAY_H

#include <stddef.h>

typedef struct {
    char *buf;
    size_t len, cap;
    size_t n; /* elements so far */
} SqlArray;

void sqlarray_init(SqlArray *a);
void sqlarray_free(SqlArray *a);
void sqlarray_reset(SqlArray *a);
/* Appends a quoted, escaped text element; NULL appends SQL NULL. */
void sqlarray_add_text(SqlArray *a, const char *s);
void sqlarray_add_int(SqlArray *a, long long v);
void sqlarray_add_double(SqlArray *a, double v); /* %.17g, enough to round-trip */
void sqlarray_add_fixed2(SqlArray *a, double v); /* two decimals, for numeric(5,2) */
void sqlarray_add_bool(SqlArray *a, int v);
/* The literal "{...}"; borrowed until the next add/reset/free. */
const char *sqlarray_text(SqlArray *a);

/* Parses a JSON array of strings (or "null"); *out is a malloc'ed vector of malloc'ed strings
 * (free with sqlarray_strings_free). Returns 0, or -1 when the text is not such an array. */
int sqlarray_strings_parse(const char *json, char ***out, size_t *n);
void sqlarray_strings_free(char **v, size_t n);

#endif
