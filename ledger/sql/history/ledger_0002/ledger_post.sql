-- History: ledger_post as ledger_0002 defined it, replaced by ledger_0003.
-- Applied by ledger_0002's upgrade, restored by ledger_0003's downgrade; never edited.
CREATE OR REPLACE FUNCTION ledger_post(req jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_res jsonb;
BEGIN
    v_res := ledger_post_simple(req);
    IF v_res IS NULL THEN
        v_res := ledger_apply(req, '{}'::jsonb);
    END IF;
    RETURN v_res;
END $$;
