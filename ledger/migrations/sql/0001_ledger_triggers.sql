-- paysaga ledger, revision 0001: invariant triggers and privileges. Loaded by
-- versions/0001_ledger_base.py after the functions they call (ledger/sql/functions).
-- Later changes go in new revisions, never here.

-- Entries, legs and the chain are append-only.
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_legs_append_only BEFORE UPDATE OR DELETE ON ledger_legs
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_legs_no_truncate BEFORE TRUNCATE ON ledger_legs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_chain_append_only BEFORE UPDATE OR DELETE ON ledger_chain
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_chain_no_truncate BEFORE TRUNCATE ON ledger_chain
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON ledger_entries, ledger_legs, ledger_chain FROM PUBLIC;

-- At commit, every entry inserted in the transaction must have exactly leg_count legs,
-- balanced per currency for posted and for pending amounts.
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();

-- Legs belong to an entry and never exceed its leg_count, so no leg can be added to an
-- entry after the transaction that wrote it (the deferred check above covers that one).
CREATE TRIGGER ledger_legs_attached AFTER INSERT ON ledger_legs
    REFERENCING NEW TABLE AS new_legs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_legs_attached();
