/* Cases (see case.h). Reads build their JSON in SQL (json_build_object), so --json and the table
 * views print the same data. Every write is one call of the database's own function for it
 * (sql/006_integrity.sql): the function checks who may do it, the state machine and its reasons,
 * and writes the case_event; nothing here knows the state machine or the permissions. */
#include "case.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "output.h"
#include "reference.h"

#define NOTE_MAX 10000 /* bytes */

static const char *const owner_roles[] = {"lead", "co-owner", "informed", NULL};
static const char *const involvements[] = {"caused", "contributed", "linked", NULL};

/* References are typed by people. A grievance reference is put in canonical form (its check
 * symbol may be * ~ $ = or U; O/I/L read as 0/1/1); otherwise, as for case references, upper-case
 * it and drop separators; refuse anything else. */
int case_ref_normalize(const char *in, char *out, size_t outlen)
{
    char canon[REFERENCE_LEN + 1];
    if (outlen > REFERENCE_LEN && reference_normalize(in, canon)) {
        memcpy(out, canon, sizeof canon);
        return 0;
    }
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (!isalnum((unsigned char)*p) || n + 1 >= outlen) {
            ctx_error("'%s' is not a case or grievance reference", in);
            return -1;
        }
        out[n++] = (char)toupper((unsigned char)*p);
    }
    out[n] = '\0';
    if (n == 0) {
        ctx_error("empty reference");
        return -1;
    }
    return 0;
}

int case_resolve(Ctx *ctx, const char *ref, CaseRef *out)
{
    char norm[64];
    if (case_ref_normalize(ref, norm, sizeof norm) < 0)
        return -1;
    const char *params[] = {norm};
    PGresult *res = ctx_exec(ctx, "looking up the case",
                             "SELECT c.id, c.reference, c.status FROM remedy_case c "
                             "WHERE c.reference = $1 OR c.id = (SELECT g.case_id FROM "
                             "grievance g WHERE g.reference = $1) LIMIT 1",
                             1, params);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        ctx_error("no case with reference %s (or you may not see it)", norm);
        PQclear(res);
        ctx_rollback(ctx);
        return -1;
    }
    snprintf(out->id, sizeof out->id, "%s", PQgetvalue(res, 0, 0));
    snprintf(out->reference, sizeof out->reference, "%s", PQgetvalue(res, 0, 1));
    snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    return 0;
}

static void case_print_result(Ctx *ctx, const CaseRef *c, const char *action, const char *from,
                              const char *detail)
{
    if (ctx->json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "reference", c->reference, "action", action,
                              "status", c->status);
        if (from && strcmp(from, c->status) != 0)
            json_object_set_new(o, "from", json_string(from));
        if (detail)
            json_object_set_new(o, "detail", json_string(detail));
        out_json_print(stdout, o);
        json_decref(o);
        return;
    }
    printf("case %s: %s", c->reference, action);
    if (detail) {
        fputs(" ", stdout);
        out_text(stdout, detail, 0);
    }
    if (from && strcmp(from, c->status) != 0)
        printf(" (%s -> %s)", from, c->status);
    else
        printf(" (status %s)", c->status);
    fputc('\n', stdout);
}

int case_change(Ctx *ctx, const char *ref, const char *action, const char *sql, int nparams,
                const char **params)
{
    CaseRef c;
    if (ctx_connect(ctx) < 0 || case_resolve(ctx, ref, &c) < 0)
        return CTL_FAIL;
    params[0] = c.id;
    /* One statement: the function's checks, the change and its event commit together. */
    PGresult *res = ctx_exec(ctx, "changing the case", sql, nparams, params);
    if (!res)
        return CTL_FAIL;
    if (PQntuples(res) != 1 || PQnfields(res) != 3) {
        ctx_error("changing the case: unexpected answer from the database");
        PQclear(res);
        return CTL_FAIL;
    }
    char from[32];
    snprintf(from, sizeof from, "%s", PQgetvalue(res, 0, 0));
    snprintf(c.status, sizeof c.status, "%s", PQgetvalue(res, 0, 1));
    case_print_result(ctx, &c, action, from, PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2));
    PQclear(res);
    return CTL_OK;
}

/* ---------------------------------------------------------------------------------------------- */

/* Deadlines and owners, shared by the queue and the case view. */
#define CASE_OWNERS_JSON                                                                           \
    "coalesce((SELECT json_agg(json_build_object('member', m.slug, 'role', o.role, "               \
    "'involvement', o.involvement) ORDER BY o.role = 'lead' DESC, m.slug) "                        \
    "FROM case_owner o JOIN member m ON m.id = o.member_id WHERE o.case_id = c.id), '[]'::json)"
