/* Grievance validation (common/grievance.c, both ways in) and the row builder (grievance_row.c).
 * Run from the repository root: the taxonomy is config/taxonomy.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grievance.h"
#include "grievance_reader.h"
#include "grievance_row.h"
#include "taxonomy.h"

static Taxonomy *tax;

static int setup(void **state)
{
    (void)state;
    char err[512];
    tax = taxonomy_load("config/taxonomy.json", err, sizeof err);
    if (!tax)
        fprintf(stderr, "taxonomy: %s\n", err);
    return tax ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    taxonomy_free(tax);
    return 0;
}

static json_t *base(void)
{
    return json_pack("{s:s, s:s, s:s}", "description", "The network was shut down for a week.",
                     "category", "network_shutdown", "country", "PK");
}

/* Validates obj (stolen); returns the grievance or NULL with *err filled. */
static Grievance *check(json_t *obj, GrievanceError *err)
{
    memset(err, 0, sizeof *err);
    Grievance *g = grievance_from_json(obj, tax, err);
    json_decref(obj);
    return g;
}

static void expect_error(json_t *obj, const char *field, const char *code)
{
    GrievanceError err;
    Grievance *g = check(obj, &err);
    if (g)
        fail_msg("accepted; expected %s/%s", field, code);
    assert_string_equal(err.field, field);
    assert_string_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
}

static json_t *with(const char *key, json_t *value)
{
    json_t *obj = base();
    json_object_set_new(obj, key, value);
    return obj;
}

static void test_minimal_valid(void **state)
{
    (void)state;
    GrievanceError err;
    Grievance *g = check(base(), &err);
    assert_non_null(g);
    assert_string_equal(g->category, "network_shutdown");
    assert_string_equal(g->country, "PK");
    assert_string_equal(g->complainant_type, "self");
    assert_int_equal(g->ongoing, -1);
    assert_int_equal(g->immediate_danger, -1); /* not answered */
    assert_int_equal(g->people_affected, 0);
    assert_null(g->contact_json);
    assert_null(g->language);
    grievance_free(g);
}

static void test_required_fields(void **state)
{
    (void)state;
    static const char *const fields[] = {"description", "category", "country"};
    for (size_t i = 0; i < 3; i++) {
        json_t *obj = base();
        json_object_del(obj, fields[i]);
        expect_error(obj, fields[i], "required");
    }
    expect_error(with("description", json_string("")), "description", "required");
    expect_error(with("description", json_string(" \t\n ")), "description", "required");
    expect_error(with("description", json_integer(5)), "description", "invalid");
    expect_error(with("description", json_null()), "description", "invalid");
    expect_error(json_array(), "", "not_an_object");
    expect_error(json_string("x"), "", "not_an_object");
}

static void test_unknown_field_named(void **state)
{
    (void)state;
    GrievanceError err;
    Grievance *g = check(with("favourite_colour", json_string("blue")), &err);
    assert_null(g);
    assert_string_equal(err.code, "unknown_field");
    assert_string_equal(err.field, "favourite_colour");
    assert_non_null(strstr(err.message, "favourite_colour"));
    /* A name that is not plain is not echoed. */
    g = check(with("<script>alert(1)</script>", json_true()), &err);
    assert_null(g);
    assert_string_equal(err.code, "unknown_field");
    assert_null(strstr(err.message, "script"));
    assert_null(strstr(err.field, "script"));
    expect_error(with("consent", json_pack("{s:b}", "sell", 1)), "consent", "unknown_field");
    expect_error(with("contact", json_pack("{s:s}", "address", "x")), "contact", "unknown_field");
}

