/* What every redressctl command shares: the loaded config, the database connection, the output
 * mode, and blocking libpq helpers that print one clear error line (never a DETAIL, which can
 * carry column values) and leave the transaction rolled back. Exit codes live here too. */
#ifndef REDRESS_ADMIN_CTX_H
#define REDRESS_ADMIN_CTX_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "args.h"
#include "config.h"

enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

typedef struct Command Command;

typedef struct Ctx {
    const char *config_path; /* -c FILE, or NULL for the default lookup */
    Config *cfg;             /* loaded by ctx_connect or ctx_config; owned */
    PGconn *conn;            /* owned; NULL until ctx_connect */
    bool json;               /* --json: machine output on stdout */
    bool in_tx;              /* a transaction is open */
    char *primary_conninfo;  /* while connected through read_conninfo: conninfo; owned */
    const Command *cmd;      /* the command being run (borrowed from the table) */
} Ctx;

/* Prints "redressctl: error: ..." to stderr. */
void ctx_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A command's arguments: args_parse against opts with min_pos..max_pos positionals into pos. 0, or
 * -1 after printing the usage error (the handler then returns CTL_USAGE). */
int ctx_args(int argc, char **argv, ArgOpt *opts, size_t nopts, size_t min_pos, size_t max_pos,
             ArgPos *pos);

/* Loads the config (once). 0, or -1 after printing the reason. */
int ctx_config(Ctx *ctx);
/* Connects (once) as PGUSER when set, else the config's admin_user, with TimeZone UTC. 0 or -1. */
int ctx_connect(Ctx *ctx);
void ctx_close(Ctx *ctx);
/* Connects (once) for commands that only read: through [database] read_conninfo when it is set
 * (a standby when one is up; what it shows may be behind by the replication lag), else as
 * ctx_connect. 0 or -1. */
int ctx_connect_reader(Ctx *ctx);
/* For the writes that follow reads made with ctx_connect_reader: when those went through
 * read_conninfo, ends their (read-only) transaction and connects to conninfo, with no transaction
 * open; otherwise does nothing, so an open transaction goes on. 0 or -1. */
int ctx_connect_writer(Ctx *ctx);

/* Runs one parameterised statement. Returns the result (caller PQclear-s) when it succeeded, or
 * NULL after printing "<what>: <primary message>" and rolling back an open transaction. */
PGresult *ctx_exec(Ctx *ctx, const char *what, const char *sql, int nparams,
                   const char *const *params);
/* Same, with each parameter's length and format (1: binary) as libpq takes them. */
PGresult *ctx_exec_binary(Ctx *ctx, const char *what, const char *sql, int nparams,
                          const char *const *params, const int *lengths, const int *formats);
/* Same, for statements whose rows are not needed. 0 or -1. */
int ctx_run(Ctx *ctx, const char *what, const char *sql, int nparams, const char *const *params);

/* BEGIN (READ COMMITTED unless repeatable), COMMIT (checks the tag really is COMMIT), ROLLBACK
 * (quietly, when a transaction is open). 0 or -1. */
int ctx_begin(Ctx *ctx, bool repeatable);
int ctx_commit(Ctx *ctx);
void ctx_rollback(Ctx *ctx);

/* Prints a failed result's reason: primary message and SQLSTATE. */
void ctx_report(const char *what, const PGresult *res);

/* The SQLSTATE of res or "". */
const char *ctx_sqlstate(const PGresult *res);

#endif