#define CASE_DEADLINES_JSON                                                                        \
    "json_build_object('ack', c.ack_due, 'response', c.response_due, 'remedy', c.remedy_due)"

static const char *queue_sql_view =
    "SELECT json_build_object('rank', q.queue_rank, 'reference', c.reference, 'status', c.status, "
    "'band', c.band, 'score', c.score, 'grievance_count', c.grievance_count, 'category', "
    "c.category, "
    "'country', c.country, 'opened_at', c.opened_at, 'next_due', q.next_due, "
    "'immediate_danger', q.immediate_danger, 'overdue', q.overdue, 'escalated_at', "
    "q.escalated_at, 'mechanism_queue', q.mechanism_queue, "
    "'owners', " CASE_OWNERS_JSON ", 'deadlines', " CASE_DEADLINES_JSON ")::text "
    "FROM case_queue q JOIN remedy_case c ON c.id = q.id "
    "WHERE ($1::text IS NULL OR c.band = $1) AND ($2::text IS NULL OR c.status::text = $2) "
    "AND (NOT $5::boolean OR q.overdue) "
    "AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM case_owner o JOIN member m ON m.id = "
    "o.member_id "
    "     WHERE o.case_id = c.id AND m.slug = $3)) "
    "ORDER BY q.queue_rank LIMIT $4";
/* Before the triage migration defines case_queue: the same order (band, then ageing). */
static const char *queue_sql_plain =
    "SELECT json_build_object('rank', row_number() OVER (ORDER BY c.band NULLS LAST, c.opened_at, "
    "c.id), "
    "'reference', c.reference, 'status', c.status, "
    "'band', c.band, 'score', c.score, 'grievance_count', c.grievance_count, 'category', "
    "c.category, "
    "'country', c.country, 'opened_at', c.opened_at, "
    "'next_due', least(c.ack_due, c.response_due, c.remedy_due), "
    "'owners', " CASE_OWNERS_JSON ", 'deadlines', " CASE_DEADLINES_JSON ")::text "
    "FROM remedy_case c "
    "WHERE c.status NOT IN ('closed', 'rejected', 'referred') "
    "AND ($1::text IS NULL OR c.band = $1) AND ($2::text IS NULL OR c.status::text = $2) "
    "AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM case_owner o JOIN member m ON m.id = "
    "o.member_id "
    "     WHERE o.case_id = c.id AND m.slug = $3)) AND (NOT $5::boolean) "
    "ORDER BY c.band NULLS LAST, c.opened_at, c.id LIMIT $4";

