/* Messages and remedy decisions recorded for complainants (see message.h). */
#include "message.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "case.h"
#include "output.h"

#define MESSAGE_MAX 20000 /* bytes here; the database counts characters */

int message_cmd_send(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"text", NULL, true}, {"all", NULL, false}};
    ArgPos pos;
    char ref[64];
    if (ctx_args(argc, argv, opts, 2, 1, 1, &pos) < 0)
        return CTL_USAGE;
    const char *text = args_value(opts, 2, "text");
    bool all = args_flag(opts, 2, "all");
    if (!text || !*text || strlen(text) > MESSAGE_MAX) {
        ctx_error("--text must have 1 to %d bytes", MESSAGE_MAX);
        return CTL_USAGE;
    }
    if (case_ref_normalize(pos.pos[0], ref, sizeof ref) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, false) < 0)
        return CTL_FAIL;
    const char *p[] = {ref, text, all ? "t" : "f"};
    PGresult *res = ctx_exec(ctx, "sending the message",
                             "SELECT message_id, case_reference, recipients "
                             "FROM case_message_send($1, $2, $3::boolean)",
                             3, p);
    if (!res)
        return CTL_FAIL;
    char id[24], cref[64], n[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    snprintf(cref, sizeof cref, "%s", PQgetvalue(res, 0, 1));
    snprintf(n, sizeof n, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    if (ctx_commit(ctx) < 0)
        return CTL_FAIL;
    if (ctx->json) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "case", cref, "message_id",
                              (json_int_t)strtoll(id, NULL, 10), "recipients",
                              (json_int_t)strtoll(n, NULL, 10), "announcement", all);
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        printf("case %s: %s %s sent to %s complainant%s\n", cref, all ? "announcement" : "message",
               id, n, strcmp(n, "1") == 0 ? "" : "s");
    }
    return CTL_OK;
}

/* The messages of a case (all of them, as row-level security lets the reader see them), or of one
 * grievance: its own and the case's announcements. */
static const char *list_sql =
    "SELECT json_build_object('id', m.id, 'at', m.sent_at, 'direction', m.direction, "
    "'grievance', CASE WHEN m.grievance_id IS NULL THEN NULL ELSE "
    "  coalesce((SELECT g.reference FROM grievance g WHERE g.id = m.grievance_id), 'hidden') END, "
    "'to_everyone', m.grievance_id IS NULL, 'by', m.sent_by, 'text', m.body)::text "
    "FROM case_message m "
    "WHERE m.case_id = $1 AND ($2::text IS NULL OR m.grievance_id IS NULL "
    "      OR m.grievance_id = (SELECT g.id FROM grievance g WHERE g.reference = $2)) "
    "ORDER BY m.sent_at, m.id";

int message_cmd_list(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    char ref[64];
    CaseRef c;
    int rc = CTL_FAIL;
    if (ctx_args(argc, argv, NULL, 0, 1, 1, &pos) < 0)
        return CTL_USAGE;
    if (case_ref_normalize(pos.pos[0], ref, sizeof ref) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, true) < 0 || case_resolve(ctx, ref, &c) < 0)
        return CTL_FAIL;
    /* A grievance reference narrows the list to that person's thread. */
    const char *p[] = {c.id, strcmp(ref, c.reference) == 0 ? NULL : ref};
    PGresult *res = ctx_exec(ctx, "reading the messages", list_sql, 2, p);
    if (!res)
        return CTL_FAIL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, json_loads(PQgetvalue(res, i, 0), 0, NULL));
    PQclear(res);
    if (ctx->json) {
        out_json_print(stdout, arr);
    } else {
        static const char *const hdr[] = {"id", "at", "direction", "grievance", "by", "text"};
        OutTable *t = out_table_new(hdr, 6);
        size_t i;
        json_t *m;
        json_array_foreach(arr, i, m)
        {
            char b0[32], b1[64];
            const char *cells[6] = {out_json_cell(json_object_get(m, "id"), b0, sizeof b0),
                                    out_json_cell(json_object_get(m, "at"), b1, sizeof b1),
                                    json_string_value(json_object_get(m, "direction")),
                                    json_is_true(json_object_get(m, "to_everyone"))
                                        ? "(everyone)"
                                        : json_string_value(json_object_get(m, "grievance")),
                                    json_string_value(json_object_get(m, "by")),
                                    json_is_string(json_object_get(m, "text"))
                                        ? json_string_value(json_object_get(m, "text"))
                                        : "(erased)"};
            out_table_add(t, cells);
        }
        printf("case %s: %zu message%s\n", c.reference, json_array_size(arr),
               json_array_size(arr) == 1 ? "" : "s");
        out_table_print(t, stdout);
        out_table_free(t);
    }
    json_decref(arr);
    rc = CTL_OK;
    ctx_rollback(ctx);
    return rc;
}

int message_cmd_remedy_respond(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"via", NULL, true}, {"comment", NULL, true}};
    ArgPos pos;
    char ref[64];
    static const char *const decisions[] = {"accept", "decline", NULL};
    static const char *const channels[] = {"paper", "phone", NULL};
    long remedy_id;
    if (ctx_args(argc, argv, opts, 2, 3, 3, &pos) < 0)
        return CTL_USAGE;
    const char *via = args_value(opts, 2, "via"), *comment = args_value(opts, 2, "comment");
    if (args_long(pos.pos[1], 1, 1000000000000L, &remedy_id) < 0) {
        ctx_error("the remedy must be its number (see case show), not '%s'", pos.pos[1]);
        return CTL_USAGE;
    }
    if (!args_one_of(pos.pos[2], decisions)) {
        ctx_error("the decision must be accept or decline, not '%s'", pos.pos[2]);
        return CTL_USAGE;
    }
    if (!via || !args_one_of(via, channels)) {
        ctx_error("--via must be paper or phone: how the complainant gave the decision");
        return CTL_USAGE;
    }
    if (comment && strlen(comment) > MESSAGE_MAX) {
        ctx_error("--comment is longer than %d bytes", MESSAGE_MAX);
        return CTL_USAGE;
    }
    if (case_ref_normalize(pos.pos[0], ref, sizeof ref) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, false) < 0)
        return CTL_FAIL;
    char rid[24];
    snprintf(rid, sizeof rid, "%ld", remedy_id);
    const char *p[] = {ref, rid, pos.pos[2], comment, via};
    PGresult *res = ctx_exec(ctx, "recording the decision",
                             "SELECT response_id, new_status FROM "
                             "remedy_response_record($1, $2::bigint, $3, $4, $5)",
                             5, p);
    if (!res)
        return CTL_FAIL;
    char resp[24], status[32];
    snprintf(resp, sizeof resp, "%s", PQgetvalue(res, 0, 0));
    snprintf(status, sizeof status, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (ctx_commit(ctx) < 0)
        return CTL_FAIL;
    if (ctx->json) {
        json_t *o =
            json_pack("{s:s, s:I, s:s, s:s, s:s}", "reference", ref, "remedy_id",
                      (json_int_t)remedy_id, "decision", pos.pos[2], "via", via, "status", status);
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        printf("%s: remedy %ld %s by the complainant (by %s, response %s; case status %s)\n", ref,
               remedy_id, strcmp(pos.pos[2], "accept") == 0 ? "accepted" : "declined", via, resp,
               status);
    }
    return CTL_OK;
}
