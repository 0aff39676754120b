/* libFuzzer target: untrusted request bodies through both ways into grievance validation — the
 * API's streaming parser (grievance_parse) and jansson + grievance_from_json (the form's and the
 * import's way, and the API's before) — which must agree on every input: the same verdict, the
 * same error code and field, the same grievance. A valid one is then built into a row. Must never
 * crash, leak or trip a sanitizer. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "grievance.h"
#include "grievance_row.h"
#include "taxonomy.h"

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool list_same(const StrList *a, const StrList *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

static bool grievance_same(const Grievance *a, const Grievance *b)
{
    return str_same(a->description, b->description) && str_same(a->category, b->category) &&
           strcmp(a->country, b->country) == 0 && list_same(&a->rights, &b->rights) &&
           list_same(&a->companies, &b->companies) && list_same(&a->services, &b->services) &&
           list_same(&a->vulnerability, &b->vulnerability) &&
           a->people_affected == b->people_affected && a->ongoing == b->ongoing &&
           a->immediate_danger == b->immediate_danger &&
           strcmp(a->started_on, b->started_on) == 0 &&
           strcmp(a->complainant_type, b->complainant_type) == 0 &&
           str_same(a->language, b->language) && a->share_with_members == b->share_with_members &&
           a->share_with_regulator == b->share_with_regulator &&
           str_same(a->contact_json, b->contact_json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Taxonomy *tax;
    static const unsigned char key[32] = {1};
    char err[256];
    if (!tax && !(tax = taxonomy_load("config/taxonomy.json", err, sizeof err))) {
        fprintf(stderr, "fuzz: %s (run from the repository root)\n", err);
        abort();
    }
    GrievanceError perr, jerr_g;
    Grievance *gp = grievance_parse((const char *)data, size, tax, &perr);

    if (memchr(data, 0, size)) {
        /* jansson takes a NUL byte between tokens as if it were not there; we refuse it. */
        FUZZ_ASSERT(gp == NULL && perr.malformed);
        return 0;
    }
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        /* Not JSON to jansson: not JSON to the parser either (which of the two reasons may differ
         * when the text has both a syntax error and, later, a bad byte). */
        FUZZ_ASSERT(gp == NULL && perr.malformed);
        FUZZ_ASSERT(strcmp(perr.code, "malformed_json") == 0 ||
                    strcmp(perr.code, "invalid_utf8") == 0);
        if (json_error_code(&jerr) == json_error_invalid_utf8)
            FUZZ_ASSERT(strcmp(perr.code, "invalid_utf8") == 0);
        return 0;
    }
    Grievance *gj = grievance_from_json(obj, tax, &jerr_g);
    FUZZ_ASSERT((gp == NULL) == (gj == NULL));
    if (gp) {
        FUZZ_ASSERT(grievance_same(gp, gj));
        GrievanceRow row;
        GrievanceRowInput in = {"api", key, key, "k", key};
        FUZZ_ASSERT(grievance_row_build(&row, gp, &in, err, sizeof err) == 0);
        RowBatch *b = row_batch_new();
        row_batch_add(b, &row);
        /* The description goes as it is: after the array's header, its length and its bytes. */
        const RowBatchParams *p = row_batch_params(b);
        size_t n = strlen(gp->description);
        FUZZ_ASSERT(p->lengths[ROW_DESCRIPTION] == 24 + (int)n &&
                    memcmp(p->values[ROW_DESCRIPTION] + 24, gp->description, n) == 0);
        row_batch_free(b);
        grievance_row_clear(&row);
    } else {
        FUZZ_ASSERT(strcmp(perr.code, jerr_g.code) == 0 && strcmp(perr.field, jerr_g.field) == 0 &&
                    perr.malformed == jerr_g.malformed);
    }
    grievance_free(gp);
    grievance_free(gj);
    json_decref(obj);
    return 0;
}
