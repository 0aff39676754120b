-- Monthly partitions (issue 12, item 4), part 2: grievance partitioned by the month it was received
-- in, its global keys in a small table of their own, and the retention drop of old months.
--
-- Uniqueness across months. A unique index on a partitioned table must hold the partition key, so
-- UNIQUE (reference, received_at) would let the same reference, or the same Idempotency-Key, be
-- stored once in each month: a retry just after midnight on the 1st would file the grievance twice.
-- The keys that must be unique everywhere therefore live in grievance_key, one row per grievance,
-- not partitioned: id (what other tables refer to), reference, idempotency key, received_at (the
-- partition the grievance is in). intake_submit_rows claims the keys first (ON CONFLICT DO
-- NOTHING, as before) and stores only the rows whose claim succeeded; any other INSERT INTO
-- grievance claims its keys through the trigger grievance_key_claim, where a duplicate is the
-- unique violation it always was. The immutability trigger (001, 006, 007) keeps a stored row's
-- keys from changing, and no role but the superuser may touch grievance_key.
--
-- Foreign keys. Every foreign key to grievance(id) (triage_decision, case_message, remedy_response,
-- appeal, feedback, complainant_request, and any later one) refers to grievance_key(id) instead: a
-- partitioned table can only be referenced through a unique key that holds received_at. A key row
-- outlives its grievance when the retention drop removes the grievance's month, so the rows that
-- name it stay valid and its reference is never handed out again.
--
-- What each partition holds per row: the primary key (id, received_at) and the indexes of
-- reference (status and staff look-ups), receipt hash (status by receipt), untriaged rows and
-- case; a look-up without received_at probes each month's index once.

-- ---------------------------------------------------------------------------------------------
CREATE TABLE grievance_key (
    id               bigint PRIMARY KEY,
    reference        text NOT NULL UNIQUE,
    idempotency_key  text,
    received_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX grievance_key_idempotency ON grievance_key (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE grievance_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE grievance_key FORCE ROW LEVEL SECURITY;
INSERT INTO grievance_key (id, reference, idempotency_key, received_at)
SELECT id, reference, idempotency_key, received_at FROM grievance;
ALTER SEQUENCE grievance_id_seq OWNED BY grievance_key.id;
ALTER TABLE grievance_key ALTER COLUMN id SET DEFAULT nextval('grievance_id_seq');
ALTER TABLE grievance_key ALTER COLUMN received_at SET DEFAULT now();

-- A grievance stored by any other path than intake_submit_rows claims its keys here. The fast
-- path (the claim made just before by intake_submit_rows) is one index probe. enable_seqscan =
-- off: the plan is made once per session, maybe while grievance_key looked empty, and a scan per
-- row of a table the same statement fills is quadratic (60,000 rows: minutes instead of a second).
CREATE FUNCTION grievance_key_claim() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM grievance_key k WHERE k.id = NEW.id AND k.reference = NEW.reference
                   AND k.received_at = NEW.received_at
                   AND k.idempotency_key IS NOT DISTINCT FROM NEW.idempotency_key) THEN
        INSERT INTO grievance_key (id, reference, idempotency_key, received_at)
        VALUES (NEW.id, NEW.reference, NEW.idempotency_key, NEW.received_at);
    END IF;
    RETURN NEW;
END $$;

-- ---------------------------------------------------------------------------------------------
-- grievance, partitioned: same columns, defaults, checks, grants, policies, triggers and views.
DO $$
DECLARE
    v record;
    fk record;
BEGIN
    CREATE TEMP TABLE grievance_views ON COMMIT DROP AS
        SELECT * FROM partition_views_capture('grievance');
    ALTER TABLE grievance RENAME TO grievance_unpartitioned;
    CREATE TABLE grievance (LIKE grievance_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
        PARTITION BY RANGE (received_at);
    PERFORM partition_layout_init('grievance', 'grievance_unpartitioned');
    INSERT INTO grievance SELECT * FROM grievance_unpartitioned ORDER BY id;
    PERFORM partition_copy_access('grievance_unpartitioned', 'grievance');
    PERFORM partition_copy_triggers('grievance_unpartitioned', 'grievance');
    FOR v IN SELECT * FROM grievance_views LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %s%s AS %s', v.view_name,
                       CASE WHEN v.options IS NULL OR v.options = '' THEN '' ELSE ' WITH (' || v.options || ')' END,
                       v.definition);
    END LOOP;
    FOR fk IN SELECT c.oid, c.conname, c.conrelid::regclass AS tbl, pg_get_constraintdef(c.oid) AS def
              FROM pg_constraint c
              WHERE c.contype = 'f' AND c.confrelid = 'grievance_unpartitioned'::regclass LOOP
        IF fk.def !~ 'REFERENCES (public\.)?grievance_unpartitioned\(id\)' THEN
            RAISE EXCEPTION 'foreign key % of % refers to more than grievance(id): carry it over by hand',
                fk.conname, fk.tbl;
        END IF;
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.conname,
                       regexp_replace(fk.def, 'REFERENCES (public\.)?grievance_unpartitioned\(id\)',
                                      'REFERENCES grievance_key(id)'));
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'grievance_unpartitioned'::regclass
               AND i.indisunique AND i.indexrelid::regclass::text NOT IN
                   ('grievance_pkey', 'grievance_reference_key', 'grievance_idempotency_key')) THEN
        RAISE EXCEPTION 'grievance has a unique index 016 does not know: carry it over';
    END IF;
    -- The non-unique indexes, as they were (the untriaged queue, case, receipt hash, and any other).
    CREATE TEMP TABLE grievance_indexes ON COMMIT DROP AS
        SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
        WHERE i.indrelid = 'grievance_unpartitioned'::regclass AND NOT i.indisunique;
    DROP TABLE grievance_unpartitioned;
    FOR v IN SELECT def FROM grievance_indexes LOOP
        EXECUTE regexp_replace(v.def, ' ON (public\.)?grievance_unpartitioned USING ', ' ON grievance USING ');
    END LOOP;
    ALTER TABLE grievance ADD PRIMARY KEY (id, received_at);
    CREATE INDEX grievance_reference ON grievance (reference);
    ALTER TABLE grievance ADD CONSTRAINT grievance_case_id_fkey
        FOREIGN KEY (case_id) REFERENCES remedy_case(id);
