-- Result of an entry as stored: the same shape ledger_apply returns for a fresh write.
CREATE OR REPLACE FUNCTION ledger_result(p_id bigint, p_replayed boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', e.id, 'kind', e.kind, 'replayed', p_replayed, 'effective_at', e.effective_at,
        'legs', (SELECT jsonb_agg(jsonb_build_array(
                    l.account_id, l.direction, l.currency, l.posted_amount, l.pending_amount,
                    l.stripe, l.debits_posted_after, l.credits_posted_after,
                    l.debits_pending_after, l.credits_pending_after, l.version_after,
                    a.normal_side) ORDER BY l.leg_no)
                 FROM ledger_legs l JOIN ledger_accounts a ON a.id = l.account_id
                 WHERE l.entry_id = e.id))
    FROM ledger_entries e WHERE e.id = p_id
$$;
