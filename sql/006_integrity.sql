-- Integrity of the case record (issue 7): no member can rewrite, hide or block it.
--
--   1. case_event ids, sequence numbers, times, actors and hashes come from the database alone.
--   2. The chain serialises on the case's row, which no member role can lock; the advisory-lock
--      functions are not callable by the application roles; every role has lock, statement and
--      idle-in-transaction timeouts, and triage ends sessions that SET theirs off.
--   3. redress_intake may only EXECUTE intake_submit() and grievance_status() (SECURITY DEFINER);
--      redress_triage gets exactly the columns its statements name, and no DELETE.
--   4. Staff and teams change cases only through SECURITY DEFINER functions that check who may
--      do what and write the case_event in the same transaction; no direct writes at all.
--   5. Consent: teams see only grievances shared with members; regulators read grievances only
--      through grievance_for_regulator, personal fields only with share_with_regulator.
--   6. Checkpoints: a digest over every chain's head, in every export manifest and on demand.
--   7. Erasure on request and after a retention period, the one change a stored grievance allows.
--
-- Every SECURITY DEFINER function pins search_path = public, pg_temp and is not EXECUTE-able by
-- PUBLIC. NOTE for later migrations: CREATE OR REPLACE FUNCTION keeps the ACL but NOT the
-- SECURITY DEFINER and SET clauses: a rewrite of intake_submit (010) or grievance_status (011)
-- must restate "SECURITY DEFINER SET search_path = public, pg_temp", or redress_intake, which has
-- no table privileges at all, can no longer file or look up a grievance.

-- ---------------------------------------------------------------------------------------------
-- 1. Event ids from an identity column nobody may set; the old serial's sequence goes.
ALTER TABLE case_event ALTER COLUMN id DROP DEFAULT;
DROP SEQUENCE case_event_id_seq;
ALTER TABLE case_event ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('case_event', 'id'), coalesce(max(id), 0) + 1, false)
FROM case_event;
ALTER TABLE case_event ALTER COLUMN actor SET DEFAULT session_user;

