#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ (checked in).

  tests/fuzz/make_seeds.py                  # every target but envelope's journal seeds
  tests/fuzz/make_seeds.py PG_URL           # and envelopes from that database's journal

Seeds are ordinary, valid inputs: the fuzzer's mutations start from them, so they reach
deep paths (a token that verifies, an event of every type) sooner than random bytes.
The layouts follow each target's comment (tests/fuzz/fuzz_*.cpp).
"""
import base64, hashlib, hmac, json, os, random, subprocess, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
NOW = 1_800_000_000


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# fuzz_json_input: byte 0 picks the DTO (the order of dtos() in the target), then the body.
DTOS = ["AffiliateDefinition", "AffiliatePayoutSchedule", "CancelRequest", "CartRequest", "CatalogSettings",
        "CouponDefinition", "CustomerProfile", "FulfilmentRequest", "GuestClaimRequest", "GuestRequest",
        "LoyaltyProgram", "OperatorActRequest", "PayoutRequest", "PrincipalRequest", "ProductDefinition",
        "RefundRequest", "RevokeRequest", "VendorDefinition"]
BODIES = {
    "CartRequest": {"currency": "USD", "ship_to_country": "US", "coupon_codes": ["FEW"],
                    "lines": [{"sku": "lamp", "quantity": 2, "options": {"material": "coated"}}],
                    "expected_total_minor": 8500},
    "ProductDefinition": {"vendor_id": "ana", "country_of_origin": "DK", "base_minor": 4000,
                          "bulk_tiers": [{"min_quantity": 10, "unit_minor": 3500}],
                          "matrix": [{"material": "coated", "breaks": [{"min_quantity": 1, "unit_minor": 100}]}],
                          "variant_overrides": [{"variant_id": "red", "unit_minor": 4200}], "commission_bps": 1200},
    "VendorDefinition": {"currency": "USD", "commission_bps": 1000, "payout_account": "acct_ana",
                         "shipping": {"flat_minor": 500, "per_country_minor": {"CA": 900}, "free_over_minor": 10000},
                         "ships_to": ["US", "CA"]},
    "CouponDefinition": {"kind": "FIXED", "fixed_minor": 300, "scope": "SITE", "uses_max_total": 6, "exclusive": False,
                         "priority": 1, "funded_by_vendor": ""},
    "CatalogSettings": {"site_commission_bps": 800, "service_fee": {"percent_bps": 100, "fixed_minor": 30},
                        "bundles": [{"bundle_id": "b", "skus": ["a", "b"], "percent_bps": 500}]},
    "RefundRequest": {"amount_minor": 1000, "destination": "card", "reason": "damaged"},
    "LoyaltyProgram": {"tiers": [{"name": "bronze", "threshold_minor": 0, "discount_bps": 0}]},
    "PrincipalRequest": {"role": "employee", "permissions": ["catalog.manage"]},
    "OperatorActRequest": {"reason": "the provider is back"},
    "GuestRequest": {"email": "a@example.com", "cart": {"currency": "USD", "lines": [{"sku": "lamp", "quantity": 1}]}},
}
for i, name in enumerate(DTOS):
    write("json_input", f"dto-{name}", bytes([i]) + json.dumps(BODIES.get(name, {})).encode())
    write("json_input", f"dto-{name}-bad", bytes([i]) + b'{"unknown_field": [1, 2.5, null, "\\u00e9"]}')
SHAPES = [{"amount_minor": 500, "currency": "USD", "reason": "goodwill"},
          {"grant_max_minor": 100000, "balance_max_minor": 500000, "reason": "policy"},
          {"delta": -3, "reason": "damaged"}, {"ref": "ANA10"}]
for i, body in enumerate(SHAPES):
    write("json_input", f"shape-{i}", bytes([len(DTOS) + i]) + json.dumps(body).encode())
for i, doc in enumerate(['{"a":{"b":[1,-2,3.5e10,true,false,null,"x\\n\\ud83d\\ude00"]}}', '[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]',
                         '{"a":1,"a":2}', '"\\ud800"', '{"k": 9223372036854775808}']):
    write("json_input", f"document-{i}", bytes([len(DTOS) + 4]) + doc.encode())


# fuzz_jwt: byte 0 picks the mode; the ring's keys are k1:fuzz-secret-current, k0:fuzz-secret-previous.
def hs256(kid, secret, claims):
    signing = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "." + \
        b64url(json.dumps(claims).encode())
    return signing + "." + b64url(hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest())


claims = {"sub": "admin-1", "role": "admin", "sv": 1, "iat": NOW - 60, "exp": NOW + 3600}
write("jwt", "own-valid", b"\x00" + hs256("k1", "fuzz-secret-current", claims).encode())
write("jwt", "own-previous-key", b"\x00" + hs256("k0", "fuzz-secret-previous", dict(claims, nbf=NOW - 1)).encode())
write("jwt", "own-expired", b"\x00" + hs256("k1", "fuzz-secret-current", dict(claims, exp=NOW - 1)).encode())
write("jwt", "own-unknown-role", b"\x00" + hs256("k1", "fuzz-secret-current", dict(claims, role="root")).encode())
signed = "r1." + b64url(json.dumps({"aff": "ana", "iat": NOW - 10, "exp": NOW + 86400}).encode()) + ".k1"
write("jwt", "referral", b"\x01" + (signed + "." + b64url(hmac.new(b"fuzz-secret-current", signed.encode(),
                                                                   hashlib.sha256).digest())).encode())
header = b64url(json.dumps({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}).encode())
body = b64url(json.dumps({"iss": "https://idp.test/", "aud": "tally", "sub": "c1", "iat": NOW, "exp": NOW + 60}).encode())
write("jwt", "idp-rs256", b"\x02" + f"{header}.{body}.{b64url(bytes(256))}".encode())
header = b64url(json.dumps({"alg": "ES256", "kid": "ec-1"}).encode())
write("jwt", "idp-es256", b"\x02" + f"{header}.{body}.{b64url(bytes(64))}".encode())
write("jwt", "jwks", b"\x03" + json.dumps({"keys": [
    {"kty": "EC", "crv": "P-256", "kid": "e", "use": "sig", "alg": "ES256", "x": b64url(bytes(32)), "y": b64url(bytes(32))},
    {"kty": "RSA", "kid": "r", "n": b64url(b"\xc5" * 256), "e": "AQAB"}]}).encode())
rng = random.Random(17)
for i in range(4):
    write("jwt", f"minted-{i}", b"\x04" + bytes(rng.randrange(256) for _ in range(64)))


# fuzz_stripe: the header (FuzzedDataProvider's random-length string, ended by a lone
# backslash), the body, and at the end the bytes of the timestamp skew.
def stripe_seed(name, event):
    body = json.dumps(event).encode()
    t = NOW
    sig = hmac.new(b"whsec_fuzz_current", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={t},v1={sig},v0=ignored".encode()
    write("stripe", name, header + b"\\x" + body + b"\x00\x00")


obj = {"id": "pi_1", "object": "payment_intent", "amount": 8500, "currency": "usd", "metadata": {"order_id": "ord-1"},
       "latest_charge": "ch_1"}
stripe_seed("intent-succeeded", {"id": "evt_1", "type": "payment_intent.succeeded", "created": NOW, "data": {"object": obj}})
stripe_seed("intent-failed", {"id": "evt_2", "type": "payment_intent.payment_failed", "created": NOW,
                              "data": {"object": dict(obj, last_payment_error={"message": "card declined"})}})
stripe_seed("charge-refunded", {"id": "evt_3", "type": "charge.refunded", "created": NOW, "data": {"object": {
    "id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount_refunded": 1000, "currency": "usd",
    "refunds": {"data": [{"id": "re_1", "amount": 1000}]}}}})
stripe_seed("dispute-created", {"id": "evt_4", "type": "charge.dispute.created", "created": NOW, "data": {"object": {
    "id": "dp_1", "charge": "ch_1", "payment_intent": "pi_1", "amount": 8500, "currency": "usd", "status": "needs_response"}}})
stripe_seed("transfer-reversed", {"id": "evt_5", "type": "transfer.reversed", "created": NOW, "data": {"object": {
    "id": "tr_1", "amount": 7000, "currency": "usd", "transfer_group": "ord-1", "metadata": {"vendor_id": "ana"}}}})


# fuzz_pricing: FuzzedDataProvider bytes; random ones of several lengths.
for i, n in enumerate([16, 64, 128, 256, 512, 1024]):
    write("pricing", f"random-{i}", bytes(rng.randrange(256) for _ in range(n)))


# fuzz_envelope: byte 0 below 128, then a serialized EventEnvelope (the broker's message).
def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    value = value if isinstance(value, bytes) else value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


if len(sys.argv) > 1:
    q = ("SELECT DISTINCT ON (type) event_id, stream_id, stream_version, position, type, schema_version, "
         "occurred_at_unix_ms, causation_id, correlation_id, actor, encode(payload, 'hex'), encode(prev_hash, 'hex'), "
         "encode(hash, 'hex') FROM journal ORDER BY type, position DESC")
    rows = subprocess.run(["psql", sys.argv[1], "-At", "-F", "\t", "-c", q], check=True, capture_output=True,
                          text=True).stdout.splitlines()
    for r in rows:
        c = r.split("\t")
        env = b"".join([field(1, c[0]), field(2, c[1]), field(3, int(c[2])), field(4, int(c[3])), field(5, c[4]),
                        field(6, int(c[5])), field(7, int(c[6])), field(8, c[7]), field(9, c[8]), field(10, c[9]),
                        field(11, bytes.fromhex(c[10])), field(12, bytes.fromhex(c[11])), field(13, bytes.fromhex(c[12]))])
        write("envelope", "journal-" + c[4], b"\x00" + env)
    print(f"{len(rows)} envelope types from the journal")
write("envelope", "empty-raw", b"\x00")
