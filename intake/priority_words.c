/* The priority's reasons as sentences (see priority_words.h). */
#include "priority_words.h"

#include <stdlib.h>
#include <string.h>

#define VULNERABILITY_RULE "vulnerability:"

static const char *factor_rule(const json_t *factor)
{
    const char *rule = json_string_value(json_object_get(factor, "rule"));
    return rule ? rule : "";
}

static json_t *priority_factors(const json_t *story)
{
    return json_object_get(json_object_get(story, "priority"), "factors");
}

void priority_factors_label(json_t *story, const Taxonomy *tax)
{
    size_t i;
    json_t *factor;
    json_array_foreach(priority_factors(story), i, factor)
    {
        const char *rule = factor_rule(factor);
        const char *id = NULL, *label = NULL;
        if (strcmp(rule, "scale") == 0) {
            id = json_string_value(json_object_get(factor, "category"));
            label = id ? taxonomy_label_of(tax, TAXONOMY_CATEGORIES, id) : NULL;
        } else if (strncmp(rule, VULNERABILITY_RULE, strlen(VULNERABILITY_RULE)) == 0) {
            id = rule + strlen(VULNERABILITY_RULE);
            label = taxonomy_label_of(tax, TAXONOMY_VULNERABILITY, id);
        }
        if (id)
            json_object_set_new(factor, "label", json_string(label ? label : id));
    }
}

/* The sentence for one factor, or NULL when it is not one to tell people (a cap, a floor). */
static char *factor_sentence(const Lang *l, const json_t *factor)
{
    const char *rule = factor_rule(factor);
    const char *label = json_string_value(json_object_get(factor, "label"));
    const char *text = NULL, *name = NULL, *value = NULL;
    if (strcmp(rule, "immediate_danger") == 0) {
        text = N_("You told us that someone is in immediate danger because of this.");
    } else if (strcmp(rule, "scale") == 0) {
        text = N_("The kind of harm: {harm}.");
        name = "harm";
        value = trc(l, taxonomy_list_name(TAXONOMY_CATEGORIES), label ? label : "");
    } else if (strcmp(rule, "scope") == 0) {
        text = N_("The number of people affected.");
    } else if (strcmp(rule, "irremediable") == 0) {
        text = N_("Harm of this kind can be impossible to undo.");
    } else if (strcmp(rule, "worsens") == 0) {
        text = N_("Harm of this kind grows worse for as long as it goes on.");
    } else if (strcmp(rule, "urgency") == 0) {
        text = N_("The harm is still going on, or is about to happen.");
    } else if (strncmp(rule, VULNERABILITY_RULE, strlen(VULNERABILITY_RULE)) == 0) {
        text = N_("A person at particular risk is affected: {group}.");
        name = "group";
        value = trc(l, taxonomy_list_name(TAXONOMY_VULNERABILITY), label ? label : "");
    } else if (strncmp(rule, "combination:", strlen("combination:")) == 0) {
        text = N_("This kind of harm, done to a person at particular risk, is among the most "
                  "serious.");
    } else {
        return NULL;
    }
    const char *pairs[] = {name, value, NULL};
    return i18n_expand(tr(l, text), pairs); /* no name: pairs is empty */
}

json_t *priority_reasons(const json_t *story, const Lang *l)
{
    json_t *reasons = json_array();
    size_t i;
    json_t *factor;
    json_array_foreach(priority_factors(story), i, factor)
    {
        char *sentence = factor_sentence(l, factor);
        if (sentence)
            json_array_append_new(reasons, json_string(sentence));
        free(sentence);
    }
    return reasons;
}
