-- Status look-ups that leak nothing by timing (issue 7, item 9). The intake looks a grievance up by
-- the SHA-256 of the receipt it was given, through an index, and compares the reference afterwards
-- in constant time. An unknown reference and a known one with a wrong receipt are then the same
-- work: one index probe for a hash that is not there. (grievance_status(ref) found the row by
-- reference first, so a known reference cost a row fetch and a join that an unknown one did not.)
CREATE INDEX grievance_receipt_hash ON grievance (receipt_hash);

-- SECURITY DEFINER with a pinned search_path whether or not the intake role can read grievance
-- itself: it is the intake's only way to the status.
CREATE FUNCTION grievance_status_by_receipt(hash bytea)
RETURNS TABLE (reference text, received_at timestamptz, status text, next_stage text,
               next_due timestamptz, overdue boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT g.reference, g.received_at, coalesce(c.status::text, 'received'), d.stage, d.due,
           coalesce(c.overdue_since IS NOT NULL, false)
    FROM public.grievance g
    LEFT JOIN public.remedy_case c ON c.id = g.case_id
    LEFT JOIN LATERAL (
        SELECT * FROM public.case_next_deadline(c.status, c.ack_due, c.response_due, c.remedy_due)) d
        ON true
    WHERE g.receipt_hash = hash
$$;
REVOKE ALL ON FUNCTION grievance_status_by_receipt(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_status_by_receipt(bytea) TO redress_intake, redress_staff;
