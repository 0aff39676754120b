/* The taxonomy: harm categories, affected rights, vulnerability flags, sectors and countries,
 * each an id with a human label. Data in config/taxonomy.json, not code. */
#ifndef REDRESS_TAXONOMY_H
#define REDRESS_TAXONOMY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct Taxonomy Taxonomy;

typedef enum {
    TAXONOMY_CATEGORIES = 0,
    TAXONOMY_RIGHTS,
    TAXONOMY_VULNERABILITY,
    TAXONOMY_SECTORS,
    TAXONOMY_COUNTRIES,
    TAXONOMY_NLISTS
} TaxonomyList;

/* Loads a taxonomy file; NULL with the reason (file, line for JSON errors) in err. */
Taxonomy *taxonomy_load(const char *path, char *err, size_t errlen);
void taxonomy_free(Taxonomy *tax);
bool taxonomy_has(const Taxonomy *tax, TaxonomyList list, const char *id);
size_t taxonomy_count(const Taxonomy *tax, TaxonomyList list);
/* The i-th entry's id and label, borrowed from tax. */
const char *taxonomy_id(const Taxonomy *tax, TaxonomyList list, size_t i);
const char *taxonomy_label(const Taxonomy *tax, TaxonomyList list, size_t i);
/* The label of an id, or NULL. */
const char *taxonomy_label_of(const Taxonomy *tax, TaxonomyList list, const char *id);
/* The file's "version" (e.g. "2026-11-1"), or "" when it has none. */
const char *taxonomy_version(const Taxonomy *tax);
/* The JSON name of a list ("categories", "rights", ...). */
const char *taxonomy_list_name(TaxonomyList list);

#endif
