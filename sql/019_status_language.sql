-- The status look-up answers the grievance's language itself. grievance_language(ref) (012) found
-- a grievance by reference alone, so the intake role could learn from it whether a reference
-- exists and in which language it was filed, without the receipt. Found by receipt hash, the
-- language tells nothing the status does not.
DROP FUNCTION grievance_status_by_receipt(bytea);
CREATE FUNCTION grievance_status_by_receipt(hash bytea)
RETURNS TABLE (reference text, received_at timestamptz, status text, next_stage text,
               next_due timestamptz, overdue boolean, language text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT g.reference, g.received_at, coalesce(c.status::text, 'received'), d.stage, d.due,
           coalesce(c.overdue_since IS NOT NULL, false), g.language
    FROM public.grievance g
    LEFT JOIN public.remedy_case c ON c.id = g.case_id
    LEFT JOIN LATERAL (
        SELECT * FROM public.case_next_deadline(c.status, c.ack_due, c.response_due, c.remedy_due)) d
        ON true
    WHERE g.receipt_hash = hash
$$;
REVOKE ALL ON FUNCTION grievance_status_by_receipt(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_status_by_receipt(bytea) TO redress_intake, redress_staff;

DROP FUNCTION grievance_language(text);
