-- pam_totp_profile fleet store, migration 3: one statement before the
-- prompt instead of two.
--
-- Apply as a superuser after 002, like the others:
--     psql -v ON_ERROR_STOP=1 -d DB -f sql/003_login_begin.sql
-- One transaction; the login's outcomes and their meaning do not change.
--
-- The module opens a connection per PAM transaction, so every statement
-- of a login is parsed, analysed and planned in a server process whose
-- catalog caches are cold: the statement itself costs more than its round
-- trip.  This migration adds totp.login_begin, the schema version and the
-- probe (totp.login_profile) in one statement, so a login is two
-- statements after connecting (probe, attempt) instead of three (version
-- check, probe, attempt).  The login's decision does not change.  See
-- docs/PERFORMANCE.md (the PostgreSQL store) for what it saves.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
BEGIN
	IF to_regprocedure('totp.schema_version()') IS NULL THEN
		RAISE EXCEPTION 'migration 001 is not applied: apply sql/001_schema.sql first';
	END IF;
	IF (SELECT max(version) FROM totp.schema_version) IS DISTINCT FROM 2 THEN
		RAISE EXCEPTION 'the schema is at version %, migration 003 applies to version 2',
			(SELECT max(version) FROM totp.schema_version);
	END IF;
END $$;

SET LOCAL ROLE totp_owner;

-- Before prompting, in one statement: the schema version (the host
-- refuses to go on with one it does not speak) and the probe of
-- totp.login_profile.  No secret, no state.
CREATE TYPE totp.login_begin_info AS (
	schema_version integer,
	found boolean,
	enabled boolean,
	digits integer
);

CREATE FUNCTION totp.login_begin(p_owner uuid, p_account text)
RETURNS totp.login_begin_info
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT (SELECT max(version) FROM totp.schema_version),
	       p.owner_uuid IS NOT NULL, p.enabled, p.digits
	FROM (SELECT 1) AS one
	LEFT JOIN totp.profiles p ON p.owner_uuid = p_owner AND p.account = p_account
$$;

RESET ROLE;

REVOKE ALL ON FUNCTION totp.login_begin(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION totp.login_begin(uuid, text) TO totp_login;

INSERT INTO totp.schema_version (version, name) VALUES (3, '003_login_begin');

COMMIT;
