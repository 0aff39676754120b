/* multipart/form-data bodies (intake/multipart.c) and the evidence types read from content
 * (intake/evidence.c): what an upload must look like before the database sees it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "../../intake/evidence.h"
#include "../../intake/multipart.h"

#define CT "multipart/form-data; boundary=XyZ"

static MultipartResult parse(const char *ct, const char *body, MultipartPart *parts, int *n)
{
    return multipart_parse(ct, (const unsigned char *)body, strlen(body), parts, n);
}

static void test_well_formed(void **state)
{
    (void)state;
    MultipartPart parts[MULTIPART_MAX_PARTS];
    int n;
    const char *body =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"reference\"\r\n\r\n"
        "7K3QMZ9X2FA\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"C:\\\\a b.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
        "\x89PNG\r\n--X not the boundary\r\n"
        "--XyZ--\r\n";
    assert_int_equal(parse(CT, body, parts, &n), MULTIPART_OK);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0].name, "reference");
    assert_false(parts[0].has_filename);
    assert_int_equal(parts[0].len, 11);
    assert_memory_equal(parts[0].data, "7K3QMZ9X2FA", 11);
    assert_true(parts[1].has_filename);
    assert_string_equal(parts[1].content_type, "image/png");
    assert_int_equal(parts[1].len, strlen("\x89PNG\r\n--X not the boundary"));
    assert_ptr_equal(multipart_find(parts, n, "file"), &parts[1]);
    assert_null(multipart_find(parts, n, "nothing"));
    /* A quoted boundary, a preamble, an empty part. */
    assert_int_equal(parse("multipart/form-data; charset=utf-8; boundary=\"a b\"",
                           "preamble\r\n--a b\r\nContent-Disposition: form-data; name=x\r\n\r\n"
                           "\r\n--a b--",
                           parts, &n),
                     MULTIPART_OK);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].len, 0);
}

static void test_refused(void **state)
{
    (void)state;
    MultipartPart parts[MULTIPART_MAX_PARTS];
    int n;
    const char *ok = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XyZ--";
    assert_int_equal(parse("multipart/form-data", ok, parts, &n), MULTIPART_BAD_BOUNDARY);
    assert_int_equal(parse("multipart/form-data; boundary=", ok, parts, &n),
                     MULTIPART_BAD_BOUNDARY);
    assert_int_equal(parse("multipart/mixed; boundary=XyZ", ok, parts, &n), MULTIPART_BAD_BOUNDARY);
    assert_int_equal(parse("application/json", ok, parts, &n), MULTIPART_BAD_BOUNDARY);
    assert_int_equal(parse(NULL, ok, parts, &n), MULTIPART_BAD_BOUNDARY);
    char longb[120] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'b', 71);
    assert_int_equal(parse(longb, ok, parts, &n), MULTIPART_BAD_BOUNDARY);
    static const char *const bad[] = {
        "",
        "--Other\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--Other--",
        /* cut short: no delimiter after the bytes, or no closing one */
        "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nvalue without end",
        "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n",
        /* no Content-Disposition, another disposition, no name */
        "--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"f\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nno colon here\r\n\r\nv\r\n--XyZ--",
        "--XyZjunk\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XyZ--",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(CT, bad[i], parts, &n) != MULTIPART_MALFORMED)
            fail_msg("accepted: %s", bad[i]);
    }
    char many[4096] = "";
    for (int i = 0; i <= MULTIPART_MAX_PARTS; i++)
        strcat(many, "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n");
    strcat(many, "--XyZ--");
    assert_int_equal(parse(CT, many, parts, &n), MULTIPART_TOO_MANY);
}

static void test_types_by_content(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *type;
    } cases[] = {
        {"\x89PNG\r\n\x1a\n\0\0", 10, "image/png"},
        {"\xff\xd8\xff\xe0", 4, "image/jpeg"},
        {"GIF89a....", 10, "image/gif"},
        {"RIFF\0\0\0\0WEBPVP8 ", 16, "image/webp"},
        {"%PDF-1.7\n", 9, "application/pdf"},
        {"plain words\r\n\tand a tab", 23, "text/plain"},
        {"\xef\xbb\xbf\xc3\xa9t\xc3\xa9", 8, "text/plain"},
        {"MZ\x90\0", 4, NULL},            /* a Windows program */
        {"\x89PNX\r\n\x1a\n", 8, NULL},   /* almost a PNG */
        {"text with a \0 NUL", 17, NULL}, /* binary */
        {"caf\xe9", 4, NULL},             /* Latin-1, not UTF-8 */
        {"bell \x07", 6, NULL},           /* a control character */
        {"", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = evidence_sniff((const unsigned char *)cases[i].bytes, cases[i].len);
        if (cases[i].type == NULL ? got != NULL : (!got || strcmp(got, cases[i].type) != 0))
            fail_msg("case %zu: %s", i, got ? got : "(none)");
    }
}

static void test_upload_routes(void **state)
{
    (void)state;
    Config cfg = {0};
    cfg.attachments_max = 5;
    cfg.attachment_max_bytes = 10485760;
    cfg.max_form_bytes = 393216;
    const size_t one = 10485760 + EVIDENCE_OVERHEAD_BYTES;
    const char *p = "/v1/grievances/7K3QMZ9X2FA/attachments";
    assert_int_equal(evidence_upload_limit(&cfg, "POST", 4, p, strlen(p)), one);
    assert_int_equal(evidence_upload_limit(&cfg, "GET", 3, p, strlen(p)), 0);
    assert_int_equal(evidence_upload_limit(&cfg, "POST", 4, "/status/attachments?x", 21), one);
    /* The form carries the files and its own text. */
    assert_int_equal(evidence_upload_limit(&cfg, "POST", 4, "/grievances", 11), 5 * one + 393216);
    assert_int_equal(evidence_upload_limit(&cfg, "GET", 3, "/grievances", 11), 0);
    static const char *const no[] = {"/v1/grievances",
                                     "/v1/grievances/X/messages",
                                     "/v1/grievances/attachments",
                                     "/status/action",
                                     "/attachments",
                                     "/grievancesX",
                                     "/v1/grievances/X/attachmentsX"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_int_equal(evidence_upload_limit(&cfg, "POST", 4, no[i], strlen(no[i])), 0);
    cfg.attachments_max = 0; /* no files: the form keeps its own limit */
    assert_int_equal(evidence_upload_limit(&cfg, "POST", 4, "/grievances", 11), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_types_by_content),
        cmocka_unit_test(test_upload_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