static void test_taxonomy_ids(void **state)
{
    (void)state;
    GrievanceError err;
    expect_error(with("category", json_string("made_up")), "category", "invalid");
    expect_error(with("category", json_string("NETWORK_SHUTDOWN")), "category", "invalid");
    expect_error(with("rights", json_pack("[s]", "not_a_right")), "rights", "invalid");
    expect_error(with("rights", json_string("privacy")), "rights", "invalid");
    expect_error(with("rights", json_pack("[i]", 1)), "rights", "invalid");
    expect_error(with("vulnerability", json_pack("[s]", "dragon")), "vulnerability", "invalid");
    json_t *many = json_array();
    for (int i = 0; i < 21; i++)
        json_array_append_new(many, json_string("privacy"));
    expect_error(with("rights", many), "rights", "too_long");

    json_t *obj = base();
    json_object_set_new(obj, "rights", json_pack("[s,s,s]", "privacy", "expression", "privacy"));
    json_object_set_new(obj, "vulnerability", json_pack("[s]", "journalist"));
    json_object_set_new(obj, "companies", json_pack("[s,s]", "Acme", "Free Name Ltd"));
    Grievance *g = check(obj, &err);
    assert_non_null(g);
    assert_int_equal(g->rights.n, 2); /* duplicates dropped */
    assert_string_equal(g->rights.items[0], "privacy");
    assert_string_equal(g->rights.items[1], "expression");
    assert_int_equal(g->vulnerability.n, 1);
    assert_int_equal(g->companies.n, 2);
    grievance_free(g);
}

static void test_country_case(void **state)
{
    (void)state;
    GrievanceError err;
    static const char *const ok[] = {"pk", "Pk", "pK", "PK"};
    for (size_t i = 0; i < 4; i++) {
        Grievance *g = check(with("country", json_string(ok[i])), &err);
        assert_non_null(g);
        assert_string_equal(g->country, "PK");
        grievance_free(g);
    }
    expect_error(with("country", json_string("XX")), "country", "invalid");
    expect_error(with("country", json_string("P")), "country", "invalid");
    expect_error(with("country", json_string("PAK")), "country", "too_long");
    expect_error(with("country", json_string("\xc3\xa9\xc3\xa9")), "country", "invalid");
    expect_error(with("country", json_string("")), "country", "required");
}

static char *repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static void test_description_lengths(void **state)
{
    (void)state;
    GrievanceError err;
    /* 20000 characters of 1, 2, 3 and 4 bytes each are fine; 20001 is not. */
    static const char *const units[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < 4; i++) {
        char *s = repeat(units[i], 20000);
        Grievance *g = check(with("description", json_string(s)), &err);
        assert_non_null(g);
        assert_int_equal(strlen(g->description), 20000 * strlen(units[i]));
        grievance_free(g);
        free(s);
        s = repeat(units[i], 20001);
        expect_error(with("description", json_string(s)), "description", "too_long");
        free(s);
    }
    char *name = repeat("n", 201);
    expect_error(with("contact", json_pack("{s:s}", "name", name)), "contact.name", "too_long");
    free(name);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0, 0));
    assert_true(utf8_valid("abc", 3, 3));
    assert_false(utf8_valid("abc", 3, 2));
    assert_true(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 3));
    assert_false(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 2));
    assert_true(utf8_valid("\xf4\x8f\xbf\xbf", 4, 1));   /* U+10FFFF */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4, 10)); /* past U+10FFFF */
    assert_false(utf8_valid("\xc3", 1, 10));             /* truncated */
    assert_false(utf8_valid("\xe2\x82", 2, 10));
    assert_false(utf8_valid("\xc3\x28", 2, 10)); /* bad continuation */
    assert_false(utf8_valid("\x80", 1, 10));     /* lone continuation */
    assert_false(utf8_valid("\xff", 1, 10));
    assert_false(utf8_valid("\xfe", 1, 10));
    assert_false(utf8_valid("\xc0\xaf", 2, 10)); /* overlong '/' */
    assert_false(utf8_valid("\xc1\xbf", 2, 10));
    assert_false(utf8_valid("\xe0\x80\xaf", 3, 10));     /* overlong */
    assert_false(utf8_valid("\xf0\x80\x80\xaf", 4, 10)); /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3, 10));     /* surrogate U+D800 */
    assert_false(utf8_valid("\xed\xbf\xbf", 3, 10));     /* surrogate U+DFFF */
    assert_true(utf8_valid("\xed\x9f\xbf", 3, 10));      /* U+D7FF */
    assert_false(utf8_valid("a\0b", 3, 10));             /* NUL */
    /* Invalid bytes in a field (json_stringn_nocheck, as the form builds them) are refused. */
    expect_error(with("description", json_stringn_nocheck("caf\xc3", 4)), "description", "invalid");
    expect_error(with("description", json_stringn_nocheck("a\0b", 3)), "description", "invalid");
}

