-- Top-up payments and wallets.

-- name: topup_init_body
SELECT json_type(?1, '$.amount'), json_extract(?1, '$.amount'),
       json_type(?1, '$.description'), json_extract(?1, '$.description');

-- The order code is chosen before PayOS is asked (topup.c): it is given.
-- name: topup_insert
INSERT INTO topups (tx_ref, user_id, amount, description, stream_token, created_at, order_code,
                    payment_link_id, checkout_url, qr_code)
VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?6, ?7, ?8, ?9)
RETURNING order_code;

-- 1 when the order code is taken already.
-- name: topup_code_taken
SELECT EXISTS (SELECT 1 FROM topups WHERE order_code = ?1);

-- ?2: the URL prefix Pulse is under ('' at the site root, '/pulse').
-- name: topup_init_reply
SELECT json_object('tx_ref', tx_ref, 'order_code', order_code, 'amount', amount,
                   'status', status, 'stream_token', stream_token,
                   'stream_url', ?2 || '/api/topup/stream?tx_ref=' || tx_ref || '&token=' || stream_token,
                   'status_url', ?2 || '/api/topup/status?tx_ref=' || tx_ref || '&token=' || stream_token,
                   'created_at', created_at, 'checkout_url', checkout_url, 'qr_code', qr_code,
                   'payment_link_id', payment_link_id)
FROM topups WHERE order_code = ?1;

-- name: topup_status
SELECT json_object('tx_ref', tx_ref, 'order_code', order_code, 'amount', amount,
                   'status', status, 'created_at', created_at, 'paid_at', paid_at,
                   'checkout_url', checkout_url, 'qr_code', qr_code, 'payment_link_id', payment_link_id),
       user_id, stream_token
FROM topups WHERE tx_ref = ?1;

-- name: topup_for_cancel
SELECT user_id, status, payment_link_id, order_code FROM topups WHERE tx_ref = ?1;

-- name: topup_access
SELECT user_id, stream_token FROM topups WHERE tx_ref = ?1;

-- name: topup_by_order
SELECT tx_ref, user_id, amount, status FROM topups WHERE order_code = ?1;

-- A PENDING transaction moves once. A CANCELLED or FAILED one moves only to
-- PAID: PayOS saying the right amount arrived after all (a payment that
-- crossed the cancel, a retry after a failed or short payment) is the truth
-- about the money, and the payer is credited.
-- name: topup_settle
UPDATE topups
SET status = ?2,
    paid_at = CASE WHEN ?2 = 'PAID' THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') END,
    reference = ?3
WHERE order_code = ?1 AND (status = 'PENDING' OR (status IN ('CANCELLED', 'FAILED') AND ?2 = 'PAID'));

-- name: payos_webhook_body
SELECT json_type(?1, '$.data'), json_type(?1, '$.signature'), json_extract(?1, '$.signature'),
       json_type(?1, '$.data.orderCode'), json_extract(?1, '$.data.orderCode'),
       json_type(?1, '$.data.amount'), json_extract(?1, '$.data.amount'),
       json_extract(?1, '$.data.code'), json_extract(?1, '$.data.reference'),
       json_type(?1, '$.data.currency'), json_extract(?1, '$.data.currency');

-- Members of the webhook's data in byte order of their keys, as PayOS signs
-- them. Arrays come back as compact JSON with each element's keys sorted,
-- and the numbers of the elements and of their members as JavaScript
-- prints them (pulse_js_json); deeper numbers keep their text.
-- name: payos_sign_fields
SELECT key, type,
       CASE type
         WHEN 'array' THEN (
           SELECT json_group_array(
                    CASE e.type
                      WHEN 'object' THEN (
                        SELECT json_group_object(k.key,
                                 CASE WHEN k.type IN ('integer', 'real') THEN json(pulse_js_json(k.value))
                                      WHEN k.type IN ('object', 'array', 'true', 'false')
                                      THEN json(k.atom_json) ELSE k.value END)
                        FROM (SELECT key, type, value,
                                     CASE WHEN type IN ('true', 'false') THEN type ELSE value END AS atom_json
                              FROM json_each(e.value) ORDER BY key) AS k)
                      WHEN 'array' THEN json(e.value)
                      WHEN 'true' THEN json('true')
                      WHEN 'false' THEN json('false')
                      WHEN 'integer' THEN json(pulse_js_json(e.value))
                      WHEN 'real' THEN json(pulse_js_json(e.value))
                      ELSE e.value
                    END)
           FROM json_each(d.value) AS e)
         ELSE value
       END
FROM json_each(?1, '$.data') AS d
ORDER BY key;

-- name: wallet_credit_once
INSERT INTO wallet_credits (tx_ref, user_id, amount, created_at)
VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
ON CONFLICT (tx_ref) DO NOTHING;

-- name: wallet_add
INSERT INTO wallets (user_id, balance) VALUES (?1, ?2)
ON CONFLICT (user_id) DO UPDATE SET balance = balance + excluded.balance;

-- name: wallet_get
SELECT json_object('user_id', ?1,
                   'balance', COALESCE((SELECT balance FROM wallets WHERE user_id = ?1), 0));

-- name: payos_ignored_reply
SELECT json_object('success', json('true'), 'ignored', json('true'));

-- name: payos_ok_reply
SELECT json_object('success', json('true'), 'status', ?1);

-- Reconciliation with PayOS (handlers/topup_reconcile.c) -------------------
-- ?1: PAYOS_RECONCILE_S. Times in Unix ms of SQLite's clock.

