/* The severity model against the shipped rules (config/triage-rules.ini): a table of grievances
 * with the band each must get and the factors its explanation must (and must not) list, and a
 * table of cases ranked as a human-rights practitioner would rank them, each with the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../triage/rules.h"
#include "../../triage/score.h"
#include "taxonomy.h"

static Rules *rules;

typedef struct {
    const char *category;
    long long people, grievances;
    int ongoing;
    const char *vuln[4];
    const char *band;
    double score;            /* expected score, or -1 to skip */
    const char *must[6];     /* factors that must appear */
    const char *must_not[3]; /* factors that must not */
} Row;

/* One case a line, as a reader compares them (clang-format would give each field a line). */
/* clang-format off */
static const Row table[] = {
    {"threat_to_life", 1, 1, 1, {"human_rights_defender"}, "P1", 75,
     {"scale", "scope", "irremediable", "worsens", "urgency", "vulnerability:human_rights_defender"},
     {"band_floor"}},
    {"threat_to_life", 1, 1, 0, {0}, "P1", 55, {"scale", "irremediable", "band_floor"}, {"urgency"}},
    {"child_sexual_exploitation", 1, 1, 0, {"child"}, "P1", 65,
     {"irremediable", "vulnerability:child"}, {"band_floor"}},
    {"trafficking", 1, 1, 0, {"migrant_refugee"}, "P1", 61,
     {"irremediable", "vulnerability:migrant_refugee", "band_floor"}},
    {"detention_after_disclosure", 1, 1, 0, {"journalist"}, "P1", 61,
     {"irremediable", "vulnerability:journalist", "band_floor"}},
    {"identity_exposure", 1, 1, 0, {"lgbti_hostile_jurisdiction"}, "P2", 57,
     {"irremediable", "vulnerability:lgbti_hostile_jurisdiction"}, {"urgency"}},
    {"identity_exposure", 1, 1, 1, {"lgbti_hostile_jurisdiction", "human_rights_defender"}, "P1",
     67, {"urgency", "vulnerability:", "vulnerability_cap"}, {"worsens"}},
    {"non_consensual_imagery", 1, 1, 1, {"woman_at_risk"}, "P1", 65,
     {"irremediable", "worsens", "urgency", "vulnerability:woman_at_risk"}},
    {"non_consensual_imagery", 1, 1, 0, {0}, "P2", 47, {"irremediable"}, {"worsens", "urgency"}},
    {"surveillance", 1, 1, 0, {"journalist"}, "P2", 53, {"irremediable", "vulnerability:journalist"}},
    {"online_violence", 1, 1, 1, {"woman_at_risk"}, "P2", 46, {"worsens", "urgency"}, {"irremediable"}},
    {"online_violence", 1, 1, 0, {0}, "P3", 28, {"scale"}, {"worsens", "vulnerability:"}},
    {"hate_speech", 1, 1, 0, {"minority"}, "P3", 30, {"vulnerability:minority"}},
    {"data_breach", 1, 1, 0, {0}, "P3", 39, {"irremediable"}},
    {"data_breach", 100000, 1, 0, {0}, "P2", 64, {"scope", "irremediable"}},
    {"data_breach", 10000000, 1, 0, {0}, "P2", 64, {"scope"}},
    {"network_shutdown", 1, 1, 1, {0}, "P3", 32, {"worsens", "urgency"}, {"irremediable"}},
    {"network_shutdown", 1, 50000, 1, {0}, "P2", 55.49, {"scope", "worsens", "urgency"}},
    {"network_shutdown", 2000000, 1, 1, {0}, "P2", 57, {"scope"}},
    {"blocking_throttling", 1, 1, 0, {0}, "P4", 18, {"scale"}, {"worsens"}},
    {"blocking_throttling", 100000, 1, 1, {0}, "P2", 53, {"scope", "worsens", "urgency"}},
    {"algorithmic_discrimination", 1, 1, 0, {"disability"}, "P3", 26, {"vulnerability:disability"}},
    {"account_removal", 1, 1, 0, {0}, "P4", 10, {"scale", "scope"}, {"irremediable", "urgency"}},
    {"account_removal", 1, 1, 1, {"journalist"}, "P4", 23, {"urgency", "vulnerability:journalist"}},
    {"content_removal", 1, 1, 0, {0}, "P4", 8, {"scale"}},
    {"content_removal", 1000, 1, 0, {"human_rights_defender"}, "P3", 33,
     {"scope", "vulnerability:human_rights_defender"}},
    {"other", 1, 1, 0, {0}, "P4", 12, {"scale"}},
    {"made_up_category", 1, 1, 0, {0}, "P4", 12, {"scale"}},
    {"account_removal", 1, 1, 0, {"not_a_flag"}, "P4", 10, {"scale"}, {"vulnerability:"}},
};
/* clang-format on */

/* Cases a human-rights practitioner would rank, each with the band it must get and why. The
 * combinations of the rules file ([combination.*]) carry most of these: harm whose category alone
 * is a lesser one but which puts a person's life, liberty or physical integrity at risk. */