/* The word-at-a-time runs stop exactly at the first byte outside their set, wherever it falls. */
static void test_text_runs(void **state)
{
    (void)state;
    static const char stops_plain[] = {'"', '\\', '\0', '\n', '\x1f', (char)0x80, (char)0xff};
    static const char stops_ascii[] = {'\0', (char)0x80, (char)0xc3, (char)0xff};
    char buf[40];
    for (size_t len = 0; len <= 33; len++) {
        memset(buf, 'a', sizeof buf);
        buf[0] = ' ';
        buf[len ? len - 1 : 0] = '~';
        assert_int_equal(json_plain_run(buf, len), len);
        assert_int_equal(ascii_run(buf, len), len);
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof stops_plain; k++) {
                memset(buf, 'x', sizeof buf);
                buf[at] = stops_plain[k];
                assert_int_equal(json_plain_run(buf, len), at);
            }
            for (size_t k = 0; k < sizeof stops_ascii; k++) {
                memset(buf, '"', sizeof buf);
                buf[at] = stops_ascii[k];
                assert_int_equal(ascii_run(buf, len), at);
            }
        }
    }
    assert_int_equal(ascii_run("\t\x7f!", 3), 3);        /* controls and DEL are ASCII */
    assert_int_equal(json_plain_run("\x7f !#[]", 6), 6); /* the bytes next to '"' and '\\' pass */
}

static const char *date_str(time_t t)
{
    static char buf[16];
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

static void test_dates(void **state)
{
    (void)state;
    GrievanceError err;
    static const char *const good[] = {"2024-02-29", "2000-02-29", "1999-12-31", "2023-01-01",
                                       "1900-01-01"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        Grievance *g = check(with("started_on", json_string(good[i])), &err);
        if (!g)
            fail_msg("%s refused: %s", good[i], err.message);
        assert_string_equal(g->started_on, good[i]);
        grievance_free(g);
    }
    static const char *const bad[] = {
        "2023-02-29", "1900-02-29", "2100-02-29", "2024-04-31", "2024-13-01",  "2024-00-10",
        "2024-01-00", "2024-1-01",  "24-01-01",   "2024/01/01", "2024-01-01x", "1899-12-31",
        "abcd-ef-gh", "2024-+1-01", "2024- 1-01", "2024-01- 1", "2024-01-+1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Grievance *g = check(with("started_on", json_string(bad[i])), &err);
        if (g)
            fail_msg("%s accepted", bad[i]);
        assert_string_equal(err.field, "started_on");
    }
    /* Today is fine, far in the future is not. */
    Grievance *g = check(with("started_on", json_string(date_str(time(NULL)))), &err);
    assert_non_null(g);
    grievance_free(g);
    expect_error(with("started_on", json_string(date_str(time(NULL) + 3 * 86400))), "started_on",
                 "invalid");
    expect_error(with("started_on", json_string("2999-01-01")), "started_on", "invalid");
    expect_error(with("started_on", json_integer(20240101)), "started_on", "invalid");
}

static void test_contact_rules(void **state)
{
    (void)state;
    GrievanceError err;
    Grievance *g =
        check(with("contact", json_pack("{s:s, s:s, s:s}", "name", "Ana", "email",
                                        "ana@example.org", "phone", "+55 (11) 91234-5678")),
              &err);
    assert_non_null(g);
    assert_non_null(g->contact_json);
    json_t *c = json_loads(g->contact_json, 0, NULL);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "email")), "ana@example.org");
    assert_string_equal(json_string_value(json_object_get(c, "name")), "Ana");
    json_decref(c);
    grievance_free(g);

    g = check(with("contact", json_object()), &err); /* empty contact: none */
    assert_non_null(g);
    assert_null(g->contact_json);
    grievance_free(g);

    static const char *const bad_email[] = {"ana",        "@example.org",    "ana@example",
                                            "ana@@x.org", "ana@x.org@y.org", "an a@x.org",
                                            "<a@x.org>"};
    for (size_t i = 0; i < sizeof bad_email / sizeof bad_email[0]; i++)
        expect_error(with("contact", json_pack("{s:s}", "email", bad_email[i])), "contact.email",
                     "invalid");
    static const char *const bad_phone[] = {"1234", "call me", "+1 555 CALL",
                                            "123456789012345678901"};
    for (size_t i = 0; i < sizeof bad_phone / sizeof bad_phone[0]; i++)
        expect_error(with("contact", json_pack("{s:s}", "phone", bad_phone[i])), "contact.phone",
                     "invalid");
    expect_error(with("contact", json_pack("{s:s}", "name", "")), "contact.name", "required");
    expect_error(with("contact", json_pack("{s:i}", "name", 3)), "contact.name", "invalid");
    expect_error(with("contact", json_string("ana@example.org")), "contact", "invalid");
    /* The message never carries the value. */
    g = check(with("contact", json_pack("{s:s}", "email", "secret-value-xyz")), &err);
    assert_null(g);
    assert_null(strstr(err.message, "secret-value-xyz"));
}

