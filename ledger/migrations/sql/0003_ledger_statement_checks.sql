-- paysaga ledger, revision 0003: statement-level balance checks, one-statement writes.
-- Loaded by versions/0003_ledger_statement_checks.py. No table changes; existing rows
-- already satisfy the new checks (every writer numbered legs 0..n-1).
--
-- Why: revision 0001 checked balance with a deferred trigger per entry plus a statement
-- trigger per leg insert; together about a fifth of a post's server time and, in a batch,
-- a thousand trigger calls at commit while every account lock is held. The database still
-- refuses every unbalanced write, but with one set-based check per statement:
--
--   * ledger_legs, after each INSERT statement: for every entry it touches, the statement
--     inserted legs numbered exactly 0..leg_count-1 of an entry that exists, and they balance
--     per currency (posted and pending separately). As every leg number of the entry is then
--     taken, the (entry_id, leg_no) key refuses any leg added to it later.
--   * ledger_entries, after each INSERT statement: every new entry has its leg 0, so its legs
--     were written by the same statement (legs written earlier had no entry and were refused).
--
-- So an entry and its legs must be written in one statement (a data-modifying WITH), which is
-- what every posting function does. Compared with 0001 the guarantee is the same (an entry is
-- complete and balanced, no leg is added or changed later) and now holds at the end of each
-- statement rather than at commit.

DROP TRIGGER ledger_entries_balanced ON ledger_entries;
DROP TRIGGER ledger_legs_attached ON ledger_legs;

CREATE FUNCTION ledger_check_legs() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_bad bigint;
BEGIN
    -- The leg_count probe is a scalar subquery, so it runs as one index probe per entry (a
    -- join could be planned blind on the transition table and scan every entry).
    SELECT g.entry_id INTO v_bad
    FROM (SELECT entry_id, sum(n) AS n, min(lo) AS lo, max(hi) AS hi, bool_and(ok) AS ok
          FROM (SELECT entry_id, count(*) AS n, min(leg_no) AS lo, max(leg_no) AS hi,
                       sum(CASE WHEN direction = 'debit' THEN posted_amount ELSE -posted_amount END) = 0
                       AND sum(CASE WHEN direction = 'debit' THEN pending_amount ELSE -pending_amount END) = 0
                       AS ok
                FROM new_legs GROUP BY entry_id, currency) c
          GROUP BY entry_id) g
    WHERE NOT g.ok OR g.lo <> 0 OR g.hi <> g.n - 1
       OR g.n IS DISTINCT FROM (SELECT e.leg_count FROM ledger_entries e WHERE e.id = g.entry_id)
    ORDER BY g.entry_id
    LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_raise('unbalanced_entry',
            format('entry %s: legs must be written with their entry, all at once, numbered from 0'
                   ' and balanced per currency', v_bad));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION ledger_check_entries() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_bad bigint;
BEGIN
    SELECT e.id INTO v_bad FROM new_entries e
    WHERE (SELECT l.leg_no FROM ledger_legs l WHERE l.entry_id = e.id AND l.leg_no = 0) IS NULL
    ORDER BY e.id
    LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_raise('unbalanced_entry',
            format('entry %s was written without its legs (write them in the same statement)',
                   v_bad));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_legs_checked AFTER INSERT ON ledger_legs
    REFERENCING NEW TABLE AS new_legs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_legs();
CREATE TRIGGER ledger_entries_checked AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_entries();

-- ---------------------------------------------------------------- one entry

-- Post one entry. The common payment (two legs, two distinct accounts, at most one of them
-- hot and written on one stripe) is done here in two statements: lock, then one WITH that
-- writes entry, legs, balances and the chain queue. Anything else, any failed check and a
-- used idempotency key go to ledger_apply, which replays or raises the exact error (it takes
-- the same locks in the same order, so locks already held here are a prefix of its order).
DROP FUNCTION IF EXISTS ledger_post_simple(jsonb);
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

-- ---------------------------------------------------------------- batches

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

