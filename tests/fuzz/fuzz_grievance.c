/* libFuzzer target: untrusted request bodies through the JSON parser and grievance validation,
 * and, when valid, the row mapping. Must never crash, leak or trip a sanitizer. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "grievance.h"
#include "taxonomy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Taxonomy *tax;
    char err[256];
    if (!tax && !(tax = taxonomy_load("config/taxonomy.json", err, sizeof err))) {
        fprintf(stderr, "fuzz: %s (run from the repository root)\n", err);
        abort();
    }
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return 0;
    GrievanceError gerr;
    Grievance *g = grievance_from_json(obj, tax, &gerr);
    if (g) {
        GrievanceRowMeta meta = {0, "REF", "api", "00", NULL, NULL, NULL};
        json_t *row = grievance_row_json(g, &meta);
        char *text = json_dumps(row, JSON_COMPACT);
        FUZZ_ASSERT(text != NULL); /* a validated grievance must always serialise */
        free(text);
        json_decref(row);
        grievance_free(g);
    }
    json_decref(obj);
    return 0;
}
