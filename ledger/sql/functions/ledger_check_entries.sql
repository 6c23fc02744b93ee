-- Balance check, after each INSERT statement on ledger_entries (trigger
-- ledger_entries_checked): every new entry has its leg 0, so its legs were written by the
-- same statement (legs written earlier had no entry and were refused by ledger_check_legs).
CREATE OR REPLACE FUNCTION ledger_check_entries() RETURNS trigger
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
