-- Lock everything a batch touches up front, in the global order, and pin one stripe per
-- hot account, so entries in the batch never wait and batches never deadlock.
CREATE OR REPLACE FUNCTION ledger_prelock(reqs jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_refs bigint[];
    v_accs text[];
    v_pins jsonb := '{}'::jsonb;
    v_start integer;
    r record;
    s record;
BEGIN
    v_refs := ARRAY(SELECT DISTINCT (x->>'ref')::bigint FROM jsonb_array_elements(reqs) x
                    WHERE x->>'ref' IS NOT NULL ORDER BY 1);
    PERFORM 1 FROM ledger_entries WHERE id = ANY (v_refs) ORDER BY id FOR NO KEY UPDATE;
    v_accs := ARRAY(
        SELECT DISTINCT acc FROM (
            SELECT l->>'a' AS acc FROM jsonb_array_elements(reqs) x,
                 jsonb_array_elements(CASE WHEN jsonb_typeof(x->'legs') = 'array'
                                           THEN x->'legs' ELSE '[]'::jsonb END) l
            UNION ALL
            SELECT account_id FROM ledger_legs WHERE entry_id = ANY (v_refs)) q
        WHERE acc IS NOT NULL ORDER BY 1);
    PERFORM 1 FROM ledger_accounts WHERE id = ANY (v_accs) AND NOT hot ORDER BY id FOR NO KEY UPDATE;
    FOR r IN SELECT id, flags, stripes FROM ledger_accounts WHERE id = ANY (v_accs) AND hot ORDER BY id LOOP
        IF r.flags <> 0 THEN
            PERFORM 1 FROM ledger_account_stripes WHERE account_id = r.id ORDER BY stripe FOR NO KEY UPDATE;
            v_pins := v_pins || jsonb_build_object(r.id, 1);
        ELSE
            v_start := 1 + abs(hashtext(reqs->0->>'key')) % r.stripes;
            SELECT stripe INTO s FROM ledger_account_stripes WHERE account_id = r.id
            ORDER BY (stripe - v_start + r.stripes) % r.stripes
            LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;
            IF NOT FOUND THEN
                SELECT stripe INTO s FROM ledger_account_stripes
                WHERE account_id = r.id AND stripe = v_start FOR NO KEY UPDATE;
            END IF;
            v_pins := v_pins || jsonb_build_object(r.id, s.stripe);
        END IF;
    END LOOP;
    RETURN v_pins;
END $$;