END $$;
CREATE TRIGGER grievance_key_claim BEFORE INSERT ON grievance
    FOR EACH ROW EXECUTE FUNCTION grievance_key_claim();

-- ---------------------------------------------------------------------------------------------
-- The intake's write path (010), claiming the keys first. A row whose reference or idempotency
-- key is taken is not stored; the second statement answers each keyed row whose key another
-- grievance holds (a new statement: it sees a key a concurrent writer committed while our claim
-- waited on it). A row in neither answer (a reference collision) is retried by the caller.
CREATE OR REPLACE FUNCTION intake_submit_rows(
    refs text[], channels text[], languages text[], countries text[], categories text[],
    rights text[], descriptions text[], companies text[], services text[], people integer[],
    ongoing boolean[], started date[], vulnerability text[], complainant_types text[],
    share_members boolean[], share_regulator boolean[], contacts text[], receipt_hashes text[],
    idempotency_keys text[], request_hashes text[], immediate_danger boolean[])
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

    PERFORM pg_notify('grievance_new', '');
END $$;

-- The JSON form (001; tests and older callers) goes through the same path.
CREATE OR REPLACE FUNCTION intake_submit(rows jsonb)
RETURNS TABLE (n integer, reference text, received_at timestamptz, stored boolean, request_hash bytea)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH r AS (
        SELECT x.*, row_number() OVER (ORDER BY x.n) AS ord
        FROM jsonb_to_recordset(rows) AS x(n int, reference text, channel text, language text,
            country text, category text, rights text[], description text, companies text[],
            services text[], people_affected int, ongoing boolean, started_on date,
            vulnerability text[], complainant_type text, share_with_members boolean,
            share_with_regulator boolean, contact_enc text, receipt_hash text, idempotency_key text,
            request_hash text)),
    a AS (
        SELECT array_agg(r.reference ORDER BY r.ord) AS refs, array_agg(r.channel ORDER BY r.ord) AS ch,
               array_agg(r.language ORDER BY r.ord) AS lang, array_agg(r.country ORDER BY r.ord) AS ctry,
               array_agg(r.category ORDER BY r.ord) AS cat,
               array_agg(coalesce(r.rights, '{}')::text ORDER BY r.ord) AS rights,
               array_agg(r.description ORDER BY r.ord) AS descr,
               array_agg(coalesce(r.companies, '{}')::text ORDER BY r.ord) AS comp,
               array_agg(coalesce(r.services, '{}')::text ORDER BY r.ord) AS serv,
               array_agg(r.people_affected ORDER BY r.ord) AS people,
               array_agg(coalesce(r.ongoing, false) ORDER BY r.ord) AS ongoing,
               array_agg(r.started_on ORDER BY r.ord) AS started,
               array_agg(coalesce(r.vulnerability, '{}')::text ORDER BY r.ord) AS vuln,
               array_agg(coalesce(r.complainant_type, 'self') ORDER BY r.ord) AS ctype,
               array_agg(coalesce(r.share_with_members, false) ORDER BY r.ord) AS sm,
               array_agg(coalesce(r.share_with_regulator, false) ORDER BY r.ord) AS sr,
               array_agg(r.contact_enc ORDER BY r.ord) AS contact,
               array_agg(r.receipt_hash ORDER BY r.ord) AS receipt,
               array_agg(r.idempotency_key ORDER BY r.ord) AS idem,
               array_agg(r.request_hash ORDER BY r.ord) AS reqhash,
               array_agg(NULL::boolean ORDER BY r.ord) AS danger
        FROM r)
    SELECT r.n, s.reference, s.received_at, s.stored, s.request_hash
    FROM a CROSS JOIN LATERAL intake_submit_rows(a.refs, a.ch, a.lang, a.ctry, a.cat, a.rights,
        a.descr, a.comp, a.serv, a.people, a.ongoing, a.started, a.vuln, a.ctype, a.sm, a.sr,
        a.contact, a.receipt, a.idem, a.reqhash, a.danger) s
    JOIN r ON r.ord = s.n + 1
