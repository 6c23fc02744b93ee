-- History: ledger_check_legs_attached as ledger_0001 defined it, replaced by ledger_0002.
-- Applied by ledger_0001's upgrade, restored by ledger_0002's downgrade; never edited.
--
-- Legs belong to an entry and never exceed its leg_count, so no leg can be added to an
-- entry after the transaction that wrote it (the deferred check ledger_check_entry_balanced
-- covers that one).
CREATE OR REPLACE FUNCTION ledger_check_legs_attached() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_leg_count smallint;
BEGIN
    -- One index probe per entry (a join here would be planned blind on the transition
    -- table and could scan all entries).
    FOR r IN SELECT DISTINCT entry_id FROM new_legs LOOP
        SELECT leg_count INTO v_leg_count FROM ledger_entries WHERE id = r.entry_id;
        IF NOT FOUND OR (SELECT count(*) FROM ledger_legs l WHERE l.entry_id = r.entry_id) > v_leg_count THEN
            PERFORM ledger_raise('unbalanced_entry',
                format('legs of entry %s do not match an entry written in this transaction', r.entry_id));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