-- Many entries in one transaction; all or nothing. Simple batches take the set-based path
-- (under a savepoint: a concurrent twin's key makes it fail, then the per-entry path runs).
CREATE OR REPLACE FUNCTION ledger_post_batch(reqs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_pins jsonb := '{}'::jsonb;
    v_res jsonb[];
    r record;
BEGIN
    IF jsonb_array_length(reqs) = 1 THEN
        RETURN NEXT ledger_post(reqs->0);
        RETURN;
    END IF;
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
    FOR r IN SELECT x FROM jsonb_array_elements(reqs) WITH ORDINALITY AS t(x, o) ORDER BY o LOOP
        RETURN NEXT ledger_apply(r.x, v_pins);
    END LOOP;
END $$;

-- ---------------------------------------------------------------- general path

-- ledger_apply as in 0001, except that the entry, its legs and the chain queue row are
-- written by one statement.
CREATE OR REPLACE FUNCTION ledger_apply(req jsonb, pins jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_key     text := req->>'key';
    v_hash    text := req->>'hash';
    v_kind    text := req->>'kind';
    v_ref     bigint := (req->>'ref')::bigint;
    v_amount  bigint := (req->>'amount')::bigint;
    v_eff     timestamptz := coalesce((req->>'effective_at')::timestamptz, now());
    v_exp     timestamptz := (req->>'expires_at')::timestamptz;
    v_meta    jsonb := req->'metadata';
    v_id      bigint;
    v_old     record;
    v_refrow  record;
    v_done    text;
    v_sum     bigint;
    v_orig    bigint;
    v_bad     text;
    v_ok      boolean;
    r         record;
    s         record;
    n         integer;
    m         integer;
    i         integer;
    k         integer;
    v_start   integer;
    v_any_hot boolean := false;
    v_tdp bigint; v_tcp bigint; v_tdpe bigint; v_tcpe bigint;
    -- legs
    l_acc text[]; l_dir text[]; l_cur text[]; l_post bigint[]; l_pend bigint[];
    l_stripe smallint[]; l_dp bigint[]; l_cp bigint[]; l_dpe bigint[]; l_cpe bigint[];
    l_ver bigint[]; l_ns text[];
    -- distinct accounts, sorted
    a_id text[]; a_cur text[]; a_flags integer[]; a_hot boolean[]; a_ns text[];
    a_stripe smallint[]; a_dp bigint[]; a_cp bigint[]; a_dpe bigint[]; a_cpe bigint[];
    a_ver bigint[]; a_all boolean[];
    t_dp bigint[]; t_cp bigint[]; t_dpe bigint[]; t_cpe bigint[];
BEGIN
    IF v_key IS NULL OR length(v_key) NOT BETWEEN 1 AND 255 THEN
        PERFORM ledger_raise('invalid_request', 'idempotency key must have 1 to 255 characters');
    END IF;

    -- Idempotency: the same key returns the first result, or conflicts on another body.
    SELECT id, body_hash INTO v_old FROM ledger_entries WHERE idempotency_key = v_key;
    IF FOUND THEN
        IF v_old.body_hash IS DISTINCT FROM v_hash THEN
            PERFORM ledger_raise('idempotency_conflict',
                format('idempotency key %s was used for a different entry', v_key));
        END IF;
        RETURN ledger_result(v_old.id, true);
    END IF;

    -- Legs: given, or derived from the entry this one resolves or reverses.
    IF v_kind IN ('standard', 'pending') OR (v_kind = 'reversal' AND jsonb_typeof(req->'legs') = 'array') THEN
        IF jsonb_typeof(req->'legs') IS DISTINCT FROM 'array' THEN
            PERFORM ledger_raise('invalid_request', 'legs must be an array');
        END IF;
        SELECT array_agg(x->>'a' ORDER BY o), array_agg(x->>'d' ORDER BY o),
               array_agg(x->>'c' ORDER BY o),
               array_agg(CASE WHEN jsonb_typeof(x->'n') = 'number' THEN
                             CASE WHEN (x->>'n')::numeric = trunc((x->>'n')::numeric)
                                   AND (x->>'n')::numeric BETWEEN 1 AND 1000000000000
                             THEN (x->>'n')::bigint END END ORDER BY o)
        INTO l_acc, l_dir, l_cur, l_post
        FROM jsonb_array_elements(req->'legs') WITH ORDINALITY AS t(x, o);
        n := coalesce(array_length(l_acc, 1), 0);
        IF n < 2 THEN
            PERFORM ledger_raise('unbalanced_entry', 'an entry needs at least two legs');
        END IF;
        IF array_position(l_post, NULL) IS NOT NULL THEN
            PERFORM ledger_raise('invalid_amount', 'leg amounts must be integers from 1 to 10^12');
        END IF;
        FOR k IN 1..n LOOP
            IF l_acc[k] IS NULL OR l_dir[k] IS NULL OR l_dir[k] NOT IN ('debit', 'credit')
               OR l_cur[k] IS NULL OR l_cur[k] !~ '^[A-Z]{3}$' THEN
                PERFORM ledger_raise('invalid_request', format('leg %s is malformed', k));
            END IF;
        END LOOP;
        IF v_kind = 'pending' THEN
            l_pend := l_post;
            l_post := array_fill(0::bigint, ARRAY[n]);
        ELSE
            l_pend := array_fill(0::bigint, ARRAY[n]);
        END IF;
        IF v_kind = 'reversal' THEN
            SELECT id, kind INTO v_refrow FROM ledger_entries WHERE id = v_ref FOR NO KEY UPDATE;
            IF NOT FOUND THEN
                PERFORM ledger_raise('unknown_entry', format('entry %s does not exist', v_ref));
            END IF;
        END IF;
    ELSIF v_kind IN ('post_pending', 'void_pending') THEN
        SELECT id, kind, expires_at, metadata INTO v_refrow FROM ledger_entries WHERE id = v_ref FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            PERFORM ledger_raise('unknown_entry', format('entry %s does not exist', v_ref));
        END IF;
        IF v_refrow.kind <> 'pending' THEN
            PERFORM ledger_raise('not_pending', format('entry %s is not a pending entry', v_ref));
        END IF;
        SELECT kind INTO v_done FROM ledger_entries WHERE pending_id = v_ref LIMIT 1;
        IF FOUND THEN
            IF v_done = 'post_pending' THEN
                PERFORM ledger_raise('already_posted', format('pending entry %s was already posted', v_ref));
            ELSE
                PERFORM ledger_raise('already_voided', format('pending entry %s was already voided', v_ref));
            END IF;
        END IF;
        IF v_kind = 'post_pending' AND v_refrow.expires_at IS NOT NULL AND v_refrow.expires_at <= now() THEN
            PERFORM ledger_raise('pending_expired',
                format('pending entry %s expired at %s; it can only be voided', v_ref, v_refrow.expires_at));
        END IF;
        SELECT array_agg(account_id ORDER BY leg_no), array_agg(direction ORDER BY leg_no),
               array_agg(currency ORDER BY leg_no), array_agg(-pending_amount ORDER BY leg_no),
               array_agg(CASE WHEN v_kind = 'void_pending' THEN 0
                              ELSE coalesce(v_amount, pending_amount) END ORDER BY leg_no),
               max(pending_amount)
        INTO l_acc, l_dir, l_cur, l_pend, l_post, v_orig
        FROM ledger_legs WHERE entry_id = v_ref;
        n := array_length(l_acc, 1);
        IF v_kind = 'post_pending' AND v_amount IS NOT NULL THEN
            IF n <> 2 THEN
                PERFORM ledger_raise('invalid_amount', 'a partial post needs a two-leg pending entry');
            END IF;
            IF v_amount < 1 OR v_amount > v_orig THEN
                PERFORM ledger_raise('invalid_amount',
                    format('posted amount must be 1 to %s, got %s', v_orig, v_amount));
            END IF;
        END IF;
    ELSIF v_kind = 'reversal' THEN
        SELECT id, kind, metadata INTO v_refrow FROM ledger_entries WHERE id = v_ref FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            PERFORM ledger_raise('unknown_entry', format('entry %s does not exist', v_ref));
        END IF;
        SELECT array_agg(account_id ORDER BY leg_no),
               array_agg(CASE direction WHEN 'debit' THEN 'credit' ELSE 'debit' END ORDER BY leg_no),
               array_agg(currency ORDER BY leg_no),
               array_agg(coalesce(v_amount, posted_amount) ORDER BY leg_no),
               max(posted_amount)
        INTO l_acc, l_dir, l_cur, l_post, v_orig
        FROM ledger_legs WHERE entry_id = v_ref AND posted_amount > 0;
        n := coalesce(array_length(l_acc, 1), 0);
        l_pend := array_fill(0::bigint, ARRAY[n]);
        IF v_amount IS NOT NULL AND (n <> 2 OR v_amount < 1 OR v_amount > v_orig) THEN
            PERFORM ledger_raise('invalid_amount',
                format('a partial reversal needs a two-leg entry and an amount from 1 to %s', v_orig));
        END IF;
    ELSE
        PERFORM ledger_raise('invalid_request', format('unknown entry kind %s', v_kind));
    END IF;

    IF v_kind IN ('post_pending', 'void_pending') THEN
        -- Resolutions carry the pending entry's metadata unless told otherwise.
        v_meta := coalesce(v_meta, v_refrow.metadata);
    END IF;
    IF v_kind = 'reversal' THEN
        IF v_refrow.kind NOT IN ('standard', 'post_pending') THEN
            PERFORM ledger_raise('not_reversible',
                format('entry %s (%s) cannot be reversed', v_ref, v_refrow.kind));
        END IF;
        -- Reversals of one entry never exceed it (the entry row lock serialises them).
        SELECT coalesce(sum(l.posted_amount), 0) INTO v_sum
        FROM ledger_entries e JOIN ledger_legs l ON l.entry_id = e.id
        WHERE e.reverses_id = v_ref AND l.direction = 'debit';
        SELECT coalesce(sum(posted_amount), 0) INTO v_orig
        FROM ledger_legs WHERE entry_id = v_ref AND direction = 'debit';
        SELECT coalesce(sum(p), 0) INTO v_amount FROM unnest(l_dir, l_post) u(d, p) WHERE d = 'debit';
        IF v_sum + v_amount > v_orig THEN
            PERFORM ledger_raise('reversal_exceeds_original',
                format('entry %s: reversing %s more would exceed its %s (already reversed %s)',
                       v_ref, v_amount, v_orig, v_sum));
        END IF;
    END IF;

    -- Balanced per currency, posted and pending separately.
    SELECT c INTO v_bad FROM unnest(l_dir, l_post, l_pend, l_cur) u(d, p, q, c)
    GROUP BY c
    HAVING sum(CASE WHEN d = 'debit' THEN p ELSE -p END) <> 0
        OR sum(CASE WHEN d = 'debit' THEN q ELSE -q END) <> 0
    LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_raise('unbalanced_entry', format('debits and credits differ in %s', v_bad));
    END IF;

    -- Lock: plain accounts first (sorted by id), then stripes of hot accounts (sorted by
    -- account, stripe). Every writer uses this order, so writers never deadlock.
    a_id := ARRAY(SELECT DISTINCT x FROM unnest(l_acc) x ORDER BY 1);
    m := array_length(a_id, 1);
    a_cur := array_fill(NULL::text, ARRAY[m]);
    a_flags := array_fill(0, ARRAY[m]);
    a_hot := array_fill(false, ARRAY[m]);
    a_all := array_fill(false, ARRAY[m]);
    a_ns := array_fill(NULL::text, ARRAY[m]);
    a_stripe := array_fill(0::smallint, ARRAY[m]);
    a_dp := array_fill(0::bigint, ARRAY[m]); a_cp := a_dp; a_dpe := a_dp; a_cpe := a_dp;
    a_ver := a_dp; t_dp := a_dp; t_cp := a_dp; t_dpe := a_dp; t_cpe := a_dp;
    k := 0;
    FOR r IN
        SELECT id, currency, flags, normal_side, debits_posted, credits_posted,
               debits_pending, credits_pending, version
        FROM ledger_accounts WHERE id = ANY (a_id) AND NOT hot ORDER BY id FOR NO KEY UPDATE
    LOOP
        i := array_position(a_id, r.id);
        a_cur[i] := r.currency; a_flags[i] := r.flags; a_ns[i] := r.normal_side;
        a_dp[i] := r.debits_posted; a_cp[i] := r.credits_posted;
        a_dpe[i] := r.debits_pending; a_cpe[i] := r.credits_pending; a_ver[i] := r.version;
        k := k + 1;
    END LOOP;
    IF k < m THEN
        FOR r IN
            SELECT id, currency, flags, normal_side, stripes
            FROM ledger_accounts WHERE id = ANY (a_id) AND hot ORDER BY id
        LOOP
            i := array_position(a_id, r.id);
            a_cur[i] := r.currency; a_flags[i] := r.flags; a_ns[i] := r.normal_side;
            a_hot[i] := true; v_any_hot := true;
            -- A write that raises the restricted side must see the whole balance: lock all
            -- stripes. Any other write takes one free stripe.
            SELECT bool_or((r.flags & 1 <> 0 AND d = 'debit' AND p + q > 0)
                        OR (r.flags & 2 <> 0 AND d = 'credit' AND p + q > 0))
            INTO v_ok FROM unnest(l_acc, l_dir, l_post, l_pend) u(acc, d, p, q) WHERE acc = r.id;
            a_all[i] := coalesce(v_ok, false);
            IF a_all[i] THEN
                SELECT coalesce(sum(debits_posted), 0), coalesce(sum(credits_posted), 0),
                       coalesce(sum(debits_pending), 0), coalesce(sum(credits_pending), 0)
                INTO v_tdp, v_tcp, v_tdpe, v_tcpe
                FROM (SELECT * FROM ledger_account_stripes WHERE account_id = r.id
                      ORDER BY stripe FOR NO KEY UPDATE) st;
                t_dp[i] := v_tdp; t_cp[i] := v_tcp; t_dpe[i] := v_tdpe; t_cpe[i] := v_tcpe;
                a_stripe[i] := coalesce((pins->>r.id)::smallint, 1);
                SELECT * INTO s FROM ledger_account_stripes
                WHERE account_id = r.id AND stripe = a_stripe[i];
            ELSIF pins ? r.id THEN
                SELECT * INTO s FROM ledger_account_stripes
                WHERE account_id = r.id AND stripe = (pins->>r.id)::smallint FOR NO KEY UPDATE;
            ELSE
                v_start := 1 + abs(hashtext(v_key)) % r.stripes;
                SELECT * INTO s FROM ledger_account_stripes WHERE account_id = r.id
                ORDER BY (stripe - v_start + r.stripes) % r.stripes
                LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;
                IF NOT FOUND THEN
                    SELECT * INTO s FROM ledger_account_stripes
                    WHERE account_id = r.id AND stripe = v_start FOR NO KEY UPDATE;
                END IF;
            END IF;
            a_stripe[i] := s.stripe;
            a_dp[i] := s.debits_posted; a_cp[i] := s.credits_posted;
            a_dpe[i] := s.debits_pending; a_cpe[i] := s.credits_pending; a_ver[i] := s.version;
            IF a_all[i] THEN
                t_dp[i] := t_dp[i] - s.debits_posted; t_cp[i] := t_cp[i] - s.credits_posted;
                t_dpe[i] := t_dpe[i] - s.debits_pending; t_cpe[i] := t_cpe[i] - s.credits_pending;
            END IF;
        END LOOP;
        i := array_position(a_cur, NULL);
        IF i IS NOT NULL THEN
            PERFORM ledger_raise('unknown_account', format('account %s does not exist', a_id[i]));
        END IF;
    END IF;

    -- Apply the legs in order, recording the balance after each.
    l_stripe := array_fill(0::smallint, ARRAY[n]);
    l_dp := array_fill(0::bigint, ARRAY[n]); l_cp := l_dp; l_dpe := l_dp; l_cpe := l_dp; l_ver := l_dp;
    l_ns := array_fill(NULL::text, ARRAY[n]);
    FOR k IN 1..n LOOP
        i := array_position(a_id, l_acc[k]);
        IF l_cur[k] <> a_cur[i] THEN
            PERFORM ledger_raise('currency_mismatch',
                format('account %s holds %s, leg %s is in %s', a_id[i], a_cur[i], k, l_cur[k]));
        END IF;
        IF l_dir[k] = 'debit' THEN
            a_dp[i] := a_dp[i] + l_post[k]; a_dpe[i] := a_dpe[i] + l_pend[k];
        ELSE
            a_cp[i] := a_cp[i] + l_post[k]; a_cpe[i] := a_cpe[i] + l_pend[k];
        END IF;
        l_stripe[k] := a_stripe[i]; l_ns[k] := a_ns[i];
        l_dp[k] := a_dp[i]; l_cp[k] := a_cp[i]; l_dpe[k] := a_dpe[i]; l_cpe[k] := a_cpe[i];
        l_ver[k] := a_ver[i] + 1;
    END LOOP;

    -- Balance flags, checked on the whole account (all stripes for hot accounts).
    FOR i IN 1..m LOOP
        CONTINUE WHEN a_flags[i] = 0 OR (a_hot[i] AND NOT a_all[i]);
        IF a_flags[i] & 1 <> 0
           AND t_dp[i] + a_dp[i] + t_dpe[i] + a_dpe[i] > t_cp[i] + a_cp[i] THEN
            PERFORM ledger_raise('insufficient_funds',
                format('account %s: debits would exceed credits by %s', a_id[i],
                       t_dp[i] + a_dp[i] + t_dpe[i] + a_dpe[i] - t_cp[i] - a_cp[i]));
        END IF;
        IF a_flags[i] & 2 <> 0
           AND t_cp[i] + a_cp[i] + t_cpe[i] + a_cpe[i] > t_dp[i] + a_dp[i] THEN
            PERFORM ledger_raise('insufficient_funds',
                format('account %s: credits would exceed debits by %s', a_id[i],
                       t_cp[i] + a_cp[i] + t_cpe[i] + a_cpe[i] - t_dp[i] - a_dp[i]));
        END IF;
    END LOOP;

    UPDATE ledger_accounts a
    SET debits_posted = u.dp, credits_posted = u.cp, debits_pending = u.dpe,
        credits_pending = u.cpe, version = u.ver + 1
    FROM unnest(a_id, a_dp, a_cp, a_dpe, a_cpe, a_ver, a_hot) AS u(id, dp, cp, dpe, cpe, ver, hot)
    WHERE a.id = u.id AND NOT u.hot;
    IF v_any_hot THEN
        UPDATE ledger_account_stripes st
        SET debits_posted = u.dp, credits_posted = u.cp, debits_pending = u.dpe,
            credits_pending = u.cpe, version = u.ver + 1
        FROM unnest(a_id, a_stripe, a_dp, a_cp, a_dpe, a_cpe, a_ver, a_hot)
             AS u(id, stripe, dp, cp, dpe, cpe, ver, hot)
        WHERE u.hot AND st.account_id = u.id AND st.stripe = u.stripe;
    END IF;

    -- Entry, legs and chain queue in one statement (the statement-level checks need it).
    v_id := nextval(pg_get_serial_sequence('ledger_entries', 'id'));
    WITH e AS (
        INSERT INTO ledger_entries (id, idempotency_key, body_hash, kind, pending_id, reverses_id,
                                    leg_count, description, metadata, effective_at, expires_at)
        VALUES (v_id, v_key, v_hash, v_kind,
                CASE WHEN v_kind IN ('post_pending', 'void_pending') THEN v_ref END,
                CASE WHEN v_kind = 'reversal' THEN v_ref END,
                n, coalesce(req->>'description', ''), coalesce(v_meta, '{}'::jsonb),
                v_eff, CASE WHEN v_kind = 'pending' THEN v_exp END)),
    l AS (
        INSERT INTO ledger_legs (entry_id, leg_no, account_id, stripe, direction, currency,
                                 posted_amount, pending_amount, debits_posted_after,
                                 credits_posted_after, debits_pending_after,
                                 credits_pending_after, version_after)
        SELECT v_id, (o - 1)::smallint, acc, st, d, c, p, q, dp, cp, dpe, cpe, ver
        FROM unnest(l_acc, l_stripe, l_dir, l_cur, l_post, l_pend, l_dp, l_cp, l_dpe, l_cpe, l_ver)
             WITH ORDINALITY AS u(acc, st, d, c, p, q, dp, cp, dpe, cpe, ver, o))
    INSERT INTO ledger_chain_queue (entry_id) VALUES (v_id);

    RETURN jsonb_build_object(
        'id', v_id, 'kind', v_kind, 'replayed', false, 'effective_at', v_eff,
        'legs', (SELECT jsonb_agg(jsonb_build_array(acc, d, c, p, q, st, dp, cp, dpe, cpe, ver, ns) ORDER BY o)
                 FROM unnest(l_acc, l_dir, l_cur, l_post, l_pend, l_stripe, l_dp, l_cp, l_dpe,
                             l_cpe, l_ver, l_ns)
                      WITH ORDINALITY AS u(acc, d, c, p, q, st, dp, cp, dpe, cpe, ver, ns, o)));
END $$;
