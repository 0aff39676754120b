-- The audit chain's head per case (issue #10, item 6): appending an event no longer searches every
-- month of case_event for the case's last event.
--
-- case_event_chain() (001, 006, 015) found an event's predecessor with ORDER BY seq DESC LIMIT 1
-- over the partitioned case_event: no time bound, so one index probe in every month partition and
-- the default one, planned and started per event. Measured with bench/triage.py's backlog (62,800
-- events, nearly all the first of a new case): ~45 us of the ~100 us an event cost, and the case's
-- row lock and an un-inlined case_event_hash() call most of the rest.
--
-- Now each case's last seq and hash are kept in case_event_head, written by the trigger alone:
--   * a case with a head: one UPDATE of its head row, which is the chain's lock as the case's row
--     was (only this SECURITY DEFINER trigger can touch the table: no grants, row-level security
--     forced without a policy), and whose old values are the predecessor;
--   * a case without one: the old way, under the case's row lock (FOR NO KEY UPDATE), which also
--     serialises two first appends; the head row is then made. A case this very transaction
--     opened (its row's xmin is ours and opened_at is now()) cannot have an event yet: another
--     transaction could not have named it, so the search over the months is skipped.
-- The head is what the trigger last wrote. Events written with the triggers off (a superuser
-- with session_replication_role = replica or DISABLE TRIGGER) do not move it: a later event then
-- chains on to the trigger's last one, so seq repeats or prev_hash does not match, and `redressctl
-- audit verify` reports the break exactly as it reports any other tampering. A case whose events
-- were all written with the triggers off (history loaded from elsewhere) has no head and is
-- chained the old way.
--
-- case_event_hash() is declared STABLE instead of IMMUTABLE: it calls concat_ws and convert_to,
-- which are STABLE, so PostgreSQL would not inline it and ran it as a SQL function call per
-- event. Same body, same results; only its inlining changes.

CREATE TABLE case_event_head (
    case_id  bigint PRIMARY KEY,   -- no foreign key: case_event's own names the case
    seq      integer NOT NULL,
    hash     bytea NOT NULL,
    prev_hash bytea                -- the head's predecessor's hash (what RETURNING hands back)
);
ALTER TABLE case_event_head ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_event_head FORCE ROW LEVEL SECURITY;
REVOKE ALL ON case_event_head FROM PUBLIC;

-- Emptying case_event (a test's reset, a restore) empties the heads too: a head without its event
-- would be chained on to by the case that next gets that id.
CREATE FUNCTION case_event_head_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    TRUNCATE case_event_head;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION case_event_head_truncate() FROM PUBLIC;
CREATE TRIGGER case_event_head_truncate AFTER TRUNCATE ON case_event
    FOR EACH STATEMENT EXECUTE FUNCTION case_event_head_truncate();

-- Existing chains: the last event of each case.
INSERT INTO case_event_head (case_id, seq, hash, prev_hash)
SELECT DISTINCT ON (case_id) case_id, seq, hash, prev_hash
FROM case_event ORDER BY case_id, seq DESC;

ALTER FUNCTION case_event_hash(bytea, bigint, integer, timestamptz, text, text, case_status,
                               case_status, text) STABLE;

-- enable_seqscan = off, as before: every look-up here is an index probe whatever the statistics
-- said when the session planned it. A 'created' event tries the fresh case's head first, any
-- other event the head's update: each is one statement on the paths triage takes by the
-- thousand, and either order gives the same chain.
CREATE OR REPLACE FUNCTION case_event_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
DECLARE
    last_seq integer;
    last_hash bytea;
BEGIN
    NEW.at := date_trunc('microseconds', now());
    NEW.actor := session_user;
    IF NEW.action = 'created' THEN
        -- A case this transaction opened (its row's xmin is ours, opened_at is now()) has no
        -- event unless this transaction wrote one, which made its head (ON CONFLICT: not fresh).
        INSERT INTO case_event_head (case_id, seq, hash)
        SELECT c.id, 1, case_event_hash(NULL, c.id, 1, NEW.at, NEW.actor, NEW.action,
                                        NEW.from_status, NEW.to_status, NEW.note)
        FROM remedy_case c
        WHERE c.id = NEW.case_id AND c.xmin = xid(pg_current_xact_id()) AND c.opened_at = now()
        ON CONFLICT (case_id) DO NOTHING
        RETURNING seq, hash INTO NEW.seq, NEW.hash;
        IF FOUND THEN
            NEW.prev_hash := NULL;
            RETURN NEW;
        END IF;
    END IF;
    -- The head's update. No head: a case's first event, or a chain written without the trigger;
    -- then once more under the case's row lock, which serialises first appends (one that waited
    -- sees the other's head once it holds the lock).
    FOR attempt IN 1..2 LOOP
        IF attempt = 2 THEN
            PERFORM 1 FROM remedy_case c WHERE c.id = NEW.case_id FOR NO KEY UPDATE;
        END IF;
        UPDATE case_event_head h
        SET seq = h.seq + 1, prev_hash = h.hash,
            hash = case_event_hash(h.hash, h.case_id, h.seq + 1, NEW.at, NEW.actor, NEW.action,
                                   NEW.from_status, NEW.to_status, NEW.note)
        WHERE h.case_id = NEW.case_id
        RETURNING h.seq, h.prev_hash, h.hash INTO NEW.seq, NEW.prev_hash, NEW.hash;
        IF FOUND THEN
            RETURN NEW;
        END IF;
    END LOOP;
    SELECT e.seq, e.hash INTO last_seq, last_hash FROM case_event e
    WHERE e.case_id = NEW.case_id ORDER BY e.seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := last_hash;
    NEW.hash := case_event_hash(NEW.prev_hash, NEW.case_id, NEW.seq, NEW.at, NEW.actor, NEW.action,
                                NEW.from_status, NEW.to_status, NEW.note);
    INSERT INTO case_event_head (case_id, seq, hash, prev_hash)
    VALUES (NEW.case_id, NEW.seq, NEW.hash, NEW.prev_hash);
    RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION case_event_chain() FROM PUBLIC;