static void test_anonymous_with_contact(void **state)
{
    (void)state;
    GrievanceError err;
    json_t *obj = base();
    json_object_set_new(obj, "complainant_type", json_string("anonymous"));
    json_object_set_new(obj, "contact", json_pack("{s:s}", "email", "ana@example.org"));
    expect_error(obj, "contact", "invalid");
    obj = base();
    json_object_set_new(obj, "contact", json_pack("{s:s}", "email", "ana@example.org"));
    json_object_set_new(obj, "complainant_type",
                        json_string("anonymous")); /* order does not matter */
    expect_error(obj, "contact", "invalid");
    Grievance *g = check(with("complainant_type", json_string("anonymous")), &err);
    assert_non_null(g);
    assert_string_equal(g->complainant_type, "anonymous");
    grievance_free(g);
    expect_error(with("complainant_type", json_string("robot")), "complainant_type", "invalid");
}

static void test_other_fields(void **state)
{
    (void)state;
    expect_error(with("people_affected", json_integer(0)), "people_affected", "invalid");
    expect_error(with("people_affected", json_integer(-5)), "people_affected", "invalid");
    expect_error(with("people_affected", json_integer(2147483648LL)), "people_affected", "invalid");
    expect_error(with("people_affected", json_real(3.5)), "people_affected", "invalid");
    expect_error(with("people_affected", json_string("12")), "people_affected", "invalid");
    expect_error(with("ongoing", json_string("yes")), "ongoing", "invalid");
    expect_error(with("ongoing", json_integer(1)), "ongoing", "invalid");
    expect_error(with("immediate_danger", json_string("yes")), "immediate_danger", "invalid");
    expect_error(with("immediate_danger", json_null()), "immediate_danger", "invalid");
    expect_error(with("language", json_string("english!")), "language", "invalid");
    expect_error(with("language", json_string("e")), "language", "invalid");
    expect_error(with("language", json_string("en-")), "language", "invalid");
    expect_error(with("language", json_string("en-abcdefghi")), "language", "invalid");
    expect_error(with("consent", json_true()), "consent", "invalid");
    expect_error(with("consent", json_pack("{s:s}", "share_with_members", "yes")),
                 "consent.share_with_members", "invalid");
    expect_error(with("services", json_pack("[s]", "")), "services", "required");
    static const char *const langs[] = {"en", "pt-BR", "zh-Hant-TW", "ast", "es-419"};
    for (size_t i = 0; i < 5; i++) {
        GrievanceError err;
        Grievance *g = check(with("language", json_string(langs[i])), &err);
        if (!g)
            fail_msg("language %s refused", langs[i]);
        grievance_free(g);
    }
}

