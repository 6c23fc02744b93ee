-- Canonical digest of an entry and its legs (jsonb text is canonical: sorted keys).
CREATE OR REPLACE FUNCTION ledger_entry_digest(p_id bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(jsonb_build_object(
        'id', e.id, 'key', e.idempotency_key, 'hash', e.body_hash, 'kind', e.kind,
        'pending_id', e.pending_id, 'reverses_id', e.reverses_id, 'leg_count', e.leg_count,
        'description', e.description, 'metadata', e.metadata,
        'effective_us', (extract(epoch FROM e.effective_at) * 1000000)::bigint,
        'expires_us', (extract(epoch FROM e.expires_at) * 1000000)::bigint,
        'created_us', (extract(epoch FROM e.created_at) * 1000000)::bigint,
        'legs', (SELECT jsonb_agg(jsonb_build_array(
                    l.leg_no, l.account_id, l.stripe, l.direction, l.currency, l.posted_amount,
                    l.pending_amount, l.debits_posted_after, l.credits_posted_after,
                    l.debits_pending_after, l.credits_pending_after, l.version_after)
                    ORDER BY l.leg_no)
                 FROM ledger_legs l WHERE l.entry_id = e.id))::text, 'UTF8'))
    FROM ledger_entries e WHERE e.id = p_id
$$;
