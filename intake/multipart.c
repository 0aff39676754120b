/* multipart/form-data: boundary from the Content-Type, then each part's headers and bytes (see
 * multipart.h). Works on the whole body in memory: libevent has buffered it under the route's
 * limit before the handler runs. */
#include "multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_MAX 70 /* RFC 2046 */
#define PART_HEADERS_MAX 4096

/* A header parameter's value at p: a quoted string (no escapes, as browsers send them) or a token
 * ending at one of stops. Its start and length, or NULL for an unterminated quote. */
static const char *param_value(const char *p, const char *stops, size_t *n)
{
    if (*p != '"') {
        *n = strcspn(p, stops);
        return p;
    }
    p++;
    *n = strcspn(p, "\"");
    return p[*n] == '"' ? p : NULL;
}

/* The boundary parameter of a multipart/form-data Content-Type, quoted or not. */
static bool boundary_of(const char *ct, char out[BOUNDARY_MAX + 1])
{
    static const char type[] = "multipart/form-data";
    if (!ct || strncasecmp(ct, type, sizeof type - 1) != 0)
        return false;
    const char *p = ct + sizeof type - 1;
    while (*p) {
        p += strspn(p, " \t;");
        if (strncasecmp(p, "boundary=", 9) == 0) {
            size_t n;
            p = param_value(p + 9, " \t;", &n);
            if (!p || n == 0 || n > BOUNDARY_MAX)
                return false;
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
                    return false;
            memcpy(out, p, n);
            out[n] = '\0';
            return true;
        }
        p += strcspn(p, ";");
    }
    return false;
}

/* A Content-Disposition parameter (name="..." or name=token) into out; false when absent. */
static bool disposition_param(const char *value, const char *param, char *out, size_t outlen)
{
    size_t plen = strlen(param);
    const char *p = value;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        p += strspn(p, " \t");
        if (strncasecmp(p, param, plen) != 0 || p[plen] != '=')
            continue;
        size_t n;
        p = param_value(p + plen + 1, "; \t", &n);
        if (!p)
            return false;
        if (n >= outlen)
            n = outlen - 1;
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* One part's header block (text up to the blank line, without it). */
static bool part_headers(const char *h, size_t len, MultipartPart *part)
{
    char line[PART_HEADERS_MAX + 1];
    bool disposition = false;
    size_t i = 0;
    while (i < len) {
        const char *eol = memmem(h + i, len - i, "\r\n", 2);
        size_t n = eol ? (size_t)(eol - (h + i)) : len - i;
        memcpy(line, h + i, n);
        line[n] = '\0';
        if (memchr(h + i, '\0', n))
            return false;
        i += n + 2;
        char *colon = strchr(line, ':');
        if (!colon)
            return false;
        *colon = '\0';
        const char *value = colon + 1 + strspn(colon + 1, " \t");
        if (strcasecmp(line, "Content-Disposition") == 0) {
            if (strncasecmp(value, "form-data", 9) != 0 || (value[9] && value[9] != ';'))
                return false;
            if (!disposition_param(value, "name", part->name, sizeof part->name))
                return false;
            part->has_filename =
                disposition_param(value, "filename", part->filename, sizeof part->filename);
            disposition = true;
        } else if (strcasecmp(line, "Content-Type") == 0) {
            snprintf(part->content_type, sizeof part->content_type, "%s", value);
        }
    }
    return disposition;
}

MultipartResult multipart_parse(const char *content_type, const unsigned char *body, size_t len,
                                MultipartPart *parts, int *nparts)
{
    char boundary[BOUNDARY_MAX + 1];
    char delim[BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
    *nparts = 0;
    if (!boundary_of(content_type, boundary))
        return MULTIPART_BAD_BOUNDARY;
    size_t blen = strlen(boundary);
    snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    size_t dlen = blen + 4;
    const char *b = (const char *)body;
    const char *end = b + len;
    const char *p;
    /* The first delimiter opens the body, or follows a preamble. */
    if (len >= dlen - 2 && memcmp(b, delim + 2, dlen - 2) == 0)
        p = b + dlen - 2;
    else if ((p = memmem(b, len, delim, dlen)) != NULL)
        p += dlen;
    else
        return MULTIPART_MALFORMED;
    for (;;) {
        /* After a delimiter: "--" closes the body, CRLF opens a part. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return MULTIPART_OK;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return MULTIPART_MALFORMED;
        p += 2;
        if (*nparts == MULTIPART_MAX_PARTS)
            return MULTIPART_TOO_MANY;
        MultipartPart *part = &parts[*nparts];
        memset(part, 0, sizeof *part);
        /* A part without headers has no Content-Disposition: refused. */
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend || hend == p || hend - p > PART_HEADERS_MAX ||
            !part_headers(p, (size_t)(hend - p), part))
            return MULTIPART_MALFORMED;
        const char *data = hend + 4;
        const char *next = memmem(data, (size_t)(end - data), delim, dlen);
        if (!next)
            return MULTIPART_MALFORMED; /* cut short: no delimiter after the part's bytes */
        part->data = (const unsigned char *)data;
        part->len = (size_t)(next - data);
        (*nparts)++;
        p = next + dlen;
    }
}

const MultipartPart *multipart_find(const MultipartPart *parts, int nparts, const char *name)
{
    for (int i = 0; i < nparts; i++)
        if (strcmp(parts[i].name, name) == 0)
            return &parts[i];
    return NULL;
}