/* Validates text with the API's streaming parser. */
static Grievance *parse(const char *text, GrievanceError *err)
{
    memset(err, 0, sizeof *err);
    return grievance_parse(text, strlen(text), tax, err);
}

static void expect_parse_error(const char *text, const char *code, const char *field,
                               bool malformed)
{
    GrievanceError err;
    Grievance *g = parse(text, &err);
    if (g)
        fail_msg("accepted %s", text);
    assert_string_equal(err.code, code);
    assert_string_equal(err.field, field);
    assert_int_equal(err.malformed, malformed);
}

#define BASE_TEXT "\"description\":\"d\",\"category\":\"other\",\"country\":\"FR\""

static void test_parse_text(void **state)
{
    (void)state;
    GrievanceError err;
    Grievance *g = parse("{" BASE_TEXT ",\"companies\":[\"A \\\"B\\\" \\u00e9 \\ud83d\\ude00\"],"
                         "\"contact\":{\"name\":\"N\\\\\\n\"}}",
                         &err);
    assert_non_null(g);
    assert_string_equal(g->companies.items[0], "A \"B\" \xc3\xa9 \xf0\x9f\x98\x80");
    assert_string_equal(g->contact_json, "{\"name\":\"N\\\\\\u000a\"}");
    grievance_free(g);
    /* The body's own errors are 400s, and win over a field's error found before them. */
    expect_parse_error("", "malformed_json", "", true);
    expect_parse_error("\"just a string\"", "malformed_json", "", true);
    expect_parse_error("[1]", "not_an_object", "", true);
    expect_parse_error("{" BASE_TEXT ",\"country\":\"DE\"}", "malformed_json", "", true);
    expect_parse_error("{" BASE_TEXT ",\"x\":{\"a\":1,\"a\":2}}", "malformed_json", "", true);
    expect_parse_error("{\"colour\":1," BASE_TEXT, "malformed_json", "", true);
    expect_parse_error("{" BASE_TEXT "} \"", "malformed_json", "", true);
    expect_parse_error("{" BASE_TEXT "}\v", "malformed_json", "", true);
    expect_parse_error("{\"description\":\"a\\u0000b\"}", "malformed_json", "", true);
    expect_parse_error("{\"description\":\"\\ud800\"}", "malformed_json", "", true);
    expect_parse_error("{\"description\":\"\\udc00x\"}", "malformed_json", "", true);
    expect_parse_error("{\"description\":\"caf\xc3\"}", "invalid_utf8", "", true);
    expect_parse_error("{\"description\":\"\xed\xa0\x80\"}", "invalid_utf8", "", true);
    expect_parse_error("{\"people_affected\":99999999999999999999}", "malformed_json", "", true);
    /* Fields: 422s, in the order they come. */
    expect_parse_error("{\"colour\":1," BASE_TEXT "}", "unknown_field", "colour", false);
    expect_parse_error("{" BASE_TEXT ",\"rights\":[\"x\",1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0]}",
                       "too_long", "rights", false);
    expect_parse_error("{" BASE_TEXT ",\"rights\":[\"privacy\",[1]]}", "invalid", "rights", false);
    expect_parse_error("{" BASE_TEXT ",\"people_affected\":1.0}", "invalid", "people_affected",
                       false);
    expect_parse_error("{" BASE_TEXT ",\"consent\":{\"share_with_members\":{}}}", "invalid",
                       "consent.share_with_members", false);
    expect_parse_error("{\"category\":\"other\",\"country\":\"FR\"}", "required", "description",
                       false);
    /* Many keys (the key set grows) and deep nesting under an unknown field. */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "{" BASE_TEXT ",\"zz\":{");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\":[[[%d]]]", i ? "," : "", i, i);
    snprintf(big + n, sizeof big - n, "}}");
    expect_parse_error(big, "unknown_field", "zz", false);
}

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Column c's binary array, checked whole (one dimension of the batch's rows from 1, the element
 * type, every length within the parameter); element i copied into out as text ("NULL" for a
 * NULL; an int4 or a date as its number, a bool as t/f). */
