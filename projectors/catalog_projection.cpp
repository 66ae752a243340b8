#include "projectors/catalog_projection.h"

#include "events/registry.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/stock.pb.h"

namespace tally::projectors {
namespace {

// Stock events all carry the units left after them; the stream's latest wins.
template <typename Message>
void stock_moved(sql::Tx& tx, const TableMap& t, const v1::EventEnvelope& e) {
    Message m;
    if (!m.ParseFromString(e.payload())) return;
    tx.exec("INSERT INTO " + t.at("catalog_stock") +
                " AS s (sku, available, position) VALUES ($1, $2::bigint, $3::bigint) ON CONFLICT (sku) DO UPDATE SET"
                " available = EXCLUDED.available, position = EXCLUDED.position WHERE s.position < EXCLUDED.position",
            {m.sku(), std::to_string(m.available_after()), std::to_string(e.position())});
}

// A definition kept whole by its id (vendors, coupons): a later event's replaces it, and
// nothing else in the row changes (a coupon's uses stay).
void define(sql::Tx& tx, const std::string& table, const std::string& id_column, const std::string& id,
            const google::protobuf::Message& definition, const std::string& position) {
    tx.exec("INSERT INTO " + table + " AS d (" + id_column + ", definition, position) VALUES ($1, $2, $3::bigint)" +
                " ON CONFLICT (" + id_column + ") DO UPDATE SET definition = EXCLUDED.definition," +
                " position = EXCLUDED.position WHERE d.position < EXCLUDED.position",
            {id, sql::bytea_param(definition.SerializeAsString()), position});
}

// A use taken or given back. The coupon's own stream defined it before any use, and one
// stream's events are applied in order, so its row is there.
void coupon_used(sql::Tx& tx, const TableMap& t, const std::string& code, int delta, const std::string& position) {
    tx.exec("UPDATE " + t.at("catalog_coupons") +
                " SET uses_total = greatest(0, uses_total + $2::bigint), position = $3::bigint WHERE code = $1",
            {code, std::to_string(delta), position});
}

class CatalogProjection final : public Projection {
public:
    std::string name() const override { return "catalog"; }
    std::vector<std::string> tables() const override {
        return {"catalog_vendors", "catalog_products", "catalog_stock", "catalog_coupons"};
    }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        for (const auto& e : events) {
            const std::string position = std::to_string(e.position());
            if (e.type() == events::kVendorDefined) {
                v1::VendorDefined d;
                if (d.ParseFromString(e.payload()))
                    define(tx, t.at("catalog_vendors"), "vendor_id", d.vendor().vendor_id(), d.vendor(), position);
            } else if (e.type() == events::kProductDefined) {
                v1::ProductDefined d;
                if (!d.ParseFromString(e.payload())) continue;
                const auto& p = d.product();
                tx.exec("INSERT INTO " + t.at("catalog_products") +
                            " AS p (sku, vendor_id, country_of_origin, definition, position)"
                            " VALUES ($1, $2, $3, $4, $5::bigint) ON CONFLICT (sku) DO UPDATE SET vendor_id = EXCLUDED.vendor_id,"
                            " country_of_origin = EXCLUDED.country_of_origin, definition = EXCLUDED.definition,"
                            " position = EXCLUDED.position WHERE p.position < EXCLUDED.position",
                        {p.sku(), p.vendor_id(), p.country_of_origin(), sql::bytea_param(p.SerializeAsString()), position});
            } else if (e.type() == events::kStockAdjusted) {
                stock_moved<v1::StockAdjusted>(tx, t, e);
            } else if (e.type() == events::kStockReserved) {
                stock_moved<v1::StockReserved>(tx, t, e);
            } else if (e.type() == events::kStockReleased) {
                stock_moved<v1::StockReleased>(tx, t, e);
            } else if (e.type() == events::kCouponDefined) {
                v1::CouponDefined d;
                if (d.ParseFromString(e.payload()))
                    define(tx, t.at("catalog_coupons"), "code", d.coupon().code(), d.coupon(), position);
            } else if (e.type() == events::kCouponRedeemed) {
                v1::CouponRedeemed m;
                if (m.ParseFromString(e.payload())) coupon_used(tx, t, m.code(), 1, position);
            } else if (e.type() == events::kCouponReleased) {
                v1::CouponReleased m;
                if (m.ParseFromString(e.payload())) coupon_used(tx, t, m.code(), -1, position);
            }
        }
    }
};

}  // namespace

std::unique_ptr<Projection> catalog_projection() { return std::make_unique<CatalogProjection>(); }

}  // namespace tally::projectors
