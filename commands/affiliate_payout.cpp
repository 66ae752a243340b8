#include "commands/affiliate_payout.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "infra/journal.h"
#include "domain/affiliate.h"
#include "domain/lifecycle.h"
#include "domain/order.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "infra/metrics.h"
#include "infra/ownership.h"

namespace tally::commands {
namespace {

using nlohmann::json;

class SetPayoutSchedule final : public Command {
public:
    explicit SetPayoutSchedule(v1::AffiliatePayoutSchedule s) : schedule_(std::move(s)) {}
    std::vector<std::string> streams() const override { return {std::string(affiliate::kScheduleStream)}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (!manages_finance(ctx))
            return Rejection{RejectionKind::forbidden, "forbidden",
                             "only admins and employees with affiliates.manage set the payout schedule"};
        if (auto fault = affiliate::validate(schedule_))
            return Rejection{RejectionKind::fix_request, fault->code, fault->detail, "", fault->field};
        const std::string stream(affiliate::kScheduleStream);
        const auto before = parse_state<v1::AffiliatePayoutSchedule>(states.at(stream).state);
        v1::AffiliatePayoutScheduleSet e;
        *e.mutable_schedule() = schedule_;
        e.mutable_schedule()->set_version(before ? before->version() + 1 : 1);
        Accepted a;
        a.events.push_back({stream, std::string(events::kAffiliatePayoutScheduleSet), 1, e.SerializeAsString()});
        a.new_states[stream] = e.schedule().SerializeAsString();
        a.reply = [s = e.schedule()](const std::vector<v1::EventEnvelope>&) {
            json t = json::object();
            for (const auto& [c, m] : s.thresholds_minor()) t[c] = m;
            return Reply{200, json{{"weekday", s.weekday()}, {"hour_utc", s.hour_utc()}, {"thresholds_minor", t},
                                   {"holding_days", s.holding_days()}, {"version", s.version()}}
                                  .dump()};
        };
        return a;
    }

private:
    v1::AffiliatePayoutSchedule schedule_;
};

class PayAffiliateCommand final : public Command {
public:
    explicit PayAffiliateCommand(PayAffiliate r) : r_(std::move(r)), account_(affiliate::payouts_stream(r_.affiliate_id)) {}
    std::vector<std::string> streams() const override {
        std::vector<std::string> s{account_};
        for (const auto& o : r_.order_ids) s.push_back(order::stream_id(o));
        return s;
    }
    std::vector<std::string> read_streams() const override {
        return {affiliate::stream_id(r_.affiliate_id), std::string(affiliate::kScheduleStream)};
    }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "system") return Rejection{RejectionKind::forbidden, "forbidden", "only the payout scheduler"};
        const auto def = parse_state<v1::AffiliateDefinition>(states.at(affiliate::stream_id(r_.affiliate_id)).state);
        if (!def) return Rejection{RejectionKind::fix_request, "unknown_affiliate", "no affiliate " + r_.affiliate_id};
        const auto schedule =
            parse_state<v1::AffiliatePayoutSchedule>(states.at(std::string(affiliate::kScheduleStream)).state);
        if (!schedule) return Rejection{RejectionKind::state_forbids, "no_payout_schedule", "no payout schedule is set"};
        const auto currency = Currency::parse(def->currency());
        if (!currency) return Rejection{RejectionKind::internal, "unknown_currency", def->currency()};
        affiliate::PayoutsState account;
        if (!states.at(account_).state.empty()) account.ParseFromString(states.at(account_).state);
        const std::string id = affiliate::payout_id(r_.affiliate_id, r_.date);
        // Each order's share, decided on its locked state (kept to evolve it once accepted).
        struct Share {
            std::string stream;
            lifecycle::State state;
            v1::AffiliateConversionPaidOut event;
        };
        std::vector<Share> shares;
        std::vector<v1::PayoutItem> items;
        for (const auto& o : r_.order_ids) {
            const std::string stream = order::stream_id(o);
            lifecycle::State st;
            if (states.at(stream).state.empty() || !st.ParseFromString(states.at(stream).state)) continue;
            auto share = lifecycle::pay_out_affiliate(st, r_.affiliate_id, id, r_.now_unix_ms, affiliate::holding_ms(*schedule));
            if (!share) continue;
            v1::PayoutItem item;
            item.set_order_id(o);
            item.set_amount_minor(share->amount().minor());
            items.push_back(item);
            shares.push_back({stream, std::move(st), std::move(*share)});
        }
        auto requested = affiliate::request_payout(account, *def, r_.date, items, affiliate::threshold_minor(*schedule, *currency));
        if (!requested) {
            const auto& why = requested.error();
            const char* code = why.reason == affiliate::PayoutRefusal::payout_exists     ? "payout_exists"
                               : why.reason == affiliate::PayoutRefusal::below_threshold ? "below_threshold"
                                                                                          : "not_payable";
            return Rejection{RejectionKind::state_forbids, code, why.detail};
        }
        Accepted a;
        for (auto& s : shares) {
            a.events.push_back({s.stream, std::string(events::kAffiliateConversionPaidOut), 1, s.event.SerializeAsString()});
            a.new_states[s.stream] = lifecycle::evolve(std::move(s.state), s.event).SerializeAsString();
        }
        const affiliate::PayoutEvent e = *requested;
        a.events.push_back({account_, std::string(affiliate::type_of(e)), 1, affiliate::serialize(e)});
        a.new_states[account_] = affiliate::evolve(account, e).SerializeAsString();
        a.reply = [p = *requested](const std::vector<v1::EventEnvelope>&) {
            return Reply{201, json{{"payout_id", p.payout_id()}, {"affiliate_id", p.affiliate_id()},
                                   {"amount_minor", p.amount().minor()}, {"currency", p.amount().currency()},
                                   {"rail", p.rail()}, {"orders", p.items_size()}}
                                  .dump()};
        };
        return a;
    }

private:
    PayAffiliate r_;
    std::string account_;
};

