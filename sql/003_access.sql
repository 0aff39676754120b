-- Access for people: mechanism staff (everything), one role per member's remedy team (only the
-- cases the member owns, and only the fields a team may see) and regulators (pseudonymised data
-- for exports and statistics). Row-level security enforces it in the database itself, so it holds
-- for psql as much as for redressctl. Also the export manifest table and the export function that
-- redressctl and the export benchmark share.
--
-- Rules that keep RLS honest (see shared/PITFALLS.md): every table with data is FORCE ROW LEVEL
-- SECURITY, no application role owns a table or has BYPASSRLS, and every policy names its roles.
-- The intake and triage roles of 002 get policies that let them do exactly what 002 grants.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'redress_staff') THEN
        CREATE ROLE redress_staff LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'redress_regulator') THEN
        CREATE ROLE redress_regulator LOGIN;
    END IF;
    -- The group of every member's team role (team_<slug>, made by `redressctl member add`).
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'redress_teams') THEN
        CREATE ROLE redress_teams NOLOGIN;
    END IF;
END $$;

-- Every export: what was exported, by whom, under which filter, and the file's SHA-256.
CREATE TABLE export_manifest (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('cases', 'stats')),
    file_name       text NOT NULL,
    row_count       bigint NOT NULL CHECK (row_count >= 0),
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    filter          jsonb NOT NULL,
    with_narrative  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL DEFAULT current_user
);

-- ---------------------------------------------------------------------------------------------
-- Helpers for policies. Policies on remedy_case and case_owner must ask "does the current team own
-- this case" without recursing into case_owner's own policy, so the question is answered by a
-- SECURITY DEFINER function. The caller passes current_user (evaluated as the invoker); the
-- function refuses to answer for a role the session does not hold, so nobody can ask about
-- another member's cases.
CREATE FUNCTION redress_owned_cases(team text) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT o.case_id FROM case_owner o JOIN member m ON m.id = o.member_id
    WHERE m.team_role = team AND pg_has_role(session_user, team, 'MEMBER')
