-- Live-commerce rooms, products, chat, viewers and orders.
-- Times in milliseconds come from SQLite's clock so every process agrees.

-- name: live_room_insert
INSERT INTO live_rooms (id, shop_owner_id, title, description, thumbnail_url, stream_key, created_at)
VALUES (?1, ?2, ?3, COALESCE(?4, ''), COALESCE(?5, ''), ?6, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

-- Public object, and the owner's (with streamKey); ?2 is the caller's user id.
-- name: live_room_get
SELECT CASE WHEN shop_owner_id = ?2 THEN json_set(public_json, '$.streamKey', stream_key)
            ELSE public_json END,
       shop_owner_id, status, public_json
FROM live_room_json WHERE id = ?1;

-- name: live_room_list
SELECT json_object('rooms', json_group_array(json(j))) FROM (
    SELECT CASE WHEN shop_owner_id = ?2 THEN json_set(public_json, '$.streamKey', stream_key)
                ELSE public_json END AS j
    FROM live_room_json WHERE ?1 IS NULL OR status = ?1
    ORDER BY seq DESC LIMIT ?3 OFFSET ?4);

-- name: live_room_by_key
SELECT id, status FROM live_rooms WHERE stream_key = ?1;

-- Moves a room between states; ?2 is the set of allowed current states as
-- a JSON array, so one statement serves every transition.
-- name: live_room_move
UPDATE live_rooms
SET status = ?3,
    started_at = CASE WHEN ?3 = 'LIVE' THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') ELSE started_at END,
    ended_at = CASE WHEN ?3 = 'ENDED' THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') ELSE ended_at END
WHERE id = ?1 AND status IN (SELECT value FROM json_each(?2));

-- name: live_product_insert
INSERT INTO live_products (id, room_id, product_id, product_name, product_image_url, original_price,
                           live_price, quantity_limit, stock_available, display_order, created_at)
VALUES (?1, ?2, ?3, ?4, COALESCE(?5, ''), ?6, ?7, ?8, ?9, COALESCE(?10, 0),
        strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
ON CONFLICT (room_id, product_id) DO NOTHING;

-- name: live_product_count
SELECT count(*) FROM live_products WHERE room_id = ?1;

-- name: live_product_get
SELECT product_json FROM live_product_json WHERE room_id = ?1 AND id = ?2;

-- name: live_product_list
SELECT json_object('products', json_group_array(json(product_json))) FROM (
    SELECT product_json FROM live_product_json WHERE room_id = ?1 ORDER BY display_order, seq);

-- name: live_product_delete
DELETE FROM live_products WHERE room_id = ?1 AND id = ?2;

-- name: live_product_feature
UPDATE live_products SET is_featured = (id = ?2)
WHERE room_id = ?1 AND EXISTS (SELECT 1 FROM live_products WHERE room_id = ?1 AND id = ?2);

-- name: live_chat_recent_count
SELECT count(*) FROM live_chat
WHERE user_id = ?1 AND created_ms > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 1000;

-- name: live_chat_insert
INSERT INTO live_chat (room_id, user_id, username, message, avatar_url, created_at, created_ms)
VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
RETURNING id;

-- name: live_chat_get
SELECT chat_json FROM live_chat_json WHERE id = ?1;

-- The newest ?2 messages, oldest first, and the pinned one (null when
-- none), which may be older than them.
-- name: live_chat_history
SELECT json_object('messages', json_group_array(json(chat_json)),
                   'pinned', (SELECT json(chat_json) FROM live_chat_json WHERE room_id = ?1 AND is_pinned)) FROM (
    SELECT chat_json FROM (SELECT chat_json, id FROM live_chat_json WHERE room_id = ?1
                           ORDER BY id DESC LIMIT ?2)
    ORDER BY id);

-- Whether message ?2 of room ?1 exists, and is the pinned one.
-- name: live_chat_pin_state
SELECT is_pinned FROM live_chat WHERE room_id = ?1 AND id = ?2;

-- Takes the pin off room ?1's pinned message, if any; returns its id.
-- name: live_chat_unpin
UPDATE live_chat SET is_pinned = 0 WHERE room_id = ?1 AND is_pinned RETURNING id;

-- name: live_chat_pin
UPDATE live_chat SET is_pinned = 1 WHERE room_id = ?1 AND id = ?2;

-- The chat_pinned event: the pinned message and the id of the one that
-- lost its pin (?2, null when none did).
-- name: live_chat_pinned_event
SELECT json_set(chat_json, '$.unpinnedId', CAST(?2 AS INTEGER)) FROM live_chat_json WHERE id = ?1;

-- name: live_viewer_expire
DELETE FROM live_viewers
WHERE room_id = ?1 AND expires_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);

-- ?4: the client address it joined from.
-- name: live_viewer_join
INSERT INTO live_viewers (room_id, viewer_id, expires_ms, addr)
VALUES (?1, ?2, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + ?3 * 1000, ?4)
ON CONFLICT (room_id, viewer_id) DO UPDATE SET expires_ms = excluded.expires_ms, addr = excluded.addr;

-- Before viewer ?2 (a 'u:' key) joins room ?1 with tab row ?3: its other
-- tabs there beyond the ?4 it joined from last go (its tab rows are the
-- key range ?2 || char(31) ..), so one token holds at most ?4 + 1 rows in
-- a room, however many tab names it makes up.
-- name: live_viewer_tabs_trim
DELETE FROM live_viewers
WHERE room_id = ?1 AND viewer_id IN (
    SELECT viewer_id FROM live_viewers
    WHERE room_id = ?1 AND viewer_id > ?2 || char(31) AND viewer_id < ?2 || char(32) AND viewer_id <> ?3
    ORDER BY expires_ms DESC LIMIT -1 OFFSET ?4);

-- Presence requests (join and leave) admitted in the last second from
-- viewer ?1 and from client address ?2 (migration 0007).
-- name: live_presence_recent
SELECT (SELECT count(*) FROM presence_hits WHERE bucket = 'v:' || ?1
          AND at_ms > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 1000),
       (SELECT count(*) FROM presence_hits WHERE bucket = 'a:' || ?2
          AND at_ms > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 1000);

-- name: live_presence_expire
DELETE FROM presence_hits WHERE at_ms <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - 1000;

-- name: live_presence_hit
INSERT INTO presence_hits (bucket, at_ms)
VALUES ('v:' || ?1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
       ('a:' || ?2, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

-- Whether guest ?2 may count in room ?1 from address ?3: it already does,
-- or the address counts fewer than ?4 guests there; and the seconds until
-- the first of them expires.
-- name: live_guest_slot
SELECT EXISTS (SELECT 1 FROM live_viewers WHERE room_id = ?1 AND viewer_id = ?2)
       OR (SELECT count(*) FROM live_viewers
           WHERE room_id = ?1 AND addr = ?3 AND substr(viewer_id, 1, 6) = 'guest-') < ?4,
       max(1, ((SELECT min(expires_ms) FROM live_viewers
                WHERE room_id = ?1 AND addr = ?3 AND substr(viewer_id, 1, 6) = 'guest-')
               - CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 999) / 1000);

-- name: live_viewer_leave
DELETE FROM live_viewers WHERE room_id = ?1 AND viewer_id = ?2;

-- Counts the room's viewers (a viewer with several tabs once, none in an
-- ENDED room: migration 0020) and its peak.
-- name: live_viewer_count
SELECT CASE WHEN status = 'ENDED' THEN 0
            ELSE (SELECT count(DISTINCT who) FROM live_presence WHERE room_id = ?1) END, peak_viewers
FROM live_rooms WHERE id = ?1;

-- name: live_room_set_peak
UPDATE live_rooms SET peak_viewers = max(peak_viewers, CAST(?2 AS INTEGER)) WHERE id = ?1;

-- expiresIn (?4): the seconds a join counts without a refresh (PULSE_PRESENCE_TTL_S), so a
-- page re-joins in time whatever the TTL; null for a leave.
-- name: live_viewers_reply
SELECT json_object('count', ?1 + 0, 'peak', ?2 + 0, 'viewerId', ?3, 'expiresIn', CAST(?4 AS INTEGER));

-- name: live_viewers_event
SELECT json_object('count', ?1 + 0, 'peak', ?2 + 0);

-- name: live_order_insert
INSERT INTO live_orders (order_id, room_id, user_id, username, product_id, product_name, amount, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
ON CONFLICT (order_id) DO NOTHING;

-- name: live_order_apply
UPDATE live_rooms SET total_orders = total_orders + 1, total_revenue = total_revenue + ?2 WHERE id = ?1;

-- name: live_order_sold
UPDATE live_products SET sold_count = sold_count + 1 WHERE room_id = ?1 AND product_id = ?2;

-- name: live_order_event
SELECT json_object('orderId', ?1, 'username', ?2, 'productName', ?3, 'amount', ?4 + 0,
                   'message', ?2 || ' vừa mua ' || ?3);

-- name: live_order_reply
SELECT json_object('ok', json('true'), 'duplicate', json(CASE WHEN ?1 THEN 'true' ELSE 'false' END));
