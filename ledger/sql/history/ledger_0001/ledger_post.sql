-- History: ledger_post as ledger_0001 defined it, replaced by ledger_0002.
-- Applied by ledger_0001's upgrade, restored by ledger_0002's downgrade; never edited.
CREATE OR REPLACE FUNCTION ledger_post(req jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT ledger_apply(req, '{}'::jsonb) $$;
