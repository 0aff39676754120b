/* `import grievances` (see import.h). Two passes over nothing but memory: every row is turned
 * into the API's JSON object and validated by grievance_from_json (the HTTPS API's own
 * validation) before anything touches the database; only when every row passed are rows built by
 * the intake's own row builder (common/grievance_row.c: reference, receipt, sealed contact) and
 * all stored by one intake_submit_rows() call in one transaction. The receipts are printed once,
 * for the partner to hand to each complainant, and never stored. */
#include "import.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "crypto.h"
#include "csvread.h"
#include "grievance.h"
#include "grievance_row.h"
#include "output.h"
#include "reference.h"
#include "taxonomy.h"
#include "util.h"

#define IMPORT_MAX_ROWS 100000
#define IMPORT_MAX_ERRORS 50
#define IMPORT_LIST_MAX 64

static const char *const import_columns[] = {"description",
                                             "category",
                                             "country",
                                             "rights",
                                             "companies",
                                             "services",
                                             "people_affected",
                                             "ongoing",
                                             "immediate_danger",
                                             "started_on",
                                             "vulnerability",
                                             "complainant_type",
                                             "language",
                                             "consent.share_with_members",
                                             "consent.share_with_regulator",
                                             "contact.name",
                                             "contact.email",
                                             "contact.phone",
                                             NULL};
static const char *const list_columns[] = {"rights", "companies", "services", "vulnerability",
                                           NULL};

static int import_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1", "TRUE", "Yes", "True", "YES", NULL};
    static const char *const no[] = {"false", "no", "0", "FALSE", "No", "False", "NO", NULL};
    if (args_one_of(s, yes))
        *out = true;
    else if (args_one_of(s, no))
        *out = false;
    else
        return -1;
    return 0;
}

json_t *import_row_json(char **header, char **fields, size_t n, char *err, size_t errlen)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *key = header[i];
        const char *cell = fields[i];
        if (!cell || !*cell)
            continue;
        json_t *v = NULL;
        const char *dot = strchr(key, '.');
        const char *leaf = dot ? dot + 1 : key;
        if (args_one_of(key, list_columns)) {
            char *copy = xstrdup(cell);
            char *items[IMPORT_LIST_MAX];
            int k = csvread_split(copy, ';', items, IMPORT_LIST_MAX);
            if (k < 0) {
                snprintf(err, errlen, "%s: more than %d entries", key, IMPORT_LIST_MAX);
                free(copy);
                goto fail;
            }
            v = json_array();
            for (int j = 0; j < k; j++)
                json_array_append_new(v, json_string(items[j]));
            free(copy);
        } else if (strcmp(key, "people_affected") == 0) {
            long num;
            if (args_long(cell, 1, 2147483647L, &num) < 0) {
                snprintf(err, errlen,
                         "people_affected must be a whole number from 1 to 2147483647");
                goto fail;
            }
            v = json_integer(num);
        } else if (strcmp(key, "ongoing") == 0 || strcmp(key, "immediate_danger") == 0 ||
                   strncmp(key, "consent.", 8) == 0) {
            bool b;
            if (import_bool(cell, &b) < 0) {
                snprintf(err, errlen, "%s must be true or false", key);
                goto fail;
            }
            v = json_boolean(b);
        } else {
            v = json_string(cell);
            if (!v) {
                snprintf(err, errlen, "%s is not valid UTF-8", key);
                goto fail;
            }
        }
        if (dot) {
            char parent[32];
            snprintf(parent, sizeof parent, "%.*s", (int)(dot - key), key);
            json_t *p = json_object_get(obj, parent);
            if (!p) {
                p = json_object();
                json_object_set_new(obj, parent, p);
            }
            json_object_set_new(p, leaf, v);
        } else {
            json_object_set_new(obj, key, v);
        }
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

typedef struct {
    Ctx *ctx;
    const Taxonomy *tax;
    char **header; /* owned copies of the header names */
    size_t ncols;
    RowBatch *rows; /* the rows, as intake_submit_rows' arrays */
    json_t *out;    /* [{line, reference, receipt}] */
    unsigned char receipt_key[KEY_LEN];
    unsigned char contact_key[KEY_LEN];
    bool have_contact_key;
    long nrows;
    int nerrors;
    bool fatal; /* stop reading: header wrong, too many rows, a key missing */
} Import;

static int import_header(Import *im, char **f, size_t n, long line)
{
    im->header = xcalloc(n, sizeof *im->header);
    im->ncols = n;
    for (size_t i = 0; i < n; i++) {
        im->header[i] = xstrdup(f[i]);
        if (!args_one_of(f[i], import_columns)) {
            ctx_error("line %ld: unknown column '%s' (columns are the API's field names, e.g. "
                      "description, category, country, rights, consent.share_with_regulator, "
                      "contact.email)",
                      line, f[i]);
            im->fatal = true;
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(f[i], f[j]) == 0) {
                ctx_error("line %ld: column '%s' appears twice", line, f[i]);
                im->fatal = true;
                return -1;
            }
    }
    return 0;
}

static void import_error(Import *im, long line, const char *msg)
{
    if (im->nerrors++ < IMPORT_MAX_ERRORS)
        ctx_error("line %ld: %s", line, msg);
}

