/* A multipart/form-data body (RFC 7578), as browsers and HTTP libraries send it: the parts'
 * names, file names, declared types and bytes, pointing into the body. Strict: a body without its
 * boundary, a part without Content-Disposition form-data, or a body cut short before the closing
 * delimiter is refused whole. */
#ifndef REDRESS_INTAKE_MULTIPART_H
#define REDRESS_INTAKE_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

/* The grievance form: about 45 text parts (every checkbox is one) and its files. */
#define MULTIPART_MAX_PARTS 64

typedef struct {
    char name[64];             /* the form field */
    char filename[256];        /* as sent (the browser's base name), when has_filename */
    bool has_filename;         /* a file part (filename="" too: an empty file input) */
    char content_type[128];    /* declared, or "" */
    const unsigned char *data; /* borrowed from the body */
    size_t len;
} MultipartPart;

typedef enum {
    MULTIPART_OK = 0,
    MULTIPART_BAD_BOUNDARY, /* Content-Type is not multipart/form-data with a usable boundary */
    MULTIPART_MALFORMED,    /* no opening delimiter, a bad part header, or cut short */
    MULTIPART_TOO_MANY,     /* more than MULTIPART_MAX_PARTS parts */
} MultipartResult;

/* Parses body (len bytes, borrowed: the parts point into it) sent with Content-Type
 * content_type into parts[MULTIPART_MAX_PARTS]; *nparts is how many. */
MultipartResult multipart_parse(const char *content_type, const unsigned char *body, size_t len,
                                MultipartPart *parts, int *nparts);

/* The first part named name, or NULL. */
const MultipartPart *multipart_find(const MultipartPart *parts, int nparts, const char *name);

#endif