-- 2. The chain serialises on the case's own row (FOR NO KEY UPDATE), not on an advisory lock
-- that any login role could take first and hold. Row locks need the UPDATE privilege, which no
-- member or regulator role has on remedy_case: only this trigger (SECURITY DEFINER), the case
-- functions below and triage lock a case. Triage updates the cases it adds grievances to in the
-- same transaction anyway, so the lock costs it nothing new (measured: as fast as the advisory
-- lock). Whatever the client sends, seq, prev_hash, hash, the time (the transaction's) and the
-- actor (the session's login role) are set here; id is GENERATED ALWAYS, so naming it is refused.
-- enable_seqscan = off: the predecessor lookup must be an index probe whatever the statistics
-- say (a worker session that planned it while case_event looked empty kept a sequential scan).
CREATE OR REPLACE FUNCTION case_event_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
DECLARE
    last record;
BEGIN
    PERFORM 1 FROM remedy_case c WHERE c.id = NEW.case_id FOR NO KEY UPDATE;
    SELECT e.seq, e.hash INTO last FROM case_event e WHERE e.case_id = NEW.case_id
    ORDER BY e.seq DESC LIMIT 1;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := last.hash;
    NEW.at := date_trunc('microseconds', now());
    NEW.actor := session_user;
    NEW.hash := case_event_hash(NEW.prev_hash, NEW.case_id, NEW.seq, NEW.at, NEW.actor, NEW.action,
                                NEW.from_status, NEW.to_status, NEW.note);
    RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION case_event_chain() FROM PUBLIC;

-- A case starts as received or triaged; every later move is a checked transition.
CREATE FUNCTION remedy_case_insert_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a case starts as received or triaged, not %', NEW.status USING ERRCODE = 'P0002';
END $$;
CREATE TRIGGER remedy_case_insert_check BEFORE INSERT ON remedy_case
    FOR EACH ROW WHEN (NEW.status NOT IN ('received', 'triaged'))
    EXECUTE FUNCTION remedy_case_insert_check();

-- ---------------------------------------------------------------------------------------------
-- 3. Locks. Advisory locks are a namespace every login role shares: a member holding the key of a
-- case or of a cluster would stall the mechanism. Only triage (its cluster-key locks) and staff
-- (`redressctl migrate`'s lock) may take them.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE 'pg\_%advisory%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION pg_advisory_xact_lock(integer, integer) TO redress_triage;
GRANT EXECUTE ON FUNCTION pg_advisory_lock(bigint), pg_advisory_unlock(bigint) TO redress_staff;

-- Timeouts per role (ALTER ROLE ... SET: the role's sessions start with them). A team session
-- holds a lock for at most its statement_timeout, or its idle_in_transaction timeout once idle;
-- triage waits for any lock at most its lock_timeout, rolls back and retries the batch. Team
-- roles are made later by member_team_role_ensure, which gives each the same settings.
ALTER ROLE redress_intake SET lock_timeout = '2s';
ALTER ROLE redress_intake SET statement_timeout = '5s';
ALTER ROLE redress_intake SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE redress_triage SET lock_timeout = '10s';
ALTER ROLE redress_triage SET statement_timeout = '120s';
ALTER ROLE redress_triage SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE redress_staff SET lock_timeout = '5s';
ALTER ROLE redress_staff SET statement_timeout = '10min';
ALTER ROLE redress_staff SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE redress_regulator SET lock_timeout = '5s';
ALTER ROLE redress_regulator SET statement_timeout = '10min';
ALTER ROLE redress_regulator SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE redress_regulator CONNECTION LIMIT 20;

CREATE FUNCTION team_role_limits(role_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER ROLE %I SET lock_timeout = %L', role_name, '5s');
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', role_name, '30s');
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', role_name, '5s');
    -- Nor can a member take every connection the server has.
    EXECUTE format('ALTER ROLE %I CONNECTION LIMIT 20', role_name);
END $$;
REVOKE ALL ON FUNCTION team_role_limits(text) FROM PUBLIC;

-- Role settings are only defaults: a session may SET its own timeouts to 0 and then hold what it
-- locked for as long as it likes. Triage calls this between batches and after a failed one (a lock
-- timeout, say): it ends every staff, team or regulator session idle in a transaction, or in one
-- statement, for longer than its role's own idle_in_transaction_session_timeout or
-- statement_timeout (as ALTER ROLE set them), whatever the session set since. Returns how many.
CREATE FUNCTION member_sessions_reap() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    -- MATERIALIZED: the planner orders quals by cost, and pg_terminate_backend() must run only on
    -- the sessions chosen here.
    WITH stuck AS MATERIALIZED (
        SELECT a.pid FROM pg_stat_activity a
        JOIN pg_roles r ON r.oid = a.usesysid AND NOT r.rolsuper
        CROSS JOIN LATERAL (
            SELECT max(CASE WHEN c LIKE 'idle_in_transaction_session_timeout=%'
                            THEN split_part(c, '=', 2)::interval END) AS idle,
                   max(CASE WHEN c LIKE 'statement_timeout=%'
                            THEN split_part(c, '=', 2)::interval END) AS stmt
            FROM pg_db_role_setting s, unnest(s.setconfig) c
            WHERE s.setrole = a.usesysid AND s.setdatabase = 0) t
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
          AND (pg_has_role(a.usesysid, 'redress_teams', 'MEMBER')
               OR pg_has_role(a.usesysid, 'redress_regulator', 'MEMBER')
               OR pg_has_role(a.usesysid, 'redress_staff', 'MEMBER'))
          AND ((a.state IN ('idle in transaction', 'idle in transaction (aborted)')
                AND t.idle > interval '0' AND a.state_change < clock_timestamp() - t.idle)
               OR (a.state = 'active' AND t.stmt > interval '0'
                   AND a.query_start < clock_timestamp() - t.stmt)))
    SELECT count(*)::integer FROM stuck WHERE pg_terminate_backend(stuck.pid)
$$;
REVOKE ALL ON FUNCTION member_sessions_reap() FROM PUBLIC;

-- Creates (or adopts) a member's team role: a login role in the group redress_teams, with the
-- team limits above. DDL takes no parameters, so the role name is quoted with format('%I') after
-- a strict pattern check. Refuses roles with more power than a team. Called by member_add() only.
CREATE FUNCTION member_team_role_ensure(role_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r record;
BEGIN
    IF role_name !~ '^team_[a-z0-9_]{1,47}$' THEN
        RAISE EXCEPTION 'invalid team role name %', role_name USING ERRCODE = '22023';
    END IF;
    SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb INTO r FROM pg_roles WHERE rolname = role_name;
    IF NOT FOUND THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB', role_name);
    ELSIF r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb THEN
        RAISE EXCEPTION 'role % exists with privileges a team must not have', role_name
            USING ERRCODE = '42501';
    END IF;
    EXECUTE format('GRANT redress_teams TO %I', role_name);
    PERFORM team_role_limits(role_name);
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT m.team_role FROM member m JOIN pg_roles r ON r.rolname = m.team_role LOOP
        PERFORM team_role_limits(t);
    END LOOP;
END $$;

-- ---------------------------------------------------------------------------------------------
-- 4. The network-facing role: two SECURITY DEFINER functions and nothing else. intake_submit
-- inserts only the submitted columns (received_at is the database's, case_id and triaged_at stay
-- NULL), so no backdated or pre-triaged row can be made through it.
ALTER FUNCTION intake_submit(jsonb) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION grievance_status(text) SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON grievance, remedy_case FROM redress_intake;
REVOKE ALL ON SEQUENCE grievance_id_seq FROM redress_intake;
DROP POLICY intake_all ON grievance;
DROP POLICY intake_read ON remedy_case;
GRANT EXECUTE ON FUNCTION intake_submit(jsonb), grievance_status(text) TO redress_intake, redress_staff;

-- Triage: the columns its statements read and write, nothing it does not use. It reads every
-- grievance field it scores (description included) but never the sealed contact, the receipt
-- hash or the idempotency data; it creates cases only as 'triaged' (remedy_case_insert_check) and
-- never changes a case's status, lead, owners' roles or its events.
REVOKE ALL ON grievance, member, case_transition, remedy_case, case_owner, triage_decision,
    case_event FROM redress_triage;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM redress_triage;
GRANT SELECT (id, reference, received_at, channel, language, country, category, rights, description,
              companies, services, people_affected, ongoing, started_on, vulnerability,
              complainant_type, share_with_members, share_with_regulator, case_id, triaged_at)
    ON grievance TO redress_triage;
GRANT UPDATE (case_id, triaged_at) ON grievance TO redress_triage;
GRANT SELECT ON member, case_transition, remedy_case, case_owner, triage_decision, case_event
    TO redress_triage;
GRANT INSERT (id, reference, status, category, country, collective, cluster_key, signature,
              grievance_count, people_affected, score, band, rules_version, lead_member_id,
              mechanism_queue, referral_flag, first_received_at, last_received_at, ack_due,
              response_due, remedy_due, vulnerability, ongoing)
    ON remedy_case TO redress_triage;
GRANT UPDATE (collective, cluster_key, signature, grievance_count, people_affected, score, band,
              rules_version, first_received_at, last_received_at, ack_due, response_due,
              remedy_due, vulnerability, ongoing)
    ON remedy_case TO redress_triage;
GRANT INSERT (case_id, member_id, role, involvement) ON case_owner TO redress_triage;
GRANT INSERT (case_id, grievance_id, score, band, components, rules_fired, rules_version, decided_at)
    ON triage_decision TO redress_triage;
GRANT INSERT (case_id, action, from_status, to_status, note) ON case_event TO redress_triage;
GRANT USAGE ON SEQUENCE remedy_case_id_seq, triage_decision_id_seq TO redress_triage;

-- Staff and teams name only an event's content columns, never its id, seq, time, actor or hash.
REVOKE INSERT ON case_event FROM redress_staff, redress_teams;
GRANT INSERT (case_id, action, from_status, to_status, note) ON case_event TO redress_staff, redress_teams;

-- ---------------------------------------------------------------------------------------------
-- 5. Every change to a case goes through these functions. Each checks who may make it, enforces
-- the state machine (case_transition) and its reasons, and writes the case_event row in the same
-- transaction. Who may do what on a case (README, "Who may do what"):
--   staff (redress_staff)  everything, on every case, and the only one to assign or unassign owners
--   lead                   moves the case, notes, proposes and records any of the case's remedies
--   co-owner               notes; proposes remedies and records its own (and the case moves they
--                          bring: remedy_proposed, remedy_accepted, ...)
--   informed               reads and notes
-- Ownership decides who sees a complainant's case, so it is the mechanism's decision (triage's,
-- or staff's), never one member's. The caller is the session's login role (session_user): a team
-- acts through its member's team role, staff through membership of redress_staff. Each returns
-- the case's status before and after and a one-line account of what was done.

-- A remedy's own steps and the case move each brings (NULL: none).
CREATE TABLE remedy_step (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    case_status case_status,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO remedy_step VALUES
    ('offered', 'accepted', 'remedy_accepted'),
    ('offered', 'declined', 'remedy_declined'),
    ('accepted', 'implemented', 'remedy_implemented'),
    ('implemented', 'verified', NULL);
GRANT SELECT ON remedy_step TO redress_staff, redress_teams, redress_regulator;

-- The member that proposed a remedy (NULL: staff), so a co-owner records only its own.
ALTER TABLE remedy ADD COLUMN member_id bigint REFERENCES member(id);

-- The caller's standing on a case: 'staff', its strongest owner role and member, or no row.
CREATE FUNCTION case_caller(p_case bigint) RETURNS TABLE (role text, member_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT 'staff', NULL::bigint WHERE pg_has_role(session_user, 'redress_staff', 'MEMBER')
    UNION ALL
    (SELECT o.role, o.member_id FROM case_owner o JOIN member m ON m.id = o.member_id
     JOIN pg_roles r ON r.rolname = m.team_role
     WHERE o.case_id = p_case AND pg_has_role(session_user, r.oid, 'MEMBER')
     ORDER BY array_position(ARRAY['lead', 'co-owner', 'informed'], o.role) LIMIT 1)
    LIMIT 1
$$;
REVOKE ALL ON FUNCTION case_caller(bigint) FROM PUBLIC;

-- Locks the case for a change by a caller whose standing is in allowed. Standing is checked
-- before the lock (a caller with none never waits on, or holds, another's case) and again after.
CREATE FUNCTION case_lock_for(p_case bigint, p_allowed text[], p_what text,
                              OUT status case_status, OUT reference text, OUT role text,
                              OUT member_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    FOR i IN 1..2 LOOP
        SELECT k.role, k.member_id INTO role, member_id FROM case_caller(p_case) k;
        IF role IS NULL THEN
            RAISE EXCEPTION 'no case % (or you may not see it)', p_case USING ERRCODE = '42501';
        END IF;
        IF i = 1 THEN
            SELECT c.status, c.reference INTO status, reference FROM remedy_case c
            WHERE c.id = p_case FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no case % (or you may not see it)', p_case USING ERRCODE = '42501';
            END IF;
        END IF;
    END LOOP;
    IF NOT (role = ANY (p_allowed)) THEN
        RAISE EXCEPTION 'case %: as % you may not %', reference, role, p_what USING ERRCODE = '42501';
    END IF;
END $$;
REVOKE ALL ON FUNCTION case_lock_for(bigint, text[], text) FROM PUBLIC;

CREATE FUNCTION case_text_check(p_text text, p_what text, p_max integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = public, pg_temp AS $$
BEGIN
    IF p_text IS NULL OR btrim(p_text) = '' OR octet_length(p_text) > p_max THEN
        RAISE EXCEPTION '% must have 1 to % bytes', p_what, p_max USING ERRCODE = '22023';
    END IF;
    RETURN p_text;
END $$;

-- Moves a locked case from p_from to p_to: the move must be in case_transition, with a reason
-- where it requires one; writes the 'transition' event. For the functions below only.
CREATE FUNCTION case_status_move(p_case bigint, p_ref text, p_from case_status, p_to case_status,
                                 p_reason text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    needs_reason boolean;
BEGIN
    SELECT t.reason_required INTO needs_reason FROM case_transition t
    WHERE t.from_status = p_from AND t.to_status = p_to;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'case % cannot move from % to % (allowed from %: %)', p_ref, p_from, p_to,
            p_from, coalesce((SELECT string_agg(t.to_status::text, ', ' ORDER BY t.to_status)
                              FROM case_transition t WHERE t.from_status = p_from), 'none')
            USING ERRCODE = 'P0002';
    END IF;
    IF needs_reason AND (p_reason IS NULL OR btrim(p_reason) = '') THEN
        RAISE EXCEPTION 'moving case % to % needs a reason', p_ref, p_to USING ERRCODE = '22023';
    END IF;
    UPDATE remedy_case SET status = p_to WHERE id = p_case;
    INSERT INTO case_event (case_id, action, from_status, to_status, note)
    VALUES (p_case, 'transition', p_from, p_to, p_reason);
END $$;
REVOKE ALL ON FUNCTION case_status_move(bigint, text, case_status, case_status, text) FROM PUBLIC;

-- Staff and the lead move a case; p_reason is stored with the move (required where
-- case_transition says so).
CREATE FUNCTION case_move(p_case bigint, p_to case_status, p_reason text DEFAULT NULL)
RETURNS TABLE (from_status case_status, status case_status, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    c record;
BEGIN
    SELECT * INTO c FROM case_lock_for(p_case, ARRAY['staff', 'lead'], 'move the case');
    IF p_reason IS NOT NULL THEN
        PERFORM case_text_check(p_reason, 'the reason', 10000);
    END IF;
    PERFORM case_status_move(p_case, c.reference, c.status, p_to, p_reason);
    RETURN QUERY SELECT c.status, p_to, NULL::text;
END $$;

-- Any owner and staff add a note to the case's audit trail.
CREATE FUNCTION case_note_add(p_case bigint, p_note text)
RETURNS TABLE (from_status case_status, status case_status, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    c record;
BEGIN
    SELECT * INTO c
    FROM case_lock_for(p_case, ARRAY['staff', 'lead', 'co-owner', 'informed'], 'add notes');
    INSERT INTO case_event (case_id, action, note)
    VALUES (p_case, 'note', case_text_check(p_note, 'the note', 10000));
    RETURN QUERY SELECT c.status, c.status, NULL::text;
END $$;

-- Staff make member p_member (a slug) an owner, or change its role. A new lead replaces the old
-- one, who stays as co-owner; a case waiting for owners moves to assigned (unless the new owner is
-- only informed).
CREATE FUNCTION case_owner_set(p_case bigint, p_member text, p_role text, p_involvement text)
RETURNS TABLE (from_status case_status, status case_status, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    c record;
    mid bigint;
    what text;
    now_status case_status;
BEGIN
    SELECT * INTO c FROM case_lock_for(p_case, ARRAY['staff'], 'assign owners');
    now_status := c.status;
    IF p_role IS NULL OR p_role NOT IN ('lead', 'co-owner', 'informed') THEN
        RAISE EXCEPTION 'the role must be lead, co-owner or informed' USING ERRCODE = '22023';
    END IF;
    IF p_involvement IS NULL OR p_involvement NOT IN ('caused', 'contributed', 'linked') THEN
        RAISE EXCEPTION 'the involvement must be caused, contributed or linked' USING ERRCODE = '22023';
    END IF;
    SELECT m.id INTO mid FROM member m WHERE m.slug = p_member;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no member ''%''', p_member USING ERRCODE = '22023';
    END IF;
    IF p_role = 'lead' THEN
        UPDATE case_owner o SET role = 'co-owner'
        WHERE o.case_id = p_case AND o.role = 'lead' AND o.member_id <> mid;
        UPDATE remedy_case SET lead_member_id = mid WHERE id = p_case;
    ELSE
        UPDATE remedy_case SET lead_member_id = NULL WHERE id = p_case AND lead_member_id = mid;
    END IF;
    INSERT INTO case_owner AS o (case_id, member_id, role, involvement, assigned_at, assigned_by)
    VALUES (p_case, mid, p_role, p_involvement, now(), session_user)
    ON CONFLICT (case_id, member_id) DO UPDATE SET role = EXCLUDED.role,
        involvement = EXCLUDED.involvement, assigned_at = now(), assigned_by = session_user;
    what := format('%s as %s (%s)', p_member, p_role, p_involvement);
    INSERT INTO case_event (case_id, action, note) VALUES (p_case, 'assigned', what);
    IF p_role <> 'informed' AND EXISTS (SELECT 1 FROM case_transition t
                                        WHERE t.from_status = c.status AND t.to_status = 'assigned') THEN
        PERFORM case_status_move(p_case, c.reference, c.status, 'assigned', NULL);
        now_status := 'assigned';
    END IF;
    RETURN QUERY SELECT c.status, now_status, what;
END $$;

-- Staff remove member p_member from the owners (the case loses its lead if it was the lead).
CREATE FUNCTION case_owner_remove(p_case bigint, p_member text, p_reason text)
RETURNS TABLE (from_status case_status, status case_status, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    c record;
    mid bigint;
    what text;
BEGIN
    SELECT * INTO c FROM case_lock_for(p_case, ARRAY['staff'], 'unassign owners');
    PERFORM case_text_check(p_reason, 'the reason', 10000);
    DELETE FROM case_owner o USING member m
    WHERE o.case_id = p_case AND m.id = o.member_id AND m.slug = p_member
    RETURNING o.member_id INTO mid;
    IF mid IS NULL THEN
        RAISE EXCEPTION 'member ''%'' does not own case %', p_member, c.reference USING ERRCODE = '22023';
    END IF;
    UPDATE remedy_case SET lead_member_id = NULL WHERE id = p_case AND lead_member_id = mid;
    what := format('%s removed: %s', p_member, p_reason);
    INSERT INTO case_event (case_id, action, note) VALUES (p_case, 'unassigned', what);
    RETURN QUERY SELECT c.status, c.status, format('%s removed', p_member);
END $$;

-- Staff, the lead and co-owners offer a remedy; the case moves to remedy_proposed.
CREATE FUNCTION remedy_propose(p_case bigint, p_type text, p_details text)
RETURNS TABLE (from_status case_status, status case_status, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    c record;
    rid bigint;
    what text;
BEGIN
    SELECT * INTO c FROM case_lock_for(p_case, ARRAY['staff', 'lead', 'co-owner'], 'propose remedies');
    IF p_type IS NULL OR p_type NOT IN ('restoration', 'correction', 'apology', 'compensation',
                                        'policy_change', 'non_repetition', 'referral') THEN
        RAISE EXCEPTION 'the remedy type must be one of restoration, correction, apology, '
            'compensation, policy_change, non_repetition, referral' USING ERRCODE = '22023';
    END IF;
    INSERT INTO remedy (case_id, type, details, proposed_by, proposed_at, member_id)
    VALUES (p_case, p_type, case_text_check(p_details, 'the details', 10000), session_user, now(),
            c.member_id)
    RETURNING id INTO rid;
    what := format('remedy %s proposed: %s', rid, p_type);
    INSERT INTO case_event (case_id, action, note) VALUES (p_case, 'remedy', what);
    PERFORM case_status_move(p_case, c.reference, c.status, 'remedy_proposed', NULL);
    RETURN QUERY SELECT c.status, 'remedy_proposed'::case_status, what;
END $$;

-- Records the complainant's answer or the remedy's progress on the case's latest remedy (or
-- p_remedy): staff and the lead on any, a co-owner on its own. The case moves as remedy_step says.
CREATE FUNCTION remedy_record(p_case bigint, p_outcome text, p_note text DEFAULT NULL,
                              p_remedy bigint DEFAULT NULL)
RETURNS TABLE (from_status case_status, status case_status, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    c record;
    r record;
    step record;
    what text;
BEGIN
    SELECT * INTO c FROM case_lock_for(p_case, ARRAY['staff', 'lead', 'co-owner'], 'record remedies');
    SELECT x.id, x.status, x.member_id INTO r FROM remedy x
    WHERE x.case_id = p_case AND (p_remedy IS NULL OR x.id = p_remedy)
    ORDER BY x.id DESC LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'case % has no remedy%; propose one first', c.reference,
            CASE WHEN p_remedy IS NULL THEN '' ELSE ' ' || p_remedy END USING ERRCODE = '22023';
    END IF;
    IF c.role = 'co-owner' AND r.member_id IS DISTINCT FROM c.member_id THEN
        RAISE EXCEPTION 'case %: a co-owner records only the remedies its member proposed', c.reference
            USING ERRCODE = '42501';
    END IF;
    SELECT s.case_status INTO step FROM remedy_step s
    WHERE s.from_status = r.status AND s.to_status = p_outcome;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'remedy % of case % is %; it cannot be recorded as %', r.id, c.reference,
            r.status, p_outcome USING ERRCODE = 'P0002';
    END IF;
    IF p_note IS NOT NULL THEN
        PERFORM case_text_check(p_note, 'the note', 10000);
    END IF;
    UPDATE remedy SET status = p_outcome,
        accepted_at = CASE WHEN p_outcome = 'accepted' THEN now() ELSE accepted_at END,
        declined_at = CASE WHEN p_outcome = 'declined' THEN now() ELSE declined_at END,
        implemented_at = CASE WHEN p_outcome = 'implemented' THEN now() ELSE implemented_at END,
        verified_at = CASE WHEN p_outcome = 'verified' THEN now() ELSE verified_at END
    WHERE id = r.id;
    what := format('remedy %s %s', r.id, p_outcome);
    INSERT INTO case_event (case_id, action, note)
    VALUES (p_case, 'remedy', what || coalesce(': ' || p_note, ''));
    IF step.case_status IS NOT NULL THEN
        PERFORM case_status_move(p_case, c.reference, c.status, step.case_status, NULL);
    END IF;
    RETURN QUERY SELECT c.status, coalesce(step.case_status, c.status), what;
END $$;

-- Staff add a member of the joint mechanism and its team role team_<slug> ('-' as '_').
CREATE FUNCTION member_add(p_slug text, p_name text, p_sector text, p_countries text[],
                           p_services text[])
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    role_name text := 'team_' || replace(p_slug, '-', '_');
BEGIN
    IF EXISTS (SELECT 1 FROM member WHERE slug = p_slug) THEN
        RAISE EXCEPTION 'member ''%'' already exists', p_slug USING ERRCODE = '23505';
    END IF;
    INSERT INTO member (slug, name, sector, countries, services, team_role)
    VALUES (p_slug, p_name, p_sector, coalesce(p_countries, '{}'), coalesce(p_services, '{}'), role_name);
    PERFORM member_team_role_ensure(role_name);
    RETURN role_name;
END $$;

REVOKE ALL ON FUNCTION case_move(bigint, case_status, text), case_note_add(bigint, text),
    case_owner_set(bigint, text, text, text), case_owner_remove(bigint, text, text),
    remedy_propose(bigint, text, text), remedy_record(bigint, text, text, bigint),
    member_add(text, text, text, text[], text[]), member_team_role_ensure(text) FROM PUBLIC,
    redress_staff;
GRANT EXECUTE ON FUNCTION case_move(bigint, case_status, text), case_note_add(bigint, text),
    remedy_propose(bigint, text, text), remedy_record(bigint, text, text, bigint)
    TO redress_staff, redress_teams;
GRANT EXECUTE ON FUNCTION case_owner_set(bigint, text, text, text),
    case_owner_remove(bigint, text, text), member_add(text, text, text, text[], text[])
    TO redress_staff;

-- Nobody but these functions and triage writes the case record. TRUNCATE, REFERENCES and TRIGGER
-- were never granted; the grievance is written by intake_submit only.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
    ON member, grievance, remedy_case, case_owner, triage_decision, remedy, case_event
    FROM redress_staff, redress_teams, redress_regulator;
REVOKE USAGE ON SEQUENCE member_id_seq, remedy_case_id_seq, triage_decision_id_seq, remedy_id_seq,
    grievance_id_seq FROM redress_staff, redress_teams, redress_regulator;
DROP POLICY team_write ON case_event;
DROP POLICY team_write ON remedy;
DROP POLICY team_update ON remedy;

-- ---------------------------------------------------------------------------------------------
-- 6. Consent. A team sees a grievance of its case only when the complainant agreed to share it
-- with members (the case's own figures, counts included, stay). A regulator reads grievances only
-- through grievance_for_regulator: the skeleton (dates, channel, country, category, estimate,
-- complainant type) of every grievance, every free-text or personal field only with
-- share_with_regulator.
DROP POLICY team_own ON grievance;
CREATE POLICY team_own ON grievance FOR SELECT TO redress_teams
    USING (share_with_members AND case_id IN (SELECT redress_owned_cases(current_user)));

DROP POLICY regulator_read ON grievance;
REVOKE ALL ON grievance FROM redress_regulator;
CREATE VIEW grievance_for_regulator AS
SELECT g.id, g.received_at, g.channel, g.country, g.category, g.people_affected, g.ongoing,
       g.started_on, g.complainant_type, g.share_with_regulator, g.case_id, g.triaged_at,
       CASE WHEN g.share_with_regulator THEN g.language END AS language,
       CASE WHEN g.share_with_regulator THEN g.rights END AS rights,
       CASE WHEN g.share_with_regulator THEN g.companies END AS companies,
       CASE WHEN g.share_with_regulator THEN g.services END AS services,
       CASE WHEN g.share_with_regulator THEN g.vulnerability END AS vulnerability
FROM grievance g;
GRANT SELECT ON grievance_for_regulator TO redress_regulator, redress_staff;

-- ---------------------------------------------------------------------------------------------
-- 7. A mechanism-wide anchor. Each case's chain only vouches for its own past: deleting a case's
-- last events leaves a shorter chain that still verifies. A checkpoint records every chain's head
-- (case, seq, hash) and a digest over them all: SHA-256 of the lines "case_id|seq|hash-hex\n" in
-- case order. The digest is printed by `redressctl audit checkpoint` and written into every export
-- manifest, so it lives outside the database; `redressctl audit verify --since CHECKPOINT` then
-- finds any recorded head that was deleted or rewritten, and recomputes the digest from the
-- stored heads so the checkpoint itself cannot be edited unseen.
CREATE TABLE audit_checkpoint (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT session_user,
    cases       bigint NOT NULL,
    events      bigint NOT NULL,
    digest      text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$')
);
CREATE TABLE audit_checkpoint_head (
    checkpoint_id bigint NOT NULL REFERENCES audit_checkpoint(id) DEFERRABLE INITIALLY DEFERRED,
    case_id       bigint NOT NULL,             -- no foreign key: a deleted case is still named
    seq           integer NOT NULL,
    hash          bytea NOT NULL,
    PRIMARY KEY (checkpoint_id, case_id)
);
ALTER TABLE audit_checkpoint ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoint FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoint_head ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoint_head FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_read ON audit_checkpoint FOR SELECT TO redress_staff, redress_regulator USING (true);
CREATE POLICY audit_read ON audit_checkpoint_head FOR SELECT TO redress_staff, redress_regulator
    USING (true);
GRANT SELECT ON audit_checkpoint, audit_checkpoint_head TO redress_staff, redress_regulator;
-- A regulator verifies the links of every chain and a checkpoint's heads (never a note or actor).
GRANT SELECT (hash, prev_hash) ON case_event TO redress_regulator;

-- Records a checkpoint of every chain as the caller's snapshot sees them: each case's last event,
-- one index probe per case.
CREATE FUNCTION audit_checkpoint_create()
RETURNS TABLE (id bigint, created_at timestamptz, cases bigint, events bigint, digest text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
DECLARE
    cid bigint := nextval('audit_checkpoint_id_seq');
BEGIN
    INSERT INTO audit_checkpoint_head (checkpoint_id, case_id, seq, hash)
    SELECT cid, c.id, e.seq, e.hash FROM remedy_case c
    CROSS JOIN LATERAL (SELECT x.seq, x.hash FROM case_event x WHERE x.case_id = c.id
                        ORDER BY x.seq DESC LIMIT 1) e;
    RETURN QUERY
    INSERT INTO audit_checkpoint AS a (id, cases, events, digest)
    SELECT cid, count(*), coalesce(sum(h.seq), 0),
           encode(sha256(convert_to(coalesce(string_agg(h.case_id || '|' || h.seq || '|'
               || encode(h.hash, 'hex') || E'\n', '' ORDER BY h.case_id), ''), 'UTF8')), 'hex')
    FROM audit_checkpoint_head h WHERE h.checkpoint_id = cid
    RETURNING a.id, a.created_at, a.cases, a.events, a.digest;
END $$;

-- Every export's manifest, recorded with a checkpoint taken in the export's own snapshot. Who and
-- when are the database's; only what the caller wrote (file name, rows, SHA-256, filter) is its.
ALTER TABLE export_manifest ADD COLUMN checkpoint_id bigint REFERENCES audit_checkpoint(id);
CREATE FUNCTION export_manifest_record(p_kind text, p_file_name text, p_row_count bigint,
                                       p_sha256 text, p_filter jsonb, p_with_narrative boolean)
RETURNS TABLE (id bigint, created_at timestamptz, created_by text, checkpoint_id bigint,
               checkpoint_digest text, checkpoint_cases bigint, checkpoint_events bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cp record;
BEGIN
    SELECT * INTO cp FROM audit_checkpoint_create();
    RETURN QUERY
    INSERT INTO export_manifest AS m (kind, file_name, row_count, sha256, filter, with_narrative,
                                      created_at, created_by, checkpoint_id)
    VALUES (p_kind, p_file_name, p_row_count, p_sha256, p_filter, coalesce(p_with_narrative, false),
            now(), session_user, cp.id)
    RETURNING m.id, m.created_at, m.created_by, cp.id, cp.digest, cp.cases, cp.events;
END $$;

REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON export_manifest
    FROM redress_staff, redress_teams, redress_regulator;
REVOKE USAGE ON SEQUENCE export_manifest_id_seq FROM redress_staff, redress_teams, redress_regulator;

-- ---------------------------------------------------------------------------------------------
-- 8. Erasure (GDPR Art. 17) and retention. Erasing a grievance removes its contact, its narrative
-- and the request hash made from them; its statistical skeleton (category, country, dates,
-- people affected, complainant type, consent flags, its case with band and outcome) stays, and
-- the erasure is an event in its case's audit trail (which holds no narrative, so it verifies as
-- before). The immutability trigger permits exactly this change, once, and nothing else.
ALTER TABLE grievance ADD COLUMN erased_at timestamptz;
ALTER TABLE grievance DROP CONSTRAINT grievance_description_check;
ALTER TABLE grievance ALTER COLUMN description DROP NOT NULL;
ALTER TABLE grievance ADD CONSTRAINT grievance_description_check CHECK (CASE
    WHEN erased_at IS NULL THEN description IS NOT NULL AND length(description) BETWEEN 1 AND 20000
    ELSE description IS NULL AND contact_enc IS NULL AND request_hash IS NULL END);
-- When a closed case's grievances were erased by the retention sweep (it looks at each case once).
ALTER TABLE remedy_case ADD COLUMN retention_erased_at timestamptz;
CREATE INDEX remedy_case_retention ON remedy_case (closed_at)
    WHERE closed_at IS NOT NULL AND retention_erased_at IS NULL;

CREATE OR REPLACE FUNCTION grievance_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL
       AND NEW.contact_enc IS NULL AND NEW.description IS NULL AND NEW.request_hash IS NULL
       AND (to_jsonb(NEW) - ARRAY['erased_at', 'contact_enc', 'description', 'request_hash'])
           = (to_jsonb(OLD) - ARRAY['erased_at', 'contact_enc', 'description', 'request_hash']) THEN
        RETURN NEW;  -- an erasure: nothing but those four columns changes
    END IF;
    RAISE EXCEPTION 'grievance % is immutable', OLD.reference USING ERRCODE = 'P0001';
END $$;
DROP TRIGGER grievance_immutable ON grievance;
CREATE TRIGGER grievance_immutable BEFORE UPDATE OF id, reference, received_at, channel, language,
        country, category, rights, description, companies, services, people_affected, ongoing,
        started_on, vulnerability, complainant_type, share_with_members, share_with_regulator,
        contact_enc, receipt_hash, idempotency_key, request_hash, erased_at ON grievance
    FOR EACH ROW EXECUTE FUNCTION grievance_immutable();

-- The regulator's narrative skips erased grievances (the next consented one speaks for the case).
CREATE OR REPLACE FUNCTION case_narrative(case_id bigint) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT g.description FROM grievance g
    WHERE g.case_id = case_narrative.case_id AND g.share_with_regulator AND g.erased_at IS NULL
      AND (pg_has_role(session_user, 'redress_staff', 'MEMBER')
           OR pg_has_role(session_user, 'redress_regulator', 'MEMBER'))
    ORDER BY g.received_at, g.id LIMIT 1
$$;

-- Staff erase one grievance on request (its reference in canonical form), with the reason in the
-- case's audit trail. A grievance not yet in a case is refused: triage places it within seconds,
-- and the erasure must be an event of its case.
CREATE FUNCTION grievance_erase(p_reference text, p_reason text)
RETURNS TABLE (reference text, case_reference text, erased_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g record;
    c record;
BEGIN
    PERFORM case_text_check(p_reason, 'the reason', 10000);
    SELECT x.id, x.case_id, x.erased_at INTO g FROM grievance x WHERE x.reference = p_reference
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no grievance %', p_reference USING ERRCODE = '22023';
    ELSIF g.erased_at IS NOT NULL THEN
        RAISE EXCEPTION 'grievance % was already erased at %', p_reference, g.erased_at
            USING ERRCODE = '22023';
    ELSIF g.case_id IS NULL THEN
        RAISE EXCEPTION 'grievance % is not in a case yet; erase it once triage has placed it',
            p_reference USING ERRCODE = '55000';
    END IF;
    SELECT * INTO c FROM case_lock_for(g.case_id, ARRAY['staff'], 'erase grievances');
    UPDATE grievance SET erased_at = now(), contact_enc = NULL, description = NULL,
                         request_hash = NULL WHERE id = g.id;
    INSERT INTO case_event (case_id, action, note)
    VALUES (g.case_id, 'erased', format('grievance %s erased: %s', p_reference, p_reason));
    RETURN QUERY SELECT p_reference, c.reference, now();
END $$;

-- The retention sweep: erases the grievances of cases closed (closed, rejected or referred) longer
-- ago than their category's period, p_days = {"default": days, "<category>": days, ...}; a period
-- of 0 or none keeps them. At most p_limit cases a call, skipping cases another session holds.
-- One 'erased' event per case. Returns the number of grievances erased. redress-triage calls it
-- from its periodic sweep with the config's [retention] periods.
CREATE FUNCTION retention_sweep(p_days jsonb, p_limit integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    shortest integer;
    c record;
    n integer;
    total integer := 0;
BEGIN
    IF jsonb_typeof(p_days) IS DISTINCT FROM 'object' OR EXISTS (
        SELECT 1 FROM jsonb_each(p_days) d
        WHERE jsonb_typeof(d.value) <> 'number' OR d.value::text !~ '^[0-9]{1,5}$') THEN
        RAISE EXCEPTION 'retention periods must be an object of whole days' USING ERRCODE = '22023';
    END IF;
    SELECT min(d.value::text::int) INTO shortest FROM jsonb_each(p_days) d WHERE d.value::text::int > 0;
    IF shortest IS NULL THEN
        RETURN 0;
    END IF;
    FOR c IN
        SELECT x.id, x.category, p.days FROM remedy_case x
        CROSS JOIN LATERAL (SELECT coalesce((p_days ->> x.category)::int,
                                            (p_days ->> 'default')::int, 0) AS days) p
        WHERE x.closed_at IS NOT NULL AND x.retention_erased_at IS NULL
          AND x.closed_at < now() - make_interval(days => shortest)
          AND p.days > 0 AND x.closed_at < now() - make_interval(days => p.days)
        ORDER BY x.closed_at LIMIT p_limit
        FOR UPDATE OF x SKIP LOCKED
    LOOP
        UPDATE grievance SET erased_at = now(), contact_enc = NULL, description = NULL,
                             request_hash = NULL
        WHERE case_id = c.id AND erased_at IS NULL;
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE remedy_case SET retention_erased_at = now() WHERE id = c.id;
        IF n > 0 THEN
            INSERT INTO case_event (case_id, action, note)
            VALUES (c.id, 'erased', format('%s grievance(s) erased: the retention period for %s '
                                           '(%s days after closing) ended', n, c.category, c.days));
        END IF;
        total := total + n;
    END LOOP;
    RETURN total;
END $$;

-- ---------------------------------------------------------------------------------------------
-- 9. Functions: none EXECUTE-able by PUBLIC (a SECURITY DEFINER one would run with its owner's
-- rights for anyone); each role gets what it calls.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON FUNCTION case_next_deadline(case_status, timestamptz, timestamptz, timestamptz)
    TO redress_staff, redress_teams, redress_regulator, redress_triage;
GRANT EXECUTE ON FUNCTION case_event_hash(bytea, bigint, integer, timestamptz, text, text,
                                          case_status, case_status, text) TO redress_staff;
GRANT EXECUTE ON FUNCTION audit_checkpoint_create() TO redress_staff, redress_regulator;
GRANT EXECUTE ON FUNCTION export_manifest_record(text, text, bigint, text, jsonb, boolean)
    TO redress_staff, redress_regulator, redress_teams;
GRANT EXECUTE ON FUNCTION grievance_erase(text, text) TO redress_staff;
GRANT EXECUTE ON FUNCTION retention_sweep(jsonb, integer) TO redress_triage, redress_staff;
GRANT EXECUTE ON FUNCTION member_sessions_reap() TO redress_triage;
