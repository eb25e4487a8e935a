-- pam_totp_profile fleet store, migration 5: every guess is paid for
-- before it is judged; a deleted profile cannot come back by import.
--
-- Apply as a superuser after 004, like the others:
--     psql -v ON_ERROR_STOP=1 -d DB -f sql/005_login_charge.sql
-- One transaction: a failure leaves the database at version 4.  Hosts
-- built before this migration refuse logins against it (they name it),
-- so upgrade the database and the hosts together (docs/fleet.md).
--
-- Why.  Migration 2 decided a login inside the caller's transaction and
-- returned the verdict only after that transaction committed.  But the
-- decision's own effects show in the caller's session before the commit:
-- the WAL it wrote (EXPLAIN (ANALYZE, WAL), pg_current_wal_insert_lsn()),
-- the rows it updated (pg_stat_get_xact_tuples_updated), the lock state a
-- later call in the same transaction finds.  A host role that rolled each
-- guess back read the verdict and paid nothing.  No padding can hide a
-- decision from the transaction that made it, so the decision now happens
-- only in a transaction that starts after the guess is paid for:
--
--   totp.login_charge(nonce, owner, account, codes)
--       charges one failure to the profile (locking it at max_failures,
--       as a wrong code did), and records the candidates as hashes (the
--       emergency code's salted hash, a TOTP code's SHA-256) under the
--       caller's nonce.  Nothing in it depends on whether a code is
--       right: the same rows, the same bytes, the same work for every
--       code of a shape.  A locked, disabled or missing profile is
--       recorded as such and charged nothing (as before).
--   totp.login_verdict(nonce)
--       only for a charge whose transaction is committed, and durable:
--       the WAL up to the verdict's start (the charge's commit record
--       included) flushed here and on the synchronous standbys the server
--       names.  A commit made with synchronous_commit = off, or whose
--       wait for a standby that is down was cancelled, waits for that (at
--       most 1 s) or gets no verdict (TP010), so a crash or a failover
--       cannot take back a charge whose verdict was given.  It judges the
--       candidates at the instant of the charge, applies an
--       acceptance (the step, the spent code) with the failure charged
--       refunded (failures back to 0, the lock lifted, as a success did),
--       and returns the outcome.  Rolling it back loses the login, never
--       the charge; asking again judges the same codes at the same
--       instant, so it says nothing new.  A charge is judged at most
--       60 s after it was made.
--
-- The module sends both in one query string,
--     BEGIN; SELECT totp.login_charge(...); COMMIT;
--     SELECT ... FROM totp.login_verdict(...)
-- one round trip after the prompt, two transactions.
--
-- Also: totp.admin_delete (and a create that replaces a disabled profile)
-- leaves a tombstone (owner, account, the old secret's fingerprint), and
-- totp.admin_import refuses to bring a deleted account's profile back
-- (TP011: enrol again instead); an import that merges never moves a step
-- back nor un-spends a code (it never could; the tests now pin it).

\set ON_ERROR_STOP 1
BEGIN;

DO $$
BEGIN
	IF to_regprocedure('totp.schema_version()') IS NULL THEN
		RAISE EXCEPTION 'migration 001 is not applied: apply sql/001_schema.sql first';
	END IF;
	IF (SELECT max(version) FROM totp.schema_version) IS DISTINCT FROM 4 THEN
		RAISE EXCEPTION 'the schema is at version %, migration 005 applies to version 4',
			(SELECT max(version) FROM totp.schema_version)
			USING HINT = 'SELECT totp.schema_version() tells which migrations are applied.';
	END IF;
END $$;

-- login_verdict reads the synchronous standbys' flush positions
-- (pg_stat_get_wal_senders shows them only to this role's members).
GRANT pg_read_all_stats TO totp_owner;

SET LOCAL ROLE totp_owner;

-- The one-transaction login of migrations 1 and 2 is gone: whatever
-- decided in the caller's transaction.
DROP FUNCTION totp.login_result(uuid);
DROP FUNCTION totp.login_attempt(uuid, text, text[]);
DROP FUNCTION totp.login_attempt_at(uuid, text, text[], timestamptz);
DROP TABLE totp.pending;
DROP FUNCTION totp.why_not(uuid, text, bigint, timestamptz);
DROP FUNCTION totp.matching_steps(bytea, text, integer, integer, text, timestamptz, integer);

-- Guesses paid for.  Nobody but the owner reads it.
-- Rows stay 10 minutes (a verdict is given for 60 s after the charge).
CREATE TABLE totp.charges (
	role name NOT NULL,                -- session_user of the charge
	nonce uuid NOT NULL,               -- the caller's name for it
	xid xid8 NOT NULL,                 -- the charge's transaction
	at timestamptz NOT NULL,           -- the instant its codes are judged at
	owner_uuid uuid NOT NULL,
	account text COLLATE "C" NOT NULL,
	generation bigint,                 -- the profile charged (NULL: none)
	outcome totp.login_outcome,        -- decided without a code: no_profile,
					   -- disabled, locked; NULL: to judge
	totp_hashes bytea[] NOT NULL,      -- SHA-256 of each candidate
	ec_hashes bytea[] NOT NULL,        -- its emergency hash ('' if not 8 digits)
	PRIMARY KEY (role, nonce)
);
CREATE INDEX charges_at ON totp.charges (at);
REVOKE ALL ON totp.charges FROM PUBLIC;

-- What admin_delete removed: an import of the same secret is refused.
CREATE TABLE totp.deleted (
	owner_uuid uuid NOT NULL,
	account text COLLATE "C" NOT NULL,
	fingerprint bytea NOT NULL,        -- SHA-256 of the deleted secret
	deleted timestamptz NOT NULL,
	PRIMARY KEY (owner_uuid, account, fingerprint)
);
REVOKE ALL ON totp.deleted FROM PUBLIC;

------------------------------------------------------------------------
-- Phase 1: the charge.  Nothing here depends on whether a code is right.

CREATE FUNCTION totp.charge_at(p_nonce uuid, p_owner uuid, p_account text,
			       p_codes text[], p_at timestamptz)
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pol totp.settings;
	r totp.profiles;
	gen bigint;
	salt bytea;
	o totp.login_outcome;
	th bytea[] := '{}';
	eh bytea[] := '{}';
	n integer := coalesce(cardinality(p_codes), 0);
BEGIN
	-- forward_pass sends one TOTP-length and one 8-digit tail: at most
	-- one candidate of each length, so a caller gets no extra guesses
	IF p_codes IS NULL OR n > 2 OR array_position(p_codes, NULL) IS NOT NULL
	   OR (n = 2 AND octet_length(p_codes[1]) = octet_length(p_codes[2]))
	   OR (n > 0 AND array_lower(p_codes, 1) <> 1) THEN
		RAISE EXCEPTION 'login_charge: codes must be 0 to 2 candidates of different lengths'
			USING ERRCODE = 'TP002';
	END IF;
	IF p_nonce IS NULL OR p_owner IS NULL OR p_account IS NULL OR p_at IS NULL THEN
		RAISE EXCEPTION 'login_charge: nonce, owner and account are required'
			USING ERRCODE = 'TP002';
	END IF;
	SELECT * INTO STRICT pol FROM totp.settings;
	-- one attempt, one failure, however many candidates; the failure
	-- that reaches max_failures locks the profile, as a wrong code did
	UPDATE totp.profiles p
	SET failures = CASE WHEN pol.max_failures > 0
			     AND least(p.failures + 1, 1000000) >= pol.max_failures
			    THEN 0 ELSE least(p.failures + 1, 1000000) END,
	    lock_until = CASE WHEN pol.max_failures > 0
			       AND least(p.failures + 1, 1000000) >= pol.max_failures
			      THEN p_at + make_interval(secs => pol.lockout_seconds) END
	WHERE p.owner_uuid = p_owner AND p.account = p_account AND p.enabled
	  AND (p.lock_until IS NULL OR p.lock_until <= p_at)
	RETURNING p.generation, p.ec_salt INTO gen, salt;
	IF NOT FOUND THEN
		-- not charged, never judged
		SELECT * INTO r FROM totp.profiles
		WHERE owner_uuid = p_owner AND account = p_account;
		o := CASE WHEN NOT FOUND THEN 'no_profile'
			  WHEN NOT r.enabled THEN 'disabled'
			  ELSE 'locked' END;
	ELSE
		FOR i IN 1 .. n LOOP
			th := th || sha256(convert_to(p_codes[i], 'UTF8'));
			eh := eh || CASE WHEN p_codes[i] ~ '^[0-9]{8}$'
					 THEN totp.emergency_hash(salt, p_codes[i])
					 ELSE decode('', 'hex') END;
		END LOOP;
	END IF;
	INSERT INTO totp.charges (role, nonce, xid, at, owner_uuid, account,
				  generation, outcome, totp_hashes, ec_hashes)
	VALUES (session_user, p_nonce, pg_current_xact_id(), p_at, p_owner, p_account,
		gen, o, th, eh);
END $$;

-- lock_timeout: a host that keeps a profile's row locked in an open
-- transaction (a stolen one) makes the others fail closed within 2 s,
-- not wait for their statement_timeout.
CREATE FUNCTION totp.login_charge(p_nonce uuid, p_owner uuid, p_account text,
				  p_codes text[])
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
SET standard_conforming_strings = on
AS $$
DECLARE
	v_at timestamptz := clock_timestamp();
BEGIN
	-- keep the table bounded: each call removes more expired rows than
	-- it adds (rows another call is removing are skipped, not waited for)
	DELETE FROM totp.charges
	WHERE (role, nonce) IN (SELECT c.role, c.nonce FROM totp.charges c
				WHERE c.at < v_at - interval '10 minutes'
				ORDER BY c.at LIMIT 16 FOR UPDATE SKIP LOCKED);
	-- v_at is clock_timestamp(), not now(): a caller holding a transaction
	-- open must not be able to freeze the clock its logins are judged by
	PERFORM totp.charge_at(p_nonce, p_owner, p_account, p_codes, v_at);
END $$;

------------------------------------------------------------------------
-- Phase 2: the verdict, on a committed, durable charge only.

-- The steps of [at - window, at + window] whose code has this SHA-256, in
-- ascending order.  Every step is computed and compared.
CREATE FUNCTION totp.steps_matching_hash(key bytea, algorithm text, digits integer,
					 period integer, code_hash bytea,
					 at timestamptz, window_steps integer)
RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(array_agg(s ORDER BY s), '{}')
	FROM generate_series(totp.step_at(at, period) - window_steps,
			     totp.step_at(at, period) + window_steps) AS s
	WHERE s >= 0
	  AND sha256(convert_to(totp.hotp(key, algorithm, digits, s), 'UTF8')) = code_hash
$$;

-- The charge's candidates judged at its instant, against the profile it
-- charged.  Every change is one conditional UPDATE whose WHERE clause
-- re-checks, on the newest version of the row, what the decision rests on
-- (the step is still after last_step, the code still unspent, the profile
-- still the one charged and enabled).  Under concurrent logins PostgreSQL
-- re-evaluates that clause after the competing update commits, so of two
-- logins with one code exactly one finds a row to change.  No lock
-- condition: the charge was made on an unlocked profile, and the lock its
-- own failure (or a later one) set is lifted by an acceptance, as before.
CREATE FUNCTION totp.judge(c totp.charges) RETURNS totp.login_result
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pol totp.settings;
	r totp.profiles;
	done totp.profiles;
	refusal totp.login_outcome := 'wrong';
	steps bigint[];
	slots integer[];
BEGIN
	SELECT * INTO STRICT pol FROM totp.settings;
	SELECT * INTO r FROM totp.profiles
	WHERE owner_uuid = c.owner_uuid AND account = c.account;
	IF NOT FOUND THEN
		RETURN ROW('no_profile', NULL, 0)::totp.login_result;
	ELSIF r.generation <> c.generation THEN
		-- replaced since the charge: its codes are not this secret's
		RETURN ROW('wrong', NULL, totp.emergency_left(r.ec_spent))::totp.login_result;
	ELSIF NOT r.enabled THEN
		RETURN ROW('disabled', NULL, totp.emergency_left(r.ec_spent))::totp.login_result;
	END IF;
	FOR i IN 1 .. cardinality(c.totp_hashes) LOOP
		steps := totp.steps_matching_hash(r.secret, r.algorithm, r.digits, r.period,
						  c.totp_hashes[i], c.at, pol.window_steps);
		IF cardinality(steps) > 0 THEN
			UPDATE totp.profiles p
			SET last_step = (SELECT min(s) FROM unnest(steps) s
					 WHERE s > p.last_step),
			    failures = 0, lock_until = NULL
			WHERE p.owner_uuid = c.owner_uuid AND p.account = c.account
			  AND p.generation = c.generation AND p.enabled
			  AND p.last_step < steps[cardinality(steps)]
			RETURNING * INTO done;
			IF FOUND THEN
				RETURN ROW('totp', i - 1,
					   totp.emergency_left(done.ec_spent))::totp.login_result;
			END IF;
			refusal := 'replay';   -- an emergency code is not tried then
		ELSIF octet_length(c.ec_hashes[i]) > 0 THEN
			-- every slot is compared (a code may sit in two slots)
			SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO slots
			FROM generate_subscripts(r.ec_hashes, 1) AS k
			WHERE r.ec_hashes[k] = c.ec_hashes[i];
			IF cardinality(slots) > 0 THEN
				UPDATE totp.profiles p
				SET ec_spent[(SELECT min(k) FROM unnest(slots) k
					      WHERE NOT p.ec_spent[k])] = true,
				    failures = 0, lock_until = NULL
				WHERE p.owner_uuid = c.owner_uuid AND p.account = c.account
				  AND p.generation = c.generation AND p.enabled
				  AND EXISTS (SELECT 1 FROM unnest(slots) k
					      WHERE NOT p.ec_spent[k])
				RETURNING * INTO done;
				IF FOUND THEN
					RETURN ROW('emergency', i - 1,
						   totp.emergency_left(done.ec_spent))::totp.login_result;
				END IF;
				-- a replay says more than a spent code
				IF refusal = 'wrong' THEN
					refusal := 'spent';
				END IF;
			END IF;
		END IF;
	END LOOP;
	SELECT * INTO r FROM totp.profiles
	WHERE owner_uuid = c.owner_uuid AND account = c.account;
	RETURN ROW(refusal, NULL, coalesce(totp.emergency_left(r.ec_spent), 0))::totp.login_result;
END $$;

-- The end of what the WAL holds so far, as the flush position reads once
-- it is all flushed: the insert position, less the page header it points
-- past when it stands at the start of a page (a record that ends a page
-- is flushed up to the page's end, where the insert position reads one
-- header further).
CREATE FUNCTION totp.wal_written_end() RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	l pg_lsn := pg_current_wal_insert_lsn();
	off numeric := l - '0/0'::pg_lsn;
BEGIN
	IF off % pg_size_bytes(current_setting('wal_segment_size')) = 40 THEN
		RETURN l - 40;          -- a segment's first page: the long header
	ELSIF off % current_setting('wal_block_size')::integer = 24 THEN
		RETURN l - 24;          -- any other page: the short header
	END IF;
	RETURN l;
END $$;

-- Whether everything written up to lsn is flushed here and on as many
-- synchronous standbys as synchronous_standby_names asks for.
CREATE FUNCTION totp.durable(lsn pg_lsn) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	names text := current_setting('synchronous_standby_names');
	need integer := 1;
	m text[];
BEGIN
	IF pg_current_wal_flush_lsn() < lsn THEN
		RETURN false;
	END IF;
	IF names = '' THEN
		RETURN true;
	END IF;
	-- "FIRST n (...)", "ANY n (...)", "n (...)"; a plain list needs one
	m := regexp_match(names, '^\s*(?:(?:FIRST|ANY)\s+)?([0-9]+)\s*\(', 'i');
	IF m IS NOT NULL THEN
		need := m[1]::integer;
	END IF;
	RETURN (SELECT count(*) FROM pg_stat_get_wal_senders() w
		WHERE w.sync_state IN ('sync', 'quorum') AND w.flush_lsn >= lsn) >= need;
END $$;

CREATE FUNCTION totp.login_verdict(p_nonce uuid)
RETURNS totp.login_result
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
SET standard_conforming_strings = on
AS $$
DECLARE
	-- First, before this call reads (and so may prune, and write WAL):
	-- which transactions are done, then what the WAL holds.  A charge
	-- committed as of the snapshot has its commit record in the WAL
	-- before target.
	snap pg_snapshot := pg_current_snapshot();
	target pg_lsn := totp.wal_written_end();
	c totp.charges;
	give_up timestamptz := clock_timestamp() + interval '1 second';
BEGIN
	-- Read, not taken: judging the same charge again judges the same
	-- codes at the same instant (an accepted code is then a replay), so
	-- it tells nothing new, and a refusal writes nothing, so its commit
	-- waits for no disk.  login_charge removes old rows.
	SELECT * INTO c FROM totp.charges WHERE role = session_user AND nonce = p_nonce;
	IF NOT FOUND OR pg_xact_status(c.xid) IS DISTINCT FROM 'committed'
	   OR NOT pg_visible_in_snapshot(c.xid, snap)
	   OR c.at < clock_timestamp() - interval '60 seconds' THEN
		RAISE EXCEPTION 'login_verdict: no committed charge with this nonce'
			USING ERRCODE = 'TP010';
	END IF;
	-- A commit made with synchronous_commit off, or whose wait for the
	-- standby was cancelled, is visible before it is durable: wait for
	-- it, or judge nothing.  Everything the WAL held when this call
	-- began, the charge's commit record included, must be flushed and
	-- replicated.  (Not a position the charge itself recorded: that
	-- comes before its commit record, which a crash could still lose,
	-- and a host that fills the disk can make the flush that carries it
	-- fail.)  A commit made as the module makes it has flushed all of
	-- its own; at most what other sessions wrote meanwhile is waited for.
	WHILE NOT totp.durable(target) LOOP
		IF clock_timestamp() > give_up THEN
			RAISE EXCEPTION 'login_verdict: the charge is not durable (flushed and replicated) yet'
				USING ERRCODE = 'TP010';
		END IF;
		PERFORM pg_sleep(0.001);
	END LOOP;
	-- not charged, never judged: and nothing told of the profile
	IF c.outcome IS NOT NULL THEN
		RETURN ROW(c.outcome, NULL, 0)::totp.login_result;
	END IF;
	RETURN totp.judge(c);
END $$;

-- For tests only (no EXECUTE for anyone but the owner): a whole login at
-- a fixed instant, charge and verdict in the caller's one transaction.
CREATE FUNCTION totp.login_attempt_at(p_owner uuid, p_account text, p_codes text[],
				      p_at timestamptz)
RETURNS totp.login_result LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v_nonce uuid := gen_random_uuid();
	c totp.charges;
BEGIN
	PERFORM totp.charge_at(v_nonce, p_owner, p_account, p_codes, p_at);
	DELETE FROM totp.charges WHERE role = session_user AND nonce = v_nonce
	RETURNING * INTO STRICT c;
	IF c.outcome IS NOT NULL THEN
		RETURN ROW(c.outcome, NULL,
			   coalesce((SELECT totp.emergency_left(p.ec_spent) FROM totp.profiles p
				     WHERE p.owner_uuid = p_owner AND p.account = p_account), 0)
			  )::totp.login_result;
	END IF;
	RETURN totp.judge(c);
END $$;

------------------------------------------------------------------------
-- Deletion leaves a tombstone; an import never brings a deleted profile
-- back.

CREATE OR REPLACE FUNCTION totp.admin_delete(p_owner uuid, p_account text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	gone totp.profiles;
BEGIN
	DELETE FROM totp.profiles WHERE owner_uuid = p_owner AND account = p_account
	RETURNING * INTO gone;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'entry doesn''t exist' USING ERRCODE = 'TP004';
	END IF;
	INSERT INTO totp.deleted (owner_uuid, account, fingerprint, deleted)
	VALUES (gone.owner_uuid, gone.account, sha256(gone.secret), clock_timestamp())
	ON CONFLICT DO NOTHING;
END $$;

-- A create over a disabled profile replaces its secret: the old one is
-- gone for good too, and no file store's copy of it may come back.
CREATE FUNCTION totp.tombstone_replaced() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF OLD.secret <> NEW.secret THEN
		INSERT INTO totp.deleted (owner_uuid, account, fingerprint, deleted)
		VALUES (OLD.owner_uuid, OLD.account, sha256(OLD.secret), clock_timestamp())
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER profiles_secret_replaced AFTER UPDATE OF secret ON totp.profiles
FOR EACH ROW EXECUTE FUNCTION totp.tombstone_replaced();

CREATE OR REPLACE FUNCTION totp.admin_import(p_owner uuid, p_account text, p_secret bytea,
				  p_algorithm text, p_digits integer, p_period integer,
				  p_comment text, p_enabled boolean, p_created bigint,
				  p_last_step bigint, p_failures integer, p_lock_until bigint,
				  p_ec_salt bytea, p_ec_hashes bytea[], p_ec_spent boolean[])
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r totp.profiles;
	lock_at timestamptz;
	gone timestamptz;
BEGIN
	IF p_owner IS NULL OR NOT totp.valid_account(p_account)
	   OR p_secret IS NULL OR octet_length(p_secret) NOT BETWEEN 16 AND 64
	   OR p_algorithm IS NULL OR p_algorithm NOT IN ('SHA1', 'SHA256', 'SHA512')
	   OR p_digits IS NULL OR p_digits NOT BETWEEN 6 AND 8
	   OR p_period IS NULL OR p_period NOT BETWEEN 1 AND 300
	   OR NOT totp.valid_comment(p_comment) OR p_enabled IS NULL
	   OR p_created IS NULL OR p_created < 0
	   OR p_last_step IS NULL OR p_last_step < -1
	   OR p_failures IS NULL OR p_failures NOT BETWEEN 0 AND 1000000
	   OR p_lock_until IS NULL OR p_lock_until < 0
	   OR p_ec_hashes IS NULL OR p_ec_spent IS NULL OR p_ec_salt IS NULL
	   OR NOT totp.valid_emergency(p_ec_salt, p_ec_hashes, p_ec_spent) THEN
		RAISE EXCEPTION 'import: invalid profile for %/%', p_owner, p_account
			USING ERRCODE = 'TP002';
	END IF;
	lock_at := CASE WHEN p_lock_until > 0 THEN to_timestamp(p_lock_until) END;
	INSERT INTO totp.profiles (owner_uuid, account, secret, algorithm, digits, period,
				   comment, enabled, created, ec_salt, ec_hashes, ec_spent,
				   last_step, failures, lock_until)
	VALUES (p_owner, p_account, p_secret, p_algorithm, p_digits, p_period,
		p_comment, p_enabled, to_timestamp(p_created), p_ec_salt, p_ec_hashes,
		p_ec_spent, p_last_step, p_failures, lock_at)
	ON CONFLICT (owner_uuid, account) DO NOTHING;
	IF FOUND THEN
		-- An account whose profile an admin deleted gets one again only
		-- by enrolling, never from a host's old copy (of this secret or
		-- another).  Checked after the insert: an admin_delete that
		-- commits meanwhile made the insert wait for it, so its tombstone
		-- is seen here, and the error takes the insert back.
		SELECT max(d.deleted) INTO gone FROM totp.deleted d
		WHERE d.owner_uuid = p_owner AND d.account = p_account;
		IF gone IS NOT NULL THEN
			RAISE EXCEPTION 'import: the profile of %/% was deleted from the database on %: not brought back',
				p_owner, p_account,
				to_char(gone AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
				USING ERRCODE = 'TP011',
				      HINT = 'Its secret is revoked: totpctl migrate removes the host''s copy; have the user enrol again (totpctl create on the enrolment host).';
		END IF;
		RETURN 'copied';
	END IF;
	SELECT * INTO STRICT r FROM totp.profiles
	WHERE owner_uuid = p_owner AND account = p_account FOR UPDATE;
	IF r.secret <> p_secret OR r.algorithm <> p_algorithm OR r.digits <> p_digits
	   OR r.period <> p_period OR r.ec_salt <> p_ec_salt OR r.ec_hashes <> p_ec_hashes THEN
		RAISE EXCEPTION 'import: a different profile for %/% is already in the database',
			p_owner, p_account
			USING ERRCODE = 'TP009',
			      HINT = 'The database''s profile is the live one (each user has one secret for the whole fleet): totpctl migrate removes the host''s copy; compare sha_fingerprint (totpctl show) with the user''s app.';
	END IF;
	-- state only moves forward: the later step, the union of spent codes
	IF r.last_step >= p_last_step
	   AND NOT EXISTS (SELECT 1 FROM generate_subscripts(p_ec_spent, 1) k
			   WHERE p_ec_spent[k] AND NOT r.ec_spent[k]) THEN
		RETURN 'unchanged';
	END IF;
	UPDATE totp.profiles p
	SET last_step = greatest(p.last_step, p_last_step),
	    ec_spent = (SELECT coalesce(array_agg(p.ec_spent[k] OR p_ec_spent[k] ORDER BY k),
					'{}')
			FROM generate_subscripts(p.ec_spent, 1) k)
	WHERE p.owner_uuid = p_owner AND p.account = p_account;
	RETURN 'merged';
END $$;

RESET ROLE;

REVOKE ALL ON FUNCTION totp.login_charge(uuid, uuid, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION totp.login_verdict(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION totp.login_charge(uuid, uuid, text, text[]) TO totp_login;
GRANT EXECUTE ON FUNCTION totp.login_verdict(uuid) TO totp_login;

INSERT INTO totp.schema_version (version, name) VALUES (5, '005_login_charge');

COMMIT;