static void owners_text(const json_t *owners, char *buf, size_t len)
{
    size_t i, off = 0;
    json_t *o;
    buf[0] = '\0';
    json_array_foreach(owners, i, o)
    {
        int n = snprintf(buf + off, len - off, "%s%s:%s", i ? "," : "",
                         json_string_value(json_object_get(o, "member")),
                         json_string_value(json_object_get(o, "role")));
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

int case_cmd_queue(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"member", NULL, true},
                     {"band", NULL, true},
                     {"status", NULL, true},
                     {"limit", NULL, true},
                     {"overdue", NULL, false}};
    ArgPos pos;
    long limit = 50;
    int rc = CTL_FAIL;
    json_t *rows = NULL;
    if (ctx_args(argc, argv, opts, 5, 0, 0, &pos) < 0)
        return CTL_USAGE;
    const char *band = args_value(opts, 4, "band");
    const char *limit_s = args_value(opts, 4, "limit");
    static const char *const bands[] = {"P1", "P2", "P3", "P4", NULL};
    if (band && !args_one_of(band, bands)) {
        ctx_error("--band must be P1, P2, P3 or P4, not '%s'", band);
        return CTL_USAGE;
    }
    if (limit_s && args_long(limit_s, 1, 1000000, &limit) < 0) {
        ctx_error("--limit must be a number from 1 to 1000000, not '%s'", limit_s);
        return CTL_USAGE;
    }
    if (ctx_connect_reader(ctx) < 0)
        return CTL_FAIL;
    /* The triage migration's view when this role may read it. Either way remedy_case is read
     * directly too, so row-level security applies even through a view that does not enforce it. */
    PGresult *res = ctx_exec(ctx, "looking for the queue view",
                             "SELECT to_regclass('case_queue') IS NOT NULL "
                             "AND has_table_privilege('case_queue', 'SELECT')",
                             0, NULL);
    if (!res)
        return CTL_FAIL;
    bool have_view = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    char limit_buf[24];
    snprintf(limit_buf, sizeof limit_buf, "%ld", limit);
    const char *params[] = {band, args_value(opts, 4, "status"), args_value(opts, 4, "member"),
                            limit_buf, args_flag(opts, 5, "overdue") ? "true" : "false"};
    res =
        ctx_exec(ctx, "reading the queue", have_view ? queue_sql_view : queue_sql_plain, 5, params);
    if (!res)
        return CTL_FAIL;
    rows = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(rows, json_loads(PQgetvalue(res, i, 0), JSON_DECODE_ANY, NULL));
    PQclear(res);
    if (ctx->json) {
        out_json_print(stdout, rows);
    } else {
        static const char *const hdr[] = {"#",          "reference", "band",     "score",  "status",
                                          "grievances", "owners",    "next due", "opened", "flags"};
        OutTable *t = out_table_new(hdr, 10);
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r)
        {
            char b[5][64], owners[256], flags[64];
            owners_text(json_object_get(r, "owners"), owners, sizeof owners);
            snprintf(flags, sizeof flags, "%s%s%s",
                     json_is_true(json_object_get(r, "immediate_danger")) ? "danger " : "",
                     json_is_true(json_object_get(r, "overdue")) ? "overdue " : "",
                     json_is_string(json_object_get(r, "escalated_at")) ? "escalated" : "");
            const char *cells[10] = {out_json_cell(json_object_get(r, "rank"), b[0], 64),
                                     out_json_cell(json_object_get(r, "reference"), b[1], 64),
                                     out_json_cell(json_object_get(r, "band"), b[2], 64),
                                     out_json_cell(json_object_get(r, "score"), b[3], 64),
                                     json_string_value(json_object_get(r, "status")),
                                     out_json_cell(json_object_get(r, "grievance_count"), b[4], 64),
                                     owners,
                                     json_string_value(json_object_get(r, "next_due")),
                                     json_string_value(json_object_get(r, "opened_at")),
                                     flags};
            out_table_add(t, cells);
        }
        out_table_print(t, stdout);
        out_table_free(t);
    }
    rc = CTL_OK;
    json_decref(rows);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */

