/* Remedy commands (see remedy.h). The remedy's own life (offered -> accepted | declined,
 * accepted -> implemented -> verified), the case moves that go with it and who may record what
 * live in the database (remedy_step, remedy_propose(), remedy_record()); this only parses. */
#include "remedy.h"

#include <stdio.h>
#include <string.h>

#include "args.h"
#include "case.h"

#define DETAILS_MAX 10000

static const char *const remedy_types[] = {
    "restoration",   "correction",     "apology",  "compensation",
    "policy_change", "non_repetition", "referral", NULL};

int remedy_cmd_propose(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"type", NULL, true}, {"details", NULL, true}};
    ArgPos pos;
    if (ctx_args(argc, argv, opts, 2, 1, 1, &pos) < 0)
        return CTL_USAGE;
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
    const char *p[] = {NULL, type, details};
    return case_change(ctx, pos.pos[0], "remedy proposed",
                       "SELECT * FROM remedy_propose($1, $2, $3)", 3, p);
}

int remedy_cmd_record(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"note", NULL, true}, {"remedy", NULL, true}};
    ArgPos pos;
    long remedy_id;
    static const char *const outcomes[] = {"accepted", "declined", "implemented", "verified", NULL};
    if (ctx_args(argc, argv, opts, 2, 2, 2, &pos) < 0)
        return CTL_USAGE;
    const char *to = pos.pos[1];
    const char *note = args_value(opts, 2, "note");
    const char *remedy = args_value(opts, 2, "remedy");
    if (remedy && args_long(remedy, 1, 9000000000000000000L, &remedy_id) < 0) {
        ctx_error("--remedy must be a remedy id, not '%s'", remedy);
        return CTL_USAGE;
    }
    if (!args_one_of(to, outcomes)) {
        ctx_error("the outcome must be accepted, declined, implemented or verified, not '%s'", to);
        return CTL_USAGE;
    }
    if (note && strlen(note) > DETAILS_MAX) {
        ctx_error("--note is longer than %d bytes", DETAILS_MAX);
        return CTL_USAGE;
    }
    const char *p[] = {NULL, to, note, remedy};
    return case_change(ctx, pos.pos[0], "remedy recorded",
                       "SELECT * FROM remedy_record($1, $2, $3, $4::bigint)", 4, p);
}
