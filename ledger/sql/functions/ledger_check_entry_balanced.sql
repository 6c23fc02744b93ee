-- Deferred check (at commit) that an entry has exactly leg_count legs, balanced per
-- currency: one query per entry. No trigger calls it since ledger_0003 replaced it with
-- ledger_check_legs and ledger_check_entries; it stays because downgrading ledger_0003
-- attaches it again (trigger ledger_entries_balanced).
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
