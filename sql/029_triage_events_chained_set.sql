-- Triage writes a batch's audit events (one per case it opened or grew: about 300 per 1,000
-- grievances) with one call of triage_events_append() instead of one INSERT whose row trigger
-- chained each event alone. The row trigger (case_event_chain, sql/026) runs one statement per
-- event through SPI: measured in a 1,000-event INSERT, 60-65 us an event with the trigger and
-- 13 us without it, the chain's one UPDATE or INSERT of case_event_head taking most of the
-- difference. Here the batch's heads move in two set-based statements and the events are written
-- with the links already made; every event gets exactly what the trigger would have given it.
--
-- The row trigger skips only rows that arrive with a hash while redress.events_chained is 'on',
-- which only this function's own SET clause turns on (and turns off again when it returns). No
-- role but the tables' owner may name the hash column of case_event (sql/006: staff, teams and
-- triage insert an event's content columns only), so for everyone else every row is chained by
-- the trigger as before, whatever the setting says; and the owner's own INSERT that names a hash
-- outside this function is still rewritten by the trigger.
--
-- What the trigger does, set by set, for each case that has one event in the call:
--   - 'created' for a case this transaction opened (its row's xmin is ours, opened_at is now())
--     and that has no head yet: the head is made at seq 1;
--   - a case with a head: the head moves on by one (the row lock of the UPDATE serialises
--     appends, and a head moved by a concurrent committer is re-read: EvalPlanQual recomputes the
--     link from the new head, as the trigger's UPDATE does);
--   - anything else (no head and not a fresh 'created': a chain written without the trigger, or
--     a case opened by another transaction; or a case with two events in the call) is inserted
--     afterwards by an ordinary INSERT, event by event in the given order, through the trigger.
-- enable_seqscan = off as in the trigger: heads and cases are found by their primary keys
-- whatever size the tables had when the statistics were taken.
CREATE FUNCTION triage_events_append(p_case bigint[], p_action text[], p_status text[],
                                     p_note text[])
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET enable_seqscan = off SET redress.events_chained = 'on' AS $$
DECLARE
    done bigint[];
    n_slow bigint;
BEGIN
    WITH ev AS (
        SELECT u.case_id, u.action, u.status::case_status AS to_status, u.note, u.ord
        FROM unnest(p_case, p_action, p_status, p_note) WITH ORDINALITY
             AS u(case_id, action, status, note, ord)
    ), counted AS (
        SELECT e.*, count(*) OVER (PARTITION BY e.case_id) AS n FROM ev e
    ), one AS (
        SELECT * FROM counted WHERE n = 1
    ), stamp AS (
        SELECT date_trunc('microseconds', now()) AS at, session_user::text AS actor
    ), opened AS (
        INSERT INTO case_event_head AS h (case_id, seq, hash)
        SELECT c.id, 1, case_event_hash(NULL, c.id, 1, s.at, s.actor, o.action, NULL, o.to_status,
                                        o.note)
        FROM one o JOIN remedy_case c ON c.id = o.case_id CROSS JOIN stamp s
        WHERE o.action = 'created' AND c.xmin = xid(pg_current_xact_id()) AND c.opened_at = now()
        ON CONFLICT (case_id) DO NOTHING
        RETURNING h.case_id, h.seq, h.hash, h.prev_hash
    ), moved AS (
        UPDATE case_event_head h
        SET seq = h.seq + 1, prev_hash = h.hash,
            hash = case_event_hash(h.hash, h.case_id, h.seq + 1, s.at, s.actor, o.action, NULL,
                                   o.to_status, o.note)
        FROM one o CROSS JOIN stamp s
        WHERE h.case_id = o.case_id
        RETURNING h.case_id, h.seq, h.hash, h.prev_hash
    ), linked AS (
        SELECT * FROM opened UNION ALL SELECT * FROM moved
    ), written AS (
        INSERT INTO case_event (case_id, seq, at, actor, action, to_status, note, prev_hash, hash)
        SELECT o.case_id, l.seq, s.at, s.actor, o.action, o.to_status, o.note, l.prev_hash, l.hash
        FROM one o JOIN linked l ON l.case_id = o.case_id CROSS JOIN stamp s
        ORDER BY o.ord
        RETURNING case_id
    )
    SELECT coalesce(array_agg(case_id), '{}') INTO done FROM written;

    IF cardinality(done) = cardinality(p_case) THEN
        RETURN cardinality(done);
    END IF;
    INSERT INTO case_event (case_id, action, to_status, note)
    SELECT u.case_id, u.action, u.status::case_status, u.note
    FROM unnest(p_case, p_action, p_status, p_note) WITH ORDINALITY
         AS u(case_id, action, status, note, ord)
    WHERE NOT EXISTS (SELECT 1 FROM unnest(done) AS d(case_id) WHERE d.case_id = u.case_id)
    ORDER BY u.ord;
    GET DIAGNOSTICS n_slow = ROW_COUNT;
    RETURN cardinality(done) + n_slow;
END $$;
REVOKE ALL ON FUNCTION triage_events_append(bigint[], text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION triage_events_append(bigint[], text[], text[], text[]) TO redress_triage;

DROP TRIGGER case_event_chain ON case_event;
CREATE TRIGGER case_event_chain BEFORE INSERT ON case_event FOR EACH ROW
    WHEN (NEW.hash IS NULL OR current_setting('redress.events_chained', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION case_event_chain();
