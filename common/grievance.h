/* The grievance model: one submission, validated from a JSON object exactly the same way for the
 * HTTPS API, the HTML form (which builds the same object) and `redressctl import grievances`.
 * Validation is complete before anything reaches the database, so one bad row never aborts the
 * rows batched with it. */
#ifndef REDRESS_GRIEVANCE_H
#define REDRESS_GRIEVANCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "taxonomy.h"

#define GRIEVANCE_DESCRIPTION_MAX 20000 /* characters (code points), not bytes */

typedef struct {
    char **items;
    size_t n;
} StrList;

typedef struct Grievance {
    char *description;
    char *category;
    char country[3];
    StrList rights;
    StrList companies;
    StrList services;
    long people_affected; /* 0: not given */
    int ongoing;          /* -1: not given, else 0/1 */
    char started_on[11];  /* YYYY-MM-DD, or "" */
    StrList vulnerability;
    char complainant_type[16];
    char *language; /* BCP 47 tag, or NULL */
    bool share_with_members;
    bool share_with_regulator;
    char *contact_json; /* compact JSON of the contact object, or NULL; never logged */
} Grievance;

/* Why a submission was refused: the field and a message that never echoes the submitted value. */
typedef struct {
    char field[64]; /* "description", "consent.share_with_members", or "" for the whole body */
    char code[32];  /* "required", "invalid", "unknown_field", "too_long", "not_an_object" */
    char message[256];
} GrievanceError;

/* Validates obj. Returns a new Grievance (caller frees with grievance_free), or NULL with err
 * filled. */
Grievance *grievance_from_json(const json_t *obj, const Taxonomy *tax, GrievanceError *err);
void grievance_free(Grievance *g);

/* What intake_submit() needs beside the grievance itself. All strings borrowed. */
typedef struct {
    int n; /* the row's position in its batch */
    const char *reference;
    const char *channel; /* "api", "form" or "import" */
    const char *receipt_hash_hex;
    const char *contact_enc_b64;  /* NULL when no contact */
    const char *idempotency_key;  /* NULL when none */
    const char *request_hash_hex; /* NULL when no idempotency key */
} GrievanceRowMeta;

/* The row object intake_submit(jsonb) takes (see sql/001_schema.sql); caller json_decref-s. */
json_t *grievance_row_json(const Grievance *g, const GrievanceRowMeta *meta);

/* True when s is valid UTF-8 of at most max_chars code points (no NUL bytes). */
bool utf8_valid(const char *s, size_t len, size_t max_chars);

#endif
