/* The command context: config, connection and error reporting (see ctx.h). redressctl is a
 * short-lived CLI, so blocking libpq is used directly; every statement is parameterised. */
#include "ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "util.h"

void ctx_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("redressctl: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int ctx_args(int argc, char **argv, ArgOpt *opts, size_t nopts, size_t min_pos, size_t max_pos,
             ArgPos *pos)
{
    char err[256];
    if (args_parse(argc, argv, opts, nopts, min_pos, max_pos, pos, err, sizeof err) < 0) {
        ctx_error("%s", err);
        return -1;
    }
    return 0;
}

int ctx_config(Ctx *ctx)
{
    char err[512];
    if (ctx->cfg)
        return 0;
    ctx->cfg = config_load(config_default_path(ctx->config_path), err, sizeof err);
    if (!ctx->cfg) {
        ctx_error("%s", err);
        return -1;
    }
    return 0;
}

int ctx_connect(Ctx *ctx)
{
    char err[512];
    if (ctx->conn)
        return 0;
    if (ctx_config(ctx) < 0)
        return -1;
    /* No config file: libpq's environment decides where to connect, not the built-in default. */
    if (!ctx->cfg->path &&
        (getenv("PGHOST") || getenv("PGSERVICE") || getenv("PGDATABASE") || getenv("PGPORT"))) {
        free(ctx->cfg->conninfo);
        ctx->cfg->conninfo = xstrdup("");
    }
    const char *pguser = getenv("PGUSER");
    const char *user = (pguser && *pguser) ? NULL : ctx->cfg->admin_user;
    ctx->conn = pgconn_open(ctx->cfg, user, "redressctl", err, sizeof err);
    if (!ctx->conn) {
        ctx_error("%s", err);
        return -1;
    }
    /* Times are shown and exported in UTC whatever the server's or client's zone. */
    return ctx_run(ctx, "setting the session time zone", "SET TIME ZONE 'UTC'", 0, NULL);
}

int ctx_connect_reader(Ctx *ctx)
{
    if (ctx->conn)
        return 0;
    if (ctx_config(ctx) < 0)
        return -1;
    if (ctx->cfg->read_conninfo[0]) {
        ctx->primary_conninfo = ctx->cfg->conninfo;
        ctx->cfg->conninfo = xstrdup(ctx->cfg->read_conninfo);
    }
    return ctx_connect(ctx);
}

int ctx_connect_writer(Ctx *ctx)
{
    if (!ctx->primary_conninfo)
        return 0;
    int rc = ctx->in_tx ? ctx_commit(ctx) : 0;
    PQfinish(ctx->conn);
    ctx->conn = NULL;
    free(ctx->cfg->conninfo);
    ctx->cfg->conninfo = ctx->primary_conninfo;
    ctx->primary_conninfo = NULL;
    return rc < 0 ? -1 : ctx_connect(ctx);
}

void ctx_close(Ctx *ctx)
{
    if (ctx->conn) {
        ctx_rollback(ctx);
        PQfinish(ctx->conn);
        ctx->conn = NULL;
    }
    free(ctx->primary_conninfo);
    ctx->primary_conninfo = NULL;
    config_free(ctx->cfg);
    ctx->cfg = NULL;
}

const char *ctx_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

void ctx_report(const char *what, const PGresult *res)
{
    /* The primary message only: a DETAIL may carry other columns' values. */
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = ctx_sqlstate(res);
    if (!msg)
        msg = "no answer from the database";
    if (strcmp(state, "42501") == 0)
        ctx_error("%s: permission denied (%s)", what, msg);
    else if (*state)
        ctx_error("%s: %s [%s]", what, msg, state);
    else
        ctx_error("%s: %s", what, msg);
}

PGresult *ctx_exec(Ctx *ctx, const char *what, const char *sql, int nparams,
                   const char *const *params)
{
    return ctx_exec_binary(ctx, what, sql, nparams, params, NULL, NULL);
}

PGresult *ctx_exec_binary(Ctx *ctx, const char *what, const char *sql, int nparams,
                          const char *const *params, const int *lengths, const int *formats)
{
    PGresult *res = PQexecParams(ctx->conn, sql, nparams, NULL, params, lengths, formats, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    if (!res) {
        const char *m = PQerrorMessage(ctx->conn);
        ctx_error("%s: connection lost: %.*s", what, (int)strcspn(m, "\n"), m);
    } else {
        ctx_report(what, res);
    }
    PQclear(res);
    ctx_rollback(ctx);
    return NULL;
}

int ctx_run(Ctx *ctx, const char *what, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = ctx_exec(ctx, what, sql, nparams, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int ctx_begin(Ctx *ctx, bool repeatable)
{
    const char *sql = repeatable ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN";
    if (ctx_run(ctx, "starting a transaction", sql, 0, NULL) < 0)
        return -1;
    ctx->in_tx = true;
    return 0;
}

int ctx_commit(Ctx *ctx)
{
    PGresult *res = PQexec(ctx->conn, "COMMIT");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0;
    if (!ok) {
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
            ctx_error("commit: the transaction was rolled back; nothing was changed");
        else
            ctx_report("commit", res);
    }
    PQclear(res);
    ctx->in_tx = false;
    return ok ? 0 : -1;
}

void ctx_rollback(Ctx *ctx)
{
    if (!ctx->in_tx || !ctx->conn)
        return;
    ctx->in_tx = false;
    PQclear(PQexec(ctx->conn, "ROLLBACK"));
}
