#include "projectors/snapshot_fold.h"

#include <variant>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/message_differencer.h>

#include "domain/affiliate_payout.h"
#include "domain/assert.h"
#include "domain/credit.h"
#include "domain/lifecycle.h"
#include "domain/loyalty.h"
#include "domain/order.h"
#include "domain/principal.h"
#include "domain/stock.h"
#include "domain/subscription.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "projectors/subscriptions_projection.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/subscription.pb.h"

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

// The comparisons at the end of each kind's fold.
void compare_credit(const std::string& customer, const credit::CreditAccount& acc, const std::string& state,
                    SnapshotCheck& out) {
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
}

void compare_stock(const std::string& sku, const stock::StockLevel& level, const std::string& state, SnapshotCheck& out) {
    const auto cached = stock::from_snapshot(sku, state);
    if (cached.available != level.available)
        out.diffs.push_back({"available", std::to_string(cached.available), std::to_string(level.available)});
}

}  // namespace

struct StreamFold::Folded {
    enum class Kind { other, credit, order, loyalty, stock, payouts, subscription, principal } kind = Kind::other;
    std::string id;  // the stream id without its kind's prefix
    std::optional<credit::CreditAccount> credit;
    std::optional<lifecycle::State> order;
    v1::LoyaltyState loyalty;
    std::optional<stock::StockLevel> stock;
    affiliate::PayoutsState payouts;
    v1::SubscriptionState subscription;
    v1::PrincipalRecord principal;
};

StreamFold::StreamFold(std::string stream_id) : stream_(std::move(stream_id)), f_(std::make_unique<Folded>()) {
    using Kind = Folded::Kind;
    const std::pair<std::string, Kind> kinds[] = {
        {order::stream_id(""), Kind::order},   {credit::stream_id(""), Kind::credit},
        {loyalty::stream_id(""), Kind::loyalty}, {stock::stream_id(""), Kind::stock},
        {affiliate::payouts_stream(""), Kind::payouts}, {subscription::stream_id(""), Kind::subscription},
        {principal::stream_id(""), Kind::principal},
    };
    for (const auto& [prefix, kind] : kinds) {
        if (!starts_with(stream_, prefix)) continue;
        f_->kind = kind;
        f_->id = suffix(stream_, prefix);
        break;
    }
    if (f_->kind == Kind::credit) f_->credit = credit::from_snapshot(f_->id, "");
    if (f_->kind == Kind::stock) f_->stock = stock::from_snapshot(f_->id, "");
}

StreamFold::~StreamFold() = default;
StreamFold::StreamFold(StreamFold&&) noexcept = default;
StreamFold& StreamFold::operator=(StreamFold&&) noexcept = default;

void StreamFold::add(const v1::EventEnvelope& e) {
    ++count_;
    last_version_ = e.stream_version();
    last_position_ = e.position();
    last_hash_ = e.hash();
    if (!ok_) return;
    // The log may be damaged: an event breaking a domain invariant is its fault, reported
    // by finish(), not a reason to abort the reconciler.
    try {
        domain::ThrowOnBrokenInvariant reporting;
        fold_one(e);
    } catch (const domain::InvariantBroken& x) {
        ok_ = false;
        broken_ = std::string(e.type()) + " at version " + std::to_string(e.stream_version()) + ": " + x.what();
    }
}

