/* The complainant actions' path and shape checks (intake/dialogue.c): what the database never
 * sees because the intake refuses it first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "../../intake/dialogue.h"

static void test_paths(void **state)
{
    (void)state;
    ActKind kind;
    long long id;
    assert_true(dialogue_parse_action("messages", &kind, &id));
    assert_int_equal(kind, ACT_MESSAGE);
    assert_true(dialogue_parse_action("appeal", &kind, &id));
    assert_int_equal(kind, ACT_APPEAL);
    assert_true(dialogue_parse_action("feedback", &kind, &id));
    assert_int_equal(kind, ACT_FEEDBACK);
    assert_true(dialogue_parse_action("remedies/12", &kind, &id));
    assert_int_equal(kind, ACT_REMEDY);
    assert_int_equal(id, 12);
    assert_true(dialogue_parse_action("remedies/999999999999999999", &kind, &id));
    static const char *const bad[] = {"",
                                      "message",
                                      "messages/",
                                      "remedies",
                                      "remedies/",
                                      "remedies/0",
                                      "remedies/01",
                                      "remedies/1a",
                                      "remedies/-1",
                                      "remedies/1/",
                                      "remedies/9999999999999999999",
                                      "appeal/1",
                                      "feedback?x=1",
                                      "MESSAGES"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(dialogue_parse_action(bad[i], &kind, &id));
}

static void check(ActKind kind, const char *json, bool ok, const char *field)
{
    json_t *args = json_loads(json, 0, NULL);
    const char *f = NULL, *why = NULL;
    assert_non_null(args);
    assert_int_equal(dialogue_args_check(kind, args, &f, &why), ok);
    if (!ok) {
        assert_string_equal(f, field);
        assert_non_null(why);
    }
    json_decref(args);
}

static void test_fields(void **state)
{
    (void)state;
    check(ACT_MESSAGE, "{\"text\": \"hi\"}", true, NULL);
    check(ACT_MESSAGE, "{\"text\": null}", true, NULL); /* required: the database says so */
    check(ACT_MESSAGE, "{\"text\": 1}", false, "text");
    check(ACT_MESSAGE, "{\"text\": \"hi\", \"to\": \"x\"}", false, "to");
    check(ACT_REMEDY, "{\"decision\": \"accept\", \"comment\": \"ok\"}", true, NULL);
    check(ACT_REMEDY, "{\"decision\": true}", false, "decision");
    check(ACT_REMEDY, "{\"remedy_id\": 3}", false, "remedy_id"); /* only from the path */
    check(ACT_APPEAL, "{\"reason\": [\"a\"]}", false, "reason");
    check(ACT_FEEDBACK, "{\"rating\": 4, \"comment\": \"fine\"}", true, NULL);
    check(ACT_FEEDBACK, "{\"rating\": 4.0}", false, "rating");
    check(ACT_FEEDBACK, "{\"rating\": \"4\"}", false, "rating");
    check(ACT_FEEDBACK, "{\"text\": \"x\"}", false, "text");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
