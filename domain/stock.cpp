#include "domain/stock.h"

#include "domain/assert.h"

namespace tally::stock {

std::string_view to_string(StockRejection r) {
    switch (r) {
        case StockRejection::quantity_must_be_positive: return "quantity_must_be_positive";
        case StockRejection::delta_out_of_range: return "delta_out_of_range";
        case StockRejection::would_go_negative: return "would_go_negative";
        case StockRejection::out_of_stock: return "out_of_stock";
    }
    return "unknown";
}

std::string stream_id(std::string_view sku) { return "stock-" + std::string(sku); }

std::expected<std::vector<StockEvent>, StockRejection> decide(const StockLevel& state, const AdjustStock& cmd) {
    TALLY_ASSERT(cmd.sku == state.sku, "misrouted stock adjustment for {}", cmd.sku);
    if (cmd.delta == 0 || cmd.delta < -kQuantityMax || cmd.delta > kQuantityMax)
        return std::unexpected(StockRejection::delta_out_of_range);
    if (state.available + cmd.delta < 0) return std::unexpected(StockRejection::would_go_negative);
    if (state.available + cmd.delta > kQuantityMax) return std::unexpected(StockRejection::delta_out_of_range);
    v1::StockAdjusted e;
    e.set_sku(cmd.sku);
    e.set_delta(cmd.delta);
    e.set_reason(cmd.reason);
    e.set_available_after(state.available + cmd.delta);
    return std::vector<StockEvent>{e};
}

std::expected<std::vector<StockEvent>, StockRejection> decide(const StockLevel& state, const ReserveStock& cmd) {
    TALLY_ASSERT(cmd.sku == state.sku, "misrouted stock reservation for {}", cmd.sku);
    if (cmd.quantity <= 0 || cmd.quantity > kQuantityMax)
        return std::unexpected(StockRejection::quantity_must_be_positive);
    if (cmd.quantity > state.available) return std::unexpected(StockRejection::out_of_stock);
    v1::StockReserved e;
    e.set_sku(cmd.sku);
    e.set_order_id(cmd.order_id);
    e.set_quantity(cmd.quantity);
    e.set_available_after(state.available - cmd.quantity);
    return std::vector<StockEvent>{e};
}

std::expected<std::vector<StockEvent>, StockRejection> decide(const StockLevel& state, const ReleaseStock& cmd) {
    TALLY_ASSERT(cmd.sku == state.sku, "misrouted stock release for {}", cmd.sku);
    if (cmd.quantity <= 0 || cmd.quantity > kQuantityMax)
        return std::unexpected(StockRejection::quantity_must_be_positive);
    if (state.available + cmd.quantity > kQuantityMax) return std::unexpected(StockRejection::delta_out_of_range);
    v1::StockReleased e;
    e.set_sku(cmd.sku);
    e.set_order_id(cmd.order_id);
    e.set_quantity(cmd.quantity);
    e.set_available_after(state.available + cmd.quantity);
    return std::vector<StockEvent>{e};
}

StockLevel evolve(StockLevel state, const v1::StockAdjusted& e) {
    state.available += e.delta();
    TALLY_ASSERT(state.available >= 0, "stock of {} below zero", state.sku);
    return state;
}

StockLevel evolve(StockLevel state, const v1::StockReserved& e) {
    state.available -= e.quantity();
    TALLY_ASSERT(state.available >= 0, "stock of {} below zero", state.sku);
    return state;
}

StockLevel evolve(StockLevel state, const v1::StockReleased& e) {
    state.available += e.quantity();
    return state;
}

StockLevel evolve(StockLevel state, const StockEvent& e) {
    return std::visit([&](const auto& ev) { return evolve(std::move(state), ev); }, e);
}

StockLevel from_snapshot(std::string_view sku, const std::string& bytes) {
    StockLevel s;
    s.sku = std::string(sku);
    if (bytes.empty()) return s;
    v1::StockState proto;
    TALLY_ASSERT(proto.ParseFromString(bytes), "corrupt stock snapshot for {}", sku);
    s.available = proto.available();
    return s;
}

std::string to_snapshot(const StockLevel& state) {
    v1::StockState proto;
    proto.set_sku(state.sku);
    proto.set_available(state.available);
    return proto.SerializeAsString();
}

}  // namespace tally::stock
