/* config.h - the process's configuration, read once from the environment
 * and pulse.conf.
 *
 * Every variable is described by one row of the table in config.c (name,
 * type, default, bounds); config_load() fills a process-wide struct that is
 * read-only afterwards. pulse.conf (conffile.h) sets the same names as
 * KEY=value lines; a variable set in the environment wins over the file. */
#ifndef PULSE_CONFIG_H
#define PULSE_CONFIG_H

struct config {
    const char *data_dir;          /* PULSE_DATA: sockets, logs, default db */
    const char *db_path;           /* PULSE_DB: default <data_dir>/pulse.db */
    const char *bell_dir;          /* PULSE_BELL_DIR: default <db_path>-bell */
    const char *redis_url;         /* REDIS_URL: redis://[:pass@]host[:port][/db] */
    const char *redis_host;        /* REDIS_HOST */
    long redis_port;               /* REDIS_PORT */
    const char *redis_password;    /* REDIS_PASSWORD */
    long redis_db;                 /* REDIS_DB */
    const char *redis_prefix;      /* PULSE_REDIS_PREFIX: channel prefix */
    const char *jwt_secret;        /* PULSE_JWT_SECRET */
    const char *relay_secret;      /* PULSE_RELAY_SECRET: signs the log relayed to edges (relaysig.h) */
    const char *payos_checksum_key;/* PAYOS_CHECKSUM_KEY */
    const char *payos_api_url;     /* PAYOS_API_URL: PayOS's merchant API, no trailing slash */
    const char *payos_client_id;   /* PAYOS_CLIENT_ID: sent as x-client-id */
    const char *payos_api_key;     /* PAYOS_API_KEY: sent as x-api-key */
    long payos_timeout_s;          /* PAYOS_TIMEOUT_S: a call to PayOS taking longer has failed */
    const char *public_url;        /* PULSE_PUBLIC_URL: the pages' origin as a payer's browser sees it */
    const char *base_path;         /* PULSE_BASE_PATH: the URL path prefix Pulse is under ("/pulse", no
                                      trailing slash); NULL: found per request (cgi_req_read) */
    const char *conf_file;         /* the pulse.conf read, or NULL when none was */
    const char *webhook_secret;    /* PULSE_WEBHOOK_SECRET */
    const char *fb_verify_token;   /* FB_VERIFY_TOKEN */
    const char *fb_app_secret;     /* FB_APP_SECRET */
    const char *zalo_oa_secret;    /* ZALO_OA_SECRET */
    const char *tiktok_app_secret; /* TIKTOK_APP_SECRET */
    const char *cors_origins;      /* PULSE_CORS_ORIGINS: "*" or comma list */
    long heartbeat_s;              /* PULSE_HEARTBEAT_S */
    long retry_ms;                 /* PULSE_RETRY_MS: SSE retry: field */
    long max_connections;          /* PULSE_MAX_CONNECTIONS per stream responder, at most web_max_streams */
    long web_max_streams;          /* PULSE_WEB_MAX_STREAMS: streams the web server in front leaves room for */
    long max_per_topic;            /* PULSE_MAX_PER_TOPIC */
    long max_per_client;           /* PULSE_MAX_PER_CLIENT: streams an address may hold, 0 = any */
    long retention;                /* PULSE_RETENTION: events kept per topic */
    long retention_s;              /* PULSE_RETENTION_S: no event older than this is kept */
    long max_body;                 /* PULSE_MAX_BODY: request body bytes */
    long max_publish_body;         /* PULSE_MAX_PUBLISH_BODY: body bytes of a ROUTE_BULK request */
    long tail_poll_ms;             /* PULSE_TAIL_POLL_MS: safety-net log poll */
    long stream_queue;             /* PULSE_STREAM_QUEUE: events queued per slow client */
    long stream_max_s;             /* PULSE_STREAM_MAX_S: a stream ends after this long (0: never; CGI: 300) */
    long cgi_streams;              /* PULSE_CGI_STREAMS: streams held at once by CGI processes */
    long spawn_worker;             /* PULSE_SPAWN_WORKER: a request that leaves work starts "pulse work" (no pulse-batch) */
    long presence_ttl_s;           /* PULSE_PRESENCE_TTL_S: a viewer counts this long after joining */
    long chat_rate;                /* PULSE_CHAT_RATE: chat messages per user per second */
    long join_rate;                /* PULSE_JOIN_RATE: joins and leaves per viewer per second */
    long join_addr_rate;           /* PULSE_JOIN_ADDR_RATE: joins and leaves per client address per second */
    long guests_per_addr;          /* PULSE_GUESTS_PER_ADDR: guest viewers per client address and room */
    long exit_with_parent;         /* PULSE_EXIT_WITH_PARENT: 1 when the spawner supervises us */
    long workers;                  /* PULSE_PREFORK: workers forked and kept (pulse-batch, pulse-stream: 0 or 1) */
    long role;                     /* PULSE_ROLE: enum pulse_role */
    long redis_history;            /* PULSE_REDIS_HISTORY: events kept in Redis for edges; 0 = none */
    long max_products;             /* PULSE_MAX_PRODUCTS: products per live room */
    long max_event_bytes;          /* PULSE_MAX_EVENT_BYTES: an event's data, in bytes */
    const char *llm_url;           /* PULSE_LLM_URL: OpenAI-compatible base URL; unset = the demo model */
    const char *llm_model;         /* PULSE_LLM_MODEL */
    const char *llm_api_key;       /* PULSE_LLM_API_KEY: sent as Authorization: Bearer */
    long llm_timeout_s;            /* PULSE_LLM_TIMEOUT_S: an upstream silent this long is an error */
    long llm_history;              /* PULSE_LLM_HISTORY: earlier messages sent with a question */
    long llm_max_bytes;            /* PULSE_LLM_MAX_BYTES: an answer longer than this is cut (error) */
    long llm_demo_ms;              /* PULSE_LLM_DEMO_MS: the demo model's pace, per word */
    long llm_concurrency;          /* PULSE_LLM_CONCURRENCY: answers one generator runs at once */
    long chat_message_rate;        /* PULSE_CHAT_MESSAGE_RATE: AI chat messages per user per minute */
    const char *fb_graph_url;      /* FB_GRAPH_URL: the Graph API, with its version */
    const char *fb_page_token;     /* FB_PAGE_TOKEN: the page's access token (Send API) */
    const char *zalo_api_url;      /* ZALO_OA_API_URL */
    const char *zalo_token;        /* ZALO_OA_ACCESS_TOKEN */
    const char *tiktok_api_url;    /* TIKTOK_API_URL: TikTok API for Business, with its version */
    const char *tiktok_token;      /* TIKTOK_ACCESS_TOKEN */
    long payos_reconcile_s;        /* PAYOS_RECONCILE_S: a top-up PENDING this long is asked about at PayOS */
    long send_timeout_s;           /* PULSE_SEND_TIMEOUT_S: a platform silent this long: the attempt failed */
    long send_retry_ms;            /* PULSE_SEND_RETRY_MS: the first wait before trying again (doubling) */
    long send_attempts;            /* PULSE_SEND_ATTEMPTS: attempts before an answer is failed */
    const char *primary_url;       /* PULSE_PRIMARY_URL: where an edge forwards writes (forward.h) */
    long forward_timeout_s;        /* PULSE_FORWARD_TIMEOUT_S: a primary silent this long: 503 */
};

