#!/bin/bash
# totpd as an automation tool drives it: Python's standard http.client
# over the unix socket (not our curl helpers, not our parser), on 1,000
# profiles.  It pages with max_records=7 through _links.next while other
# profiles are created and deleted, and checks that no profile that was
# there all along is lost or seen twice; it filters with each of the API's
# operators and sorts on several fields, and compares every answer with
# the same query evaluated in Python over the whole list.
source "$(dirname "$0")/lib.sh"

STORE_USER=daemon
getent passwd $STORE_USER > /dev/null || { skip "totpd client" "no $STORE_USER account"; exit 0; }
PY=/usr/bin/python3
TCONF="$T/etc/totp_profile.conf"
install -d -m 0755 "$T/etc"
# this run's store (STORE_BACKEND: files or postgresql, tests/integration/lib.sh)
cat > "$TCONF" <<CONF
$(store_settings $STORE_USER)
issuer = "testhost";
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_accounts = [ "root" ]; };
svms = ( { name = "vs0"; uuid = "$SVM_UUID"; members = [ ]; } );
api = { connections_per_user = 8; request_timeout = 20; lock_wait_ms = 2000; };
CONF
chmod 0644 "$TCONF"
chown "$STORE_USER:" "$TP_STORE"
install -d -m 0755 -o "$STORE_USER" "$T/run"
SOCK="$T/run/api.sock"

# 1,000 profiles in one process: 900 in the cluster, 100 in vs0; comments
# phone-0..6 and every 11th empty; every 5th disabled
$PY - "$CLUSTER_UUID" "$SVM_UUID" "$SECRET" > "$T/batch" <<'PY'
import sys
cl, svm, secret = sys.argv[1:4]
for i in range(1000):
    owner = svm if i % 10 == 3 else cl
    comment = "" if i % 11 == 0 else "phone-%d" % (i % 7)
    f = [owner, "u%04d" % i, secret, "enabled=%d" % (i % 5 != 0)]
    if comment:
        f.append("comment=" + comment)
    print("\t".join(f))
PY
start=$SECONDS
"$MKPROFILE" --batch "$TCONF" < "$T/batch"
check "1,000 profiles written in one batch ($((SECONDS - start)) s)" test $? -eq 0

setpriv --reuid=$STORE_USER --regid="$(id -g $STORE_USER)" --clear-groups \
	"$BUILD/totpd" --config "$TCONF" --socket "$SOCK" > /dev/null 2> "$T/totpd.log" &
DPID=$!
tp_at_exit 'kill $DPID 2> /dev/null; wait $DPID 2> /dev/null'
# bound 10 s (it listens in well under 1 s); the client's first call
# would fail on a missing socket, far from the cause
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "# totpd: no socket within 10 s"; sed 's/^/#   /' "$T/totpd.log" | tail -n 5; }

cat > "$T/client.py" <<'PY'
import fnmatch, http.client, json, socket, sys, threading, time, urllib.parse

SOCK, CLUSTER, SVM = sys.argv[1], sys.argv[2], sys.argv[3]
P = "/api/security/login/totps"

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.unix_path = path
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s

def call(method, path, params=None, body=None, headers=None):
    if params:
        path += "?" + urllib.parse.urlencode(params)
    c = UnixHTTPConnection(SOCK)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data

def get(params):
    st, h, data = call("GET", P, params)
    assert st == 200, (params, st, data[:300])
    return json.loads(data)

FIELDS = "comment,enabled,scope,sha_fingerprint"
def key(r):
    return (r["owner"]["uuid"], r["account"]["name"])

def page_all(params, size=7):
    """every page through _links.next; the records in the order given"""
    out, pages = [], 0
    d = get(dict(params, max_records=size))
    while True:
        pages += 1
        assert d["num_records"] == len(d["records"]) <= size, d
        out += d["records"]
        nxt = d["_links"].get("next")
        if nxt is None:
            return out, pages
        st, h, data = call("GET", nxt["href"])
        assert st == 200, (nxt, st, data[:300])
        d = json.loads(data)

fails = []
def check(name, cond, detail=""):
    print(("ok - " if cond else "not ok - ") + name)
    if not cond and detail:
        print("#   " + str(detail)[:300])
        fails.append(name)

