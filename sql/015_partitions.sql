-- Monthly partitions (issue 12, item 4), part 1: the machinery, and case_event partitioned by the
-- month of its time (at). 016 does the same for grievance.
--
-- Native declarative partitioning (PostgreSQL 15), no extension: a table partitioned BY RANGE of one
-- timestamptz column has one partition per calendar month (UTC) named <table>_pYYYY_MM and a
-- DEFAULT partition, <table>_default, for any row outside the months made so far, so no insert
-- ever fails. partition_upkeep() (016; called by redress-triage between batches) makes the coming
-- months ahead of time and moves any row that reached the default partition into its month.
--
-- What a partition is to the application roles: nothing. Every role reaches the rows through the
-- parent, whose grants and row-level security policies apply; a partition has no grants, and
-- row-level security is enabled and forced on it without a policy, so even a grant added by
-- mistake would show no row.
--
-- case_event: the primary key is (id, at) and the chain's key (case_id, seq, at): a unique index on
-- a partitioned table must hold the partition key. id is an identity column nobody may set and seq
-- is set by case_event_chain() under the case's row lock as one more than the case's last event in
-- any partition, so (case_id, seq) stays unique per case, and `redressctl audit verify` checks that
-- seq runs 1, 2, 3 ... in every chain. Nothing references case_event by a foreign key (checkpoint
-- heads name a case and a seq on purpose without one). The chain's predecessor look-up is one
-- index probe per partition (the newest first); the trigger is unchanged.

-- ---------------------------------------------------------------------------------------------
-- Helpers (superuser-owned; nobody else may call them).

CREATE FUNCTION partition_month_name(parent regclass, month date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('%s_p%s', (SELECT c.relname FROM pg_class c WHERE c.oid = parent),
                  to_char(month, 'YYYY_MM'))
$$;

-- The column a table is partitioned by.
CREATE FUNCTION partition_key_column(parent regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT a.attname::text FROM pg_partitioned_table p
    JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
    WHERE p.partrelid = parent
$$;

-- Grants (table and column), row-level security and policies of src, given to dst as well.
CREATE FUNCTION partition_copy_access(src regclass, dst regclass) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    a record;
    p record;
    owner oid := (SELECT c.relowner FROM pg_class c WHERE c.oid = src);
BEGIN
    FOR a IN SELECT x.grantee, x.privilege_type
             FROM pg_class c, aclexplode(c.relacl) x
             WHERE c.oid = src AND x.grantee <> owner LOOP
        EXECUTE format('GRANT %s ON %s TO %s', a.privilege_type, dst,
                       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END);
    END LOOP;
    FOR a IN SELECT t.attname, x.grantee, x.privilege_type
             FROM pg_attribute t, aclexplode(t.attacl) x
             WHERE t.attrelid = src AND t.attnum > 0 AND NOT t.attisdropped AND x.grantee <> owner LOOP
        EXECUTE format('GRANT %s (%I) ON %s TO %s', a.privilege_type, a.attname, dst,
                       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END);
    END LOOP;
    IF (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = src) THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', dst);
    END IF;
    IF (SELECT c.relforcerowsecurity FROM pg_class c WHERE c.oid = src) THEN
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', dst);
    END IF;
    FOR p IN SELECT y.polname, y.polpermissive,
                    CASE y.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                  WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS cmd,
                    (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(r::regrole::text) END, ', ')
                     FROM unnest(y.polroles) r) AS roles,
                    pg_get_expr(y.polqual, y.polrelid) AS qual,
                    pg_get_expr(y.polwithcheck, y.polrelid) AS wcheck
             FROM pg_policy y WHERE y.polrelid = src LOOP
        EXECUTE format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, dst,
                       CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, p.cmd, p.roles,
                       CASE WHEN p.qual IS NULL THEN '' ELSE ' USING (' || p.qual || ')' END,
                       CASE WHEN p.wcheck IS NULL THEN '' ELSE ' WITH CHECK (' || p.wcheck || ')' END);
    END LOOP;