$$;
REVOKE ALL ON FUNCTION redress_owned_cases(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION redress_owned_cases(text) TO redress_teams;

-- The team roles themselves are made by member_team_role_ensure() (006_integrity.sql).

-- The narrative of a case for an export: the description of its earliest grievance whose
-- complainant consented to sharing with the regulator. Only staff and regulators get text; a team
-- gets NULL (its consent flag is share_with_members, and this is the regulator's export).
CREATE FUNCTION case_narrative(case_id bigint) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT g.description FROM grievance g
    WHERE g.case_id = case_narrative.case_id AND g.share_with_regulator
      AND (pg_has_role(session_user, 'redress_staff', 'MEMBER')
           OR pg_has_role(session_user, 'redress_regulator', 'MEMBER'))
    ORDER BY g.received_at, g.id LIMIT 1
$$;
REVOKE ALL ON FUNCTION case_narrative(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION case_narrative(bigint) TO redress_staff, redress_regulator;

-- ---------------------------------------------------------------------------------------------
-- The regulator export, one row per case, pseudonymised: no contact, no grievance references, no
-- free text except the consented narrative when asked for. Invoker rights, so row-level security
-- of the caller applies. redressctl streams SELECT * FROM export_cases(...); the export benchmark
-- runs psql's \copy over the very same call.
CREATE FUNCTION export_cases(date_from date, date_to date, country_filter text, member_filter text,
                             with_narrative boolean)
RETURNS TABLE (case_reference text, status text, category text, country text, collective boolean,
               grievance_count integer, people_affected bigint, band text, score numeric,
               rules_version text, lead_member text, owners text, remedies text,
               first_received_at text, opened_at text, ack_due text, response_due text,
               remedy_due text, closed_at text, narrative text)
LANGUAGE sql STABLE AS $$
    SELECT c.reference, c.status::text, c.category, c.country::text, c.collective, c.grievance_count,
           c.people_affected, c.band, c.score, c.rules_version, lm.slug,
           (SELECT string_agg(m.slug || ':' || o.role || ':' || o.involvement, ';' ORDER BY m.slug)
              FROM case_owner o JOIN member m ON m.id = o.member_id WHERE o.case_id = c.id),
           (SELECT string_agg(r.type || ':' || r.status, ';' ORDER BY r.id)
              FROM remedy r WHERE r.case_id = c.id),
           to_char(c.first_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.ack_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.response_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.remedy_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(c.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           CASE WHEN with_narrative THEN case_narrative(c.id) END
    FROM remedy_case c
    LEFT JOIN member lm ON lm.id = c.lead_member_id
    WHERE c.first_received_at >= date_from::timestamp AT TIME ZONE 'UTC'
      AND c.first_received_at < (date_to + 1)::timestamp AT TIME ZONE 'UTC'
      AND (country_filter IS NULL OR c.country = country_filter)
      AND (member_filter IS NULL OR EXISTS (
              SELECT 1 FROM case_owner o JOIN member m ON m.id = o.member_id
              WHERE o.case_id = c.id AND m.slug = member_filter))
    ORDER BY c.first_received_at, c.id
$$;
GRANT EXECUTE ON FUNCTION export_cases(date, date, text, text, boolean)
    TO redress_staff, redress_regulator, redress_teams;

-- ---------------------------------------------------------------------------------------------
-- Grants. Staff: everything on the data, nothing on the schema.
GRANT USAGE ON SCHEMA public TO redress_staff, redress_regulator, redress_teams;
GRANT SELECT, INSERT, UPDATE ON member, remedy_case, case_owner, triage_decision, remedy,
    export_manifest TO redress_staff;
GRANT DELETE ON case_owner TO redress_staff;
GRANT SELECT, INSERT ON grievance, case_event TO redress_staff;
GRANT UPDATE (case_id, triaged_at) ON grievance TO redress_staff;
GRANT SELECT ON case_transition TO redress_staff, redress_regulator, redress_teams;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO redress_staff;
GRANT EXECUTE ON FUNCTION intake_submit(jsonb), grievance_status(text) TO redress_staff;
-- `redressctl migrate` run by staff reports what is pending; applying DDL takes the superuser.
DO $$
BEGIN
    IF to_regclass('schema_migration') IS NOT NULL THEN
        GRANT SELECT ON schema_migration TO redress_staff;
    END IF;
END $$;

-- Teams: their cases; grievances without description, contact or secrets; no audit notes of
-- other members (they only see events of cases they own anyway).
GRANT SELECT ON member TO redress_teams;
GRANT SELECT (id, reference, status, category, country, collective, grievance_count, people_affected,
              score, band, rules_version, lead_member_id, mechanism_queue, referral_flag,
              first_received_at, last_received_at, ack_due, response_due, remedy_due, opened_at,
              updated_at, closed_at) ON remedy_case TO redress_teams;
GRANT UPDATE (status) ON remedy_case TO redress_teams;
GRANT SELECT ON case_owner, triage_decision TO redress_teams;
GRANT SELECT, INSERT ON case_event TO redress_teams;
GRANT SELECT, INSERT ON remedy TO redress_teams;
GRANT UPDATE (status, accepted_at, declined_at, implemented_at, verified_at) ON remedy TO redress_teams;
GRANT SELECT (id, reference, received_at, channel, language, country, category, rights, companies,
              services, people_affected, ongoing, started_on, vulnerability, complainant_type,
              share_with_members, share_with_regulator, case_id, triaged_at) ON grievance TO redress_teams;
GRANT SELECT, INSERT ON export_manifest TO redress_teams;
GRANT USAGE ON SEQUENCE case_event_id_seq, remedy_id_seq, export_manifest_id_seq TO redress_teams;

-- Regulators: pseudonymised columns only, for exports and statistics.
GRANT SELECT ON member, case_owner TO redress_regulator;
GRANT SELECT (id, reference, status, category, country, collective, grievance_count, people_affected,
              score, band, rules_version, lead_member_id, mechanism_queue, referral_flag,
              first_received_at, last_received_at, ack_due, response_due, remedy_due, opened_at,
              updated_at, closed_at) ON remedy_case TO redress_regulator;
GRANT SELECT (id, case_id, type, status, proposed_at, accepted_at, declined_at, implemented_at,
              verified_at) ON remedy TO redress_regulator;
GRANT SELECT (id, case_id, seq, at, action, from_status, to_status) ON case_event TO redress_regulator;
GRANT SELECT (id, received_at, channel, country, category, rights, companies, services,
              people_affected, ongoing, started_on, vulnerability, complainant_type,
              share_with_regulator, case_id, triaged_at) ON grievance TO redress_regulator;
GRANT SELECT, INSERT ON export_manifest TO redress_regulator;
GRANT USAGE ON SEQUENCE export_manifest_id_seq TO redress_regulator;

-- ---------------------------------------------------------------------------------------------
-- Row-level security. Permissive policies per role; a role with no policy on a table sees nothing.
ALTER TABLE member ENABLE ROW LEVEL SECURITY;
ALTER TABLE member FORCE ROW LEVEL SECURITY;
ALTER TABLE grievance ENABLE ROW LEVEL SECURITY;
ALTER TABLE grievance FORCE ROW LEVEL SECURITY;
ALTER TABLE remedy_case ENABLE ROW LEVEL SECURITY;
ALTER TABLE remedy_case FORCE ROW LEVEL SECURITY;
ALTER TABLE case_owner ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_owner FORCE ROW LEVEL SECURITY;
ALTER TABLE triage_decision ENABLE ROW LEVEL SECURITY;
ALTER TABLE triage_decision FORCE ROW LEVEL SECURITY;
ALTER TABLE case_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_event FORCE ROW LEVEL SECURITY;
ALTER TABLE remedy ENABLE ROW LEVEL SECURITY;
ALTER TABLE remedy FORCE ROW LEVEL SECURITY;
ALTER TABLE export_manifest ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_manifest FORCE ROW LEVEL SECURITY;

-- Staff and the service roles: what their grants allow, on every row.
CREATE POLICY staff_all ON member TO redress_staff USING (true) WITH CHECK (true);
CREATE POLICY staff_all ON grievance TO redress_staff USING (true) WITH CHECK (true);
CREATE POLICY staff_all ON remedy_case TO redress_staff USING (true) WITH CHECK (true);
CREATE POLICY staff_all ON case_owner TO redress_staff USING (true) WITH CHECK (true);
CREATE POLICY staff_all ON triage_decision TO redress_staff USING (true) WITH CHECK (true);
CREATE POLICY staff_all ON case_event TO redress_staff USING (true) WITH CHECK (true);
CREATE POLICY staff_all ON remedy TO redress_staff USING (true) WITH CHECK (true);
CREATE POLICY staff_all ON export_manifest TO redress_staff USING (true) WITH CHECK (true);

CREATE POLICY intake_all ON grievance TO redress_intake USING (true) WITH CHECK (true);
CREATE POLICY intake_read ON remedy_case FOR SELECT TO redress_intake USING (true);

CREATE POLICY triage_all ON grievance TO redress_triage USING (true) WITH CHECK (true);
CREATE POLICY triage_all ON member TO redress_triage USING (true);
CREATE POLICY triage_all ON remedy_case TO redress_triage USING (true) WITH CHECK (true);
CREATE POLICY triage_all ON case_owner TO redress_triage USING (true) WITH CHECK (true);
CREATE POLICY triage_all ON triage_decision TO redress_triage USING (true) WITH CHECK (true);
CREATE POLICY triage_all ON case_event TO redress_triage USING (true) WITH CHECK (true);

-- Regulators read every row of what their column grants allow; they write only their manifests.
CREATE POLICY regulator_read ON member FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_read ON grievance FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_read ON remedy_case FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_read ON case_owner FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_read ON case_event FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_read ON remedy FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_own ON export_manifest TO redress_regulator
    USING (created_by = current_user) WITH CHECK (created_by = current_user);

-- Teams: the cases their member owns (any role: lead, co-owner or informed), and what hangs off
-- them. Owners of an owned case are visible, so co-owners know who else works it.
CREATE POLICY team_read ON member FOR SELECT TO redress_teams USING (true);
CREATE POLICY team_own ON remedy_case TO redress_teams
    USING (id IN (SELECT redress_owned_cases(current_user)))
    WITH CHECK (id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY team_own ON case_owner FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY team_own ON triage_decision FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY team_own ON grievance FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY team_read ON case_event FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY team_write ON case_event FOR INSERT TO redress_teams
    WITH CHECK (case_id IN (SELECT redress_owned_cases(current_user)) AND actor = current_user);
CREATE POLICY team_read ON remedy FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY team_write ON remedy FOR INSERT TO redress_teams
    WITH CHECK (case_id IN (SELECT redress_owned_cases(current_user)) AND proposed_by = current_user);
CREATE POLICY team_update ON remedy FOR UPDATE TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)))
    WITH CHECK (case_id IN (SELECT redress_owned_cases(current_user)));
CREATE POLICY team_own ON export_manifest TO redress_teams
    USING (created_by = current_user) WITH CHECK (created_by = current_user);
