-- The rights-holder takes part in their own case (issue 8): the story of the case on the status
-- page, messages both ways, the person's answer to a remedy, appeals, feedback, and staff reading
-- contact details under audit.
--
-- Everything a complainant does goes through complainant_act(), everything a team or staff does
-- through the functions below: SECURITY DEFINER with search_path pinned, EXECUTE granted to the
-- roles that call them and never to PUBLIC, each checking who may act and writing its case_event
-- in the same transaction. No application role may write these tables directly.
--
-- What the complainant wrote (messages, comments, appeal reasons) is personal data: it is never in
-- an audit note (events name ids only), never in an export, readable by a team only where the
-- person consented to sharing with members, and erased with the grievance
-- (engagement_erase_on_grievance_erasure below).
--
-- Client errors are raised with SQLSTATE class RE (RE404, RE409, RE422, RE429): the primary message
-- is a sentence for the person (it never quotes a value), DETAIL is a small JSON object
-- {"code", "field", "retry_after"} for the API's error body. A raise rolls the whole call back.

-- A referral can be appealed as a rejection can (UNGP 31: the person may contest the outcome).
INSERT INTO case_transition (from_status, to_status, reason_required)
VALUES ('referred', 'appealed', false) ON CONFLICT DO NOTHING;

-- Messages between the case team and complainants. grievance_id NULL: an announcement to every
-- complainant of the case, stored once however many grievances the case holds.
CREATE TABLE case_message (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES remedy_case(id),
    grievance_id    bigint REFERENCES grievance(id),
    direction       text NOT NULL CHECK (direction IN ('from_complainant', 'to_complainant')),
    body            text CHECK (length(body) BETWEEN 1 AND 20000), -- NULL once erased
    sent_at         timestamptz NOT NULL DEFAULT now(),
    sent_by         text NOT NULL DEFAULT session_user,
    CHECK (direction = 'to_complainant' OR grievance_id IS NOT NULL)
);
CREATE INDEX case_message_grievance ON case_message (grievance_id, sent_at) WHERE grievance_id IS NOT NULL;
CREATE INDEX case_message_announcement ON case_message (case_id, sent_at) WHERE grievance_id IS NULL;

-- The person's own answer to an offered remedy (channel 'online'), or one given on paper or by
-- phone and recorded by staff or the case team (channel 'paper' / 'phone', recorded_by says who).
CREATE TABLE remedy_response (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    remedy_id       bigint NOT NULL REFERENCES remedy(id),
    grievance_id    bigint NOT NULL REFERENCES grievance(id),
    decision        text NOT NULL CHECK (decision IN ('accept', 'decline')),
    comment         text CHECK (length(comment) BETWEEN 1 AND 20000),
    channel         text NOT NULL CHECK (channel IN ('online', 'paper', 'phone')),
    responded_at    timestamptz NOT NULL DEFAULT now(),
    recorded_by     text NOT NULL DEFAULT session_user,
    UNIQUE (remedy_id, grievance_id)
);

-- Appeals: after a rejection, referral, declined remedy or closure, within the window.
CREATE TABLE appeal (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES remedy_case(id),
    grievance_id    bigint NOT NULL REFERENCES grievance(id),
    from_status     case_status NOT NULL,               -- the decision appealed against
    reason          text CHECK (length(reason) BETWEEN 1 AND 20000),
    appealed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appeal_case ON appeal (case_id);
CREATE INDEX appeal_grievance ON appeal (grievance_id);

-- Satisfaction after closure, once per grievance.
CREATE TABLE feedback (
    grievance_id    bigint PRIMARY KEY REFERENCES grievance(id),
    case_id         bigint NOT NULL REFERENCES remedy_case(id),
    rating          smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment         text CHECK (length(comment) BETWEEN 1 AND 20000),
    given_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_case ON feedback (case_id);

-- Idempotency of the complainant's actions: a retry with the same key and body gets the first
-- answer again; the same key with another body is refused.
CREATE TABLE complainant_request (
    grievance_id    bigint NOT NULL REFERENCES grievance(id),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash    bytea NOT NULL,
    response        jsonb NOT NULL,
    made_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (grievance_id, idempotency_key)
);

-- ---------------------------------------------------------------------------------------------
-- Access. Staff read everything (and write only through the functions); teams read the rows of
-- the cases they own, and a complainant's own words only where that person consented to sharing
-- with members; regulators read the countable columns for statistics, never a text.
ALTER TABLE case_message ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_message FORCE ROW LEVEL SECURITY;
ALTER TABLE remedy_response ENABLE ROW LEVEL SECURITY;
ALTER TABLE remedy_response FORCE ROW LEVEL SECURITY;
ALTER TABLE appeal ENABLE ROW LEVEL SECURITY;
ALTER TABLE appeal FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback FORCE ROW LEVEL SECURITY;
ALTER TABLE complainant_request ENABLE ROW LEVEL SECURITY;
ALTER TABLE complainant_request FORCE ROW LEVEL SECURITY;

-- Does the grievance's complainant let the member companies see it? Asked by team policies without
-- depending on what the team may read of grievance itself.
CREATE FUNCTION grievance_shared_with_members(gid bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce((SELECT g.share_with_members FROM grievance g WHERE g.id = gid), false)
$$;
REVOKE ALL ON FUNCTION grievance_shared_with_members(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_shared_with_members(bigint) TO redress_teams;

GRANT SELECT ON case_message, remedy_response, appeal, feedback TO redress_staff;
GRANT SELECT ON case_message TO redress_teams;
GRANT SELECT ON remedy_response, appeal TO redress_teams;
GRANT SELECT (grievance_id, case_id, rating, given_at) ON feedback TO redress_teams;
GRANT SELECT (id, remedy_id, grievance_id, decision, channel, responded_at) ON remedy_response
    TO redress_regulator;
GRANT SELECT (id, case_id, grievance_id, from_status, appealed_at) ON appeal TO redress_regulator;
GRANT SELECT (grievance_id, case_id, rating, given_at) ON feedback TO redress_regulator;

CREATE POLICY staff_read ON case_message FOR SELECT TO redress_staff USING (true);
CREATE POLICY staff_read ON remedy_response FOR SELECT TO redress_staff USING (true);
CREATE POLICY staff_read ON appeal FOR SELECT TO redress_staff USING (true);
CREATE POLICY staff_read ON feedback FOR SELECT TO redress_staff USING (true);

-- Announcements (grievance_id NULL) were written for every complainant of the case; a message to
-- or from one person only where that person consented.
CREATE POLICY team_read ON case_message FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user))
           AND (grievance_id IS NULL OR grievance_shared_with_members(grievance_id)));
CREATE POLICY team_read ON remedy_response FOR SELECT TO redress_teams
    USING (remedy_id IN (SELECT r.id FROM remedy r)          -- remedy's own policy: owned cases
           AND grievance_shared_with_members(grievance_id));
CREATE POLICY team_read ON appeal FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user))
           AND grievance_shared_with_members(grievance_id));