-- 1 when a top-up PENDING for ?1 s is due a look and not leased.
-- name: topup_reconcile_pending
SELECT EXISTS (
    SELECT 1 FROM topups t LEFT JOIN topup_reconcile r ON r.order_code = t.order_code
    WHERE t.status = 'PENDING' AND t.created_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?1 || ' seconds')
      AND (r.order_code IS NULL
           OR (r.next_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
               AND r.lease_until_ms < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))));

-- The top-ups PENDING for ?1 s get their row.
-- name: topup_reconcile_rows
INSERT INTO topup_reconcile (order_code)
SELECT order_code FROM topups
WHERE status = 'PENDING' AND created_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?1 || ' seconds')
ON CONFLICT (order_code) DO NOTHING;

-- Leases at most ?3 due rows to owner ?1 for ?2 ms: one more attempt each.
-- name: topup_reconcile_claim
UPDATE topup_reconcile
SET lease_owner = ?1, lease_until_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?2,
    attempts = attempts + 1
WHERE order_code IN (SELECT order_code FROM topup_reconcile
                     WHERE next_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
                       AND lease_until_ms < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
                     ORDER BY next_ms LIMIT ?3)
RETURNING order_code;

-- Order ?1's attempts, while owner ?2 holds it; no row when not.
-- name: topup_reconcile_attempts
SELECT attempts FROM topup_reconcile WHERE order_code = ?1 AND lease_owner = ?2;

-- Owner ?2 lets order ?1 go, to be looked at again ?3 ms from now
-- (attempts start over when ?4 is 1: it answered, still pending).
-- name: topup_reconcile_later
UPDATE topup_reconcile
SET lease_owner = NULL, lease_until_ms = 0,
    next_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?3,
    attempts = CASE WHEN ?4 = 1 THEN 0 ELSE attempts END
WHERE order_code = ?1 AND lease_owner = ?2;

-- PayOS's answer to a lookup, for a body db_json_object accepted: code,
-- data's JSON type, signature (type, value), data.orderCode, status,
-- amountPaid and amount (type, value each), the first transaction's
-- reference.
-- name: payos_lookup_body
SELECT ?1 ->> '$.code', json_type(?1, '$.data'), json_type(?1, '$.signature'), ?1 ->> '$.signature',
       json_type(?1, '$.data.orderCode'), ?1 ->> '$.data.orderCode',
       CASE WHEN json_type(?1, '$.data.status') = 'text' THEN ?1 ->> '$.data.status' END,
       json_type(?1, '$.data.amountPaid'), ?1 ->> '$.data.amountPaid',
       json_type(?1, '$.data.amount'), ?1 ->> '$.data.amount',
       CASE WHEN json_type(?1, '$.data.transactions[0].reference') = 'text'
            THEN ?1 ->> '$.data.transactions[0].reference' END;

-- PayOS's payment request (POST /v2/payment-requests); ?6 is its signature.
-- The numbers come as text (db_one_text) and go out as JSON numbers.
-- name: payos_link_request
SELECT json_object('orderCode', CAST(?1 AS INTEGER), 'amount', CAST(?2 AS INTEGER), 'description', ?3, 'cancelUrl', ?4, 'returnUrl', ?5,
                   'signature', ?6);

-- name: payos_cancel_request
SELECT json_object('cancellationReason', ?1);

-- What PayOS answers ({"code","desc","data","signature"}): the types and
-- values the answer's checks need, in the order payos_link.c reads them.
-- name: payos_link_answer
SELECT json_type(?1, '$.code'), json_extract(?1, '$.code'), json_extract(?1, '$.desc'),
       json_type(?1, '$.data'), json_type(?1, '$.signature'), json_extract(?1, '$.signature'),
       json_type(?1, '$.data.orderCode'), json_extract(?1, '$.data.orderCode'),
       json_type(?1, '$.data.amount'), json_extract(?1, '$.data.amount'),
       json_type(?1, '$.data.status'), json_extract(?1, '$.data.status'),
       json_type(?1, '$.data.checkoutUrl'), json_extract(?1, '$.data.checkoutUrl'),
       json_type(?1, '$.data.qrCode'), json_extract(?1, '$.data.qrCode'),
       json_type(?1, '$.data.paymentLinkId'), json_extract(?1, '$.data.paymentLinkId'),
       json_type(?1, '$.desc');

-- The webhook PayOS would send for the transaction paid in full (the dev
-- checkout), unsigned; and its status. transactionDateTime is Vietnam's
-- time, as PayOS writes it. ?2 is the bank reference.
-- name: payos_dev_webhook
SELECT json_object('code', '00', 'desc', 'success', 'success', json('true'),
         'data', json_object('orderCode', order_code, 'amount', amount, 'description', description,
                             'accountNumber', '0000000000', 'reference', ?2,
                             'transactionDateTime', strftime('%Y-%m-%d %H:%M:%S', 'now', '+7 hours'),
                             'currency', 'VND', 'paymentLinkId', COALESCE(payment_link_id, ''),
                             'code', '00', 'desc', 'success', 'counterAccountBankId', '',
                             'counterAccountBankName', '', 'counterAccountName', '', 'counterAccountNumber', '',
                             'virtualAccountName', '', 'virtualAccountNumber', '')),
       status
FROM topups WHERE tx_ref = ?1;

-- name: json_with_signature
SELECT json_set(?1, '$.signature', ?2);
