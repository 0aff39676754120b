/* Rules file parsing: the shipped file loads; a minimal valid file loads; every kind of bad file
 * is refused with an error naming the file and, where there is one, the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../triage/rules.h"
#include "taxonomy.h"

static Taxonomy *tax;

#define GOOD_HEAD                                                                                  \
    "version = test-1\n"                                                                           \
    "[weights]\n"                                                                                  \
    "scale_per_gravity = 4\nscope_per_decade = 5\nscope_max = 25\nirremediable = 15\n"             \
    "worsens = 5\nongoing = 5\nvulnerability_max = 15\n"
/* line numbers: version 1, [weights] 2, weights 3..9 */
#define GOOD_TAIL                                                                                  \
    "[gravity]\ndefault = 3\nnetwork_shutdown = 5.5\n"                                             \
    "[bands]\nP1 = 65\nP2 = 45\nP3 = 25\n"                                                         \
    "[deadlines]\nP1 = 24, 72, 336\nP2 = 48, 168, 720\nP3 = 72, 336, 1440\nP4 = 120,720,2160\n"    \
    "immediate_danger = 2, 12, 72\n"                                                               \
    "[lead_sector]\ndefault = platform, telco\nnetwork_shutdown = telco, isp\n"                    \
    "[cluster]\nwindow_hours = 72\nsimilarity = 0.5\nmax_candidates = 64\n"

static const char *write_rules(const char *name, const char *content)
{
    const char *path = scratch_write(name, content, strlen(content));
    assert_non_null(path);
    return path;
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    if (scratch_setup("rules") < 0)
        return -1;
    tax = taxonomy_load("config/taxonomy.json", err, sizeof err);
    return tax ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    taxonomy_free(tax);
    return scratch_teardown();
}