void StreamFold::fold_one(const v1::EventEnvelope& e) {
    using Kind = Folded::Kind;
    auto& f = *f_;
    switch (f.kind) {
        case Kind::other:
            return;
        case Kind::credit:
            if (e.type() == events::kCreditGranted) {
                auto& g = scratch<v1::CreditGranted>();
                if ((ok_ = g.ParseFromString(e.payload()))) f.credit = credit::evolve(std::move(*f.credit), g);
            } else if (e.type() == events::kCreditSpent) {
                auto& x = scratch<v1::CreditSpent>();
                if ((ok_ = x.ParseFromString(e.payload()))) f.credit = credit::evolve(std::move(*f.credit), x);
            } else if (e.type() == events::kCreditReturned) {
                auto& r = scratch<v1::CreditReturned>();
                if ((ok_ = r.ParseFromString(e.payload()))) f.credit = credit::evolve(std::move(*f.credit), r);
            } else if (e.type() == events::kCreditReversed) {
                auto& r = scratch<v1::CreditReversed>();
                if ((ok_ = r.ParseFromString(e.payload()))) f.credit = credit::evolve(std::move(*f.credit), r);
            } else {
                ok_ = false;
            }
            return;
        case Kind::order:
            if (e.type() == events::kOrderPlaced) {
                auto& placed = scratch<v1::OrderPlaced>();
                if ((ok_ = !f.order && placed.ParseFromString(e.payload()))) f.order = lifecycle::initial_state(placed);
            } else if (!f.order) {
                ok_ = false;
            } else if (e.type() == events::kOrderClaimed) {
                auto& c = scratch<v1::OrderClaimed>();
                if ((ok_ = c.ParseFromString(e.payload()))) f.order->set_owner_customer_id(c.customer_id());
            } else if (auto ev = event_as<lifecycle::Event>(e); ev && lifecycle::type_of(*ev) == e.type()) {
                f.order = lifecycle::evolve(std::move(*f.order), *ev);
            } else {
                ok_ = false;
            }
            return;
        case Kind::loyalty:
            if (auto ev = loyalty::parse(e.type(), e.payload())) f.loyalty = loyalty::evolve(std::move(f.loyalty), *ev);
            else ok_ = false;
            return;
        case Kind::stock:
            if (auto ev = event_as<stock::StockEvent>(e)) f.stock = stock::evolve(std::move(*f.stock), *ev);
            else ok_ = false;
            return;
        case Kind::payouts:
            if (auto ev = event_as<affiliate::PayoutEvent>(e); ev && affiliate::type_of(*ev) == e.type())
                f.payouts = affiliate::evolve(std::move(f.payouts), *ev);
            else ok_ = false;
            return;
        case Kind::subscription:
            ok_ = projectors::fold_subscription(f.subscription, e);
            return;
        case Kind::principal:
            ok_ = fold_principal(f.principal, e);
            return;
    }
}

SnapshotCheck StreamFold::finish(int64_t version, const std::string& last_hash, const std::string& state) {
    SnapshotCheck out;
    const int64_t want_version = count_ == 0 ? 0 : last_version_;
    const std::string want_hash = count_ == 0 ? events::genesis_hash() : last_hash_;
    if (version != want_version) {
        out.diffs.push_back({"version", std::to_string(version), std::to_string(want_version)});
        return out;  // the state cannot be compared with a fold of a different length
    }
    if (version > 0 && last_hash != want_hash)
        out.diffs.push_back({"last_hash", events::to_hex(last_hash).substr(0, 16), events::to_hex(want_hash).substr(0, 16)});
    if (!broken_.empty()) out.diffs.push_back({"invariant", "(the snapshot)", "the log breaks it: " + broken_});
    using Kind = Folded::Kind;
    auto& f = *f_;
    if (count_ == 0 || !ok_ || f.kind == Kind::other) return out;
    if (f.kind == Kind::order && !f.order) return out;
    out.folded = true;
    // A snapshot that does not parse is the cache's fault: drift, not an abort.
    try {
        domain::ThrowOnBrokenInvariant reporting;
        switch (f.kind) {
            case Kind::credit: compare_credit(f.id, *f.credit, state, out); break;
            case Kind::order: compare_messages(*f.order, state, out); break;
            case Kind::loyalty:
                f.loyalty.set_customer_id(f.id);
                compare_messages(f.loyalty, state, out);
                break;
            case Kind::stock: compare_stock(f.id, *f.stock, state, out); break;
            case Kind::payouts: compare_messages(f.payouts, state, out); break;
            case Kind::subscription: compare_messages(f.subscription, state, out); break;
            case Kind::principal: compare_messages(f.principal, state, out); break;
            case Kind::other: break;
        }
    } catch (const domain::InvariantBroken& x) {
        out.diffs.push_back({"state", std::string("unreadable: ") + x.what(), "(the fold of the log)"});
    }
    return out;
}

bool fold_principal(v1::PrincipalRecord& record, const v1::EventEnvelope& e) {
    if (e.type() == events::kPrincipalDefined) {
        auto& d = scratch<v1::PrincipalDefined>();
        if (!d.ParseFromString(e.payload())) return false;
        principal::evolve(record, d);
        return true;
    }
    if (e.type() == events::kPrincipalSessionsRevoked) {
        auto& r = scratch<v1::PrincipalSessionsRevoked>();
        if (!r.ParseFromString(e.payload())) return false;
        principal::evolve(record, r, e.occurred_at_unix_ms());
        return true;
    }
    return false;
}

SnapshotCheck check_snapshot(const std::string& stream_id, std::span<const v1::EventEnvelope> events,
                             int64_t version, const std::string& last_hash, const std::string& state) {
    StreamFold fold(stream_id);
    for (const auto& e : events) fold.add(e);
    return fold.finish(version, last_hash, state);
}

}  // namespace tally::projectors::reconcile