static const char *elem(RowBatch *b, RowColumn c, uint32_t type, int i, char *out, size_t outlen)
{
    const RowBatchParams *p = row_batch_params(b);
    const char *a = p->values[c];
    assert_int_equal(p->formats[c], 1);
    assert_int_equal(be32(a), 1);
    assert_int_equal(be32(a + 8), type);
    assert_int_equal(be32(a + 12), row_batch_count(b));
    assert_int_equal(be32(a + 16), 1);
    size_t at = 20;
    const char *found = NULL;
    int found_len = 0;
    for (int k = 0; k < row_batch_count(b); k++) {
        assert_true(at + 4 <= (size_t)p->lengths[c]);
        int32_t len = (int32_t)be32(a + at);
        at += 4;
        if (k == i) {
            found = len < 0 ? NULL : a + at;
            found_len = len;
        }
        if (len > 0)
            at += (size_t)len;
        assert_true(at <= (size_t)p->lengths[c]);
    }
    assert_int_equal(at, p->lengths[c]);
    if (!found)
        snprintf(out, outlen, "NULL");
    else if (type == 16)
        snprintf(out, outlen, "%c", found[0] ? 't' : 'f');
    else if (type == 23 || type == 1082)
        snprintf(out, outlen, "%d", (int32_t)be32(found));
    else
        snprintf(out, outlen, "%.*s", found_len, found);
    return out;
}

enum { TEXT = 25, INT4 = 23, BOOL = 16, DATE = 1082 };

