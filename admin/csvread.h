/* Reading CSV files for the imports with libcsv's parser: each record is handed to a callback
 * with the line it started on, so every error can name its line. The file is streamed; records
 * and fields have hard limits. */
#ifndef REDRESS_ADMIN_CSVREAD_H
#define REDRESS_ADMIN_CSVREAD_H

#include <stddef.h>

#define CSVREAD_MAX_FIELDS 64
#define CSVREAD_MAX_FIELD 131072 /* bytes in one cell */

/* Called once per record (the header too). fields are NUL-terminated, borrowed until return.
 * Return 0 to go on, -1 to stop reading (the reason is the callback's to keep). */
typedef int (*CsvReadRowFn)(void *user, char **fields, size_t nfields, long line);

/* Reads path (a leading UTF-8 byte order mark is skipped). Returns 0, or -1 with a reason naming
 * the line in err when the file cannot be read or is not well-formed CSV, or the callback
 * stopped (err then says so only when empty). */
int csvread_file(const char *path, CsvReadRowFn fn, void *user, char *err, size_t errlen);

/* Splits s in place on sep into at most max trimmed, non-empty items (pointers into s). Returns
 * the count, or -1 when there are more than max. */
int csvread_split(char *s, char sep, char **items, int max);

#endif
