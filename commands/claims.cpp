#include "commands/claims.h"

#include <nlohmann/json.hpp>

#include "domain/order.h"
#include "events/registry.h"
#include "tally/v1/order.pb.h"

namespace tally::commands {
namespace {

class ClaimGuest final : public Command {
public:
    explicit ClaimGuest(GuestClaim claim) : claim_(std::move(claim)) {
        streams_.push_back(order::guest_stream(claim_.guest_id));
        for (const auto& id : claim_.order_ids) streams_.push_back(order::stream_id(id));
    }
    std::vector<std::string> streams() const override { return streams_; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "admin") return Rejection{RejectionKind::forbidden, "forbidden", "only admins claim guest orders"};
        const auto& guest = states.at(streams_.front());
        auto gs = parse_state<v1::GuestState>(guest.state);
        if (guest.version == 0 || !gs)
            return Rejection{RejectionKind::fix_request, "unknown_guest", "no guest " + claim_.guest_id + " has checked out",
                             "", "guest_customer_id"};
        const auto unclaimed = unclaimed_orders(guest.state);
        if (unclaimed.empty())
            return Rejection{RejectionKind::state_forbids, "nothing_to_claim",
                             "every order of guest " + claim_.guest_id + " is claimed already"};
        if (unclaimed != claim_.order_ids)
            return Rejection{RejectionKind::retry_later, "guest_changed", "the guest's orders changed; retry"};

        Accepted a;
        v1::GuestClaimed claimed;
        claimed.set_guest_id(claim_.guest_id);
        claimed.set_customer_id(claim_.customer_id);
        claimed.set_claimed_by(ctx.actor);
        for (const auto& id : unclaimed) claimed.add_order_ids(id);
        for (auto& o : *gs->mutable_orders())
            if (o.claimed_by().empty()) o.set_claimed_by(claim_.customer_id);
        a.events.push_back({streams_.front(), std::string(events::kGuestClaimed), 1, claimed.SerializeAsString()});
        a.new_states[streams_.front()] = gs->SerializeAsString();
        for (const auto& id : unclaimed) {
            const std::string stream = order::stream_id(id);
            auto state = parse_state<v1::OrderState>(states.at(stream).state);
            if (!state) return Rejection{RejectionKind::internal, "corrupt_state", "order " + id + " does not parse"};
            state->set_owner_customer_id(claim_.customer_id);
            v1::OrderClaimed e;
            e.set_order_id(id);
            e.set_guest_id(claim_.guest_id);
            e.set_customer_id(claim_.customer_id);
            a.events.push_back({stream, std::string(events::kOrderClaimed), 1, e.SerializeAsString()});
            a.new_states[stream] = state->SerializeAsString();
        }
        a.reply = [claim = claim_](const std::vector<v1::EventEnvelope>& written) {
            return Reply{200, nlohmann::json{{"guest_customer_id", claim.guest_id},
                                             {"customer_id", claim.customer_id},
                                             {"order_ids", claim.order_ids},
                                             {"position", written.front().position()}}
                                  .dump()};
        };
        return a;
    }

private:
    GuestClaim claim_;
    std::vector<std::string> streams_;
};

}  // namespace

std::vector<std::string> unclaimed_orders(std::string_view guest_state) {
    std::vector<std::string> out;
    if (auto gs = parse_state<v1::GuestState>(guest_state))
        for (const auto& o : gs->orders())
            if (o.claimed_by().empty()) out.push_back(o.order_id());
    return out;
}

std::unique_ptr<Command> claim_guest(GuestClaim claim) { return std::make_unique<ClaimGuest>(std::move(claim)); }

}  // namespace tally::commands
