/* The grievance model: one submission, validated the same way for the HTTPS API (straight from the
 * request text, see grievance_parse), the HTML form and `redressctl import grievances` (from a
 * jansson object they build). Both feed one validator (common/grievance.c) with the same events,
 * so the rules and their messages exist once. Validation is complete before anything reaches the
 * database, so one bad row never aborts the rows batched with it. */
#ifndef REDRESS_GRIEVANCE_H
#define REDRESS_GRIEVANCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "taxonomy.h"

#define GRIEVANCE_DESCRIPTION_MAX 20000 /* characters (code points), not bytes */
#define GRIEVANCE_LIST_MAX 20           /* entries per list field */

typedef struct {
    const char *items[GRIEVANCE_LIST_MAX]; /* in the grievance's own memory */
    size_t n;
} StrList;

typedef struct GrievanceArena GrievanceArena;

/* Every string points into the grievance's arena: one block per submission, freed (and wiped) by
 * grievance_free. */
typedef struct Grievance {
    const char *description;
    const char *category;
    char country[3];
    StrList rights;
    StrList companies;
    StrList services;
    long people_affected; /* 0: not given */
    int ongoing;          /* -1: not given, else 0/1 */
    int immediate_danger; /* someone is in immediate danger because of this: -1 not answered, 0/1 */
    char started_on[11];  /* YYYY-MM-DD, or "" */
    StrList vulnerability;
    char complainant_type[16];
    const char *language; /* BCP 47 tag, or NULL */
    bool share_with_members;
    bool share_with_regulator;
    const char *contact_name, *contact_email, *contact_phone; /* NULL when absent; never logged */
    const char *contact_json; /* compact JSON of the contact object (sorted keys), or NULL */
    GrievanceArena *arena;    /* owned */
} Grievance;

/* Why a submission was refused: the field and a message that never echoes the submitted value. */
typedef struct {
    char field[64]; /* "description", "consent.share_with_members", or "" for the whole body */
    char code[32];  /* "required", "invalid", "unknown_field", "too_long", "not_an_object",
                       "malformed_json", "invalid_utf8" */
    char message[256];
    bool malformed; /* the body itself is unusable (HTTP 400), not one of its fields (422) */
} GrievanceError;

/* Validates the JSON text body[0..len) as it is parsed (yajl events, no tree): the text must be one
 * JSON object with no repeated key at any depth. Returns a new Grievance (caller frees with
 * grievance_free), or NULL with err filled; a syntax, UTF-8 or repeated-key error wins over a
 * field's error, as if the whole text had been parsed first. */
Grievance *grievance_parse(const char *body, size_t len, const Taxonomy *tax, GrievanceError *err);
/* The same rules over a jansson value (the form and the CSV import build one). */
Grievance *grievance_from_json(const json_t *obj, const Taxonomy *tax, GrievanceError *err);
void grievance_free(Grievance *g);

/* True when s is valid UTF-8 of at most max_chars code points (no NUL bytes). */
bool utf8_valid(const char *s, size_t len, size_t max_chars);

#endif
