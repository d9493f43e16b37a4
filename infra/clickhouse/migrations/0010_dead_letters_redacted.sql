-- Dead letters keep a redacted body (issue 13): `raw` holds the rejected bytes after redaction
-- (base64, as before), what was taken out is counted, and the original bytes are kept only when a
-- dead-letter key is configured, encrypted (Fernet) under the key named in raw_key_id.
-- Rows written before keep their meaning and their hashes (the added columns hold their defaults).

ALTER TABLE {db}.dead_letters
    ADD COLUMN IF NOT EXISTS raw_sealed String DEFAULT '' COMMENT 'the original bytes, Fernet-encrypted, empty when no key is configured' AFTER service,
    ADD COLUMN IF NOT EXISTS raw_key_id LowCardinality(String) DEFAULT '' AFTER raw_sealed,
    ADD COLUMN IF NOT EXISTS redactions UInt32 DEFAULT 0 AFTER raw_key_id,
    ADD COLUMN IF NOT EXISTS redaction_kinds Array(LowCardinality(String)) AFTER redactions;