typedef struct {
    const char *category;
    long long people;
    int ongoing, danger;
    const char *vuln[3];
    const char *band;
    const char *fired; /* a factor that must be in the explanation, or NULL */
    const char *why;
} Ranked;

static const Ranked ranked[] = {
    {"identity_exposure",
     1,
     1,
     0,
     {"human_rights_defender"},
     "P1",
     "combination:exposed_person_at_risk",
     "a defender's live location shown to the account threatening her, men at her door: her life "
     "and liberty are at risk now"},
    {"identity_exposure",
     1,
     1,
     0,
     {"journalist"},
     "P1",
     "combination:exposed_person_at_risk",
     "a journalist's home address circulating among those she reported on: a risk of attack"},
    {"identity_exposure",
     1,
     1,
     0,
     {"lgbti_hostile_jurisdiction"},
     "P1",
     "combination:exposed_person_at_risk",
     "a gay man outed by a dating app's leak in a country that criminalises him: arrest and "
     "violence follow"},
    {"identity_exposure",
     1,
     1,
     0,
     {"child"},
     "P1",
     "combination:exposed_person_at_risk",
     "a child's school and route home shown to a stranger who contacts her: a risk to her safety"},
    {"surveillance",
     1,
     1,
     0,
     {"journalist"},
     "P1",
     "combination:exposed_person_at_risk",
     "spyware still running on a journalist's phone exposes her and her sources every day"},
    {"data_breach",
     1,
     1,
     0,
     {"human_rights_defender"},
     "P1",
     "combination:leak_exposes_person_at_risk",
     "an NGO's member list leaked and still circulating among the security forces it documents"},
    {"non_consensual_imagery",
     1,
     0,
     0,
     {"child"},
     "P1",
     "combination:intimate_images_of_child",
     "intimate images of a child are abuse material whether or not they still spread"},
    {"identity_exposure",
     1,
     0,
     0,
     {"human_rights_defender"},
     "P2",
     "irremediable",
     "the exposure ended (the post came down a month ago): grave and irremediable, but no longer "
     "happening"},
    {"identity_exposure",
     1,
     1,
     0,
     {0},
     "P2",
     "irremediable",
     "a private person's address posted once: serious, but nobody is known to hunt them"},
    {"data_breach",
     1,
     1,
     0,
     {"child"},
     "P2",
     "irremediable",
     "children's school records leaked: irremediable, but no one is shown to be seeking them out"},
    {"online_violence",
     1,
     1,
     0,
     {"human_rights_defender"},
     "P2",
     "combination:attacks_on_defenders",
     "a pile-on against a defender that goes on is meant to silence her and often precedes "
     "physical attacks"},
    {"hate_speech",
     1,
     1,
     0,
     {"journalist"},
     "P2",
     "combination:attacks_on_defenders",
     "incitement against a named journalist, still up: above an ordinary hateful post"},
    {"hate_speech",
     1,
     1,
     0,
     {"minority"},
     "P2",
     "combination:incitement_against_group",
     "posts calling for violence against a minority that stay up can lead to violence"},
    {"hate_speech",
     1,
     0,
     0,
     {"minority"},
     "P3",
     NULL,
     "the same posts already taken down: harm done, no longer spreading"},
    {"network_shutdown",
     250000,
     1,
     0,
     {0},
     "P2",
     "scope",
     "a regional shutdown cuts a quarter of a million people off emergency and health services"},
    {"account_removal",
     1,
     1,
     0,
     {"journalist"},
     "P4",
     NULL,
     "a journalist's account wrongly removed: restoring it remedies the harm"},
    {"content_removal",
     1,
     0,
     0,
     {0},
     "P4",
     NULL,
     "one post removed as spam: the least severe, and fully remediable"},
    {"content_removal",
     1,
     0,
     1,
     {0},
     "P1",
     "immediate_danger",
     "whatever the category, someone said to be in immediate danger goes first"},
    {"account_removal",
     1,
     1,
     1,
     {"human_rights_defender"},
     "P1",
     "immediate_danger",
     "a defender cut off from her safety network while threatened: immediate danger comes first"},
};

static void test_practitioner_ranking(void **state)
{
    (void)state;
    assert_true(sizeof ranked / sizeof ranked[0] >= 15);
    for (size_t i = 0; i < sizeof ranked / sizeof ranked[0]; i++) {
        const Ranked *row = &ranked[i];
        size_t nv = 0;
        while (nv < 3 && row->vuln[nv])
            nv++;
        ScoreInput in = {.category = row->category,
                         .people = row->people,
                         .grievances = 1,
                         .ongoing = row->ongoing != 0,
                         .danger = row->danger != 0,
                         .vulnerability = row->vuln,
                         .nvulnerability = nv};
        Score s;
        score_compute(rules, &in, &s);
        if (strcmp(band_name(s.band), row->band) != 0)
            fail_msg("ranked %zu (%s): band %s (score %.2f), want %s: %s", i, row->category,
                     band_name(s.band), s.score, row->band, row->why);
        if (row->fired && !score_has_factor(&s, row->fired))
            fail_msg("ranked %zu (%s): the explanation must show %s: %s", i, row->category,
                     row->fired, row->why);
        double sum = 0;
        for (size_t k = 0; k < s.nfactors; k++)
            sum += s.factors[k].points;
        if (fabs(sum - s.score) > 0.02)
            fail_msg("ranked %zu: factors add up to %.2f, score %.2f", i, sum, s.score);
    }
}

