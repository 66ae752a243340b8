#include "domain/money.h"

#include <fmt/format.h>

namespace tally {
namespace {

struct CurrencyInfo {
    std::string_view code;
    int minor_digits;
    int64_t minimum_charge_minor;
};

// The currencies tally accepts; minimum charges follow the card processors'
// published minimums (0.50 USD/CAD/EUR/CHF, 0.30 GBP, ...).
constexpr CurrencyInfo kCurrencies[] = {
    {"AUD", 2, 50},  {"BRL", 2, 50},  {"CAD", 2, 50},   {"CHF", 2, 50},  {"CZK", 2, 1500},
    {"DKK", 2, 250}, {"EUR", 2, 50},  {"GBP", 2, 30},   {"HKD", 2, 400}, {"HUF", 2, 17500},
    {"INR", 2, 50},  {"JPY", 0, 50},  {"KWD", 3, 150},  {"MXN", 2, 1000}, {"NOK", 2, 300},
    {"NZD", 2, 50},  {"PLN", 2, 200}, {"SEK", 2, 300},  {"SGD", 2, 50},  {"USD", 2, 50},
};

const CurrencyInfo* find(std::string_view code) {
    for (const auto& info : kCurrencies)
        if (info.code == code) return &info;
    return nullptr;
}

}  // namespace

std::optional<Currency> Currency::parse(std::string_view code) {
    if (code.size() != 3 || find(code) == nullptr) return std::nullopt;
    return Currency({code[0], code[1], code[2]});
}

int Currency::minor_digits() const { return find(code())->minor_digits; }

int64_t Currency::minimum_charge_minor() const { return find(code())->minimum_charge_minor; }

std::optional<int64_t> add_minor(int64_t a, int64_t b) {
    int64_t sum = 0;
    if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
    return sum;
}

std::string decimal_amount(int64_t minor, const Currency& currency) {
    const int digits = currency.minor_digits();
    if (digits == 0) return fmt::format("{}", minor);
    int64_t scale = 1;
    for (int i = 0; i < digits; ++i) scale *= 10;
    const bool negative = minor < 0;
    // Work in unsigned so INT64_MIN formats correctly.
    const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
    return fmt::format("{}{}.{:0{}}", negative ? "-" : "", magnitude / scale, magnitude % scale, digits);
}

std::optional<int64_t> parse_decimal_amount(std::string_view text, const Currency& currency) {
    const int digits = currency.minor_digits();
    const size_t point = text.find('.');
    const std::string_view whole = text.substr(0, point);
    const std::string_view frac = point == std::string_view::npos ? std::string_view() : text.substr(point + 1);
    if (whole.empty() || whole.size() > 15 || (digits == 0) != (point == std::string_view::npos) ||
        static_cast<int>(frac.size()) != digits)
        return std::nullopt;
    int64_t minor = 0;
    for (std::string_view part : {whole, frac})
        for (char ch : part) {
            if (ch < '0' || ch > '9') return std::nullopt;
            minor = minor * 10 + (ch - '0');
        }
    return minor;
}

std::string format_money(int64_t minor, const Currency& currency) {
    return decimal_amount(minor, currency) + " " + std::string(currency.code());
}

}  // namespace tally
