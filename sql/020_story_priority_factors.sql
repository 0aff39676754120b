-- The priority's reasons, said to the person in their own language. grievance_story (013) gives
-- them as the rules' English explanation; the status page and the API also need which rules
-- weighed most, as ids, to say each in a sentence of the person's language. Found like the story:
-- by receipt hash, then the reference.
CREATE FUNCTION grievance_priority_factors(ref text, rhash bytea)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                  'rule', f.rule, 'points', f.points,
                                  'category', CASE WHEN f.rule = 'scale' THEN c.category END))
                              ORDER BY f.danger DESC, f.points DESC), '[]'::jsonb)
    FROM public.grievance g
    JOIN public.remedy_case c ON c.id = g.case_id
    CROSS JOIN LATERAL (
        SELECT d.rules_fired FROM public.triage_decision d WHERE d.case_id = c.id
        ORDER BY d.decided_at DESC, d.id DESC LIMIT 1) ld
    CROSS JOIN LATERAL (
        -- the person's own word on danger first, then the three factors that weighed most, as
        -- the story's reason has them
        (SELECT x ->> 'rule' AS rule, (x ->> 'points')::numeric AS points, true AS danger
         FROM jsonb_array_elements(ld.rules_fired) x WHERE x ->> 'rule' = 'immediate_danger')
        UNION ALL
        (SELECT x ->> 'rule', (x ->> 'points')::numeric, false
         FROM jsonb_array_elements(ld.rules_fired) x WHERE (x ->> 'points')::numeric > 0
         ORDER BY 2 DESC LIMIT 3)) f
    WHERE g.receipt_hash = rhash AND g.reference = ref
$$;
REVOKE ALL ON FUNCTION grievance_priority_factors(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grievance_priority_factors(text, bytea) TO redress_intake, redress_staff;
