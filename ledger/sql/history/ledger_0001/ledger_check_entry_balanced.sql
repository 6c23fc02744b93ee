-- History: ledger_check_entry_balanced as ledger_0001 defined it, replaced by ledger_0002.
-- Applied by ledger_0001's upgrade, restored by ledger_0002's downgrade; never edited.
--
-- At commit, every entry inserted in the transaction must have exactly leg_count legs,
-- balanced per currency for posted and for pending amounts.
CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
    v_currency text;
BEGIN
    SELECT count(*) INTO v_count FROM ledger_legs WHERE entry_id = NEW.id;
    IF v_count <> NEW.leg_count THEN
        PERFORM ledger_raise('unbalanced_entry',
            format('entry %s has %s legs, expected %s', NEW.id, v_count, NEW.leg_count));
    END IF;
    SELECT currency INTO v_currency FROM ledger_legs WHERE entry_id = NEW.id
    GROUP BY currency
    HAVING sum(CASE WHEN direction = 'debit' THEN posted_amount ELSE -posted_amount END) <> 0
        OR sum(CASE WHEN direction = 'debit' THEN pending_amount ELSE -pending_amount END) <> 0
    LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_raise('unbalanced_entry',
            format('entry %s: debits and credits differ in %s', NEW.id, v_currency));
    END IF;
    RETURN NULL;
END $$;
