-- redress core schema: members, grievances, cases and their joint owners, triage decisions,
-- the tamper-evident audit trail and remedies. Applied once by scripts/pgcluster.sh or
-- `redressctl migrate`, inside one transaction.

CREATE TABLE member (
    id          bigserial PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,46}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    sector      text NOT NULL CHECK (sector IN ('isp', 'telco', 'platform', 'other')),
    countries   text[] NOT NULL DEFAULT '{}',   -- ISO 3166-1 alpha-2, upper case
    services    text[] NOT NULL DEFAULT '{}',   -- lower-case service names
    team_role   text NOT NULL UNIQUE,           -- the member's remedy-team role: team_<slug>
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Case states. The allowed moves live in case_transition below: the one source of truth that the
-- trigger on remedy_case and redressctl both read.
CREATE TYPE case_status AS ENUM (
    'received', 'triaged', 'assigned', 'investigating', 'remedy_proposed', 'remedy_accepted',
    'remedy_declined', 'remedy_implemented', 'closed', 'rejected', 'referred', 'appealed');

CREATE TABLE case_transition (
    from_status     case_status NOT NULL,
    to_status       case_status NOT NULL,
    reason_required boolean NOT NULL DEFAULT false,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO case_transition (from_status, to_status, reason_required) VALUES
    ('received', 'triaged', false),
    ('received', 'rejected', true),
    ('triaged', 'assigned', false),
    ('triaged', 'rejected', true),
    ('triaged', 'referred', true),
    ('assigned', 'investigating', false),
    ('assigned', 'rejected', true),
    ('assigned', 'referred', true),
    ('investigating', 'remedy_proposed', false),
    ('investigating', 'rejected', true),
    ('investigating', 'referred', true),
    ('remedy_proposed', 'remedy_accepted', false),
    ('remedy_proposed', 'remedy_declined', false),
    ('remedy_accepted', 'remedy_implemented', false),
    ('remedy_declined', 'remedy_proposed', false),
    ('remedy_declined', 'appealed', false),
    ('remedy_declined', 'referred', true),
    ('remedy_declined', 'closed', false),
    ('remedy_implemented', 'closed', false),
    ('rejected', 'appealed', false),
    ('closed', 'appealed', false),
    ('appealed', 'investigating', false);

CREATE TABLE remedy_case (
    id                  bigserial PRIMARY KEY,
    reference           text NOT NULL UNIQUE,       -- 'C' + Crockford base32, shown to staff
    status              case_status NOT NULL DEFAULT 'triaged',
    category            text NOT NULL,
    country             char(2) NOT NULL,
    collective          boolean NOT NULL DEFAULT false,
    cluster_key         text,                       -- category|country|members: candidates to join
    signature           bytea,                      -- similarity signature of the descriptions
    grievance_count     integer NOT NULL DEFAULT 0,
    people_affected     bigint NOT NULL DEFAULT 0,
    score               numeric(5,2),
    band                text CHECK (band IN ('P1', 'P2', 'P3', 'P4')),
    rules_version       text,
    lead_member_id      bigint REFERENCES member(id),
    mechanism_queue     boolean NOT NULL DEFAULT false, -- no member matched: the mechanism's own queue
    referral_flag       boolean NOT NULL DEFAULT false, -- flagged for referral to a State mechanism
    first_received_at   timestamptz NOT NULL DEFAULT now(),
    last_received_at    timestamptz NOT NULL DEFAULT now(),
    ack_due             timestamptz,                -- deadline: acknowledge
    response_due        timestamptz,                -- deadline: first substantive response
    remedy_due          timestamptz,                -- deadline: remedy proposal
    opened_at           timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz
);
CREATE INDEX remedy_case_open_cluster ON remedy_case (cluster_key, last_received_at)
    WHERE status NOT IN ('closed', 'rejected', 'referred');
CREATE INDEX remedy_case_queue ON remedy_case (band, opened_at)
    WHERE status NOT IN ('closed', 'rejected', 'referred');

CREATE TABLE grievance (
    id                   bigserial PRIMARY KEY,
    reference            text NOT NULL UNIQUE,      -- public, Crockford base32 with check symbol
    received_at          timestamptz NOT NULL DEFAULT now(),
    channel              text NOT NULL CHECK (channel IN ('api', 'form', 'import')),
    language             text,
    country              char(2) NOT NULL,
    category             text NOT NULL,
    rights               text[] NOT NULL DEFAULT '{}',
    description          text NOT NULL CHECK (length(description) BETWEEN 1 AND 20000),
    companies            text[] NOT NULL DEFAULT '{}',
    services             text[] NOT NULL DEFAULT '{}',
    people_affected      integer CHECK (people_affected >= 1),
    ongoing              boolean NOT NULL DEFAULT false,
    started_on           date,
    vulnerability        text[] NOT NULL DEFAULT '{}',
    complainant_type     text NOT NULL DEFAULT 'self'
                         CHECK (complainant_type IN ('self', 'on_behalf', 'organisation', 'anonymous')),
    share_with_members   boolean NOT NULL DEFAULT false,
    share_with_regulator boolean NOT NULL DEFAULT false,
    contact_enc          bytea,                     -- AES-256-GCM: nonce | ciphertext | tag
    receipt_hash         bytea NOT NULL,            -- SHA-256 of the receipt; never the receipt
    idempotency_key      text,
    request_hash         bytea,                     -- SHA-256 of the request body, for idempotency
    -- Set once by triage; everything above is immutable (see grievance_immutable).
    case_id              bigint REFERENCES remedy_case(id),
    triaged_at           timestamptz
);
CREATE INDEX grievance_untriaged ON grievance (id) WHERE triaged_at IS NULL;
-- Partial indexes: a row without an idempotency key, or not yet triaged, costs no index entry at
-- intake (ON CONFLICT DO NOTHING still checks the key index).
CREATE UNIQUE INDEX grievance_idempotency_key ON grievance (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX grievance_case ON grievance (case_id) WHERE case_id IS NOT NULL;

-- A grievance is immutable once stored: an UPDATE that names any submitted column, or a DELETE,
-- is refused. Triage's UPDATE names only case_id and triaged_at, so the trigger does not even fire
-- for it (no per-row cost on the triage path). A column added later must be added to this list.
CREATE FUNCTION grievance_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'grievance % is immutable', OLD.reference USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER grievance_immutable BEFORE UPDATE OF id, reference, received_at, channel, language,
        country, category, rights, description, companies, services, people_affected, ongoing,
        started_on, vulnerability, complainant_type, share_with_members, share_with_regulator,
        contact_enc, receipt_hash, idempotency_key, request_hash ON grievance
    FOR EACH ROW EXECUTE FUNCTION grievance_immutable();
CREATE TRIGGER grievance_no_delete BEFORE DELETE ON grievance
    FOR EACH ROW EXECUTE FUNCTION grievance_immutable();

CREATE TABLE case_owner (
    case_id      bigint NOT NULL REFERENCES remedy_case(id),
    member_id    bigint NOT NULL REFERENCES member(id),
    role         text NOT NULL CHECK (role IN ('lead', 'co-owner', 'informed')),
    involvement  text NOT NULL CHECK (involvement IN ('caused', 'contributed', 'linked')),
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    assigned_by  text NOT NULL DEFAULT current_user,
    PRIMARY KEY (case_id, member_id)
);
CREATE INDEX case_owner_member ON case_owner (member_id);

CREATE TABLE triage_decision (
    id             bigserial PRIMARY KEY,
    case_id        bigint NOT NULL REFERENCES remedy_case(id),
    grievance_id   bigint REFERENCES grievance(id),  -- the grievance that caused this (re)scoring
    decided_at     timestamptz NOT NULL DEFAULT now(),
    score          numeric(5,2) NOT NULL,
    band           text NOT NULL CHECK (band IN ('P1', 'P2', 'P3', 'P4')),
    components     jsonb NOT NULL,                   -- {"scale": .., "scope": .., ...}
    rules_fired    jsonb NOT NULL,                   -- [{"rule": .., "points": .., "why": ..}]
    rules_version  text NOT NULL
);
CREATE INDEX triage_decision_case ON triage_decision (case_id, decided_at);

-- Append-only audit trail. Each row carries the hash of the previous row of the same case, so a
-- changed or deleted row breaks the chain (`redressctl audit verify`).
CREATE TABLE case_event (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES remedy_case(id),
    seq          integer NOT NULL,                  -- 1, 2, 3 ... within the case
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL DEFAULT current_user,
    action       text NOT NULL,                     -- created, triaged, assigned, transition, note, remedy ...
    from_status  case_status,
    to_status    case_status,
    note         text,
    prev_hash    bytea,
    hash         bytea NOT NULL,
    UNIQUE (case_id, seq)
);

-- The hash of an event: SHA-256 over the previous hash and the event's fields, '|'-separated,
-- time as microseconds since the epoch. audit verify recomputes exactly this.
CREATE FUNCTION case_event_hash(prev bytea, case_id bigint, seq integer, at timestamptz, actor text,
                                action text, from_status case_status, to_status case_status, note text)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(concat_ws('|',
        case_id::text, seq::text, (extract(epoch FROM at) * 1000000)::bigint::text, actor, action,
        coalesce(from_status::text, ''), coalesce(to_status::text, ''), coalesce(note, '')), 'UTF8'))
$$;

-- enable_seqscan = off: the predecessor lookup must be an index probe whatever the statistics
-- say. A worker session that planned it while case_event looked empty kept a sequential scan and
-- paid ~0.3 ms per event once the table had grown (a new case's event costs one probe).
CREATE FUNCTION case_event_chain() RETURNS trigger LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    last record;
BEGIN
    -- Serialise appends per case so two writers never chain onto the same predecessor.
    PERFORM pg_advisory_xact_lock(NEW.case_id);
    SELECT e.seq, e.hash INTO last FROM case_event e WHERE e.case_id = NEW.case_id ORDER BY e.seq DESC LIMIT 1;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := last.hash;
    NEW.at := date_trunc('microseconds', coalesce(NEW.at, now()));
    NEW.hash := case_event_hash(NEW.prev_hash, NEW.case_id, NEW.seq, NEW.at, NEW.actor, NEW.action,
                                NEW.from_status, NEW.to_status, NEW.note);
    RETURN NEW;
END $$;
CREATE TRIGGER case_event_chain BEFORE INSERT ON case_event
    FOR EACH ROW EXECUTE FUNCTION case_event_chain();

CREATE FUNCTION case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_event is append-only' USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event
    FOR EACH ROW EXECUTE FUNCTION case_event_append_only();

-- Status changes must follow case_transition; reasons are checked by redressctl, which writes them
-- to case_event in the same transaction.
CREATE FUNCTION remedy_case_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT EXISTS (SELECT 1 FROM case_transition t
                       WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
            RAISE EXCEPTION 'transition from % to % is not allowed', OLD.status, NEW.status
                USING ERRCODE = 'P0002';
        END IF;
        IF NEW.status IN ('closed', 'rejected', 'referred') THEN
            NEW.closed_at := now();
        ELSE
            NEW.closed_at := NULL;
        END IF;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER remedy_case_check_transition BEFORE UPDATE ON remedy_case
    FOR EACH ROW EXECUTE FUNCTION remedy_case_check_transition();

CREATE TABLE remedy (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES remedy_case(id),
    type         text NOT NULL CHECK (type IN ('restoration', 'correction', 'apology', 'compensation',
                     'policy_change', 'non_repetition', 'referral')),
    details      text NOT NULL,
    status       text NOT NULL DEFAULT 'offered'
                 CHECK (status IN ('offered', 'accepted', 'declined', 'implemented', 'verified')),
    proposed_by  text NOT NULL DEFAULT current_user,
    proposed_at  timestamptz NOT NULL DEFAULT now(),
    accepted_at  timestamptz,
    declined_at  timestamptz,
    implemented_at timestamptz,
    verified_at  timestamptz
);
CREATE INDEX remedy_case_idx ON remedy (case_id);

-- Intake's write path: one call stores a batch of validated grievances (a JSON array of rows) and
-- returns, for each row, whether it was stored or an earlier row with its idempotency key exists.
-- Runs inside the caller's transaction; each statement sees rows committed concurrently, so a
-- duplicate key waits for the other writer and then finds its row.
CREATE FUNCTION intake_submit(rows jsonb)
RETURNS TABLE (n integer, reference text, received_at timestamptz, stored boolean, request_hash bytea)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH r AS (
        SELECT * FROM jsonb_to_recordset(rows) AS r(n int, reference text, channel text, language text,
            country text, category text, rights text[], description text, companies text[],
            services text[], people_affected int, ongoing boolean, started_on date,
            vulnerability text[], complainant_type text, share_with_members boolean,
            share_with_regulator boolean, contact_enc text, receipt_hash text, idempotency_key text,
            request_hash text)),
    ins AS (
        INSERT INTO grievance AS g (reference, channel, language, country, category, rights, description,
            companies, services, people_affected, ongoing, started_on, vulnerability, complainant_type,
            share_with_members, share_with_regulator, contact_enc, receipt_hash, idempotency_key, request_hash)
        SELECT r.reference, r.channel, r.language, r.country, r.category, coalesce(r.rights, '{}'),
               r.description, coalesce(r.companies, '{}'), coalesce(r.services, '{}'), r.people_affected,
               coalesce(r.ongoing, false), r.started_on, coalesce(r.vulnerability, '{}'),
               coalesce(r.complainant_type, 'self'), coalesce(r.share_with_members, false),
               coalesce(r.share_with_regulator, false), decode(r.contact_enc, 'base64'),
               decode(r.receipt_hash, 'hex'), r.idempotency_key, decode(r.request_hash, 'hex')
        FROM r ORDER BY r.n
        ON CONFLICT DO NOTHING
        RETURNING g.reference, g.received_at)
    SELECT r.n, ins.reference, ins.received_at, true, NULL::bytea
    FROM r JOIN ins ON ins.reference = r.reference;

    -- Rows not stored because their idempotency key exists: a new statement, so it sees keys that
    -- a concurrent writer committed while our INSERT waited on them. A row missing from both
    -- answers (a reference collision) is retried by the caller with a new reference.
    -- LATERAL keeps this an index probe per keyed row, whatever the size of the table.
    RETURN QUERY
    SELECT r.n, g.reference, g.received_at, false, g.request_hash
    FROM jsonb_to_recordset(rows) AS r(n int, reference text, idempotency_key text)
    CROSS JOIN LATERAL (SELECT x.reference, x.received_at, x.request_hash FROM grievance x
                        WHERE x.idempotency_key = r.idempotency_key) g
    WHERE r.idempotency_key IS NOT NULL AND g.reference <> r.reference;

    PERFORM pg_notify('grievance_new', '');
END $$;

-- The next deadline of a case in status st: acknowledge while received or triaged, first
-- substantive response once assigned, remedy proposal while investigating (or appealed); none once
-- a remedy is proposed or the case is over. Shared by the status page and the queue (004).
CREATE FUNCTION case_next_deadline(st case_status, ack_due timestamptz, response_due timestamptz,
                                   remedy_due timestamptz)
RETURNS TABLE (stage text, due timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    SELECT s.stage, s.due FROM (VALUES
        (1, 'acknowledge', ack_due),
        (2, 'first_response', response_due),
        (3, 'remedy_proposal', remedy_due)) AS s(ord, stage, due)
    WHERE s.due IS NOT NULL
      AND st IN ('received', 'triaged', 'assigned', 'investigating', 'appealed')
      AND (s.ord > 1 OR st IN ('received', 'triaged'))
      AND (s.ord > 2 OR st IN ('received', 'triaged', 'assigned'))
    ORDER BY s.ord LIMIT 1
$$;

-- What the complainant sees: status of a grievance by reference, and the next deadline.
CREATE FUNCTION grievance_status(ref text)
RETURNS TABLE (reference text, receipt_hash bytea, received_at timestamptz, status text,
               next_stage text, next_due timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT g.reference, g.receipt_hash, g.received_at, coalesce(c.status::text, 'received'),
           d.stage, d.due
    FROM grievance g
    LEFT JOIN remedy_case c ON c.id = g.case_id
    LEFT JOIN LATERAL (
        SELECT * FROM case_next_deadline(c.status, c.ack_due, c.response_due, c.remedy_due)) d ON true
    WHERE g.reference = ref
$$;
