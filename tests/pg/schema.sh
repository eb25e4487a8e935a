#!/bin/bash
# The fleet store's database side (sql/*.sql) against a real, throwaway
# PostgreSQL: TOTP in SQL against RFC 4226/6238, single use across hosts,
# lockout counted in the database, the roles' rights, the migration check,
# the file store import, and hosts racing one code.
set -u
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql "needs root and Debian's postgresql (scripts/install-deps.sh --test)"
pg_suite_up --no-schema

O=11111111-2222-4333-8444-555555555555
O2=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
KEY_HEX=3132333435363738393031323334353637383930     # RFC 4226's key
SALT_HEX=000102030405060708090a0b0c0d0e0f
EC1=12345678 EC2=87654321 EC3=00000001

# q SQL -> output of the superuser's psql (errors on stderr)
q() { pg_psql -c "$1"; }
# two_phase: a psql script on stdin, each "SELECT COLS FROM
# totp.login_attempt(ARGS);" line made the two calls a host makes, each its
# own transaction: the charge under a fresh nonce, then, once it is
# committed, the verdict (sql/005_login_charge.sql)
two_phase() {
	sed -E "s/^(.*)SELECT (.*) FROM totp\.login_attempt\((.*)\);?\s*\$/\1SELECT gen_random_uuid() AS nonce \\\\gset\n\1SELECT totp.login_charge(:'nonce', \3) \\\\gset\n\1SELECT \2 FROM totp.login_verdict(:'nonce');/"
}
# is SQL EXPECTED [ROLE]: the query's output, compared; shows both on mismatch
# (a login_attempt query runs as the two calls of a login: two_phase)
is() {
	local got
	if [ -n "${3:-}" ]; then
		got=$(two_phase <<<"$1" | pg_as "$3" 2>&1)
	else
		got=$(q "$1" 2>&1)
	fi
	[ "$got" = "$2" ] && return 0
	echo "#   query:    $1"
	echo "#   expected: $2"
	echo "#   got:      $got" | head -n 5
	return 1
}
# denied ROLE SQL: the role's call fails with "permission denied"
denied() {
	local out
	out=$(pg_as "$1" -c "$2" 2>&1) && { echo "#   $1 was allowed: $2"; return 1; }
	grep -q "permission denied" <<<"$out" || { echo "#   $1: $out"; return 1; }
}
# fails_with SQLSTATE SQL [ROLE]: the statement fails with that SQLSTATE
fails_with() {
	local out
	if [ -n "${3:-}" ]; then
		out=$(pg_as "$3" -v VERBOSITY=verbose -c "$2" 2>&1)
	else
		out=$(pg_psql -v VERBOSITY=verbose -c "$2" 2>&1)
	fi && { echo "#   succeeded: $2"; return 1; }
	grep -q "ERROR:  $1:" <<<"$out" || { echo "#   $out" | head -n 3; return 1; }
}
# mk ACCOUNT [ALG DIGITS PERIOD]: a profile with RFC 4226's key and
# emergency codes EC1..EC3, through the admin's import
# (removed as the owner, not through admin_delete, whose tombstone would
# refuse the import of the same secret again)
mk() {
	q "DELETE FROM totp.profiles WHERE owner_uuid = '$O' AND account = '$1'" >/dev/null
	q "SELECT totp.admin_import('$O', '$1', '\\x$KEY_HEX', '${2:-SHA1}', ${3:-6}, ${4:-30},
	   '', true, 1, -1, 0, 0, '\\x$SALT_HEX',
	   ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1'),
		 totp.emergency_hash('\\x$SALT_HEX', '$EC2'),
		 totp.emergency_hash('\\x$SALT_HEX', '$EC3')], '{f,f,f}')" >/dev/null
}
# the database's Unix time, and the RFC key's code at it
db_now() { q "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint"; }
code_now() { oathtool --totp -N "@$(db_now)" "$KEY_HEX"; }
# login HOST ACCOUNT CODE... -> "outcome matched emergency_left"
login() {
	local host=$1 acct=$2; shift 2
	local codes
	codes=$(IFS=,; echo "$*")
	two_phase <<<"SELECT outcome, coalesce(matched::text, '-'), emergency_left FROM totp.login_attempt('$O', '$acct', '{$codes}')" |
		pg_as "$host" -F' '
}
# login_at UNIX_TIME ACCOUNT CODE... : the same decision at a fixed instant
login_at() {
	local at=$1 acct=$2; shift 2
	local codes
	codes=$(IFS=,; echo "$*")
	q "SELECT outcome FROM totp.login_attempt_at('$O', '$acct', '{$codes}', to_timestamp($at))"
}
hotp_at() {   # hotp_at UNIX_TIME [DIGITS]: RFC key, SHA1, 30 s, by oathtool
	oathtool --totp -d "${2:-6}" -N "@$1" "$KEY_HEX"
}

# the multi-step checks below run in bash -c: give them the helpers
export PG_DIR PG_PORT PG_DB PG_BIN O O2 KEY_HEX SALT_HEX EC1 EC2 EC3
export -f pg_psql pg_as q two_phase is denied fails_with mk db_now code_now login login_at hotp_at

