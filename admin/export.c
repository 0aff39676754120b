/* `export cases`: the regulator export (see export.h). Rows come from export_cases() in SQL (the
 * pseudonymised projection, shared with the export benchmark) in libpq single-row mode, so memory
 * stays flat whatever the row count, and go through the neutralising CSV writer into a temporary
 * file beside the target. The manifest is recorded in the database in the export's own
 * REPEATABLE READ transaction; only after COMMIT is the file renamed into place and the manifest
 * file written beside it. Any failure leaves no file and no manifest. */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "csvout.h"
#include "output.h"
#include "util.h"

static const char *const export_columns[] = {"case_reference",  "status",
                                             "category",        "country",
                                             "collective",      "grievance_count",
                                             "people_affected", "band",
                                             "score",           "rules_version",
                                             "lead_member",     "owners",
                                             "remedies",        "first_received_at",
                                             "opened_at",       "ack_due",
                                             "response_due",    "remedy_due",
                                             "closed_at",       "immediate_danger",
                                             "overdue",         "deadlines_missed",
                                             "escalated",       "narrative"};
#define EXPORT_NCOLS 24
#define EXPORT_FILE_BUF (1 << 20)

int export_date_check(const char *s)
{
    if (!s || strlen(s) != 10)
        return -1;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return -1;
        } else if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

json_t *export_manifest_record(Ctx *ctx, const char *kind, const char *file_name, long rows,
                               const char *sha256, const char *filter_json, bool with_narrative)
{
    /* Rows read through read_conninfo (a standby): the manifest is recorded on the primary. */
    if (ctx_connect_writer(ctx) < 0 || (!ctx->in_tx && ctx_begin(ctx, false) < 0))
        return NULL;
    char rows_buf[24];
    snprintf(rows_buf, sizeof rows_buf, "%ld", rows);
    const char *p[] = {kind,   file_name,   rows_buf,
                       sha256, filter_json, with_narrative ? "true" : "false"};
    PGresult *res =
        ctx_exec(ctx, "recording the export manifest",
                 "SELECT id, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), created_by, "
                 "checkpoint_id, checkpoint_digest, checkpoint_cases, checkpoint_events "
                 "FROM export_manifest_record($1, $2, $3::bigint, $4, $5::jsonb, $6::boolean)",
                 6, p);
    if (!res)
        return NULL;
    json_t *m = json_pack("{s:I, s:s, s:s, s:{s:I, s:s, s:I, s:I}}", "id",
                          (json_int_t)atoll(PQgetvalue(res, 0, 0)), "created_at",
                          PQgetvalue(res, 0, 1), "created_by", PQgetvalue(res, 0, 2), "checkpoint",
                          "id", (json_int_t)atoll(PQgetvalue(res, 0, 3)), "digest",
                          PQgetvalue(res, 0, 4), "cases", (json_int_t)atoll(PQgetvalue(res, 0, 5)),
                          "events", (json_int_t)atoll(PQgetvalue(res, 0, 6)));
    PQclear(res);
    return m;
}

/* Writes text to path atomically (temporary file, fsync, rename). 0 or -1 with errno. */
static int export_write_file(const char *path, const char *text)
{
    size_t n = strlen(path) + 8;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    int rc = -1;
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        goto fail;
    if (fputs(text, fp) < 0 || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        fclose(fp);
        unlink(tmp);
        goto fail;
    }
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    rc = 0;
fail:
    free(tmp);
    return rc;
}