CREATE POLICY team_read ON feedback FOR SELECT TO redress_teams
    USING (case_id IN (SELECT redress_owned_cases(current_user)));

CREATE POLICY regulator_read ON remedy_response FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_read ON appeal FOR SELECT TO redress_regulator USING (true);
CREATE POLICY regulator_read ON feedback FOR SELECT TO redress_regulator USING (true);

-- ---------------------------------------------------------------------------------------------
-- Helpers (definer-only: not EXECUTE-able by any application role).

-- Raises a client error: RE<http> with the person's sentence and the API's code and field.
CREATE FUNCTION engagement_refuse(http integer, code text, field text, message text,
                                  retry_after integer DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'RE' || http::text, MESSAGE = message,
        DETAIL = json_build_object('code', code, 'field', field, 'retry_after', retry_after)::text;
END $$;
REVOKE ALL ON FUNCTION engagement_refuse(integer, text, text, text, integer) FROM PUBLIC;

-- A text a person typed: trimmed; NULL when absent or empty and not required; refused when it is
-- not a string, too long (characters) or carries control characters other than tab and newline.
CREATE FUNCTION engagement_text(args jsonb, field text, required boolean, max_chars integer)
RETURNS text LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    v jsonb := args -> field;
    t text;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        t := NULL;
    ELSIF jsonb_typeof(v) <> 'string' THEN
        PERFORM engagement_refuse(422, 'invalid_type', field, field || ' must be a string');
    ELSE
        t := btrim(v #>> '{}', E' \t\r\n');
        IF t = '' THEN
            t := NULL;
        END IF;
    END IF;
    IF t IS NULL THEN
        IF required THEN
            PERFORM engagement_refuse(422, 'required', field, field || ' is required');
        END IF;
        RETURN NULL;
    END IF;
    IF length(t) > max_chars THEN
        PERFORM engagement_refuse(422, 'too_long', field,
                                  format('%s must be at most %s characters', field, max_chars));
    END IF;
    IF t ~ E'[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]' THEN
        PERFORM engagement_refuse(422, 'invalid', field, field || ' must not contain control characters');
    END IF;
    RETURN t;
END $$;
REVOKE ALL ON FUNCTION engagement_text(jsonb, text, boolean, integer) FROM PUBLIC;

CREATE FUNCTION engagement_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
REVOKE ALL ON FUNCTION engagement_time(timestamptz) FROM PUBLIC;

-- Moves a case along case_transition with its event, in the caller's transaction: integrity's
-- case_status_move (006) after locking the row.
CREATE FUNCTION engagement_case_move(cid bigint, to_st case_status, note text) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    c record;
BEGIN
    SELECT status, reference INTO c FROM remedy_case WHERE id = cid FOR UPDATE;
    PERFORM case_status_move(cid, c.reference, c.status, to_st, note);
END $$;
REVOKE ALL ON FUNCTION engagement_case_move(bigint, case_status, text) FROM PUBLIC;

-- When and from what the case's current decision was made: the latest event that moved the case
-- to its current status.
CREATE FUNCTION case_decided_at(cid bigint, st case_status) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT coalesce(max(e.at), (SELECT c.updated_at FROM remedy_case c WHERE c.id = cid))
    FROM case_event e WHERE e.case_id = cid AND e.to_status = st
$$;
REVOKE ALL ON FUNCTION case_decided_at(bigint, case_status) FROM PUBLIC;

-- The appeal window of a case for a complainant: whether the case may be appealed now, until when,
-- and if not, why (an API code and a sentence).
CREATE FUNCTION case_appeal_window(cid bigint, window_days integer,
                                   OUT allowed boolean, OUT until timestamptz, OUT code text,
                                   OUT why text)
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
DECLARE
    st case_status;
    decided timestamptz;
BEGIN
    SELECT c.status INTO st FROM remedy_case c WHERE c.id = cid;
    allowed := false;
    IF st IS NULL OR st NOT IN ('rejected', 'referred', 'remedy_declined', 'closed') THEN
        code := 'not_appealable';
        why := 'An appeal is possible after a rejection, a referral, a declined remedy or the '
               'closure of the case.';
        RETURN;
    END IF;
    decided := case_decided_at(cid, st);
    until := decided + make_interval(days => window_days);
    IF now() > until THEN
        code := 'appeal_window_closed';
        why := format('The time to appeal (%s days after the decision of %s) ended on %s.',
                      window_days, to_char(decided AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                      to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD'));
        RETURN;
    END IF;
    allowed := true;
END $$;
REVOKE ALL ON FUNCTION case_appeal_window(bigint, integer) FROM PUBLIC;

-- Records a complainant's answer to remedy rid of case cid (both locked by the caller): the answer
-- row and its event. In a case of one grievance the person's answer is the answer: the remedy is
-- settled and the case moves. In a collective case each person answers for themself and the team
-- decides when the remedy as a whole is settled. Returns the answer's id.
CREATE FUNCTION engagement_remedy_answer(cid bigint, rid bigint, gid bigint, decision text,
                                         comment text, channel text) RETURNS bigint
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    answer_id bigint;
    done text := CASE decision WHEN 'accept' THEN 'accepted' ELSE 'declined' END;
    how text := CASE channel WHEN 'online' THEN 'online'
                ELSE 'given by ' || channel || ', recorded by staff or the case team' END;
BEGIN
    INSERT INTO remedy_response (remedy_id, grievance_id, decision, comment, channel)
    VALUES (rid, gid, decision, comment, channel) RETURNING id INTO answer_id;
    INSERT INTO case_event (case_id, action, note)
    VALUES (cid, 'remedy_response',
            format('remedy %s %s by the complainant (%s, response %s)', rid, done, how, answer_id));
    IF (SELECT count(*) FROM grievance x WHERE x.case_id = cid) = 1 THEN
        UPDATE remedy SET status = done,
                          accepted_at = CASE done WHEN 'accepted' THEN now() ELSE accepted_at END,
                          declined_at = CASE done WHEN 'declined' THEN now() ELSE declined_at END
        WHERE id = rid;
        IF (SELECT status FROM remedy_case WHERE id = cid) = 'remedy_proposed' THEN
            PERFORM engagement_case_move(cid, ('remedy_' || done)::case_status,
                                         format('remedy %s %s by the complainant (%s)', rid, done, channel));
        END IF;
    END IF;
    RETURN answer_id;
END $$;
REVOKE ALL ON FUNCTION engagement_remedy_answer(bigint, bigint, bigint, text, text, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- What the complainant sees: the story of their case as one JSON object, or NULL when no
-- grievance has this reference and receipt hash (the same answer for an unknown reference and a
-- wrong receipt). Case-wide facts (history, owners, announcements) are read from the case, never
-- copied per grievance. settings: {"appeal_window_days"}.
CREATE FUNCTION grievance_story(ref text, rhash bytea, settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g grievance;
    c remedy_case;
    story jsonb;
    win record;
    window_days integer := coalesce((settings ->> 'appeal_window_days')::integer, 90);
BEGIN
    -- By receipt hash alone (one probe of its index), then the reference: an unknown reference
    -- and a wrong receipt cost the same work.
    SELECT * INTO g FROM grievance WHERE receipt_hash = rhash;
    IF NOT FOUND OR g.reference IS DISTINCT FROM ref THEN
        RETURN NULL;
    END IF;
    SELECT * INTO c FROM remedy_case WHERE id = g.case_id;
    story := jsonb_build_object(
        'reference', g.reference,
        'status', coalesce(c.status::text, 'received'),
        'received_at', engagement_time(g.received_at),
        'language', g.language,
        'collective', coalesce(c.collective, false),
        'grievance_count', c.grievance_count);
    IF c.id IS NULL THEN
        RETURN story || jsonb_build_object(
            'history', jsonb_build_array(jsonb_build_object('status', 'received', 'at',
                                                            engagement_time(g.received_at))),
            'owners', '[]'::jsonb, 'priority', NULL, 'next_deadline', NULL,
            'missed_deadlines', '[]'::jsonb, 'outcome', NULL, 'remedies', '[]'::jsonb,
            'messages', '[]'::jsonb, 'appeals', '[]'::jsonb,
            'can_appeal', jsonb_build_object('allowed', false, 'code', 'not_appealable'),
            'feedback', jsonb_build_object('allowed', false, 'given', NULL));
    END IF;
    SELECT * INTO win FROM case_appeal_window(c.id, window_days);
    RETURN story || jsonb_build_object(
        'history', (
            SELECT jsonb_agg(h.item ORDER BY h.at, h.ord) FROM (
                SELECT g.received_at AS at, 0 AS ord,
                       jsonb_build_object('status', 'received', 'at', engagement_time(g.received_at)) AS item
                UNION ALL
                SELECT e.at, e.seq, jsonb_build_object('status', e.to_status, 'at', engagement_time(e.at))
                FROM case_event e WHERE e.case_id = c.id AND e.to_status IS NOT NULL
            ) h),
        'owners', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'member', m.slug, 'name', m.name, 'role', o.role,
                       'involvement', o.involvement,
                       'involvement_text', CASE o.involvement
                           WHEN 'caused' THEN 'caused the harm'
                           WHEN 'contributed' THEN 'contributed to the harm'
                           ELSE 'is directly linked to the harm through its products or services'
                       END) ORDER BY CASE o.role WHEN 'lead' THEN 0 WHEN 'co-owner' THEN 1 ELSE 2 END, m.slug)
            FROM case_owner o JOIN member m ON m.id = o.member_id WHERE o.case_id = c.id), '[]'::jsonb),
        'priority', CASE WHEN c.band IS NULL THEN NULL ELSE jsonb_build_object(
            'band', c.band,
            'reason', (SELECT string_agg(f.why, '; ' ORDER BY f.points DESC)
                       FROM (SELECT x ->> 'why' AS why, (x ->> 'points')::numeric AS points
                             FROM (SELECT d.rules_fired FROM triage_decision d WHERE d.case_id = c.id
                                   ORDER BY d.decided_at DESC, d.id DESC LIMIT 1) ld,
                                  jsonb_array_elements(ld.rules_fired) x
                             WHERE (x ->> 'points')::numeric > 0
                             ORDER BY 2 DESC LIMIT 3) f)) END,
        'next_deadline', (
            SELECT jsonb_build_object('stage', d.stage, 'due', engagement_time(d.due),
                                      'overdue', d.due < now())
            FROM case_next_deadline(c.status, c.ack_due, c.response_due, c.remedy_due) d),
        'missed_deadlines', coalesce((
            SELECT jsonb_agg(jsonb_build_object('stage', dl.stage, 'due', engagement_time(dl.due))
                             ORDER BY dl.due)
            FROM (VALUES ('acknowledge', c.ack_due, 'assigned'::case_status),
                         ('first_response', c.response_due, 'investigating'::case_status),
                         ('remedy_proposal', c.remedy_due, 'remedy_proposed'::case_status))
                 AS dl(stage, due, reached_by)
            WHERE dl.due IS NOT NULL AND dl.due < now()
              AND coalesce((SELECT min(e.at) FROM case_event e
                            WHERE e.case_id = c.id AND e.to_status = dl.reached_by), 'infinity') > dl.due),
            '[]'::jsonb),
        'outcome', CASE WHEN c.status IN ('rejected', 'referred', 'closed') THEN (
            SELECT jsonb_build_object('status', e.to_status, 'at', engagement_time(e.at),
                                      'reason', e.note)
            FROM case_event e WHERE e.case_id = c.id AND e.to_status = c.status
            ORDER BY e.seq DESC LIMIT 1) END,
        'remedies', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', r.id, 'type', r.type, 'details', r.details, 'status', r.status,
                       'proposed_at', engagement_time(r.proposed_at),
                       'your_response', (SELECT jsonb_build_object(
                               'decision', rr.decision, 'comment', rr.comment, 'channel', rr.channel,
                               'at', engagement_time(rr.responded_at))
                           FROM remedy_response rr WHERE rr.remedy_id = r.id AND rr.grievance_id = g.id),
                       'can_respond', r.status = 'offered' AND NOT EXISTS (
                           SELECT 1 FROM remedy_response rr
                           WHERE rr.remedy_id = r.id AND rr.grievance_id = g.id))
                   ORDER BY r.id)
            FROM remedy r WHERE r.case_id = c.id), '[]'::jsonb),
        'messages', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', m.id,
                       'from', CASE m.direction WHEN 'from_complainant' THEN 'you' ELSE 'case_team' END,
                       'to_everyone', m.grievance_id IS NULL,
                       'at', engagement_time(m.sent_at), 'text', m.body) ORDER BY m.sent_at, m.id)
            FROM case_message m
            WHERE m.body IS NOT NULL
              AND (m.grievance_id = g.id OR (m.grievance_id IS NULL AND m.case_id = c.id))), '[]'::jsonb),
        'appeals', coalesce((
            SELECT jsonb_agg(jsonb_build_object('against', a.from_status, 'reason', a.reason,
                                                'at', engagement_time(a.appealed_at)) ORDER BY a.id)
            FROM appeal a WHERE a.grievance_id = g.id), '[]'::jsonb),
        'can_appeal', jsonb_build_object('allowed', win.allowed, 'until', engagement_time(win.until),
                                         'code', win.code, 'why', win.why),
        'feedback', jsonb_build_object(
            'allowed', c.status IN ('closed', 'rejected', 'referred')
                       AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.grievance_id = g.id),
            'given', (SELECT jsonb_build_object('rating', f.rating, 'comment', f.comment,
                                                'at', engagement_time(f.given_at))
                      FROM feedback f WHERE f.grievance_id = g.id)));
