/* The priority's reasons in the person's own words and language (issue 8, item 1). The triage
 * explanation is written for remedy teams, in English ("harm category network_shutdown: gravity 8
 * of 10"); grievance_priority_factors (sql/020) gives which rules weighed most as ids, and each
 * becomes one plain sentence here. Taxonomy labels travel as their English text, which is the
 * msgid of their translation. */
#ifndef REDRESS_INTAKE_PRIORITY_WORDS_H
#define REDRESS_INTAKE_PRIORITY_WORDS_H

#include <jansson.h>

#include "i18n.h"
#include "taxonomy.h"

/* Gives each factor of story's priority that names a harm category or a group at risk a "label":
 * that entry's English label in tax (the id itself when tax no longer has it). */
void priority_factors_label(json_t *story, const Taxonomy *tax);

/* One sentence in l for each factor of story's priority said to people (caps and floors are not),
 * as a new JSON array of strings; empty when the story has no factors. */
json_t *priority_reasons(const json_t *story, const Lang *l);

#endif
