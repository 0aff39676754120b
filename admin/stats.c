/* The transparency report (see stats.h). One SQL statement computes every figure over the cases
 * first received in the period, in one snapshot: counts by category, band, country, member,
 * status and outcome; median and 90th-percentile days from receipt to the first time a case
 * reached each stage (from the audit trail); and the share of deadlines met (acknowledge: reached
 * assigned, first response: reached investigating, remedy: reached remedy_proposed, each by its
 * due time; only deadlines that fell due or were met count); per member, the share of the
 * deadlines of the cases it leads that triage's sweep recorded as missed, and the number of
 * missed deadlines it was the lead for (case_deadline_miss, sql/007). Written with the neutralising
 * CSV writer and recorded in export_manifest. */
#include "stats.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "csvout.h"
#include "export.h"

static const char *stats_sql =
    "WITH c AS ("
    "  SELECT c.id, c.status, c.category, c.band, c.country, c.first_received_at, c.ack_due, "
    "         c.response_due, c.remedy_due, c.lead_member_id FROM remedy_case c "
    "  WHERE c.first_received_at >= $1::date::timestamp AT TIME ZONE 'UTC' "
    "    AND c.first_received_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'), "
    "reached AS ("
    "  SELECT e.case_id, e.to_status::text AS stage, min(e.at) AS at FROM case_event e "
    "  WHERE e.case_id IN (SELECT id FROM c) AND e.to_status IS NOT NULL GROUP BY 1, 2), "
    "outcome AS ("
    "  SELECT CASE WHEN c.status IN ('rejected', 'referred') THEN c.status::text "
    "    WHEN c.status = 'closed' AND EXISTS (SELECT 1 FROM remedy r WHERE r.case_id = c.id "
    "         AND r.status IN ('implemented', 'verified')) THEN 'remedied' "
    "    WHEN c.status = 'closed' THEN 'closed_without_remedy' ELSE 'open' END AS o FROM c), "
    "deadline AS ("
    "  SELECT c.id AS case_id, c.lead_member_id, d.kind, d.due, r.at FROM c "
    "  CROSS JOIN LATERAL (VALUES ('acknowledge', c.ack_due, 'assigned'), "
    "       ('first_response', c.response_due, 'investigating'), "
    "       ('remedy_proposal', c.remedy_due, 'remedy_proposed')) AS d(kind, due, stage) "
    "  LEFT JOIN reached r ON r.case_id = c.id AND r.stage = d.stage "
    "  WHERE d.due IS NOT NULL AND (r.at IS NOT NULL OR d.due < now())), "
    "days AS ("
    "  SELECT r.stage, extract(epoch FROM r.at - c.first_received_at) / 86400.0 AS d "
    "  FROM reached r JOIN c ON c.id = r.case_id) "
    "SELECT * FROM ("
    "  SELECT 1 AS ord, 'cases_total' AS measure, 'all' AS key, count(*)::text AS value FROM c "
    "  UNION ALL SELECT 2, 'cases_by_category', category, count(*)::text FROM c GROUP BY category "
    "  UNION ALL SELECT 3, 'cases_by_band', coalesce(band, 'none'), count(*)::text FROM c GROUP BY "
    "band "
    "  UNION ALL SELECT 4, 'cases_by_country', country::text, count(*)::text FROM c GROUP BY "
    "country "
    "  UNION ALL SELECT 5, 'cases_by_member', m.slug, count(DISTINCT o.case_id)::text "
    "    FROM c JOIN case_owner o ON o.case_id = c.id JOIN member m ON m.id = o.member_id "
    "    GROUP BY m.slug "
    "  UNION ALL SELECT 6, 'cases_by_status', status::text, count(*)::text FROM c GROUP BY status "
    "  UNION ALL SELECT 7, 'cases_by_outcome', o, count(*)::text FROM outcome GROUP BY o "
    "  UNION ALL SELECT 8, 'median_days_to', stage, "
    "    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 2)::text FROM days GROUP "
    "BY stage "
    "  UNION ALL SELECT 9, 'p90_days_to', stage, "
    "    round(percentile_cont(0.9) WITHIN GROUP (ORDER BY d)::numeric, 2)::text FROM days GROUP "
    "BY stage "
    "  UNION ALL SELECT 10, 'deadline_met_share', kind, "
    "    round(avg(CASE WHEN at IS NOT NULL AND at <= due THEN 1.0 ELSE 0.0 END), 4)::text "
    "    FROM deadline GROUP BY kind"
    "  UNION ALL SELECT 11, 'deadline_missed_rate_by_member', m.slug, "
    "    round(avg(CASE WHEN x.case_id IS NOT NULL THEN 1.0 ELSE 0.0 END), 4)::text "
    "    FROM deadline d JOIN member m ON m.id = d.lead_member_id "
    "    LEFT JOIN case_deadline_miss x ON x.case_id = d.case_id AND x.stage = d.kind "
    "    GROUP BY m.slug "
    "  UNION ALL SELECT 12, 'deadlines_missed_by_member', coalesce(m.slug, 'none'), "
    "    count(*)::text FROM case_deadline_miss x JOIN c ON c.id = x.case_id "
    "    LEFT JOIN member m ON m.id = x.lead_member_id GROUP BY 3"
    "  UNION ALL SELECT * FROM engagement_stats($1::date, $2::date)" /* sql/013 */
    ") s ORDER BY ord, key";

