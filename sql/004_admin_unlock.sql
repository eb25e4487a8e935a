-- pam_totp_profile fleet store, migration 4: an admin ends a lockout.
--
-- Apply as a superuser after 003, like the others:
--     psql -v ON_ERROR_STOP=1 -d DB -f sql/004_admin_unlock.sql
-- One transaction.  Nothing a login decides changes.
--
-- totp.admin_unlock sets a profile's failure count to 0 and ends its lock
-- (totpctl unlock).  Only the login state changes: the last accepted step
-- and the spent emergency codes stay, so an unlock brings no code back.
-- totp_admin may call it; a host (totp_login) may not: a stolen host must
-- not be able to reset the count its guesses pay into.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
BEGIN
	IF to_regprocedure('totp.schema_version()') IS NULL THEN
		RAISE EXCEPTION 'migration 001 is not applied: apply sql/001_schema.sql first';
	END IF;
	IF (SELECT max(version) FROM totp.schema_version) IS DISTINCT FROM 3 THEN
		RAISE EXCEPTION 'the schema is at version %, migration 004 applies to version 3',
			(SELECT max(version) FROM totp.schema_version);
	END IF;
END $$;

SET LOCAL ROLE totp_owner;

-- TP004: no such profile.
CREATE FUNCTION totp.admin_unlock(p_owner uuid, p_account text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE totp.profiles
	SET failures = 0, lock_until = NULL
	WHERE owner_uuid = p_owner AND account = p_account;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'entry doesn''t exist' USING ERRCODE = 'TP004';
	END IF;
END $$;

RESET ROLE;

REVOKE ALL ON FUNCTION totp.admin_unlock(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION totp.admin_unlock(uuid, text) TO totp_admin;

INSERT INTO totp.schema_version (version, name) VALUES (4, '004_admin_unlock');

COMMIT;
