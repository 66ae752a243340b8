#pragma once
// Money: int64 minor units with an ISO 4217 currency. No floating point, ever.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally {

// A three-letter ISO 4217 code, validated against the table in money.cpp.
class Currency {
public:
    // Returns the currency when `code` is a known ISO code (upper case), else nothing.
    static std::optional<Currency> parse(std::string_view code);

    std::string_view code() const { return {code_.data(), 3}; }
    // Digits after the decimal point (2 for USD, 0 for JPY, 3 for KWD).
    int minor_digits() const;
    // Smallest cash amount a card processor accepts, in minor units.
    int64_t minimum_charge_minor() const;

    friend bool operator==(const Currency&, const Currency&) = default;

private:
    explicit Currency(std::array<char, 3> code) : code_(code) {}
    std::array<char, 3> code_;
};

struct Money {
    int64_t minor = 0;
    Currency currency;

    friend bool operator==(const Money&, const Money&) = default;
};

// Checked arithmetic: nothing on overflow, so no balance can silently wrap.
std::optional<int64_t> add_minor(int64_t a, int64_t b);

// Formats 12345 USD as "123.45 USD" (for messages and logs, never for storage).
std::string format_money(int64_t minor, const Currency& currency);
// The amount alone, as providers take it: "12.34", "1234" (JPY).
std::string decimal_amount(int64_t minor, const Currency& currency);
// The reverse, strictly: digits, and exactly the currency's decimals after a point
// ("12.34" for USD; "1234" for JPY); nothing for anything else or an overflow.
std::optional<int64_t> parse_decimal_amount(std::string_view text, const Currency& currency);

}  // namespace tally
