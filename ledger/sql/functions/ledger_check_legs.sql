-- Balance check, after each INSERT statement on ledger_legs (trigger ledger_legs_checked):
-- for every entry it touches, the statement inserted legs numbered exactly
-- 0..leg_count-1 of an entry that exists, and they balance per currency (posted and
-- pending separately). As every leg number of the entry is then taken, the
-- (entry_id, leg_no) key refuses any leg added to it later. With ledger_check_entries this
-- means an entry and its legs are written by one statement (a data-modifying WITH), which
-- is what every posting function does: an entry is complete and balanced, and no leg is
-- added or changed later, at the end of each statement. One set-based check per statement
-- replaced 0001's deferred check per entry, which in a batch ran a thousand trigger calls
-- at commit while every account lock was held.
CREATE OR REPLACE FUNCTION ledger_check_legs() RETURNS trigger
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
