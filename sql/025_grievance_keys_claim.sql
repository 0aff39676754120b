-- Intake write costs (issue 10): the key claim of 016 once per statement instead of once per row.
--
-- 016's row trigger grievance_key_claim ran a PL/pgSQL function for every grievance stored: a
-- SECURITY DEFINER call with its own search_path and enable_seqscan (a GUC nest level pushed and
-- popped per row), an SPI statement and an index probe. For the intake's batches, whose keys
-- intake_submit_rows has just claimed, all of that finds the key already there: it was about a
-- quarter of PostgreSQL's time per stored row (perf, 64-row batches).
--
-- The same rule, set-wise: after each INSERT statement on grievance, one statement claims the keys
-- of every row it stored that grievance_key does not already hold exactly (same id, reference,
-- month and idempotency key). A key another grievance holds is the unique violation it always
-- was, and it aborts the statement that stored the row. The transition table holds only the rows
-- of this statement; the probes go through grievance_key's primary key, whatever the statistics
-- were when the plan was made (the GUCs below: a hash join would read all of grievance_key).
--
-- One difference from a row trigger: the key exists at the end of the INSERT statement, not
-- before each row. Nothing in one statement both stores a grievance outside intake_submit_rows and
-- refers to its key (foreign keys point at grievance_key(id)); a later statement sees it.
DROP TRIGGER grievance_key_claim ON grievance;
DROP FUNCTION grievance_key_claim();

CREATE FUNCTION grievance_keys_claim() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    INSERT INTO grievance_key (id, reference, idempotency_key, received_at)
    SELECT n.id, n.reference, n.idempotency_key, n.received_at FROM stored n
    WHERE NOT EXISTS (SELECT 1 FROM grievance_key k
                      WHERE k.id = n.id AND k.reference = n.reference
                        AND k.received_at = n.received_at
                        AND k.idempotency_key IS NOT DISTINCT FROM n.idempotency_key);
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION grievance_keys_claim() FROM PUBLIC;

CREATE TRIGGER grievance_keys_claim AFTER INSERT ON grievance REFERENCING NEW TABLE AS stored
    FOR EACH STATEMENT EXECUTE FUNCTION grievance_keys_claim();
