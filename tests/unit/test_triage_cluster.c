/* Grouping and ownership: MinHash similarity of descriptions, cluster keys, and the ownership
 * decision for named companies, services, country and category. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../triage/cluster.h"
#include "../../triage/owners.h"
#include "../../triage/rules.h"
#include "../../triage/sqlarray.h"

static Rules *rules;

static int setup(void **state)
{
    (void)state;
    char err[512];
    rules = rules_load("config/triage-rules.ini", NULL, err, sizeof err);
    return rules ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rules_free(rules);
    return 0;
}

static double sim(const char *a, const char *b)
{
    uint32_t x[CLUSTER_SIG_LEN], y[CLUSTER_SIG_LEN];
    cluster_signature(a, x);
    cluster_signature(b, y);
    return cluster_similarity(x, y);
}

static void test_similarity(void **state)
{
    (void)state;
    const char *a = "The mobile network in Nairobi was shut down since Monday, no calls or data; "
                    "the clinic cannot reach ambulances. Person 17.";
    const char *b = "The mobile network in Nairobi was shut down since Monday, no calls or data; "
                    "the clinic cannot reach ambulances. Person 4242.";
    const char *c = "My account was suspended after I posted photos of the protest in Lagos.";
    assert_true(sim(a, a) == 1.0);
    assert_true(sim(a, b) >= 0.6);
    assert_true(sim(a, c) < 0.15);
    assert_true(sim("SHUT DOWN, again!", "shut down again") == 1.0); /* case and punctuation */
    assert_true(sim("one", "one") == 1.0);
    assert_true(sim("one", "two") < 0.2);
}

static void test_signature_hex(void **state)
{
    (void)state;
    uint32_t x[CLUSTER_SIG_LEN], y[CLUSTER_SIG_LEN];
    char hex[2 * CLUSTER_SIG_BYTES + 3] = "\\x";
    cluster_signature("network shut down in the north", x);
    cluster_signature_hex(x, hex + 2);
    assert_int_equal(cluster_signature_parse(hex, y), 0);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(cluster_signature_parse("\\x00ff", y), -1);
    assert_int_equal(cluster_signature_parse("zz", y), -1);
    /* Without the prefix, in capitals: the same signature. */
    char upper[sizeof hex];
    for (size_t i = 0; i <= strlen(hex + 2); i++)
        upper[i] = (char)toupper((unsigned char)hex[2 + i]);
    memset(y, 0, sizeof y);
    assert_int_equal(cluster_signature_parse(upper, y), 0);
    assert_memory_equal(x, y, sizeof x);
    /* A digit that is not one, anywhere; one digit too few or too many. */
    char bad[sizeof hex];
    strcpy(bad, hex);
    bad[2 + 301] = 'g';
    assert_int_equal(cluster_signature_parse(bad, y), -1);
    strcpy(bad, hex);
    bad[strlen(bad) - 1] = '\0';
    assert_int_equal(cluster_signature_parse(bad, y), -1);
    char longer[sizeof hex + 1];
    snprintf(longer, sizeof longer, "%s0", hex);
    assert_int_equal(cluster_signature_parse(longer, y), -1);
}

static void test_key(void **state)
{
    (void)state;
    long long ids[] = {3, 7};
    char *k = cluster_key_make("network_shutdown", "KE", ids, 2);
    assert_string_equal(k, "network_shutdown|KE|3,7");
    assert_int_equal(cluster_lock_id(k), cluster_lock_id("network_shutdown|KE|3,7"));
    assert_int_not_equal(cluster_lock_id(k), cluster_lock_id("network_shutdown|UG|3,7"));
    free(k);
    k = cluster_key_make("other", "TZ", NULL, 0);
    assert_string_equal(k, "other|TZ|-");
    free(k);
}

