// Stripe-Signature verification with fixed vectors (computed independently with
// `openssl dgst -sha256 -hmac`), tolerance edges, rotation and tampering.
#include "http/stripe.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "domain/lifecycle.h"
#include "events/registry.h"

namespace tally::http::stripe {
namespace {

constexpr std::string_view kBody = R"({"id":"evt_1","type":"payment_intent.succeeded"})";
constexpr std::string_view kSecret = "whsec_test_secret";
// printf '%s' '1700000000.{body}' | openssl dgst -sha256 -hmac whsec_test_secret
constexpr std::string_view kV1 = "22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31";
constexpr int64_t kT = 1700000000;

std::string header(std::string_view v1, int64_t t = kT) { return "t=" + std::to_string(t) + ",v1=" + std::string(v1); }

TEST(StripeSignature, MatchesFixedVectors) {
    EXPECT_EQ(sign_v1(kSecret, kT, kBody), kV1);
    // printf '%s' '1700000300.' | openssl dgst -sha256 -hmac whsec_other  (an empty body)
    EXPECT_EQ(sign_v1("whsec_other", 1700000300, ""), "bf8adb8eefd388b3c597e8a22ca938aa04c76e6d39cdcd05c7073c4819de27b3");
}

TEST(StripeSignature, AcceptsAValidSignatureAndReturnsItsTimestamp) {
    auto r = verify(header(kV1), kBody, {std::string(kSecret)}, kT + 10);
    ASSERT_TRUE(r.has_value()) << r.error().detail;
    EXPECT_EQ(*r, kT);
}

TEST(StripeSignature, ToleranceIs300SecondsInclusiveEitherWay) {
    const std::vector<std::string> secrets{std::string(kSecret)};
    EXPECT_TRUE(verify(header(kV1), kBody, secrets, kT + 300).has_value());
    EXPECT_TRUE(verify(header(kV1), kBody, secrets, kT - 300).has_value());
    auto old = verify(header(kV1), kBody, secrets, kT + 301);
    ASSERT_FALSE(old.has_value());
    EXPECT_EQ(old.error().code, "signature_stale");
    auto future = verify(header(kV1), kBody, secrets, kT - 301);
    ASSERT_FALSE(future.has_value());
    EXPECT_EQ(future.error().code, "signature_stale");
}

TEST(StripeSignature, RefusesATamperedBodyOrTimestamp) {
    const std::vector<std::string> secrets{std::string(kSecret)};
    std::string tampered(kBody);
    tampered[10] = 'X';
    EXPECT_EQ(verify(header(kV1), tampered, secrets, kT).error().code, "signature_mismatch");
    // The same signature under another timestamp does not match.
    EXPECT_EQ(verify(header(kV1, kT + 1), kBody, secrets, kT).error().code, "signature_mismatch");
    std::string flipped(kV1);
    flipped[0] = flipped[0] == 'a' ? 'b' : 'a';
    EXPECT_EQ(verify(header(flipped), kBody, secrets, kT).error().code, "signature_mismatch");
    EXPECT_EQ(verify(header(kV1.substr(0, 63)), kBody, secrets, kT).error().code, "signature_mismatch");
}

TEST(StripeSignature, RotationAcceptsAnyConfiguredSecretAndAnyV1Value) {
    // Two secrets configured during a rotation: a signature under either passes.
    EXPECT_TRUE(verify(header(kV1), kBody, {"whsec_new", std::string(kSecret)}, kT).has_value());
    // The provider sends one v1 per secret it holds; one matching is enough.
    const std::string both = "t=" + std::to_string(kT) + ",v1=" + sign_v1("whsec_retired", kT, kBody) + ",v1=" + std::string(kV1);
    EXPECT_TRUE(verify(both, kBody, {std::string(kSecret)}, kT).has_value());
    EXPECT_EQ(verify(header(kV1), kBody, {"whsec_new"}, kT).error().code, "signature_mismatch");
}

TEST(StripeSignature, RefusesMissingOrMalformedHeaders) {
    const std::vector<std::string> secrets{std::string(kSecret)};
    EXPECT_EQ(verify("", kBody, secrets, kT).error().code, "signature_missing");
    EXPECT_EQ(verify("v1=" + std::string(kV1), kBody, secrets, kT).error().code, "signature_malformed");
    EXPECT_EQ(verify("t=" + std::to_string(kT), kBody, secrets, kT).error().code, "signature_malformed");
    EXPECT_EQ(verify("t=12x,v1=" + std::string(kV1), kBody, secrets, kT).error().code, "signature_malformed");
    // A v0 (test-mode scheme) alone is not a v1 signature.
    EXPECT_EQ(verify("t=" + std::to_string(kT) + ",v0=" + std::string(kV1), kBody, secrets, kT).error().code,
              "signature_malformed");
}

TEST(StripeEvent, ReducesAnEventToASignalForItsOrder) {
    auto e = parse_event(R"({"id":"evt_9","type":"payment_intent.succeeded","created":1700000000,
        "data":{"object":{"id":"pi_1","amount":6500,"amount_received":6500,"currency":"usd",
        "metadata":{"order_id":"ord-1"}}}})");
    ASSERT_TRUE(e.has_value()) << e.error().detail;
    EXPECT_EQ(e->order_id, "ord-1");
    EXPECT_TRUE(e->handled);
    EXPECT_EQ(e->signal.kind(), v1::SIGNAL_PAYMENT_SUCCEEDED);
    EXPECT_EQ(e->signal.type(), "payment_intent.succeeded");  // kept as received, for the audit
    EXPECT_EQ(e->signal.amount_minor(), 6500);
    EXPECT_EQ(e->signal.currency(), "USD");
    EXPECT_EQ(e->signal.object_id(), "pi_1");
    auto t = parse_event(R"({"id":"evt_t","type":"transfer.created","data":{"object":{"id":"tr_1","amount":100,
        "currency":"usd","transfer_group":"ord-2","metadata":{"vendor_id":"v1"}}}})");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->order_id, "ord-2");
    EXPECT_EQ(t->signal.vendor_id(), "v1");
    EXPECT_EQ(t->signal.kind(), v1::SIGNAL_TRANSFER_CREATED);
    auto unknown = parse_event(R"({"id":"evt_u","type":"customer.created","data":{"object":{"id":"cus_1"}}})");
    ASSERT_TRUE(unknown.has_value());
    EXPECT_FALSE(unknown->handled);
    EXPECT_EQ(unknown->signal.kind(), v1::SIGNAL_UNSPECIFIED);
    EXPECT_FALSE(parse_event("{").has_value());
    EXPECT_FALSE(parse_event(R"({"id":"evt","type":"x"})").has_value());
    EXPECT_FALSE(parse_event(R"({"id":7,"type":"x","data":{"object":{}}})").has_value());
}

