-- Intake write costs (issue 10). First, intake_submit_rows (010) with a last parameter, announce:
-- whether this transaction notifies 'grievance_new' (true, the default: redressctl import,
-- intake_submit(jsonb) and any other caller as before). The body is 016's, unchanged otherwise.
--
-- Why. NOTIFY serializes the commits of every notifying transaction of the database: the first
-- takes a database-wide lock before its commit record and holds it until the commit is flushed,
-- so the other intake worker's commit waits for this one's fsync, and the two workers' commits
-- cannot overlap or share a flush. The intake announces at most once per interval per worker
-- (intake/batch.c), and sends a trailing notification for batches that went unannounced: triage
-- still wakes within that interval of a commit.
DROP FUNCTION intake_submit_rows(text[], text[], text[], text[], text[], text[], text[],
    text[], text[], integer[], boolean[], date[], text[], text[], boolean[], boolean[], text[],
    text[], text[], text[], boolean[]);

CREATE FUNCTION intake_submit_rows(
    refs text[], channels text[], languages text[], countries text[], categories text[],
    rights text[], descriptions text[], companies text[], services text[], people integer[],
    ongoing boolean[], started date[], vulnerability text[], complainant_types text[],
    share_members boolean[], share_regulator boolean[], contacts text[], receipt_hashes text[],
    idempotency_keys text[], request_hashes text[], immediate_danger boolean[],
    announce boolean DEFAULT true)
RETURNS TABLE (n integer, reference text, received_at timestamptz, stored boolean, request_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN QUERY
    WITH r AS (
        SELECT * FROM unnest(refs, channels, languages, countries, categories, rights, descriptions,
                             companies, services, people, ongoing, started, vulnerability,
                             complainant_types, share_members, share_regulator, contacts,
                             receipt_hashes, idempotency_keys, request_hashes, immediate_danger)
            WITH ORDINALITY AS r(reference, channel, language, country, category, rights, description,
                                 companies, services, people_affected, ongoing, started_on,
                                 vulnerability, complainant_type, share_with_members,
                                 share_with_regulator, contact_enc, receipt_hash, idempotency_key,
                                 request_hash, immediate_danger, ord)),
    k AS (
        INSERT INTO grievance_key AS k (reference, idempotency_key)
        SELECT r.reference, r.idempotency_key FROM r ORDER BY r.ord
        ON CONFLICT DO NOTHING
        RETURNING k.id, k.reference, k.received_at),
    ins AS (
        INSERT INTO grievance AS g (id, reference, received_at, channel, language, country, category,
            rights, description, companies, services, people_affected, ongoing, started_on,
            vulnerability, complainant_type, share_with_members, share_with_regulator, contact_enc,
            receipt_hash, idempotency_key, request_hash, immediate_danger)
        SELECT k.id, r.reference, k.received_at, r.channel, r.language, r.country, r.category,
               r.rights::text[], r.description, r.companies::text[], r.services::text[],
               r.people_affected, r.ongoing, r.started_on, r.vulnerability::text[],
               r.complainant_type, r.share_with_members, r.share_with_regulator,
               decode(r.contact_enc, 'base64'), decode(r.receipt_hash, 'hex'), r.idempotency_key,
               decode(r.request_hash, 'hex'), r.immediate_danger
        FROM r JOIN k ON k.reference = r.reference ORDER BY r.ord
        RETURNING g.reference, g.received_at)
    SELECT (r.ord - 1)::integer, ins.reference, ins.received_at, true, NULL::bytea
    FROM r JOIN ins ON ins.reference = r.reference;

    -- An index probe of grievance_key per keyed row, then one of the month its grievance is in.
    RETURN QUERY
    SELECT (r.ord - 1)::integer, g.reference, g.received_at, false, g.request_hash
    FROM unnest(refs, idempotency_keys) WITH ORDINALITY AS r(reference, idempotency_key, ord)
    CROSS JOIN LATERAL (SELECT x.id, x.received_at FROM grievance_key x
                        WHERE x.idempotency_key = r.idempotency_key) k
    CROSS JOIN LATERAL (SELECT x.reference, x.received_at, x.request_hash FROM grievance x
                        WHERE x.id = k.id AND x.received_at = k.received_at) g
    WHERE r.idempotency_key IS NOT NULL AND g.reference <> r.reference;

    IF announce THEN
        PERFORM pg_notify('grievance_new', '');
    END IF;
END $$;

REVOKE ALL ON FUNCTION intake_submit_rows(text[], text[], text[], text[], text[], text[], text[],
    text[], text[], integer[], boolean[], date[], text[], text[], boolean[], boolean[], text[],
    text[], text[], text[], boolean[],
    boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intake_submit_rows(text[], text[], text[], text[], text[], text[], text[],
    text[], text[], integer[], boolean[], date[], text[], text[], boolean[], boolean[], text[],
    text[], text[], text[], boolean[],
    boolean) TO redress_intake, redress_staff;

-- The description's length rule (006) without counting characters at every insert: length() walks
-- the whole UTF-8 text, twice for BETWEEN, and was about 5% of PostgreSQL's time per stored row.
-- octet_length() is the stored size; a text of at most 20,000 bytes has at most 20,000 characters,
-- so length() runs only for a longer one. The same rule, and the same name.
ALTER TABLE grievance DROP CONSTRAINT grievance_description_check,
    ADD CONSTRAINT grievance_description_check CHECK (CASE
        WHEN erased_at IS NULL THEN description IS NOT NULL AND description <> ''
             AND (octet_length(description) <= 20000 OR length(description) <= 20000)
        ELSE description IS NULL AND contact_enc IS NULL AND request_hash IS NULL END);
