-- Schema version 3: order codes start above PayOS's test range.
-- PayOS's sample webhook (and the delivery it sends to confirm a webhook
-- URL) carries orderCode 123, signed with the merchant's real key; a real
-- transaction with that code must not exist, so codes start at 100001.
INSERT OR REPLACE INTO sqlite_sequence (name, seq)
VALUES ('topups', max(100000, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'topups'), 0)));
