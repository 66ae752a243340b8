#include "commands/catalog.h"

#include <set>

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

// Anyone but finance keeps the financial fields as they are (catalog::keep_financial).
template <typename Definition>
std::optional<Rejection> keep_financial(const DecideContext& ctx, const Definition* current, Definition& wanted) {
    if (manages_finance(ctx)) return std::nullopt;
    auto field = catalog::keep_financial(current, wanted);
    if (!field) return std::nullopt;
    Rejection r{RejectionKind::forbidden, "financial_setting",
                *field + " is financial configuration: only admins and employees with finance.manage change it"};
    r.field = *field;
    return r;
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
        if (!is_staff(ctx) && !manages_finance(ctx)) return forbidden("define vendors");
        catalog::VendorState state{parse_state<v1::VendorDefinition>(states.at(stream_).state)};
        v1::VendorDefinition def = def_;
        if (auto no = keep_financial(ctx, state.vendor ? &*state.vendor : nullptr, def)) return *no;
        auto decided = catalog::decide(state, def);
        if (!decided) return catalog_rejection(decided.error(), Definition::vendor);
        Accepted a;
        a.events.push_back({stream_, std::string(events::kVendorDefined), 1, decided->SerializeAsString()});
        a.new_states[stream_] = def.SerializeAsString();
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
        if (!is_staff(ctx) && !manages_finance(ctx) && !own) return forbidden("define this product");
        catalog::VendorState vendor{parse_state<v1::VendorDefinition>(states.at(vendor_stream_).state)};
        // A vendor (or a catalog manager) redefining a product keeps the rate finance set.
        v1::ProductDefinition def = def_;
        if (auto no = keep_financial(ctx, state.product ? &*state.product : nullptr, def)) return *no;
        // Subscription prices: finance's or the product's vendor's to change.
        if (catalog::keep_subscription_prices(state.product ? &*state.product : nullptr, def) && !manages_finance(ctx) &&
            !own) {
            Rejection r{RejectionKind::forbidden, "financial_setting",
                        "subscription_prices are set by finance or the product's vendor"};
            r.field = "subscription_prices";
            return r;
        }
        auto decided = catalog::decide(state, def, vendor);
        if (!decided) return catalog_rejection(decided.error(), Definition::product);
        Accepted a;
        a.events.push_back({stream_, std::string(events::kProductDefined), 1, decided->SerializeAsString()});
        a.new_states[stream_] = def.SerializeAsString();
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
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (!is_staff(ctx) && !manages_finance(ctx)) return forbidden("change catalog settings");
        const std::string stream(catalog::kSettingsStream);
        const auto current = parse_state<v1::CatalogSettings>(states.at(stream).state);
        v1::CatalogSettings settings = settings_;
        if (auto no = keep_financial(ctx, current ? &*current : nullptr, settings)) return *no;
        auto decided = catalog::decide(settings);
        if (!decided) return catalog_rejection(decided.error(), Definition::settings);
        Accepted a;
        a.events.push_back({stream, std::string(events::kCatalogSettingsChanged), 1, decided->SerializeAsString()});
        a.new_states[stream] = settings.SerializeAsString();
        a.reply = [](const std::vector<v1::EventEnvelope>& w) { return defined_reply(w, nlohmann::json::object()); };
        return a;
    }

private:
    v1::CatalogSettings settings_;
};

