-- Evidence (issue 8, item 7): files a complainant attaches to their grievance (images, PDF, plain
-- text), stored sealed (AES-256-GCM under the contact key, sealed by the intake before they reach
-- the database) with their SHA-256 so the person can later prove what was sent.
--
-- Written only through grievance_attachment_add() (the intake, keyed by reference and receipt hash,
-- idempotent through complainant_request like the other actions) and read only through
-- grievance_attachment_get() (staff, with a reason, into the case's audit trail). Teams never read
-- attachments, whatever the person consented to: a file may show faces, places and documents of
-- other people, and staff decide what a company needs to see. Regulators never see them.
--
-- The bytes and the file name are personal data: never in an audit note (events name the number,
-- type and size only), never in an export, erased with the grievance (attachment_erase below).

CREATE TABLE grievance_attachment (
    grievance_id    bigint NOT NULL REFERENCES grievance(id),
    n               smallint NOT NULL CHECK (n BETWEEN 1 AND 100),  -- 1, 2, 3 ... per grievance
    media_type      text NOT NULL CHECK (media_type ~ '^[a-z]+/[a-z0-9.+-]+$'),
    size            integer NOT NULL CHECK (size BETWEEN 1 AND 1073741824),
    sha256          bytea CHECK (length(sha256) = 32),              -- NULL once erased
    name_enc        bytea,                                          -- sealed file name, or NULL
    content_enc     bytea,                                          -- sealed bytes; NULL once erased
    channel         text NOT NULL CHECK (channel IN ('api', 'form')),
    added_at        timestamptz NOT NULL DEFAULT now(),
    erased_at       timestamptz,
    PRIMARY KEY (grievance_id, n),
    CHECK ((erased_at IS NULL) = (content_enc IS NOT NULL AND sha256 IS NOT NULL))
);
-- Sealed bytes do not compress: keep TOAST from trying.
ALTER TABLE grievance_attachment ALTER COLUMN content_enc SET STORAGE EXTERNAL;

ALTER TABLE grievance_attachment ENABLE ROW LEVEL SECURITY;
ALTER TABLE grievance_attachment FORCE ROW LEVEL SECURITY;
-- Staff may list what was attached (not the sealed columns: those only through the audited
-- function); no other role has any privilege on the table.
GRANT SELECT (grievance_id, n, media_type, size, sha256, channel, added_at, erased_at)
    ON grievance_attachment TO redress_staff;
CREATE POLICY staff_read ON grievance_attachment FOR SELECT TO redress_staff USING (true);

-- The audit note of an attachment (never its name or bytes).
CREATE FUNCTION attachment_note(a grievance_attachment) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
    SELECT format('attachment %s (%s, %s bytes)', a.n, a.media_type, a.size)
$$;
REVOKE ALL ON FUNCTION attachment_note(grievance_attachment) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- The complainant attaches one file. ref and rhash identify the person (a wrong pair is RE404, as
-- for an unknown reference); media_type, size and sha256 were established by the intake from the
-- bytes themselves; name_enc and content_enc are sealed; idem_key/request_hash as for
-- complainant_act; limits {"attachments_max", "attachment_max_bytes", "attachment_types"}.
-- Returns {"http": 201, "body": {"n", "type", "size", "sha256"}} (with "replayed" on a retry);
-- every refusal raises, nothing stored. A grievance not yet placed in a case takes files too: the
-- audit events are written when triage places it (attachment_audit_on_placement).
CREATE FUNCTION grievance_attachment_add(ref text, rhash bytea, media_type text, size integer,
                                         sha256 bytea, name_enc bytea, content_enc bytea,
                                         channel text, idem_key text, request_hash bytea,
                                         limits jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g grievance;
    prior complainant_request;
    a grievance_attachment;
    result jsonb;
    max_count integer := coalesce((limits ->> 'attachments_max')::integer, 5);
    max_bytes integer := coalesce((limits ->> 'attachment_max_bytes')::integer, 10485760);
    types jsonb := coalesce(limits -> 'attachment_types',
                            '["image/png", "image/jpeg", "application/pdf", "text/plain"]');
    have integer;
BEGIN
    -- The grievance row lock orders this person's uploads: the count and the keys cannot race.
    SELECT * INTO g FROM grievance x WHERE x.receipt_hash = rhash FOR NO KEY UPDATE;
    IF NOT FOUND OR g.reference IS DISTINCT FROM ref OR g.erased_at IS NOT NULL THEN
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
    IF NOT types ? media_type THEN
        PERFORM engagement_refuse(415, 'type_not_allowed', 'file',
                                  'This kind of file cannot be attached.');
    END IF;
    IF size IS NULL OR size < 1 OR size > max_bytes OR length(content_enc) < size
       OR length(sha256) <> 32 THEN
        PERFORM engagement_refuse(413, 'file_too_large', 'file',
                                  format('A file can be at most %s bytes.', max_bytes));
    END IF;
    SELECT count(*) INTO have FROM grievance_attachment x WHERE x.grievance_id = g.id;
    IF have >= max_count THEN
        PERFORM engagement_refuse(409, 'too_many_attachments', 'file',
                                  format('At most %s files can be attached to one grievance.', max_count));
    END IF;
    INSERT INTO grievance_attachment (grievance_id, n, media_type, size, sha256, name_enc,
                                      content_enc, channel)
    VALUES (g.id, have + 1, media_type, size, sha256, name_enc, content_enc, channel)
    RETURNING * INTO a;
    IF g.case_id IS NOT NULL THEN
        INSERT INTO case_event (case_id, action, note)
        VALUES (g.case_id, 'attachment', attachment_note(a) || ' received from a complainant');
    END IF;
    result := jsonb_build_object('http', 201, 'body', jsonb_build_object(
        'n', a.n, 'type', a.media_type, 'size', a.size, 'sha256', encode(a.sha256, 'hex'),
        'added_at', engagement_time(a.added_at)));
    IF idem_key IS NOT NULL THEN
        INSERT INTO complainant_request (grievance_id, idempotency_key, request_hash, response)
        VALUES (g.id, idem_key, request_hash, result);
    END IF;
    RETURN result;
END $$;
REVOKE ALL ON FUNCTION grievance_attachment_add(text, bytea, text, integer, bytea, bytea, bytea,
                                                text, text, bytea, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_attachment_add(text, bytea, text, integer, bytea, bytea, bytea,
                                                   text, text, bytea, jsonb) TO redress_intake;

-- What the person sees of their files: [{n, type, size, sha256, added_at}], or NULL when no
-- grievance has this reference and receipt hash. Never the name or the bytes.
CREATE FUNCTION grievance_attachment_list(ref text, rhash bytea) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    gid bigint;
BEGIN
    SELECT g.id INTO gid FROM grievance g WHERE g.receipt_hash = rhash AND g.reference = ref;
    IF gid IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'n', a.n, 'type', a.media_type, 'size', a.size,
                                'sha256', encode(a.sha256, 'hex'),
                                'added_at', engagement_time(a.added_at)) ORDER BY a.n)
                     FROM grievance_attachment a
                     WHERE a.grievance_id = gid AND a.erased_at IS NULL), '[]'::jsonb);
