/* redressctl's argument parsing, the command table lookup, team role names and the audit
 * trail's time parsing and hash layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/args.h"
#include "../../admin/audit.h"
#include "../../admin/commands.h"
#include "../../admin/export.h"
#include "../../admin/member.h"
#include "util.h"

static void test_options_and_positionals(void **state)
{
    (void)state;
    char *argv[] = {"C123",  "--member", "acme", "--role=lead", "-o",
                    "f.csv", "--flag",   "--",   "--x"};
    ArgOpt opts[] = {
        {"member", NULL, true}, {"role", NULL, true}, {"o", "output", true}, {"flag", NULL, false}};
    ArgPos pos;
    char err[128];
    assert_int_equal(args_parse(9, argv, opts, 4, 1, 2, &pos, err, sizeof err), 0);
    assert_int_equal(pos.npos, 2);
    assert_string_equal(pos.pos[0], "C123");
    assert_string_equal(pos.pos[1], "--x");
    assert_string_equal(args_value(opts, 4, "member"), "acme");
    assert_string_equal(args_value(opts, 4, "role"), "lead");
    assert_string_equal(args_value(opts, 4, "o"), "f.csv");
    assert_true(args_flag(opts, 4, "flag"));
    char *argv2[] = {"--output", "g.csv"};
    assert_int_equal(args_parse(2, argv2, opts, 4, 0, 0, &pos, err, sizeof err), 0);
    assert_string_equal(args_value(opts, 4, "o"), "g.csv");
    assert_null(args_value(opts, 4, "member"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    ArgOpt opts[] = {{"note", NULL, true}, {"flag", NULL, false}};
    ArgPos pos;
    char err[128];
    char *a1[] = {"--nope"};
    assert_int_equal(args_parse(1, a1, opts, 2, 0, 1, &pos, err, sizeof err), -1);
    assert_non_null(strstr(err, "--nope"));
    char *a2[] = {"--note"};
    assert_int_equal(args_parse(1, a2, opts, 2, 0, 1, &pos, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs a value"));
    char *a3[] = {"a", "b"};
    assert_int_equal(args_parse(2, a3, opts, 2, 0, 1, &pos, err, sizeof err), -1);
    assert_non_null(strstr(err, "'b'"));
    assert_int_equal(args_parse(0, a3, opts, 2, 1, 1, &pos, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing"));
    char *a4[] = {"--flag=1"};
    assert_int_equal(args_parse(1, a4, opts, 2, 0, 1, &pos, err, sizeof err), -1);
    char *a5[] = {"--note", "a", "--note", "b"};
    assert_int_equal(args_parse(4, a5, opts, 2, 0, 1, &pos, err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
    long v;
    assert_int_equal(args_long("12", 1, 100, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(args_long("0", 1, 100, &v), -1);
    assert_int_equal(args_long("5x", 1, 100, &v), -1);
}

static void test_command_lookup(void **state)
{
    (void)state;
    int words = 0;
    char *a1[] = {"case", "show", "C1"};
    const Command *c = commands_find(3, a1, &words);
    assert_non_null(c);
    assert_string_equal(c->verb, "case show");
    assert_int_equal(words, 2);
    char *a2[] = {"queue", "--json"};
    c = commands_find(2, a2, &words);
    assert_non_null(c);
    assert_int_equal(words, 1);
    char *a3[] = {"case", "explode"};
    assert_null(commands_find(2, a3, &words));
    assert_true(commands_is_group("case"));
    assert_false(commands_is_group("queue"));
    char *a4[] = {"case"};
    assert_null(commands_find(1, a4, &words));
}

static void test_team_role_and_dates(void **state)
{
    (void)state;
    char role[64];
    assert_int_equal(member_team_role("acme-net", role, sizeof role), 0);
    assert_string_equal(role, "team_acme_net");
    assert_int_equal(member_team_role("Acme", role, sizeof role), -1);
    assert_int_equal(member_team_role("-x", role, sizeof role), -1);
    assert_int_equal(member_team_role("a;drop", role, sizeof role), -1);
    assert_int_equal(export_date_check("2026-01-31"), 0);
    assert_int_equal(export_date_check("2026-1-31"), -1);
    assert_int_equal(export_date_check(NULL), -1);
}

static void test_audit_time_and_hash(void **state)
{
    (void)state;
    int64_t us;
    assert_int_equal(audit_time_parse("1970-01-01 00:00:01.5+00", &us), 0);
    assert_int_equal(us, 1500000);
    assert_int_equal(audit_time_parse("2026-11-22 08:39:32.740558+00", &us), 0);
    assert_int_equal(us % 1000000, 740558);
    assert_int_equal(audit_time_parse("2026-11-22 08:39:32+00", &us), 0);
    assert_int_equal(us % 1000000, 0);
    assert_int_equal(audit_time_parse("2026-11-22 08:39:32+02", &us), -1);
    /* sha256("1|1|0|postgres|created||triaged|") with no previous hash, as case_event_hash()
     * computes it in SQL. */
    unsigned char h[32];
    char hex[65];
    audit_event_hash(NULL, 0, "1", "1", 0, "postgres", "created", NULL, "triaged", NULL, h);
    hex_encode(h, 32, hex);
    assert_string_equal(hex, "ff2da0828ce586c3af5f6d2573338517dddd9d0aec319a6db757f76124492e02");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_and_positionals), cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_command_lookup),          cmocka_unit_test(test_team_role_and_dates),
        cmocka_unit_test(test_audit_time_and_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
