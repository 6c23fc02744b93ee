-- paysaga ledger, revision 0002: faster invariant triggers and a set-based batch path.
-- Loaded by versions/0002_ledger_fast_paths.py. Replaces functions only (no table changes).

-- Deferred balance check: one query per entry instead of two.
CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
    v_currency text;
BEGIN
    SELECT coalesce(sum(legs), 0)::integer, min(c) FILTER (WHERE NOT ok)
    INTO v_count, v_currency
    FROM (SELECT currency AS c, count(*) AS legs,
                 sum(CASE WHEN direction = 'debit' THEN posted_amount ELSE -posted_amount END) = 0
                 AND sum(CASE WHEN direction = 'debit' THEN pending_amount ELSE -pending_amount END) = 0
                 AS ok
          FROM ledger_legs WHERE entry_id = NEW.id GROUP BY currency) g;
    IF v_count <> NEW.leg_count THEN
        PERFORM ledger_raise('unbalanced_entry',
            format('entry %s has %s legs, expected %s', NEW.id, v_count, NEW.leg_count));
    END IF;
    IF v_currency IS NOT NULL THEN
        PERFORM ledger_raise('unbalanced_entry',
            format('entry %s: debits and credits differ in %s', NEW.id, v_currency));
    END IF;
    RETURN NULL;
END $$;

-- Legs belong to an entry and never exceed its leg_count: one statement for all entries of
-- the inserted legs. Scalar subqueries run as correlated index probes per entry (a join
-- could be planned blind on the transition table and scan all entries).
CREATE OR REPLACE FUNCTION ledger_check_legs_attached() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_bad bigint;
BEGIN
    SELECT d.entry_id INTO v_bad
    FROM (SELECT DISTINCT entry_id FROM new_legs) d
    WHERE coalesce((SELECT count(*) FROM ledger_legs l WHERE l.entry_id = d.entry_id)
                   > (SELECT e.leg_count FROM ledger_entries e WHERE e.id = d.entry_id), true)
    ORDER BY d.entry_id
    LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_raise('unbalanced_entry',
            format('legs of entry %s do not match an entry written in this transaction', v_bad));
    END IF;
    RETURN NULL;
END $$;

-- Set-based batch of standard/pending entries on plain (not hot) accounts. Parses and checks
-- the batch, writes the entries, then locks the accounts in the global order and writes
-- balances and legs. When the batch is not the simple case or a check fails it returns NULL
-- (nothing written) or raises (entries written): run it under a savepoint, and on NULL or an
-- error take the per-entry path, which raises the same error the same entry would have
-- raised. Results equal what ledger_apply returns per entry.
CREATE OR REPLACE FUNCTION ledger_batch_fast(reqs jsonb) RETURNS jsonb[]
LANGUAGE plpgsql AS $$
DECLARE
    v_n       integer := jsonb_array_length(reqs);
    v_now     timestamptz := now();
    v_ok      boolean;
    v_ids     bigint[];
    v_res     jsonb[];
    e_key text[]; e_hash text[]; e_kind text[]; e_desc text[]; e_meta jsonb[];
    e_eff timestamptz[]; e_exp timestamptz[]; e_n integer[];
    g_o integer[]; g_no integer[]; g_acc text[]; g_dir text[]; g_cur text[]; g_amt bigint[];
    g_pend boolean[];
    g_p bigint[]; g_q bigint[]; g_dp bigint[]; g_cp bigint[]; g_dpe bigint[]; g_cpe bigint[];
    g_ver bigint[]; g_ns text[];