$$;

-- ---------------------------------------------------------------------------------------------
-- Retention of whole months. The retention sweep (006) erases a closed case's contact details and
-- narratives and keeps each grievance's statistical skeleton; [retention] skeleton_days says how
-- long that skeleton is kept after the sweep (0, the default: for ever). A grievance month is
-- dropped only when every row in it is erased and belongs to a case the sweep finished more than
-- skeleton_days ago; one live row, one grievance not yet triaged, one case still open or erased
-- too recently keeps the whole month. The audit trail (case_event) holds no narrative and is the
-- mechanism's evidence: no retention rule lets its months go, so they are never dropped.
-- Dropping a partition takes an ACCESS EXCLUSIVE lock on grievance for a moment (within the
-- upkeep's 1 s lock timeout, else retried). Returns the months dropped.
CREATE FUNCTION partition_retention_drop(p_skeleton_days integer) RETURNS integer
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    p record;
    dropped integer := 0;
    live boolean;
BEGIN
    IF p_skeleton_days IS NULL OR p_skeleton_days <= 0 THEN
        RETURN 0;
    END IF;
    FOR p IN SELECT l.partition, l.month FROM partition_list('grievance') l
             WHERE NOT l.is_default
               AND (l.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                   < now() - make_interval(days => p_skeleton_days)
             ORDER BY l.month LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s g LEFT JOIN remedy_case c ON c.id = g.case_id '
                       'WHERE g.erased_at IS NULL OR c.retention_erased_at IS NULL '
                       'OR c.retention_erased_at >= now() - make_interval(days => $1))', p.partition)
            INTO live USING p_skeleton_days;
        IF NOT live THEN
            EXECUTE format('DROP TABLE %s', p.partition);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

-- Upkeep, called by redress-triage between batches (upkeep.c) with [retention] skeleton_days: the
-- current month and the next three of grievance and case_event, a partition for any month a row of
-- a default partition belongs to (its rows moved in), and the retention drop. One caller at a time
-- (the others return at once); a lock not granted within a second is retried at the next call.
CREATE FUNCTION partition_upkeep(p_skeleton_days integer DEFAULT 0,
                                 OUT made integer, OUT dropped integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t regclass;
    m date;
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
BEGIN
    made := 0;
    dropped := 0;
    IF NOT pg_try_advisory_xact_lock(hashtext('redress partition upkeep')) THEN
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', '1s', true);
    FOR t IN SELECT p.partrelid::regclass FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
             WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ('grievance', 'case_event')
             ORDER BY 1 LOOP
        made := made + partition_months_ensure(t, this_month, (this_month + interval '3 months')::date);
        -- A month that cannot be made (an infinite or absurd time, a lock not granted) is skipped
        -- with a warning and tried again next time; the others are made.
        FOR m IN EXECUTE format('SELECT DISTINCT date_trunc(''month'', k AT TIME ZONE ''UTC'')::date '
                                'FROM (SELECT %1$I AS k FROM %2$s WHERE isfinite(%1$I)) d',
                                partition_key_column(t),
                                (SELECT l.partition FROM partition_list(t) l WHERE l.is_default)) LOOP
            BEGIN
                IF partition_month_add(t, m) >= 0 THEN
                    made := made + 1;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'partition upkeep: no partition of % for %: SQLSTATE %', t, m, SQLSTATE;
            END;
        END LOOP;
    END LOOP;
    dropped := partition_retention_drop(p_skeleton_days);
END $$;

REVOKE ALL ON FUNCTION grievance_key_claim(), partition_retention_drop(integer),
    partition_upkeep(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION partition_upkeep(integer) TO redress_triage, redress_staff;
