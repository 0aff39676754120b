-- redress-triage: immediate danger, the deadlines of a band in one function, the ranked queue
-- (severity within a band, lifted by ageing), and escalation of missed deadlines: one
-- deadline_missed event per stage, the case marked overdue, and after two stages missed by the
-- same lead the case goes to the mechanism staff's queue.

-- ---------------------------------------------------------------------------------------------
-- Immediate danger. The complainant's answer to "is someone in immediate danger because of
-- this?" (NULL: not answered). A case is in danger when any of its grievances says so: P1, head
-- of the queue, the [deadlines] immediate_danger hours of the rules file.
ALTER TABLE grievance ADD COLUMN immediate_danger boolean;
ALTER TABLE remedy_case
    ADD COLUMN immediate_danger boolean NOT NULL DEFAULT false,
    ADD COLUMN overdue_since timestamptz,   -- set by triage's sweep while a stage is past due
    ADD COLUMN escalated_at timestamptz;    -- the lead missed two stages: in the staff's queue

-- The immutability trigger (001, 006) names every submitted column: the new one joins the list.
DROP TRIGGER grievance_immutable ON grievance;
CREATE TRIGGER grievance_immutable BEFORE UPDATE OF id, reference, received_at, channel, language,
        country, category, rights, description, companies, services, people_affected, ongoing,
        started_on, vulnerability, complainant_type, share_with_members, share_with_regulator,
        contact_enc, receipt_hash, idempotency_key, request_hash, erased_at, immediate_danger
    ON grievance
    FOR EACH ROW EXECUTE FUNCTION grievance_immutable();

