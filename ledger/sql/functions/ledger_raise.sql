-- Every ledger error: SQLSTATE LG000, the error code as message and a human detail
-- (ledger.errors.from_sql_error maps it to its class).
CREATE OR REPLACE FUNCTION ledger_raise(p_code text, p_detail text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LG000', MESSAGE = p_code, DETAIL = p_detail;
END $$;