END $$;

-- The user triggers of src, made again on dst (same names, timing, events, columns and function).
CREATE FUNCTION partition_copy_triggers(src regclass, dst regclass) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    d text;
BEGIN
    FOR d IN SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
             WHERE t.tgrelid = src AND NOT t.tgisinternal ORDER BY t.tgname LOOP
        EXECUTE replace(replace(d, ' ON public.' || src::text || ' ', ' ON ' || dst::text || ' '),
                        ' ON ' || src::text || ' ', ' ON ' || dst::text || ' ');
    END LOOP;
END $$;

-- The views over src, made again over the table that has src's former name (same definitions,
-- options, owners and grants: CREATE OR REPLACE keeps the last two). Their definitions are read
-- before src is renamed, so they name the new table.
CREATE FUNCTION partition_views_capture(src regclass)
RETURNS TABLE (view_name regclass, options text, definition text)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT DISTINCT r.ev_class::regclass, array_to_string(c.reloptions, ', '),
           pg_get_viewdef(r.ev_class)
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class c ON c.oid = r.ev_class
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = src AND r.ev_class <> src
$$;

-- The partition of parent for month (the first of a month) with the default partition's rows of
-- that month moved into it. A partition is made apart and then attached, which takes only a SHARE
-- UPDATE EXCLUSIVE lock on the parent (writers go on); the attach checks the default partition,
-- which is empty in the steady state. Returns the rows moved, or -1 when the month existed.
CREATE FUNCTION partition_month_add(parent regclass, month date) RETURNS bigint
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    name text := partition_month_name(parent, month);
    lo timestamptz := month::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    keycol text := partition_key_column(parent);
    dflt regclass;
    moved bigint := 0;
BEGIN
    IF date_trunc('month', month) <> month THEN
        RAISE EXCEPTION 'a month partition starts on the first of a month, not %', month USING ERRCODE = '22023';
    END IF;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN -1;
    END IF;
    SELECT i.inhrelid::regclass INTO dflt FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, parent);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
    IF dflt IS NOT NULL THEN
        -- Rows that arrived while the month had no partition. Their triggers (append-only,
        -- immutable) guard the rows, not their place: a move changes nothing in them.
        EXECUTE format('INSERT INTO %I SELECT * FROM %s WHERE %I >= $1 AND %I < $2', name, dflt, keycol, keycol)
            USING lo, hi;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved > 0 THEN
            PERFORM set_config('session_replication_role', 'replica', true);
            EXECUTE format('DELETE FROM %s WHERE %I >= $1 AND %I < $2', dflt, keycol, keycol) USING lo, hi;
            PERFORM set_config('session_replication_role', 'origin', true);
        END IF;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, name, lo, hi);
    RETURN moved;
END $$;

-- Every month from p_from to p_to (inclusive) of parent; returns how many were made.
CREATE FUNCTION partition_months_ensure(parent regclass, p_from date, p_to date) RETURNS integer
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    m date := date_trunc('month', p_from)::date;
    made integer := 0;
BEGIN
    WHILE m <= p_to LOOP
        IF partition_month_add(parent, m) >= 0 THEN
            made := made + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN made;
END $$;

-- The month partitions of parent, oldest first: name, month, whether it is the default.
CREATE FUNCTION partition_list(parent regclass)
RETURNS TABLE (partition regclass, month date, is_default boolean)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT i.inhrelid::regclass,
           CASE WHEN b.bound = 'DEFAULT' THEN NULL
                ELSE (substring(b.bound FROM $r$FROM \('([^']+)'\)$r$)::timestamptz AT TIME ZONE 'UTC')::date END,
           b.bound = 'DEFAULT'
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
    WHERE i.inhparent = parent
    ORDER BY 3, 2
$$;

-- The first partitions of parent, a new partitioned table taking over the rows of source: its
-- default partition, and every month from source's oldest row (or this month) to three months
-- ahead.
CREATE FUNCTION partition_layout_init(parent regclass, source regclass) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    dflt text := (SELECT c.relname FROM pg_class c WHERE c.oid = parent) || '_default';
    first_month date;
BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF %s DEFAULT', dflt, parent);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', dflt);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', dflt);
    EXECUTE format('SELECT min(%I) AT TIME ZONE ''UTC'' FROM %s', partition_key_column(parent), source)
        INTO first_month;
    PERFORM partition_months_ensure(parent, coalesce(first_month, (now() AT TIME ZONE 'UTC')::date),
                                    ((now() AT TIME ZONE 'UTC') + interval '3 months')::date);
