-- Schema version 20: a viewer with a token is present once per tab (the
-- join's `tab`), and counted once however many tabs it has open, so the
-- leave of one tab no longer drops a viewer still watching in another.
-- A tab's row is 'u:' || sub || char(31) || tab (a sub holds no control
-- byte), so one viewer's tabs in a room are one range of the primary key;
-- the viewer it counts as is the part before char(31). Other rows count as
-- themselves (guests, and joins without a tab). An ENDED room counts no
-- viewers: the pages still open on it are not watching a live, and their
-- rows go as they leave or expire.
CREATE VIEW live_presence AS
SELECT room_id, expires_ms,
       CASE WHEN instr(viewer_id, char(31)) > 0 THEN substr(viewer_id, 1, instr(viewer_id, char(31)) - 1)
            ELSE viewer_id END AS who
FROM live_viewers;

DROP VIEW live_room_json;
CREATE VIEW live_room_json AS
SELECT r.id, r.rowid AS seq, r.shop_owner_id, r.stream_key, r.status, r.created_at,
       json_object('id', r.id, 'shopOwnerId', r.shop_owner_id, 'title', r.title,
                   'description', r.description, 'thumbnailUrl', r.thumbnail_url, 'status', r.status,
                   'viewerCount', CASE WHEN r.status = 'ENDED' THEN 0
                                  ELSE (SELECT count(DISTINCT v.who) FROM live_presence v
                                        WHERE v.room_id = r.id
                                          AND v.expires_ms > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
                                  END,
                   'peakViewers', r.peak_viewers, 'totalOrders', r.total_orders,
                   'totalRevenue', r.total_revenue, 'createdAt', r.created_at,
                   'startedAt', r.started_at, 'endedAt', r.ended_at) AS public_json
FROM live_rooms r;
