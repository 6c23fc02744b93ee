-- History: ledger_apply as ledger_0001 defined it, replaced by ledger_0003.
-- Applied by ledger_0001's upgrade, restored by ledger_0003's downgrade; never edited.
--
-- Apply one entry. req keys: key, hash, kind (standard|pending|post_pending|void_pending|
-- reversal), legs [{a, d, n, c}], ref (pending or reversed entry id), amount (partial
-- post/reversal), effective_at, expires_at, description, metadata.
-- pins: {hot_account_id: stripe} already locked by ledger_prelock (batches).
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

    INSERT INTO ledger_entries (idempotency_key, body_hash, kind, pending_id, reverses_id,
                                leg_count, description, metadata, effective_at, expires_at)
    VALUES (v_key, v_hash, v_kind,
            CASE WHEN v_kind IN ('post_pending', 'void_pending') THEN v_ref END,
            CASE WHEN v_kind = 'reversal' THEN v_ref END,
            n, coalesce(req->>'description', ''), coalesce(v_meta, '{}'::jsonb),
            v_eff, CASE WHEN v_kind = 'pending' THEN v_exp END)
    RETURNING id INTO v_id;
    INSERT INTO ledger_legs (entry_id, leg_no, account_id, stripe, direction, currency,
                             posted_amount, pending_amount, debits_posted_after,
                             credits_posted_after, debits_pending_after,
                             credits_pending_after, version_after)
    SELECT v_id, (o - 1)::smallint, acc, st, d, c, p, q, dp, cp, dpe, cpe, ver
    FROM unnest(l_acc, l_stripe, l_dir, l_cur, l_post, l_pend, l_dp, l_cp, l_dpe, l_cpe, l_ver)
         WITH ORDINALITY AS u(acc, st, d, c, p, q, dp, cp, dpe, cpe, ver, o);
    INSERT INTO ledger_chain_queue (entry_id) VALUES (v_id);

    RETURN jsonb_build_object(
        'id', v_id, 'kind', v_kind, 'replayed', false, 'effective_at', v_eff,
        'legs', (SELECT jsonb_agg(jsonb_build_array(acc, d, c, p, q, st, dp, cp, dpe, cpe, ver, ns) ORDER BY o)
                 FROM unnest(l_acc, l_dir, l_cur, l_post, l_pend, l_stripe, l_dp, l_cp, l_dpe,
                             l_cpe, l_ver, l_ns)
                      WITH ORDINALITY AS u(acc, d, c, p, q, st, dp, cp, dpe, cpe, ver, ns, o)));
END $$;
