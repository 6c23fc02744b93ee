-- Trigger function: ledger_entries, ledger_legs and ledger_chain refuse UPDATE, DELETE and
-- TRUNCATE (the triggers are in ledger/migrations/sql/0001_ledger_triggers.sql).
CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LG000', MESSAGE = 'append_only',
        DETAIL = format('%s is append-only: %s refused', TG_TABLE_NAME, TG_OP);
END $$;
