/* The audit trail's hash chain, checked from outside the database (see audit.h). Events are read
 * in single-row mode in (case, seq) order so memory stays flat, and each is checked three ways:
 * seq follows on from its predecessor, prev_hash is the predecessor's hash, and hash is what the
 * row's own fields hash to. The first failure is the broken link. */
#include "audit.h"

#include <inttypes.h>
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
    char event_id[24];
    long seq;
    char reason[160];
} AuditBreak;

enum { F_ID, F_CASE, F_REF, F_SEQ, F_AT, F_ACTOR, F_ACTION, F_FROM, F_TO, F_NOTE, F_PREV, F_HASH };

int audit_cmd_verify(Ctx *ctx, int argc, char **argv)
{
    ArgPos pos;
    char err[256];
    AuditBreak br = {0};
    long events = 0, cases = 0;
    char last_case[24] = "";
    unsigned char last_hash[32];
    long last_seq = 0;
    bool failed = false;
    if (args_parse(argc, argv, NULL, 0, 0, 0, &pos, err, sizeof err) < 0) {
        ctx_error("%s", err);
        return CTL_USAGE;
    }
    if (ctx_connect(ctx) < 0 || ctx_begin(ctx, true) < 0 ||
        ctx_run(ctx, "setting the date style", "SET LOCAL DateStyle = 'ISO, YMD'", 0, NULL) < 0)
        return CTL_FAIL;
    if (!PQsendQueryParams(ctx->conn,
                           "SELECT e.id, e.case_id, c.reference, e.seq, e.at, e.actor, e.action, "
                           "e.from_status, e.to_status, e.note, e.prev_hash, e.hash "
                           "FROM case_event e JOIN remedy_case c ON c.id = e.case_id "
                           "ORDER BY e.case_id, e.seq",
                           0, NULL, NULL, NULL, NULL, 0) ||
        !PQsetSingleRowMode(ctx->conn)) {
        ctx_error("audit: cannot send the query");
        return CTL_FAIL;
    }
    PGresult *res;
    while ((res = PQgetResult(ctx->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_SINGLE_TUPLE) {
            if (st != PGRES_TUPLES_OK) {
                ctx_report("audit: reading the audit trail", res);
                failed = true;
            }
            PQclear(res);
            continue;
        }
        if (br.broken || failed) {
            PQclear(res);
            continue;
        }
#define V(f) (PQgetisnull(res, 0, (f)) ? NULL : PQgetvalue(res, 0, (f)))
        const char *case_id = PQgetvalue(res, 0, F_CASE);
        long seq = atol(PQgetvalue(res, 0, F_SEQ));
        events++;
        if (strcmp(case_id, last_case) != 0) {
            cases++;
            snprintf(last_case, sizeof last_case, "%s", case_id);
            last_seq = 0;
        }
        unsigned char prev[64], stored[64], computed[32];
        int prevlen = V(F_PREV) ? audit_bytea(V(F_PREV), prev, sizeof prev) : 0;
        int hashlen = audit_bytea(PQgetvalue(res, 0, F_HASH), stored, sizeof stored);
        int64_t micros;
        const char *reason = NULL;
        if (seq != last_seq + 1) {
            snprintf(br.reason, sizeof br.reason,
                     "sequence jumps from %ld to %ld (an event is missing)", last_seq, seq);
            reason = br.reason;
        } else if (prevlen < 0 || hashlen != 32) {
            reason = "stored hash is malformed";
        } else if (last_seq == 0 ? prevlen != 0
                                 : (prevlen != 32 || memcmp(prev, last_hash, 32) != 0)) {
            reason = "prev_hash does not match the previous event's hash";
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
            br.broken = true;
            if (reason != br.reason)
                snprintf(br.reason, sizeof br.reason, "%s", reason);
            snprintf(br.reference, sizeof br.reference, "%s", PQgetvalue(res, 0, F_REF));
            snprintf(br.event_id, sizeof br.event_id, "%s", PQgetvalue(res, 0, F_ID));
            br.seq = seq;
        } else {
            memcpy(last_hash, stored, 32);
            last_seq = seq;
        }
#undef V
        PQclear(res);
    }
    ctx_rollback(ctx);
    if (failed)
        return CTL_FAIL;
    if (ctx->json) {
        json_t *o = br.broken ? json_pack("{s:b, s:s, s:I, s:I, s:s}", "ok", 0, "case",
                                          br.reference, "seq", (json_int_t)br.seq, "event_id",
                                          (json_int_t)atoll(br.event_id), "reason", br.reason)
                              : json_pack("{s:b, s:I, s:I}", "ok", 1, "events", (json_int_t)events,
                                          "cases", (json_int_t)cases);
        out_json_print(stdout, o);
        json_decref(o);
    } else if (br.broken) {
        printf("audit trail BROKEN: case %s, event #%ld (id %s): %s\n", br.reference, br.seq,
               br.event_id, br.reason);
    } else {
        printf("audit trail ok: %ld events in %ld cases verified\n", events, cases);
    }
    if (br.broken)
        ctx_error("the audit trail is broken at case %s, event #%ld", br.reference, br.seq);
    return br.broken ? CTL_FAIL : CTL_OK;
}
