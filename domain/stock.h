#pragma once
// Stock of one SKU (stream "stock-{sku}"). Pure rules: available never goes below
// zero. An order reserves units and, if cancelled, releases what it reserved; the
// order, not the stock, remembers how many (so this state stays small).

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tally/v1/stock.pb.h"

namespace tally::stock {

inline constexpr int64_t kQuantityMax = 1'000'000'000;

struct StockLevel {
    std::string sku;
    int64_t available = 0;
};

struct AdjustStock {
    std::string sku;
    int64_t delta = 0;
    std::string reason;
};

struct ReserveStock {
    std::string sku;
    std::string order_id;
    int64_t quantity = 0;
};

struct ReleaseStock {
    std::string sku;
    std::string order_id;
    int64_t quantity = 0;  // what the order reserved
};

enum class StockRejection : uint16_t {  // precedence order; numbers are permanent
    quantity_must_be_positive = 1,
    delta_out_of_range = 2,
    would_go_negative = 3,
    out_of_stock = 4,
};

std::string_view to_string(StockRejection r);
std::string stream_id(std::string_view sku);

using StockEvent = std::variant<v1::StockAdjusted, v1::StockReserved, v1::StockReleased>;

// Pure. REQUIRES: cmd.sku == state.sku.
std::expected<std::vector<StockEvent>, StockRejection> decide(const StockLevel& state, const AdjustStock& cmd);
std::expected<std::vector<StockEvent>, StockRejection> decide(const StockLevel& state, const ReserveStock& cmd);
std::expected<std::vector<StockEvent>, StockRejection> decide(const StockLevel& state, const ReleaseStock& cmd);

StockLevel evolve(StockLevel state, const v1::StockAdjusted& e);
StockLevel evolve(StockLevel state, const v1::StockReserved& e);
StockLevel evolve(StockLevel state, const v1::StockReleased& e);
StockLevel evolve(StockLevel state, const StockEvent& e);

StockLevel from_snapshot(std::string_view sku, const std::string& bytes);
std::string to_snapshot(const StockLevel& state);

}  // namespace tally::stock
