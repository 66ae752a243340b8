#include "commands/affiliate.h"

#include <algorithm>
#include <set>

#include "domain/affiliate.h"
#include "domain/catalog.h"
#include "events/registry.h"
#include "tally/v1/customer.pb.h"

namespace tally::commands {
namespace {

class DefineAffiliate final : public Command {
public:
    DefineAffiliate(v1::AffiliateDefinition def, std::vector<std::string> held)
        : def_(std::move(def)), stream_(affiliate::stream_id(def_.affiliate_id())) {
        for (auto& code : *def_.mutable_referral_codes()) code = affiliate::normal_code(code);
        std::set<std::string> codes(def_.referral_codes().begin(), def_.referral_codes().end());
        for (const auto& code : held) codes.insert(affiliate::normal_code(code));
        streams_.push_back(stream_);
        for (const auto& code : codes) streams_.push_back(affiliate::code_stream(code));
    }
    std::vector<std::string> streams() const override { return streams_; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "admin" && !(ctx.role == "employee" && has_permission(ctx.permissions, "affiliates", "manage")))
            return Rejection{RejectionKind::forbidden, "forbidden", "only admins and employees with affiliates.manage define affiliates"};
        if (auto fault = affiliate::validate(def_))
            return Rejection{RejectionKind::fix_request, fault->code, fault->detail, "", fault->field};
        const auto before = parse_state<v1::AffiliateDefinition>(states.at(stream_).state);
        // Earnings and payouts are in one currency for good.
        if (before && before->currency() != def_.currency())
            return Rejection{RejectionKind::state_forbids, "currency_must_not_change",
                             "affiliate " + def_.affiliate_id() + " earns in " + before->currency(), "", "currency"};
        Accepted a;
        v1::AffiliateDefined defined;
        *defined.mutable_affiliate() = def_;
        a.events.push_back({stream_, std::string(events::kAffiliateDefined), 1, defined.SerializeAsString()});
        a.new_states[stream_] = def_.SerializeAsString();
        std::set<std::string> now(def_.referral_codes().begin(), def_.referral_codes().end());
        auto assign = [&](const std::string& code, const std::string& to) {
            const std::string sid = affiliate::code_stream(code);
            v1::ReferralCodeAssigned e;
            e.set_code(code);
            e.set_affiliate_id(to);
            v1::ReferralCodeState st;
            st.set_code(code);
            st.set_affiliate_id(to);
            a.events.push_back({sid, std::string(events::kReferralCodeAssigned), 1, e.SerializeAsString()});
            a.new_states[sid] = st.SerializeAsString();
        };
        for (int i = 0; i < def_.referral_codes_size(); ++i) {
            const std::string& code = def_.referral_codes(i);
            auto held = parse_state<v1::ReferralCodeState>(states.at(affiliate::code_stream(code)).state);
            const std::string holder = held ? held->affiliate_id() : "";
            if (!holder.empty() && holder != def_.affiliate_id())
                return Rejection{RejectionKind::state_forbids, "code_taken", "referral code " + code + " belongs to another affiliate",
                                 "", "referral_codes[" + std::to_string(i) + "]"};
            if (holder.empty()) assign(code, def_.affiliate_id());
        }
        if (before)
            for (const auto& code : before->referral_codes()) {
                if (now.contains(code)) continue;
                if (!states.contains(affiliate::code_stream(code)))
                    return Rejection{RejectionKind::retry_later, "definition_changed", "the affiliate changed meanwhile; retry"};
                assign(code, "");  // given up
            }
        a.reply = [def = def_](const std::vector<v1::EventEnvelope>& written) {
            nlohmann::json codes = nlohmann::json::array();
            for (const auto& c : def.referral_codes()) codes.push_back(c);
            return Reply{200, nlohmann::json{{"affiliate_id", def.affiliate_id()}, {"status", def.status()},
                                             {"currency", def.currency()}, {"commission_bps", def.commission_bps()},
                                             {"referral_codes", codes}, {"position", written.front().position()}}
                                  .dump()};
        };
        return a;
    }

private:
    v1::AffiliateDefinition def_;
    std::string stream_;
    std::vector<std::string> streams_;
};

class RecordReferralVisit final : public Command {
public:
    explicit RecordReferralVisit(ReferralVisit v)
        : v_(std::move(v)), stream_(catalog::customer_stream(v_.customer_id)), code_stream_(affiliate::code_stream(v_.code)) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    std::vector<std::string> read_streams() const override { return {code_stream_, affiliate::stream_id(v_.affiliate_id)}; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "customer" || ctx.actor != v_.customer_id)
            return Rejection{RejectionKind::forbidden, "forbidden", "a visit is recorded for the signed-in customer only"};
        auto code = parse_state<v1::ReferralCodeState>(states.at(code_stream_).state);
        if (!code || code->affiliate_id() != v_.affiliate_id)
            return Rejection{RejectionKind::retry_later, "code_changed", "the referral code changed meanwhile; retry"};
        auto def = parse_state<v1::AffiliateDefinition>(states.at(affiliate::stream_id(v_.affiliate_id)).state);
        if (!def || def->status() != affiliate::kActive)
            return Rejection{RejectionKind::retry_later, "code_changed", "the referral code changed meanwhile; retry"};
        auto profile = parse_state<v1::CustomerProfile>(states.at(stream_).state).value_or(v1::CustomerProfile{});
        profile.set_customer_id(v_.customer_id);
        v1::ReferralMark mark;
        mark.set_affiliate_id(v_.affiliate_id);
        mark.set_code(code->code());
        mark.set_at_unix_ms(ctx.now_unix_ms);
        v1::ReferralVisitRecorded e;
        e.set_customer_id(v_.customer_id);
        e.set_affiliate_id(v_.affiliate_id);
        e.set_code(code->code());
        e.set_at_unix_ms(ctx.now_unix_ms);
        if (profile.referred_by().affiliate_id().empty()) {
            *profile.mutable_referred_by() = mark;
            e.set_stored_on_profile(true);
        }
        *profile.mutable_latest_referral() = mark;
        Accepted a;
        a.events.push_back({stream_, std::string(events::kReferralVisitRecorded), 1, e.SerializeAsString()});
        a.new_states[stream_] = profile.SerializeAsString();
        a.reply = [out = v_.sign(v_.affiliate_id), stored = e.stored_on_profile()](const std::vector<v1::EventEnvelope>&) mutable {
            out["recorded"] = true;
            out["stored_on_profile"] = stored;
            return Reply{200, out.dump()};
        };
        return a;
    }

private:
    ReferralVisit v_;
    std::string stream_;
    std::string code_stream_;
};

}  // namespace

std::unique_ptr<Command> define_affiliate(v1::AffiliateDefinition def, std::vector<std::string> held_codes) {
    return std::make_unique<DefineAffiliate>(std::move(def), std::move(held_codes));
}

std::unique_ptr<Command> record_referral_visit(ReferralVisit visit) {
    return std::make_unique<RecordReferralVisit>(std::move(visit));
}

}  // namespace tally::commands