/* Streams the query's rows into out. Returns the row count, or -1 (printed). */
static long export_stream(Ctx *ctx, CsvOut *out, const char *const *params, int ncols,
                          bool progress)
{
    long rows = 0;
    bool failed = false;
    double last = now_s();
    if (!PQsendQueryParams(ctx->conn,
                           "SELECT * FROM export_cases($1::date, $2::date, $3, $4, $5::boolean)", 5,
                           NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(ctx->conn)) {
        const char *m = PQerrorMessage(ctx->conn);
        ctx_error("export: cannot send the query: %.*s", (int)strcspn(m, "\n"), m);
        return -1;
    }
    PGresult *res;
    while ((res = PQgetResult(ctx->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE && !failed) {
            for (int c = 0; c < ncols; c++)
                csvout_cell(out, PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c),
                            (size_t)PQgetlength(res, 0, c));
            if (csvout_row_end(out) < 0) {
                ctx_error("export: writing the file failed: %s", strerror(errno));
                failed = true;
            }
            rows++;
            if (progress && (rows & 4095) == 0 && now_s() - last > 0.25) {
                last = now_s();
                fprintf(stderr, "\rexporting: %ld rows, %.1f MB", rows,
                        (double)csvout_bytes(out) / 1e6);
            }
        } else if (st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE) {
            ctx_report("export: reading the cases", res);
            failed = true;
        }
        PQclear(res);
    }
    if (progress)
        fprintf(stderr, "\rexporting: %ld rows, %.1f MB\n", rows, (double)csvout_bytes(out) / 1e6);
    return failed ? -1 : rows;
}

int export_cmd_cases(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"from", NULL, true},    {"to", NULL, true},
                     {"country", NULL, true}, {"member", NULL, true},
                     {"o", "output", true},   {"with-narrative", NULL, false}};
    ArgPos pos;
    char sha[65], *tmp = NULL, *manifest_path = NULL, *fname_copy = NULL;
    FILE *fp = NULL;
    char *file_buf = NULL;
    CsvOut *out = NULL;
    json_t *filter = NULL, *manifest = NULL;
    char *filter_text = NULL, *manifest_text = NULL;
    int rc = CTL_FAIL;
    if (ctx_args(argc, argv, opts, 6, 0, 0, &pos) < 0)
        return CTL_USAGE;
    const char *from = args_value(opts, 6, "from"), *to = args_value(opts, 6, "to");
    const char *country = args_value(opts, 6, "country"), *member = args_value(opts, 6, "member");
    const char *path = args_value(opts, 6, "o");
    bool narrative = args_flag(opts, 6, "with-narrative");
    if (export_date_check(from) < 0 || export_date_check(to) < 0) {
        ctx_error("--from and --to are required, as YYYY-MM-DD");
        return CTL_USAGE;
    }
    if (strcmp(from, to) > 0) {
        ctx_error("--from %s is after --to %s", from, to);
        return CTL_USAGE;
    }
    if (country && (strlen(country) != 2 || country[0] < 'A' || country[0] > 'Z' ||
                    country[1] < 'A' || country[1] > 'Z')) {
        ctx_error("--country must be a two-letter upper-case country code, not '%s'", country);
        return CTL_USAGE;
    }
    if (!path || !*path || strcmp(path, "-") == 0) {
        ctx_error("-o FILE.csv is required (the manifest is written beside it)");
        return CTL_USAGE;
    }
    if (ctx_connect_reader(ctx) < 0 || ctx_begin(ctx, true) < 0)
        return CTL_FAIL;

    size_t n = strlen(path) + 32;
    tmp = xmalloc(n);
    snprintf(tmp, n, "%s.partial-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0 || !(fp = fdopen(fd, "w"))) {
        ctx_error("cannot create a file beside %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    fchmod(fd, 0640);
    /* glibc ignores the size unless given the buffer: without one, a write per 4 KiB. */
    file_buf = xmalloc(EXPORT_FILE_BUF);
    setvbuf(fp, file_buf, _IOFBF, EXPORT_FILE_BUF);
    out = csvout_new(fp);
    int ncols = narrative ? EXPORT_NCOLS : EXPORT_NCOLS - 1;
    for (int c = 0; c < ncols; c++)
        csvout_cell(out, export_columns[c], strlen(export_columns[c]));
    if (csvout_row_end(out) < 0) {
        ctx_error("writing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    const char *params[] = {from, to, country, member, narrative ? "true" : "false"};
    long rows = export_stream(ctx, out, params, ncols, isatty(fileno(stderr)));
    if (rows < 0)
        goto fail;
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        ctx_error("writing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    int fc = fclose(fp);
    fp = NULL;
    if (fc != 0) {
        ctx_error("writing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    csvout_finish(out, sha);

    fname_copy = xstrdup(path);
    const char *fname = basename(fname_copy);
    filter = json_pack("{s:s, s:s, s:s?, s:s?}", "from", from, "to", to, "country", country,
                       "member", member);
    filter_text = json_dumps(filter, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *rec = export_manifest_record(ctx, "cases", fname, rows, sha, filter_text, narrative);
    if (!rec)
        goto fail;
    manifest = json_pack(
        "{s:O, s:s, s:s, s:I, s:s, s:O, s:b, s:O, s:O, s:s, s:O}", "id", json_object_get(rec, "id"),
        "kind", "cases", "file", fname, "rows", (json_int_t)rows, "sha256", sha, "filter", filter,
        "with_narrative", narrative, "created_at", json_object_get(rec, "created_at"), "created_by",
        json_object_get(rec, "created_by"), "format", "RFC 4180 CSV, UTF-8, header row",
        "checkpoint", json_object_get(rec, "checkpoint"));
    json_decref(rec);
    json_t *cols = json_array();
    for (int c = 0; c < ncols; c++)
        json_array_append_new(cols, json_string(export_columns[c]));
    json_object_set_new(manifest, "columns", cols);
    manifest_text = json_dumps(manifest, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (ctx_commit(ctx) < 0)
        goto fail;
    if (rename(tmp, path) != 0) {
        ctx_error("moving the export into place at %s: %s", path, strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    n = strlen(path) + 16;
    manifest_path = xmalloc(n);
    snprintf(manifest_path, n, "%s.manifest.json", path);
    size_t ml = strlen(manifest_text);
    manifest_text = xrealloc(manifest_text, ml + 2);
    memcpy(manifest_text + ml, "\n", 2);
    if (export_write_file(manifest_path, manifest_text) < 0) {
        ctx_error("writing the manifest %s: %s (the export is recorded in the database)",
                  manifest_path, strerror(errno));
        goto fail;
    }
    if (ctx->json) {
        json_object_set_new(manifest, "path", json_string(path));
        json_object_set_new(manifest, "manifest", json_string(manifest_path));
        out_json_print(stdout, manifest);
    } else {
        json_t *cp = json_object_get(manifest, "checkpoint");
        printf("exported %ld case%s to %s (sha256 %s); manifest %s; audit checkpoint "
               "%" JSON_INTEGER_FORMAT " digest %s\n",
               rows, rows == 1 ? "" : "s", path, sha, manifest_path,
               json_integer_value(json_object_get(cp, "id")),
               json_string_value(json_object_get(cp, "digest")));
    }
    rc = CTL_OK;
fail:
    ctx_rollback(ctx);
    if (fp)
        fclose(fp);
    free(file_buf);
    if (tmp)
        unlink(tmp);
    free(tmp);
    csvout_free(out);
    free(manifest_path);
    free(fname_copy);
    free(filter_text);
    free(manifest_text);
    json_decref(filter);
    json_decref(manifest);
    return rc;
}
