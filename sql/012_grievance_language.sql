-- The status page speaks the language the grievance was filed in. redress_intake has no table
-- privileges (006): it asks this function, SECURITY DEFINER like grievance_status, and learns no
-- more than grievance_status already tells for the same reference (the receipt is checked in C
-- before anything is shown).
CREATE FUNCTION grievance_language(ref text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT language FROM grievance WHERE reference = ref
$$;
REVOKE ALL ON FUNCTION grievance_language(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_language(text) TO redress_intake, redress_staff;