static const char *case_show_sql =
    "SELECT json_build_object("
    "'reference', c.reference, 'status', c.status, 'band', c.band, 'score', c.score, "
    "'category', c.category, 'country', c.country, 'collective', c.collective, "
    "'grievance_count', c.grievance_count, 'people_affected', c.people_affected, "
    "'lead_member', lm.slug, 'mechanism_queue', c.mechanism_queue, 'referral_flag', "
    "c.referral_flag, "
    "'first_received_at', c.first_received_at, 'last_received_at', c.last_received_at, "
    "'opened_at', c.opened_at, 'updated_at', c.updated_at, 'closed_at', c.closed_at, "
    "'deadlines', " CASE_DEADLINES_JSON ", 'owners', " CASE_OWNERS_JSON ", "
    "'grievances', json_build_object("
    "  'count', c.grievance_count, "
    "  'sample', coalesce((SELECT json_agg(s) FROM (SELECT g.reference, g.received_at, g.channel, "
    "     g.country, g.category, g.people_affected, g.ongoing, g.complainant_type "
    "     FROM grievance g WHERE g.case_id = c.id ORDER BY g.received_at, g.id LIMIT 5) s), "
    "'[]'::json)), "
    "'explanation', (SELECT json_build_object('score', d.score, 'band', d.band, "
    "  'components', d.components, 'rules_fired', d.rules_fired, 'rules_version', d.rules_version, "
    "  'decided_at', d.decided_at) FROM triage_decision d WHERE d.case_id = c.id "
    "  ORDER BY d.decided_at DESC, d.id DESC LIMIT 1), "
    "'remedies', coalesce((SELECT json_agg(json_build_object('id', r.id, 'type', r.type, "
    "  'details', r.details, 'status', r.status, 'proposed_by', r.proposed_by, "
    "  'proposed_at', r.proposed_at, 'accepted_at', r.accepted_at, 'declined_at', r.declined_at, "
    "  'implemented_at', r.implemented_at, 'verified_at', r.verified_at) ORDER BY r.id) "
    "  FROM remedy r WHERE r.case_id = c.id), '[]'::json), "
    "'events', coalesce((SELECT json_agg(json_build_object('seq', e.seq, 'at', e.at, "
    "  'actor', e.actor, 'action', e.action, 'from', e.from_status, 'to', e.to_status, "
    "  'note', e.note) ORDER BY e.seq) FROM case_event e WHERE e.case_id = c.id), '[]'::json)"
    ")::text FROM remedy_case c LEFT JOIN member lm ON lm.id = c.lead_member_id WHERE c.id = $1";

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void case_show_print(const json_t *c)
{
    char b[64];
    size_t i;
    json_t *v;
    printf("case %s\n", jstr(c, "reference"));
    out_kv(stdout, "status", jstr(c, "status"));
    out_kv(stdout, "band", jstr(c, "band"));
    out_kv(stdout, "score", out_json_cell(json_object_get(c, "score"), b, sizeof b));
    out_kv(stdout, "category", jstr(c, "category"));
    out_kv(stdout, "country", jstr(c, "country"));
    out_kv(stdout, "collective", out_json_cell(json_object_get(c, "collective"), b, sizeof b));
    out_kv(stdout, "people affected",
           out_json_cell(json_object_get(c, "people_affected"), b, sizeof b));
    out_kv(stdout, "opened", jstr(c, "opened_at"));
    out_kv(stdout, "closed", jstr(c, "closed_at"));
    json_t *d = json_object_get(c, "deadlines");
    out_kv(stdout, "acknowledge by", jstr(d, "ack"));
    out_kv(stdout, "respond by", jstr(d, "response"));
    out_kv(stdout, "propose remedy by", jstr(d, "remedy"));

    json_t *e = json_object_get(c, "explanation");
    printf("\nseverity\n");
    if (json_is_object(e)) {
        char *comp =
            json_dumps(json_object_get(e, "components"), JSON_COMPACT | JSON_REAL_PRECISION(10));
        out_kv(stdout, "rules version", jstr(e, "rules_version"));
        out_kv(stdout, "components", comp);
        free(comp);
        json_array_foreach(json_object_get(e, "rules_fired"), i, v)
        {
            char line[512];
            char pts[32];
            snprintf(line, sizeof line, "%s (%s): %s", jstr(v, "rule") ? jstr(v, "rule") : "?",
                     out_json_cell(json_object_get(v, "points"), pts, sizeof pts),
                     jstr(v, "why") ? jstr(v, "why") : "");
            out_kv(stdout, "rule", line);
        }
    } else {
        printf("  (no triage decision)\n");
    }

    json_t *g = json_object_get(c, "grievances");
    printf("\ngrievances: %s\n", out_json_cell(json_object_get(g, "count"), b, sizeof b));
    static const char *const ghdr[] = {"reference", "received", "channel",
                                       "country",   "category", "people"};
    OutTable *t = out_table_new(ghdr, 6);
    json_array_foreach(json_object_get(g, "sample"), i, v)
    {
        const char *cells[6] = {jstr(v, "reference"),
                                jstr(v, "received_at"),
                                jstr(v, "channel"),
                                jstr(v, "country"),
                                jstr(v, "category"),
                                out_json_cell(json_object_get(v, "people_affected"), b, sizeof b)};
        out_table_add(t, cells);
    }
    out_table_print(t, stdout);
    out_table_free(t);

    printf("\nowners\n");
    static const char *const ohdr[] = {"member", "role", "involvement"};
    t = out_table_new(ohdr, 3);
    json_array_foreach(json_object_get(c, "owners"), i, v)
    {
        const char *cells[3] = {jstr(v, "member"), jstr(v, "role"), jstr(v, "involvement")};
        out_table_add(t, cells);
    }
    out_table_print(t, stdout);
    out_table_free(t);

    printf("\nremedies\n");
    static const char *const rhdr[] = {"id", "type", "status", "proposed", "details"};
    t = out_table_new(rhdr, 5);
    json_array_foreach(json_object_get(c, "remedies"), i, v)
    {
        const char *cells[5] = {out_json_cell(json_object_get(v, "id"), b, sizeof b),
                                jstr(v, "type"), jstr(v, "status"), jstr(v, "proposed_at"),
                                jstr(v, "details")};
        out_table_add(t, cells);
    }
    out_table_print(t, stdout);
    out_table_free(t);

    printf("\naudit trail\n");
    static const char *const ehdr[] = {"#", "at", "actor", "action", "from", "to", "note"};
    t = out_table_new(ehdr, 7);
    json_array_foreach(json_object_get(c, "events"), i, v)
    {
        const char *cells[7] = {out_json_cell(json_object_get(v, "seq"), b, sizeof b),
                                jstr(v, "at"),
                                jstr(v, "actor"),
                                jstr(v, "action"),
                                jstr(v, "from"),
                                jstr(v, "to"),
                                jstr(v, "note")};
        out_table_add(t, cells);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}

int case_cmd_show(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    CaseRef c;
    if (ctx_args(argc, argv, NULL, 0, 1, 1, &pos) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, true) < 0)
        return CTL_FAIL;
    if (case_resolve(ctx, pos.pos[0], &c) < 0)
        return CTL_FAIL;
    const char *params[] = {c.id};
    PGresult *res = ctx_exec(ctx, "reading the case", case_show_sql, 1, params);
    if (!res)
        return CTL_FAIL;
    json_t *obj = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    PQclear(res);
    ctx_rollback(ctx);
    if (!obj) {
        ctx_error("case %s could not be read", c.reference);
        return CTL_FAIL;
    }
    if (ctx->json)
        out_json_print(stdout, obj);
    else
        case_show_print(obj);
    json_decref(obj);
    return CTL_OK;
}

