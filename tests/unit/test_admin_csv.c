/* redressctl's CSV: formula neutralisation and quoting of the export writer, the SHA-256 of what
 * was written, list splitting and the import row builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../admin/csvout.h"
#include "../../admin/csvread.h"
#include "../../admin/import.h"
#include "crypto.h"
#include "util.h"

static char *fmt(const char *s)
{
    static char buf[256];
    size_t n = csvout_format_cell(buf, sizeof buf - 1, s, strlen(s));
    buf[n] = '\0';
    return buf;
}

static void test_neutralise_formula_starts(void **state)
{
    (void)state;
    assert_string_equal(fmt("=HYPERLINK(\"http://x\",\"y\")"),
                        "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    assert_string_equal(fmt("+1"), "\"'+1\"");
    assert_string_equal(fmt("-2+3"), "\"'-2+3\"");
    assert_string_equal(fmt("@SUM(A1)"), "\"'@SUM(A1)\"");
    assert_string_equal(fmt("\tx"), "\"'\tx\"");
    assert_string_equal(fmt("\rx"), "\"'\rx\"");
}

static void test_plain_cells_quoted_only(void **state)
{
    (void)state;
    assert_string_equal(fmt("plain"), "\"plain\"");
    assert_string_equal(fmt(""), "\"\"");
    assert_string_equal(fmt("a,b\nc"), "\"a,b\nc\"");
    assert_string_equal(fmt("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_string_equal(fmt("x=1"), "\"x=1\"");
    assert_string_equal(fmt("\""), "\"\"\"\"");
    assert_string_equal(fmt("\"\"a\""), "\"\"\"\"\"a\"\"\"");
    assert_string_equal(fmt("=\"\""), "\"'=\"\"\"\"\"");
    assert_false(csvout_needs_neutral("", 0));
    assert_false(csvout_needs_neutral("'=x", 3));
}

static void test_writer_rows_and_hash(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    CsvOut *o = csvout_new(fp);
    csvout_cell(o, "a", 1);
    csvout_cell(o, NULL, 0);
    csvout_cell(o, "=1+1", 4);
    assert_int_equal(csvout_row_end(o), 0);
    csvout_cell(o, "b", 1);
    assert_int_equal(csvout_row_end(o), 0);
    char hex[65];
    csvout_finish(o, hex);
    fclose(fp);
    const char *want = "\"a\",\"\",\"'=1+1\"\r\n\"b\"\r\n";
    assert_string_equal(buf, want);
    assert_int_equal(csvout_bytes(o), strlen(want));
    unsigned char md[32];
    char want_hex[65];
    sha256_bytes(want, strlen(want), md);
    hex_encode(md, 32, want_hex);
    assert_string_equal(hex, want_hex);
    csvout_free(o);
    free(buf);
}

/* A cell of quotes only, longer than the row buffer's first size: every quote doubled. */
static void test_writer_long_quoted_cell(void **state)
{
    (void)state;
    enum { N = 5000 };
    char *cell = xmalloc(N);
    memset(cell, '"', N);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    CsvOut *o = csvout_new(fp);
    csvout_cell(o, "-x", 2);
    csvout_cell(o, cell, N);
    assert_int_equal(csvout_row_end(o), 0);
    fclose(fp);
    assert_int_equal(len, 6 + 2 * N + 4);
    assert_memory_equal(buf, "\"'-x\",\"", 7);
    for (size_t i = 7; i < 7 + 2 * N; i++)
        assert_int_equal(buf[i], '"');
    assert_memory_equal(buf + 7 + 2 * N, "\"\r\n", 3);
    csvout_free(o);
    free(cell);
    free(buf);
}

static void test_split(void **state)
{
    (void)state;
    char s[] = " KE ; ug;;TZ ";
    char *items[4];
    assert_int_equal(csvread_split(s, ';', items, 4), 3);
    assert_string_equal(items[0], "KE");
    assert_string_equal(items[1], "ug");
    assert_string_equal(items[2], "TZ");
    char t[] = "a;b;c";
    assert_int_equal(csvread_split(t, ';', items, 2), -1);
}

static void test_import_row_json(void **state)
{
    (void)state;
    char *hdr[] = {
        "description",   "rights",  "people_affected", "ongoing", "consent.share_with_regulator",
        "contact.email", "language"};
    char *row[] = {"text", "privacy;expression", "12", "yes", "false", "a@b.org", ""};
    char err[256];
    json_t *o = import_row_json(hdr, row, 7, err, sizeof err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "description")), "text");
    assert_int_equal(json_array_size(json_object_get(o, "rights")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "people_affected")), 12);
    assert_true(json_is_true(json_object_get(o, "ongoing")));
    assert_true(
        json_is_false(json_object_get(json_object_get(o, "consent"), "share_with_regulator")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "contact"), "email")),
                        "a@b.org");
    assert_null(json_object_get(o, "language"));
    json_decref(o);
    char *bad[] = {"text", "", "lots", "", "", "", ""};
    assert_null(import_row_json(hdr, bad, 7, err, sizeof err));
    assert_non_null(strstr(err, "people_affected"));
    char *badb[] = {"text", "", "", "perhaps", "", "", ""};
    assert_null(import_row_json(hdr, badb, 7, err, sizeof err));
    assert_non_null(strstr(err, "ongoing"));
}

typedef struct {
    long lines[8];
    char first[8][64];
    int n;
} Rows;

static int rows_cb(void *user, char **f, size_t n, long line)
{
    Rows *r = user;
    (void)n;
    r->lines[r->n] = line;
    snprintf(r->first[r->n], sizeof r->first[0], "%s", f[0]);
    r->n++;
    return 0;
}

static void test_read_line_numbers(void **state)
{
    (void)state;
    char path[] = "/tmp/test_admin_csv_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "w");
    fputs("\xef\xbb\xbfh1,h2\n\"multi\nline\",x\n\nlast,y\n", fp);
    fclose(fp);
    Rows r = {0};
    char err[256];
    assert_int_equal(csvread_file(path, rows_cb, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.first[0], "h1");
    assert_string_equal(r.first[1], "multi\nline");
    assert_int_equal(r.lines[2], 5);
    fp = fopen(path, "w");
    fputs("a,b\n\"unterminated,x\n", fp);
    fclose(fp);
    memset(&r, 0, sizeof r);
    assert_int_equal(csvread_file(path, rows_cb, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "line"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_neutralise_formula_starts),
        cmocka_unit_test(test_plain_cells_quoted_only),
        cmocka_unit_test(test_writer_rows_and_hash),
        cmocka_unit_test(test_writer_long_quoted_cell),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_import_row_json),
        cmocka_unit_test(test_read_line_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
