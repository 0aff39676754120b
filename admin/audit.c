/* The audit trail's hash chain, checked from outside the database (see audit.h). Events are read
 * in single-row mode in (case, seq) order so memory stays flat, and each is checked three ways:
 * seq follows on from its predecessor, prev_hash is the predecessor's hash, and hash is what the
 * row's own fields hash to. The first failure is the broken link. */
#include "audit.h"

#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "output.h"
#include "util.h"

int audit_time_parse(const char *s, int64_t *micros)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    const char *p = s + n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
        if (digits == 0 || digits > 6)
            return -1;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (strcmp(p, "+00") != 0)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *micros = (int64_t)timegm(&tm) * 1000000 + frac;
    return 0;
}

void audit_event_hash(const unsigned char *prev, size_t prevlen, const char *case_id,
                      const char *seq, int64_t micros, const char *actor, const char *action,
                      const char *from, const char *to, const char *note, unsigned char out[32])
{
    char num[32];
    unsigned int len = 0;
    const char *parts[8];
    snprintf(num, sizeof num, "%" PRId64, micros);
    parts[0] = case_id;
    parts[1] = seq;
    parts[2] = num;
    parts[3] = actor;
    parts[4] = action;
    parts[5] = from ? from : "";
    parts[6] = to ? to : "";
    parts[7] = note ? note : "";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        abort();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    if (prevlen)
        EVP_DigestUpdate(md, prev, prevlen);
    for (int i = 0; i < 8; i++) {
        if (i)
            EVP_DigestUpdate(md, "|", 1);
        EVP_DigestUpdate(md, parts[i], strlen(parts[i]));
    }
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

/* "\x0a1b..." (bytea hex output) into out; returns the byte count or -1. */
static int audit_bytea(const char *s, unsigned char *out, size_t max)
{
    if (strncmp(s, "\\x", 2) != 0)
        return -1;
    size_t n = strlen(s + 2);
    if (n % 2 || n / 2 > max || hex_decode(s + 2, out, n / 2) < 0)
        return -1;
    return (int)(n / 2);
}

typedef struct {
    bool broken;
    char reference[64];
    char event_id[24]; /* "" when the event is gone */
    long seq;
    char reason[200];
} AuditBreak;

static void audit_break(AuditBreak *br, const char *reference, const char *event_id, long seq,
                        const char *reason)
{
    br->broken = true;
    snprintf(br->reference, sizeof br->reference, "%s", reference);
    snprintf(br->event_id, sizeof br->event_id, "%s", event_id ? event_id : "");
    br->seq = seq;
    if (reason != br->reason)
        snprintf(br->reason, sizeof br->reason, "%s", reason);
}

/* Streams the rows of sql in single-row mode (memory stays flat whatever the table's size) to
 * row_cb, one PGresult of one row at a time (borrowed for the call). 0, or -1 (printed). */
static int audit_stream(Ctx *ctx, const char *what, const char *sql, int nparams,
                        const char *const *params, void (*row_cb)(const PGresult *, void *),
                        void *user)
{
    bool failed = false;
    if (!PQsendQueryParams(ctx->conn, sql, nparams, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(ctx->conn)) {
        ctx_error("%s: cannot send the query", what);
        return -1;
    }
    PGresult *res;
    while ((res = PQgetResult(ctx->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            if (!failed)
                row_cb(res, user);
        } else if (st != PGRES_TUPLES_OK) {
            ctx_report(what, res);
            failed = true;
        }
        PQclear(res);
    }
    return failed ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Every chain, event by event. */

typedef struct {
    AuditBreak *br;
    bool links_only; /* the role cannot read actors and notes: check links, not contents */
    long events, cases;
    char last_case[24];
    unsigned char last_hash[32];
    long last_seq;
} ChainCheck;

enum { F_ID, F_CASE, F_REF, F_SEQ, F_AT, F_ACTOR, F_ACTION, F_FROM, F_TO, F_NOTE, F_PREV, F_HASH };

static void audit_chain_row_cb(const PGresult *res, void *user)
{
    ChainCheck *cc = user;
    if (cc->br->broken)
        return;
#define V(f) (PQgetisnull(res, 0, (f)) ? NULL : PQgetvalue(res, 0, (f)))
    const char *case_id = PQgetvalue(res, 0, F_CASE);
    long seq = atol(PQgetvalue(res, 0, F_SEQ));
    cc->events++;
    if (strcmp(case_id, cc->last_case) != 0) {
        cc->cases++;
        snprintf(cc->last_case, sizeof cc->last_case, "%s", case_id);
        cc->last_seq = 0;
    }
    unsigned char prev[64], stored[64], computed[32];
    int prevlen = V(F_PREV) ? audit_bytea(V(F_PREV), prev, sizeof prev) : 0;
    int hashlen = audit_bytea(PQgetvalue(res, 0, F_HASH), stored, sizeof stored);
    int64_t micros;
    const char *reason = NULL;
    if (seq != cc->last_seq + 1) {
        snprintf(cc->br->reason, sizeof cc->br->reason,
                 "sequence jumps from %ld to %ld (an event is missing)", cc->last_seq, seq);
        reason = cc->br->reason;
    } else if (prevlen < 0 || hashlen != 32) {
        reason = "stored hash is malformed";
    } else if (cc->last_seq == 0 ? prevlen != 0
                                 : (prevlen != 32 || memcmp(prev, cc->last_hash, 32) != 0)) {
        reason = "prev_hash does not match the previous event's hash";
    } else if (cc->links_only) {
        /* the hash itself is checked against the next event's prev_hash and the checkpoint */
    } else if (audit_time_parse(PQgetvalue(res, 0, F_AT), &micros) < 0) {
        reason = "event time cannot be read";
    } else {
        audit_event_hash(prev, (size_t)prevlen, case_id, PQgetvalue(res, 0, F_SEQ), micros,
                         PQgetvalue(res, 0, F_ACTOR), PQgetvalue(res, 0, F_ACTION), V(F_FROM),
                         V(F_TO), V(F_NOTE), computed);
        if (memcmp(computed, stored, 32) != 0)
            reason = "hash does not match the event's contents (the row was changed)";
    }
    if (reason) {
        audit_break(cc->br, PQgetvalue(res, 0, F_REF), PQgetvalue(res, 0, F_ID), seq, reason);
    } else {
        memcpy(cc->last_hash, stored, 32);
        cc->last_seq = seq;
    }
#undef V
}

/* ---------------------------------------------------------------------------------------------- */
/* The heads a checkpoint recorded: each must still be there, unchanged, and together they must
 * hash to the checkpoint's digest. */

typedef struct {
    AuditBreak *br;
    const char *checkpoint; /* its id, for messages */
    EVP_MD_CTX *md;         /* the digest over the stored heads */
    long heads;
} HeadCheck;

enum { H_CASE, H_SEQ, H_HASH, H_REF, H_NOW };

static void audit_head_row_cb(const PGresult *res, void *user)
{
    HeadCheck *hc = user;
    const char *hash = PQgetvalue(res, 0, H_HASH);
    char line[160];
    int n = snprintf(line, sizeof line, "%s|%s|%s\n", PQgetvalue(res, 0, H_CASE),
                     PQgetvalue(res, 0, H_SEQ), hash);
    EVP_DigestUpdate(hc->md, line, (size_t)n);
    hc->heads++;
    if (hc->br->broken)
        return;
    long seq = atol(PQgetvalue(res, 0, H_SEQ));
    char why[200];
    if (PQgetisnull(res, 0, H_NOW))
        snprintf(why, sizeof why,
                 "event #%ld, the head of this case's chain at checkpoint %s, is gone", seq,
                 hc->checkpoint);
    else if (strcmp(PQgetvalue(res, 0, H_NOW), hash) != 0)
        snprintf(why, sizeof why, "event #%ld differs from the one checkpoint %s recorded", seq,
                 hc->checkpoint);
    else
        return;
    audit_break(hc->br, PQgetvalue(res, 0, H_REF), NULL, seq, why);
}

static bool audit_is_digest(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Checks checkpoint since (an id, or its digest as printed). 0 (checked; br says whether it
 * broke), or -1 (printed). */
static int audit_heads_check(Ctx *ctx, const char *since, AuditBreak *br, char *id, size_t idlen)
{
    bool by_digest = audit_is_digest(since);
    const char *p[] = {since};
    PGresult *res =
        ctx_exec(ctx, "reading the checkpoint",
                 by_digest ? "SELECT id, digest FROM audit_checkpoint WHERE digest = $1 "
                             "ORDER BY id LIMIT 1"
                           : "SELECT id, digest FROM audit_checkpoint WHERE id = $1",
                 1, p);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        if (!by_digest) {
            ctx_error("no audit checkpoint %s", since);
            return -1;
        }
        audit_break(br, "-", NULL, 0,
                    "no checkpoint has this digest: it was deleted or changed in the database");
        snprintf(id, idlen, "-");
        return 0;
    }
    char digest[65];
    snprintf(id, idlen, "%s", PQgetvalue(res, 0, 0));
    snprintf(digest, sizeof digest, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    HeadCheck hc = {.br = br, .checkpoint = id, .md = EVP_MD_CTX_new()};
    if (!hc.md)
        abort();
    EVP_DigestInit_ex(hc.md, EVP_sha256(), NULL);
    const char *ph[] = {id};
    int rc = audit_stream(
        ctx, "reading the checkpoint's heads",
        "SELECT h.case_id, h.seq, encode(h.hash, 'hex'), "
        "coalesce(c.reference, '(deleted case ' || h.case_id || ')'), encode(e.hash, 'hex') "
        "FROM audit_checkpoint_head h LEFT JOIN remedy_case c ON c.id = h.case_id "
        "LEFT JOIN case_event e ON e.case_id = h.case_id AND e.seq = h.seq "
        "WHERE h.checkpoint_id = $1 ORDER BY h.case_id",
        1, ph, audit_head_row_cb, &hc);
    unsigned char sum[32];
    unsigned int len = 0;
    char hex[65];
    EVP_DigestFinal_ex(hc.md, sum, &len);
    EVP_MD_CTX_free(hc.md);
    hex_encode(sum, sizeof sum, hex);
    if (rc == 0 && !br->broken && strcmp(hex, digest) != 0)
        audit_break(br, "-", NULL, 0,
                    "the checkpoint's stored heads do not hash to its digest: it was changed");
    return rc;
}

int audit_cmd_verify(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"since", NULL, true}};
    ArgPos pos;
    char checkpoint[24] = "";
    AuditBreak br = {0};
    ChainCheck cc = {.br = &br};
    if (ctx_args(argc, argv, opts, 1, 0, 0, &pos) < 0)
        return CTL_USAGE;
    const char *since = args_value(opts, 1, "since");
    long since_id;
    if (since && !audit_is_digest(since) && args_long(since, 1, LONG_MAX, &since_id) < 0) {
        ctx_error("--since takes a checkpoint's id or its digest (64 hex digits), not '%s'", since);
        return CTL_USAGE;
    }
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, true) < 0 ||
        ctx_run(ctx, "setting the date style", "SET LOCAL DateStyle = 'ISO, YMD'", 0, NULL) < 0)
        return CTL_FAIL;
    /* A regulator reads no actor or note: it checks that every chain links up and that the heads
     * of a checkpoint it holds are still there; recomputing each event's hash takes staff. */
    PGresult *res = ctx_exec(ctx, "checking what this role may read",
                             "SELECT has_column_privilege('case_event', 'note', 'SELECT') AND "
                             "has_column_privilege('case_event', 'actor', 'SELECT')",
                             0, NULL);
    if (!res)
        return CTL_FAIL;
    cc.links_only = strcmp(PQgetvalue(res, 0, 0), "t") != 0;
    PQclear(res);
    if (since && audit_heads_check(ctx, since, &br, checkpoint, sizeof checkpoint) < 0)
        return CTL_FAIL;
    if (!br.broken &&
        audit_stream(ctx, "audit: reading the audit trail",
                     cc.links_only
                         ? "SELECT e.id, e.case_id, c.reference, e.seq, NULL, NULL, NULL, NULL, "
                           "NULL, NULL, e.prev_hash, e.hash FROM case_event e "
                           "JOIN remedy_case c ON c.id = e.case_id ORDER BY e.case_id, e.seq"
                         : "SELECT e.id, e.case_id, c.reference, e.seq, e.at, e.actor, "
                           "e.action, e.from_status, e.to_status, e.note, e.prev_hash, "
                           "e.hash FROM case_event e JOIN remedy_case c ON c.id = e.case_id "
                           "ORDER BY e.case_id, e.seq",
                     0, NULL, audit_chain_row_cb, &cc) < 0)
        return CTL_FAIL;
    ctx_rollback(ctx);
    if (ctx->json) {
        json_t *o = br.broken ? json_pack("{s:b, s:s, s:I, s:s}", "ok", 0, "case", br.reference,
                                          "seq", (json_int_t)br.seq, "reason", br.reason)
                              : json_pack("{s:b, s:I, s:I}", "ok", 1, "events",
                                          (json_int_t)cc.events, "cases", (json_int_t)cc.cases);
        json_object_set_new(o, "checked", json_string(cc.links_only ? "links" : "contents"));
        if (br.event_id[0])
            json_object_set_new(o, "event_id", json_integer(atoll(br.event_id)));
        if (since)
            json_object_set_new(o, "checkpoint", json_string(checkpoint));
        out_json_print(stdout, o);
        json_decref(o);
    } else if (br.broken) {
        printf("audit trail BROKEN: case %s, event #%ld%s%s%s: %s\n", br.reference, br.seq,
               br.event_id[0] ? " (id " : "", br.event_id, br.event_id[0] ? ")" : "", br.reason);
    } else {
        printf("audit trail ok: %ld events in %ld cases verified%s", cc.events, cc.cases,
               cc.links_only ? " (links only: this role cannot read actors and notes)" : "");
        if (since)
            printf("; every chain head of checkpoint %s is intact", checkpoint);
        fputc('\n', stdout);
    }
    if (br.broken)
        ctx_error("the audit trail is broken at case %s, event #%ld", br.reference, br.seq);
    return br.broken ? CTL_FAIL : CTL_OK;
}

int audit_cmd_checkpoint(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    if (ctx_args(argc, argv, NULL, 0, 0, 0, &pos) < 0)
        return CTL_USAGE;
    if (ctx_connect(ctx) < 0)
        return CTL_FAIL;
    PGresult *res =
        ctx_exec(ctx, "recording the checkpoint",
                 "SELECT id, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), cases, "
                 "events, digest FROM audit_checkpoint_create()",
                 0, NULL);
    if (!res)
        return CTL_FAIL;
    if (ctx->json) {
        json_t *o = json_pack(
            "{s:I, s:s, s:I, s:I, s:s}", "id", (json_int_t)atoll(PQgetvalue(res, 0, 0)),
            "created_at", PQgetvalue(res, 0, 1), "cases", (json_int_t)atoll(PQgetvalue(res, 0, 2)),
            "events", (json_int_t)atoll(PQgetvalue(res, 0, 3)), "digest", PQgetvalue(res, 0, 4));
        out_json_print(stdout, o);
        json_decref(o);
    } else {
        printf("audit checkpoint %s at %s: %s cases, %s events, digest %s\n", PQgetvalue(res, 0, 0),
               PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
               PQgetvalue(res, 0, 4));
    }
    PQclear(res);
    return CTL_OK;
}
