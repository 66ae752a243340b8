#include "domain/affiliate.h"

#include <algorithm>
#include <set>

#include "domain/ids.h"
#include "domain/money.h"

namespace tally::affiliate {
namespace {

bool valid_email(std::string_view e) {
    const size_t at = e.find('@');
    if (e.size() < 3 || e.size() > 254 || at == 0 || at == std::string_view::npos || at + 1 >= e.size() ||
        e.find('@', at + 1) != std::string_view::npos || e.find('.', at) == std::string_view::npos)
        return false;
    for (unsigned char c : e)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

}  // namespace

std::string stream_id(std::string_view affiliate_id) { return "affiliate-" + std::string(affiliate_id); }
std::string code_stream(std::string_view code) { return "referral-code-" + normal_code(code); }

bool valid_code(std::string_view code) {
    if (code.size() < 3 || code.size() > 40) return false;
    return std::all_of(code.begin(), code.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

std::string normal_code(std::string_view code) {
    std::string out(code);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

std::optional<Fault> validate(const v1::AffiliateDefinition& def) {
    if (!valid_id(def.affiliate_id()))
        return Fault{"invalid_value", "affiliate_id", "affiliate id must be 1-64 of [A-Za-z0-9._-]"};
    if (def.commission_bps() > 10000)
        return Fault{"invalid_value", "commission_bps", "commission_bps must be 0 to 10000"};
    if (!Currency::parse(def.currency()))
        return Fault{"unknown_currency", "currency", "'" + def.currency() + "' is not a supported currency"};
    if (def.status() != kActive && def.status() != kSuspended)
        return Fault{"invalid_value", "status", "status must be active or suspended"};
    const bool stripe = !def.stripe_account().empty(), paypal = !def.paypal_email().empty();
    if (stripe == paypal)
        return Fault{"invalid_value", stripe ? "paypal_email" : "stripe_account",
                     "one payout rail: a Stripe connected account (stripe_account) or a PayPal receiver (paypal_email)"};
    if (stripe && (def.stripe_account().rfind("acct_", 0) != 0 || !valid_id(def.stripe_account())))
        return Fault{"invalid_value", "stripe_account", "stripe_account is a connected account id, acct_…"};
    if (paypal && !valid_email(def.paypal_email()))
        return Fault{"invalid_value", "paypal_email", "paypal_email is an e-mail address"};
    if (static_cast<size_t>(def.referral_codes_size()) > kCodesMax)
        return Fault{"invalid_value", "referral_codes", "at most 20 referral codes"};
    std::set<std::string> seen;
    for (int i = 0; i < def.referral_codes_size(); ++i) {
        const std::string field = "referral_codes[" + std::to_string(i) + "]";
        if (!valid_code(def.referral_codes(i)))
            return Fault{"invalid_value", field, "a referral code is 3-40 of [A-Za-z0-9_-]"};
        if (!seen.insert(normal_code(def.referral_codes(i))).second)
            return Fault{"invalid_value", field, "referral code " + def.referral_codes(i) + " is given twice"};
    }
    return std::nullopt;
}

std::vector<std::string> named(const Sources& s) {
    std::vector<std::string> out;
    auto add = [&](const std::string& id) {
        if (!id.empty() && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    };
    for (const auto& [code, id] : s.coupons) add(id);
    if (s.profile) add(s.profile->affiliate_id());
    if (s.latest) add(s.latest->affiliate_id());
    if (s.cookie) add(s.cookie->affiliate_id);
    return out;
}

std::optional<v1::Attribution> attribute(const Sources& s, const Lookup& lookup, const Context& ctx) {
    auto eligible = [&](const std::string& id) -> std::optional<v1::AffiliateDefinition> {
        if (id.empty()) return std::nullopt;
        auto def = lookup(id);
        if (!def || def->status() != kActive || def->currency() != ctx.currency) return std::nullopt;
        return def;
    };
    auto won = [&](const v1::AffiliateDefinition& def, std::string_view step, std::string_view coupon) {
        v1::Attribution a;
        a.set_affiliate_id(def.affiliate_id());
        a.set_step(std::string(step));
        a.set_coupon_code(std::string(coupon));
        a.set_base_minor(ctx.base_minor);
        if (def.affiliate_id() == ctx.buyer) {
            a.set_outcome(std::string(kSelfReferralBlocked));
            return a;
        }
        a.set_outcome(std::string(kAttributed));
        a.set_commission_bps(def.commission_bps());
        a.set_commission_minor(commission(ctx.base_minor, def.commission_bps()));
        return a;
    };
    for (const auto& [code, id] : s.coupons)
        if (auto def = eligible(id)) return won(*def, "coupon", code);
    if (s.profile)
        if (auto def = eligible(s.profile->affiliate_id())) return won(*def, "profile", "");
    if (s.latest && s.latest->at_unix_ms() <= ctx.now_unix_ms && ctx.now_unix_ms - s.latest->at_unix_ms() < ctx.recent_ms)
        if (auto def = eligible(s.latest->affiliate_id())) return won(*def, "recent", "");
    if (s.cookie && s.cookie->expires_at_unix_s * 1000 > ctx.now_unix_ms)
        if (auto def = eligible(s.cookie->affiliate_id)) return won(*def, "cookie", "");
    return std::nullopt;
}

int64_t commission(int64_t base_minor, uint32_t bps) {
    if (base_minor <= 0) return 0;
    return static_cast<int64_t>(static_cast<__int128>(base_minor) * bps / 10000);
}

int64_t reversed_at(int64_t commission_minor, int64_t goods_total, int64_t goods_back) {
    if (commission_minor <= 0 || goods_back <= 0) return 0;
    if (goods_total <= 0 || goods_back >= goods_total) return commission_minor;
    return static_cast<int64_t>(static_cast<__int128>(commission_minor) * goods_back / goods_total);
}

}  // namespace tally::affiliate
