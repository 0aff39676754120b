/* Small helpers shared by every program: allocation that aborts on out-of-memory (hard limits on
 * client input keep clients from getting there), hex encoding, whole-file reading. */
#ifndef REDRESS_UTIL_H
#define REDRESS_UTIL_H

#include <stdbool.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Writes 2*len lower-case hex digits and a NUL to out (size >= 2*len+1). */
void hex_encode(const unsigned char *in, size_t len, char *out);
/* Decodes exactly outlen bytes from 2*outlen hex digits; returns 0, or -1 on a bad digit/length. */
int hex_decode(const char *in, unsigned char *out, size_t outlen);

/* Reads a whole file of at most max bytes; returns a NUL-terminated buffer (caller frees) and its
 * length in *len, or NULL with a reason in err. */
char *file_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* Constant-time comparison for secrets. */
bool bytes_equal_ct(const unsigned char *a, const unsigned char *b, size_t n);

#endif
