/* Human and machine output. A readable table (column widths from the data, control characters
 * replaced so database text cannot drive the terminal) or "key: value" lines by default; JSON on
 * stdout with --json. */
#ifndef REDRESS_ADMIN_OUTPUT_H
#define REDRESS_ADMIN_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

typedef struct OutTable OutTable;

/* A table with ncols columns named by headers (copied). */
OutTable *out_table_new(const char *const *headers, size_t ncols);
/* Adds a row of ncols cells (copied; NULL prints as empty). */
void out_table_add(OutTable *t, const char *const *cells);
void out_table_print(const OutTable *t, FILE *fp);
void out_table_free(OutTable *t);

/* Prints v as indented JSON and a newline. Borrowed. */
void out_json_print(FILE *fp, const json_t *v);
/* "  key: value" with value made printable; NULL/"" prints "-". */
void out_kv(FILE *fp, const char *key, const char *value);
/* fputs with control characters replaced by '?', keeping newlines when keep_nl. */
void out_text(FILE *fp, const char *s, int keep_nl);

/* A JSON value's text for a table cell: strings as is, numbers and booleans formatted, null and
 * missing as "". Returns a pointer into buf or into v. */
const char *out_json_cell(const json_t *v, char *buf, size_t len);

#endif
