-- Intake write costs (issue 10): the intake's rows go straight into grievance, and the keys of
-- every INSERT into grievance are claimed once per statement instead of once per row.
--
-- Before (016, 017): intake_submit_rows first claimed each row's keys in grievance_key (ON
-- CONFLICT DO NOTHING), joined the claims back to its rows and stored those; then 016's row
-- trigger grievance_key_claim ran a PL/pgSQL function for every grievance stored (a SECURITY
-- DEFINER call with its own search_path and enable_seqscan, an SPI statement and an index probe)
-- only to find the key it had just claimed. Per stored row that was about a quarter of
-- PostgreSQL's time (perf, 64-row batches), and the claim, joins and sorts most of the rest beyond
-- the inserts themselves.
--
-- Now. grievance_keys_claim, an AFTER INSERT trigger FOR EACH STATEMENT over the transition table,
-- claims the keys of every row the statement stored with one INSERT into grievance_key. A
-- reference or an Idempotency-Key that another grievance holds is the unique violation it always
-- was (016), and it aborts the statement that stored the row. The key exists at the end of the
-- INSERT statement rather than before each row; foreign keys point at grievance_key(id), and no
-- statement both stores a grievance and refers to its key.
--
-- intake_submit_rows stores, in one statement, the rows whose Idempotency-Key (if any) is not
-- taken yet, and answers the others with the earlier row, as before. A batch that meets a key
-- taken meanwhile (a concurrent writer, two rows of one batch with the same key, a reference
-- collision) fails whole with 23505 and changes nothing; the intake then sends its rows one by
-- one (intake/batch.c): a replay then finds the earlier row, a collision gets a new reference.
DROP TRIGGER grievance_key_claim ON grievance;
DROP FUNCTION grievance_key_claim();

CREATE FUNCTION grievance_keys_claim() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO grievance_key (id, reference, idempotency_key, received_at)
    SELECT s.id, s.reference, s.idempotency_key, s.received_at FROM stored s;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION grievance_keys_claim() FROM PUBLIC;

CREATE TRIGGER grievance_keys_claim AFTER INSERT ON grievance REFERENCING NEW TABLE AS stored
    FOR EACH STATEMENT EXECUTE FUNCTION grievance_keys_claim();

-- Same signature, grants and answer as 017's.
CREATE OR REPLACE FUNCTION intake_submit_rows(
    refs text[], channels text[], languages text[], countries text[], categories text[],
    rights text[], descriptions text[], companies text[], services text[], people integer[],
    ongoing boolean[], started date[], vulnerability text[], complainant_types text[],
    share_members boolean[], share_regulator boolean[], contacts text[], receipt_hashes text[],
    idempotency_keys text[], request_hashes text[], immediate_danger boolean[],
    announce boolean DEFAULT true)
RETURNS TABLE (n integer, reference text, received_at timestamptz, stored boolean, request_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- Stored now: every row but those whose Idempotency-Key a grievance already holds. Rows go in
    -- the caller's order (sorted by key: two writers meet their keys in one order).
    RETURN QUERY
    WITH ins AS (
        INSERT INTO grievance AS g (reference, channel, language, country, category, rights,
            description, companies, services, people_affected, ongoing, started_on,
            vulnerability, complainant_type, share_with_members, share_with_regulator, contact_enc,
            receipt_hash, idempotency_key, request_hash, immediate_danger)
        SELECT r.reference, r.channel, r.language, r.country, r.category, r.rights::text[],
               r.description, r.companies::text[], r.services::text[], r.people_affected,
               r.ongoing, r.started_on, r.vulnerability::text[], r.complainant_type,
               r.share_with_members, r.share_with_regulator, decode(r.contact_enc, 'base64'),
               decode(r.receipt_hash, 'hex'), r.idempotency_key, decode(r.request_hash, 'hex'),
               r.immediate_danger
        FROM unnest(refs, channels, languages, countries, categories, rights, descriptions,
                    companies, services, people, ongoing, started, vulnerability,
                    complainant_types, share_members, share_regulator, contacts, receipt_hashes,
                    idempotency_keys, request_hashes, immediate_danger)
            WITH ORDINALITY AS r(reference, channel, language, country, category, rights,
                                 description, companies, services, people_affected, ongoing,
                                 started_on, vulnerability, complainant_type, share_with_members,
                                 share_with_regulator, contact_enc, receipt_hash, idempotency_key,
                                 request_hash, immediate_danger, ord)
        WHERE r.idempotency_key IS NULL
           OR NOT EXISTS (SELECT 1 FROM grievance_key k WHERE k.idempotency_key = r.idempotency_key)
        ORDER BY r.ord
        RETURNING g.reference, g.received_at)
    SELECT (u.ord - 1)::integer, ins.reference, ins.received_at, true, NULL::bytea
    FROM ins JOIN unnest(refs) WITH ORDINALITY AS u(reference, ord) ON u.reference = ins.reference;

    -- Replays: an index probe of grievance_key per keyed row, then one of the month its grievance
    -- is in. Skipped for a batch without keys (the common case).
    IF cardinality(array_remove(idempotency_keys, NULL)) > 0 THEN
        RETURN QUERY
        SELECT (r.ord - 1)::integer, g.reference, g.received_at, false, g.request_hash
        FROM unnest(refs, idempotency_keys) WITH ORDINALITY AS r(reference, idempotency_key, ord)
        CROSS JOIN LATERAL (SELECT x.id, x.received_at FROM grievance_key x
                            WHERE x.idempotency_key = r.idempotency_key) k
        CROSS JOIN LATERAL (SELECT x.reference, x.received_at, x.request_hash FROM grievance x
                            WHERE x.id = k.id AND x.received_at = k.received_at) g
        WHERE r.idempotency_key IS NOT NULL AND g.reference <> r.reference;
    END IF;

    IF announce THEN
        PERFORM pg_notify('grievance_new', '');
    END IF;
END $$;