END $$;

-- ---------------------------------------------------------------------------------------------
-- case_event, partitioned. Rows, ids, grants, policies and triggers carry over; the identity
-- sequence goes on from the last id.
DO $$
BEGIN
    ALTER TABLE case_event RENAME TO case_event_unpartitioned;
    ALTER TABLE case_event_unpartitioned RENAME CONSTRAINT case_event_pkey TO case_event_unpartitioned_pkey;
    ALTER TABLE case_event_unpartitioned
        RENAME CONSTRAINT case_event_case_id_seq_key TO case_event_unpartitioned_case_id_seq_key;
    CREATE TABLE case_event (
        id           bigint GENERATED ALWAYS AS IDENTITY,
        case_id      bigint NOT NULL,
        seq          integer NOT NULL,                  -- 1, 2, 3 ... within the case
        at           timestamptz NOT NULL DEFAULT now(),
        actor        text NOT NULL DEFAULT session_user,
        action       text NOT NULL,
        from_status  case_status,
        to_status    case_status,
        note         text,
        prev_hash    bytea,
        hash         bytea NOT NULL
    ) PARTITION BY RANGE (at);
    PERFORM partition_layout_init('case_event', 'case_event_unpartitioned');
    INSERT INTO case_event (id, case_id, seq, at, actor, action, from_status, to_status, note, prev_hash, hash)
    OVERRIDING SYSTEM VALUE
    SELECT id, case_id, seq, at, actor, action, from_status, to_status, note, prev_hash, hash
    FROM case_event_unpartitioned ORDER BY id;
    PERFORM setval(pg_get_serial_sequence('case_event', 'id'),
                   coalesce((SELECT max(id) FROM case_event), 0) + 1, false);
    PERFORM partition_copy_access('case_event_unpartitioned', 'case_event');
    PERFORM partition_copy_triggers('case_event_unpartitioned', 'case_event');
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = 'case_event_unpartitioned'::regclass)
       OR EXISTS (SELECT 1 FROM partition_views_capture('case_event_unpartitioned')) THEN
        RAISE EXCEPTION 'something new refers to case_event: teach 015 to carry it over';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_index WHERE indrelid = 'case_event_unpartitioned'::regclass
               AND indexrelid::regclass::text NOT IN ('case_event_unpartitioned_pkey',
                                                      'case_event_unpartitioned_case_id_seq_key')) THEN
        RAISE EXCEPTION 'case_event has an index 015 does not know: carry it over';
    END IF;
    DROP TABLE case_event_unpartitioned;
    ALTER SEQUENCE case_event_id_seq1 RENAME TO case_event_id_seq;
    ALTER TABLE case_event ADD PRIMARY KEY (id, at);
    ALTER TABLE case_event ADD CONSTRAINT case_event_case_id_seq_key UNIQUE (case_id, seq, at);
    ALTER TABLE case_event ADD CONSTRAINT case_event_case_id_fkey
        FOREIGN KEY (case_id) REFERENCES remedy_case(id);
END $$;

REVOKE ALL ON FUNCTION partition_month_name(regclass, date), partition_copy_access(regclass, regclass),
    partition_copy_triggers(regclass, regclass), partition_views_capture(regclass),
    partition_month_add(regclass, date), partition_months_ensure(regclass, date, date),
    partition_list(regclass), partition_key_column(regclass), partition_layout_init(regclass, regclass)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION partition_list(regclass) TO redress_staff;
