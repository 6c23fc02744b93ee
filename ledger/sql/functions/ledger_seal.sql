-- Append committed entries to the chain in commit order; returns how many were sealed.
CREATE OR REPLACE FUNCTION ledger_seal(p_max integer DEFAULT 100000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_head record;
    v_ids bigint[];
    v_id bigint;
    v_digest bytea;
    v_hash bytea;
    v_seq bigint;
BEGIN
    SELECT seq, hash INTO v_head FROM ledger_chain_head WHERE id = 1 FOR UPDATE;
    v_ids := ARRAY(SELECT entry_id FROM ledger_chain_queue ORDER BY entry_id LIMIT p_max);
    v_seq := v_head.seq;
    v_hash := v_head.hash;
    FOREACH v_id IN ARRAY v_ids LOOP
        v_digest := ledger_entry_digest(v_id);
        v_seq := v_seq + 1;
        INSERT INTO ledger_chain (seq, entry_id, content_hash, prev_hash, hash)
        VALUES (v_seq, v_id, v_digest, v_hash, sha256(v_hash || v_digest));
        v_hash := sha256(v_hash || v_digest);
    END LOOP;
    DELETE FROM ledger_chain_queue WHERE entry_id = ANY (v_ids);
    UPDATE ledger_chain_head SET seq = v_seq, hash = v_hash WHERE id = 1;
    RETURN coalesce(array_length(v_ids, 1), 0);
END $$;