# ---------------------------------------------------------------- schema
check "schema: sql/*.sql apply in name order on an empty database" pg_migrate
check "schema: applying migration 001 again fails, saying it is applied" \
	bash -c '! out=$(psql -X -q -v ON_ERROR_STOP=1 -h "$0" -p "$1" -U postgres -d totp \
		-f "$2" 2>&1) && grep -q "already applied" <<<"$out"' \
	"$PG_DIR" "$PG_PORT" "$PG_TOP/sql/001_schema.sql"
half_applied() {
	q "CREATE DATABASE half ENCODING 'SQL_ASCII' TEMPLATE template0" >/dev/null
	! psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d half \
		-f "$PG_TOP/sql/001_schema.sql" >/dev/null 2>&1 &&
	[ "$(psql -X -q -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -d half \
		-c "SELECT count(*) FROM pg_namespace WHERE nspname = 'totp'")" = 0 ]
}
check "schema: a failed migration leaves nothing behind (one transaction)" half_applied
# a pre-existing totp_* role with CREATEROLE (or superuser, bypassrls)
# could grant itself totp_admin: migration 001 refuses to build on it
dangerous_role() {
	local attr out rc=0
	for attr in CREATEROLE SUPERUSER BYPASSRLS; do
		q "CREATE DATABASE roles_${attr,,} ENCODING 'UTF8' TEMPLATE template0" >/dev/null
		q "ALTER ROLE totp_login $attr" >/dev/null
		out=$(psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres \
			-d "roles_${attr,,}" -f "$PG_TOP/sql/001_schema.sql" 2>&1) && rc=1
		q "ALTER ROLE totp_login NO$attr" >/dev/null
		grep -q 'role "totp_login" exists with superuser, bypassrls or createrole: refusing' <<<"$out" ||
			{ echo "#   $attr: $out" | head -n 2; rc=1; }
	done
	return $rc
}
check "schema: a pre-existing totp_login with CREATEROLE, SUPERUSER or BYPASSRLS is refused" dangerous_role
check "schema: without the schema, schema_version() fails with SQLSTATE 3F000" \
	bash -c 'psql -X -q -v VERBOSITY=verbose -h "$PG_DIR" -p "$PG_PORT" -U postgres -d half \
		-c "SELECT totp.schema_version()" 2>&1 | grep -q "ERROR:  3F000"'