static void test_sqlarray(void **state)
{
    (void)state;
    SqlArray a;
    sqlarray_init(&a);
    assert_string_equal(sqlarray_text(&a), "{}");
    sqlarray_add_text(&a, "plain");
    sqlarray_add_text(&a, "quote\" back\\slash, comma {brace}");
    sqlarray_add_text(&a, NULL);
    sqlarray_add_int(&a, -42);
    assert_string_equal(sqlarray_text(&a),
                        "{\"plain\",\"quote\\\" back\\\\slash, comma {brace}\",NULL,-42}");
    for (int i = 0; i < 1000; i++)
        sqlarray_add_fixed2(&a, 1.5);
    assert_int_equal(a.n, 1004);
    sqlarray_free(&a);
    char **v;
    size_t n;
    assert_int_equal(sqlarray_strings_parse("[\"a\",\"b c\"]", &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[1], "b c");
    sqlarray_strings_free(v, n);
    assert_int_equal(sqlarray_strings_parse("null", &v, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sqlarray_strings_parse("{x", &v, &n), -1);
}

/* Members: a Kenyan telco, a global platform, an ISP in Kenya and Uganda. */
static char *ke[] = {"KE"}, *keug[] = {"KE", "UG"};
static char *mobile[] = {"mobile", "broadband", "mobile-data"}, *social[] = {"social"},
            *bb[] = {"broadband"};
static Member mv[] = {
    {1, "safaricom", "Safaricom PLC", "telco", ke, 1, mobile, 3},
    {2, "beta-social", "Beta Social", "platform", NULL, 0, social, 1},
    {3, "acme-net", "Acme Net", "isp", keug, 2, bb, 1},
};
static const Members members = {mv, 3};

static void decide(const char *category, const char *country, const char *const *companies,
                   size_t nc, const char *const *services, size_t ns, Ownership *own)
{
    OwnersInput in = {category, country, companies, nc, services, ns};
    owners_decide(rules, &members, &in, own);
}

static void test_owners_platform_and_telco(void **state)
{
    (void)state;
    Ownership own;
    const char *named[] = {"Beta Social", " SAFARICOM "};
    decide("network_shutdown", "KE", named, 2, NULL, 0, &own);
    assert_int_equal(own.n, 2);
    assert_string_equal(own.owners[0].member->slug, "safaricom");
    assert_int_equal(own.owners[0].involvement, INVOLVEMENT_CAUSED);
    assert_string_equal(owners_role(&own, 0), "lead");
    assert_string_equal(own.owners[1].member->slug, "beta-social");
    assert_int_equal(own.owners[1].involvement, INVOLVEMENT_CONTRIBUTED);
    assert_string_equal(owners_role(&own, 1), "co-owner");

    decide("account_removal", "KE", named, 2, NULL, 0, &own);
    assert_int_equal(own.n, 2);
    assert_string_equal(own.owners[0].member->slug, "beta-social");
    assert_int_equal(own.owners[0].involvement, INVOLVEMENT_CAUSED);
    assert_string_equal(own.owners[1].member->slug, "safaricom");
    assert_int_equal(own.owners[1].involvement, INVOLVEMENT_CONTRIBUTED);

    char note[1024];
    owners_note(rules, &own, "account_removal", "KE", note, sizeof note);
    assert_non_null(strstr(note, "lead beta-social (platform, caused"));
    assert_non_null(strstr(note, "co-owner safaricom (telco, contributed"));
}

static void test_owners_services_and_country(void **state)
{
    (void)state;
    Ownership own;
    const char *svc[] = {"broadband"};
    decide("data_breach", "UG", NULL, 0, svc, 1, &own);
    assert_int_equal(own.n, 1);
    assert_string_equal(own.owners[0].member->slug, "acme-net");
    assert_int_equal(own.owners[0].involvement, INVOLVEMENT_LINKED);

    /* Nobody named: members of the sectors that lead a shutdown in the country, telco first. */
    decide("network_shutdown", "KE", NULL, 0, NULL, 0, &own);
    assert_int_equal(own.n, 2);
    assert_string_equal(own.owners[0].member->slug, "safaricom");
    assert_string_equal(own.owners[1].member->slug, "acme-net");
    assert_string_equal(owners_role(&own, 1), "informed");

    /* Named and linked through a service: the stronger involvement counts. */
    const char *named[] = {"acme-net"};
    decide("blocking_throttling", "KE", named, 1, svc, 1, &own);
    assert_int_equal(own.n, 2);
    assert_string_equal(own.owners[0].member->slug, "acme-net");
    assert_int_equal(own.owners[0].involvement, INVOLVEMENT_CAUSED);
    assert_string_equal(own.owners[1].member->slug, "safaricom");
    assert_int_equal(own.owners[1].involvement, INVOLVEMENT_LINKED);
}

/* People type names and services as they say them; slugs and service ids are folded forms. */
static void test_owners_folded_names(void **state)
{
    (void)state;
    Ownership own;
    const char *named[] = {"beta social"}, *svc[] = {"Mobile Data"};
    decide("account_removal", "KE", named, 1, svc, 1, &own);
    assert_int_equal(own.n, 2);
    assert_string_equal(own.owners[0].member->slug, "beta-social");
    assert_int_equal(own.owners[0].involvement, INVOLVEMENT_CAUSED);
    assert_string_equal(own.owners[1].member->slug, "safaricom");
    assert_int_equal(own.owners[1].involvement, INVOLVEMENT_LINKED);
    /* Folding does not make different names equal. */
    const char *other[] = {"beta socials"}, *svc2[] = {"mobile datas"};
    decide("account_removal", "KE", other, 1, svc2, 1, &own);
    assert_int_equal(own.n, 0);
}

static void test_owners_none(void **state)
{
    (void)state;
    Ownership own;
    const char *named[] = {"Unknown Corp"};
    decide("account_removal", "TZ", named, 1, NULL, 0, &own);
    assert_int_equal(own.n, 0);
    char note[512];
    owners_note(rules, &own, "account_removal", "TZ", note, sizeof note);
    assert_non_null(strstr(note, "mechanism queue"));
    assert_non_null(strstr(note, "referral"));
    /* A service named outside the member's countries does not match either. */
    const char *svc[] = {"mobile"};
    decide("data_breach", "TZ", NULL, 0, svc, 1, &own);
    assert_int_equal(own.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_similarity),
        cmocka_unit_test(test_signature_hex),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_sqlarray),
        cmocka_unit_test(test_owners_platform_and_telco),
        cmocka_unit_test(test_owners_services_and_country),
        cmocka_unit_test(test_owners_folded_names),
        cmocka_unit_test(test_owners_none),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