static void test_shipped_file_loads(void **state)
{
    (void)state;
    char err[512] = "";
    Rules *r = rules_load("config/triage-rules.ini", tax, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_non_null(r->version);
    assert_true(r->band_min[BAND_P1] > r->band_min[BAND_P2]);
    assert_true(rules_gravity(r, "threat_to_life") > rules_gravity(r, "identity_exposure"));
    assert_true(rules_gravity(r, "identity_exposure") > rules_gravity(r, "network_shutdown"));
    assert_true(rules_gravity(r, "network_shutdown") > rules_gravity(r, "content_removal"));
    assert_int_equal(rules_lead_rank(r, "network_shutdown", "telco"), 0);
    assert_int_equal(rules_lead_rank(r, "account_removal", "platform"), 0);
    assert_int_equal(rules_lead_rank(r, "account_removal", "telco"), 1); /* unlisted: after */
    rules_free(r);
}

static void test_minimal_file(void **state)
{
    (void)state;
    char err[512] = "";
    Rules *r = rules_load(write_rules("ok.ini", GOOD_HEAD GOOD_TAIL), tax, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_string_equal(r->version, "test-1");
    assert_true(rules_gravity(r, "hate_speech") == 3); /* default */
    assert_int_equal(r->deadline_h[BAND_P4][STAGE_REMEDY], 2160);
    char dl[128];
    rules_deadlines_literal(r, dl, sizeof dl);
    assert_string_equal(dl, "{{24,72,336},{48,168,720},{72,336,1440},{120,720,2160},{2,12,72}}");
    assert_int_equal(r->deadline_h[RULES_DEADLINE_DANGER][STAGE_ACK], 2);
    assert_int_equal(r->ncombos, 0);
    rules_free(r);
}

typedef struct {
    const char *name;
    const char *text;
    const char *want; /* substring of the error after "<path>" */
} Bad;

static const Bad bad[] = {
    {"no-version", GOOD_HEAD "" GOOD_TAIL, NULL}, /* placeholder, replaced below */
    {"unknown-section", GOOD_HEAD "[colour]\nred = 1\n" GOOD_TAIL,
     ":11: [colour] red = '1': unknown section"},
    {"gravity-word", GOOD_HEAD "[gravity]\nhate_speech = high\n" GOOD_TAIL,
     ":11: [gravity] hate_speech = 'high'"},
    {"gravity-range", GOOD_HEAD "[gravity]\nhate_speech = 11\n" GOOD_TAIL,
     ":11: [gravity] hate_speech = '11'"},
    {"unknown-category", GOOD_HEAD "[gravity]\nbad_vibes = 2\n" GOOD_TAIL,
     ":11: [gravity] bad_vibes = '2': unknown harm category"},
    {"unknown-weight", GOOD_HEAD "charm = 3\n" GOOD_TAIL,
     ":10: [weights] charm = '3': unknown weight"},
    {"weight-negative", "version = x\n[weights]\nscale_per_gravity = -1\n",
     ":3: [weights] scale_per_gravity = '-1'"},
    {"floor-band", GOOD_HEAD "[floor]\nthreat_to_life = P0\n" GOOD_TAIL,
     ":11: [floor] threat_to_life = 'P0'"},
    {"vuln-flag", GOOD_HEAD "[vulnerability]\ntall = 3\n" GOOD_TAIL,
     ":11: [vulnerability] tall = '3': unknown vulnerability flag"},
    {"sector", GOOD_HEAD "[lead_sector]\nhate_speech = platform, bank\n" GOOD_TAIL,
     ":11: [lead_sector] hate_speech"},
    {"deadline-order", GOOD_HEAD "[deadlines]\nP1 = 72, 24, 336\n" GOOD_TAIL,
     ":11: [deadlines] P1 = '72, 24, 336'"},
    {"deadline-junk", GOOD_HEAD "[deadlines]\nP1 = 24, 72, 336, 9\n" GOOD_TAIL,
     ":11: [deadlines] P1"},
    {"band-name", GOOD_HEAD "[bands]\nP4 = 10\n" GOOD_TAIL, ":11: [bands] P4 = '10'"},
    {"not-ini", GOOD_HEAD "this line has no equals sign\n" GOOD_TAIL, ":10: not valid INI"},
    {"version-twice", "version = a\nversion = b\n", ":2: [] version = 'b': version given twice"},
    {"similarity", GOOD_HEAD "[cluster]\nsimilarity = 2\n" GOOD_TAIL,
     ":11: [cluster] similarity = '2'"},
    {"missing-weight", "version = x\n[weights]\nscale_per_gravity = 4\n" GOOD_TAIL,
     ": [weights] scope_per_decade missing"},
    {"bands-order", GOOD_HEAD GOOD_TAIL "[bands]\nP3 = 70\n",
     ": [bands] P1 > P2 > P3 does not hold"},
    {"danger-longer", GOOD_HEAD GOOD_TAIL "[deadlines]\nimmediate_danger = 2, 12, 400\n",
     ": [deadlines] immediate_danger is longer than P1"},
    {"combo-category",
     GOOD_HEAD "[combination.x]\ncategories = identity_exposure, bad_vibes\n" GOOD_TAIL,
     ":11: [combination.x] categories = 'identity_exposure, bad_vibes': must list distinct harm "
     "categories"},
    {"combo-flag", GOOD_HEAD "[combination.x]\nvulnerability = child, tall\n" GOOD_TAIL,
     ":11: [combination.x] vulnerability = 'child, tall'"},
    {"combo-ongoing", GOOD_HEAD "[combination.x]\nongoing = sometimes\n" GOOD_TAIL,
     ":11: [combination.x] ongoing = 'sometimes': must be required or any"},
    {"combo-band", GOOD_HEAD "[combination.x]\nband = P9\n" GOOD_TAIL,
     ":11: [combination.x] band = 'P9'"},
    {"combo-key", GOOD_HEAD "[combination.x]\ncolour = red\n" GOOD_TAIL,
     ":11: [combination.x] colour = 'red': unknown key"},
    {"combo-name", GOOD_HEAD "[combination.Bad Name]\nband = P1\n" GOOD_TAIL,
     ":11: [combination.Bad Name] band = 'P1': a combination is named"},
    {"combo-no-why", GOOD_HEAD GOOD_TAIL "[combination.x]\ncategories = surveillance\nband = P1\n",
     ":31: [combination.x] needs why"},
    {"combo-no-effect",
     GOOD_HEAD GOOD_TAIL "[combination.x]\ncategories = surveillance\nwhy = because\n",
     ":31: [combination.x] needs points or band"},
    {"combo-no-categories", GOOD_HEAD GOOD_TAIL "[combination.x]\nwhy = because\nband = P2\n",
     ":31: [combination.x] needs categories"},
    {"missing-default",
     GOOD_HEAD "[bands]\nP1 = 65\nP2 = 45\nP3 = 25\n[deadlines]\nP1 = 1,2,3\nP2 = 1,2,3\nP3 = "
               "1,2,3\nP4 = 1,2,3\nimmediate_danger = 1,2,3\n[cluster]\nwindow_hours = "
               "1\nsimilarity = 0.5\nmax_candidates = 4\n",
     ": [gravity] default and [lead_sector] default are required"},
};

/* A combination in a file: what it reads back as. */
static void test_combination_loads(void **state)
{
    (void)state;
    char err[512] = "";
    Rules *r = rules_load(write_rules("combo.ini", GOOD_HEAD GOOD_TAIL
                                      "[combination.exposed]\n"
                                      "categories = identity_exposure, surveillance\n"
                                      "vulnerability = journalist\nongoing = required\n"
                                      "points = 4\nband = P1\nwhy = exposed while at risk\n"),
                          tax, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_int_equal(r->ncombos, 1);
    const RulesCombination *c = &r->combos[0];
    assert_string_equal(c->name, "exposed");
    assert_int_equal(c->ncategories, 2);
    assert_string_equal(c->categories[1], "surveillance");
    assert_int_equal(c->nvuln, 1);
    assert_int_equal(c->ongoing, 1);
    assert_true(c->points == 4);
    assert_int_equal(c->band, BAND_P1);
    assert_string_equal(c->why, "exposed while at risk");
    rules_free(r);
}

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 1; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "", name[64];
        snprintf(name, sizeof name, "%s.ini", bad[i].name);
        const char *path = write_rules(name, bad[i].text);
        char want[600];
        snprintf(want, sizeof want, "%s%s", path, bad[i].want);
        Rules *r = rules_load(path, tax, err, sizeof err);
        if (r)
            fail_msg("%s: loaded", bad[i].name);
        if (!strstr(err, want))
            fail_msg("%s: error '%s' does not contain '%s'", bad[i].name, err, want);
    }
}

static void test_missing_version(void **state)
{
    (void)state;
    char err[512] = "";
    const char *path = write_rules("nov.ini", GOOD_HEAD GOOD_TAIL);
    /* GOOD_HEAD starts with the version line: cut it */
    FILE *f = fopen(path, "w");
    fputs(strchr(GOOD_HEAD GOOD_TAIL, '\n') + 1, f);
    fclose(f);
    assert_null(rules_load(path, tax, err, sizeof err));
    assert_non_null(strstr(err, "version missing"));
    assert_non_null(strstr(err, path));
}

static void test_long_line_and_missing_file(void **state)
{
    (void)state;
    char err[512] = "", text[1024];
    char longv[300];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    snprintf(text, sizeof text, GOOD_HEAD "[irremediable]\nthreat_to_life = %s\n" GOOD_TAIL, longv);
    const char *path = write_rules("long.ini", text);
    assert_null(rules_load(path, tax, err, sizeof err));
    char want[200];
    snprintf(want, sizeof want, "%s:11:", path);
    if (!strstr(err, want))
        fail_msg("error '%s'", err);
    assert_null(rules_load("/nonexistent/rules.ini", tax, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/rules.ini: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_file_loads),
        cmocka_unit_test(test_minimal_file),
        cmocka_unit_test(test_combination_loads),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_missing_version),
        cmocka_unit_test(test_long_line_and_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
