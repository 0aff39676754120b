/* Translations (common/i18n.c): PO loading, look-up, Accept-Language, placeholders, dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <stdlib.h>
#include <string.h>

#include "i18n.h"

static const char po_header[] = "msgid \"\"\nmsgstr \"\"\n"
                                "\"Content-Type: text/plain; charset=UTF-8\\n\"\n"
                                "\"Language: xx\\n\"\n\n";

static void write_po(const char *name, const char *body)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", po_header, body);
    assert_non_null(scratch_write(name, text, strlen(text)));
}

static int setup(void **state)
{
    (void)state;
    if (scratch_setup("i18n") < 0)
        return -1;
    write_po("fr.po", "msgctxt \"language name\"\nmsgid \"English\"\nmsgstr \"Français\"\n\n"
                      "msgid \"Consent\"\nmsgstr \"Consentement\"\n\n"
                      "#, python-brace-format\nmsgid \"Grievance {reference}\"\n"
                      "msgstr \"Réclamation {reference}\"\n\n"
                      "msgctxt \"month\"\nmsgid \"March\"\nmsgstr \"mars\"\n\n"
                      "#, python-brace-format\nmsgctxt \"date and time\"\n"
                      "msgid \"{day} {month} {year}, {time} UTC\"\n"
                      "msgstr \"{day} {month} {year} à {time} UTC\"\n\n"
                      "#, fuzzy\nmsgid \"Status\"\nmsgstr \"Statut\"\n\n"
                      "msgid \"Name\"\nmsgstr \"\"\n");
    write_po("zh_Hans.po", "msgctxt \"language name\"\nmsgid \"English\"\nmsgstr \"简体中文\"\n");
    write_po("ar.po", "msgctxt \"text direction\"\nmsgid \"ltr\"\nmsgstr \"rtl\"\n");
    write_po("README", "not a PO file: ignored");
    char err[512];
    return i18n_load(scratch_dir, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    i18n_free();
    return scratch_teardown();
}

static void test_languages_and_lookup(void **state)
{
    (void)state;
    assert_int_equal(i18n_count(), 4); /* ar, en, fr, zh-Hans */
    assert_string_equal(lang_tag(i18n_at(0)), "ar");
    assert_string_equal(lang_tag(i18n_at(3)), "zh-Hans");
    const Lang *fr = i18n_find("FR");
    assert_non_null(fr);
    assert_ptr_equal(i18n_find("zh_hans"), i18n_find("zh-Hans"));
    assert_null(i18n_find("de"));
    assert_null(i18n_find(NULL));
    assert_string_equal(lang_name(fr), "Français");
    assert_string_equal(lang_name(i18n_default()), "English");
    assert_true(lang_rtl(i18n_find("ar")));
    assert_false(lang_rtl(fr));
    assert_string_equal(tr(fr, "Consent"), "Consentement");
    assert_string_equal(tr(fr, "Status"), "Status"); /* fuzzy: not used */
    assert_string_equal(tr(fr, "Name"), "Name");     /* untranslated */
    assert_string_equal(tr(fr, "Not in the file"), "Not in the file");
    assert_string_equal(trc(fr, "month", "March"), "mars");
    assert_string_equal(trc(fr, "other context", "March"), "March");
    assert_string_equal(tr(i18n_default(), "Consent"), "Consent");
}

static void test_negotiate(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"fr", "fr"},
        {"fr-CA, en;q=0.8", "fr"},
        {"de, zh-CN;q=0.5, fr;q=0.4", "zh-Hans"},
        {"en;q=0.2, ar;q=0.9", "ar"},
        {"ar;q=0, fr;q=0.001", "fr"},
        {"ar;q=0", "en"},
        {"*;q=0.5, fr;q=0.6", "fr"},
        {"*", "en"},
        {"de, it", "en"},
        {"fr;q=2, ar;q=0.1", "ar"},   /* malformed q: the range does not count */
        {"fr;q=0.5, ar;q=0.5", "fr"}, /* ties: earlier */
        {" ar ; q=0.7 ,fr;q=0.6", "ar"},
        {",,;q=,", "en"},
        {"", "en"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(lang_tag(i18n_negotiate(cases[i][0])), cases[i][1]);
    assert_string_equal(lang_tag(i18n_negotiate(NULL)), "en");
}

static void test_expand(void **state)
{
    (void)state;
    const char *pairs[] = {"reference", "7K3<Q>", "n", "", NULL};
    char *s = i18n_expand(tr(i18n_find("fr"), "Grievance {reference}"), pairs);
    assert_string_equal(s, "Réclamation 7K3<Q>");
    free(s);
    s = i18n_expand("{n}{unknown} {reference}{", pairs);
    assert_string_equal(s, "{unknown} 7K3<Q>{");
    free(s);
}

static void test_datetime(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(i18n_datetime(i18n_find("fr"), "2027-03-09T17:05:41Z", out, sizeof out), 0);
    assert_string_equal(out, "9 mars 2027 à 17:05 UTC");
    assert_int_equal(i18n_datetime(i18n_default(), "2027-03-09T07:05:00Z", out, sizeof out), 0);
    assert_string_equal(out, "9 March 2027, 07:05 UTC");
    assert_int_equal(i18n_datetime(i18n_default(), "yesterday", out, sizeof out), -1);
    assert_string_equal(out, "yesterday");
    assert_int_equal(i18n_datetime(i18n_default(), "2027-13-09T07:05:00Z", out, sizeof out), -1);
}

static void test_bad_files_refused(void **state)
{
    (void)state;
    char err[512];
    char dir[sizeof scratch_dir];
    snprintf(dir, sizeof dir, "%s", scratch_dir);
    i18n_free();
    /* a translation whose placeholders differ from its msgid's */
    write_po("fr.po", "#, python-brace-format\nmsgid \"Grievance {reference}\"\n"
                      "msgstr \"Réclamation {receipt}\"\n");
    assert_int_equal(i18n_load(dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "fr.po"));
    /* the same without the flag: our own comparison catches it */
    write_po("fr.po", "msgid \"Grievance {reference}\"\nmsgstr \"Réclamation {receipt}\"\n");
    assert_int_equal(i18n_load(dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "{receipt}"));
    /* a syntax error */
    write_po("fr.po", "msgid \"unterminated\nmsgstr \"x\"\n");
    assert_int_equal(i18n_load(dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "fr.po:"));
    assert_int_equal(i18n_load("/nonexistent-redress-dir", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-redress-dir"));
    /* after a failed load only English is left */
    assert_int_equal(i18n_count(), 1);
    assert_string_equal(lang_tag(i18n_negotiate("fr")), "en");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_languages_and_lookup),
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_bad_files_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
