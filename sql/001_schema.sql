-- pam_totp_profile fleet store, migration 1: schema, roles, login and
-- admin functions.
--
-- Apply as a superuser on an empty UTF8 database:
--     psql -v ON_ERROR_STOP=1 -d DB -f sql/001_schema.sql
-- Everything happens in one transaction: a failure leaves nothing behind.
--
-- Roles (cluster-wide, created if absent, all NOLOGIN):
--   totp_owner  owns the schema, its tables and functions.  The login and
--               admin functions run as this role (SECURITY DEFINER), so a
--               defect in one of them cannot reach beyond this schema.
--   totp_login  EXECUTE on the login functions only (the SSH hosts).
--   totp_admin  EXECUTE on the admin functions only (totpctl's host).
-- Neither totp_login nor totp_admin can read a table, so neither can read
-- a secret or an emergency-code hash.  See docs/fleet.md.

\set ON_ERROR_STOP 1
BEGIN;

DO $$
BEGIN
	IF to_regnamespace('totp') IS NOT NULL THEN
		RAISE EXCEPTION 'schema "totp" already exists: migration 001 is already applied'
			USING HINT = 'SELECT totp.schema_version() tells which migrations are applied.';
	END IF;
	IF pg_encoding_to_char((SELECT encoding FROM pg_database
				WHERE datname = current_database())) <> 'UTF8' THEN
		RAISE EXCEPTION 'database "%" is not UTF8: create it with ENCODING ''UTF8''',
			current_database();
	END IF;
END $$;

DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['totp_owner', 'totp_login', 'totp_admin'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r
			      AND (rolsuper OR rolbypassrls OR rolcreaterole)) THEN
			RAISE EXCEPTION 'role "%" exists with superuser, bypassrls or createrole: refusing to build on it', r;
		END IF;
	END LOOP;
END $$;

-- pgcrypto supplies hmac() and gen_random_bytes().  On an empty database
-- it lands in "public"; if the database has it already, wherever it is.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE SCHEMA totp AUTHORIZATION totp_owner;
REVOKE ALL ON SCHEMA totp FROM PUBLIC;

-- Functions are executable by PUBLIC unless revoked: make "revoked" the
-- default for everything totp_owner creates, here and in later migrations.
ALTER DEFAULT PRIVILEGES FOR ROLE totp_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- The owner may use pgcrypto's schema, whatever it is.
DO $$
DECLARE
	ns text := (SELECT extnamespace::regnamespace::text FROM pg_extension
		    WHERE extname = 'pgcrypto');
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA %s TO totp_owner', ns);
END $$;

-- Everything below belongs to totp_owner.
SET LOCAL ROLE totp_owner;

-- Every function pins search_path to pg_catalog, pg_temp and names its own
-- objects with the schema, so no caller's objects can stand in for ours.

-- pgcrypto, called by its schema-qualified name.
DO $$
DECLARE
	ns text := (SELECT extnamespace::regnamespace::text FROM pg_extension
		    WHERE extname = 'pgcrypto');
BEGIN
	EXECUTE format($f$
		CREATE FUNCTION totp.crypto_hmac(data bytea, key bytea, digest text)
		RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
		SET search_path = pg_catalog, pg_temp
		AS 'SELECT %1$s.hmac(data, key, digest)'$f$, ns);
	EXECUTE format($f$
		CREATE FUNCTION totp.crypto_random(n integer)
		RETURNS bytea LANGUAGE sql VOLATILE STRICT
		SET search_path = pg_catalog, pg_temp
		AS 'SELECT %1$s.gen_random_bytes(n)'$f$, ns);
END $$;

------------------------------------------------------------------------
-- Validation, matching lib/names.c and lib/profile.c

CREATE FUNCTION totp.valid_account(a text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	-- letters, digits, '_', '.', '-'; not starting with '-' or '.'; a
	-- trailing '$' (machine accounts); no ".."; 1..32 bytes
	SELECT a IS NOT NULL
	   AND octet_length(a) BETWEEN 1 AND 32
	   AND a COLLATE "C" ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*[$]?$'
	   AND strpos(a, '..') = 0
$$;

CREATE FUNCTION totp.valid_comment(c text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	-- printable: no C0 or C1 control, no DEL; at most 256 bytes (the
	-- database's UTF8 encoding already refuses invalid sequences)
	SELECT c IS NOT NULL
	   AND octet_length(c) <= 256
	   AND c !~ '[\x01-\x1f\x7f-\x9f]'
$$;

CREATE FUNCTION totp.valid_emergency(salt bytea, hashes bytea[], spent boolean[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT octet_length(salt) = 16
	   AND cardinality(hashes) <= 10
	   AND cardinality(spent) = cardinality(hashes)
	   AND (cardinality(hashes) = 0 OR
		(array_ndims(hashes) = 1 AND array_lower(hashes, 1) = 1 AND
		 array_ndims(spent) = 1 AND array_lower(spent, 1) = 1))
	   AND NOT EXISTS (SELECT 1 FROM unnest(hashes) h
			   WHERE h IS NULL OR octet_length(h) <> 32)
	   AND array_position(spent, NULL) IS NULL
$$;

------------------------------------------------------------------------
-- HOTP (RFC 4226) and TOTP (RFC 6238)

CREATE FUNCTION totp.hotp(key bytea, algorithm text, digits integer, counter bigint)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	mac bytea;
	off integer;
	bin bigint;
BEGIN
	IF algorithm NOT IN ('SHA1', 'SHA256', 'SHA512') OR digits NOT BETWEEN 6 AND 8
	   OR counter < 0 THEN
		RAISE EXCEPTION 'hotp: bad parameters' USING ERRCODE = 'TP002';
	END IF;
	mac := totp.crypto_hmac(int8send(counter), key, lower(algorithm));
	-- RFC 4226 section 5.3: dynamic truncation
	off := get_byte(mac, length(mac) - 1) & 15;
	bin := ((get_byte(mac, off) & 127)::bigint << 24)
	     | (get_byte(mac, off + 1)::bigint << 16)
	     | (get_byte(mac, off + 2)::bigint << 8)
	     |  get_byte(mac, off + 3)::bigint;
	RETURN lpad((bin % (ARRAY[1000000, 10000000, 100000000])[digits - 5])::text,
		    digits, '0');
END $$;

-- Time step of an instant (T0 = 0).
CREATE FUNCTION totp.step_at(at timestamptz, period integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT floor(extract(epoch FROM at) / period)::bigint
$$;

CREATE FUNCTION totp.code_at(key bytea, algorithm text, digits integer,
			     period integer, at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT totp.hotp(key, algorithm, digits, totp.step_at(at, period))
$$;

-- lib/profile.c's hash of an emergency code: SHA-256 over the 16 salt
-- bytes followed by the 8 ASCII digits of the code.
CREATE FUNCTION totp.emergency_hash(salt bytea, code text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT sha256(salt || convert_to(code, 'UTF8'))
$$;

-- A uniformly random 8-digit code, leading zeros allowed.
CREATE FUNCTION totp.random_emergency_code() RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v bigint;
BEGIN
	LOOP
		v := ('x' || encode(totp.crypto_random(4), 'hex'))::bit(32)::bigint;
		-- reject the top of the range so every code is equally likely
		EXIT WHEN v < 4294967296 - (4294967296 % 100000000);
	END LOOP;
	RETURN lpad((v % 100000000)::text, 8, '0');
END $$;

------------------------------------------------------------------------
-- Tables

CREATE TABLE totp.schema_version (
	version integer PRIMARY KEY,
	name text NOT NULL,
	applied timestamptz NOT NULL DEFAULT now()
);

-- The login policy of the whole fleet.  It lives here, set by the
-- database's owner, so that no host (a stolen one included) can widen the
-- window or switch lockout off for anyone.
CREATE TABLE totp.settings (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	window_steps integer NOT NULL DEFAULT 1 CHECK (window_steps BETWEEN 0 AND 10),
	max_failures integer NOT NULL DEFAULT 5 CHECK (max_failures BETWEEN 0 AND 1000),
	lockout_seconds integer NOT NULL DEFAULT 300
		CHECK (lockout_seconds BETWEEN 1 AND 604800)
);
INSERT INTO totp.settings DEFAULT VALUES;

-- A new generation number whenever a profile gets a new secret, so a login
-- decided against the old secret cannot land on the new one.
CREATE SEQUENCE totp.generation_seq;

CREATE TABLE totp.profiles (
	owner_uuid uuid NOT NULL,
	account text COLLATE "C" NOT NULL CHECK (totp.valid_account(account)),
	generation bigint NOT NULL DEFAULT nextval('totp.generation_seq'),
	secret bytea NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 64),
	algorithm text NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
	digits integer NOT NULL CHECK (digits BETWEEN 6 AND 8),
	period integer NOT NULL CHECK (period BETWEEN 1 AND 300),
	comment text NOT NULL DEFAULT '' CHECK (totp.valid_comment(comment)),
	enabled boolean NOT NULL DEFAULT true,
	created timestamptz NOT NULL DEFAULT now(),
	ec_salt bytea NOT NULL,
	ec_hashes bytea[] NOT NULL,
	ec_spent boolean[] NOT NULL,
	-- per-login state
	last_step bigint NOT NULL DEFAULT -1 CHECK (last_step >= -1),
	failures integer NOT NULL DEFAULT 0 CHECK (failures BETWEEN 0 AND 1000000),
	lock_until timestamptz,
	PRIMARY KEY (owner_uuid, account),
	CHECK (totp.valid_emergency(ec_salt, ec_hashes, ec_spent))
);

-- Nothing for anyone but the owner.
REVOKE ALL ON ALL TABLES IN SCHEMA totp FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA totp FROM PUBLIC;

------------------------------------------------------------------------
-- Result types

-- lib/login.h's enum tp_login_outcome, in its order, plus the two answers
-- the file store gives before a code is tried.
CREATE TYPE totp.login_outcome AS ENUM (
	'totp',        -- accepted: TOTP code, its step recorded
	'emergency',   -- accepted: emergency code, now spent
	'replay',      -- refused: TOTP step already used
	'spent',       -- refused: emergency code already used
	'wrong',       -- refused: no match (or not a code at all)
	'locked',      -- refused: too many failures, lock running
	'no_profile',  -- refused: no profile for this owner and account
	'disabled'     -- not tried: an admin disabled the profile
);

CREATE TYPE totp.login_result AS (
	outcome totp.login_outcome,
	matched integer,          -- 0-based index of the accepted candidate
	emergency_left integer
);

CREATE TYPE totp.login_profile_info AS (
	found boolean,
	enabled boolean,
	digits integer
);

CREATE TYPE totp.profile_info AS (
	owner_uuid uuid,
	account text,
	comment text,
	enabled boolean,
	algorithm text,
	digits integer,
	period integer,
	created bigint,                -- Unix time
	sha_fingerprint text,          -- hex SHA-256 of the secret
	emergency_codes integer,
	emergency_left integer,
	last_step bigint,
	failures integer,
	locked_until bigint            -- Unix time; NULL when not locked now
);

CREATE TYPE totp.created_profile AS (
	owner_uuid uuid,
	account text,
	secret bytea,                  -- shown once: never returned again
	emergency_codes text[],        -- shown once: only hashes are kept
	verification_code text,        -- the code of the database's now
	sha_fingerprint text,
	created bigint,
	replaced boolean               -- true: replaced a disabled profile
);

------------------------------------------------------------------------
-- Internal helpers (no EXECUTE for anyone but the owner)

CREATE FUNCTION totp.emergency_left(spent boolean[]) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT count(*)::integer FROM unnest(spent) s WHERE NOT s
$$;

CREATE FUNCTION totp.info(p totp.profiles, at timestamptz) RETURNS totp.profile_info
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT p.owner_uuid, p.account::text, p.comment, p.enabled, p.algorithm,
	       p.digits, p.period, floor(extract(epoch FROM p.created))::bigint,
	       encode(sha256(p.secret), 'hex'),
	       cardinality(p.ec_hashes), totp.emergency_left(p.ec_spent),
	       p.last_step, p.failures,
	       CASE WHEN p.lock_until > at
		    THEN ceil(extract(epoch FROM p.lock_until))::bigint END
$$;

-- The steps of [now - window, now + window] whose code is `code`, in
-- ascending order.  Every step is computed, and codes are compared through
-- their SHA-256 so the comparison's timing says nothing about the code.
CREATE FUNCTION totp.matching_steps(key bytea, algorithm text, digits integer,
				    period integer, code text, at timestamptz,
				    window_steps integer)
RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(array_agg(s ORDER BY s), '{}')
	FROM generate_series(totp.step_at(at, period) - window_steps,
			     totp.step_at(at, period) + window_steps) AS s
	WHERE s >= 0
	  AND octet_length(code) = digits AND code ~ '^[0-9]+$'
	  AND sha256(convert_to(totp.hotp(key, algorithm, digits, s), 'UTF8'))
	      = sha256(convert_to(code, 'UTF8'))
$$;

-- Why a conditional update found no row to change: the current version of
-- the record decides.  NULL: the same profile, usable, so the candidate
-- itself was refused; 'retry': the profile got a new secret meanwhile.
CREATE FUNCTION totp.why_not(p_owner uuid, p_account text, p_generation bigint,
			     p_at timestamptz)
RETURNS text LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r totp.profiles;
BEGIN
	SELECT * INTO r FROM totp.profiles WHERE owner_uuid = p_owner AND account = p_account;
	IF NOT FOUND THEN
		RETURN 'no_profile';
	ELSIF r.generation <> p_generation THEN
		RETURN 'retry';
	ELSIF NOT r.enabled THEN
		RETURN 'disabled';
	ELSIF r.lock_until > p_at THEN
		RETURN 'locked';
	END IF;
	RETURN NULL;
END $$;

-- One login decided at instant p_at.  The public entry point passes the
-- database's clock; tests call this one directly with a fixed instant.
--
-- Every change is one conditional UPDATE whose WHERE clause re-checks, on
-- the newest version of the row, what the decision rests on (the step is
-- still after last_step, the code is still unspent, the profile is still
-- the same, enabled and unlocked).  Under concurrent logins PostgreSQL
-- re-evaluates that WHERE clause after the competing update commits, so
-- of two logins with one code exactly one finds a row to change.
CREATE FUNCTION totp.login_attempt_at(p_owner uuid, p_account text, p_codes text[],
				      p_at timestamptz)
RETURNS totp.login_result LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pol totp.settings;
	r totp.profiles;
	done totp.profiles;
	refusal totp.login_outcome;
	o totp.login_outcome;
	code text;
	steps bigint[];
	h bytea;
	slots integer[];
	why text;
	n integer := coalesce(cardinality(p_codes), 0);
BEGIN
	-- forward_pass sends one TOTP-length and one 8-digit tail: at most
	-- one candidate of each length, so a caller gets no extra guesses
	IF p_codes IS NULL OR n > 2 OR array_position(p_codes, NULL) IS NOT NULL
	   OR (n = 2 AND octet_length(p_codes[1]) = octet_length(p_codes[2]))
	   OR (n > 0 AND array_lower(p_codes, 1) <> 1) THEN
		RAISE EXCEPTION 'login_attempt: codes must be 0 to 2 candidates of different lengths'
			USING ERRCODE = 'TP002';
	END IF;
	IF p_owner IS NULL OR p_account IS NULL OR p_at IS NULL THEN
		RAISE EXCEPTION 'login_attempt: owner and account are required'
			USING ERRCODE = 'TP002';
	END IF;
	SELECT * INTO STRICT pol FROM totp.settings;

	FOR attempt IN 1 .. 3 LOOP
		SELECT * INTO r FROM totp.profiles
		WHERE owner_uuid = p_owner AND account = p_account;
		IF NOT FOUND THEN
			RETURN ROW('no_profile', NULL, 0)::totp.login_result;
		ELSIF NOT r.enabled THEN
			RETURN ROW('disabled', NULL, totp.emergency_left(r.ec_spent))::totp.login_result;
		ELSIF r.lock_until > p_at THEN
			-- not even checked, not counted
			RETURN ROW('locked', NULL, totp.emergency_left(r.ec_spent))::totp.login_result;
		END IF;

		refusal := 'wrong';
		why := NULL;
		FOR i IN 1 .. n LOOP
			code := p_codes[i];
			o := 'wrong';
			steps := totp.matching_steps(r.secret, r.algorithm, r.digits, r.period,
						     code, p_at, pol.window_steps);
			IF cardinality(steps) > 0 THEN
				UPDATE totp.profiles p
				SET last_step = (SELECT min(s) FROM unnest(steps) s
						 WHERE s > p.last_step),
				    failures = 0, lock_until = NULL
				WHERE p.owner_uuid = p_owner AND p.account = p_account
				  AND p.generation = r.generation AND p.enabled
				  AND (p.lock_until IS NULL OR p.lock_until <= p_at)
				  AND p.last_step < steps[cardinality(steps)]
				RETURNING * INTO done;
				IF FOUND THEN
					RETURN ROW('totp', i - 1,
						   totp.emergency_left(done.ec_spent))::totp.login_result;
				END IF;
				why := totp.why_not(p_owner, p_account, r.generation, p_at);
				EXIT WHEN why IS NOT NULL;
				o := 'replay';   -- an emergency code is not tried then
			ELSIF octet_length(code) = 8 AND code ~ '^[0-9]{8}$' THEN
				h := totp.emergency_hash(r.ec_salt, code);
				-- every slot is compared (a code may sit in two slots)
				SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO slots
				FROM generate_subscripts(r.ec_hashes, 1) AS k
				WHERE r.ec_hashes[k] = h;
				IF cardinality(slots) > 0 THEN
					UPDATE totp.profiles p
					SET ec_spent[(SELECT min(k) FROM unnest(slots) k
						      WHERE NOT p.ec_spent[k])] = true,
					    failures = 0, lock_until = NULL
					WHERE p.owner_uuid = p_owner AND p.account = p_account
					  AND p.generation = r.generation AND p.enabled
					  AND (p.lock_until IS NULL OR p.lock_until <= p_at)
					  AND EXISTS (SELECT 1 FROM unnest(slots) k
						      WHERE NOT p.ec_spent[k])
					RETURNING * INTO done;
					IF FOUND THEN
						RETURN ROW('emergency', i - 1,
							   totp.emergency_left(done.ec_spent))::totp.login_result;
					END IF;
					why := totp.why_not(p_owner, p_account, r.generation, p_at);
					EXIT WHEN why IS NOT NULL;
					o := 'spent';
				END IF;
			END IF;
			-- a replay or a spent code says more than "wrong"
			IF o = 'replay' OR (o = 'spent' AND refusal = 'wrong') THEN
				refusal := o;
			END IF;
		END LOOP;

		IF why IS NULL THEN
			-- one attempt, one failure, however many candidates
			UPDATE totp.profiles p
			SET failures = CASE WHEN pol.max_failures > 0
					     AND least(p.failures + 1, 1000000) >= pol.max_failures
					    THEN 0 ELSE least(p.failures + 1, 1000000) END,
			    lock_until = CASE WHEN pol.max_failures > 0
					       AND least(p.failures + 1, 1000000) >= pol.max_failures
					      THEN p_at + make_interval(secs => pol.lockout_seconds) END
			WHERE p.owner_uuid = p_owner AND p.account = p_account
			  AND p.generation = r.generation AND p.enabled
			  AND (p.lock_until IS NULL OR p.lock_until <= p_at)
			RETURNING * INTO done;
			IF FOUND THEN
				RETURN ROW(refusal, NULL,
					   totp.emergency_left(done.ec_spent))::totp.login_result;
			END IF;
			why := totp.why_not(p_owner, p_account, r.generation, p_at);
			IF why IS NULL THEN
				why := 'retry';   -- cannot happen: the row was usable
			END IF;
		END IF;
		IF why <> 'retry' THEN
			SELECT * INTO r FROM totp.profiles
			WHERE owner_uuid = p_owner AND account = p_account;
			RETURN ROW(why::totp.login_outcome, NULL,
				   coalesce(totp.emergency_left(r.ec_spent), 0))::totp.login_result;
		END IF;
		-- the profile was replaced meanwhile: decide again on the new one
	END LOOP;
	RAISE EXCEPTION 'login_attempt: the profile keeps changing; try again'
		USING ERRCODE = '40001';
END $$;

------------------------------------------------------------------------
-- Login functions: totp_login

CREATE FUNCTION totp.schema_version() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT max(version) FROM totp.schema_version
$$;

-- Before prompting: is there a profile, is it enabled, how long are its
-- codes (forward_pass cuts the answer by that length).  No secret, no state.
CREATE FUNCTION totp.login_profile(p_owner uuid, p_account text)
RETURNS totp.login_profile_info
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce((SELECT ROW(true, p.enabled, p.digits)::totp.login_profile_info
			 FROM totp.profiles p
			 WHERE p.owner_uuid = p_owner AND p.account = p_account),
			ROW(false, NULL, NULL)::totp.login_profile_info)
$$;

-- One login, decided atomically on the database's clock, under the
-- policy in totp.settings.  p_codes: the candidates of one answer.
CREATE FUNCTION totp.login_attempt(p_owner uuid, p_account text, p_codes text[])
RETURNS totp.login_result
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	-- clock_timestamp(), not now(): a caller holding a transaction open
	-- must not be able to freeze the clock its logins are judged by
	RETURN totp.login_attempt_at(p_owner, p_account, p_codes, clock_timestamp());
END $$;

------------------------------------------------------------------------
-- Admin functions: totp_admin

-- Create a profile; the secret and the emergency codes are made here, by
-- the database's random generator, and returned once.  Over a disabled
-- profile this replaces it (re-enrolment); over an enabled one it fails
-- with TP001 (the API's duplicate entry).
CREATE FUNCTION totp.admin_create(p_owner uuid, p_account text,
				  p_algorithm text DEFAULT 'SHA1',
				  p_digits integer DEFAULT 6,
				  p_period integer DEFAULT 30,
				  p_comment text DEFAULT '',
				  p_emergency_count integer DEFAULT 5,
				  p_secret_bytes integer DEFAULT 20)
RETURNS totp.created_profile
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	secret bytea;
	salt bytea;
	codes text[] := '{}';
	hashes bytea[] := '{}';
	c text;
	done totp.profiles;
	was_there boolean;
	at timestamptz := clock_timestamp();
BEGIN
	IF p_owner IS NULL OR NOT totp.valid_account(p_account) THEN
		RAISE EXCEPTION 'invalid owner or account' USING ERRCODE = 'TP002';
	ELSIF p_algorithm IS NULL OR p_algorithm NOT IN ('SHA1', 'SHA256', 'SHA512')
	   OR p_digits IS NULL OR p_digits NOT BETWEEN 6 AND 8
	   OR p_period IS NULL OR p_period NOT BETWEEN 1 AND 300
	   OR p_emergency_count IS NULL OR p_emergency_count NOT BETWEEN 0 AND 10
	   OR p_secret_bytes IS NULL OR p_secret_bytes NOT BETWEEN 16 AND 64 THEN
		RAISE EXCEPTION 'invalid TOTP parameters' USING ERRCODE = 'TP002';
	ELSIF NOT totp.valid_comment(p_comment) THEN
		RAISE EXCEPTION 'invalid comment' USING ERRCODE = 'TP002';
	END IF;
	secret := totp.crypto_random(p_secret_bytes);
	salt := totp.crypto_random(16);
	FOR i IN 1 .. p_emergency_count LOOP
		c := totp.random_emergency_code();
		codes := codes || c;
		hashes := hashes || totp.emergency_hash(salt, c);
	END LOOP;
	was_there := EXISTS (SELECT 1 FROM totp.profiles
			     WHERE owner_uuid = p_owner AND account = p_account);
	INSERT INTO totp.profiles AS p (owner_uuid, account, secret, algorithm, digits,
					period, comment, enabled, created, ec_salt,
					ec_hashes, ec_spent)
	VALUES (p_owner, p_account, secret, p_algorithm, p_digits, p_period, p_comment,
		true, at, salt, hashes, array_fill(false, ARRAY[p_emergency_count]))
	ON CONFLICT (owner_uuid, account) DO UPDATE
	SET generation = nextval('totp.generation_seq'),
	    secret = EXCLUDED.secret, algorithm = EXCLUDED.algorithm,
	    digits = EXCLUDED.digits, period = EXCLUDED.period,
	    comment = EXCLUDED.comment, enabled = true, created = EXCLUDED.created,
	    ec_salt = EXCLUDED.ec_salt, ec_hashes = EXCLUDED.ec_hashes,
	    ec_spent = EXCLUDED.ec_spent, last_step = -1, failures = 0,
	    lock_until = NULL
	WHERE NOT p.enabled
	RETURNING * INTO done;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'entry already exists: an enabled profile for this account'
			USING ERRCODE = 'TP001';
	END IF;
	RETURN ROW(done.owner_uuid, done.account::text, done.secret, codes,
		   totp.code_at(done.secret, done.algorithm, done.digits, done.period, at),
		   encode(sha256(done.secret), 'hex'),
		   floor(extract(epoch FROM done.created))::bigint,
		   was_there)::totp.created_profile;
END $$;

CREATE FUNCTION totp.admin_show(p_owner uuid, p_account text)
RETURNS totp.profile_info
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r totp.profiles;
BEGIN
	SELECT * INTO r FROM totp.profiles WHERE owner_uuid = p_owner AND account = p_account;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'entry doesn''t exist' USING ERRCODE = 'TP004';
	END IF;
	RETURN totp.info(r, clock_timestamp());
END $$;

-- Every profile, or those of one owner, one account, enabled or not.
CREATE FUNCTION totp.admin_list(p_owner uuid DEFAULT NULL, p_account text DEFAULT NULL,
				p_enabled boolean DEFAULT NULL)
RETURNS SETOF totp.profile_info
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT i.*
	FROM totp.profiles p, LATERAL totp.info(p, clock_timestamp()) i
	WHERE (p_owner IS NULL OR p.owner_uuid = p_owner)
	  AND (p_account IS NULL OR p.account = p_account)
	  AND (p_enabled IS NULL OR p.enabled = p_enabled)
	ORDER BY p.owner_uuid, p.account
$$;

-- NULL leaves a field as it is.  TP004: no such profile.
CREATE FUNCTION totp.admin_modify(p_owner uuid, p_account text,
				  p_comment text DEFAULT NULL, p_enabled boolean DEFAULT NULL)
RETURNS totp.profile_info
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	done totp.profiles;
BEGIN
	IF p_comment IS NOT NULL AND NOT totp.valid_comment(p_comment) THEN
		RAISE EXCEPTION 'invalid comment' USING ERRCODE = 'TP002';
	END IF;
	UPDATE totp.profiles p
	SET comment = coalesce(p_comment, p.comment),
	    enabled = coalesce(p_enabled, p.enabled)
	WHERE p.owner_uuid = p_owner AND p.account = p_account
	RETURNING * INTO done;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'TOTP is not configured for the user' USING ERRCODE = 'TP004';
	END IF;
	RETURN totp.info(done, clock_timestamp());
END $$;

CREATE FUNCTION totp.admin_delete(p_owner uuid, p_account text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM totp.profiles WHERE owner_uuid = p_owner AND account = p_account;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'entry doesn''t exist' USING ERRCODE = 'TP004';
	END IF;
END $$;

-- Copy one profile of a file store in, losslessly: secret, parameters,
-- comment, enabled, created, emergency salt and hashes, and the state.
-- Idempotent: run again it changes nothing ('unchanged'), except that
-- state only moves forward ('merged': a later last_step, more spent codes),
-- so a second run after logins through the database brings nothing back.
-- A different profile already there (another secret or other codes) is
-- refused with TP009 and left alone.  Returns 'copied', 'merged' or
-- 'unchanged'.  Times are Unix seconds; lock_until 0 means not locked.
CREATE FUNCTION totp.admin_import(p_owner uuid, p_account text, p_secret bytea,
				  p_algorithm text, p_digits integer, p_period integer,
				  p_comment text, p_enabled boolean, p_created bigint,
				  p_last_step bigint, p_failures integer, p_lock_until bigint,
				  p_ec_salt bytea, p_ec_hashes bytea[], p_ec_spent boolean[])
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r totp.profiles;
	lock_at timestamptz;
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
		RETURN 'copied';
	END IF;
	SELECT * INTO STRICT r FROM totp.profiles
	WHERE owner_uuid = p_owner AND account = p_account FOR UPDATE;
	IF r.secret <> p_secret OR r.algorithm <> p_algorithm OR r.digits <> p_digits
	   OR r.period <> p_period OR r.ec_salt <> p_ec_salt OR r.ec_hashes <> p_ec_hashes THEN
		RAISE EXCEPTION 'import: a different profile for %/% is already in the database',
			p_owner, p_account
			USING ERRCODE = 'TP009',
			      HINT = 'Delete it first (totp.admin_delete) to replace it.';
	END IF;
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

------------------------------------------------------------------------
-- Policy: the owner's (or a superuser's) only, never a host's.

CREATE FUNCTION totp.set_policy(p_window_steps integer, p_max_failures integer,
				p_lockout_seconds integer)
RETURNS void LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
	UPDATE totp.settings
	SET window_steps = p_window_steps, max_failures = p_max_failures,
	    lockout_seconds = p_lockout_seconds
$$;

------------------------------------------------------------------------
-- Grants

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA totp FROM PUBLIC;
GRANT USAGE ON SCHEMA totp TO totp_login, totp_admin;

GRANT EXECUTE ON FUNCTION totp.schema_version() TO totp_login, totp_admin;
GRANT EXECUTE ON FUNCTION totp.login_profile(uuid, text) TO totp_login;
GRANT EXECUTE ON FUNCTION totp.login_attempt(uuid, text, text[]) TO totp_login;

GRANT EXECUTE ON FUNCTION
	totp.admin_create(uuid, text, text, integer, integer, text, integer, integer),
	totp.admin_show(uuid, text),
	totp.admin_list(uuid, text, boolean),
	totp.admin_modify(uuid, text, text, boolean),
	totp.admin_delete(uuid, text),
	totp.admin_import(uuid, text, bytea, text, integer, integer, text, boolean,
			  bigint, bigint, integer, bigint, bytea, bytea[], boolean[])
TO totp_admin;

INSERT INTO totp.schema_version (version, name) VALUES (1, '001_schema');

RESET ROLE;
COMMIT;
