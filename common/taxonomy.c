/* Taxonomy loaded from JSON (jansson) into sorted arrays for binary search. */
#include "taxonomy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct {
    char *id;
    char *label;
} TaxonomyEntry;

struct Taxonomy {
    TaxonomyEntry *entries[TAXONOMY_NLISTS]; /* in file order, for display */
    TaxonomyEntry **sorted[TAXONOMY_NLISTS]; /* by id, for look-up */
    size_t count[TAXONOMY_NLISTS];
    char *version; /* the file's "version", or "" */
};

static const char *const taxonomy_names[TAXONOMY_NLISTS] = {"categories", "rights", "vulnerability",
                                                            "sectors", "countries"};

const char *taxonomy_list_name(TaxonomyList list)
{
    return taxonomy_names[list];
}

const char *taxonomy_version(const Taxonomy *tax)
{
    return tax->version;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp((*(TaxonomyEntry *const *)a)->id, (*(TaxonomyEntry *const *)b)->id);
}

Taxonomy *taxonomy_load(const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    Taxonomy *tax = NULL;
    if (!root) {
        snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    tax = xcalloc(1, sizeof *tax);
    for (int l = 0; l < TAXONOMY_NLISTS; l++) {
        json_t *arr = json_object_get(root, taxonomy_names[l]);
        if (!json_is_array(arr) || json_array_size(arr) == 0) {
            snprintf(err, errlen, "%s: \"%s\" must be a non-empty array", path, taxonomy_names[l]);
            goto fail;
        }
        size_t n = json_array_size(arr);
        tax->entries[l] = xcalloc(n, sizeof(TaxonomyEntry));
        tax->sorted[l] = xcalloc(n, sizeof(TaxonomyEntry *));
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(arr, i);
            const char *id = json_string_value(json_object_get(e, "id"));
            const char *label = json_string_value(json_object_get(e, "label"));
            if (!id || !label || !*id || strlen(id) > 64) {
                snprintf(err, errlen,
                         "%s: %s[%zu] needs an \"id\" (1..64 characters) and a \"label\"", path,
                         taxonomy_names[l], i);
                goto fail;
            }
            tax->entries[l][i].id = xstrdup(id);
            tax->entries[l][i].label = xstrdup(label);
            tax->sorted[l][i] = &tax->entries[l][i];
            tax->count[l] = i + 1;
        }
        qsort(tax->sorted[l], n, sizeof(TaxonomyEntry *), entry_cmp);
        for (size_t i = 1; i < n; i++) {
            if (strcmp(tax->sorted[l][i - 1]->id, tax->sorted[l][i]->id) == 0) {
                snprintf(err, errlen, "%s: %s: id \"%s\" appears twice", path, taxonomy_names[l],
                         tax->sorted[l][i]->id);
                goto fail;
            }
        }
    }
    const char *version = json_string_value(json_object_get(root, "version"));
    tax->version = xstrdup(version ? version : "");
    json_decref(root);
    return tax;
fail:
    json_decref(root);
    taxonomy_free(tax);
    return NULL;
}

void taxonomy_free(Taxonomy *tax)
{
    if (!tax)
        return;
    for (int l = 0; l < TAXONOMY_NLISTS; l++) {
        for (size_t i = 0; i < tax->count[l]; i++) {
            free(tax->entries[l][i].id);
            free(tax->entries[l][i].label);
        }
        free(tax->entries[l]);
        free(tax->sorted[l]);
    }
    free(tax->version);
    free(tax);
}

static const TaxonomyEntry *taxonomy_find(const Taxonomy *tax, TaxonomyList list, const char *id)
{
    TaxonomyEntry key = {(char *)id, NULL}, *keyp = &key;
    TaxonomyEntry **found =
        bsearch(&keyp, tax->sorted[list], tax->count[list], sizeof(TaxonomyEntry *), entry_cmp);
    return found ? *found : NULL;
}

bool taxonomy_has(const Taxonomy *tax, TaxonomyList list, const char *id)
{
    return taxonomy_find(tax, list, id) != NULL;
}

size_t taxonomy_count(const Taxonomy *tax, TaxonomyList list)
{
    return tax->count[list];
}

const char *taxonomy_id(const Taxonomy *tax, TaxonomyList list, size_t i)
{
    return tax->entries[list][i].id;
}

const char *taxonomy_label(const Taxonomy *tax, TaxonomyList list, size_t i)
{
    return tax->entries[list][i].label;
}

const char *taxonomy_label_of(const Taxonomy *tax, TaxonomyList list, const char *id)
{
    const TaxonomyEntry *e = taxonomy_find(tax, list, id);
    return e ? e->label : NULL;
}