// Staff define coupons the platform funds, or one a vendor funds; a vendor defines its own,
// scoped to itself or one of its products and funded from its payable. Codes are one
// namespace: a vendor never redefines a code someone else funds.
class DefineCoupon final : public Command {
public:
    explicit DefineCoupon(v1::CouponDefinition def) : def_(std::move(def)), stream_(catalog::coupon_stream(def_.code())) {
        if (!def_.funded_by_vendor().empty()) read_.push_back(catalog::vendor_stream(def_.funded_by_vendor()));
        if (def_.scope() == v1::PRODUCT && !def_.scope_id().empty()) read_.push_back(catalog::product_stream(def_.scope_id()));
    }
    std::vector<std::string> streams() const override { return {stream_}; }
    std::vector<std::string> read_streams() const override { return read_; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        const bool vendor = ctx.role == "vendor";
        if (!is_staff(ctx) && !(vendor && ctx.actor == def_.funded_by_vendor())) return forbidden("define this coupon");
        const auto existing = parse_state<v1::CouponState>(states.at(stream_).state);
        if (vendor && existing && existing->coupon().funded_by_vendor() != ctx.actor)
            return Rejection{RejectionKind::state_forbids, "coupon_code_taken",
                             "coupon " + def_.code() + " is another's; choose another code", "", "code"};
        if (vendor && !def_.affiliate_id().empty())
            return Rejection{RejectionKind::forbidden, "forbidden", "affiliate coupons are the platform's", "", "affiliate_id"};
        auto decided = catalog::decide(def_);
        if (!decided) return catalog_rejection(decided.error(), Definition::coupon);
        if (const std::string& funder = def_.funded_by_vendor(); !funder.empty()) {
            if (!parse_state<v1::VendorDefinition>(states.at(catalog::vendor_stream(funder)).state))
                return Rejection{RejectionKind::fix_request, "vendor_unknown", "no vendor " + funder + " is defined", "",
                                 "funded_by_vendor"};
            // The funder's own lines only: scoped to the vendor, or to one of its products.
            bool own = def_.scope() == v1::VENDOR && def_.scope_id() == funder;
            if (def_.scope() == v1::PRODUCT) {
                auto it = states.find(catalog::product_stream(def_.scope_id()));
                auto product = it == states.end() ? std::nullopt : parse_state<v1::ProductDefinition>(it->second.state);
                own = product && product->vendor_id() == funder;
            }
            if (!own)
                return Rejection{RejectionKind::fix_request, "coupon_scope_not_vendors",
                                 "a coupon " + funder + " funds is scoped to " + funder + " or one of its products", "",
                                 "scope"};
        }
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
    std::vector<std::string> read_;
};

class SetCustomerProfile final : public Command {
public:
    explicit SetCustomerProfile(v1::CustomerProfile change)
        : change_(std::move(change)), stream_(catalog::customer_stream(change_.customer_id())) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        const bool staff = ctx.role == "admin" || (ctx.role == "employee" && has_permission(ctx.permissions, "customers", "manage"));
        const bool self = ctx.role == "customer" && ctx.actor == change_.customer_id();
        if (!staff && !self) return forbidden("change this customer's profile");
        if (!staff && change_.has_wholesale_eligible())
            return Rejection{RejectionKind::forbidden, "forbidden", "only staff set wholesale_eligible", "", "wholesale_eligible"};
        // What the request names changes; the rest (and the vendors' own grants) stays.
        v1::CustomerProfile state = parse_state<v1::CustomerProfile>(states.at(stream_).state).value_or(v1::CustomerProfile{});
        state.set_customer_id(change_.customer_id());
        if (change_.has_wholesale_eligible()) state.set_wholesale_eligible(change_.wholesale_eligible());
        if (change_.has_display_name()) state.set_display_name(change_.display_name());
        if (change_.has_leaderboard_opt_in()) state.set_leaderboard_opt_in(change_.leaderboard_opt_in());
        v1::CustomerProfileSet e;
        *e.mutable_profile() = state;
        Accepted a;
        a.events.push_back({stream_, std::string(events::kCustomerProfileSet), 1, e.SerializeAsString()});
        a.new_states[stream_] = state.SerializeAsString();
        a.reply = [state](const std::vector<v1::EventEnvelope>& written) {
            return defined_reply(written, {{"customer_id", state.customer_id()},
                                           {"wholesale_eligible", state.wholesale_eligible()},
                                           {"display_name", state.display_name()},
                                           {"leaderboard_opt_in", state.leaderboard_opt_in()}});
        };
        return a;
    }

private:
    v1::CustomerProfile change_;
    std::string stream_;
};

// A vendor's wholesale grant to one customer, on its own products.
class GrantWholesale final : public Command {
public:
    GrantWholesale(std::string vendor_id, std::string customer_id, bool granted)
        : vendor_id_(std::move(vendor_id)), customer_id_(std::move(customer_id)), granted_(granted),
          stream_(catalog::customer_stream(customer_id_)) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    std::vector<std::string> read_streams() const override { return {catalog::vendor_stream(vendor_id_)}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        const bool own = ctx.role == "vendor" && ctx.actor == vendor_id_;
        if (!own && !is_staff(ctx)) return forbidden("grant wholesale for this vendor");
        if (!parse_state<v1::VendorDefinition>(states.at(catalog::vendor_stream(vendor_id_)).state))
            return Rejection{RejectionKind::fix_request, "vendor_unknown", "no vendor " + vendor_id_ + " is defined", "",
                             "vendor_id"};
        v1::CustomerProfile state = parse_state<v1::CustomerProfile>(states.at(stream_).state).value_or(v1::CustomerProfile{});
        state.set_customer_id(customer_id_);
        std::set<std::string> vendors(state.wholesale_vendors().begin(), state.wholesale_vendors().end());
        if (granted_) vendors.insert(vendor_id_);
        else vendors.erase(vendor_id_);
        state.clear_wholesale_vendors();
        for (const auto& v : vendors) state.add_wholesale_vendors(v);
        v1::WholesaleGranted e;
        e.set_customer_id(customer_id_);
        e.set_vendor_id(vendor_id_);
        e.set_granted(granted_);
        e.set_by(ctx.actor);
        Accepted a;
        a.events.push_back({stream_, std::string(events::kWholesaleGranted), 1, e.SerializeAsString()});
        a.new_states[stream_] = state.SerializeAsString();
        a.reply = [e](const std::vector<v1::EventEnvelope>& written) {
            return defined_reply(written, {{"customer_id", e.customer_id()}, {"vendor_id", e.vendor_id()},
                                           {"wholesale", e.granted()}});
        };
        return a;
    }

private:
    std::string vendor_id_, customer_id_;
    bool granted_;
    std::string stream_;
};

}  // namespace

std::unique_ptr<Command> grant_wholesale(std::string vendor_id, std::string customer_id, bool granted) {
    return std::make_unique<GrantWholesale>(std::move(vendor_id), std::move(customer_id), granted);
}

std::unique_ptr<Command> set_customer_profile(v1::CustomerProfile change) {
    return std::make_unique<SetCustomerProfile>(std::move(change));
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
