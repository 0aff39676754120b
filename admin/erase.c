/* Erasure on request (see erase.h). The database decides everything: that the caller is staff,
 * that the grievance is in a case and not erased yet, which columns go; it writes the case's
 * 'erased' event in the same statement. This parses, normalises the typed reference and prints. */
#include "erase.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "output.h"
#include "reference.h"

#define REASON_MAX 10000

int erase_cmd_grievance(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"reason", "note", true}};
    ArgPos pos;
    char ref[REFERENCE_LEN + 1];
    if (ctx_args(argc, argv, opts, 1, 1, 1, &pos) < 0)
        return CTL_USAGE;
    const char *reason = args_value(opts, 1, "reason");
    if (!reason || !*reason || strlen(reason) > REASON_MAX) {
        ctx_error("--reason (1 to %d bytes) is required: it goes into the case's audit trail",
                  REASON_MAX);
        return CTL_USAGE;
    }
    if (!reference_normalize(pos.pos[0], ref)) {
        ctx_error("'%s' is not a grievance reference", pos.pos[0]);
        return CTL_USAGE;
    }
    if (ctx_connect(ctx) < 0)
        return CTL_FAIL;
    const char *p[] = {ref, reason};
    PGresult *res = ctx_exec(ctx, "erasing the grievance",
                             "SELECT reference, case_reference, "
                             "to_char(erased_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                             "FROM grievance_erase($1, $2)",
                             2, p);
    if (!res)
        return CTL_FAIL;
    if (ctx->json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "reference", PQgetvalue(res, 0, 0), "case",
                              PQgetvalue(res, 0, 1), "erased_at", PQgetvalue(res, 0, 2));
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        printf("grievance %s erased (contact and description) at %s; recorded in case %s\n",
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return CTL_OK;
}
