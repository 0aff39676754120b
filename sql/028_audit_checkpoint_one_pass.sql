-- A checkpoint reads every chain's head in one ordered pass over case_event (issue 10, export).
--
-- audit_checkpoint_create() (006) probed case_event once per case for its last event. case_event
-- is partitioned by month (015) and a probe has no time bound, so each case cost one index probe
-- in every month's partition and the default one: with five partitions about 6.5 us a case, and
-- growing with every month kept. Every export records a checkpoint, so `redressctl export cases`
-- spent seconds on it beside the rows (1,000,000 cases: ~3 s of a ~20 s export; psql's \copy of
-- the same rows has none of it).
--
-- Now the heads come from one backward scan of each partition's (case_id, seq, at) index, merged
-- in case order and cut to the first row of each case: the cost follows the number of events,
-- not cases times months. 300,000 cases of three events each in five partitions: 3.3-4.0 s before,
-- 1.6-1.7 s after (most of what is left is writing the checkpoint's head rows). Same heads as
-- before: each case's event with the highest seq (the latest time among equal seqs, which only
-- tampering makes), cases without events left out, as the caller's snapshot sees them.
CREATE OR REPLACE FUNCTION audit_checkpoint_create()
RETURNS TABLE (id bigint, created_at timestamptz, cases bigint, events bigint, digest text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off AS $$
DECLARE
    cid bigint := nextval('audit_checkpoint_id_seq');
BEGIN
    INSERT INTO audit_checkpoint_head (checkpoint_id, case_id, seq, hash)
    SELECT cid, e.case_id, e.seq, e.hash
    FROM (SELECT DISTINCT ON (x.case_id) x.case_id, x.seq, x.hash FROM case_event x
          ORDER BY x.case_id DESC, x.seq DESC, x.at DESC) e
    WHERE EXISTS (SELECT 1 FROM remedy_case c WHERE c.id = e.case_id);
    RETURN QUERY
    INSERT INTO audit_checkpoint AS a (id, cases, events, digest)
    SELECT cid, count(*), coalesce(sum(h.seq), 0),
           encode(sha256(convert_to(coalesce(string_agg(h.case_id || '|' || h.seq || '|'
               || encode(h.hash, 'hex') || E'\n', '' ORDER BY h.case_id), ''), 'UTF8')), 'hex')
    FROM audit_checkpoint_head h WHERE h.checkpoint_id = cid
    RETURNING a.id, a.created_at, a.cases, a.events, a.digest;
END $$;
