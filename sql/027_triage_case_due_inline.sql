-- case_due() (007) inlined again (issue #10, item 6). It was declared IMMUTABLE, but
-- timestamptz + interval is STABLE (it depends on the session's time zone), and PostgreSQL does not
-- inline an IMMUTABLE SQL function whose body calls a STABLE one: every new case ran it three times
-- as a SQL function call (its own executor start and end), ~1.5 s of CPU for bench/triage.py's
-- 60,000 new cases. Declared STABLE, which is what it is, the planner inlines it as 007 meant
-- (EXPLAIN VERBOSE shows now() + '...'::interval instead of case_due(...)). Same body, same results;
-- nothing indexes or stores it.
ALTER FUNCTION case_due(timestamptz, integer[], text, boolean, integer) STABLE;
