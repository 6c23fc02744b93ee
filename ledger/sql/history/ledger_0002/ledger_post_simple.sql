-- History: ledger_post_simple as ledger_0002 defined it, dropped by ledger_0003.
-- Applied by ledger_0002's upgrade, restored by ledger_0003's downgrade; never edited.
--
-- One entry of two legs on two different plain accounts (the common payment), in four
-- statements. Returns NULL without writing anything when the entry is not that case or any
-- check fails; ledger_post then runs ledger_apply, which raises the exact error.
CREATE OR REPLACE FUNCTION ledger_post_simple(req jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    -- Casts first, in ledger_apply's order, so a bad value fails the same way.
    v_ref   bigint := (req->>'ref')::bigint;
    v_amt   bigint := (req->>'amount')::bigint;
    v_eff   timestamptz := coalesce((req->>'effective_at')::timestamptz, now());
    v_exp   timestamptz := (req->>'expires_at')::timestamptz;
    v_key   text := req->>'key';
    v_kind  text := req->>'kind';
    l0 jsonb; l1 jsonb;
    a0 text; a1 text; d0 text; d1 text; c0 text; c1 text; n0 bigint;
    p0 bigint; q0 bigint;
    r record;
    x0 record; x1 record;
    v_found integer := 0;
    v_id bigint;
    dp0 bigint; cp0 bigint; dpe0 bigint; cpe0 bigint;
    dp1 bigint; cp1 bigint; dpe1 bigint; cpe1 bigint;
BEGIN
    IF v_kind NOT IN ('standard', 'pending') OR v_ref IS NOT NULL OR v_amt IS NOT NULL
       OR jsonb_typeof(req->'legs') IS DISTINCT FROM 'array' OR jsonb_array_length(req->'legs') <> 2
       OR v_key IS NULL OR length(v_key) NOT BETWEEN 1 AND 255 THEN
        RETURN NULL;
    END IF;
    l0 := req->'legs'->0; l1 := req->'legs'->1;
    a0 := l0->>'a'; a1 := l1->>'a'; d0 := l0->>'d'; d1 := l1->>'d'; c0 := l0->>'c'; c1 := l1->>'c';
    IF a0 IS NULL OR a1 IS NULL OR a0 = a1 OR d0 IS NULL OR d1 IS NULL OR d0 = d1
       OR d0 NOT IN ('debit', 'credit') OR d1 NOT IN ('debit', 'credit')
       OR c0 IS NULL OR c0 IS DISTINCT FROM c1 OR c0 !~ '^[A-Z]{3}$'
       OR jsonb_typeof(l0->'n') IS DISTINCT FROM 'number' OR l0->'n' IS DISTINCT FROM l1->'n' THEN
        RETURN NULL;
    END IF;
    IF (l0->>'n')::numeric <> trunc((l0->>'n')::numeric)
       OR (l0->>'n')::numeric NOT BETWEEN 1 AND 1000000000000 THEN
        RETURN NULL;
    END IF;
    n0 := (l0->>'n')::bigint;
    IF v_kind = 'pending' THEN p0 := 0; q0 := n0; ELSE p0 := n0; q0 := 0; v_exp := NULL; END IF;
    -- Lock both (plain) accounts in the global order (ledger_apply takes the same locks).
    FOR r IN
        SELECT id, currency, flags, normal_side, debits_posted, credits_posted,
               debits_pending, credits_pending, version
        FROM ledger_accounts WHERE id IN (a0, a1) AND NOT hot ORDER BY id FOR NO KEY UPDATE
    LOOP
        IF r.id = a0 THEN x0 := r; ELSE x1 := r; END IF;
        v_found := v_found + 1;
    END LOOP;
    IF v_found <> 2 THEN  -- unknown or hot account: ledger_apply
        RETURN NULL;
    END IF;
    IF x0.currency <> c0 OR x1.currency <> c0 THEN
        RETURN NULL;
    END IF;
    -- A used key: ledger_apply replays or raises the conflict (checked after the lock so a
    -- hot account, which ledger_apply handles, costs one statement here, not two).
    PERFORM 1 FROM ledger_entries WHERE idempotency_key = v_key;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    dp0 := x0.debits_posted; cp0 := x0.credits_posted; dpe0 := x0.debits_pending; cpe0 := x0.credits_pending;
    dp1 := x1.debits_posted; cp1 := x1.credits_posted; dpe1 := x1.debits_pending; cpe1 := x1.credits_pending;
    IF d0 = 'debit' THEN
        dp0 := dp0 + p0; dpe0 := dpe0 + q0; cp1 := cp1 + p0; cpe1 := cpe1 + q0;
    ELSE
        cp0 := cp0 + p0; cpe0 := cpe0 + q0; dp1 := dp1 + p0; dpe1 := dpe1 + q0;
    END IF;
    IF (x0.flags & 1 <> 0 AND dp0 + dpe0 > cp0) OR (x0.flags & 2 <> 0 AND cp0 + cpe0 > dp0)
       OR (x1.flags & 1 <> 0 AND dp1 + dpe1 > cp1) OR (x1.flags & 2 <> 0 AND cp1 + cpe1 > dp1) THEN
        RETURN NULL;
    END IF;

    UPDATE ledger_accounts a
    SET debits_posted = u.dp, credits_posted = u.cp, debits_pending = u.dpe,
        credits_pending = u.cpe, version = a.version + 1
    FROM (VALUES (a0, dp0, cp0, dpe0, cpe0), (a1, dp1, cp1, dpe1, cpe1)) u(id, dp, cp, dpe, cpe)
    WHERE a.id = u.id;
    WITH e AS (
        INSERT INTO ledger_entries (idempotency_key, body_hash, kind, leg_count, description,
                                    metadata, effective_at, expires_at)
        VALUES (v_key, req->>'hash', v_kind, 2, coalesce(req->>'description', ''),
                coalesce(req->'metadata', '{}'::jsonb), v_eff, v_exp)
        RETURNING id),
    l AS (
        INSERT INTO ledger_legs (entry_id, leg_no, account_id, stripe, direction, currency,
                                 posted_amount, pending_amount, debits_posted_after,
                                 credits_posted_after, debits_pending_after,
                                 credits_pending_after, version_after)
        SELECT e.id, v.* FROM e, (VALUES
            (0::smallint, a0, 0::smallint, d0, c0, p0, q0, dp0, cp0, dpe0, cpe0, x0.version + 1),
            (1::smallint, a1, 0::smallint, d1, c0, p0, q0, dp1, cp1, dpe1, cpe1, x1.version + 1)) v),
    q AS (INSERT INTO ledger_chain_queue (entry_id) SELECT id FROM e)
    SELECT id INTO v_id FROM e;

    RETURN jsonb_build_object(
        'id', v_id, 'kind', v_kind, 'replayed', false, 'effective_at', v_eff,
        'legs', jsonb_build_array(
            jsonb_build_array(a0, d0, c0, p0, q0, 0, dp0, cp0, dpe0, cpe0, x0.version + 1, x0.normal_side),
            jsonb_build_array(a1, d1, c0, p0, q0, 0, dp1, cp1, dpe1, cpe1, x1.version + 1, x1.normal_side)));
END $$;