END $$;
REVOKE ALL ON FUNCTION grievance_attachment_list(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_attachment_list(text, bytea) TO redress_intake, redress_staff;

-- Staff open attachment n of grievance REF, with the reason in the case's audit trail in the same
-- transaction. redressctl opens the seal with the contact key. Teams are refused (see the top).
CREATE FUNCTION grievance_attachment_get(ref text, n integer, reason text,
                                         OUT content_enc bytea, OUT name_enc bytea,
                                         OUT media_type text, OUT size integer, OUT sha256 bytea,
                                         OUT case_reference text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g grievance;
    a grievance_attachment;
BEGIN
    IF NOT pg_has_role(session_user, 'redress_staff', 'MEMBER') THEN
        RAISE EXCEPTION 'attachments are read by the mechanism''s staff only' USING ERRCODE = '42501';
    END IF;
    IF reason IS NULL OR length(btrim(reason)) < 3 OR length(reason) > 1000 THEN
        RAISE EXCEPTION 'a reason of 3 to 1000 characters is required' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO g FROM grievance x WHERE x.reference = ref;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no grievance %', ref USING ERRCODE = 'P0002';
    END IF;
    IF g.case_id IS NULL THEN
        RAISE EXCEPTION 'grievance % is not in a case yet; read its attachments once triage has placed it', ref
            USING ERRCODE = '55000';
    END IF;
    SELECT * INTO a FROM grievance_attachment x WHERE x.grievance_id = g.id AND x.n = grievance_attachment_get.n;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'grievance % has no attachment %', ref, grievance_attachment_get.n
            USING ERRCODE = 'P0002';
    END IF;
    IF a.erased_at IS NOT NULL THEN
        RAISE EXCEPTION 'attachment % of grievance % was erased at %', a.n, ref, a.erased_at
            USING ERRCODE = 'P0002';
    END IF;
    INSERT INTO case_event (case_id, action, note)
    VALUES (g.case_id, 'attachment_read',
            format('%s of grievance %s read: %s', attachment_note(a), ref, btrim(reason)));
    content_enc := a.content_enc;
    name_enc := a.name_enc;
    media_type := a.media_type;
    size := a.size;
    sha256 := a.sha256;
    SELECT c.reference INTO case_reference FROM remedy_case c WHERE c.id = g.case_id;
END $$;
REVOKE ALL ON FUNCTION grievance_attachment_get(text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_attachment_get(text, integer, text) TO redress_staff;

-- Files attached before triage placed the grievance: their events go into the case's trail when
-- it does (one index probe per placed grievance; nothing when it has none).
CREATE FUNCTION attachment_audit_on_placement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO case_event (case_id, action, note)
    SELECT NEW.case_id, 'attachment',
           attachment_note(a) || format(' received from a complainant at %s, before triage',
                                        engagement_time(a.added_at))
    FROM grievance_attachment a WHERE a.grievance_id = NEW.id ORDER BY a.n;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION attachment_audit_on_placement() FROM PUBLIC;
CREATE TRIGGER attachment_audit_on_placement AFTER UPDATE OF case_id ON grievance
    FOR EACH ROW WHEN (OLD.case_id IS NULL AND NEW.case_id IS NOT NULL)
    EXECUTE FUNCTION attachment_audit_on_placement();

-- Erasure (redressctl grievance erase, the retention sweep): the bytes, the name and the hash go;
-- the number, type and size stay for the record.
CREATE FUNCTION attachment_erase() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE grievance_attachment SET content_enc = NULL, name_enc = NULL, sha256 = NULL,
                                    erased_at = NEW.erased_at
    WHERE grievance_id = NEW.id AND erased_at IS NULL;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION attachment_erase() FROM PUBLIC;
CREATE TRIGGER attachment_erase AFTER UPDATE OF erased_at ON grievance
    FOR EACH ROW WHEN (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION attachment_erase();
