/* Remedy commands (see remedy.h). The remedy's own life (offered -> accepted | declined,
 * accepted -> implemented -> verified) is the small table below; the case's moves that go with it
 * are checked against case_transition by case_move, never here. */
#include "remedy.h"

#include <stdio.h>
#include <string.h>

#include "args.h"
#include "case.h"

#define DETAILS_MAX 10000

static const char *const remedy_types[] = {
    "restoration",   "correction",     "apology",  "compensation",
    "policy_change", "non_repetition", "referral", NULL};

typedef struct {
    const char *from;        /* remedy status before */
    const char *to;          /* remedy status recorded */
    const char *case_status; /* where the case moves, or NULL */
} RemedyStep;

static const RemedyStep remedy_steps[] = {
    {"offered", "accepted", "remedy_accepted"},
    {"offered", "declined", "remedy_declined"},
    {"accepted", "implemented", "remedy_implemented"},
    {"implemented", "verified", NULL},
};

int remedy_cmd_propose(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"type", NULL, true}, {"details", NULL, true}};
    ArgPos pos;
    char err[256];
    CaseRef c;
    if (args_parse(argc, argv, opts, 2, 1, 1, &pos, err, sizeof err) < 0) {
        ctx_error("%s", err);
        return CTL_USAGE;
    }
    const char *type = args_value(opts, 2, "type");
    const char *details = args_value(opts, 2, "details");
    if (!type || !args_one_of(type, remedy_types)) {
        ctx_error("--type must be one of restoration, correction, apology, compensation, "
                  "policy_change, non_repetition, referral");
        return CTL_USAGE;
    }
    if (!details || !*details || strlen(details) > DETAILS_MAX) {
        ctx_error("--details must have 1 to %d bytes", DETAILS_MAX);
        return CTL_USAGE;
    }
    char from[32];
    if (case_open_for_change(ctx, pos.pos[0], &c, from, sizeof from) < 0)
        return CTL_FAIL;
    const char *p[] = {c.id, type, details};
    PGresult *res = ctx_exec(
        ctx, "storing the remedy",
        "INSERT INTO remedy (case_id, type, details) VALUES ($1, $2, $3) RETURNING id", 3, p);
    if (!res)
        return CTL_FAIL;
    char note[96];
    snprintf(note, sizeof note, "remedy %s proposed: %s", PQgetvalue(res, 0, 0), type);
    PQclear(res);
    if (case_event_add(ctx, c.id, "remedy", NULL, NULL, note) < 0 ||
        case_move(ctx, &c, "remedy_proposed", NULL) < 0 || ctx_commit(ctx) < 0)
        return CTL_FAIL;
    case_print_result(ctx, &c, "remedy proposed", from, note);
    return CTL_OK;
}

int remedy_cmd_record(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"note", NULL, true}};
    ArgPos pos;
    char err[256];
    CaseRef c;
    static const char *const outcomes[] = {"accepted", "declined", "implemented", "verified", NULL};
    if (args_parse(argc, argv, opts, 1, 2, 2, &pos, err, sizeof err) < 0) {
        ctx_error("%s", err);
        return CTL_USAGE;
    }
    const char *to = pos.pos[1];
    const char *note = args_value(opts, 1, "note");
    if (!args_one_of(to, outcomes)) {
        ctx_error("the outcome must be accepted, declined, implemented or verified, not '%s'", to);
        return CTL_USAGE;
    }
    if (note && strlen(note) > DETAILS_MAX) {
        ctx_error("--note is longer than %d bytes", DETAILS_MAX);
        return CTL_USAGE;
    }
    char from[32];
    if (case_open_for_change(ctx, pos.pos[0], &c, from, sizeof from) < 0)
        return CTL_FAIL;
    const char *pc[] = {c.id};
    PGresult *res =
        ctx_exec(ctx, "reading the case's remedy",
                 "SELECT id, status FROM remedy WHERE case_id = $1 ORDER BY id DESC LIMIT 1 "
                 "FOR UPDATE",
                 1, pc);
    if (!res)
        return CTL_FAIL;
    if (PQntuples(res) != 1) {
        ctx_error("case %s has no remedy; propose one first", c.reference);
        PQclear(res);
        ctx_rollback(ctx);
        return CTL_FAIL;
    }
    char remedy_id[24], status[32];
    snprintf(remedy_id, sizeof remedy_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(status, sizeof status, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    const RemedyStep *step = NULL;
    for (size_t i = 0; i < sizeof remedy_steps / sizeof remedy_steps[0]; i++)
        if (strcmp(remedy_steps[i].from, status) == 0 && strcmp(remedy_steps[i].to, to) == 0)
            step = &remedy_steps[i];
    if (!step) {
        ctx_error("remedy %s of case %s is %s; it cannot be recorded as %s", remedy_id, c.reference,
                  status, to);
        ctx_rollback(ctx);
        return CTL_FAIL;
    }
    const char *pu[] = {remedy_id, to};
    if (ctx_run(ctx, "updating the remedy",
                "UPDATE remedy SET status = $2, "
                "accepted_at = CASE WHEN $2 = 'accepted' THEN now() ELSE accepted_at END, "
                "declined_at = CASE WHEN $2 = 'declined' THEN now() ELSE declined_at END, "
                "implemented_at = CASE WHEN $2 = 'implemented' THEN now() ELSE implemented_at END, "
                "verified_at = CASE WHEN $2 = 'verified' THEN now() ELSE verified_at END "
                "WHERE id = $1",
                2, pu) < 0)
        return CTL_FAIL;
    char what[96];
    snprintf(what, sizeof what, "remedy %s %s", remedy_id, to);
    char full[DETAILS_MAX + 128];
    snprintf(full, sizeof full, "%s%s%s", what, note ? ": " : "", note ? note : "");
    if (case_event_add(ctx, c.id, "remedy", NULL, NULL, full) < 0)
        return CTL_FAIL;
    if (step->case_status && case_move(ctx, &c, step->case_status, NULL) < 0)
        return CTL_FAIL;
    if (ctx_commit(ctx) < 0)
        return CTL_FAIL;
    case_print_result(ctx, &c, "remedy recorded", from, what);
    return CTL_OK;
}
