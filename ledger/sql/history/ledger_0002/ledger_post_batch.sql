-- History: ledger_post_batch as ledger_0002 defined it, replaced by ledger_0003.
-- Applied by ledger_0002's upgrade, restored by ledger_0003's downgrade; never edited.
--
-- Many entries in one transaction; all or nothing. Simple batches take the set-based path.
CREATE OR REPLACE FUNCTION ledger_post_batch(reqs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_pins jsonb := '{}'::jsonb;
    v_res jsonb[];
    r record;
BEGIN
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
    IF jsonb_array_length(reqs) = 1 THEN
        v_res := ARRAY[ledger_post_simple(reqs->0)];
        IF v_res[1] IS NOT NULL THEN
            RETURN NEXT v_res[1];
            RETURN;
        END IF;
    END IF;
    FOR r IN SELECT x FROM jsonb_array_elements(reqs) WITH ORDINALITY AS t(x, o) ORDER BY o LOOP
        RETURN NEXT ledger_apply(r.x, v_pins);
    END LOOP;
END $$;
