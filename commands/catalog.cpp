#include "commands/catalog.h"

#include <nlohmann/json.hpp>

#include "domain/catalog.h"
#include "domain/stock.h"
#include "events/registry.h"
#include "tally/v1/customer.pb.h"

namespace tally::commands {
namespace {

bool is_staff(const DecideContext& ctx) {
    return ctx.role == "admin" || (ctx.role == "employee" && has_permission(ctx.permissions, "catalog", "manage"));
}

Rejection forbidden(const std::string& what) {
    return Rejection{RejectionKind::forbidden, "forbidden", "you may not " + what};
}

enum class Definition { vendor, product, settings, coupon };

// The field a refusal is about, for the problem document. The rules name what broke;
// where one rule covers several fields of a definition (amounts), none is guessed.
std::string field_of(catalog::CatalogRejection r, Definition d) {
    using R = catalog::CatalogRejection;
    switch (r) {
        case R::id_invalid:
            return d == Definition::vendor ? "vendor_id" : d == Definition::product ? "sku" : d == Definition::coupon ? "code" : "";
        case R::currency_unknown:
        case R::currency_must_not_change: return d == Definition::settings ? "" : "currency";
        case R::country_invalid:  // a vendor's may be in its shipping prices or its destinations: not guessed
            return d == Definition::product ? "country_of_origin" : d == Definition::settings ? "ships_to" : "";
        case R::commission_out_of_range:
            return d == Definition::vendor ? "commission_bps" : d == Definition::product ? "commission_bps"
                                                                : d == Definition::coupon ? "percent_bps" : "";
        case R::quantity_break_invalid: return "matrix";
        case R::vendor_unknown:
        case R::vendor_must_not_change: return "vendor_id";
        case R::coupon_kind_missing: return "kind";
        case R::coupon_scope_missing: return "scope";
        case R::window_invalid: return "valid_until_unix_ms";
        case R::amount_out_of_range: return "";
    }
    return "";
}

Rejection catalog_rejection(catalog::CatalogRejection r, Definition d) {
    const auto kind = r == catalog::CatalogRejection::vendor_must_not_change ||
                              r == catalog::CatalogRejection::currency_must_not_change
                          ? RejectionKind::state_forbids
                          : RejectionKind::fix_request;
    Rejection out{kind, std::string(catalog::to_string(r)), "the definition was refused: " + std::string(catalog::to_string(r))};
    out.field = field_of(r, d);
    return out;
}

Reply defined_reply(const std::vector<v1::EventEnvelope>& written, nlohmann::json body) {
    const auto& e = written.front();
    body["stream_id"] = e.stream_id();
    body["stream_version"] = e.stream_version();
    body["position"] = e.position();
    return Reply{200, body.dump()};
}

class DefineVendor final : public Command {
public:
    explicit DefineVendor(v1::VendorDefinition def) : def_(std::move(def)), stream_(catalog::vendor_stream(def_.vendor_id())) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (!is_staff(ctx)) return forbidden("define vendors");
        catalog::VendorState state{parse_state<v1::VendorDefinition>(states.at(stream_).state)};
        auto decided = catalog::decide(state, def_);
        if (!decided) return catalog_rejection(decided.error(), Definition::vendor);
        Accepted a;
        a.events.push_back({stream_, std::string(events::kVendorDefined), 1, decided->SerializeAsString()});
        a.new_states[stream_] = def_.SerializeAsString();
        a.reply = [id = def_.vendor_id()](const std::vector<v1::EventEnvelope>& w) {
            return defined_reply(w, {{"vendor_id", id}});
        };
        return a;
    }

private:
    v1::VendorDefinition def_;
    std::string stream_;
};

class DefineProduct final : public Command {
public:
    explicit DefineProduct(v1::ProductDefinition def)
        : def_(std::move(def)),
          stream_(catalog::product_stream(def_.sku())),
          vendor_stream_(catalog::vendor_stream(def_.vendor_id())) {}
    // The vendor's stream is read (and locked) so the vendor cannot vanish meanwhile.
    std::vector<std::string> streams() const override { return {stream_, vendor_stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        catalog::ProductState state{parse_state<v1::ProductDefinition>(states.at(stream_).state)};
        const bool own = ctx.role == "vendor" && ctx.actor == def_.vendor_id() &&
                         (!state.product || state.product->vendor_id() == ctx.actor);
        if (!is_staff(ctx) && !own) return forbidden("define this product");
        catalog::VendorState vendor{parse_state<v1::VendorDefinition>(states.at(vendor_stream_).state)};
        auto decided = catalog::decide(state, def_, vendor);
        if (!decided) return catalog_rejection(decided.error(), Definition::product);
        Accepted a;
        a.events.push_back({stream_, std::string(events::kProductDefined), 1, decided->SerializeAsString()});
        a.new_states[stream_] = def_.SerializeAsString();
        a.reply = [sku = def_.sku()](const std::vector<v1::EventEnvelope>& w) {
            return defined_reply(w, {{"sku", sku}});
        };
        return a;
    }

private:
    v1::ProductDefinition def_;
    std::string stream_, vendor_stream_;
};

class AdjustStock final : public Command {
public:
    AdjustStock(std::string sku, int64_t delta, std::string reason)
        : cmd_{std::move(sku), delta, std::move(reason)},
          stream_(stock::stream_id(cmd_.sku)),
          product_stream_(catalog::product_stream(cmd_.sku)) {}
    std::vector<std::string> streams() const override { return {stream_, product_stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        auto product = parse_state<v1::ProductDefinition>(states.at(product_stream_).state);
        const bool own = ctx.role == "vendor" && product && product->vendor_id() == ctx.actor;
        if (!is_staff(ctx) && !own) return forbidden("adjust this product's stock");
        if (!product)
            return Rejection{RejectionKind::fix_request, "product_unknown", "no product " + cmd_.sku + " is defined"};
        const auto level = stock::from_snapshot(cmd_.sku, states.at(stream_).state);
        auto decided = stock::decide(level, cmd_);
        if (!decided) {
            const auto r = decided.error();
            return Rejection{r == stock::StockRejection::would_go_negative ? RejectionKind::state_forbids
                                                                           : RejectionKind::fix_request,
                             std::string(stock::to_string(r)),
                             "stock of " + cmd_.sku + " is " + std::to_string(level.available)};
        }
        Accepted a;
        auto next = level;
        for (const auto& e : *decided) {
            next = stock::evolve(next, e);
            a.events.push_back({stream_, std::string(events::kStockAdjusted), 1,
                                std::get<v1::StockAdjusted>(e).SerializeAsString()});
        }
        a.new_states[stream_] = stock::to_snapshot(next);
        a.reply = [sku = cmd_.sku, available = next.available](const std::vector<v1::EventEnvelope>& w) {
            auto r = defined_reply(w, {{"sku", sku}, {"available", available}});
            r.status = 201;
            return r;
        };
        return a;
    }

private:
    stock::AdjustStock cmd_;
    std::string stream_, product_stream_;
};

// Staff-only definitions whose stream holds the definition itself.
class DefineSettings final : public Command {
public:
    explicit DefineSettings(v1::CatalogSettings settings) : settings_(std::move(settings)) {}
    std::vector<std::string> streams() const override { return {std::string(catalog::kSettingsStream)}; }
    Decision decide(const std::map<std::string, StreamState>&, const DecideContext& ctx) const override {
        if (!is_staff(ctx)) return forbidden("change catalog settings");
        auto decided = catalog::decide(settings_);
        if (!decided) return catalog_rejection(decided.error(), Definition::settings);
        const std::string stream(catalog::kSettingsStream);
        Accepted a;
        a.events.push_back({stream, std::string(events::kCatalogSettingsChanged), 1, decided->SerializeAsString()});
        a.new_states[stream] = settings_.SerializeAsString();
        a.reply = [](const std::vector<v1::EventEnvelope>& w) { return defined_reply(w, nlohmann::json::object()); };
        return a;
    }

private:
    v1::CatalogSettings settings_;
};

class DefineCoupon final : public Command {
public:
    explicit DefineCoupon(v1::CouponDefinition def) : def_(std::move(def)), stream_(catalog::coupon_stream(def_.code())) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (!is_staff(ctx)) return forbidden("define coupons");
        auto decided = catalog::decide(def_);
        if (!decided) return catalog_rejection(decided.error(), Definition::coupon);
        // Usage so far survives a redefinition.
        v1::CouponState state = parse_state<v1::CouponState>(states.at(stream_).state).value_or(v1::CouponState{});
        *state.mutable_coupon() = def_;
        Accepted a;
        a.events.push_back({stream_, std::string(events::kCouponDefined), 1, decided->SerializeAsString()});
        a.new_states[stream_] = state.SerializeAsString();
        a.reply = [code = def_.code()](const std::vector<v1::EventEnvelope>& w) {
            return defined_reply(w, {{"code", code}});
        };
        return a;
    }

private:
    v1::CouponDefinition def_;
    std::string stream_;
};

class SetCustomerProfile final : public Command {
public:
    SetCustomerProfile(std::string customer_id, bool wholesale)
        : stream_(catalog::customer_stream(customer_id)) {
        profile_.set_customer_id(std::move(customer_id));
        profile_.set_wholesale_eligible(wholesale);
    }
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>&, const DecideContext& ctx) const override {
        if (ctx.role != "admin" && !(ctx.role == "employee" && has_permission(ctx.permissions, "customers", "manage")))
            return forbidden("change customer profiles");
        v1::CustomerProfileSet e;
        *e.mutable_profile() = profile_;
        Accepted a;
        a.events.push_back({stream_, std::string(events::kCustomerProfileSet), 1, e.SerializeAsString()});
        a.new_states[stream_] = profile_.SerializeAsString();
        a.reply = [id = profile_.customer_id(), w = profile_.wholesale_eligible()](const std::vector<v1::EventEnvelope>& written) {
            return defined_reply(written, {{"customer_id", id}, {"wholesale_eligible", w}});
        };
        return a;
    }

private:
    v1::CustomerProfile profile_;
    std::string stream_;
};

}  // namespace

std::unique_ptr<Command> set_customer_profile(std::string customer_id, bool wholesale_eligible) {
    return std::make_unique<SetCustomerProfile>(std::move(customer_id), wholesale_eligible);
}

std::unique_ptr<Command> define_settings(v1::CatalogSettings settings) {
    return std::make_unique<DefineSettings>(std::move(settings));
}
std::unique_ptr<Command> define_coupon(v1::CouponDefinition def) { return std::make_unique<DefineCoupon>(std::move(def)); }

std::unique_ptr<Command> define_vendor(v1::VendorDefinition def) { return std::make_unique<DefineVendor>(std::move(def)); }
std::unique_ptr<Command> define_product(v1::ProductDefinition def) { return std::make_unique<DefineProduct>(std::move(def)); }
std::unique_ptr<Command> adjust_stock(std::string sku, int64_t delta, std::string reason) {
    return std::make_unique<AdjustStock>(std::move(sku), delta, std::move(reason));
}

}  // namespace tally::commands