// The adapter's live mapping and the journal's upcaster (for signals written before
// kinds) agree on every type tally acts on; each kind has exactly one Stripe type.
TEST(StripeEvent, EachTypeTallyActsOnHasOneKindAndTheUpcasterAgrees) {
    std::set<int> kinds;
    for (const char* type : {"payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded",
                             "charge.dispute.created", "charge.dispute.closed", "transfer.created", "transfer.reversed"}) {
        const v1::SignalKind kind = kind_of(type);
        EXPECT_NE(kind, v1::SIGNAL_UNSPECIFIED) << type;
        EXPECT_TRUE(lifecycle::handles(kind)) << type;
        kinds.insert(kind);
        v1::ProviderSignal old;
        old.set_type(type);
        events::upcast_signal(old);
        EXPECT_EQ(old.kind(), kind) << type;
    }
    EXPECT_EQ(kinds.size(), 7u);
    EXPECT_EQ(kind_of("payment_intent.created"), v1::SIGNAL_UNSPECIFIED);
    EXPECT_FALSE(lifecycle::handles(v1::SIGNAL_UNSPECIFIED));
}

// Finding 6 of the hostile-input review: an id with NUL reached SQL and answered 500, so
// the provider would have retried it for days.
TEST(StripeEvent, HostileIdsAreRefusedNamingTheField) {
    auto event = [](const std::string& id, const std::string& object_id, const std::string& intent) {
        nlohmann::json doc = {{"id", id},
                              {"type", "charge.refunded"},
                              {"data", {{"object", {{"id", object_id}, {"payment_intent", intent}, {"currency", "usd"}}}}}};
        return parse_event(doc.dump());
    };
    EXPECT_TRUE(event("evt_1", "ch_1", "pi_1").has_value());
    for (const std::string& bad : {std::string("evt\0x", 5), std::string("evt 1"), std::string("evt\x01"),
                                  std::string(201, 'e'), std::string(""), std::string("\xc3\xa9vt")}) {
        auto e = event(bad, "ch_1", "pi_1");
        ASSERT_FALSE(e.has_value()) << bad;
        EXPECT_EQ(e.error().field, "id");
        auto o = event("evt_1", bad.empty() ? " " : bad, "pi_1");
        ASSERT_FALSE(o.has_value());
        EXPECT_EQ(o.error().field, "data.object.id");
        auto i = event("evt_1", "ch_1", bad.empty() ? "\t" : bad);
        ASSERT_FALSE(i.has_value());
        EXPECT_EQ(i.error().field, "data.object.payment_intent");
    }
    // Free text keeps its words and loses its control characters.
    auto failed = parse_event(nlohmann::json{{"id", "evt_f"}, {"type", "payment_intent.payment_failed"},
                                             {"data", {{"object", {{"id", "pi_9"},
                                                                   {"last_payment_error", {{"message", std::string("card\0declined\n", 14)}}}}}}}}
                                  .dump());
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->signal.outcome(), "card declined ");
}

}  // namespace
}  // namespace tally::http::stripe
