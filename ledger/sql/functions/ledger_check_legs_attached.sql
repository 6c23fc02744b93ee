-- Legs belong to an entry and never exceed its leg_count: one statement for all entries of
-- the inserted legs. Scalar subqueries run as correlated index probes per entry (a join
-- could be planned blind on the transition table and scan all entries). No trigger calls
-- it since ledger_0003 replaced it with ledger_check_legs; it stays because downgrading
-- ledger_0003 attaches it again (trigger ledger_legs_attached).
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