static void test_row_build(void **state)
{
    (void)state;
    GrievanceError err;
    static const unsigned char key[32] = {7};
    char why[128];
    json_t *obj = base();
    json_object_set_new(obj, "rights", json_pack("[s,s]", "privacy", "expression"));
    json_object_set_new(obj, "companies",
                        json_pack("[s,s]", "Acme \"Mobile\"", "Back\\slash {x,y}"));
    json_object_set_new(obj, "people_affected", json_integer(1500));
    json_object_set_new(obj, "ongoing", json_false());
    json_object_set_new(obj, "immediate_danger", json_true());
    json_object_set_new(obj, "started_on", json_string("2024-02-29"));
    json_object_set_new(obj, "complainant_type", json_string("organisation"));
    json_object_set_new(obj, "consent", json_pack("{s:b}", "share_with_members", 1));
    json_object_set_new(obj, "contact", json_pack("{s:s}", "email", "ana@example.org"));
    Grievance *g = check(obj, &err);
    assert_non_null(g);
    unsigned char hash[32] = {0xab};
    GrievanceRowInput in = {"api", key, key, "key-1", hash};
    GrievanceRow row;
    assert_int_equal(grievance_row_build(&row, g, &in, why, sizeof why), 0);
    assert_int_equal(strlen(row.reference), REFERENCE_LEN);
    assert_int_equal(strlen(row.receipt), RECEIPT_LEN);
    assert_true(row.has_key);

    Grievance *g2 = check(base(), &err);
    GrievanceRowInput in2 = {"form", key, NULL, NULL, NULL};
    GrievanceRow row2;
    assert_int_equal(grievance_row_build(&row2, g2, &in2, why, sizeof why), 0);

    char v[2048];
    RowBatch *b = row_batch_new();
    row_batch_add(b, &row);
    assert_string_equal(elem(b, ROW_COMPANIES, TEXT, 0, v, sizeof v),
                        "{\"Acme \\\"Mobile\\\"\",\"Back\\\\slash {x,y}\"}");
    row_batch_add(b, &row2); /* added to after the parameters were read */
    assert_int_equal(row_batch_count(b), 2);
    /* Both rows of each column: the first with every field given, the second (the form's
     * minimal grievance) without. 2024-02-29 is 8,825 days after 2000-01-01 (24 years, 6 of them
     * leap, and 59 days); immediate_danger not answered is NULL. */
    static const struct {
        RowColumn column;
        uint32_t type;
        const char *first, *second;
    } cells[] = {
        {ROW_RIGHTS, TEXT, "{\"privacy\",\"expression\"}", "{}"},
        {ROW_CHANNEL, TEXT, "api", "form"},
        {ROW_PEOPLE_AFFECTED, INT4, "1500", "NULL"},
        {ROW_ONGOING, BOOL, "f", "f"},
        {ROW_IMMEDIATE_DANGER, BOOL, "t", "NULL"},
        {ROW_STARTED_ON, DATE, "8825", "NULL"},
        {ROW_LANGUAGE, TEXT, "NULL", "NULL"},
        {ROW_SHARE_WITH_MEMBERS, BOOL, "t", "f"},
        {ROW_IDEMPOTENCY_KEY, TEXT, "key-1", "NULL"},
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        assert_string_equal(elem(b, cells[i].column, cells[i].type, 0, v, sizeof v),
                            cells[i].first);
        assert_string_equal(elem(b, cells[i].column, cells[i].type, 1, v, sizeof v),
                            cells[i].second);
    }
    assert_int_equal(strncmp(elem(b, ROW_REQUEST_HASH, TEXT, 0, v, sizeof v), "ab00", 4), 0);
    assert_string_equal(elem(b, ROW_REFERENCE, TEXT, 0, v, sizeof v), row.reference);
    assert_string_equal(elem(b, ROW_RECEIPT_HASH, TEXT, 1, v, sizeof v), row2.receipt_hash_hex);
    assert_string_equal(elem(b, ROW_DESCRIPTION, TEXT, 0, v, sizeof v), g->description);
    /* Sealed, never in plaintext; the receipt itself is not a column. */
    const RowBatchParams *p = row_batch_params(b);
    for (int c = 0; c < ROW_NCOLS; c++) {
        assert_null(memmem(p->values[c], (size_t)p->lengths[c], "ana@example.org", 15));
        assert_null(memmem(p->values[c], (size_t)p->lengths[c], row.receipt, RECEIPT_LEN));
    }
    assert_true(strlen(elem(b, ROW_CONTACT_ENC, TEXT, 0, v, sizeof v)) > 40);

    /* An empty batch is an array without dimensions. */
    RowBatch *empty = row_batch_new();
    p = row_batch_params(empty);
    assert_int_equal(p->lengths[ROW_DESCRIPTION], 12);
    assert_int_equal(be32(p->values[ROW_DESCRIPTION]), 0);
    assert_int_equal(be32(p->values[ROW_DESCRIPTION] + 8), TEXT);
    row_batch_free(empty);

    /* A rekey changes reference, receipt and its hash only. */
    char old_ref[REFERENCE_LEN + 1], old_hash[65];
    memcpy(old_ref, row.reference, sizeof old_ref);
    memcpy(old_hash, row.receipt_hash_hex, sizeof old_hash);
    grievance_row_rekey(&row, key);
    assert_string_not_equal(row.reference, old_ref);
    assert_string_not_equal(row.receipt_hash_hex, old_hash);
    row_batch_free(b);
    grievance_row_clear(&row);
    grievance_row_clear(&row2);
    grievance_free(g);
    grievance_free(g2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_valid),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_unknown_field_named),
        cmocka_unit_test(test_taxonomy_ids),
        cmocka_unit_test(test_country_case),
        cmocka_unit_test(test_description_lengths),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_text_runs),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_contact_rules),
        cmocka_unit_test(test_anonymous_with_contact),
        cmocka_unit_test(test_other_fields),
        cmocka_unit_test(test_parse_text),
        cmocka_unit_test(test_row_build),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
