/* Writing CSV for regulators: every cell quoted, quotes doubled (RFC 4180, CRLF line ends),
 * cells that a spreadsheet would evaluate neutralised with a leading
 * apostrophe, and a running SHA-256 and byte count of everything written. Rows are built in a
 * buffer and written whole, so memory stays constant whatever the row count. */
#ifndef REDRESS_ADMIN_CSVOUT_H
#define REDRESS_ADMIN_CSVOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct CsvOut CsvOut;

/* True when a spreadsheet could take the cell for a formula: it starts with '=', '+', '-', '@',
 * tab or carriage return. */
bool csvout_needs_neutral(const char *s, size_t len);

/* A writer to fp (borrowed; the caller closes it). */
CsvOut *csvout_new(FILE *fp);
void csvout_free(CsvOut *o);
/* Appends one cell to the current row; s NULL writes an empty cell. */
void csvout_cell(CsvOut *o, const char *s, size_t len);
/* Ends the row (CRLF), hashes it and writes it out. 0, or -1 on a write error (errno set). */
int csvout_row_end(CsvOut *o);
/* Lowercase hex SHA-256 of all rows written so far; ends hashing (call once, at the end). */
void csvout_finish(CsvOut *o, char hex[65]);
uint64_t csvout_bytes(const CsvOut *o);

/* Formats one cell into dest as the writer would (quoted, neutralised), for tests; returns the
 * length, or the length needed when it does not fit. */
size_t csvout_format_cell(char *dest, size_t destlen, const char *s, size_t len);

#endif
