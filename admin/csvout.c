/* CSV output for exports (see csvout.h): neutralisation, quoting, hashing. */
#include "csvout.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct CsvOut {
    FILE *fp;  /* borrowed */
    char *row; /* the row being built */
    size_t len, cap;
    bool first_cell; /* no comma before the next cell */
    EVP_MD_CTX *md;
    uint64_t bytes;
};

bool csvout_needs_neutral(const char *s, size_t len)
{
    return len > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
                       s[0] == '\r');
}

CsvOut *csvout_new(FILE *fp)
{
    CsvOut *o = xcalloc(1, sizeof *o);
    o->fp = fp;
    o->cap = 4096;
    o->row = xmalloc(o->cap);
    o->first_cell = true;
    o->md = EVP_MD_CTX_new();
    if (!o->md || EVP_DigestInit_ex(o->md, EVP_sha256(), NULL) != 1)
        abort(); /* out of memory in OpenSSL */
    return o;
}

void csvout_free(CsvOut *o)
{
    if (!o)
        return;
    EVP_MD_CTX_free(o->md);
    free(o->row);
    free(o);
}

static void csvout_reserve(CsvOut *o, size_t more)
{
    if (o->len + more <= o->cap)
        return;
    while (o->len + more > o->cap)
        o->cap *= 2;
    o->row = xrealloc(o->row, o->cap);
}

/* Writes one cell as RFC 4180 wants it, into dest (room for 2 * len + 3 bytes): in quotes,
 * every quote doubled, an apostrophe first when a spreadsheet would take it for a formula. Returns
 * the length. The same bytes as libcsv's csv_write did, which went a byte at a time and was the
 * largest single cost of a million-row export; here runs between quotes are copied whole. */
static size_t csvout_quote(char *dest, const char *s, size_t len)
{
    char *d = dest;
    *d++ = '"';
    if (csvout_needs_neutral(s, len))
        *d++ = '\'';
    const char *end = s + len;
    while (s < end) {
        const char *q = memchr(s, '"', (size_t)(end - s));
        size_t run = q ? (size_t)(q - s) + 1 : (size_t)(end - s);
        memcpy(d, s, run);
        d += run;
        s += run;
        if (q)
            *d++ = '"';
    }
    *d++ = '"';
    return (size_t)(d - dest);
}

void csvout_cell(CsvOut *o, const char *s, size_t len)
{
    csvout_reserve(o, 2 * len + 4);
    if (!o->first_cell)
        o->row[o->len++] = ',';
    o->first_cell = false;
    o->len += csvout_quote(o->row + o->len, s ? s : "", s ? len : 0);
}

int csvout_row_end(CsvOut *o)
{
    csvout_reserve(o, 2);
    o->row[o->len++] = '\r';
    o->row[o->len++] = '\n';
    EVP_DigestUpdate(o->md, o->row, o->len);
    size_t n = fwrite(o->row, 1, o->len, o->fp);
    int rc = n == o->len ? 0 : -1;
    o->bytes += o->len;
    o->len = 0;
    o->first_cell = true;
    return rc;
}

void csvout_finish(CsvOut *o, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(o->md, md, &n);
    hex_encode(md, n, hex);
}

uint64_t csvout_bytes(const CsvOut *o)
{
    return o->bytes;
}

size_t csvout_format_cell(char *dest, size_t destlen, const char *s, size_t len)
{
    char *tmp = xmalloc(2 * len + 3);
    size_t n = csvout_quote(tmp, s, len);
    if (n <= destlen)
        memcpy(dest, tmp, n);
    free(tmp);
    return n;
}
