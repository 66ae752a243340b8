-- GET /v1/operator/acts lists the operators' acts newest first: a partial index holds
-- exactly those (journal.h, kOperatorActTypes; keep the two lists equal).
CREATE INDEX journal_operator_acts ON journal (position)
    WHERE type IN ('ProjectionRebuilt', 'DeadLetterRetried', 'PrincipalDefined', 'PrincipalSessionsRevoked', 'CreditPolicySet',
                   'CatalogSettingsChanged', 'LoyaltyProgramDefined', 'AffiliatePayoutScheduleSet');
