-- History: ledger_batch_fast as ledger_0003 defined it, replaced by ledger_0004.
-- Applied by ledger_0003's upgrade, restored by ledger_0004's downgrade; never edited.
--
-- Set-based batch of standard/pending entries on plain accounts (as in 0002), now writing
-- entries, legs, balances and the chain queue in one statement. Everything that does not
-- need a balance (parsing, checks, entry ids) happens before the account locks; under them
-- one row lock and one UPDATE per distinct account, whatever the number of entries touching
-- it. Returns NULL (nothing written) or raises when the batch is not the simple case or a
-- check fails; the caller then takes the per-entry path, which raises the exact error.
CREATE OR REPLACE FUNCTION ledger_batch_fast(reqs jsonb) RETURNS jsonb[]
LANGUAGE plpgsql AS $$
DECLARE
    v_n       integer := jsonb_array_length(reqs);
    v_now     timestamptz := now();
    v_ok      boolean;
    v_ids     bigint[];
    v_accs    text[];
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
    v_accs := ARRAY(SELECT DISTINCT x FROM unnest(g_acc) x ORDER BY 1);
    IF EXISTS (SELECT 1 FROM unnest(g_acc, g_cur) u(acc, c)
               LEFT JOIN ledger_accounts a ON a.id = u.acc
               WHERE a.id IS NULL OR a.hot OR a.currency <> u.c) THEN
        RETURN NULL;
    END IF;
    -- Entry ids in batch order, as the per-entry path assigns them.
    v_ids := ARRAY(SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id'))
                   FROM generate_series(1, v_n));

    -- Lock the accounts in the global order (as ledger_prelock does for plain accounts).
    PERFORM 1 FROM ledger_accounts WHERE id = ANY (v_accs) ORDER BY id FOR NO KEY UPDATE;

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
        RETURN NULL;  -- a balance flag fails: the per-entry path names the entry
    END IF;

    WITH e AS (
        INSERT INTO ledger_entries (id, idempotency_key, body_hash, kind, leg_count, description,
                                    metadata, effective_at, expires_at)
        SELECT id, k, h, kind, n, dsc, meta, eff, exp
        FROM unnest(v_ids, e_key, e_hash, e_kind, e_n, e_desc, e_meta, e_eff, e_exp)
             WITH ORDINALITY AS u(id, k, h, kind, n, dsc, meta, eff, exp, o)
        ORDER BY o),
    l AS (
        INSERT INTO ledger_legs (entry_id, leg_no, account_id, stripe, direction, currency,
                                 posted_amount, pending_amount, debits_posted_after,
                                 credits_posted_after, debits_pending_after,
                                 credits_pending_after, version_after)
        SELECT v_ids[o], lo::smallint, acc, 0, d, c, p, q, dp, cp, dpe, cpe, ver
        FROM unnest(g_o, g_no, g_acc, g_dir, g_cur, g_p, g_q, g_dp, g_cp, g_dpe, g_cpe, g_ver)
             u(o, lo, acc, d, c, p, q, dp, cp, dpe, cpe, ver)),
    a AS (
        UPDATE ledger_accounts a
        SET debits_posted = f.dp, credits_posted = f.cp, debits_pending = f.dpe,
            credits_pending = f.cpe, version = f.ver
        FROM (SELECT DISTINCT ON (acc) acc, dp, cp, dpe, cpe, ver
              FROM unnest(g_acc, g_o, g_no, g_dp, g_cp, g_dpe, g_cpe, g_ver)
                   u(acc, o, lo, dp, cp, dpe, cpe, ver)
              ORDER BY acc, o DESC, lo DESC) f
        WHERE a.id = f.acc)
    INSERT INTO ledger_chain_queue (entry_id) SELECT unnest(v_ids);

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
