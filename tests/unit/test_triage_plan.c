/* Planning a batch without a database (triage/plan.c): grouping by cluster key, the lock order,
 * joining the most similar open case or opening one, the time window, owners and scores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../triage/plan.h"
#include "util.h"

static Rules *rules;
static Members members;

static char **strv(const char *a, const char *b)
{
    size_t n = (a != NULL) + (b != NULL);
    char **v = n ? xcalloc(n, sizeof *v) : NULL;
    if (a)
        v[0] = xstrdup(a);
    if (b)
        v[1] = xstrdup(b);
    return v;
}

static void member(long long id, const char *slug, const char *sector, const char *country)
{
    Member *m = &members.v[members.n++];
    memset(m, 0, sizeof *m);
    m->id = id;
    m->slug = xstrdup(slug);
    m->name = xstrdup(slug);
    m->sector = xstrdup(sector);
    m->countries = strv(country, NULL);
    m->ncountries = 1;
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    rules = rules_load("config/triage-rules.ini", NULL, err, sizeof err);
    if (!rules)
        return -1;
    members.v = xcalloc(4, sizeof *members.v);
    member(7, "example-telco", "telco", "KE");
    member(3, "beta-social", "platform", "KE");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    owners_members_free(&members);
    rules_free(rules);
    return 0;
}

static const char *const SHUTDOWN =
    "no mobile data in Kisumu since the election night, the whole town is cut off, report";

/* A grievance naming company (or nobody) in KE. */
static void add(Plan *p, long long id, double received, const char *category, const char *company,
                const char *text, bool danger, const char *vuln)
{
    PlanGrievance g = {.id = id,
                       .received = received,
                       .country = "KE",
                       .category = category,
                       .description = text,
                       .people = 1,
                       .ongoing = true,
                       .danger = danger,
                       .companies = strv(company, NULL),
                       .ncompanies = company != NULL,
                       .vuln = strv(vuln, NULL),
                       .nvuln = vuln != NULL};
    plan_item_add(p, rules, &members, &g);
    assert_null(g.companies); /* taken over */
}

static void test_groups_and_lock_order(void **state)
{
    (void)state;
    Plan p;
    plan_init(&p);
    for (int i = 0; i < 300; i++) /* enough keys to grow the table */
        add(&p, i + 1, 1000 + i, i % 2 ? "network_shutdown" : "hate_speech",
            i % 3 ? "Example Telco" : NULL, SHUTDOWN, false, NULL);
    add(&p, 301, 2000, "network_shutdown", "Example Telco", SHUTDOWN, false, NULL);
    assert_int_equal(p.nitems, 301);
    /* network_shutdown: the telco named, or (nobody named) the telco of KE linked: one key;
     * hate_speech: the telco named (contributed) or the KE platform linked: two keys. */
    assert_int_equal(p.ngroups, 3);
    assert_int_equal(p.items[0].group, p.items[6].group);
    assert_string_equal(p.items[1].key, "network_shutdown|KE|7");
    assert_int_equal(p.items[1].own.n, 1);
    assert_int_equal(p.items[1].own.owners[0].involvement, INVOLVEMENT_CAUSED);
    size_t n;
    int32_t *ids = plan_lock_ids(&p, &n);
    assert_true(n >= 1 && n <= 4);
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i - 1] < ids[i]);
    free(ids);
    assert_true(plan_candidates_since(&p, rules) == 1000 - rules->window_h * 3600);
    plan_free(&p);
}

static void test_assign_joins_similar_opens_new(void **state)
{
    (void)state;
    Plan p;
    plan_init(&p);
    double t = 1e9;
    add(&p, 1, t, "network_shutdown", "Example Telco",
        "no mobile data in Kisumu since the election "
        "night, the whole town is cut off, report 1",
        false, NULL);
    add(&p, 2, t + 1, "network_shutdown", "Example Telco",
        "no mobile data in Kisumu since the "
        "election night, the whole town is cut off, report 2",
        false, "journalist");
    add(&p, 3, t + 2, "network_shutdown", "Example Telco",
        "the tower near our school was switched "
        "off and the children cannot sit their online exams",
        false, NULL);
    /* An open collective case of the same key and event, and one far outside the window. */
    PlanCase *c = plan_candidate_add(&p, "network_shutdown|KE|7");
    if (!c)
        fail_msg("no group network_shutdown|KE|7: item key %s", p.items[0].key);
    c->id = 42;
    cluster_signature("no mobile data in Kisumu since the election night, the whole town is cut "
                      "off, report 99",
                      c->sig);
    c->count = c->people = 500;
    c->first = t - 3600;
    c->last = t - 60;
    c->old_band = BAND_P2;
    c->old_score = 55;
    PlanCase *old = plan_candidate_add(&p, "network_shutdown|KE|7");
    old->id = 41;
    cluster_signature("the tower near our school was switched off and the children cannot sit "
                      "their online exams",
                      old->sig);
    old->count = old->people = 1;
    old->first = old->last = t - 10 * rules->window_h * 3600;
    assert_null(plan_candidate_add(&p, "hate_speech|KE|-")); /* not a key of the plan */

    plan_assign(&p, rules);
    plan_score(&p, rules);
    assert_int_equal(p.cases[p.items[0].ci].id, 42);
    assert_int_equal(p.items[0].ci, p.items[1].ci);
    PlanCase *joined = &p.cases[p.items[0].ci];
    assert_int_equal(joined->count, 502);
    assert_int_equal(joined->added, 2);
    assert_int_equal(joined->last_gid, 2);
    assert_int_equal(joined->nvuln, 1); /* the journalist flag joined the case */
    assert_non_null(joined->score);
    /* The school story is like case 41's, but 41 is outside the window: a new case. */
    PlanCase *fresh = &p.cases[p.items[2].ci];
    assert_true(fresh->is_new);
    assert_int_equal(fresh->opener, 2);
    assert_int_equal(fresh->reference[0], 'C');
    assert_true(plan_case_rescored(fresh));
    assert_null(p.cases[1].score); /* case 41 untouched: not scored */
    plan_free(&p);
}

static void test_danger_makes_the_case_p1(void **state)
{
    (void)state;
    Plan p;
    plan_init(&p);
    add(&p, 1, 1e9, "content_removal", NULL, "a post was removed as spam", false, NULL);
    add(&p, 2, 1e9 + 1, "content_removal", NULL, "a post was removed as spam", true, NULL);
    plan_assign(&p, rules);
    plan_score(&p, rules);
    PlanCase *c = &p.cases[p.items[1].ci];
    assert_int_equal(p.items[0].ci,
                     p.items[1].ci); /* the same story joins: the case is in danger */
    assert_true(c->danger);
    assert_int_equal(c->score->band, BAND_P1);
    assert_true(score_has_factor(c->score, "immediate_danger"));
    char buf[64];
    plan_case_vuln_join(c, buf, sizeof buf);
    assert_string_equal(buf, "");
    plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups_and_lock_order),
        cmocka_unit_test(test_assign_joins_similar_opens_new),
        cmocka_unit_test(test_danger_makes_the_case_p1),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
