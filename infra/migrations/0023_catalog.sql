-- The catalog projection (projectors/catalog_projection.h): what storefronts read at
-- GET /v1/products, /v1/vendors and staff at /v1/coupons. Each definition is kept whole
-- as its latest event carried it (protobuf bytes); the columns a read filters or orders by
-- stand beside it, with indexes for the keyset pages.
CREATE TABLE catalog_vendors (
  vendor_id  text PRIMARY KEY,
  definition bytea NOT NULL,   -- tally.v1.VendorDefinition
  position   bigint NOT NULL
);

CREATE TABLE catalog_products (
  sku               text PRIMARY KEY,
  vendor_id         text NOT NULL,
  country_of_origin text NOT NULL,
  definition        bytea NOT NULL,   -- tally.v1.ProductDefinition
  position          bigint NOT NULL
);
CREATE INDEX catalog_products_by_vendor ON catalog_products (vendor_id, sku);
CREATE INDEX catalog_products_by_origin ON catalog_products (country_of_origin, sku);

-- Units available per SKU (stream stock-{sku}: each event carries what is left after it).
CREATE TABLE catalog_stock (
  sku       text PRIMARY KEY,
  available bigint NOT NULL,
  position  bigint NOT NULL
);

CREATE TABLE catalog_coupons (
  code       text PRIMARY KEY,
  definition bytea NOT NULL,   -- tally.v1.CouponDefinition
  uses_total bigint NOT NULL DEFAULT 0,
  position   bigint NOT NULL
);
