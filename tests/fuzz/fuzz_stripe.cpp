// Fuzz target: Stripe webhooks in (http/stripe.h): the Stripe-Signature header check and
// the event reduced to a provider signal. The input holds a header and a body.
// Properties, on every input:
//  - verification never accepts a header that carries no valid signature of this body
//    under one of the secrets; the timestamp it returns is the one signed, and fresh;
//  - a body signed properly (by sign_v1) always verifies, also after the fuzzed header's
//    signatures, and with a rotated-out secret listed second;
//  - an error names one of the documented codes;
//  - parsing an event is deterministic, and every id it keeps is printable ASCII without
//    spaces, 1-200 bytes.

#include <fuzzer/FuzzedDataProvider.h>

#include <set>
#include <string>
#include <vector>

#include "http/stripe.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr int64_t kNow = 1'800'000'000;
const std::vector<std::string> kSecrets = {"whsec_fuzz_current", "whsec_fuzz_previous"};

bool clean_id(const std::string& id, bool may_be_empty) {
    if (id.empty()) return may_be_empty;
    if (id.size() > 200) return false;
    for (unsigned char c : id)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    const std::string header = in.ConsumeRandomLengthString(512);
    const int64_t skew = in.ConsumeIntegralInRange<int64_t>(-1000, 1000);
    const std::string body = in.ConsumeRemainingBytesAsString();

    namespace stripe = tally::http::stripe;
    static const std::set<std::string> codes = {"signature_missing", "signature_malformed", "signature_stale",
                                                "signature_mismatch"};
    auto v = stripe::verify(header, body, kSecrets, kNow);
    if (v) {
        // Accepted: the header must hold, for the timestamp returned, the signature of this
        // body under one of the secrets, and the timestamp is fresh.
        TALLY_FUZZ_CHECK(*v >= kNow - stripe::kToleranceSeconds && *v <= kNow + stripe::kToleranceSeconds);
        bool signed_here = false;
        for (const auto& s : kSecrets)
            signed_here |= header.find("v1=" + stripe::sign_v1(s, *v, body)) != std::string::npos;
        TALLY_FUZZ_CHECK(signed_here);
    } else {
        TALLY_FUZZ_CHECK(codes.contains(v.error().code));
    }

    // A proper signature verifies, whoever signed with which of the secrets.
    const int64_t t = kNow + skew;
    for (const auto& s : kSecrets) {
        const std::string good = "t=" + std::to_string(t) + ",v1=" + stripe::sign_v1(s, t, body);
        auto ok = stripe::verify(good, body, kSecrets, kNow);
        const bool fresh = skew >= -stripe::kToleranceSeconds && skew <= stripe::kToleranceSeconds;
        TALLY_FUZZ_CHECK(ok.has_value() == fresh);
        if (ok) TALLY_FUZZ_CHECK(*ok == t);
        // ...and not under a secret nobody holds.
        const std::string forged = "t=" + std::to_string(t) + ",v1=" + stripe::sign_v1("whsec_other", t, body);
        TALLY_FUZZ_CHECK(!stripe::verify(forged, body, kSecrets, kNow));
    }

    auto a = stripe::parse_event(body);
    auto b = stripe::parse_event(body);
    TALLY_FUZZ_CHECK(a.has_value() == b.has_value());
    if (a) {
        TALLY_FUZZ_CHECK(a->signal.SerializeAsString() == b->signal.SerializeAsString() && a->order_id == b->order_id);
        TALLY_FUZZ_CHECK(clean_id(a->signal.provider_event_id(), false));
        TALLY_FUZZ_CHECK(clean_id(a->signal.object_id(), true));
        TALLY_FUZZ_CHECK(clean_id(a->signal.payment_intent_id(), true));
        TALLY_FUZZ_CHECK(clean_id(a->signal.vendor_id(), true));
        TALLY_FUZZ_CHECK(clean_id(a->order_id, true));
    } else {
        TALLY_FUZZ_CHECK(!a.error().detail.empty());
    }
    return 0;
}
