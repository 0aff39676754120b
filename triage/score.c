/* Severity scoring (score.h): each component adds a factor with its points and reason; the band
 * comes from the rounded score, then the category's floor. JSON through jansson. */
#include "score.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static void score_add(Score *s, const char *rule, double points, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void score_add(Score *s, const char *rule, double points, const char *fmt, ...)
{
    if (s->nfactors == SCORE_MAX_FACTORS)
        return;
    ScoreFactor *f = &s->factors[s->nfactors++];
    snprintf(f->rule, sizeof f->rule, "%s", rule);
    f->points = round(points * 100) / 100;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
}

static bool score_listed(char *const *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], id) == 0)
            return true;
    return false;
}

static bool score_combination_fires(const RulesCombination *c, const ScoreInput *in)
{
    if (!score_listed(c->categories, c->ncategories, in->category) || (c->ongoing && !in->ongoing))
        return false;
    if (c->nvuln == 0)
        return true;
    for (size_t i = 0; i < in->nvulnerability; i++)
        if (score_listed(c->vuln, c->nvuln, in->vulnerability[i]))
            return true;
    return false;
}

void score_compute(const Rules *r, const ScoreInput *in, Score *s)
{
    memset(s, 0, sizeof *s);
    const RulesCategory *cat = rules_category(r, in->category);
    bool named = cat != r->def;

    double gravity = rules_gravity(r, in->category);
    s->scale = gravity * r->scale_per_gravity;
    score_add(s, "scale", s->scale, "harm category %s: gravity %g of 10%s", in->category, gravity,
              named ? "" : " (default)");

    long long people = in->people > in->grievances ? in->people : in->grievances;
    if (people < 1)
        people = 1;
    s->scope = fmin(r->scope_max, r->scope_per_decade * log10((double)people));
    score_add(s, "scope", s->scope, "%lld %s affected (%lld grievance%s in the case), log scale",
              people, people == 1 ? "person" : "people", in->grievances > 0 ? in->grievances : 1,
              in->grievances > 1 ? "s" : "");

    if (cat->irremediable) {
        s->irremediable += r->irremediable;
        score_add(s, "irremediable", r->irremediable, "%s", cat->irremediable);
    }
    if (in->ongoing && cat->worsens) {
        s->irremediable += r->worsens;
        score_add(s, "worsens", r->worsens, "ongoing: %s", cat->worsens);
    }
    if (in->ongoing) {
        s->urgency = r->ongoing;
        score_add(s, "urgency", r->ongoing, "the harm is ongoing or imminent");
    }

    double vsum = 0;
    for (size_t i = 0; i < in->nvulnerability; i++) {
        double p = rules_vulnerability(r, in->vulnerability[i]);
        if (p <= 0)
            continue;
        char rule[48];
        snprintf(rule, sizeof rule, "vulnerability:%s", in->vulnerability[i]);
        score_add(s, rule, p, "a rights-holder at particular risk: %s", in->vulnerability[i]);
        vsum += p;
    }
    s->vulnerability = vsum;
    if (vsum > r->vulnerability_max) {
        s->vulnerability = r->vulnerability_max;
        score_add(s, "vulnerability_cap", r->vulnerability_max - vsum,
                  "vulnerability counts at most %g points", r->vulnerability_max);
    }

    /* Combinations: category x vulnerability (x ongoing) terms of the rules file. */
    int floor = cat->floor;
    const char *floor_by = NULL;
    for (size_t i = 0; i < r->ncombos; i++) {
        const RulesCombination *c = &r->combos[i];
        if (!score_combination_fires(c, in))
            continue;
        char rule[64];
        snprintf(rule, sizeof rule, "combination:%s", c->name);
        score_add(s, rule, c->points, "%s", c->why);
        s->combination += c->points;
        if (c->band >= 0 && (floor < 0 || c->band < floor)) {
            floor = c->band;
            floor_by = c->name;
        }
    }

    double total =
        s->scale + s->scope + s->irremediable + s->urgency + s->vulnerability + s->combination;
    if (total > 100) {
        score_add(s, "score_cap", 100 - total, "the score is at most 100");
        total = 100;
    }
    if (total < 0)
        total = 0;
    s->score = round(total * 100) / 100;

    s->band = BAND_P4;
    for (int b = BAND_P1; b < BAND_P4; b++)
        if (s->score >= r->band_min[b]) {
            s->band = (Band)b;
            break;
        }
    if (floor >= 0 && (int)s->band > floor) {
        if (floor_by)
            score_add(s, "band_floor", 0, "combination %s is never below %s (score alone: %s)",
                      floor_by, band_name((Band)floor), band_name(s->band));
        else
            score_add(s, "band_floor", 0, "harm category %s is never below %s (score alone: %s)",
                      in->category, band_name((Band)floor), band_name(s->band));
        s->band = (Band)floor;
    }
    if (in->danger) {
        score_add(s, "immediate_danger", 0,
                  "the person who filed says someone is in immediate danger because of this: "
                  "P1, head of the queue, deadlines in hours (score alone: %s)",
                  band_name(s->band));
        s->band = BAND_P1;
    }
}

static double score_round2(double v)
{
    return round(v * 100) / 100;
}

char *score_components_json(const Score *s)
{
    json_t *o = json_pack(
        "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:s}", "scale", score_round2(s->scale), "scope",
        score_round2(s->scope), "irremediable", score_round2(s->irremediable), "urgency",
        score_round2(s->urgency), "vulnerability", score_round2(s->vulnerability), "combination",
        score_round2(s->combination), "score", s->score, "band", band_name(s->band));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!text)
        abort();
    return text;
}

char *score_factors_json(const Score *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->nfactors; i++)
        json_array_append_new(a, json_pack("{s:s, s:f, s:s}", "rule", s->factors[i].rule, "points",
                                           s->factors[i].points, "why", s->factors[i].why));
    char *text = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(a);
    if (!text)
        abort();
    return text;
}

bool score_has_factor(const Score *s, const char *rule)
{
    size_t n = strlen(rule);
    for (size_t i = 0; i < s->nfactors; i++) {
        const char *f = s->factors[i].rule;
        if (strcmp(f, rule) == 0 || (strncmp(f, rule, n) == 0 && rule[n - 1] == ':'))
            return true;
    }
    return false;
}
