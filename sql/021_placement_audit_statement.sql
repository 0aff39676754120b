-- Triage places a batch of grievances with one UPDATE of up to [triage] batch_size rows. The
-- audit of files attached before triage (014, attachment_audit_on_placement) was a row trigger:
-- one call of a SECURITY DEFINER function per placed grievance (its search_path set and reset
-- each time, one INSERT ... SELECT planned and run), although almost none has a file. Measured
-- with bench/triage.py's backlog: 10-20 us per grievance, 2-4 s of a 200,000-grievance run.
--
-- Now one call per UPDATE statement: the rows the statement placed (case_id NULL before, set
-- after) are read from its transition tables and joined to their files, so a batch costs one
-- function call and one probe of grievance_attachment per placed grievance. The events, their
-- notes and where they fall in the case's trail are the same as before: written at the end of the
-- placing UPDATE, each grievance's files in their order. A transition table cannot go with a
-- column list (UPDATE OF case_id), so the trigger fires on every UPDATE of grievance and the
-- old and new rows decide; a statement that placed nothing inserts nothing.
--
-- Updates go through the partitioned parent (no role has privileges on a month's partition),
-- which is where a statement-level trigger fires.
DROP TRIGGER attachment_audit_on_placement ON grievance;
DROP FUNCTION attachment_audit_on_placement();

-- enable_seqscan = off: one probe of grievance_attachment's primary key per placed grievance,
-- whatever size the table had when the session first planned this statement.
CREATE FUNCTION attachment_audit_on_placement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
BEGIN
    INSERT INTO case_event (case_id, action, note)
    SELECT n.case_id, 'attachment',
           attachment_note(a) || format(' received from a complainant at %s, before triage',
                                        engagement_time(a.added_at))
    FROM placed_new n
    JOIN placed_old o ON o.id = n.id AND o.received_at = n.received_at
    JOIN grievance_attachment a ON a.grievance_id = n.id
    WHERE o.case_id IS NULL AND n.case_id IS NOT NULL
    ORDER BY n.id, a.n;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION attachment_audit_on_placement() FROM PUBLIC;
CREATE TRIGGER attachment_audit_on_placement AFTER UPDATE ON grievance
    REFERENCING OLD TABLE AS placed_old NEW TABLE AS placed_new
    FOR EACH STATEMENT EXECUTE FUNCTION attachment_audit_on_placement();
