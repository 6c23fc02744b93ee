-- Many entries in one transaction; all or nothing. Simple batches take the set-based path
-- (under a savepoint: a concurrent twin's key makes it fail, then the per-entry path runs).
CREATE OR REPLACE FUNCTION ledger_post_batch(reqs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_pins jsonb := '{}'::jsonb;
    v_res jsonb[];
    r record;
BEGIN
    IF jsonb_array_length(reqs) = 1 THEN
        RETURN NEXT ledger_post(reqs->0);
        RETURN;
    END IF;
    IF jsonb_array_length(reqs) > 1 THEN
        BEGIN
            v_res := ledger_batch_fast(reqs);
        EXCEPTION WHEN OTHERS THEN
            v_res := NULL;  -- the per-entry path below raises the exact error
        END;
        IF v_res IS NOT NULL THEN
            RETURN QUERY SELECT x FROM unnest(v_res) x;
            RETURN;
        END IF;
        v_pins := ledger_prelock(reqs);
    END IF;
    FOR r IN SELECT x FROM jsonb_array_elements(reqs) WITH ORDINALITY AS t(x, o) ORDER BY o LOOP
        RETURN NEXT ledger_apply(r.x, v_pins);
    END LOOP;
END $$;
