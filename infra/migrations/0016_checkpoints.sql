-- Signed chain checkpoints (commands/checkpointer.h) are appended as this principal.
INSERT INTO principals (id, role, permissions) VALUES ('system:checkpoints', 'system', '') ON CONFLICT DO NOTHING;