# the whole list, unpaged: the oracle's input
full = get({"fields": FIELDS})
recs = full["records"]
check("the whole list: 1,000 records, no next link", len(recs) == 1000 and "next" not in full["_links"],
      (len(recs), full["_links"]))

# ---- paging while profiles are created and deleted ----
stable = {key(r) for r in recs if not r["account"]["name"].startswith("u09")}
doomed = sorted(key(r) for r in recs if r["account"]["name"].startswith("u09"))
stop = threading.Event()
churn = {"created": 0, "deleted": 0, "errors": []}
def deleter():
    for owner, acct in doomed:
        if stop.is_set():
            break
        st, h, data = call("DELETE", "%s/%s/%s" % (P, owner, acct))
        if st == 200: churn["deleted"] += 1
        else: churn["errors"].append(("DELETE", st, data[:100]))
        time.sleep(0.002)
def creator():
    # a new profile between every page or so: root's own, in each owner,
    # deleted again and re-created (the only account root may create)
    while not stop.is_set():
        for owner in (CLUSTER,):
            st, h, data = call("POST", P, body=json.dumps({"owner": {"uuid": owner}}))
            if st == 201: churn["created"] += 1
            elif st != 409: churn["errors"].append(("POST", st, data[:100]))
            call("DELETE", "%s/%s/root" % (P, owner))
        time.sleep(0.005)
threads = [threading.Thread(target=deleter), threading.Thread(target=creator)]
for t in threads: t.start()
t0 = time.time()
seen, pages = page_all({"fields": FIELDS})
t1 = time.time()
seen2, pages2 = page_all({"fields": FIELDS, "order_by": "comment desc,enabled,account.name desc"})
stop.set()
for t in threads: t.join()
print("# paging: %d and %d pages in %.1f s; meanwhile %d created, %d deleted, errors %s"
      % (pages, pages2, time.time() - t0, churn["created"], churn["deleted"], churn["errors"][:3]))
check("churn ran meanwhile: profiles created and deleted through the API",
      churn["created"] > 0 and churn["deleted"] > 0 and not churn["errors"], churn)
for name, s in (("owner.uuid, account.name (the default)", seen),
                ("order_by=comment desc,enabled,account.name desc", seen2)):
    ks = [key(r) for r in s]
    check("max_records=7 by %s: no record seen twice" % name, len(ks) == len(set(ks)),
          [k for k in set(ks) if ks.count(k) > 1][:5])
    check("  every profile there all along seen once", stable <= set(ks),
          sorted(stable - set(ks))[:5])
    check("  nothing seen that never existed",
          set(ks) <= {key(r) for r in recs} | {(CLUSTER, "root")}, sorted(set(ks) - {key(r) for r in recs})[:5])

# ---- the oracle: the same queries evaluated here ----
full = get({"fields": FIELDS})["records"]
def val(r, f):
    if f == "account.name": return r["account"]["name"]
    if f == "owner.name": return r["owner"]["name"]
    if f == "owner.uuid": return r["owner"]["uuid"]
    if f == "enabled": return "true" if r["enabled"] else "false"
    return r.get(f, "")
def alt_match(f, alt, v):
    if alt == "null": return v == ""
    if alt == "!null": return v != ""
    for op in ("<=", ">=", "<", ">", "!"):
        if alt.startswith(op):
            x = alt[len(op):]
            if f == "enabled": x = x.lower()
            return {"<=": v <= x, ">=": v >= x, "<": v < x, ">": v > x,
                    "!": not fnmatch.fnmatchcase(v, x)}[op]
    if f == "enabled": alt = alt.lower()
    return fnmatch.fnmatchcase(v, alt)
def expect(filters):
    return sorted(key(r) for r in full
                  if all(any(alt_match(f, a, val(r, f)) for a in e.split("|"))
                         for f, e in filters.items()))
