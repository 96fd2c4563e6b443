-- Schema version 2: live-commerce rooms (seed 001).

CREATE TABLE live_rooms (
    id            TEXT PRIMARY KEY,
    shop_owner_id TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    thumbnail_url TEXT NOT NULL DEFAULT '',
    stream_key    TEXT NOT NULL UNIQUE,
    status        TEXT NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'WAITING_STREAM', 'LIVE', 'ENDED')),
    peak_viewers  INTEGER NOT NULL DEFAULT 0,
    total_orders  INTEGER NOT NULL DEFAULT 0,
    total_revenue INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    ended_at      TEXT
);
CREATE INDEX live_rooms_status ON live_rooms (status, created_at);
CREATE INDEX live_rooms_owner ON live_rooms (shop_owner_id);

CREATE TABLE live_products (
    id                TEXT PRIMARY KEY,
    room_id           TEXT NOT NULL REFERENCES live_rooms (id),
    product_id        TEXT NOT NULL,
    product_name      TEXT NOT NULL,
    product_image_url TEXT NOT NULL DEFAULT '',
    original_price    INTEGER NOT NULL CHECK (original_price > 0),
    live_price        INTEGER NOT NULL CHECK (live_price >= 0 AND live_price <= original_price),
    quantity_limit    INTEGER,
    stock_available   INTEGER,
    sold_count        INTEGER NOT NULL DEFAULT 0,
    is_featured       INTEGER NOT NULL DEFAULT 0,
    display_order     INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    UNIQUE (room_id, product_id)
);

-- created_ms serves the per-user chat rate limit, which every process and
-- instance sharing the database enforces under the same write lock.
CREATE TABLE live_chat (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    TEXT NOT NULL REFERENCES live_rooms (id),
    user_id    TEXT NOT NULL,
    username   TEXT NOT NULL,
    message    TEXT NOT NULL,
    type       TEXT NOT NULL DEFAULT 'CHAT' CHECK (type IN ('CHAT', 'SYSTEM', 'ORDER')),
    created_at TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX live_chat_room ON live_chat (room_id, id);
CREATE INDEX live_chat_user ON live_chat (user_id, created_ms);

-- Presence: a viewer counts while its row has not expired. Joining again
-- refreshes it; a client that vanishes without leaving stops counting
-- after PULSE_PRESENCE_TTL_S.
CREATE TABLE live_viewers (
    room_id    TEXT NOT NULL,
    viewer_id  TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (room_id, viewer_id)
) WITHOUT ROWID;

-- One row per order id: a redelivered order changes nothing.
CREATE TABLE live_orders (
    order_id     TEXT PRIMARY KEY,
    room_id      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    username     TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    product_name TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    created_at   TEXT NOT NULL
) WITHOUT ROWID;

-- The public shape of a room (no stream key), viewers counted at read time.
CREATE VIEW live_room_json AS
SELECT r.id, r.rowid AS seq, r.shop_owner_id, r.stream_key, r.status, r.created_at,
       json_object('id', r.id, 'shopOwnerId', r.shop_owner_id, 'title', r.title,
                   'description', r.description, 'thumbnailUrl', r.thumbnail_url, 'status', r.status,
                   'viewerCount', (SELECT count(*) FROM live_viewers v
                                   WHERE v.room_id = r.id
                                     AND v.expires_ms > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
                   'peakViewers', r.peak_viewers, 'totalOrders', r.total_orders,
                   'totalRevenue', r.total_revenue, 'createdAt', r.created_at,
                   'startedAt', r.started_at, 'endedAt', r.ended_at) AS public_json
FROM live_rooms r;

CREATE VIEW live_product_json AS
SELECT p.room_id, p.id, p.rowid AS seq, p.display_order, p.created_at,
       json_object('id', p.id, 'productId', p.product_id, 'productName', p.product_name,
                   'productImageUrl', p.product_image_url, 'originalPrice', p.original_price,
                   'livePrice', p.live_price, 'quantityLimit', p.quantity_limit,
                   'stockAvailable', p.stock_available, 'displayOrder', p.display_order,
                   'discountPercent', round((p.original_price - p.live_price) * 100.0 / p.original_price, 2),
                   'soldCount', p.sold_count,
                   'isFeatured', json(CASE WHEN p.is_featured THEN 'true' ELSE 'false' END)) AS product_json
FROM live_products p;

CREATE VIEW live_chat_json AS
SELECT c.room_id, c.id,
       json_object('id', c.id, 'userId', c.user_id, 'username', c.username, 'message', c.message,
                   'type', c.type, 'createdAt', c.created_at) AS chat_json
FROM live_chat c;
