#include "events/envelope.h"

#include <gtest/gtest.h>

#include "domain/loyalty.h"
#include "events/registry.h"
#include "tally/v1/credit.pb.h"

namespace tally::events {
namespace {

std::vector<v1::EventEnvelope> chain(int n) {
    std::vector<v1::EventEnvelope> out;
    std::string prev = genesis_hash();
    for (int i = 0; i < n; ++i) {
        v1::EventEnvelope e;
        e.set_event_id(event_id_for("cmd", i));
        e.set_stream_id("credit-c1");
        e.set_stream_version(i + 1);
        e.set_type("CreditGranted");
        e.set_schema_version(1);
        e.set_occurred_at_unix_ms(1700000000000 + i);
        e.set_actor("admin");
        e.set_payload("payload-" + std::to_string(i));
        seal(e, prev);
        prev = e.hash();
        out.push_back(e);
    }
    return out;
}

}  // namespace

TEST(EventId, DeterministicAndDistinct) {
    EXPECT_EQ(event_id_for("cmd-1", 0), event_id_for("cmd-1", 0));
    EXPECT_NE(event_id_for("cmd-1", 0), event_id_for("cmd-1", 1));
    EXPECT_NE(event_id_for("cmd-1", 0), event_id_for("cmd-2", 0));
    const auto id = event_id_for("x", 0);
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[23], '-');
}

TEST(HashChain, IntactChainVerifies) { EXPECT_FALSE(verify_stream(chain(5))); }

TEST(HashChain, EditedPayloadIsDetected) {
    auto events = chain(5);
    events[2].set_payload("forged");
    auto br = verify_stream(events);
    ASSERT_TRUE(br);
    EXPECT_EQ(br->index, 2u);
    EXPECT_EQ(br->reason, "hash mismatch");
}

TEST(HashChain, EditedActorIsDetectedEvenWithARecomputedHash) {
    auto events = chain(4);
    events[1].set_actor("mallory");
    events[1].set_hash(compute_hash(events[1]));  // the forger recomputes this event's hash...
    auto br = verify_stream(events);             // ...but the next event still points at the old one
    ASSERT_TRUE(br);
    EXPECT_EQ(br->index, 2u);
    EXPECT_EQ(br->reason, "prev_hash mismatch");
}

TEST(HashChain, DroppedEventIsDetected) {
    auto events = chain(5);
    events.erase(events.begin() + 1);
    auto br = verify_stream(events);
    ASSERT_TRUE(br);
    EXPECT_EQ(br->index, 1u);
}

TEST(HashChain, PositionIsNotCovered) {
    auto events = chain(2);
    const auto h = compute_hash(events[0]);
    events[0].set_position(999);
    EXPECT_EQ(compute_hash(events[0]), h);
}

TEST(Hex, RoundTripsAndRejectsJunk) {
    const std::string bytes("\x00\x01\xfe\xff", 4);
    EXPECT_EQ(to_hex(bytes), "0001feff");
    EXPECT_EQ(from_hex("0001FEff"), bytes);
    EXPECT_FALSE(from_hex("abc"));
    EXPECT_FALSE(from_hex("zz"));
}

TEST(Registry, DecodesKnownTypesAndPostings) {
    v1::CreditGranted g;
    g.set_customer_id("c1");
    auto* p = g.mutable_postings()->add_postings();
    p->set_account("a");
    v1::EventEnvelope e;
    e.set_type(std::string(kCreditGranted));
    e.set_payload(g.SerializeAsString());
    EXPECT_TRUE(decode_payload(e));
    ASSERT_TRUE(postings_of(e));
    EXPECT_EQ(postings_of(e)->postings_size(), 1);
    EXPECT_EQ(current_schema_version(kCreditGranted), 1);
    e.set_type("SomethingElse");
    EXPECT_FALSE(decode_payload(e));
    EXPECT_FALSE(postings_of(e));
    EXPECT_EQ(current_schema_version("SomethingElse"), 0);
}

