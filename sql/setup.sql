-- setup: create the extension, quietly
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION pgpull;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'pgpull';
