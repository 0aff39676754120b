-- redress-triage: what a collective case must remember to be re-scored as it grows, and the
-- ranked queue of open cases that redressctl shows (`redressctl queue`).

-- The vulnerability flags and urgency seen across a case's grievances: its severity is that of its
-- most vulnerable rights-holders, and a growing case is re-scored without re-reading them all.
ALTER TABLE remedy_case
    ADD COLUMN vulnerability text[] NOT NULL DEFAULT '{}',
    ADD COLUMN ongoing boolean NOT NULL DEFAULT false;

-- The ranked queue: open cases by band, then by an ageing term, so a lower-band case that has
-- waited long rises before it misses its deadline.
--   next_stage, next_due  the next deadline of the case (as the complainant's status page shows)
--   ageing                the share of the time from opening to next_due already gone, 0 at
--                         opening, 1 at the deadline, at most 1.5 once overdue
--   priority              band number (P1 = 1 .. P4 = 4, none = 5) minus ageing: a P3 case at its
--                         deadline stands level with a fresh P2 case; smaller first
--   queue_rank            1, 2, 3 ... in that order (ties: earlier deadline, then older case)
-- security_invoker: row-level security of the reader applies, so a member's team ranks only the
-- cases it owns.
CREATE VIEW case_queue WITH (security_invoker = true) AS
SELECT q.id, q.reference, q.status, q.band, q.score, q.grievance_count, q.lead_member_id,
       q.mechanism_queue, q.opened_at, q.next_stage, q.next_due, round(q.ageing, 3) AS ageing,
       round(q.priority, 3) AS priority,
       row_number() OVER (ORDER BY q.priority, q.next_due NULLS LAST, q.opened_at, q.id) AS queue_rank
FROM (
    SELECT c.id, c.reference, c.status, c.band, c.score, c.grievance_count, c.lead_member_id,
           c.mechanism_queue, c.opened_at, d.stage AS next_stage, d.due AS next_due, a.ageing,
           coalesce(substr(c.band, 2)::numeric, 5) - a.ageing AS priority
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

-- Candidates for joining: the open collective cases of a cluster key, however many single cases
-- share the key (remedy_case_open_cluster in 001 serves the most recent cases of any size).
CREATE INDEX remedy_case_open_collective ON remedy_case (cluster_key, last_received_at)
    WHERE collective AND status NOT IN ('closed', 'rejected', 'referred');
