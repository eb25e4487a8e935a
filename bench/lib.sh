# Shared by bench/run.sh, bench/callgrind.sh and tests/integration/bench.sh:
# the PAM services over a store that bench/gen_profiles wrote.  Source it.

# bench_ours_service DIR OWNER MODULE: DIR/tp.conf naming the store in
# DIR/store (run as the calling user), the service DIR/pam.d/ours on it
# (nodelay: a rejected login measures the module, not the fail delay
# libpam adds after it; bench/refusal_times.sh has that), and an empty
# DIR/pam.d/other
bench_ours_service() {
	local dir=$1 owner=$2 module=$3
	chmod 0755 "$dir/store"
	cat > "$dir/tp.conf" <<CONF
store = { path = "$dir/store"; user = "$(id -un)"; };
issuer = "bench";
cluster = { name = "cluster1"; uuid = "$owner"; };
CONF
	chmod 0644 "$dir/tp.conf"
	echo "auth required $module config=$dir/tp.conf nodelay" > "$dir/pam.d/ours"
	: > "$dir/pam.d/other"
}

# bench_floor_service DIR MODULE: the floor as a PAM module
# (bench/pam_floor.c) as the service DIR/pam.d/floor, with its record
# files, one per login of a run (1000), laid out as enrolment leaves a
# lock file (the caller syncs them to disk)
bench_floor_service() {
	local dir=$1 module=$2
	mkdir -p "$dir/floor"
	python3 -c 'import sys
for i in range(1000):
    open(sys.argv[1] + "/" + str(i), "wb").write(bytes(576))' "$dir/floor"
	echo "auth required $module dir=$dir/floor files=1000" > "$dir/pam.d/floor"
}
