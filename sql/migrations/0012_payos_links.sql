-- Schema version 12: the PayOS payment link of a top-up (issue 16).
-- Filled when the transaction is made, from PayOS's answer (or, without
-- PayOS credentials, the dev checkout page's address); NULL for the
-- top-ups made before this version, which had no link.
ALTER TABLE topups ADD COLUMN payment_link_id TEXT;   -- PayOS's paymentLinkId
ALTER TABLE topups ADD COLUMN checkout_url TEXT;      -- where the payer pays
ALTER TABLE topups ADD COLUMN qr_code TEXT;           -- the VietQR text PayOS answered