BEGIN
    SELECT array_agg(x->>'key' ORDER BY o), array_agg(x->>'hash' ORDER BY o),
           array_agg(x->>'kind' ORDER BY o),
           array_agg(coalesce(x->>'description', '') ORDER BY o),
           array_agg(coalesce(x->'metadata', '{}'::jsonb) ORDER BY o),
           array_agg(coalesce((x->>'effective_at')::timestamptz, v_now) ORDER BY o),
           array_agg(CASE WHEN x->>'kind' = 'pending' THEN (x->>'expires_at')::timestamptz END ORDER BY o),
           array_agg(CASE WHEN jsonb_typeof(x->'legs') = 'array' THEN jsonb_array_length(x->'legs') END ORDER BY o),
           bool_and(x->>'kind' IN ('standard', 'pending') AND jsonb_typeof(x->'legs') = 'array'
                    AND length(x->>'key') BETWEEN 1 AND 255 AND x->'ref' IS NULL)
    INTO e_key, e_hash, e_kind, e_desc, e_meta, e_eff, e_exp, e_n, v_ok
    FROM jsonb_array_elements(reqs) WITH ORDINALITY AS t(x, o);
    IF NOT coalesce(v_ok, false) OR array_position(e_n, NULL) IS NOT NULL
       OR EXISTS (SELECT 1 FROM unnest(e_n) c WHERE c < 2 OR c > 1000) THEN
        RETURN NULL;
    END IF;
    -- Keys: distinct within the batch and not yet used (else the per-entry path replays).
    IF (SELECT count(DISTINCT k) FROM unnest(e_key) k) <> v_n
       OR EXISTS (SELECT 1 FROM ledger_entries WHERE idempotency_key = ANY (e_key)) THEN
        RETURN NULL;
    END IF;

    -- Every array_agg below reads the same rows in the same order, so the arrays line up;
    -- positions carry (o, lo) explicitly wherever order matters.
    SELECT array_agg(t.o), array_agg(u.lo - 1), array_agg(u.l->>'a'), array_agg(u.l->>'d'),
           array_agg(u.l->>'c'),
           array_agg(CASE WHEN jsonb_typeof(u.l->'n') = 'number' THEN
                         CASE WHEN (u.l->>'n')::numeric = trunc((u.l->>'n')::numeric)
                               AND (u.l->>'n')::numeric BETWEEN 1 AND 1000000000000
                         THEN (u.l->>'n')::bigint END END),
           array_agg(t.x->>'kind' = 'pending')
    INTO g_o, g_no, g_acc, g_dir, g_cur, g_amt, g_pend
    FROM jsonb_array_elements(reqs) WITH ORDINALITY AS t(x, o),
         jsonb_array_elements(t.x->'legs') WITH ORDINALITY AS u(l, lo);
    IF array_position(g_amt, NULL) IS NOT NULL OR array_position(g_acc, NULL) IS NOT NULL
       OR EXISTS (SELECT 1 FROM unnest(g_dir, g_cur) u(d, c)
                  WHERE d IS NULL OR d NOT IN ('debit', 'credit') OR c IS NULL OR c !~ '^[A-Z]{3}$') THEN
        RETURN NULL;
    END IF;
    -- Balanced per entry and currency.
    IF EXISTS (SELECT 1 FROM unnest(g_o, g_dir, g_cur, g_amt) u(o, d, c, p)
               GROUP BY o, c HAVING sum(CASE WHEN d = 'debit' THEN p ELSE -p END) <> 0) THEN
        RETURN NULL;
    END IF;
    -- Accounts exist, are plain, and hold the leg's currency.
    IF EXISTS (SELECT 1 FROM unnest(g_acc, g_cur) u(acc, c)
               LEFT JOIN ledger_accounts a ON a.id = u.acc
               WHERE a.id IS NULL OR a.hot OR a.currency <> u.c) THEN
        RETURN NULL;
    END IF;
    -- Entries need no balance, so they are written before any account lock is taken (a
    -- concurrent twin's key makes the insert fail; the caller then takes the per-entry path).
    -- Entry ids in batch order, as the per-entry path assigns them.
    v_ids := ARRAY(SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id'))
                   FROM generate_series(1, v_n));
    INSERT INTO ledger_entries (id, idempotency_key, body_hash, kind, leg_count, description,
                                metadata, effective_at, expires_at)
    SELECT id, k, h, kind, n, dsc, meta, eff, exp
    FROM unnest(v_ids, e_key, e_hash, e_kind, e_n, e_desc, e_meta, e_eff, e_exp)
         WITH ORDINALITY AS u(id, k, h, kind, n, dsc, meta, eff, exp, o)
    ORDER BY o;
    INSERT INTO ledger_chain_queue (entry_id) SELECT unnest(v_ids);

    -- Lock the accounts in the global order (as ledger_prelock does for plain accounts).
    PERFORM 1 FROM ledger_accounts WHERE id = ANY (ARRAY(SELECT DISTINCT x FROM unnest(g_acc) x))
    ORDER BY id FOR NO KEY UPDATE;

    -- Balances after every leg (running sums per account in entry, leg order) and after every
    -- entry (for the balance flags, checked per entry as the per-entry path does).
    SELECT array_agg(o), array_agg(lo), array_agg(acc), array_agg(d), array_agg(c), array_agg(p),
           array_agg(q), array_agg(dp), array_agg(cp), array_agg(dpe), array_agg(cpe),
           array_agg(ver), array_agg(ns), bool_or(bad)
    INTO g_o, g_no, g_acc, g_dir, g_cur, g_p, g_q, g_dp, g_cp, g_dpe, g_cpe, g_ver, g_ns, v_ok
    FROM (
        SELECT o, lo, acc, d, c, p, q,
               a.debits_posted + sum(CASE WHEN d = 'debit' THEN p ELSE 0 END) OVER w AS dp,
               a.credits_posted + sum(CASE WHEN d = 'credit' THEN p ELSE 0 END) OVER w AS cp,
               a.debits_pending + sum(CASE WHEN d = 'debit' THEN q ELSE 0 END) OVER w AS dpe,
               a.credits_pending + sum(CASE WHEN d = 'credit' THEN q ELSE 0 END) OVER w AS cpe,
               a.version + dense_rank() OVER (PARTITION BY acc ORDER BY o) AS ver,
               a.normal_side AS ns,
               a.flags <> 0 AND (
                   (a.flags & 1 <> 0 AND a.debits_posted + a.debits_pending
                        + sum(CASE WHEN d = 'debit' THEN p + q ELSE 0 END) OVER e
                        > a.credits_posted + sum(CASE WHEN d = 'credit' THEN p ELSE 0 END) OVER e)
                OR (a.flags & 2 <> 0 AND a.credits_posted + a.credits_pending
                        + sum(CASE WHEN d = 'credit' THEN p + q ELSE 0 END) OVER e
                        > a.debits_posted + sum(CASE WHEN d = 'debit' THEN p ELSE 0 END) OVER e))
               AS bad
        FROM (SELECT o, lo, acc, d, c,
                     CASE WHEN pend THEN 0 ELSE amt END AS p, CASE WHEN pend THEN amt ELSE 0 END AS q
              FROM unnest(g_o, g_no, g_acc, g_dir, g_cur, g_amt, g_pend) u(o, lo, acc, d, c, amt, pend)) g
        JOIN ledger_accounts a ON a.id = g.acc
        WINDOW w AS (PARTITION BY acc ORDER BY o, lo ROWS UNBOUNDED PRECEDING),
               e AS (PARTITION BY acc ORDER BY o RANGE UNBOUNDED PRECEDING)) x;
    IF v_ok THEN
        -- Entries are written: undo them by failing (the caller rolls back to its savepoint).
        RAISE EXCEPTION USING ERRCODE = 'LG001', MESSAGE = 'batch_fallback';
    END IF;

    UPDATE ledger_accounts a
    SET debits_posted = f.dp, credits_posted = f.cp, debits_pending = f.dpe,
        credits_pending = f.cpe, version = f.ver
    FROM (SELECT DISTINCT ON (acc) acc, dp, cp, dpe, cpe, ver
          FROM unnest(g_acc, g_o, g_no, g_dp, g_cp, g_dpe, g_cpe, g_ver)
               u(acc, o, lo, dp, cp, dpe, cpe, ver)
          ORDER BY acc, o DESC, lo DESC) f
    WHERE a.id = f.acc;

    INSERT INTO ledger_legs (entry_id, leg_no, account_id, stripe, direction, currency,
                             posted_amount, pending_amount, debits_posted_after,
                             credits_posted_after, debits_pending_after,
                             credits_pending_after, version_after)
    SELECT v_ids[o], lo::smallint, acc, 0, d, c, p, q, dp, cp, dpe, cpe, ver
    FROM unnest(g_o, g_no, g_acc, g_dir, g_cur, g_p, g_q, g_dp, g_cp, g_dpe, g_cpe, g_ver)
         u(o, lo, acc, d, c, p, q, dp, cp, dpe, cpe, ver);

    v_res := ARRAY(
        SELECT jsonb_build_object(
                   'id', v_ids[o], 'kind', CASE WHEN bool_or(q > 0) THEN 'pending' ELSE 'standard' END,
                   'replayed', false, 'effective_at', e_eff[o],
                   'legs', jsonb_agg(jsonb_build_array(acc, d, c, p, q, 0, dp, cp, dpe, cpe, ver, ns)
                                     ORDER BY lo))
        FROM unnest(g_o, g_no, g_acc, g_dir, g_cur, g_p, g_q, g_dp, g_cp, g_dpe, g_cpe, g_ver, g_ns)
             u(o, lo, acc, d, c, p, q, dp, cp, dpe, cpe, ver, ns)
        GROUP BY o ORDER BY o);
    RETURN v_res;
END $$;

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
