-- The intake's write path plans its statements once (issue 10).
--
-- PL/pgSQL keeps a plan per statement, but for the first calls and whenever a plan made for the
-- actual arrays looks cheaper than the generic one it plans again on every call. A batch of one
-- (an idle intake answering a single submission) always looked cheaper, so each call re-planned
-- the INSERT, its CTE and the join: callgrind of a backend storing one row per transaction, 1.78M
-- instructions per transaction before, 0.90M after. Batches of 20 cost the same either way (the
-- generic plan was already chosen). The plan does not depend on the arrays' contents: a function
-- scan of the unnested arrays, an index probe of grievance_key per keyed row, a hash join back to
-- the batch's positions.
ALTER FUNCTION intake_submit_rows(text[], text[], text[], text[], text[], text[], text[], text[],
                                  text[], integer[], boolean[], date[], text[], text[], boolean[],
                                  boolean[], text[], text[], text[], text[], boolean[], boolean)
    SET plan_cache_mode = force_generic_plan;
-- A later CREATE OR REPLACE of the function must carry this SET clause again.
