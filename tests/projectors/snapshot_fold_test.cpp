// The reconciler's fold of a stream whose events break a domain invariant: reported as
// drift naming the event, never an abort of the auditor's process (found by fuzz_envelope).
#include <gtest/gtest.h>

#include "domain/affiliate_payout.h"
#include "domain/stock.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "projectors/snapshot_fold.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/stock.pb.h"

namespace tally::projectors::reconcile {
namespace {

v1::EventEnvelope event_on(std::string_view type, const google::protobuf::Message& payload, int64_t version,
                              const std::string& prev, const std::string& stream = stock::stream_id("lamp")) {
    v1::EventEnvelope e;
    e.set_stream_id(stream);
    e.set_stream_version(version);
    e.set_position(version);
    e.set_type(std::string(type));
    e.set_schema_version(1);
    e.set_payload(payload.SerializeAsString());
    events::seal(e, prev);
    return e;
}

TEST(SnapshotFold, AnEventBreakingAnInvariantIsReportedAsDriftNotAnAbort) {
    v1::StockAdjusted in;
    in.set_sku("lamp");
    in.set_delta(2);
    in.set_available_after(2);
    v1::StockReserved out;
    out.set_sku("lamp");
    out.set_order_id("ord-1");
    out.set_quantity(5);  // more than there is: stock below zero
    out.set_available_after(-3);
    const auto first = event_on(events::kStockAdjusted, in, 1, events::genesis_hash());
    const auto second = event_on(events::kStockReserved, out, 2, first.hash());

    StreamFold fold(first.stream_id());
    fold.add(first);
    fold.add(second);
    const auto check = fold.finish(2, second.hash(), "");
    ASSERT_FALSE(check.diffs.empty());
    EXPECT_EQ(check.diffs.front().field, "invariant");
    EXPECT_NE(check.diffs.front().log.find("StockReserved at version 2"), std::string::npos) << check.diffs.front().log;
    EXPECT_NE(check.diffs.front().log.find("below zero"), std::string::npos) << check.diffs.front().log;
    EXPECT_FALSE(check.folded);
}

TEST(SnapshotFold, ASnapshotThatDoesNotParseIsDriftNotAnAbort) {
    v1::StockAdjusted in;
    in.set_sku("lamp");
    in.set_delta(2);
    in.set_available_after(2);
    const auto first = event_on(events::kStockAdjusted, in, 1, events::genesis_hash());
    const auto check = check_snapshot(first.stream_id(), std::span(&first, 1), 1, first.hash(), "\xff\xff\xff garbage");
    ASSERT_FALSE(check.diffs.empty());
    EXPECT_EQ(check.diffs.front().field, "state");
    EXPECT_NE(check.diffs.front().cached.find("corrupt stock snapshot"), std::string::npos) << check.diffs.front().cached;
}

// Found by fuzz_envelope: a payout settled that was never requested was a null dereference.
TEST(SnapshotFold, APayoutSettledButNeverRequestedIsDrift) {
    v1::AffiliatePayoutSettled settled;
    settled.set_payout_id("payout-1");
    const auto e = event_on(events::kAffiliatePayoutSettled, settled, 1, events::genesis_hash(),
                               affiliate::payouts_stream("ana"));
    const auto check = check_snapshot(e.stream_id(), std::span(&e, 1), 1, e.hash(), "");
    ASSERT_FALSE(check.diffs.empty());
    EXPECT_EQ(check.diffs.front().field, "invariant");
    EXPECT_NE(check.diffs.front().log.find("never requested"), std::string::npos) << check.diffs.front().log;
}

void reserve_more_than_there_is() {
    v1::StockReserved r;
    r.set_quantity(2);
    (void)stock::evolve(stock::StockLevel{"lamp", 1}, r);
}

TEST(SnapshotFold, OutsideAFoldABrokenInvariantStillAborts) {
    EXPECT_DEATH(reserve_more_than_there_is(), "below zero");
}

}  // namespace
}  // namespace tally::projectors::reconcile