/* The case: a defender's exposed location, ongoing, was P2 at 62 below a P2 shutdown
 * case; now it is P1 and the explanation names the combination and its reason. */
static void test_combination_in_explanation(void **state)
{
    (void)state;
    const char *v[] = {"human_rights_defender"};
    ScoreInput in = {.category = "identity_exposure",
                     .people = 1,
                     .grievances = 1,
                     .ongoing = true,
                     .vulnerability = v,
                     .nvulnerability = 1};
    Score s;
    score_compute(rules, &in, &s);
    assert_string_equal(band_name(s.band), "P1");
    assert_true(s.score < rules->band_min[BAND_P1]); /* the band comes from the combination */
    char *fired = score_factors_json(&s);
    assert_non_null(strstr(fired, "\"rule\":\"combination:exposed_person_at_risk\""));
    assert_non_null(strstr(fired, "risk to life, liberty and physical integrity"));
    assert_non_null(strstr(fired, "combination exposed_person_at_risk is never below P1"));
    free(fired);
    /* Without the vulnerability, or no longer ongoing, the combination does not fire. */
    in.nvulnerability = 0;
    score_compute(rules, &in, &s);
    assert_false(score_has_factor(&s, "combination:"));
    in.nvulnerability = 1;
    in.ongoing = false;
    score_compute(rules, &in, &s);
    assert_false(score_has_factor(&s, "combination:"));
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    Taxonomy *tax = taxonomy_load("config/taxonomy.json", err, sizeof err);
    if (!tax) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    rules = rules_load("config/triage-rules.ini", tax, err, sizeof err);
    taxonomy_free(tax);
    if (!rules)
        fprintf(stderr, "%s\n", err);
    return rules ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rules_free(rules);
    return 0;
}

static void test_table(void **state)
{
    (void)state;
    assert_true(sizeof table / sizeof table[0] >= 20);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const Row *row = &table[i];
        size_t nv = 0;
        while (nv < 4 && row->vuln[nv])
            nv++;
        ScoreInput in = {.category = row->category,
                         .people = row->people,
                         .grievances = row->grievances,
                         .ongoing = row->ongoing != 0,
                         .vulnerability = row->vuln,
                         .nvulnerability = nv};
        Score s;
        score_compute(rules, &in, &s);
        if (strcmp(band_name(s.band), row->band) != 0)
            fail_msg("row %zu (%s): band %s, want %s (score %.2f)", i, row->category,
                     band_name(s.band), row->band, s.score);
        if (row->score >= 0 && fabs(s.score - row->score) > 0.005)
            fail_msg("row %zu (%s): score %.2f, want %.2f", i, row->category, s.score, row->score);
        for (size_t k = 0; k < 6 && row->must[k]; k++)
            if (!score_has_factor(&s, row->must[k]))
                fail_msg("row %zu (%s): factor %s missing", i, row->category, row->must[k]);
        for (size_t k = 0; k < 3 && row->must_not[k]; k++)
            if (score_has_factor(&s, row->must_not[k]))
                fail_msg("row %zu (%s): factor %s must not fire", i, row->category,
                         row->must_not[k]);
        /* The explanation adds up: the factors' points are the score (before the 0..100 clamp
         * the caps are factors too). */
        double sum = 0;
        for (size_t k = 0; k < s.nfactors; k++)
            sum += s.factors[k].points;
        if (fabs(sum - s.score) > 0.02)
            fail_msg("row %zu: factors add up to %.2f, score %.2f", i, sum, s.score);
    }
}

static void test_scope_grows_with_case(void **state)
{
    (void)state;
    double prev = -1;
    for (long long n = 1; n <= 1000000; n *= 10) {
        ScoreInput in = {
            .category = "network_shutdown", .people = 1, .grievances = n, .ongoing = true};
        Score s;
        score_compute(rules, &in, &s);
        assert_true(s.score >= prev);
        prev = s.score;
    }
}

static void test_json(void **state)
{
    (void)state;
    const char *v[] = {"journalist"};
    ScoreInput in = {.category = "surveillance",
                     .people = 1,
                     .grievances = 1,
                     .vulnerability = v,
                     .nvulnerability = 1};
    Score s;
    score_compute(rules, &in, &s);
    char *comp = score_components_json(&s), *fired = score_factors_json(&s);
    assert_non_null(strstr(comp, "\"scale\":30"));
    assert_non_null(strstr(comp, "\"band\":\"P2\""));
    assert_non_null(strstr(fired, "\"rule\":\"vulnerability:journalist\""));
    assert_non_null(strstr(fired, "what was watched cannot be unseen"));
    free(comp);
    free(fired);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_scope_grows_with_case),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_practitioner_ranking),
        cmocka_unit_test(test_combination_in_explanation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
