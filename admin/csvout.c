/* CSV output for exports (see csvout.h): neutralisation, libcsv quoting, hashing. */
#include "csvout.h"

#include <csv.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct CsvOut {
    FILE *fp;  /* borrowed */
    char *row; /* the row being built */
    size_t len, cap;
    char *scratch; /* a neutralised copy of a cell */
    size_t scratch_cap;
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
    free(o->scratch);
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

void csvout_cell(CsvOut *o, const char *s, size_t len)
{
    if (!o->first_cell) {
        csvout_reserve(o, 1);
        o->row[o->len++] = ',';
    }
    o->first_cell = false;
    if (!s) {
        s = "";
        len = 0;
    }
    if (csvout_needs_neutral(s, len)) {
        if (len + 1 > o->scratch_cap) {
            o->scratch_cap = len + 1;
            o->scratch = xrealloc(o->scratch, o->scratch_cap);
        }
        o->scratch[0] = '\'';
        memcpy(o->scratch + 1, s, len);
        s = o->scratch;
        len++;
    }
    /* Quoted, every quote doubled: at most 2*len + 2 bytes. */
    csvout_reserve(o, 2 * len + 2);
    o->len += csv_write(o->row + o->len, o->cap - o->len, s, len);
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
    if (csvout_needs_neutral(s, len)) {
        char *tmp = xmalloc(len + 1);
        tmp[0] = '\'';
        memcpy(tmp + 1, s, len);
        size_t n = csv_write(dest, destlen, tmp, len + 1);
        free(tmp);
        return n;
    }
    return csv_write(dest, destlen, s, len);
}
