-- Guest checkout: storefronts are service accounts that check out for guests (no login of
-- their own); a guest's orders may later be claimed for a registered customer.
ALTER TABLE principals DROP CONSTRAINT principals_role_check;
ALTER TABLE principals ADD CONSTRAINT principals_role_check
    CHECK (role IN ('admin','employee','vendor','affiliate','customer','auditor','provider','system','storefront'));
