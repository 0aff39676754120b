/* Migrations (see migrate.h). A migration file is trusted code from the repository, run with the
 * simple query protocol because it holds many statements; the version recorded with it is a
 * parameter. A session advisory lock keeps two migrate runs from applying the same file. */
#include "migrate.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "output.h"
#include "util.h"

#define MIGRATION_MAX_BYTES (8u << 20)

static int migrate_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] >= '0' && d->d_name[0] <= '9' && n > 4 &&
           strcmp(d->d_name + n - 4, ".sql") == 0;
}

/* Applies one file in its own transaction. 0 or -1 (printed, rolled back). */
static int migrate_apply(Ctx *ctx, const char *dir, const char *name, const char *version)
{
    char err[512], what[300];
    size_t len = 0, plen = strlen(dir) + strlen(name) + 2;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/%s", dir, name);
    char *sql = file_read_all(path, MIGRATION_MAX_BYTES, &len, err, sizeof err);
    free(path);
    if (!sql) {
        ctx_error("%s", err);
        return -1;
    }
    int rc = -1;
    if (ctx_begin(ctx, false) < 0)
        goto done;
    PGresult *res = PQexec(ctx->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(what, sizeof what, "migration %s", name);
        ctx_report(what, res);
        PQclear(res);
        ctx_rollback(ctx);
        goto done;
    }
    PQclear(res);
    const char *p[] = {version};
    if (ctx_run(ctx, "recording the migration",
                "INSERT INTO schema_migration (version) VALUES ($1)", 1, p) < 0 ||
        ctx_commit(ctx) < 0)
        goto done;
    rc = 0;
done:
    free(sql);
    return rc;
}

/* Creates schema_migration when it is missing (asking first: CREATE ... IF NOT EXISTS needs the
 * CREATE privilege even when the table exists). 0 or -1. */
static int migrate_table_ensure(Ctx *ctx)
{
    PGresult *res = ctx_exec(ctx, "looking for schema_migration",
                             "SELECT to_regclass('schema_migration') IS NOT NULL", 0, NULL);
    if (!res)
        return -1;
    int exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (exists)
        return 0;
    return ctx_run(ctx, "creating schema_migration",
                   "CREATE TABLE schema_migration (version text PRIMARY KEY, "
                   "applied_at timestamptz NOT NULL DEFAULT now())",
                   0, NULL);
}

int migrate_cmd_run(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"dir", NULL, true}};
    ArgPos pos;
    struct dirent **list = NULL;
    int n = -1, rc = CTL_FAIL;
    json_t *applied = json_array();
    if (ctx_args(argc, argv, opts, 1, 0, 0, &pos) < 0) {
        json_decref(applied);
        return CTL_USAGE;
    }
    const char *dir = args_value(opts, 1, "dir");
    if (!dir)
        dir = getenv("REDRESS_SQL_DIR");
    if (!dir)
        dir = "sql";
    n = scandir(dir, &list, migrate_filter, alphasort);
    if (n < 0) {
        ctx_error("cannot read the migrations directory %s (use --dir)", dir);
        goto done;
    }
    if (ctx_connect(ctx) < 0 ||
        ctx_run(ctx, "taking the migration lock", "SELECT pg_advisory_lock(7466115)", 0, NULL) <
            0 ||
        migrate_table_ensure(ctx) < 0)
        goto done;
    for (int i = 0; i < n; i++) {
        char version[256];
        snprintf(version, sizeof version, "%.*s", (int)(strlen(list[i]->d_name) - 4),
                 list[i]->d_name);
        const char *p[] = {version};
        PGresult *res = ctx_exec(ctx, "reading schema_migration",
                                 "SELECT 1 FROM schema_migration WHERE version = $1", 1, p);
        if (!res)
            goto done;
        int done_already = PQntuples(res) > 0;
        PQclear(res);
        if (done_already)
            continue;
        if (migrate_apply(ctx, dir, list[i]->d_name, version) < 0) {
            ctx_error("stopped at %s; later migrations were not applied", list[i]->d_name);
            goto done;
        }
        json_array_append_new(applied, json_string(version));
        if (!ctx->json)
            printf("applied %s\n", version);
    }
    if (ctx->json) {
        json_t *o = json_pack("{s:O}", "applied", applied);
        out_json_print(stdout, o);
        json_decref(o);
    } else if (json_array_size(applied) == 0) {
        printf("up to date\n");
    }
    rc = CTL_OK;
done:
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    json_decref(applied);
    return rc;
}