static int import_row_cb(void *user, char **f, size_t n, long line)
{
    Import *im = user;
    char err[512], key_err[512];
    if (!im->header)
        return import_header(im, f, n, line);
    if (n != im->ncols) {
        snprintf(err, sizeof err, "%zu fields where the header has %zu", n, im->ncols);
        import_error(im, line, err);
        return 0;
    }
    if (++im->nrows > IMPORT_MAX_ROWS) {
        ctx_error("line %ld: more than %d grievances in one file; split it", line, IMPORT_MAX_ROWS);
        im->fatal = true;
        return -1;
    }
    json_t *obj = import_row_json(im->header, f, n, err, sizeof err);
    if (!obj) {
        import_error(im, line, err);
        return 0;
    }
    GrievanceError gerr;
    Grievance *g = grievance_from_json(obj, im->tax, &gerr);
    json_decref(obj);
    if (!g) {
        import_error(im, line, gerr.message);
        return 0;
    }
    if (im->nerrors) { /* nothing will be stored: skip making receipts */
        grievance_free(g);
        return 0;
    }
    if (g->contact_json && !im->have_contact_key) {
        if (key_file_load(im->ctx->cfg->contact_key_file, im->contact_key, key_err,
                          sizeof key_err) < 0) {
            ctx_error("line %ld has contact details but the contact key cannot be read: %s", line,
                      key_err);
            grievance_free(g);
            im->fatal = true;
            return -1;
        }
        im->have_contact_key = true;
    }
    GrievanceRow row;
    GrievanceRowInput in = {"import", im->receipt_key, im->contact_key, NULL, NULL};
    int rc = grievance_row_build(&row, g, &in, key_err, sizeof key_err);
    grievance_free(g);
    if (rc < 0) {
        ctx_error("line %ld: %s", line, key_err);
        im->fatal = true;
        return -1;
    }
    row_batch_add(im->rows, &row);
    json_array_append_new(im->out, json_pack("{s:I, s:s, s:s}", "line", (json_int_t)line,
                                             "reference", row.reference, "receipt", row.receipt));
    grievance_row_clear(&row);
    return 0;
}

/* Stores every row in one transaction; 0, or -1 (printed, rolled back). */
static int import_store(Import *im)
{
    Ctx *ctx = im->ctx;
    if (ctx_begin(ctx, false) < 0)
        return -1;
    const RowBatchParams *p = row_batch_params(im->rows);
    PGresult *res = ctx_exec_binary(ctx, "storing the grievances", GRIEVANCE_ROWS_SQL, ROW_NCOLS,
                                    p->values, p->lengths, p->formats);
    if (!res)
        return -1;
    int stored = 0;
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, ROWS_RES_STORED), "t") == 0)
            stored++;
    PQclear(res);
    if (stored != row_batch_count(im->rows)) {
        ctx_error("only %d of %d grievances could be stored (a reference collided); nothing was "
                  "imported, run the import again",
                  stored, row_batch_count(im->rows));
        ctx_rollback(ctx);
        return -1;
    }
    return ctx_commit(ctx);
}

int import_cmd_grievances(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    char err[512];
    Import im = {.ctx = ctx};
    Taxonomy *tax = NULL;
    int rc = CTL_FAIL;
    if (ctx_args(argc, argv, NULL, 0, 1, 1, &pos) < 0)
        return CTL_USAGE;
    const char *path = pos.pos[0];
    if (ctx_config(ctx) < 0)
        return CTL_FAIL;
    tax = taxonomy_load(ctx->cfg->taxonomy_file, err, sizeof err);
    if (!tax) {
        ctx_error("%s", err);
        return CTL_FAIL;
    }
    im.tax = tax;
    if (key_file_load(ctx->cfg->receipt_key_file, im.receipt_key, err, sizeof err) < 0) {
        ctx_error("receipt key: %s", err);
        goto done;
    }
    im.rows = row_batch_new();
    im.out = json_array();
    if (csvread_file(path, import_row_cb, &im, err, sizeof err) < 0 && err[0])
        ctx_error("%s", err);
    if (err[0] || im.fatal || im.nerrors) {
        if (im.nerrors > IMPORT_MAX_ERRORS)
            ctx_error("... and %d more errors", im.nerrors - IMPORT_MAX_ERRORS);
        ctx_error("%s: nothing was imported", path);
        goto done;
    }
    if (!im.header || im.nrows == 0) {
        ctx_error("%s: no grievances (a header row and at least one row are needed)", path);
        goto done;
    }
    if (ctx_connect(ctx) < 0 || import_store(&im) < 0) {
        ctx_error("%s: nothing was imported", path);
        goto done;
    }
    if (ctx->json) {
        json_t *o = json_pack("{s:I, s:O}", "imported", (json_int_t)json_array_size(im.out),
                              "grievances", im.out);
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        static const char *const hdr[] = {"line", "reference", "receipt"};
        OutTable *t = out_table_new(hdr, 3);
        size_t i;
        json_t *r;
        json_array_foreach(im.out, i, r)
        {
            char line[24];
            snprintf(line, sizeof line, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(r, "line")));
            const char *cells[3] = {line, json_string_value(json_object_get(r, "reference")),
                                    json_string_value(json_object_get(r, "receipt"))};
            out_table_add(t, cells);
        }
        out_table_print(t, stdout);
        out_table_free(t);
        printf("imported %zu grievance%s; hand each complainant their reference and receipt\n",
               json_array_size(im.out), json_array_size(im.out) == 1 ? "" : "s");
    }
    rc = CTL_OK;
done:
    for (size_t i = 0; i < im.ncols; i++)
        free(im.header[i]);
    free(im.header);
    row_batch_free(im.rows);
    json_decref(im.out);
    taxonomy_free(tax);
    memset(im.receipt_key, 0, sizeof im.receipt_key);
    memset(im.contact_key, 0, sizeof im.contact_key);
    return rc;
}
