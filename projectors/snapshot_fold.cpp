#include "projectors/snapshot_fold.h"

#include <variant>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/message_differencer.h>

#include "domain/affiliate_payout.h"
#include "domain/credit.h"
#include "domain/lifecycle.h"
#include "domain/loyalty.h"
#include "domain/order.h"
#include "domain/stock.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "tally/v1/order.pb.h"

namespace tally::projectors::reconcile {
namespace {

// The decoded payload as the alternative of `Variant` with its message type.
template <typename Variant, size_t I = 0>
std::optional<Variant> as_variant(google::protobuf::Message& m) {
    if constexpr (I < std::variant_size_v<Variant>) {
        using T = std::variant_alternative_t<I, Variant>;
        if (m.GetDescriptor() == T::descriptor()) return Variant(std::move(static_cast<T&>(m)));  // a swap, no copy
        return as_variant<Variant, I + 1>(m);
    } else {
        return std::nullopt;
    }
}

template <typename Variant>
std::optional<Variant> event_as(const v1::EventEnvelope& e) {
    auto m = events::decode_payload(e);
    if (!m) return std::nullopt;
    return as_variant<Variant>(*m);
}

// A message of type M kept per thread to parse into: a parse reuses the strings and
// sub-messages of the one before, so folding a million events does not allocate and free
// a million messages.
template <typename M>
M& scratch() {
    thread_local M m;
    return m;
}

std::string suffix(const std::string& stream, std::string_view prefix) { return stream.substr(prefix.size()); }

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

std::string deterministic_bytes(const google::protobuf::Message& m) {
    std::string out;
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
    coded.Trim();
    return out;
}

// A protobuf state against the cached bytes: each difference the differencer names.
template <typename Message>
void compare_messages(const Message& folded, const std::string& cached_bytes, SnapshotCheck& out) {
    // The same bytes are the same state (the write path stored this message's
    // serialization). A map field's entries may be serialized in any order, so the two
    // are compared again serialized deterministically; only when they still differ does
    // the differencer (slow) look field by field.
    if (folded.SerializeAsString() == cached_bytes) return;
    Message cached;
    if (!cached.ParseFromString(cached_bytes)) {
        out.diffs.push_back({"state", "(does not parse)", "a " + std::string(Message::descriptor()->name())});
        return;
    }
    if (deterministic_bytes(cached) == deterministic_bytes(folded)) return;
    google::protobuf::util::MessageDifferencer d;
    std::string report;
    d.ReportDifferencesToString(&report);
    if (d.Compare(cached, folded)) return;
    // One line per difference: "modified: balance_minor: 5 -> 6".
    size_t start = 0;
    while (start < report.size()) {
        size_t end = report.find('\n', start);
        if (end == std::string::npos) end = report.size();
        const std::string line = report.substr(start, end - start);
        start = end + 1;
        if (line.empty()) continue;
        SnapshotDiff diff{"state", "", ""};
        const auto colon = line.find(": ");
        const auto arrow = line.rfind(" -> ");
        if (colon != std::string::npos && arrow != std::string::npos && arrow > colon) {
            const auto name_end = line.find(": ", colon + 2);
            diff.field = line.substr(colon + 2, name_end == std::string::npos || name_end > arrow ? arrow - colon - 2
                                                                                                  : name_end - colon - 2);
            const size_t value_start = name_end == std::string::npos || name_end > arrow ? arrow : name_end + 2;
            diff.cached = line.substr(value_start, arrow - value_start);
            diff.log = line.substr(arrow + 4);
        } else {
            diff.field = "state";
            diff.cached = line;  // e.g. "added: holds[0]: ..." (the cached side lacks it) or "deleted: ..."
            diff.log = "(differs)";
        }
        out.diffs.push_back(std::move(diff));
    }
}

SnapshotCheck fold_credit(const std::string& customer, std::span<const v1::EventEnvelope> events,
                          const std::string& state) {
    SnapshotCheck out;
    credit::CreditAccount acc = credit::from_snapshot(customer, "");
    for (const auto& e : events) {
        if (e.type() == events::kCreditGranted) {
            auto& g = scratch<v1::CreditGranted>();
            if (!g.ParseFromString(e.payload())) return {};
            acc = credit::evolve(std::move(acc), g);
        } else if (e.type() == events::kCreditSpent) {
            auto& s = scratch<v1::CreditSpent>();
            if (!s.ParseFromString(e.payload())) return {};
            acc = credit::evolve(std::move(acc), s);
        } else if (e.type() == events::kCreditReturned) {
            auto& r = scratch<v1::CreditReturned>();
            if (!r.ParseFromString(e.payload())) return {};
            acc = credit::evolve(std::move(acc), r);
        } else {
            return {};
        }
    }
    out.folded = true;
    const auto cached = credit::from_snapshot(customer, state);
    if (cached.balance_minor != acc.balance_minor)
        out.diffs.push_back({"balance_minor", std::to_string(cached.balance_minor), std::to_string(acc.balance_minor)});
    if (cached.grants_count != acc.grants_count)
        out.diffs.push_back({"grants_count", std::to_string(cached.grants_count), std::to_string(acc.grants_count)});
    const std::string have = cached.currency ? std::string(cached.currency->code()) : "";
    const std::string want = acc.currency ? std::string(acc.currency->code()) : "";
    if (have != want) out.diffs.push_back({"currency", have, want});
    if (out.diffs.empty() && credit::to_snapshot(cached) != state)
        out.diffs.push_back({"state", "(bytes that do not round-trip)", "(the fold's)"});
    return out;
}

SnapshotCheck fold_order(std::span<const v1::EventEnvelope> events, const std::string& state) {
    std::optional<lifecycle::State> s;
    for (const auto& e : events) {
        if (e.type() == events::kOrderPlaced) {
            auto& placed = scratch<v1::OrderPlaced>();
            if (s || !placed.ParseFromString(e.payload())) return {};
            s = lifecycle::initial_state(placed);
        } else if (!s) {
            return {};
        } else if (e.type() == events::kOrderClaimed) {
            auto& c = scratch<v1::OrderClaimed>();
            if (!c.ParseFromString(e.payload())) return {};
            s->set_owner_customer_id(c.customer_id());
        } else if (auto ev = event_as<lifecycle::Event>(e); ev && lifecycle::type_of(*ev) == e.type()) {
            s = lifecycle::evolve(std::move(*s), *ev);
        } else {
            return {};
        }
    }
    if (!s) return {};
    SnapshotCheck out;
    out.folded = true;
    compare_messages(*s, state, out);
    return out;
}

SnapshotCheck fold_loyalty(const std::string& customer, std::span<const v1::EventEnvelope> events,
                           const std::string& state) {
    v1::LoyaltyState s;
    for (const auto& e : events) {
        auto ev = loyalty::parse(e.type(), e.payload());
        if (!ev) return {};
        s = loyalty::evolve(std::move(s), *ev);
    }
    s.set_customer_id(customer);
    SnapshotCheck out;
    out.folded = true;
    compare_messages(s, state, out);
    return out;
}

SnapshotCheck fold_stock(const std::string& sku, std::span<const v1::EventEnvelope> events, const std::string& state) {
    stock::StockLevel level = stock::from_snapshot(sku, "");
    for (const auto& e : events) {
        auto ev = event_as<stock::StockEvent>(e);
        if (!ev) return {};
        level = stock::evolve(std::move(level), *ev);
    }
    SnapshotCheck out;
    out.folded = true;
    const auto cached = stock::from_snapshot(sku, state);
    if (cached.available != level.available)
        out.diffs.push_back({"available", std::to_string(cached.available), std::to_string(level.available)});
    return out;
}

SnapshotCheck fold_payouts(std::span<const v1::EventEnvelope> events, const std::string& state) {
    affiliate::PayoutsState s;
    for (const auto& e : events) {
        auto ev = event_as<affiliate::PayoutEvent>(e);
        if (!ev || affiliate::type_of(*ev) != e.type()) return {};
        s = affiliate::evolve(std::move(s), *ev);
    }
    SnapshotCheck out;
    out.folded = true;
    compare_messages(s, state, out);
    return out;
}

}  // namespace

SnapshotCheck check_snapshot(const std::string& stream_id, std::span<const v1::EventEnvelope> events,
                             int64_t version, const std::string& last_hash, const std::string& state) {
    SnapshotCheck out;
    const int64_t want_version = events.empty() ? 0 : events.back().stream_version();
    const std::string want_hash = events.empty() ? events::genesis_hash() : events.back().hash();
    if (version != want_version) {
        out.diffs.push_back({"version", std::to_string(version), std::to_string(want_version)});
        return out;  // the state cannot be compared with a fold of a different length
    }
    if (version > 0 && last_hash != want_hash)
        out.diffs.push_back({"last_hash", events::to_hex(last_hash).substr(0, 16), events::to_hex(want_hash).substr(0, 16)});
    if (events.empty()) return out;
    SnapshotCheck folded;
    const std::string order_prefix = order::stream_id("");
    const std::string credit_prefix = credit::stream_id("");
    const std::string loyalty_prefix = loyalty::stream_id("");
    const std::string stock_prefix = stock::stream_id("");
    const std::string payouts_prefix = affiliate::payouts_stream("");
    if (starts_with(stream_id, order_prefix)) folded = fold_order(events, state);
    else if (starts_with(stream_id, credit_prefix)) folded = fold_credit(suffix(stream_id, credit_prefix), events, state);
    else if (starts_with(stream_id, loyalty_prefix)) folded = fold_loyalty(suffix(stream_id, loyalty_prefix), events, state);
    else if (starts_with(stream_id, stock_prefix)) folded = fold_stock(suffix(stream_id, stock_prefix), events, state);
    else if (starts_with(stream_id, payouts_prefix)) folded = fold_payouts(events, state);
    out.folded = folded.folded;
    for (auto& d : folded.diffs) out.diffs.push_back(std::move(d));
    return out;
}

}  // namespace tally::projectors::reconcile