for r in host_a host_b host_c host_d; do pg_login_role "$r" totp_login; done
pg_login_role ctl totp_admin
pg_psql -c "CREATE ROLE stranger LOGIN" >/dev/null
latest=$(LC_ALL=C ls "$PG_TOP"/sql/*.sql | wc -l)
check "schema: schema_version() is the number of migrations, for hosts and admins" \
	bash -c 'is "SELECT totp.schema_version()" "$1" host_a && is "SELECT totp.schema_version()" "$1" ctl' \
	_ "$latest"
check "schema: a role in neither group cannot even read the schema version" \
	denied stranger "SELECT totp.schema_version()"

# ------------------------------------------------------------ TOTP in SQL
check "totp: RFC 6238 appendix B vectors, SHA1/SHA256/SHA512, 8 digits" is "
	SELECT count(*) FROM (VALUES
	 (59,'SHA1','94287082'),(59,'SHA256','46119246'),(59,'SHA512','90693936'),
	 (1111111109,'SHA1','07081804'),(1111111109,'SHA256','68084774'),(1111111109,'SHA512','25091201'),
	 (1111111111,'SHA1','14050471'),(1111111111,'SHA256','67062674'),(1111111111,'SHA512','99943326'),
	 (1234567890,'SHA1','89005924'),(1234567890,'SHA256','91819424'),(1234567890,'SHA512','93441116'),
	 (2000000000,'SHA1','69279037'),(2000000000,'SHA256','90698825'),(2000000000,'SHA512','38618901'),
	 (20000000000,'SHA1','65353130'),(20000000000,'SHA256','77737706'),(20000000000,'SHA512','47863826'))
	 AS v(t, alg, want)
	WHERE totp.code_at(convert_to(CASE alg
		WHEN 'SHA1' THEN '12345678901234567890'
		WHEN 'SHA256' THEN '12345678901234567890123456789012'
		ELSE '1234567890123456789012345678901234567890123456789012345678901234' END, 'UTF8'),
		alg, 8, 30, to_timestamp(t)) = want" 18
check "totp: RFC 4226 appendix D HOTP values, counters 0 to 9" is "
	SELECT string_agg(totp.hotp('\\x$KEY_HEX', 'SHA1', 6, c), ' ' ORDER BY c)
	FROM generate_series(0, 9) c" \
	"755224 287082 359152 969429 338314 254676 287922 162583 399871 520489"

# random keys, algorithms, 6-8 digits and periods against oathtool
oath_cases() {
	local n=0 bad=0 key alg digits period t want got
	for alg in SHA1 SHA256 SHA512; do
		for digits in 6 7 8; do
			for period in 30 60; do
				key=$(head -c $(( 16 + RANDOM % 49 )) /dev/urandom | od -An -tx1 | tr -d ' \n')
				t=$(( RANDOM * 32768 + RANDOM + 1000000000 ))
				want=$(oathtool --totp="$alg" -d "$digits" -s "$period" -N "@$t" "$key")
				got=$(q "SELECT totp.code_at('\\x$key', '$alg', $digits, $period, to_timestamp($t))")
				n=$((n + 1))
				[ "$want" = "$got" ] || { bad=$((bad + 1)); echo "#   $alg/$digits/$period @$t: oathtool $want, sql $got"; }
			done
		done
	done
	[ "$n" -eq 18 ] && [ "$bad" -eq 0 ]
}
check "totp: 18 random keys x algorithm x digits x period agree with oathtool" oath_cases

# --------------------------------------------------------------- logins
mk alice
c=$(code_now)
check "login: the right code is accepted through host A" \
	is "SELECT outcome FROM totp.login_attempt('$O', 'alice', '{$c}')" totp host_a
check "login: the same code through host B is refused as a replay" \
	is "SELECT outcome FROM totp.login_attempt('$O', 'alice', '{$c}')" replay host_b
check "login: the replay counted one failure, the acceptance none" \
	is "SELECT failures FROM totp.admin_show('$O', 'alice')" 1 ctl
check "login: no profile for the account" \
	is "SELECT outcome FROM totp.login_attempt('$O', 'nobody', '{123456}')" no_profile host_a
check "login: the profile probe says found, enabled, 6 digits; absent: not found" \
	bash -c 'is "SELECT found, enabled, digits FROM totp.login_profile('\''$1'\'', '\''alice'\'')" "t|t|6" host_a &&
		 is "SELECT found FROM totp.login_profile('\''$1'\'', '\''nobody'\'')" f host_a' _ "$O"
check "login: login_begin is the schema version and the probe in one statement" \
	bash -c 'is "SELECT schema_version, found, enabled, digits FROM totp.login_begin('\''$1'\'', '\''alice'\'')" "$2|t|t|6" host_a &&
		 is "SELECT schema_version, found, enabled IS NULL FROM totp.login_begin('\''$1'\'', '\''nobody'\'')" "$2|f|t" host_a' \
	_ "$O" "$latest"

# window edges at a fixed instant: T is 10 s into step S
mk edges
T=$(( 1700000000 / 30 * 30 + 10 ))
check "window: steps S-2 and S+2 are refused (window 1)" bash -c \
	'[ "$(login_at $1 edges $(hotp_at $(( $1 - 60 ))))" = wrong ] &&
	 [ "$(login_at $1 edges $(hotp_at $(( $1 + 60 ))))" = wrong ]' _ "$T"
check "window: S-1, then S, then S+1 are each accepted, in order" bash -c \
	'[ "$(login_at $1 edges $(hotp_at $(( $1 - 30 ))))" = totp ] &&
	 [ "$(login_at $1 edges $(hotp_at $1))" = totp ] &&
	 [ "$(login_at $1 edges $(hotp_at $(( $1 + 30 ))))" = totp ]' _ "$T"
check "window: after S+1, the code of S is a replay" \
	is "SELECT outcome FROM totp.login_attempt_at('$O', 'edges', '{$(hotp_at $T)}', to_timestamp($T))" replay
mk edges
check "window: a later step accepted first makes an earlier one a replay" bash -c \
	'[ "$(login_at $1 edges $(hotp_at $(( $1 + 30 ))))" = totp ] &&
	 [ "$(login_at $1 edges $(hotp_at $(( $1 - 30 ))))" = replay ]' _ "$T"
mk edges
q "SELECT totp.set_policy(0, 5, 300)" >/dev/null
check "window: with window 0 in the database only the current step is accepted" bash -c \
	'[ "$(login_at $1 edges $(hotp_at $(( $1 + 30 ))))" = wrong ] &&
	 [ "$(login_at $1 edges $(hotp_at $1))" = totp ]' _ "$T"
q "SELECT totp.set_policy(1, 5, 300)" >/dev/null
mk eight SHA512 8 60
check "window: an 8-digit SHA512 60 s profile takes its own code, not a 6-digit one" bash -c \
	'[ "$(login_at $1 eight $(oathtool --totp=SHA512 -d 6 -s 60 -N @$1 $2))" = wrong ] &&
	 [ "$(login_at $1 eight $(oathtool --totp=SHA512 -d 8 -s 60 -N @$1 $2))" = totp ]' _ "$T" "$KEY_HEX"

# ------------------------------------------------------------ emergency
mk bob
check "emergency: a code is accepted once, through host A, 2 left" \
	is "SELECT outcome, emergency_left FROM totp.login_attempt('$O', 'bob', '{$EC2}')" "emergency|2" host_a
check "emergency: the same code through host B is refused as spent" \
	is "SELECT outcome FROM totp.login_attempt('$O', 'bob', '{$EC2}')" spent host_b
check "emergency: forward_pass's two tails: the 8-digit one matches (index 1)" \
	is "SELECT outcome, matched FROM totp.login_attempt('$O', 'bob', '{000000,$EC1}')" "emergency|1" host_a
check "emergency: two candidates, one right TOTP code: accepted, index 0" \
	is "SELECT outcome, matched FROM totp.login_attempt('$O', 'bob', '{$(code_now),99999999}')" "totp|0" host_a
check "login: three candidates, or two of one length, are refused as bad input" bash -c \
	'fails_with TP002 "SELECT totp.login_charge(gen_random_uuid(), '\''$1'\'', '\''bob'\'', '\''{1,2,3}'\'')" host_a &&
	 fails_with TP002 "SELECT totp.login_charge(gen_random_uuid(), '\''$1'\'', '\''bob'\'', '\''{123456,654321}'\'')" host_a' _ "$O"

# -------------------------------------------------------------- lockout
mk carol
q "SELECT totp.set_policy(1, 3, 300)" >/dev/null
check "lockout: three wrong codes lock the profile in the database" bash -c \
	'for i in 1 2 3; do [ "$(login host_a carol 000000 | cut -d" " -f1)" = wrong ] || exit 1; done
	 is "SELECT failures, locked_until IS NOT NULL FROM totp.admin_show('\''$1'\'', '\''carol'\'')" "0|t" ctl' _ "$O"
check "lockout: while locked the right code is refused through another host" \
	is "SELECT outcome FROM totp.login_attempt('$O', 'carol', '{$(code_now)}')" locked host_b
check "lockout: refusals while locked are not counted" \
	is "SELECT failures FROM totp.admin_show('$O', 'carol')" 0 ctl
check "lockout: after the lock runs out (301 s later) the right code is accepted" bash -c \
	'at=$(( $(db_now) + 301 ))
	 [ "$(login_at $at carol $(hotp_at $at))" = totp ]'
mk carol
q "SELECT totp.set_policy(1, 2, 3)" >/dev/null
# one session, one statement per transaction, so no process start-up
# sits between the lock and its check.  Bounds: the third attempt comes
# within 3 s of the second (one commit later, on a loaded machine too),
# the fourth after the lock's 3 s, however late (a lower bound only)
lock_expires() {
	local out
	out=$(two_phase <<EOF | pg_as host_b
SELECT outcome FROM totp.login_attempt('$O', 'carol', '{000000}');
SELECT outcome FROM totp.login_attempt('$O', 'carol', '{000000}');
SELECT outcome FROM totp.login_attempt('$O', 'carol', '{$(code_now)}');
SELECT pg_sleep(3.1);
SELECT outcome FROM totp.login_attempt('$O', 'carol', '{$(code_now)}');
EOF
)
	[ "$(echo $out)" = "wrong wrong locked totp" ] || { echo "#   got: $(echo $out)"; return 1; }
}
check "lockout: a 3 s lock on the database's clock expires by itself" lock_expires
q "SELECT totp.set_policy(1, 5, 300)" >/dev/null

# ------------------------------------------------------------- disabled
mk dave
old_fp=$(q "SELECT sha_fingerprint FROM totp.admin_show('$O', 'dave')")
check "disabled: an admin disables; the login says so and counts nothing" bash -c \
	'is "SELECT enabled FROM totp.admin_modify('\''$1'\'', '\''dave'\'', NULL, false)" f ctl &&
	 is "SELECT outcome FROM totp.login_attempt('\''$1'\'', '\''dave'\'', '\''{000000}'\'')" disabled host_a &&
	 is "SELECT failures FROM totp.admin_show('\''$1'\'', '\''dave'\'')" 0 ctl' _ "$O"
check "create: over a disabled profile replaces it: new secret, enabled" bash -c \
	'is "SELECT replaced, length(secret), cardinality(emergency_codes)
	     FROM totp.admin_create('\''$1'\'', '\''dave'\'')" "t|20|5" ctl &&
	 is "SELECT sha_fingerprint <> '\''$2'\'', enabled FROM totp.admin_show('\''$1'\'', '\''dave'\'')" "t|t" ctl' \
	_ "$O" "$old_fp"
check "create: over an enabled profile fails with TP001 (duplicate)" \
	fails_with TP001 "SELECT totp.admin_create('$O', 'dave')" ctl
# the replaced secret is gone for good: its tombstone (docs/fleet.md), the
# fingerprint admin_show gave for it, and none for the live one
check "create: over a disabled profile leaves a tombstone of the replaced secret only" \
	is "SELECT string_agg(encode(fingerprint, 'hex'), ',') FROM totp.deleted
	    WHERE owner_uuid = '$O' AND account = 'dave'" "$old_fp"

# ---------------------------------------------------------------- admin
created=$(pg_as ctl -F' ' -c "SELECT encode(secret, 'hex'), array_to_string(emergency_codes, ','),
	verification_code, sha_fingerprint FROM totp.admin_create('$O2', 'erin', 'SHA256', 8, 30, 'laptop')")
read -r e_key e_codes e_vcode e_fp <<<"$created"
check "create: the verification code is the key's code now (oathtool)" bash -c \
	'v=$(oathtool --totp=SHA256 -d 8 -N "@$(( $(db_now) ))" "$1"); w=$(oathtool --totp=SHA256 -d 8 -N "@$(( $(db_now) - 30 ))" "$1")
	 [ "$2" = "$v" ] || [ "$2" = "$w" ]' _ "$e_key" "$e_vcode"
check "create: sha_fingerprint is the hex SHA-256 of the secret" \
	test "$(printf '%b' "$(sed 's/../\\x&/g' <<<"$e_key")" | sha256sum | cut -d' ' -f1)" = "$e_fp"
check "create: 5 distinct 8-digit emergency codes; one logs in" bash -c \
	'IFS=, read -r -a c <<<"$1"; [ "${#c[@]}" -eq 5 ] &&
	 [ "$(printf "%s\n" "${c[@]}" | grep -cE "^[0-9]{8}$")" -eq 5 ] &&
	 [ "$(printf "%s\n" "${c[@]}" | sort -u | wc -l)" -eq 5 ] &&
	 is "SELECT outcome FROM totp.login_attempt('\''$2'\'', '\''erin'\'', '\''{${c[3]}}'\'')" emergency host_a' \
	_ "$e_codes" "$O2"
check "show: the fields, no secret and no hash among them" \
	is "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
	    WHERE attrelid = 'totp.profile_info'::regclass AND attnum > 0" \
	"owner_uuid,account,comment,enabled,algorithm,digits,period,created,sha_fingerprint,emergency_codes,emergency_left,last_step,failures,locked_until"
check "show: comment, algorithm, digits, codes left as created" \
	is "SELECT comment, algorithm, digits, emergency_codes, emergency_left
	    FROM totp.admin_show('$O2', 'erin')" "laptop|SHA256|8|5|4" ctl
listed() {
	is "SELECT count(*) FROM totp.admin_list()" "$(q "SELECT count(*) FROM totp.profiles")" ctl &&
	is "SELECT string_agg(account, ',') FROM totp.admin_list('$O2')" erin ctl
}
check "list: every profile, or one owner's" listed
check "modify: a comment with a control character is refused (TP002), nothing changed" bash -c \
	'fails_with TP002 "SELECT totp.admin_modify('\''$1'\'', '\''erin'\'', E'\''a\\x01b'\'')" ctl &&
	 is "SELECT comment FROM totp.admin_show('\''$1'\'', '\''erin'\'')" laptop ctl' _ "$O2"
check "modify: a UTF-8 comment is kept; a C1 control (U+0085) or 257 bytes refused" bash -c \
	'is "SELECT comment FROM totp.admin_modify('\''$1'\'', '\''erin'\'', '\''café 中'\'')" "café 中" ctl &&
	 fails_with TP002 "SELECT totp.admin_modify('\''$1'\'', '\''erin'\'', E'\''a\\u0085b'\'')" ctl &&
	 fails_with TP002 "SELECT totp.admin_modify('\''$1'\'', '\''erin'\'', repeat('\''x'\'', 257))" ctl &&
	 is "SELECT comment FROM totp.admin_modify('\''$1'\'', '\''erin'\'', repeat('\''x'\'', 256))" "$(printf "%0256d" 0 | tr 0 x)" ctl' _ "$O2"
check "modify/show/delete of a missing profile: TP004" bash -c \
	'fails_with TP004 "SELECT totp.admin_modify('\''$1'\'', '\''ghost'\'', '\''x'\'')" ctl &&
	 fails_with TP004 "SELECT totp.admin_show('\''$1'\'', '\''ghost'\'')" ctl &&
	 fails_with TP004 "SELECT totp.admin_delete('\''$1'\'', '\''ghost'\'')" ctl' _ "$O2"
check "create: a bad account name or bad parameters: TP002" bash -c \
	'fails_with TP002 "SELECT totp.admin_create('\''$1'\'', '\''-x'\'')" ctl &&
	 fails_with TP002 "SELECT totp.admin_create('\''$1'\'', '\''ok'\'', '\''MD5'\'')" ctl &&
	 fails_with TP002 "SELECT totp.admin_create('\''$1'\'', '\''ok'\'', '\''SHA1'\'', 9)" ctl' _ "$O2"
check "delete: the profile is gone; its login says no_profile" bash -c \
	'pg_as ctl -c "SELECT totp.admin_delete('\''$1'\'', '\''erin'\'')" >/dev/null &&
	 is "SELECT outcome FROM totp.login_attempt('\''$1'\'', '\''erin'\'', '\''{123456}'\'')" no_profile host_a' _ "$O2"

# ------------------------------------------------------------- privileges
for t in profiles settings schema_version charges deleted; do
	check "rights: totp_login cannot SELECT totp.$t" denied host_a "SELECT * FROM totp.$t"
	check "rights: totp_admin cannot SELECT totp.$t" denied ctl "SELECT * FROM totp.$t"
done
check "rights: totp_login cannot UPDATE totp.profiles" \
	denied host_a "UPDATE totp.profiles SET last_step = -1"
check "rights: totp_login cannot call the admin functions" bash -c \
	'denied host_a "SELECT totp.admin_create('\''$1'\'', '\''mallory'\'')" &&
	 denied host_a "SELECT * FROM totp.admin_list()" &&
	 denied host_a "SELECT totp.admin_modify('\''$1'\'', '\''alice'\'', NULL, false)"' _ "$O"
check "rights: totp_admin cannot call the login functions" bash -c \
	'denied ctl "SELECT totp.login_charge(gen_random_uuid(), '\''$1'\'', '\''alice'\'', '\''{123456}'\'')" &&
	 denied ctl "SELECT totp.login_verdict(gen_random_uuid())" &&
	 denied ctl "SELECT totp.login_profile('\''$1'\'', '\''alice'\'')" &&
	 denied ctl "SELECT totp.login_begin('\''$1'\'', '\''alice'\'')" &&
	 denied stranger "SELECT totp.login_begin('\''$1'\'', '\''alice'\'')"' _ "$O"
check "rights: neither can judge a login at a time of its choosing" bash -c \
	'denied host_a "SELECT totp.login_attempt_at('\''$1'\'', '\''alice'\'', '\''{1}'\'', now())" &&
	 denied ctl "SELECT totp.login_attempt_at('\''$1'\'', '\''alice'\'', '\''{1}'\'', now())"' _ "$O"
check "rights: neither can change the policy (window, lockout)" bash -c \
	'denied host_a "SELECT totp.set_policy(10, 0, 1)" && denied ctl "SELECT totp.set_policy(10, 0, 1)" &&
	 is "SELECT window_steps, max_failures FROM totp.settings" "1|5"'
check "rights: no function of the schema is executable by PUBLIC" is "
	SELECT count(*) FROM pg_proc p
	WHERE p.pronamespace = 'totp'::regnamespace
	  AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
					   WHERE a.grantee = 0))" 0
check "rights: every function and table belongs to totp_owner, not a superuser" is "
	SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'totp'::regnamespace
		AND proowner <> 'totp_owner'::regrole)
	     + (SELECT count(*) FROM pg_class WHERE relnamespace = 'totp'::regnamespace
		AND relowner <> 'totp_owner'::regrole)" 0
check "rights: every SECURITY DEFINER function pins search_path" is "
	SELECT count(*) FROM pg_proc WHERE pronamespace = 'totp'::regnamespace AND prosecdef
	  AND NOT 'search_path=pg_catalog, pg_temp' = ANY (coalesce(proconfig, '{}'))" 0
check "rights: totp_login may call exactly schema_version, login_begin, login_profile, login_charge, login_verdict" is "
	SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc
	WHERE pronamespace = 'totp'::regnamespace
	  AND has_function_privilege('totp_login', oid, 'EXECUTE')" \
	"login_begin,login_charge,login_profile,login_verdict,schema_version"
check "rights: totp_admin may call exactly the admin functions and schema_version" is "
	SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc
	WHERE pronamespace = 'totp'::regnamespace
	  AND has_function_privilege('totp_admin', oid, 'EXECUTE')" \
	"admin_create,admin_delete,admin_import,admin_list,admin_modify,admin_show,admin_unlock,schema_version"

# ---------------------------------------------------------------- import
# imp ACCOUNT LAST_STEP SPENT_ARRAY [SECRET_HEX]: the admin imports a file
# profile (the hashes are computed here as the superuser: the function is
# the owner's)
imp() {
	local h1 h2
	h1=$(q "SELECT encode(totp.emergency_hash('\\x$SALT_HEX', '$EC1'), 'hex')")
	h2=$(q "SELECT encode(totp.emergency_hash('\\x$SALT_HEX', '$EC2'), 'hex')")
	pg_as ctl -c "SELECT totp.admin_import('$O', '$1', '\\x${4:-$KEY_HEX}', 'SHA1', 6, 30,
		'migrated', true, 1600000000, $2, 2, 0, '\\x$SALT_HEX',
		ARRAY['\\x$h1', '\\x$h2']::bytea[], '$3')" 2>&1
}
export -f imp
step_now=$(( $(db_now) / 30 ))
check "import: a profile is copied with its state" bash -c \
	'[ "$(imp frank $1 "{t,f}")" = copied ] &&
	 is "SELECT comment, last_step, failures, emergency_left, created
	     FROM totp.admin_show('\''$2'\'', '\''frank'\'')" "migrated|$1|2|1|1600000000" ctl' _ "$((step_now + 1))" "$O"
check "import: the same import again changes nothing" \
	test "$(imp frank $((step_now + 1)) "{t,f}")" = unchanged
check "import: the imported last step holds: the current code is a replay" \
	is "SELECT outcome FROM totp.login_attempt('$O', 'frank', '{$(code_now)}')" replay host_a
check "import: the imported spent code stays spent; the other one works once" bash -c \
	'is "SELECT outcome FROM totp.login_attempt('\''$1'\'', '\''frank'\'', '\''{$2}'\'')" spent host_a &&
	 is "SELECT outcome FROM totp.login_attempt('\''$1'\'', '\''frank'\'', '\''{$3}'\'')" emergency host_b' _ "$O" "$EC1" "$EC2"
check "import: run again with the older file state, nothing comes back" bash -c \
	'[ "$(imp frank -1 "{f,f}")" = unchanged ] &&
	 is "SELECT last_step, emergency_left FROM totp.admin_show('\''$2'\'', '\''frank'\'')" "$1|0" ctl' \
	_ "$((step_now + 1))" "$O"
check "import: a later file state is merged forward" bash -c \
	'[ "$(imp frank $1 "{t,t}")" = merged ] &&
	 is "SELECT last_step FROM totp.admin_show('\''$2'\'', '\''frank'\'')" "$1" ctl' _ "$((step_now + 5))" "$O"
import_conflict() {
	imp frank -1 "{f,f}" 00112233445566778899aabbccddeeff | grep -q "a different profile" &&
	is "SELECT last_step FROM totp.admin_show('$O', 'frank')" "$((step_now + 5))" ctl
}
check "import: a different secret for the same account is refused (TP009), kept" import_conflict
# a merge takes the later step and the union of the spent codes, never
# the file's older step or its spent flags alone
check "import: a merge keeps the database's later step and every code it spent" bash -c \
	'[ "$(imp gus $1 "{t,f}")" = copied ] && [ "$(imp gus -1 "{f,t}")" = merged ] &&
	 is "SELECT last_step, emergency_left FROM totp.admin_show('\''$2'\'', '\''gus'\'')" "$1|0" ctl' \
	_ "$((step_now + 5))" "$O"
# an admin deletes (a lost phone); a host migrating its old copy again
# must not bring it back, enabled, with its codes unspent
tombstone() {
	local out
	pg_as ctl -c "SELECT totp.admin_delete('$O', 'gus')" >/dev/null || return 1
	out=$(imp gus -1 "{f,f}")
	grep -q "was deleted from the database on .*: not brought back" <<<"$out" &&
		grep -q "enrol again" <<<"$out" ||
		{ echo "#   $out" | head -n 3; return 1; }
	[ "$(q "SELECT count(*) FROM totp.profiles WHERE account = 'gus'")" = 0 ] || return 1
	# nor another secret of that account from another host's store
	out=$(imp gus -1 "{f,f}" 00112233445566778899aabbccddeeff)
	grep -q "was deleted from the database" <<<"$out" || { echo "#   other secret: $out"; return 1; }
	# enrolling again is the way back; then the old copy is a conflict
	pg_as ctl -c "SELECT 1 FROM totp.admin_create('$O', 'gus')" >/dev/null &&
		imp gus -1 "{f,f}" | grep -q "a different profile"
}
check "import: a deleted profile is not brought back by an import (TP011), of any secret" tombstone
check "import: the tombstone keeps no secret, only its fingerprint" is "
	SELECT count(*) FROM totp.deleted WHERE account = 'gus' AND octet_length(fingerprint) = 32" 1

# a profile file written by lib/profile.c, imported: its emergency codes
# log in through the database, so the two hash the codes alike
import_file_profile() {
	local mkp=$MKPROFILE dir conf ini salt hashes spent
	dir=$(mktemp -d /tmp/tp-pgimp.XXXXXX)
	conf="$dir/conf"
	cat > "$conf" <<EOF
store = { path = "$dir/store"; user = "root"; };
cluster = { name = "c1"; uuid = "$O"; totp_accounts = [ "gina" ]; };
EOF
	mkdir -p "$dir/store"
	"$mkp" "$conf" "$O" gina GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ codes=24681357,13572468 \
		>/dev/null 2>&1 || { echo "#   tp_mkprofile failed"; rm -rf "$dir"; return 1; }
	ini=$(find "$dir/store" -name 'gina*' -type f | head -n 1)
	salt=$(sed -n 's/^emergency_salt = //p' <(tr -d "\"" < "$ini"))
	hashes=$(sed -n 's/^code[0-9]* = \(spent:\)\{0,1\}/\\\\x/p' <(tr -d "\"" < "$ini") | paste -sd, -)
	spent=$(sed -n 's/^code[0-9]* = //p' <(tr -d "\"" < "$ini") | sed 's/^spent:.*/t/; s/^[0-9a-f]*$/f/' | paste -sd, -)
	rm -rf "$dir"
	[ -n "$salt" ] && [ -n "$hashes" ] || { echo "#   no salt or hashes in the profile file"; return 1; }
	[ "$(pg_as ctl -c "SELECT totp.admin_import('$O', 'gina', '\\x$KEY_HEX', 'SHA1', 6, 30, '',
		true, 1, -1, 0, 0, '\\x$salt', '{$hashes}'::bytea[], '{$spent}')")" = copied ] &&
	[ "$(login host_a gina 13572468 | cut -d' ' -f1)" = emergency ] &&
	[ "$(login host_b gina 24681357 | cut -d' ' -f1)" = emergency ] &&
	[ "$(login host_c gina 24681357 | cut -d' ' -f1)" = spent ]
}
MKPROFILE=${BUILD:-build}/tests/tp_mkprofile
case "$MKPROFILE" in /*) ;; *) MKPROFILE=$PG_TOP/$MKPROFILE ;; esac
if [ -x "$MKPROFILE" ]; then
	check "import: emergency codes hashed by lib/profile.c log in through the database" \
		import_file_profile
else
	skip "import: emergency codes hashed by lib/profile.c" "build tests/helpers first (make check)"
fi

# ----------------------------------------------------------------- races
# Each host is its own psql process with its own connection and role.
# They meet at an advisory-lock barrier, so all start their calls at once.
RACE_DIR=$(mktemp -d /tmp/tp-pgrace.XXXXXX)
race() {   # race HOSTS SQLFILE...: run each file as its host, all at once
	local hosts=("$@") n=$(( $# / 2 )) i pids=()
	pg_psql -c "SELECT pg_advisory_lock(4242);
		DO \$\$ BEGIN
		  FOR i IN 1 .. 6000 LOOP
		    EXIT WHEN (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
			       AND objid = 4242 AND NOT granted) >= $n;
		    PERFORM pg_sleep(0.01);
		  END LOOP; END \$\$;
		SELECT pg_advisory_unlock(4242);" >/dev/null &
	local gate=$!
	# the gate holds its lock before a host starts (bound 10 s), and lets
	# them go once all wait at it (bound 60 s: then it opens anyway, and
	# the race is only less of one)
	gate_shut() {
		[ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted")" = 1 ]
	}
	for i in $(seq 1 200); do gate_shut && break; sleep 0.05; done
	gate_shut || echo "# race: the gate was not shut within 10 s: the hosts start one by one"
	for ((i = 0; i < n; i++)); do
		timeout 120 psql -X -q -At -h "$PG_DIR" -p "$PG_PORT" -U "${hosts[i]}" -d "$PG_DB" \
			-f "${hosts[n + i]}" > "${hosts[n + i]}.out" 2>&1 &
		pids+=($!)
	done
	wait "$gate"
	for p in "${pids[@]}"; do wait "$p"; done
}
race_script() {   # race_script FILE CALLS ACCOUNT CODE
	{
		echo "SELECT pg_advisory_lock_shared(4242); SELECT pg_advisory_unlock_shared(4242);"
		for ((j = 0; j < $2; j++)); do
			echo "SELECT outcome FROM totp.login_attempt('$O', '$3', '{$4}');"
		done
	} | two_phase > "$1"
}
tally() { cat "$@" | grep -E '^(totp|emergency|replay|spent|wrong|locked|no_profile|disabled)$' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'; }

q "SELECT totp.set_policy(1, 0, 300)" >/dev/null   # no lock: every call is judged
mk race
c=$(code_now)
for h in a b c d; do race_script "$RACE_DIR/totp_$h" 250 "race" "$c"; done
start=$(date +%s%N)
race host_a host_b host_c host_d "$RACE_DIR"/totp_{a,b,c,d}
t_totp=$(( ($(date +%s%N) - start) / 1000000 ))
r=$(tally "$RACE_DIR"/totp_?.out)
echo "# race, one TOTP code, 4 hosts x 250: $r(${t_totp} ms)"
check "race: 1,000 logins with one TOTP code from 4 hosts: exactly one accepted" \
	test "$r" = "replay=999 totp=1 "

for h in a b c d; do race_script "$RACE_DIR/ec_$h" 250 "race" "$EC3"; done
start=$(date +%s%N)
race host_a host_b host_c host_d "$RACE_DIR"/ec_{a,b,c,d}
t_ec=$(( ($(date +%s%N) - start) / 1000000 ))
r=$(tally "$RACE_DIR"/ec_?.out)
echo "# race, one emergency code, 4 hosts x 250: $r(${t_ec} ms)"
check "race: 1,000 logins with one emergency code from 4 hosts: exactly one accepted" \
	test "$r" = "emergency=1 spent=999 "

# 50 profiles contested at once: each host walks them in the same order
q "SELECT totp.admin_import('$O', 'contest' || k, '\\x$KEY_HEX', 'SHA1', 6, 30, '', true, 1,
	-1, 0, 0, '\\x$SALT_HEX', ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1')], '{f}')
	FROM generate_series(0, 49) k" >/dev/null
c=$(code_now)
for h in a b c d; do
	{
		echo "SELECT pg_advisory_lock_shared(4242); SELECT pg_advisory_unlock_shared(4242);"
		for k in $(seq 0 49); do
			echo "SELECT 'contest$k ' || outcome FROM totp.login_attempt('$O', 'contest$k', '{$c}');"
			echo "SELECT 'contest$k ' || outcome FROM totp.login_attempt('$O', 'contest$k', '{$EC1}');"
		done
	} | two_phase > "$RACE_DIR/contest_$h"
done
race host_a host_b host_c host_d "$RACE_DIR"/contest_{a,b,c,d}
contest_ok() {
	local f
	f=$(cat "$RACE_DIR"/contest_?.out | awk '
		/^contest/ { n[$1 " " $2]++ }
		END { for (k = 0; k < 50; k++) {
			p = "contest" k
			if (n[p " totp"] != 1 || n[p " emergency"] != 1 ||
			    n[p " replay"] != 3 || n[p " spent"] != 3) bad++ }
		      print bad + 0 }')
	[ "$f" = 0 ] || { echo "#   $f of 50 contested profiles did not end with one acceptance each"; return 1; }
}
check "race: 50 profiles contested by 4 hosts: one TOTP and one emergency acceptance each" contest_ok

mk counter
for h in a b c d; do race_script "$RACE_DIR/fail_$h" 250 "counter" 000000; done
race host_a host_b host_c host_d "$RACE_DIR"/fail_{a,b,c,d}
check "race: 1,000 wrong codes from 4 hosts count exactly 1,000 failures" \
	is "SELECT failures FROM totp.admin_show('$O', 'counter')" 1000 ctl
q "SELECT totp.set_policy(1, 5, 300)" >/dev/null
rm -rf "$RACE_DIR"
