-- Integrity of the case record (issue 7): no member can rewrite, hide or block it.
--
--   1. case_event ids, sequence numbers, times, actors and hashes come from the database alone.
--   2. The chain serialises on a head row that only the (SECURITY DEFINER) trigger can lock; the
--      advisory-lock functions are not callable by the application roles; every role has lock,
--      statement and idle-in-transaction timeouts.
--   3. redress_intake may only EXECUTE intake_submit() and grievance_status() (SECURITY DEFINER);
--      redress_triage gets exactly the columns its statements name, and no DELETE.
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

-- 2. The head of every case's chain: its last seq and hash. The chain trigger locks this row (an
-- upsert) instead of taking an advisory lock that any login role could take first and hold. No
-- application role has any privilege on it, so only the trigger (SECURITY DEFINER) can lock it.
CREATE TABLE case_chain_head (
    case_id bigint PRIMARY KEY REFERENCES remedy_case(id),
    seq     integer NOT NULL,
    hash    bytea
);
INSERT INTO case_chain_head (case_id, seq, hash)
SELECT DISTINCT ON (case_id) case_id, seq, hash FROM case_event ORDER BY case_id, seq DESC;
ALTER TABLE case_chain_head ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_chain_head FORCE ROW LEVEL SECURITY;

-- Whatever the client sends, seq, prev_hash, hash, the time (the transaction's) and the actor (the
-- session's login role) are set here. id is GENERATED ALWAYS: a client naming it is refused.
CREATE OR REPLACE FUNCTION case_event_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    head record;
BEGIN
    INSERT INTO case_chain_head AS h (case_id, seq, hash) VALUES (NEW.case_id, 1, NULL)
    ON CONFLICT (case_id) DO UPDATE SET seq = h.seq + 1
    RETURNING h.seq, h.hash INTO head;           -- the new seq, the predecessor's hash
    NEW.seq := head.seq;
    NEW.prev_hash := head.hash;
    NEW.at := date_trunc('microseconds', now());
    NEW.actor := session_user;
    NEW.hash := case_event_hash(NEW.prev_hash, NEW.case_id, NEW.seq, NEW.at, NEW.actor, NEW.action,
                                NEW.from_status, NEW.to_status, NEW.note);
    UPDATE case_chain_head SET hash = NEW.hash WHERE case_id = NEW.case_id;
    RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION case_event_chain() FROM PUBLIC;

-- TRUNCATE case_event (the superuser's; nobody else may) starts every chain again.
CREATE FUNCTION case_event_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM case_chain_head;  -- not TRUNCATE: a CASCADE may be truncating it already
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION case_event_truncated() FROM PUBLIC;
CREATE TRIGGER case_event_truncated AFTER TRUNCATE ON case_event
    FOR EACH STATEMENT EXECUTE FUNCTION case_event_truncated();

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

CREATE FUNCTION team_role_limits(role_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER ROLE %I SET lock_timeout = %L', role_name, '5s');
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', role_name, '30s');
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', role_name, '5s');
END $$;
REVOKE ALL ON FUNCTION team_role_limits(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION member_team_role_ensure(role_name text) RETURNS void
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
-- 4. Functions: none EXECUTE-able by PUBLIC (a SECURITY DEFINER one would run with its owner's
-- rights for anyone); each role gets what it calls.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON FUNCTION case_next_deadline(case_status, timestamptz, timestamptz, timestamptz)
    TO redress_staff, redress_teams, redress_regulator, redress_triage;
GRANT EXECUTE ON FUNCTION case_event_hash(bytea, bigint, integer, timestamptz, text, text,
                                          case_status, case_status, text) TO redress_staff;

-- ---------------------------------------------------------------------------------------------
-- 5. The network-facing role: two SECURITY DEFINER functions and nothing else. intake_submit
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