cases = [
    {"account.name": "u0042"},
    {"account.name": "u00*"},
    {"account.name": "u0001|u0002|u0500"},
    {"account.name": "!u00*"},
    {"account.name": "<u0010"},
    {"account.name": ">u0880"},
    {"account.name": "<=u0010"},
    {"account.name": ">=u0890"},
    {"comment": "*phone-3*"},
    {"comment": "!phone-3"},
    {"comment": "null"},
    {"comment": "!null", "enabled": "false"},
    {"enabled": "true"},
    {"enabled": "False"},
    {"enabled": "TRUE|false", "account.name": "u01*"},
    {"scope": "svm"},
    {"scope": "!svm", "comment": "phone-1|phone-2"},
    {"owner.name": "vs0|nosuch"},
    {"owner.name": "!cluster1"},
    {"owner.uuid": "!" + CLUSTER},
    {"owner.name": "vs0"},
    {"sha_fingerprint": "!null", "account.name": "u000*"},
    {"sha_fingerprint": "null"},
]
for c in cases:
    # pages of 300: paging by 7 is checked above, and each page lists
    # the whole store
    got, _ = page_all(dict(c, fields=FIELDS), 300)
    want = expect(c)
    check("filter %s: the records Python's own evaluation finds (%d)" %
          ("&".join("%s=%s" % kv for kv in c.items()), len(want)),
          sorted(key(r) for r in got) == want, (len(got), len(want)))

# ---- order_by on several fields ----
for ob in ["account.name desc", "comment,account.name desc",
           "enabled desc,comment asc,owner.name", "scope desc,sha_fingerprint"]:
    got, _ = page_all({"fields": FIELDS, "order_by": ob}, 300)
    spec = [(p.split()[0], len(p.split()) > 1 and p.split()[1] == "desc") for p in ob.split(",")]
    want = list(full)
    want.sort(key=key)                         # the tie-break: uuid, account
    for f, desc in reversed(spec):
        want.sort(key=lambda r: val(r, f), reverse=desc)
    check("order_by=%s, paged by 300: Python's stable sort of the same records" % ob,
          [key(r) for r in got] == [key(r) for r in want],
          [key(r) for r in got][:3])

# ---- what a client gets wrong ----
st, h, data = call("GET", P, {"max_records": 7, "next": "00zz"})
check("a forged next token: 400, error 2, target next",
      st == 400 and json.loads(data)["error"]["target"] == "next", (st, data[:200]))
d = get({"max_records": 3, "order_by": "comment"})
tok = urllib.parse.parse_qs(urllib.parse.urlparse(d["_links"]["next"]["href"]).query)["next"][0]
st, h, data = call("GET", P, {"max_records": 3, "order_by": "account.name", "next": tok})
check("a next token used with another order_by: 400, error 2",
      st == 400 and json.loads(data)["error"]["code"] == "2", (st, data[:200]))
st, h, data = call("GET", P, {"enabled": "maybe"})
check("enabled=maybe: 400, error 2, target enabled",
      st == 400 and json.loads(data)["error"]["target"] == "enabled", (st, data[:200]))
st, h, data = call("GET", P, {"order_by": "account.name sideways"})
check("order_by with a direction that is neither asc nor desc: 400",
      st == 400 and json.loads(data)["error"]["target"] == "order_by", (st, data[:200]))
st, h, data = call("GET", P, {"max_records": 7}, headers={"Accept": "application/json"})
d = json.loads(data)
check("Accept: application/json keeps only the next link",
      h.get("Content-Type") == "application/json" and list(d["_links"]) == ["next"]
      and all("_links" not in r and "_links" not in r["owner"] for r in d["records"]), d["_links"])
st, h, data = call("GET", P, {"return_records": "False"})
check("return_records=False (a client's boolean): the count only",
      st == 200 and "records" not in json.loads(data), (st, data[:200]))
sys.exit(1 if fails else 0)
PY

start=$SECONDS
$PY "$T/client.py" "$SOCK" "$CLUSTER_UUID" "$SVM_UUID" > "$T/client.out" 2>&1
rc=$?
cat "$T/client.out"
check "the client suite ran to its end ($((SECONDS - start)) s)" \
	eval '[ $rc -eq 0 ] || grep -q "^not ok" "$T/client.out"'
grep -q Traceback "$T/client.out" && tail -n 5 "$T/client.out" | sed 's/^/#   /'
true