TEST(Registry, JsonShowsHashesInHexAndThePayload) {
    auto e = chain(1)[0];
    v1::CreditGranted g;
    g.set_customer_id("c1");
    e.set_payload(g.SerializeAsString());
    const auto json = envelope_to_json(e);
    EXPECT_NE(json.find("\"prev_hash\":\"0000000000000000"), std::string::npos);
    EXPECT_NE(json.find("\"customer_id\":\"c1\""), std::string::npos);
}

}  // namespace tally::events

namespace tally::events {
namespace {

// The loyalty aggregate names its events itself (domain/loyalty.h): the registry must
// know each name, decode each payload, and loyalty::parse must read each back.
TEST(Registry, KnowsEveryLoyaltyEventByTheNameTheDomainGivesIt) {
    v1::SpendRecorded spend;
    spend.set_customer_id("c1");
    spend.set_delta_minor(4500);
    v1::TierChanged tier;
    tier.set_to_tier("gold");
    v1::TierHoldOpened opened;
    opened.set_dispute_id("dp_1");
    v1::TierHoldReleased released;
    released.set_outcome("won");
    for (const loyalty::Event& event : std::vector<loyalty::Event>{spend, tier, opened, released}) {
        v1::EventEnvelope e;
        e.set_type(std::string(loyalty::type_of(event)));
        e.set_payload(loyalty::serialize(event));
        EXPECT_EQ(current_schema_version(e.type()), 1) << e.type();
        EXPECT_TRUE(decode_payload(e)) << e.type();
        auto back = loyalty::parse(e.type(), e.payload());
        ASSERT_TRUE(back) << e.type();
        EXPECT_EQ(back->index(), event.index());
        EXPECT_EQ(loyalty::serialize(*back), e.payload());
    }
    EXPECT_EQ(current_schema_version(kLoyaltyProgramDefined), 1);
    EXPECT_FALSE(loyalty::parse("CreditGranted", ""));
}

}  // namespace
}  // namespace tally::events

namespace tally::events {
namespace {

// Provider signals journalled before they carried a kind read back with the kind their
// type had; a kind already there, or a type nobody acted on, stays as it is; and
// the adapter maps each of those types to the same kind (http/stripe.cpp).
TEST(Registry, UpcastsProviderSignalsWrittenBeforeKinds) {
    const std::pair<const char*, v1::SignalKind> written[] = {
        {"payment_intent.succeeded", v1::SIGNAL_PAYMENT_SUCCEEDED}, {"payment_intent.payment_failed", v1::SIGNAL_PAYMENT_FAILED},
        {"charge.refunded", v1::SIGNAL_CHARGE_REFUNDED},           {"charge.dispute.created", v1::SIGNAL_DISPUTE_OPENED},
        {"charge.dispute.closed", v1::SIGNAL_DISPUTE_CLOSED},      {"transfer.created", v1::SIGNAL_TRANSFER_CREATED},
        {"transfer.reversed", v1::SIGNAL_TRANSFER_REVERSED},       {"customer.created", v1::SIGNAL_UNSPECIFIED}};
    for (const auto& [type, kind] : written) {
        v1::ProviderSignalDeferred old;
        old.set_order_id("o1");
        old.mutable_signal()->set_type(type);
        v1::EventEnvelope e;
        e.set_type(std::string(kProviderSignalDeferred));
        e.set_schema_version(1);
        e.set_payload(old.SerializeAsString());
        auto msg = decode_payload(e);
        ASSERT_TRUE(msg) << type;
        EXPECT_EQ(static_cast<const v1::ProviderSignalDeferred&>(*msg).signal().kind(), kind) << type;
        v1::ProviderSignal kept = old.signal();  // as a snapshot's state holds it
        upcast_signal(kept);
        EXPECT_EQ(kept.kind(), kind) << type;
    }
    v1::ProviderSignal stated;
    stated.set_type("charge.refunded");
    stated.set_kind(v1::SIGNAL_DISPUTE_OPENED);
    upcast_signal(stated);
    EXPECT_EQ(stated.kind(), v1::SIGNAL_DISPUTE_OPENED);
    // A payload without a signal decodes as before.
    v1::EventEnvelope g;
    g.set_type(std::string(kCreditGranted));
    g.set_payload(v1::CreditGranted{}.SerializeAsString());
    EXPECT_TRUE(decode_payload(g));
}

}  // namespace
}  // namespace tally::events