int stats_cmd_export(Ctx *ctx, int argc, char **argv)
{
    ArgOpt opts[] = {{"from", NULL, true}, {"to", NULL, true}, {"o", "output", true}};
    ArgPos pos;
    char sha[65];
    FILE *fp = NULL;
    CsvOut *out = NULL;
    int rc = CTL_FAIL;
    if (ctx_args(argc, argv, opts, 3, 0, 0, &pos) < 0)
        return CTL_USAGE;
    const char *from = args_value(opts, 3, "from"), *to = args_value(opts, 3, "to");
    const char *path = args_value(opts, 3, "o");
    if (export_date_check(from) < 0 || export_date_check(to) < 0) {
        ctx_error("--from and --to are required, as YYYY-MM-DD");
        return CTL_USAGE;
    }
    if (ctx_connect_reader(ctx) < 0 || ctx_begin(ctx, true) < 0)
        return CTL_FAIL;
    const char *p[] = {from, to};
    PGresult *res = ctx_exec(ctx, "computing the statistics", stats_sql, 2, p);
    if (!res)
        return CTL_FAIL;
    if (path && strcmp(path, "-") != 0) {
        fp = fopen(path, "w");
        if (!fp) {
            ctx_error("cannot write %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    out = csvout_new(fp ? fp : stdout);
    static const char *const hdr[] = {"measure", "key", "value"};
    for (int c = 0; c < 3; c++)
        csvout_cell(out, hdr[c], strlen(hdr[c]));
    int werr = csvout_row_end(out);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int c = 1; c <= 3; c++)
            csvout_cell(out, PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c),
                        (size_t)PQgetlength(res, i, c));
        werr |= csvout_row_end(out);
    }
    if (werr || fflush(fp ? fp : stdout) != 0) {
        ctx_error("writing the report: %s", strerror(errno));
        goto fail;
    }
    csvout_finish(out, sha);
    json_t *filter = json_pack("{s:s, s:s}", "from", from, "to", to);
    char *ft = json_dumps(filter, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *rec =
        export_manifest_record(ctx, "stats", path ? path : "-", PQntuples(res), sha, ft, false);
    free(ft);
    json_decref(filter);
    if (!rec)
        goto fail;
    json_decref(rec);
    if (ctx_commit(ctx) < 0)
        goto fail;
    if (fp && fclose(fp) != 0) {
        fp = NULL;
        ctx_error("writing %s: %s", path, strerror(errno));
        goto fail;
    }
    fp = NULL;
    rc = CTL_OK;
fail:
    PQclear(res);
    ctx_rollback(ctx);
    if (fp)
        fclose(fp);
    csvout_free(out);
    return rc;
}
