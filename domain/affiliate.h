#pragma once
// Affiliates (DOMAIN.md, Affiliates): definitions staff keep (stream "affiliate-{id}"),
// referral codes each held by one affiliate (stream "referral-code-{code}"), and the
// attribution chain checkout decides with: first match wins among the affiliate's own
// coupon used in the order, the attribution stored on the customer's profile, the most
// recent referral visit (while recent), and the signed referral cookie. A source naming
// an affiliate that is unknown, suspended or paid in another currency is passed over.
// When the winner is the buyer, the order records "self_referral_blocked" and earns
// nothing. Pure.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/v1/affiliate.pb.h"
#include "tally/v1/customer.pb.h"

namespace tally::affiliate {

inline constexpr std::string_view kActive = "active";
inline constexpr std::string_view kSuspended = "suspended";
inline constexpr std::string_view kAttributed = "attributed";
inline constexpr std::string_view kSelfReferralBlocked = "self_referral_blocked";
inline constexpr size_t kCodesMax = 20;

std::string stream_id(std::string_view affiliate_id);
std::string code_stream(std::string_view code);

// A definition's first fault, naming the field; nothing when it is sound.
struct Fault {
    std::string code;    // e.g. "invalid_value", "unknown_currency"
    std::string field;   // e.g. "commission_bps", "referral_codes[1]"
    std::string detail;
};
std::optional<Fault> validate(const v1::AffiliateDefinition& def);

// Referral codes: 3-40 of [A-Za-z0-9_-], case-insensitive (kept upper case).
bool valid_code(std::string_view code);
std::string normal_code(std::string_view code);

// What a verified referral cookie says (the signature is checked at the edge).
struct CookieClaim {
    std::string affiliate_id;
    int64_t expires_at_unix_s = 0;
};

struct Sources {
    // The order's applied coupons that name an affiliate, in the order they applied.
    std::vector<std::pair<std::string, std::string>> coupons;  // (code, affiliate id)
    std::optional<v1::ReferralMark> profile;                   // stored on the profile
    std::optional<v1::ReferralMark> latest;                    // the most recent visit
    std::optional<CookieClaim> cookie;                         // verified; expiry checked here
};

struct Context {
    std::string buyer;            // the customer id (an affiliate buying: its own id)
    std::string currency;         // the order's
    int64_t now_unix_ms = 0;
    int64_t recent_ms = 0;        // how long the latest visit attributes
    int64_t base_minor = 0;       // goods after discounts, without shipping and fees
};

// The affiliate's definition, or nothing when it is not defined.
using Lookup = std::function<std::optional<v1::AffiliateDefinition>(const std::string& affiliate_id)>;

// Every affiliate id the sources name (for reading their definitions with the batch).
std::vector<std::string> named(const Sources& sources);

// The order's attribution; nothing when no source names an eligible affiliate.
std::optional<v1::Attribution> attribute(const Sources& sources, const Lookup& lookup, const Context& ctx);

// The commission on `base_minor` at `bps` (rounded down).
int64_t commission(int64_t base_minor, uint32_t bps);

// Of `commission_minor`, what is taken back once `goods_back` of `goods_total` has been
// given back (cumulative, rounded down; all of it once everything is back).
int64_t reversed_at(int64_t commission_minor, int64_t goods_total, int64_t goods_back);

}  // namespace tally::affiliate