class AffiliatePayoutMessageCommand final : public Command {
public:
    explicit AffiliatePayoutMessageCommand(AffiliatePayoutMessage m)
        : m_(std::move(m)), account_(affiliate::payouts_stream(m_.affiliate_id)) {}
    std::vector<std::string> streams() const override { return {account_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "provider") return Rejection{RejectionKind::forbidden, "forbidden", "only payment providers"};
        affiliate::PayoutsState account;
        if (!states.at(account_).state.empty()) account.ParseFromString(states.at(account_).state);
        auto applied = affiliate::on_payout_signal(account, m_.signal);
        Accepted a;
        if (applied.event) {
            a.events.push_back({account_, std::string(affiliate::type_of(*applied.event)), 1,
                                affiliate::serialize(*applied.event)});
            a.new_states[account_] = affiliate::evolve(account, *applied.event).SerializeAsString();
        } else {
            // A repeat or a contradiction: nothing to change, and someone should know.
            metrics::global()
                .counter("tally_affiliate_payout_messages_ignored_total", "reason=\"" + applied.ignored + "\"")
                .add();
            spdlog::warn("affiliate payout {}: provider message {} ({}) ignored: {}", m_.signal.payout_id,
                         m_.signal.signal.provider_event_id(), m_.signal.signal.type(), applied.ignored);
        }
        a.reply = [applied](const std::vector<v1::EventEnvelope>&) {
            return Reply{200, json{{"applied", applied.event ? std::string(affiliate::type_of(*applied.event)) : ""},
                                   {"ignored", applied.ignored}}
                                  .dump()};
        };
        return a;
    }

private:
    AffiliatePayoutMessage m_;
    std::string account_;
};

}  // namespace

std::unique_ptr<Command> set_payout_schedule(v1::AffiliatePayoutSchedule schedule) {
    return std::make_unique<SetPayoutSchedule>(std::move(schedule));
}
std::unique_ptr<Command> pay_affiliate(PayAffiliate request) {
    return std::make_unique<PayAffiliateCommand>(std::move(request));
}
std::unique_ptr<Command> affiliate_payout_message(AffiliatePayoutMessage message) {
    return std::make_unique<AffiliatePayoutMessageCommand>(std::move(message));
}

Claims payout_scheduler_claims() { return {"system:payouts", "system", 1}; }

