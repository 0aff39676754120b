/* The validator's input, internal to common/: a JSON value as a stream of events (a parser's
 * callbacks, or a walk over a jansson tree), fed to the field rules of grievance.c. The reader
 * keeps the first error and ignores everything after it, so a caller may keep feeding events (to
 * let the parser find a syntax error further on, which wins). */
#ifndef REDRESS_GRIEVANCE_READER_H
#define REDRESS_GRIEVANCE_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "grievance.h"

typedef enum {
    GV_NULL,
    GV_BOOL,
    GV_INT,
    GV_REAL,
    GV_STRING,
    GV_ARRAY,  /* the start of an array: its items follow, then grievance_reader_end */
    GV_OBJECT, /* the start of an object: keys and values follow, then grievance_reader_end */
} GValueType;

typedef struct {
    GValueType type;
    const char *s; /* GV_STRING: borrowed for the call, not NUL-terminated */
    size_t len;
    long long i; /* GV_INT */
    bool b;      /* GV_BOOL */
} GValue;

typedef struct GrievanceReader GrievanceReader;

/* A reader filling a new Grievance; arena_hint is the expected size of its strings. */
GrievanceReader *grievance_reader_new(const Taxonomy *tax, GrievanceError *err, size_t arena_hint);
/* A value (or the start of a container) where the reader is. */
void grievance_reader_value(GrievanceReader *r, const GValue *v);
/* The key of the next member of the current object. */
void grievance_reader_key(GrievanceReader *r, const char *key, size_t len);
/* The end of the current container. */
void grievance_reader_end(GrievanceReader *r);
/* Sets err (malformed) and stops reading: the input is not usable JSON. */
void grievance_reader_malformed(GrievanceReader *r, const char *code, const char *message);
/* True once an error is kept. */
bool grievance_reader_failed(const GrievanceReader *r);
/* Ends reading: returns the grievance (required fields checked) or NULL with err filled. Frees
 * the reader either way. */
Grievance *grievance_reader_finish(GrievanceReader *r);

/* The length of the UTF-8 sequence at s (at most avail bytes), or 0 when it is not one (overlong,
 * surrogate, past U+10FFFF, truncated) or is a NUL byte. */
size_t utf8_sequence(const char *s, size_t avail);

/* Lengths of s's leading run (at most len bytes) of the bytes most text is made of, found eight
 * at a time: ascii_run takes 0x01..0x7F; json_plain_run takes 0x20..0x7F but '"' and '\\' (the
 * bytes that change nothing while scanning JSON). */
size_t ascii_run(const char *s, size_t len);
size_t json_plain_run(const char *s, size_t len);

#endif
