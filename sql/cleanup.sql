-- cleanup: the helpers of setup go, then the extension, and nothing of it
-- stays behind
SET client_min_messages = warning;
DROP SCHEMA regress_pull CASCADE;
RESET client_min_messages;
DROP EXTENSION pgpull;
SELECT count(*) AS leftover_schemas FROM pg_namespace WHERE nspname = 'pgpull';
