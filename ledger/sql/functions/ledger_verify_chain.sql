-- First break in the chain: a link that does not follow, or an entry whose content changed.
CREATE OR REPLACE FUNCTION ledger_verify_chain(OUT bad_seq bigint, OUT bad_entry bigint, OUT problem text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_prev bytea := sha256(convert_to('paysaga-ledger-genesis', 'UTF8'));
    v_expect bigint := 0;
    v_head record;
    r record;
BEGIN
    FOR r IN SELECT c.seq, c.entry_id, c.content_hash, c.prev_hash, c.hash,
                    ledger_entry_digest(c.entry_id) AS digest
             FROM ledger_chain c ORDER BY c.seq LOOP
        v_expect := v_expect + 1;
        IF r.seq <> v_expect THEN
            bad_seq := r.seq; bad_entry := r.entry_id;
            problem := format('chain link %s missing before seq %s', v_expect, r.seq); RETURN;
        END IF;
        IF r.prev_hash <> v_prev OR r.hash <> sha256(r.prev_hash || r.content_hash) THEN
            bad_seq := r.seq; bad_entry := r.entry_id;
            problem := 'chain link does not follow from the previous one'; RETURN;
        END IF;
        IF r.digest IS DISTINCT FROM r.content_hash THEN
            bad_seq := r.seq; bad_entry := r.entry_id;
            problem := 'entry or its legs changed after sealing'; RETURN;
        END IF;
        v_prev := r.hash;
    END LOOP;
    SELECT seq, hash INTO v_head FROM ledger_chain_head WHERE id = 1;
    IF v_head.seq <> v_expect OR v_head.hash <> v_prev THEN
        bad_seq := v_head.seq; problem := 'chain head does not match the last link'; RETURN;
    END IF;
END $$;