AffiliatePayoutScheduler::AffiliatePayoutScheduler(sql::Pool& pool, Pipeline& pipeline, PayoutSchedulerOptions options,
                                                   Clock clock)
    : OwnedJob(pool, infra::locks::kAffiliatePayouts, "affiliate payout scheduler", "schedules affiliate payouts",
               options.interval_ms),
      pool_(pool),
      pipeline_(pipeline),
      options_(options),
      clock_(std::move(clock)) {
    metrics::global().help("tally_affiliate_payouts_requested_total", "counter",
                           "Affiliate payouts the scheduler requested");
    metrics::global().help("tally_affiliate_payout_messages_ignored_total", "counter",
                           "Provider payout messages that changed nothing, by reason");
}

AffiliatePayoutScheduler::~AffiliatePayoutScheduler() { stop(); }

int AffiliatePayoutScheduler::step() {
    if (!take_ownership()) return -1;
    const int64_t now = clock_();
    std::optional<v1::AffiliatePayoutSchedule> schedule;
    std::map<std::string, std::vector<std::string>> candidates;  // affiliate -> orders, oldest first
    auto read = pool_.transact([&](sql::Tx& tx) {
        auto s = journal::read_state(tx, std::string(affiliate::kScheduleStream));
        if (!s) return;
        schedule = parse_state<v1::AffiliatePayoutSchedule>(*s);
        if (!schedule || !affiliate::payout_day(*schedule, now)) return;
        // Candidates only: the payout's command decides on the orders' locked state.
        for (const auto& row : tx.exec(
                 "SELECT c.affiliate_id, c.order_id FROM affiliate_conversions c JOIN affiliates a USING (affiliate_id)"
                 " WHERE a.status = 'active' AND c.commission_minor - c.reversed_minor - c.paid_minor > 0"
                 " AND c.open_disputes = 0 AND c.recorded_unix_ms <= $1::bigint"
                 " ORDER BY c.affiliate_id, c.recorded_unix_ms, c.order_id",
                 {std::to_string(now - affiliate::holding_ms(*schedule))})) {
            auto& orders = candidates[row.str(0)];
            if (orders.size() < options_.orders_max) orders.push_back(row.str(1));
        }
        // Money back from failed or reversed payouts is paid again, conversions or not
        // (unless a later payout took it already: the account decides exactly).
        for (const auto& row : tx.exec("SELECT DISTINCT p.affiliate_id FROM affiliate_payouts p JOIN affiliates a"
                                       " USING (affiliate_id) WHERE a.status = 'active' AND p.status IN ('failed', 'reversed')"
                                       " AND NOT EXISTS (SELECT 1 FROM affiliate_payouts q WHERE q.affiliate_id = p.affiliate_id"
                                       " AND q.payout_date > p.payout_date AND q.returned_minor > 0)"))
            candidates[row.str(0)];
    });
    if (!read) {
        spdlog::warn("affiliate payout scheduler: reading: {}", read.error().message);
        return -1;
    }
    if (!schedule) return -1;
    const auto day = affiliate::payout_day(*schedule, now);
    if (!day) return -1;
    if (*day != day_) {
        day_ = *day;
        settled_.clear();
    }
    if (candidates.empty() && day_logged_ != *day) {
        day_logged_ = *day;
        spdlog::info("affiliate payout scheduler: payday {}: no payable conversions", *day);
    }
    int requested = 0;
    for (const auto& [aff, orders] : candidates) {
        if (settled_.contains(aff)) continue;
        const std::string key = affiliate::payout_id(aff, *day);
        auto outcome = submit_and_wait(pipeline_, payout_scheduler_claims(), pay_affiliate({aff, *day, orders, now}), key,
                                       events::sha256("affiliate payout\n" + key));
        if (auto* reply = std::get_if<Reply>(&outcome)) {
            settled_.insert(aff);
            if (!reply->replayed) {
                ++requested;
                metrics::global().counter("tally_affiliate_payouts_requested_total").add();
                spdlog::info("affiliate payout {} requested: {}", key, reply->body);
            } else {
                spdlog::info("affiliate payout {} was made already", key);
            }
            continue;
        }
        const auto& rej = std::get<Rejection>(outcome);
        if (rej.kind == RejectionKind::state_forbids || rej.kind == RejectionKind::fix_request) {
            settled_.insert(aff);  // made already, below the threshold, not payable: decided for today
            spdlog::info("affiliate payout {}: {}: {}", key, rej.code, rej.detail);
        } else {
            spdlog::warn("affiliate payout {}: {}: {} (asked again next pass)", key, rej.code, rej.detail);
        }
    }
    return requested;
}

}  // namespace tally::commands
