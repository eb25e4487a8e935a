-- pam_totp_profile fleet store, migration 2: a login's verdict only after
-- its effects are committed.
--
-- Apply as a superuser, after 001:
--     psql -v ON_ERROR_STOP=1 -d DB -f sql/002_login_commit_first.sql
-- One transaction: a failure leaves the database at version 1.
--
-- Why: migration 1's totp.login_attempt returned the verdict from the
-- caller's transaction.  A caller that rolls back (BEGIN; SELECT
-- totp.login_attempt(...); ROLLBACK), or turns a refusal into an error in
-- the same statement (... CASE WHEN outcome <> 'totp' THEN 1/0 END),
-- learned the verdict while its failure count vanished with the
-- transaction: unlimited guesses for anyone holding totp_login, a stolen
-- host's credentials.  In a read-only transaction the error's CONTEXT
-- named the UPDATE that failed, which told an accepted code from a wrong
-- one.
--
-- Now a login takes two calls in two transactions:
--   totp.login_attempt(owner, account, codes) -> uuid
--       first records a pending row (so a read-only transaction fails
--       here, the same way whatever the code), then decides as before
--       (the same single conditional UPDATE per change), stores the
--       outcome in the pending row with the transaction's id, and returns
--       only an opaque random id.
--   totp.login_result(id) -> totp.login_result
--       gives the outcome only once the attempt's transaction is
--       committed (pg_xact_status), and removes the row.  Asked inside
--       the attempt's own transaction, or for one rolled back, it gives
--       nothing: the verdict never precedes the failure count.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
DECLARE
	v integer;
BEGIN
	IF to_regnamespace('totp') IS NULL THEN
		RAISE EXCEPTION 'schema "totp" is missing: apply sql/001_schema.sql first';
	END IF;
	SELECT max(version) INTO v FROM totp.schema_version;
	IF v IS DISTINCT FROM 1 THEN
		RAISE EXCEPTION 'the schema is at version %, not 1: migration 002 applies to version 1 only', v
			USING HINT = 'SELECT totp.schema_version() tells which migrations are applied.';
	END IF;
END $$;

SET LOCAL ROLE totp_owner;

-- Attempts whose outcome is not collected yet.  Nobody but the owner may
-- read it; rows live until collected or for at most 10 minutes.
CREATE TABLE totp.pending (
	id uuid PRIMARY KEY,
	xid xid8 NOT NULL,                 -- the attempt's transaction
	role name NOT NULL,                -- session_user of the attempt
	created timestamptz NOT NULL,
	outcome totp.login_outcome,        -- NULL until decided (same transaction)
	matched integer,
	emergency_left integer
);
CREATE INDEX pending_created ON totp.pending (created);
REVOKE ALL ON totp.pending FROM PUBLIC;

-- The old one returned the verdict in the caller's transaction: gone.
DROP FUNCTION totp.login_attempt(uuid, text, text[]);

-- Phase 1.  Nothing before the INSERT depends on the code, so a read-only
-- transaction fails at the INSERT with the same message for every code.
-- lock_timeout: a host that keeps a profile's row locked in an open
-- transaction (a stolen one) makes the others fail closed within 2 s,
-- not wait for their statement_timeout.
CREATE FUNCTION totp.login_attempt(p_owner uuid, p_account text, p_codes text[])
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
	v_id uuid := gen_random_uuid();
	v_at timestamptz := clock_timestamp();
	res totp.login_result;
	scans bigint;
BEGIN
	INSERT INTO totp.pending (id, xid, role, created)
	VALUES (v_id, pg_current_xact_id(), session_user, v_at);
	-- keep the table bounded: each call removes more expired rows than
	-- it adds (rows another call is removing are skipped, not waited for)
	DELETE FROM totp.pending
	WHERE id IN (SELECT id FROM totp.pending
		     WHERE created < v_at - interval '10 minutes'
		     ORDER BY created LIMIT 16 FOR UPDATE SKIP LOCKED);
	scans := pg_stat_get_xact_numscans('totp.profiles_pkey'::regclass);
	-- v_at is clock_timestamp(), not now(): a caller holding a transaction
	-- open must not be able to freeze the clock its logins are judged by
	res := totp.login_attempt_at(p_owner, p_account, p_codes, v_at);
	-- The caller's own transaction sees its statistics: how many times the
	-- decision read the profile (pg_stat_xact_user_tables.idx_scan) tells
	-- a replay or a spent code from a wrong one.  Every attempt reads it
	-- the same number of times.
	scans := pg_stat_get_xact_numscans('totp.profiles_pkey'::regclass) - scans;
	FOR k IN 1 .. 16 - scans LOOP
		PERFORM 1 FROM totp.profiles WHERE owner_uuid = p_owner AND account = p_account;
	END LOOP;
	UPDATE totp.pending
	SET outcome = res.outcome, matched = res.matched,
	    emergency_left = res.emergency_left
	WHERE id = v_id;
	RETURN v_id;
END $$;

-- Phase 2, in a later transaction: the outcome of a committed attempt of
-- the same role, once.  Anything else (an id from a transaction still
-- open, this one included, or rolled back; another role's; collected
-- already; expired) is error TP010, which says nothing of the verdict.
CREATE FUNCTION totp.login_result(p_id uuid)
RETURNS totp.login_result
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
	r totp.pending;
BEGIN
	SELECT * INTO r FROM totp.pending WHERE id = p_id AND role = session_user;
	IF NOT FOUND OR r.outcome IS NULL
	   OR pg_xact_status(r.xid) IS DISTINCT FROM 'committed' THEN
		RAISE EXCEPTION 'login_result: no committed login attempt with this id'
			USING ERRCODE = 'TP010';
	END IF;
	DELETE FROM totp.pending WHERE id = p_id;
	RETURN ROW(r.outcome, r.matched, r.emergency_left)::totp.login_result;
END $$;

REVOKE ALL ON FUNCTION totp.login_attempt(uuid, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION totp.login_result(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION totp.login_attempt(uuid, text, text[]) TO totp_login;
GRANT EXECUTE ON FUNCTION totp.login_result(uuid) TO totp_login;

INSERT INTO totp.schema_version (version, name) VALUES (2, '002_login_commit_first');

RESET ROLE;
COMMIT;
