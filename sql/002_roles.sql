-- Application roles. None owns a table and none has BYPASSRLS; row-level security (003) decides
-- what each may see. NOLOGIN group roles carry the grants; login roles are members of them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'redress_intake') THEN
        CREATE ROLE redress_intake LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'redress_triage') THEN
        CREATE ROLE redress_triage LOGIN;
    END IF;
END $$;

-- Intake stores grievances and answers status look-ups; it reads nothing else.
GRANT USAGE ON SCHEMA public TO redress_intake;
GRANT INSERT ON grievance TO redress_intake;
GRANT SELECT (reference, received_at, idempotency_key, request_hash, receipt_hash, case_id)
    ON grievance TO redress_intake;
GRANT SELECT (id, status, ack_due, response_due, remedy_due) ON remedy_case TO redress_intake;
GRANT USAGE ON SEQUENCE grievance_id_seq TO redress_intake;
GRANT EXECUTE ON FUNCTION intake_submit(jsonb), grievance_status(text) TO redress_intake;
-- case_next_deadline is EXECUTE-able by PUBLIC (PostgreSQL's default for functions).

-- Triage reads grievances, creates and updates cases, owners, decisions and events.
GRANT USAGE ON SCHEMA public TO redress_triage;
GRANT SELECT ON grievance, member, case_transition TO redress_triage;
GRANT UPDATE (case_id, triaged_at) ON grievance TO redress_triage;
GRANT SELECT, INSERT, UPDATE ON remedy_case, case_owner, triage_decision TO redress_triage;
GRANT SELECT, INSERT ON case_event TO redress_triage;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO redress_triage;