/* ---------------------------------------------------------------------------------------------- */

int case_cmd_assign(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"member", NULL, true}, {"role", NULL, true}, {"involvement", NULL, true}};
    ArgPos pos;
    if (ctx_args(argc, argv, opts, 3, 1, 1, &pos) < 0)
        return CTL_USAGE;
    const char *member = args_value(opts, 3, "member");
    const char *role = args_value(opts, 3, "role");
    const char *inv = args_value(opts, 3, "involvement");
    if (!member || !role || !inv) {
        ctx_error("--member, --role and --involvement are all required");
        return CTL_USAGE;
    }
    if (!args_one_of(role, owner_roles)) {
        ctx_error("--role must be lead, co-owner or informed, not '%s'", role);
        return CTL_USAGE;
    }
    if (!args_one_of(inv, involvements)) {
        ctx_error("--involvement must be caused, contributed or linked, not '%s'", inv);
        return CTL_USAGE;
    }
    const char *p[] = {NULL, member, role, inv};
    return case_change(ctx, pos.pos[0], "assigned", "SELECT * FROM case_owner_set($1, $2, $3, $4)",
                       4, p);
}

int case_cmd_unassign(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"member", NULL, true}, {"reason", "note", true}};
    ArgPos pos;
    if (ctx_args(argc, argv, opts, 2, 1, 1, &pos) < 0)
        return CTL_USAGE;
    const char *member = args_value(opts, 2, "member");
    const char *reason = args_value(opts, 2, "reason");
    if (!member || !reason || !*reason || strlen(reason) > NOTE_MAX) {
        ctx_error("--member and --reason (1 to %d bytes) are required", NOTE_MAX);
        return CTL_USAGE;
    }
    const char *p[] = {NULL, member, reason};
    return case_change(ctx, pos.pos[0], "unassigned", "SELECT * FROM case_owner_remove($1, $2, $3)",
                       3, p);
}

int case_cmd_transition(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"note", "reason", true}};
    ArgPos pos;
    if (ctx_args(argc, argv, opts, 1, 2, 2, &pos) < 0)
        return CTL_USAGE;
    const char *note = args_value(opts, 1, "note");
    if (note && strlen(note) > NOTE_MAX) {
        ctx_error("--note is longer than %d bytes", NOTE_MAX);
        return CTL_USAGE;
    }
    const char *to = pos.pos[1];
    if (ctx_connect(ctx) < 0)
        return CTL_FAIL;
    const char *pt[] = {to};
    PGresult *res = ctx_exec(ctx, "checking the state",
                             "SELECT $1 = ANY (enum_range(NULL::case_status)::text[]), "
                             "array_to_string(enum_range(NULL::case_status), ', ')",
                             1, pt);
    if (!res)
        return CTL_FAIL;
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        ctx_error("'%s' is not a case state (states: %s)", to, PQgetvalue(res, 0, 1));
        PQclear(res);
        return CTL_FAIL;
    }
    PQclear(res);
    const char *p[] = {NULL, to, note};
    return case_change(ctx, pos.pos[0], "transition",
                       "SELECT * FROM case_move($1, $2::case_status, $3)", 3, p);
}

int case_cmd_note(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    if (ctx_args(argc, argv, NULL, 0, 2, 2, &pos) < 0)
        return CTL_USAGE;
    const char *note = pos.pos[1];
    if (!*note || strlen(note) > NOTE_MAX) {
        ctx_error("the note must have 1 to %d bytes", NOTE_MAX);
        return CTL_USAGE;
    }
    const char *p[] = {NULL, note};
    return case_change(ctx, pos.pos[0], "note added", "SELECT * FROM case_note_add($1, $2)", 2, p);
}
