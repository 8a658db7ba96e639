-- cleanup: the extension goes, and nothing of it stays behind
DROP EXTENSION pgpull;
SELECT count(*) AS leftover_schemas FROM pg_namespace WHERE nspname = 'pgpull';
