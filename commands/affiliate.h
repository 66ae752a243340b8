#pragma once
// Affiliate commands: staff define affiliates (rate, currency, status, payout rail,
// referral codes, each code held by one affiliate at a time), and a signed-in customer's
// referral visit is recorded on their profile stream.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands/pipeline.h"
#include "tally/v1/affiliate.pb.h"

namespace tally::commands {

// `held_codes`: the codes the affiliate held when the route read its definition (they are
// locked too, to be given up); the batch refuses to go on if they changed meanwhile.
std::unique_ptr<Command> define_affiliate(v1::AffiliateDefinition def, std::vector<std::string> held_codes);

// The visit of `customer_id` by `code`; `affiliate_id` is whom the code named when the
// route read it. The reply carries the cookie `sign` makes for the affiliate.
struct ReferralVisit {
    std::string customer_id;
    std::string code;
    std::string affiliate_id;
    std::function<nlohmann::json(const std::string& affiliate_id)> sign;
};
std::unique_ptr<Command> record_referral_visit(ReferralVisit visit);

}  // namespace tally::commands
