/* The severity model: scale (gravity of the category), scope (people affected, log scale),
 * irremediable character, urgency and vulnerability, each a factor with its points and the reason,
 * summed to a score 0..100 and a band P1..P4. Every factor that fired is listed, so a ranking can
 * be explained to the person who filed it and to a regulator. Pure computation: no database. */
#ifndef REDRESS_TRIAGE_SCORE_H
#define REDRESS_TRIAGE_SCORE_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

#define SCORE_MAX_FACTORS 24

/* What a case is scored from (one grievance is a case of one). Strings borrowed. */
typedef struct {
    const char *category;
    long long people;                 /* largest stated estimate of people affected (>= 1) */
    long long grievances;             /* grievances in the case (>= 1) */
    bool ongoing;                     /* some grievance says the harm is ongoing or imminent */
    bool danger;                      /* some grievance says someone is in immediate danger */
    const char *const *vulnerability; /* flags of the rights-holders in the case */
    size_t nvulnerability;
} ScoreInput;

typedef struct {
    char rule[64]; /* "scale", "scope", "irremediable", "worsens", "urgency",
                      "vulnerability:<flag>", "vulnerability_cap", "combination:<name>",
                      "score_cap", "band_floor", "immediate_danger" */
    double points;
    char why[240];
} ScoreFactor;

typedef struct {
    double scale, scope, irremediable, urgency, vulnerability, combination; /* component points */
    double score; /* 0..100, rounded to two decimals */
    Band band;
    ScoreFactor factors[SCORE_MAX_FACTORS];
    size_t nfactors;
} Score;

void score_compute(const Rules *r, const ScoreInput *in, Score *out);
/* The components as a JSON object and the factors as a JSON array [{rule, points, why}], for
 * triage_decision. Return malloc'ed text, caller frees. */
char *score_components_json(const Score *s);
char *score_factors_json(const Score *s);
/* True when the factors list names rule (exactly, or as a prefix ending in ':'). */
bool score_has_factor(const Score *s, const char *rule);

#endif
