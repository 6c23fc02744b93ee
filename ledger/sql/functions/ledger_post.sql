-- Post one entry. The common payment (two legs, two distinct accounts, at most one of them
-- hot and written on one stripe) is done here in two statements: lock, then one WITH that
-- writes entry, legs, balances and the chain queue. Anything else, any failed check and a
-- used idempotency key go to ledger_apply, which replays or raises the exact error (it takes
-- the same locks in the same order, so locks already held here are a prefix of its order).
CREATE OR REPLACE FUNCTION ledger_post(req jsonb) RETURNS jsonb
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
    a0 text; a1 text; d0 text; d1 text; c0 text; n0 bigint;
    p0 bigint; q0 bigint;
    r record;
    x0 record; x1 record;
    h record;
    v_found integer := 0;
    v_hot integer := 0;      -- 0: both plain; 1 or 2: that leg's account is hot
    v_hacc text;             -- the hot account and the stripe locked for it
    v_hst smallint := 0;
    v_id bigint;
    dp0 bigint; cp0 bigint; dpe0 bigint; cpe0 bigint;
    dp1 bigint; cp1 bigint; dpe1 bigint; cpe1 bigint;
BEGIN
    IF v_kind NOT IN ('standard', 'pending') OR v_ref IS NOT NULL OR v_amt IS NOT NULL
       OR jsonb_typeof(req->'legs') IS DISTINCT FROM 'array' OR jsonb_array_length(req->'legs') <> 2
       OR v_key IS NULL OR length(v_key) NOT BETWEEN 1 AND 255 THEN
        RETURN ledger_apply(req, '{}'::jsonb);
    END IF;
    l0 := req->'legs'->0; l1 := req->'legs'->1;
    a0 := l0->>'a'; a1 := l1->>'a'; d0 := l0->>'d'; d1 := l1->>'d'; c0 := l0->>'c';
    IF a0 IS NULL OR a1 IS NULL OR a0 = a1 OR d0 IS NULL OR d1 IS NULL OR d0 = d1
       OR d0 NOT IN ('debit', 'credit') OR d1 NOT IN ('debit', 'credit')
       OR c0 IS NULL OR c0 IS DISTINCT FROM l1->>'c' OR c0 !~ '^[A-Z]{3}$'
       OR jsonb_typeof(l0->'n') IS DISTINCT FROM 'number' OR l0->'n' IS DISTINCT FROM l1->'n'
       OR (l0->>'n')::numeric <> trunc((l0->>'n')::numeric)
       OR (l0->>'n')::numeric NOT BETWEEN 1 AND 1000000000000 THEN
        RETURN ledger_apply(req, '{}'::jsonb);
    END IF;
    n0 := (l0->>'n')::bigint;
    IF v_kind = 'pending' THEN p0 := 0; q0 := n0; ELSE p0 := n0; q0 := 0; v_exp := NULL; END IF;

    -- Plain accounts first, sorted (the global lock order).
    FOR r IN
        SELECT id, currency, flags, normal_side, debits_posted, credits_posted,
               debits_pending, credits_pending, version
        FROM ledger_accounts WHERE id IN (a0, a1) AND NOT hot ORDER BY id FOR NO KEY UPDATE
    LOOP
        IF r.id = a0 THEN x0 := r; v_hot := 2; ELSE x1 := r; v_hot := 1; END IF;
        v_found := v_found + 1;
    END LOOP;
    IF v_found = 2 THEN
        v_hot := 0;
    ELSIF v_found <> 1 THEN
        RETURN ledger_apply(req, '{}'::jsonb);
    END IF;

    IF v_hot = 0 THEN
        dp0 := x0.debits_posted; cp0 := x0.credits_posted; dpe0 := x0.debits_pending; cpe0 := x0.credits_pending;
        dp1 := x1.debits_posted; cp1 := x1.credits_posted; dpe1 := x1.debits_pending; cpe1 := x1.credits_pending;
    ELSE
        -- The plain account's checks come before the stripe lock, so a fallback never holds
        -- a stripe ledger_apply would not pick.
        IF v_hot = 1 THEN r := x1; v_hacc := a0; ELSE r := x0; v_hacc := a1; END IF;
        IF r.currency <> c0 THEN
            RETURN ledger_apply(req, '{}'::jsonb);
        END IF;
        -- One free stripe, from a start spread by key (as ledger_apply picks it). The hot
        -- account's flags only matter when this leg raises its restricted side: then every
        -- stripe must be locked and summed, which ledger_apply does.
        SELECT s.*, a.currency, a.flags, a.normal_side INTO h
        FROM ledger_accounts a JOIN ledger_account_stripes s ON s.account_id = a.id
        WHERE a.id = v_hacc AND a.hot
          AND NOT (a.flags & 1 <> 0 AND (CASE WHEN v_hot = 1 THEN d0 ELSE d1 END) = 'debit')
          AND NOT (a.flags & 2 <> 0 AND (CASE WHEN v_hot = 1 THEN d0 ELSE d1 END) = 'credit')
        ORDER BY (s.stripe - (1 + abs(hashtext(v_key)) % a.stripes) + a.stripes) % a.stripes
        LIMIT 1 FOR NO KEY UPDATE OF s SKIP LOCKED;
        IF NOT FOUND OR h.currency <> c0 THEN
            RETURN ledger_apply(req, '{}'::jsonb);
        END IF;
        v_hst := h.stripe;
        IF v_hot = 1 THEN
            x0 := h;
            dp1 := x1.debits_posted; cp1 := x1.credits_posted; dpe1 := x1.debits_pending; cpe1 := x1.credits_pending;
        ELSE
            x1 := h;
            dp0 := x0.debits_posted; cp0 := x0.credits_posted; dpe0 := x0.debits_pending; cpe0 := x0.credits_pending;
        END IF;
        dp0 := coalesce(dp0, h.debits_posted); cp0 := coalesce(cp0, h.credits_posted);
        dpe0 := coalesce(dpe0, h.debits_pending); cpe0 := coalesce(cpe0, h.credits_pending);
        dp1 := coalesce(dp1, h.debits_posted); cp1 := coalesce(cp1, h.credits_posted);
        dpe1 := coalesce(dpe1, h.debits_pending); cpe1 := coalesce(cpe1, h.credits_pending);
    END IF;
    IF x0.currency <> c0 OR x1.currency <> c0 THEN
        RETURN ledger_apply(req, '{}'::jsonb);
    END IF;

    IF d0 = 'debit' THEN
        dp0 := dp0 + p0; dpe0 := dpe0 + q0; cp1 := cp1 + p0; cpe1 := cpe1 + q0;
    ELSE
        cp0 := cp0 + p0; cpe0 := cpe0 + q0; dp1 := dp1 + p0; dpe1 := dpe1 + q0;
    END IF;
    -- Balance flags of plain accounts (a hot one was excluded above when they could fail).
    IF (v_hot <> 1 AND ((x0.flags & 1 <> 0 AND dp0 + dpe0 > cp0) OR (x0.flags & 2 <> 0 AND cp0 + cpe0 > dp0)))
       OR (v_hot <> 2 AND ((x1.flags & 1 <> 0 AND dp1 + dpe1 > cp1) OR (x1.flags & 2 <> 0 AND cp1 + cpe1 > dp1))) THEN
        RETURN ledger_apply(req, '{}'::jsonb);
    END IF;

    -- One statement: the entry (nothing else is written if its key is taken), its legs, the
    -- balance rows and the chain queue.
    WITH e AS (
        INSERT INTO ledger_entries (idempotency_key, body_hash, kind, leg_count, description,
                                    metadata, effective_at, expires_at)
        VALUES (v_key, req->>'hash', v_kind, 2, coalesce(req->>'description', ''),
                coalesce(req->'metadata', '{}'::jsonb), v_eff, v_exp)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id),
    l AS (
        INSERT INTO ledger_legs (entry_id, leg_no, account_id, stripe, direction, currency,
                                 posted_amount, pending_amount, debits_posted_after,
                                 credits_posted_after, debits_pending_after,
                                 credits_pending_after, version_after)
        SELECT e.id, v.* FROM e, (VALUES
            (0::smallint, a0, CASE WHEN v_hot = 1 THEN v_hst ELSE 0 END::smallint, d0, c0,
             p0, q0, dp0, cp0, dpe0, cpe0, x0.version + 1),
            (1::smallint, a1, CASE WHEN v_hot = 2 THEN v_hst ELSE 0 END::smallint, d1, c0,
             p0, q0, dp1, cp1, dpe1, cpe1, x1.version + 1)) v),
    a AS (
        UPDATE ledger_accounts a
        SET debits_posted = u.dp, credits_posted = u.cp, debits_pending = u.dpe,
            credits_pending = u.cpe, version = a.version + 1
        FROM e, (VALUES (a0, v_hot <> 1, dp0, cp0, dpe0, cpe0),
                        (a1, v_hot <> 2, dp1, cp1, dpe1, cpe1)) u(id, plain, dp, cp, dpe, cpe)
        WHERE u.plain AND a.id = u.id),
    s AS (
        UPDATE ledger_account_stripes st
        SET debits_posted = CASE WHEN v_hot = 1 THEN dp0 ELSE dp1 END,
            credits_posted = CASE WHEN v_hot = 1 THEN cp0 ELSE cp1 END,
            debits_pending = CASE WHEN v_hot = 1 THEN dpe0 ELSE dpe1 END,
            credits_pending = CASE WHEN v_hot = 1 THEN cpe0 ELSE cpe1 END,
            version = st.version + 1
        FROM e
        WHERE v_hot <> 0 AND st.account_id = v_hacc AND st.stripe = v_hst),
    q AS (INSERT INTO ledger_chain_queue (entry_id) SELECT id FROM e)
    SELECT id INTO v_id FROM e;
    IF v_id IS NULL THEN  -- key already used: replay or conflict
        RETURN ledger_apply(req, '{}'::jsonb);
    END IF;

    RETURN jsonb_build_object(
        'id', v_id, 'kind', v_kind, 'replayed', false, 'effective_at', v_eff,
        'legs', jsonb_build_array(
            jsonb_build_array(a0, d0, c0, p0, q0, CASE WHEN v_hot = 1 THEN v_hst ELSE 0 END,
                              dp0, cp0, dpe0, cpe0, x0.version + 1, x0.normal_side),
            jsonb_build_array(a1, d1, c0, p0, q0, CASE WHEN v_hot = 2 THEN v_hst ELSE 0 END,
                              dp1, cp1, dpe1, cpe1, x1.version + 1, x1.normal_side)));
END $$;