/* primary: owns the state; its stream responders relay the log to Redis.
 * edge: its database holds only a mirror of the primary's log, copied from
 * Redis with the same ids; it serves streams and polling, nothing else. */
enum pulse_role { ROLE_PRIMARY, ROLE_EDGE };

/* Process-wide configuration; NULL before config_load(). Read-only. */
extern const struct config *pulse_cfg;

/* Reads the environment and pulse.conf: the file named by $PULSE_CONF
 * (which must exist), else pulse.conf in the executable's folder when there
 * is one; a relative PULSE_DATA, PULSE_DB or PULSE_BELL_DIR from the file is
 * relative to the file's folder. Returns 0, or -1 with a message in err
 * (caller frees *err) when the file cannot be read or holds a malformed
 * line or an unknown key (the message names file:line), or a value is
 * malformed or out of bounds. Strings in the configuration stay valid
 * until the next config_load. */
int config_load(char **err);

/* True when PayOS's API credentials are configured (PAYOS_CLIENT_ID and
 * PAYOS_API_KEY; config_load refuses one without the other, or either
 * without PAYOS_CHECKSUM_KEY): top-ups are then paid through PayOS, and the
 * dev checkout is off. */
int config_payos_live(const struct config *c);

/* True when Redis is configured (REDIS_URL or REDIS_HOST). */
int config_redis_enabled(const struct config *c);

#endif
