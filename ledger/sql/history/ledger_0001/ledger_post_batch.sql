-- History: ledger_post_batch as ledger_0001 defined it, replaced by ledger_0002.
-- Applied by ledger_0001's upgrade, restored by ledger_0002's downgrade; never edited.
--
-- Many entries in one transaction; all or nothing.
CREATE OR REPLACE FUNCTION ledger_post_batch(reqs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_pins jsonb := '{}'::jsonb;
    r record;
BEGIN
    IF jsonb_array_length(reqs) > 1 THEN
        v_pins := ledger_prelock(reqs);
    END IF;
    FOR r IN SELECT x FROM jsonb_array_elements(reqs) WITH ORDINALITY AS t(x, o) ORDER BY o LOOP
        RETURN NEXT ledger_apply(r.x, v_pins);
    END LOOP;
END $$;
