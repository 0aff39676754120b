-- The Open311 GeoReport v2 profile (intake/open311*.c, README "Open311 GeoReport v2").
--
-- Requests filed through it are their own channel, so exports and statistics can tell them apart.
-- The check is found by what it constrains rather than by name, so this holds whatever name an
-- earlier migration gave it (or a rebuilt, e.g. partitioned, grievance table).
DO $$
DECLARE
    con record;
BEGIN
    FOR con IN
        SELECT c.conname FROM pg_constraint c
        WHERE c.conrelid = 'public.grievance'::regclass AND c.contype = 'c'
          AND pg_get_constraintdef(c.oid) LIKE '%channel%'
    LOOP
        EXECUTE format('ALTER TABLE public.grievance DROP CONSTRAINT %I', con.conname);
    END LOOP;
END
$$;
ALTER TABLE grievance ADD CONSTRAINT grievance_channel_check
    CHECK (channel IN ('api', 'form', 'import', 'open311'));

-- A status look-up names the service (the category) it was filed under. Like grievance_story: by
-- receipt hash alone (one probe of its index), then the reference, so it tells nothing without
-- both and a wrong receipt fetches no row whether or not the reference exists. (A WHERE on both
-- columns would let the planner go by the reference's index instead.)
CREATE FUNCTION grievance_category(ref text, rhash bytea) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g record;
BEGIN
    SELECT reference, category INTO g FROM public.grievance WHERE receipt_hash = rhash;
    IF NOT FOUND OR g.reference IS DISTINCT FROM ref THEN
        RETURN NULL;
    END IF;
    RETURN g.category;
END
$$;
REVOKE ALL ON FUNCTION grievance_category(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_category(text, bytea) TO redress_intake, redress_staff;
