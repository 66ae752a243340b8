#pragma once
// Double-entry postings. Every money movement is a PostingSet that balances per
// currency (sum of debits == sum of credits); nothing unbalanced is ever appended.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "domain/money.h"
#include "tally/v1/money.pb.h"

namespace tally::ledger {

// Named accounts. Per-party accounts carry the party id after a colon.
std::string store_credit_liability(std::string_view customer_id);
std::string customer_receivable(std::string_view customer_id);
std::string vendor_payable(std::string_view vendor_id);
std::string affiliate_payable(std::string_view affiliate_id);
inline constexpr std::string_view kProcessorClearing = "processor_clearing";
inline constexpr std::string_view kPayPalClearing = "paypal_clearing";  // affiliate payouts by PayPal
inline constexpr std::string_view kPlatformCommission = "platform_commission_revenue";
inline constexpr std::string_view kPlatformFees = "platform_fees";
inline constexpr std::string_view kPromotionsExpense = "promotions_expense";
inline constexpr std::string_view kDisputesHeld = "disputes_held";
inline constexpr std::string_view kAffiliateCommissionExpense = "affiliate_commission_expense";
// What a lost dispute takes beyond what was left to give back (e.g. after a refund as credit).
inline constexpr std::string_view kDisputeLosses = "dispute_losses";

enum class PostingError : uint16_t {  // precedence order; numbers are permanent
    empty_set = 1,
    account_missing = 2,
    side_missing = 3,
    amount_must_be_positive = 4,
    unknown_currency = 5,
    unbalanced = 6,
    overflow = 7,
};

std::string_view to_string(PostingError e);

// Builds a posting: `amount.minor` must be positive (REQUIRES, asserted).
v1::Posting debit(std::string_view account, const Money& amount);
v1::Posting credit(std::string_view account, const Money& amount);

// Checks every leg and that debits equal credits in each currency.
std::expected<void, PostingError> check_balanced(const v1::PostingSet& set);

// Signed effect of a posting on an account's balance (debit positive, credit negative).
int64_t signed_minor(const v1::Posting& posting);

}  // namespace tally::ledger