END $$;
REVOKE ALL ON FUNCTION grievance_story(text, bytea, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_story(text, bytea, jsonb) TO redress_intake, redress_staff;

-- ---------------------------------------------------------------------------------------------
-- The complainant's actions, one entry point for the intake. ref and rhash identify the person
-- (a wrong pair is RE404, as for an unknown reference); action is 'message', 'remedy_response',
-- 'appeal' or 'feedback'; args the API's JSON body (shape already checked by the intake);
-- idem_key/request_hash the Idempotency-Key and the SHA-256 of the body (both NULL without a key);
-- limits {"message_max_chars", "messages_per_day", "appeal_window_days"} from the intake's config.
-- Returns {"http": 200|201, "body": {...}}; every refusal raises (nothing stored).
CREATE FUNCTION complainant_act(ref text, rhash bytea, action text, args jsonb, idem_key text,
                                request_hash bytea, limits jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g grievance;
    c remedy_case;
    prior complainant_request;
    result jsonb;
    max_chars integer := coalesce((limits ->> 'message_max_chars')::integer, 4000);
    per_day integer := coalesce((limits ->> 'messages_per_day')::integer, 20);
    window_days integer := coalesce((limits ->> 'appeal_window_days')::integer, 90);
    t text;
    n integer;
    oldest timestamptz;
    new_id bigint;
    r remedy;
    decision text;
    win record;
    rating integer;
BEGIN
    -- The grievance row lock orders this person's actions: counts and keys cannot race.
    -- Found by receipt hash alone, then checked against the reference (as grievance_story): a wrong
    -- receipt on a known reference costs what an unknown reference does.
    SELECT * INTO g FROM grievance WHERE receipt_hash = rhash FOR NO KEY UPDATE;
    IF NOT FOUND OR g.reference IS DISTINCT FROM ref THEN
        PERFORM engagement_refuse(404, 'not_found', NULL,
                                  'No grievance matches this reference and receipt.');
    END IF;
    IF idem_key IS NOT NULL THEN
        SELECT * INTO prior FROM complainant_request p
        WHERE p.grievance_id = g.id AND p.idempotency_key = idem_key;
        IF FOUND THEN
            IF prior.request_hash IS DISTINCT FROM request_hash THEN
                PERFORM engagement_refuse(409, 'idempotency_conflict', 'Idempotency-Key',
                                          'This Idempotency-Key was already used with a different request.');
            END IF;
            RETURN prior.response || jsonb_build_object('replayed', true);
        END IF;
    END IF;
    SELECT * INTO c FROM remedy_case WHERE id = g.case_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM engagement_refuse(409, 'not_yet_assessed', NULL,
                                  'Your grievance is still being assessed. Please try again in a few minutes.');
    END IF;

    IF action = 'message' THEN
        t := engagement_text(args, 'text', true, max_chars);
        SELECT count(*), min(m.sent_at) INTO n, oldest FROM case_message m
        WHERE m.grievance_id = g.id AND m.direction = 'from_complainant'
          AND m.sent_at > now() - interval '1 day';
        IF n >= per_day THEN
            PERFORM engagement_refuse(429, 'too_many_messages', NULL,
                format('At most %s messages a day can be sent about one grievance. Please try again later.', per_day),
                greatest(1, ceil(extract(epoch FROM oldest + interval '1 day' - now())))::integer);
        END IF;
        INSERT INTO case_message (case_id, grievance_id, direction, body)
        VALUES (c.id, g.id, 'from_complainant', t) RETURNING id INTO new_id;
        INSERT INTO case_event (case_id, action, note)
        VALUES (c.id, 'message', format('message %s received from a complainant', new_id));
        result := jsonb_build_object('http', 201, 'body',
            jsonb_build_object('message_id', new_id, 'sent_at', engagement_time(now())));

    ELSIF action = 'remedy_response' THEN
        decision := engagement_text(args, 'decision', true, 10);
        IF decision NOT IN ('accept', 'decline') THEN
            PERFORM engagement_refuse(422, 'invalid', 'decision', 'decision must be accept or decline');
        END IF;
        t := engagement_text(args, 'comment', false, max_chars);
        SELECT * INTO r FROM remedy WHERE id = (args ->> 'remedy_id')::bigint AND case_id = c.id FOR UPDATE;
        IF NOT FOUND THEN
            PERFORM engagement_refuse(404, 'remedy_not_found', 'remedy_id',
                                      'No remedy with this number was offered in your case.');
        END IF;
        IF EXISTS (SELECT 1 FROM remedy_response rr WHERE rr.remedy_id = r.id AND rr.grievance_id = g.id) THEN
            PERFORM engagement_refuse(409, 'already_answered', 'remedy_id',
                                      'You have already answered this remedy.');
        END IF;
        IF r.status <> 'offered' THEN
            PERFORM engagement_refuse(409, 'remedy_not_open', 'remedy_id',
                                      format('This remedy can no longer be answered: it is %s.', r.status));
        END IF;
        PERFORM engagement_remedy_answer(c.id, r.id, g.id, decision, t, 'online');
        result := jsonb_build_object('http', 201, 'body', jsonb_build_object(
            'remedy_id', r.id, 'decision', decision,
            'status', (SELECT status::text FROM remedy_case WHERE id = c.id)));

    ELSIF action = 'appeal' THEN
        t := engagement_text(args, 'reason', true, max_chars);
        IF c.status = 'appealed' THEN
            -- Another complainant of the case appealed first: this one joins the appeal.
            IF EXISTS (SELECT 1 FROM appeal a WHERE a.grievance_id = g.id
                       AND a.appealed_at >= case_decided_at(c.id, 'appealed')) THEN
                PERFORM engagement_refuse(409, 'already_appealed', NULL,
                                          'You have already appealed; the appeal is being looked at.');
            END IF;
            INSERT INTO appeal (case_id, grievance_id, from_status, reason)
            VALUES (c.id, g.id, (SELECT a.from_status FROM appeal a WHERE a.case_id = c.id
                                 ORDER BY a.id DESC LIMIT 1), t) RETURNING id INTO new_id;
            INSERT INTO case_event (case_id, action, note)
            VALUES (c.id, 'appeal', format('appeal %s by a complainant joins the pending appeal', new_id));
        ELSE
            SELECT * INTO win FROM case_appeal_window(c.id, window_days);
            IF NOT win.allowed THEN
                PERFORM engagement_refuse(409, win.code, NULL, win.why);
            END IF;
            INSERT INTO appeal (case_id, grievance_id, from_status, reason)
            VALUES (c.id, g.id, c.status, t) RETURNING id INTO new_id;
            -- The appeal is heard by the mechanism's staff, not by the companies that decided.
            UPDATE remedy_case SET mechanism_queue = true WHERE id = c.id;
            PERFORM engagement_case_move(c.id, 'appealed',
                format('appeal %s by a complainant against %s; to the mechanism staff''s queue',
                       new_id, c.status));
        END IF;
        result := jsonb_build_object('http', 201, 'body', jsonb_build_object(
            'appeal_id', new_id, 'status', 'appealed'));

    ELSIF action = 'feedback' THEN
        IF jsonb_typeof(args -> 'rating') IS DISTINCT FROM 'number'
           OR (args ->> 'rating') !~ '^[1-5]$' THEN
            PERFORM engagement_refuse(422, 'invalid', 'rating', 'rating must be a whole number from 1 to 5');
        END IF;
        rating := (args ->> 'rating')::integer;
        t := engagement_text(args, 'comment', false, max_chars);
        IF c.status NOT IN ('closed', 'rejected', 'referred') THEN
            PERFORM engagement_refuse(409, 'not_closed', NULL,
                                      'Feedback can be given once the case is closed.');
        END IF;
        IF EXISTS (SELECT 1 FROM feedback f WHERE f.grievance_id = g.id) THEN
            PERFORM engagement_refuse(409, 'feedback_given', NULL,
                                      'Feedback has already been given for this grievance.');
        END IF;
        INSERT INTO feedback (grievance_id, case_id, rating, comment) VALUES (g.id, c.id, rating, t);
        INSERT INTO case_event (case_id, action, note)
        VALUES (c.id, 'feedback', format('feedback from a complainant: rating %s', rating));
        result := jsonb_build_object('http', 201, 'body', jsonb_build_object('rating', rating));

    ELSE
        PERFORM engagement_refuse(404, 'not_found', NULL, 'There is nothing at this address.');
    END IF;

    IF idem_key IS NOT NULL THEN
        INSERT INTO complainant_request (grievance_id, idempotency_key, request_hash, response)
        VALUES (g.id, idem_key, request_hash, result);
    END IF;
    RETURN result;
END $$;
REVOKE ALL ON FUNCTION complainant_act(text, bytea, text, jsonb, text, bytea, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION complainant_act(text, bytea, text, jsonb, text, bytea, jsonb)
    TO redress_intake;

-- ---------------------------------------------------------------------------------------------
-- The case team's and staff's side.

-- What the session may do on case cid: 'staff', 'lead', 'co-owner', 'informed' or NULL (nothing).
CREATE FUNCTION engagement_actor_role(cid bigint) RETURNS text
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN pg_has_role(session_user, 'redress_staff', 'MEMBER') THEN 'staff' ELSE (
        SELECT o.role FROM case_owner o JOIN member m ON m.id = o.member_id
        WHERE o.case_id = cid AND pg_has_role(session_user, m.team_role, 'MEMBER')
        ORDER BY CASE o.role WHEN 'lead' THEN 0 WHEN 'co-owner' THEN 1 ELSE 2 END LIMIT 1) END
$$;
REVOKE ALL ON FUNCTION engagement_actor_role(bigint) FROM PUBLIC;

-- A case reference, or a grievance reference (then the grievance too), as the session may see it.
CREATE FUNCTION engagement_resolve(ref text, OUT cid bigint, OUT gid bigint, OUT role text)
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
BEGIN
    SELECT g.case_id, g.id INTO cid, gid FROM grievance g WHERE g.reference = ref;
    IF gid IS NOT NULL AND cid IS NULL THEN
        RAISE EXCEPTION 'grievance % is not in a case yet (triage has not reached it)', ref
            USING ERRCODE = 'P0002';
    END IF;
    IF gid IS NULL THEN
        SELECT c.id INTO cid FROM remedy_case c WHERE c.reference = ref;
    END IF;
    role := CASE WHEN cid IS NULL THEN NULL ELSE engagement_actor_role(cid) END;
    IF role IS NULL THEN
        RAISE EXCEPTION 'no case or grievance with reference % (or you may not see it)', ref
            USING ERRCODE = 'P0002';
    END IF;
    -- A team reaches one complainant only where that person consented to sharing with members.
    IF gid IS NOT NULL AND role <> 'staff' AND NOT grievance_shared_with_members(gid) THEN
        RAISE EXCEPTION 'the complainant of % did not consent to sharing with members', ref
            USING ERRCODE = '42501';
    END IF;
END $$;
REVOKE ALL ON FUNCTION engagement_resolve(text) FROM PUBLIC;

-- Sends a message to the complainant of grievance REF, or with to_all an announcement to every
-- complainant of case REF (one row however many). Staff, or the lead or a co-owner of the case.
-- Returns the message id and how many grievances it reaches.
CREATE FUNCTION case_message_send(ref text, body text, to_all boolean,
                                  OUT message_id bigint, OUT case_reference text, OUT recipients bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cid bigint;
    gid bigint;
    who text;
BEGIN
    IF body IS NULL OR length(btrim(body)) = 0 OR length(body) > 20000 THEN
        RAISE EXCEPTION 'the message must have 1 to 20000 characters' USING ERRCODE = '22023';
    END IF;
    SELECT x.cid, x.gid, x.role INTO cid, gid, who FROM engagement_resolve(ref) x;
    IF who NOT IN ('staff', 'lead', 'co-owner') THEN
        RAISE EXCEPTION 'an informed member may read the case but not write to complainants'
            USING ERRCODE = '42501';
    END IF;
    IF to_all AND gid IS NOT NULL THEN
        RAISE EXCEPTION 'an announcement goes to a case: give the case reference, not a grievance''s'
            USING ERRCODE = '22023';
    END IF;
    IF NOT to_all AND gid IS NULL THEN
        IF (SELECT count(*) FROM grievance g WHERE g.case_id = cid) <> 1 THEN
            RAISE EXCEPTION 'case % holds several grievances: give one grievance''s reference, or --all', ref
                USING ERRCODE = '22023';
        END IF;
        SELECT g.id INTO gid FROM grievance g WHERE g.case_id = cid;
        IF who <> 'staff' AND NOT grievance_shared_with_members(gid) THEN
            RAISE EXCEPTION 'the complainant of % did not consent to sharing with members', ref
                USING ERRCODE = '42501';
        END IF;
    END IF;
    INSERT INTO case_message (case_id, grievance_id, direction, body)
    VALUES (cid, CASE WHEN to_all THEN NULL ELSE gid END, 'to_complainant', btrim(body))
    RETURNING id INTO message_id;
    recipients := CASE WHEN to_all THEN (SELECT count(*) FROM grievance g WHERE g.case_id = cid) ELSE 1 END;
    INSERT INTO case_event (case_id, action, note)
    VALUES (cid, 'message', CASE WHEN to_all
        THEN format('announcement %s to all %s complainants of the case', message_id, recipients)
        ELSE format('message %s to one complainant', message_id) END);
    SELECT c.reference INTO case_reference FROM remedy_case c WHERE c.id = cid;
END $$;
REVOKE ALL ON FUNCTION case_message_send(text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION case_message_send(text, text, boolean) TO redress_staff, redress_teams;

-- Records a complainant's answer to a remedy given on paper or by phone, marked as such. Staff, or
-- the lead or a co-owner of the case; the same effects as the person's own answer online.
CREATE FUNCTION remedy_response_record(ref text, remedy_id bigint, decision text, comment text,
                                       channel text, OUT response_id bigint, OUT new_status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cid bigint;
    gid bigint;
    who text;
    r remedy;
    c remedy_case;
BEGIN
    IF decision IS NULL OR decision NOT IN ('accept', 'decline') THEN
        RAISE EXCEPTION 'the decision must be accept or decline' USING ERRCODE = '22023';
    END IF;
    IF channel IS NULL OR channel NOT IN ('paper', 'phone') THEN
        RAISE EXCEPTION 'the channel must be paper or phone' USING ERRCODE = '22023';
    END IF;
    IF comment IS NOT NULL AND length(comment) > 20000 THEN
        RAISE EXCEPTION 'the comment must have at most 20000 characters' USING ERRCODE = '22023';
    END IF;
    SELECT x.cid, x.gid, x.role INTO cid, gid, who FROM engagement_resolve(ref) x;
    IF who NOT IN ('staff', 'lead', 'co-owner') THEN
        RAISE EXCEPTION 'an informed member may not record a remedy decision' USING ERRCODE = '42501';
    END IF;
    IF gid IS NULL THEN
        IF (SELECT count(*) FROM grievance g WHERE g.case_id = cid) <> 1 THEN
            RAISE EXCEPTION 'case % holds several grievances: give the reference of the grievance whose complainant answered', ref
                USING ERRCODE = '22023';
        END IF;
        SELECT g.id INTO gid FROM grievance g WHERE g.case_id = cid;
    END IF;
    SELECT * INTO c FROM remedy_case WHERE id = cid FOR UPDATE;
    SELECT * INTO r FROM remedy x WHERE x.id = remedy_response_record.remedy_id AND x.case_id = cid FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'case % has no remedy %', c.reference, remedy_response_record.remedy_id
            USING ERRCODE = 'P0002';
    END IF;
    IF r.status <> 'offered' OR EXISTS (SELECT 1 FROM remedy_response rr
                                        WHERE rr.remedy_id = r.id AND rr.grievance_id = gid) THEN
        RAISE EXCEPTION 'remedy % is % or already answered by this complainant', r.id, r.status
            USING ERRCODE = 'P0002';
    END IF;
    response_id := engagement_remedy_answer(c.id, r.id, gid, decision, nullif(btrim(comment), ''),
                                            channel);
    SELECT x.status::text INTO new_status FROM remedy_case x WHERE x.id = c.id;
END $$;
REVOKE ALL ON FUNCTION remedy_response_record(text, bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION remedy_response_record(text, bigint, text, text, text)
    TO redress_staff, redress_teams;

-- The sealed contact details of grievance REF for staff (always) or a team owning its case (only
-- where the person consented to sharing with members), with the reason in the audit trail in the
-- same transaction. redressctl opens the seal with the contact key.
CREATE FUNCTION grievance_contact_reveal(ref text, reason text, OUT contact_enc bytea,
                                         OUT complainant_type text, OUT case_reference text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cid bigint;
    gid bigint;
    who text;
BEGIN
    IF reason IS NULL OR length(btrim(reason)) < 3 OR length(reason) > 1000 THEN
        RAISE EXCEPTION 'a reason of 3 to 1000 characters is required' USING ERRCODE = '22023';
    END IF;
    SELECT x.cid, x.gid, x.role INTO cid, gid, who FROM engagement_resolve(ref) x;
    IF gid IS NULL THEN
        RAISE EXCEPTION 'contact details belong to a grievance: give its reference, not the case''s'
            USING ERRCODE = '22023';
    END IF;
    SELECT g.contact_enc, g.complainant_type INTO contact_enc, complainant_type
    FROM grievance g WHERE g.id = gid;
    SELECT c.reference INTO case_reference FROM remedy_case c WHERE c.id = cid;
    INSERT INTO case_event (case_id, action, note)
    VALUES (cid, 'contact_read',
            format('contact details of grievance %s read (%s): %s', ref,
                   CASE WHEN contact_enc IS NULL THEN 'none stored' ELSE 'shown' END, btrim(reason)));
END $$;
REVOKE ALL ON FUNCTION grievance_contact_reveal(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_contact_reveal(text, text) TO redress_staff, redress_teams;

-- ---------------------------------------------------------------------------------------------
-- Erasure: when a grievance's narrative or contact is erased (the only change the immutability
-- trigger lets through), the person's own words in the engagement tables go with it. The counts
-- (a message was sent, a rating, a decision) stay for statistics.
CREATE FUNCTION engagement_erase() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE case_message SET body = NULL WHERE grievance_id = NEW.id;
    UPDATE remedy_response SET comment = NULL WHERE grievance_id = NEW.id;
    UPDATE appeal SET reason = NULL WHERE grievance_id = NEW.id;
    UPDATE feedback SET comment = NULL WHERE grievance_id = NEW.id;
    DELETE FROM complainant_request WHERE grievance_id = NEW.id;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION engagement_erase() FROM PUBLIC;
CREATE TRIGGER engagement_erase AFTER UPDATE OF description, contact_enc ON grievance
    FOR EACH ROW WHEN (OLD.description IS DISTINCT FROM NEW.description
                       OR (OLD.contact_enc IS NOT NULL AND NEW.contact_enc IS NULL))
    EXECUTE FUNCTION engagement_erase();

-- ---------------------------------------------------------------------------------------------
-- The engagement figures of `redressctl export stats` (rows measure, key, value after the core
-- figures), over the cases first received in the period, with the caller's row-level security:
--   satisfaction_mean[_by_member|_by_category]   mean feedback rating (1..5), feedback_count
--   appeal_rate[_by_member|_by_category]         cases appealed / cases that reached a decision
--                                                one may appeal (rejected, referred, remedy
--                                                declined, closed)
--   remedy_acceptance_rate[_by_member|_by_category]  accepted / answered remedies: each person's
--                                                answer (remedy_response), or the remedy's own
--                                                outcome where nobody answered individually
CREATE FUNCTION engagement_stats(date_from date, date_to date)
RETURNS TABLE (ord integer, measure text, key text, value text)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    WITH c AS (
        SELECT c.id, c.category FROM remedy_case c
        WHERE c.first_received_at >= date_from::timestamp AT TIME ZONE 'UTC'
          AND c.first_received_at < (date_to + 1)::timestamp AT TIME ZONE 'UTC'),
    owner AS (
        SELECT o.case_id, m.slug FROM case_owner o JOIN member m ON m.id = o.member_id
        WHERE o.case_id IN (SELECT id FROM c)),
    fb AS (SELECT f.case_id, f.rating FROM feedback f WHERE f.case_id IN (SELECT id FROM c)),
    decided AS (
        SELECT c.id AS case_id, EXISTS (SELECT 1 FROM appeal a WHERE a.case_id = c.id) AS appealed
        FROM c WHERE EXISTS (SELECT 1 FROM case_event e WHERE e.case_id = c.id
                             AND e.to_status IN ('rejected', 'referred', 'remedy_declined', 'closed'))),
    answer AS (
        SELECT r.case_id, rr.decision = 'accept' AS accepted
        FROM remedy_response rr JOIN remedy r ON r.id = rr.remedy_id
        WHERE r.case_id IN (SELECT id FROM c)
        UNION ALL
        SELECT r.case_id, r.status <> 'declined' FROM remedy r
        WHERE r.case_id IN (SELECT id FROM c)
          AND r.status IN ('accepted', 'declined', 'implemented', 'verified')
          AND NOT EXISTS (SELECT 1 FROM remedy_response rr WHERE rr.remedy_id = r.id))
    SELECT 20, 'feedback_count', 'all', count(*)::text FROM fb
    UNION ALL SELECT 21, 'satisfaction_mean', 'all', round(avg(rating), 2)::text FROM fb HAVING count(*) > 0
    UNION ALL SELECT 22, 'satisfaction_mean_by_member', o.slug, round(avg(fb.rating), 2)::text
        FROM fb JOIN owner o ON o.case_id = fb.case_id GROUP BY o.slug
    UNION ALL SELECT 23, 'satisfaction_mean_by_category', c.category, round(avg(fb.rating), 2)::text
        FROM fb JOIN c ON c.id = fb.case_id GROUP BY c.category
    UNION ALL SELECT 24, 'appeal_rate', 'all', round(avg(appealed::int), 4)::text FROM decided
        HAVING count(*) > 0
    UNION ALL SELECT 25, 'appeal_rate_by_member', o.slug, round(avg(d.appealed::int), 4)::text
        FROM decided d JOIN owner o ON o.case_id = d.case_id GROUP BY o.slug
    UNION ALL SELECT 26, 'appeal_rate_by_category', c.category, round(avg(d.appealed::int), 4)::text
        FROM decided d JOIN c ON c.id = d.case_id GROUP BY c.category
    UNION ALL SELECT 27, 'remedy_acceptance_rate', 'all', round(avg(accepted::int), 4)::text FROM answer
        HAVING count(*) > 0
    UNION ALL SELECT 28, 'remedy_acceptance_rate_by_member', o.slug, round(avg(a.accepted::int), 4)::text
        FROM answer a JOIN owner o ON o.case_id = a.case_id GROUP BY o.slug
    UNION ALL SELECT 29, 'remedy_acceptance_rate_by_category', c.category,
        round(avg(a.accepted::int), 4)::text
        FROM answer a JOIN c ON c.id = a.case_id GROUP BY c.category
$$;
REVOKE ALL ON FUNCTION engagement_stats(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engagement_stats(date, date) TO redress_staff, redress_teams, redress_regulator;