-- (Regulators read grievances only through 006's grievance_for_regulator.)
GRANT SELECT (immediate_danger) ON grievance TO redress_teams, redress_triage;
GRANT SELECT (immediate_danger, overdue_since, escalated_at) ON remedy_case
    TO redress_teams, redress_regulator;
-- Triage writes the new columns (stated column by column: 006 grants it exactly what it names).
GRANT INSERT (immediate_danger) ON remedy_case TO redress_triage;
GRANT UPDATE (immediate_danger, overdue_since, escalated_at, mechanism_queue) ON remedy_case
    TO redress_triage;

-- ---------------------------------------------------------------------------------------------
-- The deadline of a stage (1 acknowledge, 2 first response, 3 remedy proposal) of a case opened
-- at `opened`: hours is the rules' int[5][3] (rows P1..P4, then immediate danger). The one
-- definition triage uses to open, grow and re-score cases. Inlined by the planner (plain SQL).
CREATE FUNCTION case_due(opened timestamptz, hours integer[], band text, danger boolean,
                         stage integer)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT opened + make_interval(hours => hours[CASE WHEN danger THEN 5
                                                     ELSE substr(band, 2)::int END][stage])
$$;
REVOKE ALL ON FUNCTION case_due(timestamptz, integer[], text, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION case_due(timestamptz, integer[], text, boolean, integer) TO redress_triage;

-- Every stage of a case in status st that is still to be done, in order (the first one is the
-- next deadline, case_next_deadline below): acknowledge while received or triaged, first response
-- until investigating, remedy proposal until a remedy is proposed.
CREATE FUNCTION case_pending_stages(st case_status, ack_due timestamptz, response_due timestamptz,
                                    remedy_due timestamptz)
RETURNS TABLE (ord integer, stage text, due timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    SELECT s.ord, s.stage, s.due FROM (VALUES
        (1, 'acknowledge', ack_due),
        (2, 'first_response', response_due),
        (3, 'remedy_proposal', remedy_due)) AS s(ord, stage, due)
    WHERE s.due IS NOT NULL
      AND st IN ('received', 'triaged', 'assigned', 'investigating', 'appealed')
      AND (s.ord > 1 OR st IN ('received', 'triaged'))
      AND (s.ord > 2 OR st IN ('received', 'triaged', 'assigned'))
$$;
REVOKE ALL ON FUNCTION case_pending_stages(case_status, timestamptz, timestamptz, timestamptz)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION case_pending_stages(case_status, timestamptz, timestamptz, timestamptz)
    TO redress_staff, redress_teams, redress_regulator, redress_triage;
-- The next deadline (001's) is the first pending stage: one definition of which stage is pending.
CREATE OR REPLACE FUNCTION case_next_deadline(st case_status, ack_due timestamptz,
                                              response_due timestamptz, remedy_due timestamptz)
RETURNS TABLE (stage text, due timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    SELECT p.stage, p.due FROM case_pending_stages(st, ack_due, response_due, remedy_due) p
    ORDER BY p.ord LIMIT 1
$$;

-- ---------------------------------------------------------------------------------------------
-- The ranked queue. Open cases where someone is in immediate danger come first; then, smaller
-- first,
--     priority = band - severity - ageing
--   band      P1 = 1 .. P4 = 4, none = 5
--   severity  score / 100 (0..1): within a band the more severe case goes first; 10 points of
--             score are worth 0.1
--   ageing    the share of the time from opening to the next deadline already gone: 0 at opening,
--             1 at the deadline, at most 1.5 once overdue
-- so at equal ageing a case of score 62 stands above one of score 50 of the same band, a case 10
-- points less severe overtakes once 10% more of its time to deadline has gone, and a P3 case at
-- its deadline stands level with a fresh P2 case of the same score: a long wait still rises.
-- Ties: earlier deadline, then older case. overdue: triage's sweep found a stage past due (see
-- triage_deadline_sweep); escalated: the lead missed two stages and the case is in the mechanism
-- staff's queue. security_invoker: row-level security of the reader applies.
DROP VIEW case_queue;
CREATE VIEW case_queue WITH (security_invoker = true) AS
SELECT q.id, q.reference, q.status, q.band, q.score, q.grievance_count, q.lead_member_id,
       q.mechanism_queue, q.opened_at, q.next_stage, q.next_due, round(q.ageing, 3) AS ageing,
       round(q.priority, 3) AS priority, q.immediate_danger, q.overdue_since IS NOT NULL AS overdue,
       q.escalated_at,
       row_number() OVER (ORDER BY q.immediate_danger DESC, q.priority, q.next_due NULLS LAST,
                                   q.opened_at, q.id) AS queue_rank
FROM (
    SELECT c.id, c.reference, c.status, c.band, c.score, c.grievance_count, c.lead_member_id,
           c.mechanism_queue, c.opened_at, d.stage AS next_stage, d.due AS next_due, a.ageing,
           coalesce(substr(c.band, 2)::numeric, 5) - coalesce(c.score, 0) / 100 - a.ageing
               AS priority,
           c.immediate_danger, c.overdue_since, c.escalated_at
    FROM remedy_case c
    LEFT JOIN LATERAL (
        SELECT * FROM case_next_deadline(c.status, c.ack_due, c.response_due, c.remedy_due)) d ON true
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN d.due IS NULL THEN 0::numeric
            WHEN d.due <= c.opened_at THEN 1.5
            ELSE least(1.5, greatest(0, (extract(epoch FROM now() - c.opened_at)
                                         / extract(epoch FROM d.due - c.opened_at))::numeric))
        END AS ageing) a
    WHERE c.status NOT IN ('closed', 'rejected', 'referred')
) q;
GRANT SELECT ON case_queue TO redress_staff, redress_teams, redress_regulator, redress_triage;

-- ---------------------------------------------------------------------------------------------
-- Missed deadlines: one row per case and stage, the lead at the time (the member accountable for
-- it). The primary key makes recording idempotent across sweeps and workers.
CREATE TABLE case_deadline_miss (
    case_id         bigint NOT NULL REFERENCES remedy_case(id),
    stage           text NOT NULL CHECK (stage IN ('acknowledge', 'first_response', 'remedy_proposal')),
    due_at          timestamptz NOT NULL,
    lead_member_id  bigint REFERENCES member(id),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, stage)
);
CREATE INDEX case_deadline_miss_lead ON case_deadline_miss (lead_member_id);
CREATE INDEX case_deadline_miss_recorded ON case_deadline_miss (recorded_at);
ALTER TABLE case_deadline_miss ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_deadline_miss FORCE ROW LEVEL SECURITY;
GRANT SELECT ON case_deadline_miss TO redress_staff, redress_teams, redress_regulator;
GRANT SELECT ON case_deadline_miss TO redress_triage;
GRANT INSERT (case_id, stage, due_at, lead_member_id) ON case_deadline_miss TO redress_triage;
CREATE POLICY staff_all ON case_deadline_miss FOR SELECT TO redress_staff USING (true);
CREATE POLICY regulator_read ON case_deadline_miss FOR SELECT TO redress_regulator USING (true);
CREATE POLICY team_own ON case_deadline_miss FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY triage_all ON case_deadline_miss TO redress_triage USING (true) WITH CHECK (true);

-- Where the sweep looks: the first pending stage of an open case is past due (deadlines ascend, so
-- no later stage can be due before it). One partial index per status group, each small.
CREATE INDEX remedy_case_ack_pending ON remedy_case (ack_due) WHERE status IN ('received', 'triaged');
CREATE INDEX remedy_case_response_pending ON remedy_case (response_due) WHERE status = 'assigned';
CREATE INDEX remedy_case_remedy_pending ON remedy_case (remedy_due)
    WHERE status IN ('investigating', 'appealed');
CREATE INDEX remedy_case_overdue ON remedy_case (id) WHERE overdue_since IS NOT NULL;

-- triage's periodic sweep: records every stage past due that is not recorded yet (a
-- case_deadline_miss row and one 'deadline_missed' event each), marks those cases overdue,
-- escalates a case whose lead has now missed two stages (mechanism_queue, an 'escalated' event),
-- and clears the mark of cases no longer past due. At most max_cases cases per call. Cases
-- another transaction holds are skipped (SKIP LOCKED: the next sweep gets them), so the sweep
-- never waits on a worker or a team, and concurrent sweeps work on different cases; the primary
-- key keeps a stage from being recorded twice whatever runs at once (a sweep that read a case
-- before another recorded it meets the row and records nothing). Runs as the caller
-- (redress_triage) in the caller's transaction.
CREATE FUNCTION triage_deadline_sweep(max_cases integer)
RETURNS TABLE (missed bigint, escalated bigint, cleared bigint)
LANGUAGE plpgsql AS $$
DECLARE
    n_missed bigint := 0;
    n_escalated bigint := 0;
    n_cleared bigint := 0;
BEGIN
    WITH late AS (
        SELECT c.id, c.lead_member_id, s.ord, s.stage, s.due
        FROM remedy_case c
        CROSS JOIN LATERAL case_pending_stages(c.status, c.ack_due, c.response_due, c.remedy_due) s
        WHERE ((c.status IN ('received', 'triaged') AND c.ack_due <= now())
               OR (c.status = 'assigned' AND c.response_due <= now())
               OR (c.status IN ('investigating', 'appealed') AND c.remedy_due <= now()))
          AND s.due <= now()
          AND NOT EXISTS (SELECT 1 FROM case_deadline_miss m
                          WHERE m.case_id = c.id AND m.stage = s.stage)),
    locked AS (
        SELECT c.id FROM remedy_case c WHERE c.id IN (SELECT l.id FROM late l)
        ORDER BY c.id LIMIT max_cases FOR UPDATE SKIP LOCKED),
    ins AS (
        INSERT INTO case_deadline_miss (case_id, stage, due_at, lead_member_id)
        SELECT l.id, l.stage, l.due, l.lead_member_id FROM late l JOIN locked k ON k.id = l.id
        ORDER BY l.id, l.ord
        ON CONFLICT DO NOTHING
        RETURNING case_id, stage, due_at, lead_member_id),
    mark AS (
        UPDATE remedy_case c SET overdue_since = coalesce(c.overdue_since, now())
        WHERE c.id IN (SELECT i.case_id FROM ins i) RETURNING c.id)
    INSERT INTO case_event (case_id, action, note)
    SELECT i.case_id, 'deadline_missed',
           format('deadline missed: %s was due %s and is not done; lead %s', i.stage,
                  to_char(i.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                  coalesce(m.slug, 'none (mechanism queue)'))
    FROM ins i LEFT JOIN member m ON m.id = i.lead_member_id
    ORDER BY i.case_id, i.due_at;
    GET DIAGNOSTICS n_missed = ROW_COUNT;

    -- Escalation, for the cases just recorded (rows of this transaction: recorded_at = now()),
    -- which this transaction already holds.
    WITH esc AS (
        UPDATE remedy_case c SET mechanism_queue = true, escalated_at = now()
        FROM (SELECT m.case_id FROM case_deadline_miss m WHERE m.recorded_at = now()
              GROUP BY m.case_id) j
        WHERE c.id = j.case_id AND c.escalated_at IS NULL AND c.lead_member_id IS NOT NULL
          AND (SELECT count(*) FROM case_deadline_miss m
               WHERE m.case_id = c.id AND m.lead_member_id = c.lead_member_id) >= 2
        RETURNING c.id, c.lead_member_id)
    INSERT INTO case_event (case_id, action, note)
    SELECT e.id, 'escalated',
           format('escalated to the mechanism staff''s queue: the lead %s missed two deadlines',
                  m.slug)
    FROM esc e JOIN member m ON m.id = e.lead_member_id;
    GET DIAGNOSTICS n_escalated = ROW_COUNT;

    UPDATE remedy_case c SET overdue_since = NULL
    WHERE c.id IN (SELECT o.id FROM remedy_case o WHERE o.overdue_since IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM case_pending_stages(o.status, o.ack_due,
                                         o.response_due, o.remedy_due) s WHERE s.due <= now())
                   ORDER BY o.id LIMIT max_cases FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n_cleared = ROW_COUNT;

    RETURN QUERY SELECT n_missed, n_escalated, n_cleared;
END $$;
REVOKE ALL ON FUNCTION triage_deadline_sweep(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION triage_deadline_sweep(integer) TO redress_triage;

-- ---------------------------------------------------------------------------------------------
-- What the complainant sees, now with whether the mechanism is past a deadline it promised.
-- SECURITY DEFINER as 006 made it: intake reads no table itself.
DROP FUNCTION grievance_status(text);
CREATE FUNCTION grievance_status(ref text)
RETURNS TABLE (reference text, receipt_hash bytea, received_at timestamptz, status text,
               next_stage text, next_due timestamptz, overdue boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT g.reference, g.receipt_hash, g.received_at, coalesce(c.status::text, 'received'),
           d.stage, d.due, coalesce(c.overdue_since IS NOT NULL, false)
    FROM grievance g
    LEFT JOIN remedy_case c ON c.id = g.case_id
    LEFT JOIN LATERAL (
        SELECT * FROM case_next_deadline(c.status, c.ack_due, c.response_due, c.remedy_due)) d ON true
    WHERE g.reference = ref
$$;
REVOKE ALL ON FUNCTION grievance_status(text) FROM PUBLIC;
-- Staff only: it answers the receipt hash of any reference. The intake looks up by receipt
-- (grievance_status_by_receipt, 011) and never needs it.
GRANT EXECUTE ON FUNCTION grievance_status(text) TO redress_staff;

-- The regulator export (003's), with immediate danger, whether the case is overdue now, how many
-- deadlines it missed and whether it was escalated, before the narrative.
DROP FUNCTION export_cases(date, date, text, text, boolean);
CREATE FUNCTION export_cases(date_from date, date_to date, country_filter text, member_filter text,
                             with_narrative boolean)
RETURNS TABLE (case_reference text, status text, category text, country text, collective boolean,
               grievance_count integer, people_affected bigint, band text, score numeric,
               rules_version text, lead_member text, owners text, remedies text,
               first_received_at text, opened_at text, ack_due text, response_due text,
               remedy_due text, closed_at text, immediate_danger boolean, overdue boolean,
               deadlines_missed integer, escalated boolean, narrative text)
LANGUAGE sql STABLE AS $$
    SELECT c.reference, c.status::text, c.category, c.country::text, c.collective, c.grievance_count,
           c.people_affected, c.band, c.score, c.rules_version, lm.slug,
           (SELECT string_agg(m.slug || ':' || o.role || ':' || o.involvement, ';' ORDER BY m.slug)
              FROM case_owner o JOIN member m ON m.id = o.member_id WHERE o.case_id = c.id),
           (SELECT string_agg(r.type || ':' || r.status, ';' ORDER BY r.id)
              FROM remedy r WHERE r.case_id = c.id),
           to_char(c.first_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.ack_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.response_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.remedy_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           c.immediate_danger, c.overdue_since IS NOT NULL,
           (SELECT count(*)::int FROM case_deadline_miss x WHERE x.case_id = c.id),
           c.escalated_at IS NOT NULL,
           CASE WHEN with_narrative THEN case_narrative(c.id) END
    FROM remedy_case c
    LEFT JOIN member lm ON lm.id = c.lead_member_id
    WHERE c.first_received_at >= date_from::timestamp AT TIME ZONE 'UTC'
      AND c.first_received_at < (date_to + 1)::timestamp AT TIME ZONE 'UTC'
      AND (country_filter IS NULL OR c.country = country_filter)
      AND (member_filter IS NULL OR EXISTS (
              SELECT 1 FROM case_owner o JOIN member m ON m.id = o.member_id
              WHERE o.case_id = c.id AND m.slug = member_filter))
    ORDER BY c.first_received_at, c.id
$$;
REVOKE ALL ON FUNCTION export_cases(date, date, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION export_cases(date, date, text, text, boolean)
    TO redress_staff, redress_regulator, redress_teams;
